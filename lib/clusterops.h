/* SPDX-License-Identifier: MIT */
/*
 * libclusterops: configuration, HTTP and Spark clients shared by the
 * clusterops tools.
 *
 * Conventions:
 *  - Every function that can fail returns an int status, CO_OK (0) or one
 *    of the co_status codes below, which are also the tools' exit codes.
 *    The text of the failure is kept on the context: co_ctx_error().
 *  - The library never prints and never exits.
 *  - Objects returned through an out-pointer are owned by the caller and
 *    freed with the matching *_free() function, which accepts NULL.
 *    Strings returned as "const char *" belong to the object they came from.
 */
#ifndef CLUSTEROPS_H
#define CLUSTEROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One exit-code scheme for the whole toolkit (sysexits). */
enum co_status {
	CO_OK = 0,
	CO_EFAIL = 1,		/* ran, and the outcome is failure */
	CO_EUSAGE = 64,		/* command-line misuse */
	CO_EDATA = 65,		/* bad input data */
	CO_EUNAVAILABLE = 69,	/* service unreachable */
	CO_ESOFTWARE = 70,	/* internal error */
	CO_ECANTCREAT = 73,	/* cannot create output */
	CO_EIO = 74,		/* I/O error */
	CO_ETEMPFAIL = 75,	/* temporary failure: timeout, lock held */
	CO_EPROTOCOL = 76,	/* remote answered something malformed */
	CO_ENOPERM = 77,	/* permission or authentication denied */
};

/* Library version, "MAJOR.MINOR.PATCH". */
const char *co_version(void);

/* ---- context ------------------------------------------------------ */

struct co_ctx;

/*
 * A context holds the resolved configuration, the HTTP connection cache
 * and the message of the last failure. It reads the environment and the
 * configuration file in co_config_load(), not here. NULL when out of memory.
 */
struct co_ctx *co_ctx_new(void);
void co_ctx_free(struct co_ctx *ctx);

/* Message of the last failure ("" if none). Owned by ctx. */
const char *co_ctx_error(const struct co_ctx *ctx);

/*
 * A deadline for the HTTP requests made with ctx, co_http_multi's
 * transfers included, in seconds on the CLOCK_MONOTONIC clock
 * (clock_gettime(2)); 0, the default, sets none. Each request is allowed
 * the timeout setting or the time left, whichever is less; a failed
 * request is not tried again past the deadline, and none starts once it
 * has passed. A request it cuts short, or does not let start, fails with
 * CO_ETEMPFAIL and a message that says so, and returns only once the
 * deadline has passed: the caller can tell it from a failure before. Meant
 * for a wait made of several requests, such as the masters of a failover
 * group asked one after another: it ends at the deadline, not a timeout
 * per request later. co_fetch_run()'s downloads have limits of their own.
 * Added after 0.1.0.
 */
void co_ctx_set_deadline(struct co_ctx *ctx, double deadline);

/* ---- configuration ------------------------------------------------ */

enum co_key {
	CO_KEY_MASTER,		/* spark://spark-master:7077 */
	CO_KEY_MASTER_UI,	/* http://MASTERHOST:8080 */
	CO_KEY_REST_URL,	/* http://MASTERHOST:6066 */
	CO_KEY_HISTORY_URL,	/* http://MASTERHOST:18080 */
	CO_KEY_EVENTS_DIR,	/* /opt/workspace/events */
	CO_KEY_DATAIN,		/* /opt/workspace/datain */
	CO_KEY_DATAOUT,		/* /opt/workspace/dataout */
	CO_KEY_BROKERS,		/* kafka:9092 */
	CO_KEY_EXECUTOR_MEMORY,	/* 512m */
	CO_KEY_TIMEOUT,		/* seconds per HTTP request: 10 */
	CO_KEY_TOKEN_FILE,	/* file holding a bearer token */
	CO_KEY_TOKEN_ORIGINS,	/* more origins than the configured URLs' that get it */
	CO_KEY_FETCH_MAX_SIZE,	/* largest file a download may bring: 10G */
	CO_KEY_EXTRACT_MAX_SIZE,	/* total unpacked from one archive: 10G */
	CO_KEY_EXTRACT_MAX_MEMBERS,	/* members in one archive: 100000 */
	CO_KEY_DRIVER_LOG_DIR,	/* the events dir's parent + /driver-logs */
	CO_KEY_COUNT
};

/* Where a value came from, lowest precedence first. */
enum co_source {
	CO_SRC_DEFAULT,
	CO_SRC_DERIVED,		/* computed from the master URL */
	CO_SRC_FILE,
	CO_SRC_ENV,
	CO_SRC_FLAG,
};

/*
 * Read the environment (SC_*) and the configuration file: $SC_CONFIG, else
 * $XDG_CONFIG_HOME/clusterops/config (~/.config when unset), else
 * /etc/clusterops.conf. A missing default file is not an error; a missing
 * $SC_CONFIG is (CO_EIO). A bad line is CO_EDATA naming file and line.
 */
int co_config_load(struct co_ctx *ctx);

/* Set a value from the command line: the highest precedence. */
int co_config_set(struct co_ctx *ctx, enum co_key key, const char *value);

/* The resolved value; never NULL for keys with a default, else NULL. */
const char *co_config_get(const struct co_ctx *ctx, enum co_key key);
enum co_source co_config_source(const struct co_ctx *ctx, enum co_key key);

const char *co_config_key_name(enum co_key key);	/* "events_dir" */
const char *co_config_key_env(enum co_key key);	/* "SC_EVENTS_DIR" */
const char *co_config_source_name(enum co_source src);	/* "env" */
/* The configuration file that was read, or NULL. */
const char *co_config_file(const struct co_ctx *ctx);

/*
 * "spark://h1:7077,h2:7077" -> "h1" (first master). Caller frees. The
 * configuration accepts Spark's list of masters: HOST[:PORT] separated by
 * commas, none empty, at most CO_MASTERS_MAX; the derived master_ui and
 * rest_url then list one URL per host, in the same order.
 * NULL (and CO_EDATA on ctx) when the URL is not a spark:// URL.
 */
char *co_spark_master_host(struct co_ctx *ctx, const char *master_url);

/* All of data written to fd, whatever write(2) takes at a time: 0, or -1 and errno. */
int co_write_all(int fd, const void *data, size_t len);

/*
 * A small file the user names (a configuration, property or password
 * file), opened with O_NONBLOCK as fd: CO_OK once it is known to be a
 * regular file of at most max bytes, and O_NONBLOCK is cleared. A FIFO in
 * its place cannot hold the run, nor /dev/zero fill memory. CO_EDATA
 * ("not a regular file", or too large for a what), or CO_EIO.
 */
int co_small_file_check(struct co_ctx *ctx, int fd, const char *path, int64_t max,
			const char *what);

/*
 * in, with the user name and password of every URL in it
 * ("scheme://user:password@host") shown as "***", into out (at most size
 * bytes, NUL included): what a message may say of a URL.
 */
void co_mask_credentials(const char *in, char *out, size_t size);

/*
 * A size such as "4096", "500K", "10G" (K, M, G, T: powers of 1024; an
 * optional trailing "B" or "iB") into *bytes. CO_EUSAGE, naming what, when
 * it is not a positive size.
 */
int co_parse_size(struct co_ctx *ctx, const char *what, const char *text, uint64_t *bytes);

/* ---- HTTP ----------------------------------------------------------- */

enum co_http_method { CO_HTTP_GET, CO_HTTP_POST };

/* Flags for struct co_http_request. */
#define CO_HTTP_ANY_STATUS	0x1	/* do not turn 4xx/5xx into errors */
#define CO_HTTP_RETRY		0x2	/* idempotent: retry transient failures */
/*
 * A JSON document (a worker's state, a REST reply, the history server's
 * document on an application): at most CO_HTTP_MAX_DOC bytes, as jansson's
 * tree of it takes some twenty times its text. A worker keeps 1,000
 * finished executors by default, each about 2 KiB with its command line.
 */
#define CO_HTTP_DOCUMENT	0x4
#define CO_HTTP_MAX_DOC		(8u << 20)
/*
 * A URL the user named (a schema registry): credentials from ~/.netrc go
 * with it. Without the flag they go only where the bearer token may go
 * (master_ui, rest_url, history_url, token_origins), never to a worker's
 * address, which comes from the master.
 */
#define CO_HTTP_NAMED_URL	0x8

struct co_http_request {
	enum co_http_method method;
	const char *url;
	const char *content_type;	/* of body, for POST */
	const char *body;
	size_t body_len;
	unsigned flags;
};

struct co_http_response {
	long status;
	char *body;		/* NUL-terminated; owned, see clear() */
	size_t len;
	char *location;		/* Location header, or NULL */
};

/*
 * Perform one request (with a bounded retry when CO_HTTP_RETRY is set).
 * Transport failures map to CO_EUNAVAILABLE (refused, unresolvable),
 * CO_ETEMPFAIL (timeout) or CO_EPROTOCOL (empty or oversized reply: more
 * than 64 MiB, or CO_HTTP_MAX_DOC with CO_HTTP_DOCUMENT); unless
 * CO_HTTP_ANY_STATUS, 401/403 map to CO_ENOPERM, 5xx to CO_EUNAVAILABLE
 * and other non-2xx/3xx statuses to CO_EPROTOCOL. Messages start with the
 * URL. A bearer token ($SC_TOKEN or the token_file) and ~/.netrc are used
 * when present.
 */
int co_http_request(struct co_ctx *ctx, const struct co_http_request *req,
		    struct co_http_response *resp);
void co_http_response_clear(struct co_http_response *resp);

/* GET with retry; the body is returned in resp. */
int co_http_get(struct co_ctx *ctx, const char *url,
		struct co_http_response *resp);

/*
 * Concurrent GETs: queue any number, at most max_parallel run at once, and
 * take them back one by one as they complete. Responses are kept whole in
 * memory (bounded like co_http_request's), so ask for bounded pieces, or
 * stream them. Each transfer has the configured timeout, less the time
 * spent in body functions and in the caller between two
 * co_http_multi_next() calls, which holds up every transfer; it ends at
 * the context's deadline (co_ctx_set_deadline) all the same.
 */
struct co_http_multi;

struct co_http_multi *co_http_multi_new(struct co_ctx *ctx, int max_parallel);
void co_http_multi_free(struct co_http_multi *m);
int co_http_multi_get(struct co_http_multi *m, const char *url, void *tag);
/*
 * A GET whose 2xx body is not kept: body_fn gets it piece by piece as it
 * arrives, with the transfer's tag. A status other than CO_OK from body_fn
 * (its message set on the context) ends the transfer with that status. The
 * completed response then has no body (NULL) and len the bytes body_fn got;
 * a reply of any other status is kept whole, as co_http_multi_get's.
 */
typedef int co_http_body_fn(void *tag, const char *data, size_t len);
int co_http_multi_get_streamed(struct co_http_multi *m, const char *url, void *tag,
			       co_http_body_fn *body_fn);
/*
 * Wait for the next completed transfer: returns 1 with its tag, its
 * response (clear it with co_http_response_clear) and its status (CO_OK or
 * the error mapped as by co_http_request, message on the context); 0 when
 * none is left; or a status when the engine itself failed.
 */
int co_http_multi_next(struct co_http_multi *m, void **tag,
		       struct co_http_response *resp, int *status);

/* ---- Spark master --------------------------------------------------- */

struct co_spark_worker {
	char *id;
	char *host;
	int port;
	char *webui;		/* http://host:port */
	int cores, cores_used;
	int64_t memory_mb, memory_used_mb;
	char *state;		/* ALIVE, DEAD, DECOMMISSIONED, UNKNOWN */
	int64_t last_heartbeat_ms;
};

struct co_spark_app {
	char *id;
	char *name;
	char *user;
	char *state;		/* WAITING, RUNNING, FINISHED, FAILED, KILLED */
	int64_t start_ms;
	int64_t duration_ms;
	int cores;
	int64_t memory_per_executor_mb;
	bool active;		/* from activeapps rather than completedapps */
};

struct co_spark_driver {
	char *id;
	char *state;		/* SUBMITTED, RUNNING, FINISHED, FAILED, KILLED, ERROR... */
	char *worker;		/* worker id, NULL when none */
	char *main_class;
	int64_t start_ms;
	int cores;
	int64_t memory_mb;
	bool active;
};

/* The master's /json/ view. Read-only; everything owned by the struct. */
struct co_master_state {
	char *url;		/* spark://... as the master reports it */
	char *status;		/* ALIVE, STANDBY, RECOVERING ... */
	int alive_workers;
	int cores, cores_used;
	int64_t memory_mb, memory_used_mb;
	size_t n_workers;
	struct co_spark_worker *workers;
	size_t n_apps;		/* active ones first */
	struct co_spark_app *apps;
	size_t n_drivers;	/* active ones first */
	struct co_spark_driver *drivers;
	/*
	 * Elements of the lists left out because they could not be read (a
	 * name jansson refuses, one over 1 MiB): what any host that registers
	 * a worker or an application can send.
	 */
	size_t n_unreadable;
};

/*
 * GET <master_ui>/json/ and parse it. With several masters (a ZooKeeper
 * failover group: master_ui lists one URL per master), the one in use
 * (co_master_active) is asked first, then the others in order, each at
 * most once; the first that answers ALIVE is returned and becomes the one
 * in use, for the kill actions and the REST calls too. When none is ALIVE
 * but some answered (STANDBY, RECOVERING...), the first such answer is
 * returned, CO_OK with its status. When none answered, the failure names
 * every master asked. Nothing in a reply chooses where to go next.
 */
int co_master_state_fetch(struct co_ctx *ctx, struct co_master_state **out);
/*
 * The same, but every master is asked (once) even after an ALIVE one, so
 * that co_master_seen() reports each (added in 0.2).
 */
int co_master_state_fetch_all(struct co_ctx *ctx, struct co_master_state **out);

/*
 * The masters of a failover group (one for a single master). Added after 0.1.0, with
 * co_master_state_fetch_all() and co_rest_url_used(): new symbols only.
 * CO_MASTERS_MAX bounds the hosts of the master URL and the URLs of the
 * master_ui and rest_url lists.
 */
#define CO_MASTERS_MAX 16
/* Number of masters: the URLs in master_ui (0 only when out of memory). */
size_t co_master_count(struct co_ctx *ctx);
/* The UI URL of master i, NULL past the end; valid until the configuration changes. */
const char *co_master_ui(struct co_ctx *ctx, size_t i);
/*
 * Index of the master in use: the one whose state co_master_state_fetch()
 * returned last (the ALIVE one, or when none was, the first that answered),
 * at first 0.
 */
size_t co_master_active(const struct co_ctx *ctx);
/*
 * What master i answered to the last co_master_state_fetch(): its status
 * ("ALIVE", "STANDBY", ...), or NULL when it did not answer or was not
 * asked; then *error (when error is not NULL) is the reason, or NULL when
 * it was not asked.
 */
const char *co_master_seen(const struct co_ctx *ctx, size_t i, const char **error);
/* The REST URL of the last REST call (the master that took it), or NULL. */
const char *co_rest_url_used(const struct co_ctx *ctx);
/* Parse a /json/ document; origin names it in error messages. */
int co_master_state_parse(struct co_ctx *ctx, const char *json, size_t len,
			  const char *origin, struct co_master_state **out);
void co_master_state_free(struct co_master_state *st);

const struct co_spark_app *co_master_state_app(const struct co_master_state *st,
					       const char *app_id);
/*
 * The application whose name matches glob (fnmatch(3)): a running one
 * before any completed one, as the master lists them. *matches counts the
 * candidates of that kind; more than one means the glob names no single
 * application. NULL when none matches.
 */
const struct co_spark_app *co_master_state_app_named(const struct co_master_state *st,
						     const char *glob, size_t *matches);
bool co_spark_app_named(const struct co_spark_app *app, const char *glob);
/*
 * Whether the application or driver id still runs, by a fresh state from
 * the master (replacing *st, which is NULL when the master did not answer).
 * A master that does not answer counts as running for up to silence_s
 * seconds in a row, so that a restart is survived: *silent_since (0 at
 * first) keeps when its silence began. After that, the fetch's status.
 */
int co_master_still_running(struct co_ctx *ctx, const char *id, double silence_s,
			    double *silent_since, struct co_master_state **st, bool *running);
const struct co_spark_driver *
co_master_state_driver(const struct co_master_state *st, const char *driver_id);

/* True for a state an application or driver never leaves. */
bool co_spark_state_is_final(const char *state);

/*
 * Ask the master UI to kill an application or a cluster-mode driver
 * (POST /app/kill/ or /driver/kill/, with the UI's CSRF token when the
 * master has one). The master answers 302 whatever happened: confirm the
 * outcome with co_master_state_fetch().
 */
int co_master_kill_app(struct co_ctx *ctx, const char *app_id);
int co_master_kill_driver(struct co_ctx *ctx, const char *driver_id);

/* ---- Spark worker --------------------------------------------------- */

struct co_worker_executor {
	int id;
	char *app_id;
	char *app_name;
	bool finished;		/* from finishedexecutors */
};

struct co_worker_driver {
	char *id;
	char *state;
	bool finished;
};

struct co_worker_state {
	char *id;
	char *master_url;
	int cores, cores_used;
	int64_t memory_mb, memory_used_mb;
	size_t n_executors;	/* running ones first */
	struct co_worker_executor *executors;
	size_t n_drivers;
	struct co_worker_driver *drivers;
};

/* GET <webui>/json/ of a worker and parse it. */
int co_worker_state_fetch(struct co_ctx *ctx, const char *webui,
			  struct co_worker_state **out);
int co_worker_state_parse(struct co_ctx *ctx, const char *json, size_t len,
			  const char *origin, struct co_worker_state **out);
void co_worker_state_free(struct co_worker_state *st);

/* A piece of a log file as the worker's /log/ endpoint serves it. */
struct co_log_chunk {
	int64_t start, end;	/* bytes [start, end) ... */
	int64_t total;		/* ... of a file this long */
	const char *data;	/* points into the reply it was parsed from */
	size_t len;
	const char *error;	/* the worker's "Error: ..." text, or NULL */
};

/*
 * The URL of bytes [offset, offset + length) of an executor's log
 * (executor_id >= 0) or a driver's (driver_id); offset < 0 asks for the
 * last length bytes. stream is "stdout" or "stderr". Caller frees.
 */
char *co_worker_log_url(const char *webui, const char *app_id, int executor_id,
			const char *driver_id, const char *stream, int64_t offset,
			int64_t length);
/*
 * Parse a /log/ reply: "==== Bytes a-b of n of PATH ====" then the bytes.
 * The worker answers errors with HTTP 200, n = 0 and an "Error: ..." body:
 * out->error is set then. CO_EPROTOCOL when the reply is not such a thing.
 */
int co_worker_log_parse(struct co_ctx *ctx, const char *body, size_t len,
			const char *origin, struct co_log_chunk *out);

/* ---- Spark REST submission server ----------------------------------- */

struct co_rest_submission {
	const char *app_resource;	/* file:/... or any URL the workers reach */
	const char *main_class;
	const char *app_name;
	const char *const *app_args;
	size_t n_app_args;
	const char *const *conf;	/* "key=value" Spark properties */
	size_t n_conf;
};

/* POST /v1/submissions/create; *submission_id is the new driver's id. */
int co_rest_create(struct co_ctx *ctx, const struct co_rest_submission *sub,
		   char **submission_id);
/* GET /v1/submissions/status/ID; *driver_state e.g. "RUNNING". */
int co_rest_status(struct co_ctx *ctx, const char *submission_id,
		   char **driver_state);
/*
 * POST /v1/submissions/kill/ID. CO_OK when the server accepted the kill;
 * CO_EFAIL with the server's message when it refused (already finished or
 * unknown).
 */
int co_rest_kill(struct co_ctx *ctx, const char *submission_id);

/* ---- Spark event logs --------------------------------------------------- */

/*
 * What an entry name of the events dir says: a single file
 * <appId>[_<attempt>][.<codec>][.inprogress], or a rolling directory
 * eventlog_v2_<appId>[_<attempt>] (whose progress is in its appstatus file).
 */
struct co_eventlog_name {
	char app_id[128];
	char attempt[32];	/* "" when none */
	char codec[16];		/* lz4, lzf, snappy, zstd; "" when uncompressed */
	bool rolling;
	bool in_progress;
};

/* CO_OK, or CO_EDATA when name is not an event log's. Does not touch ctx. */
int co_eventlog_parse_name(const char *name, struct co_eventlog_name *out);

struct co_eventlog {
	char *name;		/* the entry in the events dir */
	struct co_eventlog_name id;	/* in_progress also set for rolling dirs */
	int64_t bytes;		/* all of its files */
	int64_t mtime_ms;	/* its newest file */
	char *crc_name;		/* a ".<name>.crc" companion beside it, or NULL */
	size_t dir_order;	/* its place in the order the scan met it */
	size_t n_files;		/* a rolling log's own files, named inside its dir */
	char **files;		/* (Spark's, not the hidden checksums); none for a file */
};

struct co_eventlog_skip {
	char *name;
	char *reason;
};

struct co_eventlog_dir {
	size_t n_logs;
	struct co_eventlog *logs;	/* newest first */
	size_t n_skipped;		/* entries that are not event logs */
	struct co_eventlog_skip *skipped;
};

/*
 * List the event logs of the directory open as dirfd. Nothing is followed:
 * a symbolic link is skipped, not read, and a rolling directory that holds
 * anything but its own files is skipped whole. Hidden entries are Spark's
 * and ours (checksums, interrupted removals) and are not listed.
 */
int co_eventlog_dir_scan(struct co_ctx *ctx, int dirfd, struct co_eventlog_dir **out);
void co_eventlog_dir_free(struct co_eventlog_dir *dir);

/*
 * The same scan as a stream, in bounded memory: fn is called for each event
 * log as it is found, in the directory's own order, and skip for each entry
 * that is skipped, with the reason; a status other than CO_OK from either
 * stops the scan and is returned. The log and its strings are valid during
 * the call only. fn may remove the log (co_eventlog_remove()) meanwhile.
 * The checksum files are found first, by a pass over the names alone; with
 * CO_EVENTLOG_FINISH_REMOVALS in flags that pass also finishes the removals
 * an interrupted run left, as co_eventlog_remove_leftovers() does, and
 * reports one it cannot finish through skip.
 */
#define CO_EVENTLOG_FINISH_REMOVALS 1u
typedef int co_eventlog_fn(struct co_ctx *ctx, const struct co_eventlog *log, void *arg);
typedef int co_skip_fn(struct co_ctx *ctx, const char *name, const char *reason, void *arg);
int co_eventlog_dir_each(struct co_ctx *ctx, int dirfd, unsigned flags, co_eventlog_fn *fn,
			 co_skip_fn *skip, void *arg);

/*
 * Remove one log, relative to dirfd. A rolling directory goes as a whole:
 * it is first renamed out of sight (".sc-prune.<name>"), so readers see it
 * either complete or gone, then emptied and removed.
 */
int co_eventlog_remove(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log);

/*
 * Finish removals that an interrupted run left hidden in dirfd: only dirs
 * that co_eventlog_remove() marked as its own (a file it created inside,
 * of this user, naming that dir) are emptied; any other ".sc-prune.*"
 * entry is left alone.
 */
int co_eventlog_remove_leftovers(struct co_ctx *ctx, int dirfd);

/* ---- driver logs -------------------------------------------------------- */

/*
 * A client-mode driver's output, one file per application in the
 * driver-log dir, named "<app-id>_driver.log": the name Spark's own
 * driver-log persistence (spark.driver.log.persistToDfs.enabled,
 * spark.driver.log.dfsDir) gives the driver JVM's log, and the one
 * sc-submit gives the whole output (stdout and stderr) of the drivers it
 * runs. Spark's persistence leaves Hadoop's ".<name>.crc" beside it.
 */
#define CO_DRIVER_LOG_SUFFIX "_driver.log"
#define CO_DRIVER_LOG_ID_MAX 128	/* an id is shorter than this */

/*
 * The driver-log dir: the driver_log_dir setting, else the events dir's
 * parent + "/driver-logs" when the events dir is local. *dir (owned by
 * ctx) is NULL when there is none (an events dir that is a URL and no
 * setting). A file:// URL is taken as its path; another URL is CO_EUSAGE.
 */
int co_driver_log_dir(struct co_ctx *ctx, const char **dir);

/*
 * Open the driver-log dir (O_DIRECTORY, read-only, close-on-exec) into
 * *dirfd, which the caller closes. *dirfd is -1, with CO_OK, when there is
 * no driver-log dir or it does not exist; CO_ENOPERM or CO_EIO when it
 * cannot be opened, CO_ENOPERM too when it is another user's (not root's)
 * in a directory every user can write.
 */
int co_driver_log_dir_open(struct co_ctx *ctx, int *dirfd);

/*
 * True when app_id may be part of a driver log's name: 1 to
 * CO_DRIVER_LOG_ID_MAX - 1 characters of [A-Za-z0-9._-], not starting
 * with '.'. It becomes a path component, so nothing else is accepted.
 */
bool co_driver_log_id_valid(const char *app_id);

/* "<app_id>_driver.log" into buf (len bytes); CO_EDATA for an invalid id. */
int co_driver_log_name(struct co_ctx *ctx, const char *app_id, char *buf, size_t len);

/*
 * The application id of a driver log's name into app_id (at least
 * CO_DRIVER_LOG_ID_MAX bytes): CO_OK, or CO_EDATA when name is not a
 * driver log's. Does not touch a context.
 */
int co_driver_log_parse_name(const char *name, char *app_id);

/*
 * Open an application's driver log for reading, relative to dirfd (from
 * co_driver_log_dir_open()), without following a symbolic link, and
 * non-blocking (a FIFO under the name blocks nothing): *fd, which the
 * caller closes, or -1 with CO_OK when the application has none. A link or
 * anything but a regular file is CO_EDATA; an invalid id is CO_EDATA.
 * While sc-submit writes the file it holds an OFD write lock on it (see
 * co_driver_log_create()): a reader that follows the log may test it with
 * F_OFD_GETLK to know whether more is coming.
 */
int co_driver_log_open(struct co_ctx *ctx, int dirfd, const char *app_id, int *fd);

/*
 * For a writer that learns the application id only after the driver
 * started: create a new hidden file ".sc-submit.<pid>.<random>" in dirfd
 * (exclusively, mode 0640 less the umask, never through a link) into *fd,
 * open for writing, with a whole-file OFD write lock held until the fd is
 * closed; its name into tmpname (len >= 64 bytes).
 */
int co_driver_log_create(struct co_ctx *ctx, int dirfd, int *fd, char *tmpname, size_t len);

/*
 * Give the file made by co_driver_log_create() its name for app_id. An
 * existing file of that name is never replaced: CO_ECANTCREAT, and the
 * file keeps its temporary name. The fd stays valid for writing.
 */
int co_driver_log_publish(struct co_ctx *ctx, int dirfd, const char *tmpname,
			  const char *app_id);

struct co_driver_log {
	char *name;		/* the entry in the driver-log dir */
	char app_id[CO_DRIVER_LOG_ID_MAX];
	int64_t bytes;		/* with its checksum file */
	int64_t mtime_ms;
	char *crc_name;		/* a ".<name>.crc" beside it, or NULL */
	size_t dir_order;	/* its place in the order the scan met it */
	bool writing;		/* a writer holds its lock: sc-submit runs */
};

struct co_driver_log_dir {
	size_t n_logs;
	struct co_driver_log *logs;	/* newest first */
	size_t n_skipped;		/* entries that are not driver logs */
	struct co_eventlog_skip *skipped;
};

/*
 * List the driver logs of the directory open as dirfd. Nothing is
 * followed: a symbolic link is skipped, not read. Hidden entries
 * (checksums, sc-submit's files that have no id yet) are not listed.
 */
int co_driver_log_dir_scan(struct co_ctx *ctx, int dirfd, struct co_driver_log_dir **out);
void co_driver_log_dir_free(struct co_driver_log_dir *dir);

/*
 * The same scan as a stream, in bounded memory, as co_eventlog_dir_each():
 * fn for each driver log as it is found, skip for each skipped entry; the
 * log is valid during the call only, and fn may remove it meanwhile.
 */
typedef int co_driver_log_fn(struct co_ctx *ctx, const struct co_driver_log *log, void *arg);
int co_driver_log_dir_each(struct co_ctx *ctx, int dirfd, co_driver_log_fn *fn,
			   co_skip_fn *skip, void *arg);

/* Unlink a driver log, then its checksum file, relative to dirfd. */
int co_driver_log_remove(struct co_ctx *ctx, int dirfd, const struct co_driver_log *log);

/*
 * Reading one application's driver log as it grows (sc-logs): opened on
 * the first read that finds it (sc-submit publishes it once the id is
 * known), never through a link. tail >= 0 starts that many lines before
 * its end. Each read hands fn what was added since the last one, up to the
 * size the file had when the read began, so a read ends however fast the
 * file grows.
 */
struct co_driver_log_reader;
struct co_driver_log_reader *co_driver_log_reader_new(struct co_ctx *ctx, const char *app_id,
						      long tail);
int co_driver_log_reader_read(struct co_driver_log_reader *r,
			      void (*fn)(void *arg, const char *data, size_t len), void *arg);
/* The log's fd once found (for bundles), else -1; and whether a writer holds it. */
int co_driver_log_reader_fd(const struct co_driver_log_reader *r);
bool co_driver_log_reader_writing(const struct co_driver_log_reader *r);
void co_driver_log_reader_free(struct co_driver_log_reader *r);

/* ---- Kafka ---- */

/*
 * librdkafka properties, in the order given; a name set twice keeps its
 * last value. co_kafka_props_new() returns NULL when out of memory.
 */
struct co_kafka_props;
struct co_kafka_props *co_kafka_props_new(void);
void co_kafka_props_free(struct co_kafka_props *props);
int co_kafka_props_set(struct co_ctx *ctx, struct co_kafka_props *props,
		       const char *name, const char *value);
/* "name=value" as given to -X; CO_EUSAGE without a '='. */
int co_kafka_props_add_arg(struct co_ctx *ctx, struct co_kafka_props *props,
			   const char *arg);
/*
 * kcat's property file format: one name=value a line, white space around
 * both trimmed, blank lines and lines starting with '#' ignored. A line
 * without '=' is CO_EDATA naming origin and line. Java client files are
 * read as kcat reads them, and a little further, so that a Confluent Cloud
 * client file works unchanged: "\:" and "\=" are unescaped; sasl.jaas.config
 * with the PLAIN or SCRAM login module becomes sasl.username and
 * sasl.password (CO_EDATA for another module); an empty
 * ssl.endpoint.identification.algorithm is "none"; the Java-only
 * properties that librdkafka lacks (client.dns.lookup, schema.registry.*,
 * basic.auth.*, the (de)serializer classes) are left out, but for
 * schema.registry.url, which is kept (kcat takes it as -r) and never given
 * to librdkafka by co_kafka_conf_new().
 */
#define CO_KAFKA_REGISTRY_PROPERTY "schema.registry.url"
int co_kafka_props_parse(struct co_ctx *ctx, struct co_kafka_props *props,
			 const char *text, size_t len, const char *origin);
int co_kafka_props_read_file(struct co_ctx *ctx, struct co_kafka_props *props,
			     const char *path);
size_t co_kafka_props_count(const struct co_kafka_props *props);
const char *co_kafka_props_name(const struct co_kafka_props *props, size_t i);
const char *co_kafka_props_value(const struct co_kafka_props *props, size_t i);
/*
 * Where the i-th property came from: the origin co_kafka_props_parse() was
 * given (co_kafka_props_read_file()'s path), or NULL when it was set
 * otherwise; setting a property again sets where it came from too.
 */
const char *co_kafka_props_origin(const struct co_kafka_props *props, size_t i);
/* The properties of src that dst lacks, set in dst with their origins. */
int co_kafka_props_merge(struct co_ctx *ctx, struct co_kafka_props *dst,
			 const struct co_kafka_props *src);
/* Value of name, or NULL. Owned by props. */
const char *co_kafka_props_get(const struct co_kafka_props *props, const char *name);
/* Whether a property's value is a secret: never shown in a message or a dump. */
bool co_kafka_property_secret(const char *name);

/*
 * A new librdkafka configuration (rd_kafka_conf_t): socket.nagle.disable=true
 * (TCP_NODELAY), bootstrap.servers from the brokers key, then props (which
 * may be NULL), which win over both. A property librdkafka
 * rejects is CO_EUSAGE naming it. The caller owns *out
 * (rd_kafka_conf_destroy(), or hand it to rd_kafka_new()).
 */
struct rd_kafka_conf_s;
int co_kafka_conf_new(struct co_ctx *ctx, const struct co_kafka_props *props,
		      struct rd_kafka_conf_s **out);

enum co_kafka_tstype {
	CO_KAFKA_TS_NONE,
	CO_KAFKA_TS_CREATE,
	CO_KAFKA_TS_LOGAPPEND,
};

struct co_kafka_header {
	const char *name;
	const void *value;	/* NULL: a null header */
	size_t len;
};

/* A message as it is written or read as text. NULL key or payload: null. */
struct co_kafka_msg {
	const char *topic;
	int32_t partition;	/* -1: not given */
	int64_t offset;
	enum co_kafka_tstype tstype;
	int64_t ts;		/* ms since the epoch; 0: not given */
	int32_t broker;
	const void *key;
	size_t key_len;
	const void *payload;
	size_t len;
	const struct co_kafka_header *headers;
	size_t n_headers;
	/* -s avro: the key [0] and payload [1] decoded; NULL: their bytes */
	const struct co_kafka_decoded *decoded[2];
};

/*
 * kcat's backslash escapes: \t \n \r, \xHH, \NNN (decimal) and any other
 * escaped character as itself. out holds strlen(in) + 1 bytes; returns the
 * length written (the result may contain NUL bytes).
 */
size_t co_kafka_unescape(const char *in, char *out);

/*
 * A -f format: literal text with kcat's escapes and the tokens %t %p %o %T
 * %k %K %s %S %R %h %%. null_str, when not NULL, is written for an empty
 * key or payload (kcat's -Z). An unknown token is CO_EUSAGE.
 */
struct co_kafka_format;
int co_kafka_format_parse(struct co_ctx *ctx, const char *fmt, const char *null_str,
			  struct co_kafka_format **out);
void co_kafka_format_free(struct co_kafka_format *fmt);
/* Whether the format holds the token %<token> (one of "okKsSRtpTh"): a
 * consumer looks up what its output needs and no more. */
bool co_kafka_format_uses(const struct co_kafka_format *fmt, char token);
/* CO_EIO when out reports an error; CO_EDATA, with nothing written, when a
 * key or payload cannot be shown (a pack-str, -s avro). */
int co_kafka_format_write(const struct co_kafka_format *fmt,
			  const struct co_kafka_msg *msg, FILE *out);

/*
 * Strict UTF-8 (RFC 3629), the one check every tool uses: no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 * co_utf8_sequence() returns the length of the valid sequence at s (1..4),
 * 0 when s does not start one; len must be > 0.
 */
size_t co_utf8_sequence(const void *s, size_t len);
/* True when data is valid UTF-8 as above. */
bool co_utf8_valid(const void *data, size_t len);
/*
 * A NUL-terminated copy of data with each byte that does not start a
 * valid sequence replaced by U+FFFD; its length in *outlen. The caller
 * frees it. NULL only when out of memory.
 */
char *co_utf8_replace_invalid(const void *data, size_t len, size_t *outlen);

/*
 * The -J envelope, kcat's fields in kcat's order, without a delimiter.
 * Valid UTF-8 is written as kcat writes it; a key or payload that is not
 * UTF-8 gets its invalid bytes replaced by U+FFFD in "key"/"payload" and
 * its exact bytes in "key_b64"/"payload_b64"; a header name or value that
 * is not UTF-8 is written as {"b64":"..."}.
 */
int co_kafka_json_write(const struct co_kafka_msg *msg, FILE *out);
/*
 * Read one envelope as written above (fields other than key, payload,
 * headers, partition and ts are ignored). *out has topic NULL and is freed
 * with co_kafka_msg_free(). Malformed input is CO_EDATA.
 */
int co_kafka_json_read(struct co_ctx *ctx, const char *text, size_t len,
		       struct co_kafka_msg **out);
void co_kafka_msg_free(struct co_kafka_msg *msg);

/* ---- Kafka: kcat's deserializers ---- */

enum co_kafka_field { CO_KAFKA_FIELD_KEY, CO_KAFKA_FIELD_VALUE };
/*
 * kcat's pack-str (-s), after Python's struct.unpack(): '>' big-endian
 * (the default) and '<' little-endian for what follows; b B h H i I q Q
 * signed and unsigned integers of 8, 16, 32 and 64 bits, written in
 * decimal; c one byte; s the rest as it is; '$' the end of the data (else
 * an error); ' ' a space. Bytes left over are ignored. An empty pack-str
 * or another token is CO_EUSAGE.
 */
int co_kafka_pack_check(struct co_ctx *ctx, const char *pack);
/*
 * Write the key (%k) or the payload (%s) through pack from now on; NULL
 * and empty ones are written as before. pack is copied. A message whose
 * field does not match makes co_kafka_format_write() return CO_EDATA
 * without writing any of it, with the reason in co_kafka_format_error().
 */
int co_kafka_format_set_pack(struct co_ctx *ctx, struct co_kafka_format *fmt,
			     enum co_kafka_field field, const char *pack);
/* Why the last co_kafka_format_write() returned CO_EDATA; owned by fmt. */
const char *co_kafka_format_error(const struct co_kafka_format *fmt);
/* ---- Kafka: Avro in the schema registry's framing (-s avro) ---- */

/* What one decoder keeps and accepts. */
#define CO_KAFKA_AVRO_MAX_SCHEMAS 256		/* schemas cached, by id */
#define CO_KAFKA_AVRO_MAX_SCHEMA (1u << 20)	/* bytes of a registry reply */
#define CO_KAFKA_AVRO_MAX_VALUES (1 << 20)	/* values in one datum, at most */
#define CO_KAFKA_AVRO_VALUES_FREE 4096		/* values a datum may hold... */
#define CO_KAFKA_AVRO_VALUES_PER_BYTE 16	/* ...and this many per byte of it */
#define CO_KAFKA_AVRO_MAX_DEPTH 128		/* nesting in one datum */
#define CO_KAFKA_AVRO_MAX_FIXED (1 << 20)	/* bytes of a fixed type */

/*
 * A decoder for keys and values framed as a Confluent-compatible schema
 * registry's serializers write them: a magic byte 0, the schema id in 4
 * big-endian bytes, then the Avro binary datum. url is the registry (its
 * trailing slashes ignored; NULL: only the schemas added below); a schema
 * is asked for once, with GET URL/schemas/ids/ID, and kept.
 */
struct co_kafka_avro;
int co_kafka_avro_new(struct co_ctx *ctx, const char *url, struct co_kafka_avro **out);
void co_kafka_avro_free(struct co_kafka_avro *avro);
/* Know schema id as text (Avro JSON) without asking the registry. */
int co_kafka_avro_add_schema(struct co_kafka_avro *avro, int32_t id, const char *text,
			     size_t len);
/*
 * Decode one framed datum into *json, one line of JSON as kcat writes it
 * (NUL-terminated; the caller frees it), and its schema id. A datum whose
 * schema is "bytes" is the rest of the data, without a length, as the
 * registry's serializers write it. CO_EDATA when the data cannot be
 * decoded: not in the framing, an id the registry does not know, a schema
 * avro-c does not read, a datum that does not match its schema or goes
 * past the bounds above. The registry unreachable or refusing is
 * CO_EUNAVAILABLE, CO_ETEMPFAIL or CO_ENOPERM (asked again for the next
 * datum); an answer that is not a schema envelope is CO_EPROTOCOL. The
 * message, on the context, reads as libserdes's.
 */
int co_kafka_avro_decode(struct co_kafka_avro *avro, const void *data, size_t len,
			 char **json, int32_t *schema_id);

/*
 * A key or payload decoded for output (-s avro): co_kafka_format_write()
 * writes json in place of the bytes of %k or %s, or, when json is NULL,
 * stops with CO_EDATA and error as kcat words it; co_kafka_json_write()
 * writes json verbatim with "key_schema_id"/"value_schema_id", or null
 * with "key_error"/"payload_error".
 */
struct co_kafka_decoded {
	const char *json;
	int32_t schema_id;
	const char *error;
};

/* ---- digests and archives ---- */

/*
 * SHA-256, computed while the data streams past (OpenSSL libcrypto), and
 * written as 64 lowercase hex digits.
 */
#define CO_SHA256_HEX_LEN 64

struct co_sha256;

/* A new digest; NULL when out of memory. Free with co_sha256_free(). */
struct co_sha256 *co_sha256_new(void);
void co_sha256_free(struct co_sha256 *h);
/* Forget what was fed: the digest of nothing again. */
void co_sha256_reset(struct co_sha256 *h);
void co_sha256_update(struct co_sha256 *h, const void *data, size_t len);
/*
 * Write the digest of everything fed since the last reset into hex
 * (CO_SHA256_HEX_LEN + 1 bytes, NUL-terminated) and reset h.
 * CO_ESOFTWARE if libcrypto failed at any step.
 */
int co_sha256_final(struct co_ctx *ctx, struct co_sha256 *h, char *hex);
/* Feed h from fd's position to its end; adds the bytes read to *bytes. */
int co_sha256_update_fd(struct co_ctx *ctx, struct co_sha256 *h, int fd,
			const char *path, uint64_t *bytes);
/* The digest and size of a whole file (either out-pointer may be NULL). */
int co_sha256_file(struct co_ctx *ctx, const char *path, char *hex, uint64_t *bytes);
/* True when s is exactly CO_SHA256_HEX_LEN hex digits (either case). */
bool co_sha256_valid(const char *s);

/*
 * Archives: .zip, .tar, .tar.gz, .tgz, .tar.zst, .tar.bz2 and .tar.xz,
 * recognised by the name's suffix (any case).
 */
bool co_archive_supported(const char *name);
/* The name without its archive suffix: "books.tar.gz" -> "books".
 * Caller frees; NULL when the name has no archive suffix or out of memory. */
char *co_archive_stem(const char *name);

#define CO_ARCHIVE_REPLACE 0x1	/* replace dest if it exists */

/*
 * Unpack an archive into the directory dest, which is created. Members
 * with an absolute path or a ".." component, symbolic links that point
 * outside dest, hard links to anything but a regular file already
 * unpacked, and device files refuse the whole archive (CO_EDATA, naming
 * the member); so does an archive with more members, or more bytes once
 * unpacked, than the extract_max_members and extract_max_size settings of
 * ctx allow (a zip's central directory is counted before it is read), and
 * members that cannot be made because of what the archive holds (one
 * below a file, a name too long). The new tree's top directory gets the
 * mode the umask allows; every directory in it is at least u+rwx, every
 * file at least u+r. The members are written into a temporary directory
 * beside dest, renamed to dest only once all of them are on disk: after a
 * failure nothing new exists. An existing dest is CO_ECANTCREAT unless
 * CO_ARCHIVE_REPLACE, which swaps the new tree in atomically and removes
 * the old one (read-only directories too; a failure to is reported). A
 * write failure (a full disk) is CO_EIO (CO_ENOPERM when denied).
 * SIGINT, SIGTERM or SIGHUP while it runs (unless ignored) stops the
 * unpacking and is raised again once the temporary tree is removed.
 * The temporary tree is dest's directory's ".NAME.tmp-XXXXXX" (NAME being
 * dest's last component, XXXXXX six letters or digits), held with an
 * exclusive flock(2) for as long as it is used, the tree it replaces too
 * once swapped out: see co_archive_remove_leftovers().
 */
int co_archive_extract(struct co_ctx *ctx, const char *archive, const char *dest,
		       unsigned flags);

/*
 * co_archive_extract() of an archive already open as fd, read from its
 * first byte; fd stays open, at an offset of no meaning. For a caller that
 * opened the archive itself, beneath a directory it trusts and without
 * following links, and checked that it is the file it means: a name
 * swapped meanwhile cannot make it read another. archive names it in
 * messages.
 */
int co_archive_extract_fd(struct co_ctx *ctx, int fd, const char *archive, const char *dest,
			  unsigned flags);

/*
 * co_archive_extract_fd() into name, a single component, in the directory
 * dirfd, which the caller opened without following links (dest names
 * name in messages): nothing is made, renamed or removed but relative to
 * dirfd, so no link or rename of a directory above it can take the tree
 * elsewhere. While any of these functions runs, the process's working
 * directory is dest's directory; it is the caller's again on return.
 */
int co_archive_extract_at(struct co_ctx *ctx, int fd, const char *archive, int dirfd,
			  const char *name, const char *dest, unsigned flags);

/*
 * What co_archive_extract() runs left behind in dirfd, where they unpacked
 * into the directory name (a single component), when they could not clean
 * up (killed with SIGKILL, a crash, a power cut): the directories named
 * exactly ".NAME.tmp-XXXXXX" as above, of the effective user, holding the
 * extractor's mark (a file ".sc-fetch-tree" of the user's, which an
 * extraction puts in its tree and removes before the tree goes in place),
 * that no running extraction holds (their flock(2) can be taken). Each is
 * removed without following links: its contents through the descriptor
 * locked, any directory in it of another user's left, and itself by name
 * while the lock is held. Anything else with such a name (a symbolic link,
 * a file, another user's directory, one without the mark) is never
 * touched. fn, when not NULL, is called with each leftover's name and 0
 * once it is removed, or the errno of what kept it from being removed
 * whole. CO_OK, or the status of a
 * failure to list dirfd (the leftovers listed are still removed).
 */
typedef void co_archive_leftover_fn(void *arg, const char *leftover, int err);
int co_archive_remove_leftovers(struct co_ctx *ctx, int dirfd, const char *name,
				co_archive_leftover_fn *fn, void *arg);

/*
 * Downloads into files: http, https and file URLs, several at once,
 * streamed into a hidden ".NAME.part" file beside the target (see
 * co_fetch_part_path()) while their SHA-256 is computed, then checked,
 * flushed and renamed to the target. A .part file left by an interrupted
 * run is resumed with a Range request, and with If-Range naming the version
 * the part came from (kept in its "user.clusterops.validator" extended
 * attribute); a server that ignores the range, or whose file changed,
 * sends the whole file, which replaces the part. Transient failures (timeouts,
 * resets, HTTP 408, 429 and 5xx) are retried with a doubling delay, or
 * after the server's Retry-After; 4xx answers are final.
 */
enum co_fetch_state {
	CO_FETCH_QUEUED,
	CO_FETCH_ACTIVE,
	CO_FETCH_WAITING,	/* for the next attempt */
	CO_FETCH_DONE,
};

struct co_fetch_item {
	/* Set by the caller; the strings must outlive co_fetch_run(). */
	const char *url;
	const char *path;		/* the target file */
	const char *sha256;		/* expected digest, hex, or NULL */
	void *user;			/* the caller's, untouched */
	uint64_t size;			/* expected exact size, when size_known */
	bool size_known;
	/* Set by co_fetch_run(), readable from the progress callback. */
	enum co_fetch_state state;
	int status;			/* CO_OK, or why this file failed */
	char error[512];		/* "URL: reason" when status != CO_OK */
	uint64_t bytes;			/* bytes in the file so far */
	uint64_t total;			/* its size when known, else 0 */
	char sha256_got[CO_SHA256_HEX_LEN + 1];	/* when fully received */
	int attempts;
	bool resumed;			/* continued from an earlier .part */
};

struct co_fetch_options {
	unsigned parallel;		/* transfers at once; 0 means 1 */
	unsigned retries;		/* further attempts after a transient failure */
	double connect_timeout;		/* seconds */
	double stall_timeout;		/* seconds without data before giving up */
	double backoff;			/* seconds before the first retry */
	const char *cacert;		/* CA bundle for https, NULL: the system's */
	bool restart;			/* discard .part files instead of resuming */
	uint64_t max_bytes;		/* largest file accepted; 0: no limit */
	/*
	 * When set, every item's path is beneath this directory: the rest of
	 * the path is resolved without following any symbolic link and
	 * without leaving it (missing directories are created), and .part
	 * files are never opened through a link.
	 */
	const char *beneath;
	/* Called about every progress_interval seconds (0: 0.2) and at the end. */
	void (*progress)(void *arg, const struct co_fetch_item *items, size_t n);
	void *progress_arg;
	double progress_interval;
};

/*
 * Fetch every item. Returns CO_OK when the transfers ran, whatever their
 * outcome, which is in each item's status and error; another status only
 * when they could not run at all (out of memory).
 */
int co_fetch_run(struct co_ctx *ctx, struct co_fetch_item *items, size_t n,
		 const struct co_fetch_options *opt);
/* "dir/name" -> "dir/.name.part". Caller frees; NULL when out of memory. */
char *co_fetch_part_path(const char *path);

/* ---- writing archives --------------------------------------------------- */

/*
 * An archive written as a stream into a descriptor, its format from the
 * name's suffix as co_archive_supported() knows them: a .zip, else a pax
 * tar compressed as the suffix says. Members are regular files, mode 0644,
 * each announced with its size before its bytes.
 */
struct co_archive_writer;

/*
 * A writer into fd, which stays the caller's (it is not closed); name
 * gives the format and names the archive in messages. CO_EUSAGE when the
 * name has no archive suffix. Free with co_archive_writer_free().
 */
int co_archive_writer_new(struct co_ctx *ctx, const char *name, int fd,
			  struct co_archive_writer **out);
/*
 * Start a member of exactly size bytes; mtime in seconds since the epoch.
 * A name that is empty or absolute, or has an empty, "." or ".." component,
 * is CO_EDATA: the archive stays in its directory when unpacked.
 */
int co_archive_writer_check_name(struct co_ctx *ctx, const struct co_archive_writer *w,
				 const char *path);
int co_archive_writer_begin(struct co_ctx *ctx, struct co_archive_writer *w,
			    const char *path, int64_t size, int64_t mtime);
/* Bytes of the member begun; more than it announced is CO_ESOFTWARE. */
int co_archive_writer_write(struct co_ctx *ctx, struct co_archive_writer *w,
			    const void *data, size_t len);
/* A whole member from memory, dated now. */
int co_archive_writer_add(struct co_ctx *ctx, struct co_archive_writer *w,
			  const char *path, const void *data, size_t len);
/*
 * A whole regular file open as fd, from its current position, at the size
 * it has now (in *size, which may be NULL). CO_EDATA when fd is not a
 * regular file; CO_EIO when it cannot be read or shrinks meanwhile.
 */
int co_archive_writer_add_fd(struct co_ctx *ctx, struct co_archive_writer *w,
			     const char *path, int fd, int64_t *size);
/*
 * Copy the regular files of an archive (zip or tar, compressed as the
 * suffixes name or not), held in memory or read from fd, as members named
 * prefix + their name. A name that is absolute or has an
 * empty, "." or ".." component is left out and counted in *unsafe; added,
 * when not NULL, is called for each member copied, with its size. Each
 * member's data passes through an unlinked temporary file first, so that
 * the size written is what it holds, not what its header claims; more than
 * the extract_max_size setting, or an archive that cannot be read, is
 * CO_EDATA, and leaves the writer between two members.
 */
typedef void co_archive_member_fn(void *arg, const char *path, int64_t size);
int co_archive_writer_add_members(struct co_ctx *ctx, struct co_archive_writer *w,
				  const char *prefix, const void *data, size_t len,
				  co_archive_member_fn *added, void *arg, size_t *unsafe);
int co_archive_writer_add_members_fd(struct co_ctx *ctx, struct co_archive_writer *w,
				     const char *prefix, int fd,
				     co_archive_member_fn *added, void *arg, size_t *unsafe);
/* Finish the archive (compression trailer, central directory). */
int co_archive_writer_close(struct co_ctx *ctx, struct co_archive_writer *w);
void co_archive_writer_free(struct co_archive_writer *w);

/* ---- Spark history server ------------------------------------------------ */

struct co_history_attempt {
	char *attempt_id;	/* NULL for an application run once */
	int64_t start_ms, end_ms, last_updated_ms, duration_ms;
	char *spark_user;
	char *spark_version;
	bool completed;
};

/* The history server's document on one application. */
struct co_history_app {
	char *id;
	char *name;
	size_t n_attempts;
	struct co_history_attempt *attempts;
	char *json;		/* the document as received, NUL-terminated */
	size_t json_len;
	char *origin;		/* where it came from: the URL, or parse()'s origin */
};

/*
 * Parse a /api/v1/applications/<id> document: bytes in, struct out, no
 * I/O (origin names it in messages). CO_EPROTOCOL when it is not an
 * application's document: not a JSON object, no string "id", or an
 * "attempts" member that is not an array of objects.
 */
int co_history_app_parse(struct co_ctx *ctx, const char *json, size_t len,
			 const char *origin, struct co_history_app **out);
void co_history_app_free(struct co_history_app *app);

/*
 * "<history_url>/api/v1/applications/<app_id><tail>". Caller frees; NULL
 * when out of memory.
 */
char *co_history_url(const struct co_ctx *ctx, const char *app_id, const char *tail);

/*
 * Seconds to keep asking a history server that answers 404: it reads the
 * events dir every 10 s by default (spark.history.fs.update.interval), so
 * it may not know yet an application that runs, or ended in the last
 * minute (30 s for those, and for one the master does not list: app NULL;
 * 0 otherwise).
 */
double co_history_patience(const struct co_spark_app *app);

/*
 * GET the application's document, asking again once a second for up to
 * wait_seconds while the answer is 404. A final 404 is CO_EFAIL; a
 * document about another application is CO_EPROTOCOL.
 */
int co_history_app_fetch(struct co_ctx *ctx, const char *app_id, double wait_seconds,
			 struct co_history_app **out);
/*
 * GET <history_url>/api/v1/applications/<app_id>/logs: the event log as
 * the history server zips it, whole in resp (bounded as any reply).
 */
int co_history_eventlog_zip(struct co_ctx *ctx, const char *app_id,
			    struct co_http_response *resp);
/*
 * The history server's zip of app_id's event log, its members copied into
 * w one by one as prefix + name (co_archive_writer_add_members_fd()). The
 * zip is read as it arrives into an unlinked temporary file, at most the
 * extract_max_size setting's bytes, and never held in memory. When
 * nothing could be copied, *why (to free) says why, and the status is
 * CO_OK; another status is the writer's failure.
 */
int co_history_eventlog_archive(struct co_ctx *ctx, const char *app_id,
				struct co_archive_writer *w, const char *prefix,
				co_archive_member_fn *added, void *arg, char **why);

/* ---- event-log files, the events dir's path, worker logs read in pieces ---- */

/*
 * The events_dir setting as a local path: a path as it is, a file:// URL
 * (file:///dir, file:/dir, file://localhost/dir) as its path. Points into
 * setting. NULL, with CO_EUSAGE on ctx, for any other URL (hdfs://, s3a://):
 * the tools read the events dir only where this machine sees it.
 */
const char *co_events_dir_path(struct co_ctx *ctx, const char *setting);

/*
 * Open one file of a log that co_eventlog_dir_scan() listed, relative to
 * the events dir open as dirfd: the single file itself (file NULL), or one
 * of a rolling log's files (file one of log->files). Neither a link nor
 * anything but a regular file is opened (and a FIFO is never waited on):
 * CO_EDATA then; CO_EIO when it cannot be opened. The caller closes *fd.
 */
int co_eventlog_open_file(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log,
			  const char *file, int *fd);

/*
 * Where an application's executors run or ran: each worker of st that may
 * have run app_id is asked for its /json/ (a few at a time, all within
 * three times the configured timeout), and found() is called for each of
 * the application's executors it lists (running or finished), in st's
 * order of workers. A worker that was dead a full minute before the
 * application started is not asked; one that cannot be asked, or whose
 * address now answers for another worker (unless it is DEAD), is passed to
 * missing(), which may be NULL, with the reason; those left unasked when
 * the time is up are passed once, as "ID and N more workers".
 */
typedef void co_executor_fn(void *arg, const struct co_spark_worker *w, int executor_id);
typedef void co_missing_fn(void *arg, const char *what, const char *why);
void co_app_executors_find(struct co_ctx *ctx, const struct co_master_state *st,
			   const char *app_id, co_executor_fn *found,
			   co_missing_fn *missing, void *arg);

/* Which log of which worker: an executor's, or with executor -1 a driver's. */
struct co_worker_log_id {
	const char *webui;	/* the worker's web UI */
	const char *app_id;	/* for an executor's log */
	int executor;
	const char *driver_id;	/* for a driver's log */
	const char *stream;	/* "stdout" or "stderr" */
};

/*
 * Many worker logs read at once, each piece by piece through its own
 * co_log_cursor (so with tail >= 0, each from its last lines first), at most
 * max_parallel transfers over all of them. NULL when out of memory.
 */
struct co_log_reader;
struct co_log_reader *co_log_reader_new(struct co_ctx *ctx, int max_parallel, long tail);
void co_log_reader_free(struct co_log_reader *r);
/* Add a log (its strings are copied); tag is the caller's, handed back. */
int co_log_reader_add(struct co_log_reader *r, const struct co_worker_log_id *id,
		      void *tag);
/*
 * Read every log up to its end as of now, each from where it stopped:
 * data() gets each piece's new bytes, in order for each log (a piece may
 * bring none); failed() gets, once, a log that cannot be read and why, and
 * that log is not read again. A worker whose request times out is not
 * asked for its other logs for three timeouts (with ctx, by
 * co_worker_log_copy too): they fail at once, saying so. Call again to
 * read what the logs have grown by. CO_OK, or the transfer engine's own
 * failure.
 */
typedef void co_log_data_fn(void *arg, void *tag, const char *data, size_t len);
typedef void co_log_fail_fn(void *arg, void *tag, const char *why);
int co_log_reader_run(struct co_log_reader *r, co_log_data_fn *data, co_log_fail_fn *failed,
		      void *arg);

/*
 * Copy one worker log whole into fd, from its current offset, piece by
 * piece: the log as it was at the first piece (what it grows by later is
 * left out). *left is the budget of bytes (the extract_max_size setting
 * over a bundle's logs): a log that says it is larger fails at its first
 * piece, and *left shrinks by what a copied log took. Its size in *size,
 * its first piece's URL in *first_url (the caller frees it; NULL when not
 * one piece came). On a failure, what fd got is to be thrown away: the
 * worker's failure (CO_ETEMPFAIL without a request when the worker has
 * timed out lately, as for co_log_reader_run), CO_EDATA for a log over the
 * budget, or CO_EIO when fd could not be written.
 */
int co_worker_log_copy(struct co_ctx *ctx, const struct co_worker_log_id *id, int fd,
		       uint64_t *left, char **first_url, int64_t *size);

/*
 * Copy every file of an event log that co_eventlog_dir_scan() listed into
 * w, relative to the events dir open as dirfd: a single file as prefix +
 * its name, a rolling log's files as prefix + dir + "/" + file. A file
 * that is no longer a regular file (a link, a FIFO put in its place) or
 * cannot be opened is left out; added() is called for each one copied,
 * and their count is in *copied. The status is the writer's: CO_OK, or why
 * the archive could not be written. The events dir is everyone's: a file
 * larger than the extract_max_size setting allows, with what was copied
 * before it, is left out.
 */
int co_eventlog_archive(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log,
			struct co_archive_writer *w, const char *prefix,
			co_archive_member_fn *added, void *arg, size_t *copied);
/*
 * Every event log of app_id in the events dir (the events_dir setting),
 * where this machine sees it, copied into w as co_eventlog_archive() does,
 * all of them within one extract_max_size; *copied counts the files. The
 * status is the writer's.
 */
int co_eventlog_archive_app(struct co_ctx *ctx, const char *app_id,
			    struct co_archive_writer *w, const char *prefix,
			    co_archive_member_fn *added, void *arg, size_t *copied);

/* Bytes asked for per piece of a worker's log; with its header it fits a 1 MiB reply. */
#define CO_LOG_PIECE ((1 << 20) - 4096)
/* A --tail looks back this far at most, from a first window of 64 KiB. */
#define CO_LOG_TAIL_MAX (16 << 20)
#define CO_LOG_TAIL_WINDOW (64 << 10)

/*
 * Where to read a worker's log next, and whether a piece is believable.
 * A piece must start where it was asked to and, short of the end of the
 * file (the most any piece has said it holds), move forward by at least
 * half of what was asked, and carry about the bytes its header claims (a
 * few bytes off where the worker's text decoder cut a character);
 * otherwise the log ends with an error, rather than a loop that never ends
 * or filler the worker asked for.
 * With tail >= 0 the end of the file is read first, in doubling windows up
 * to CO_LOG_TAIL_MAX, until it holds that many lines. With fixed, the log
 * is read up to the size it had at its first piece and no further (an
 * archive member's announced size).
 */
struct co_log_cursor {
	int64_t offset;		/* the next byte to ask for */
	int64_t window;		/* while tailing: bytes asked for from the end */
	long tail;		/* lines wanted from the end; < 0: from the start */
	bool tailing;
	bool fixed;
	int64_t limit;		/* with fixed: the size at the first piece, else -1 */
	int64_t delivered;	/* bytes handed out */
	int64_t pieces;
	int64_t total;		/* the most any piece taken said the log holds */
};

void co_log_cursor_init(struct co_log_cursor *c, long tail, bool fixed);
/* The next piece to ask for, as co_worker_log_url() takes it. */
void co_log_cursor_next(const struct co_log_cursor *c, int64_t *offset, int64_t *length);
/*
 * Take a parsed piece in. CO_OK with the bytes that are new in *data and
 * *len (possibly none, pointing into piece), and *more when the next piece
 * is to be asked for now: the file goes on, or the tail window grew.
 * CO_EFAIL when the worker no longer has the log; CO_EPROTOCOL when the
 * piece does not advance or lacks its bytes. Messages start with origin.
 */
int co_log_cursor_take(struct co_ctx *ctx, struct co_log_cursor *c,
		       const struct co_log_chunk *piece, const char *origin,
		       const char **data, size_t *len, bool *more);
/*
 * With fixed, once the log is read: the bytes to add to reach the size of
 * the first piece (re-encoded text comes back a little short), in *pad;
 * CO_EPROTOCOL when more are missing than the decoder can explain.
 */
int co_log_cursor_finish(struct co_ctx *ctx, const struct co_log_cursor *c,
			 const char *origin, int64_t *pad);

#ifdef __cplusplus
}
#endif

#endif /* CLUSTEROPS_H */
