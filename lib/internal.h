/* SPDX-License-Identifier: MIT */
/* Shared inside libclusterops only; nothing here is exported. */
#ifndef CO_INTERNAL_H
#define CO_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>

#include "clusterops.h"

#define CO_API __attribute__((visibility("default")))

/*
 * libcurl, libarchive and avro-c are loaded on first use (lazy.c). Call
 * before using one: CO_OK, or CO_ESOFTWARE with the loader's message.
 */
enum co_lazy_lib { CO_LAZY_CURL, CO_LAZY_ARCHIVE, CO_LAZY_AVRO };
int co_lazy_need(struct co_ctx *ctx, enum co_lazy_lib lib);

/* Largest reply body kept in memory; API answers are far smaller. */
#define CO_HTTP_MAX_BODY (64u << 20)

/*
 * a + b for sizes (b >= 0), INT64_MAX when the sum would pass it: a
 * sparse file claims up to 8 EiB, and a few of them must not wrap a total.
 */
static inline int64_t co_size_add(int64_t a, int64_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

#define CO_STR_(x) #x
#define CO_STR(x) CO_STR_(x)

/* A comma-separated list of URLs (master_ui, rest_url), split. */
struct co_url_list {
	char *src;		/* the value it was split from */
	char **v;
	size_t n;
};

/* What one master answered to the last co_master_state_fetch(). */
struct co_master_seen {
	char *status;		/* its status, NULL when it did not answer */
	char *error;		/* why not, NULL when it answered or was not asked */
};

struct co_ctx {
	char errmsg[1024];
	/* Per key: the value set at each precedence level (enum co_source). */
	char *layer[CO_KEY_COUNT][CO_SRC_FLAG + 1];
	char *config_file;
	CURL *curl;		/* reused so connections are kept alive */
	struct co_http_multi *workers;	/* the workers' lookup's, kept alive likewise */
	char *csrf_token;	/* master UI kill-form token, fetched once */
	bool csrf_fetched;
	bool curl_ready;	/* curl_global_init done, on first use */
	struct co_url_list urls[2];	/* master_ui, rest_url: one URL per master */
	size_t master_active;	/* index of the master in use (the last ALIVE one) */
	size_t csrf_master;	/* index of the master csrf_token came from */
	struct co_master_seen seen[CO_MASTERS_MAX];
	char *rest_used;	/* REST URL of the last REST call */
	double deadline;	/* co_monotonic() no request may pass; 0: none */
	/* workers whose log requests timed out, not asked again for a while (worklog.c) */
	struct co_silent_worker {
		char *webui;
		double until;	/* co_monotonic() */
	} *silent;
	size_t n_silent;
};

/*
 * The master_ui or rest_url list as it is now configured, split and each
 * URL parsed by libcurl (cached on ctx until the value changes): CO_OK and
 * *out, owned by ctx, or the status with the message.
 */
int co_url_list_get(struct co_ctx *ctx, enum co_key key, const struct co_url_list **out);
void co_url_lists_free(struct co_ctx *ctx);

/* New libcurl handles; the first call sets libcurl up. */
CURL *co_curl_easy(struct co_ctx *ctx);
CURLM *co_curl_multi(struct co_ctx *ctx);
/* The context's one easy handle (kept for keep-alive), made on first use. */
CURL *co_ctx_curl(struct co_ctx *ctx);

/* Record a failure on ctx and return its status, for "return co_err(...)". */
int co_err(struct co_ctx *ctx, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix the current message: "<prefix>: <old message>". */
int co_err_prefix(struct co_ctx *ctx, int status, const char *prefix);

/*
 * Room for one more element in an array of n: capacities are 16, then
 * doublings, so the array is full exactly when n is 16 or a power of two
 * above. NULL when out of memory (array is then still valid).
 */
void *co_grow(void *array, size_t n, size_t size);
/* A file's modification time in milliseconds. */
struct stat;
int64_t co_mtime_ms(const struct stat *sb);
/* Append {name, reason} to a list of skipped directory entries. */
struct co_eventlog_skip;
int co_skip_add(struct co_ctx *ctx, struct co_eventlog_skip **skipped, size_t *n,
		const char *name, const char *reason);
void co_skips_free(struct co_eventlog_skip *skipped, size_t n);

/*
 * Call fn for each entry of the directory open as dirfd (not "." or ".."),
 * with its d_type (DT_UNKNOWN where the file system does not tell),
 * through a DIR stream on a duplicate of it, until fn returns a status
 * other than CO_OK, which is returned. what names the directory in errors.
 */
int co_dir_each(struct co_ctx *ctx, int dirfd, const char *what,
		int (*fn)(struct co_ctx *ctx, const char *name, unsigned char d_type, void *arg),
		void *arg);
/* The most entries co_dir_each() reads before it visits them; tests lower it. */
extern size_t co_dir_batch;

/* Seconds on the monotonic clock. */
double co_monotonic(void);

/* The configured time allowed for each HTTP request (SC_TIMEOUT), in ms. */
long co_timeout_ms(const struct co_ctx *ctx);

/* co_http_multi_get of a document: at most CO_HTTP_MAX_DOC bytes (CO_HTTP_DOCUMENT). */
int co_http_multi_get_document(struct co_http_multi *m, const char *url, void *tag);
/* co_http_multi_get() of a reply kept whole up to max bytes (and CO_HTTP_MAX_BODY). */
int co_http_multi_get_max(struct co_http_multi *m, const char *url, void *tag, size_t max);

/* Join a base URL and a path without doubling the slash. Caller frees. */
char *co_url_join(const char *base, const char *path);

/* strdup that accepts NULL. */
char *co_strdup0(const char *s);

/*
 * Append n bytes to a growing buffer (*data of *len bytes in *cap), kept
 * NUL-terminated; the capacity doubles. false when out of memory.
 */
bool co_bytes_append(char **data, size_t *len, size_t *cap, const char *p, size_t n);

/*
 * A GET whose 2xx body goes to body_fn as it arrives (a reply of another
 * status is read as co_http_get's, and fails the same way), at most max
 * bytes. Retried as co_http_get; before a retry of a
 * reply of which body_fn got bytes, restart(tag) is called, and a status
 * from it ends the GET. A status from body_fn ends it with that status.
 */
int co_http_get_streamed(struct co_ctx *ctx, const char *url, uint64_t max,
			 co_http_body_fn *body_fn, int (*restart)(void *tag), void *tag);

/*
 * A master's /json/ document walked as its bytes arrive (lib/master.c):
 * feed it the bytes (a co_http_body_fn), then end it for the state it
 * describes. origin names the document in messages and must outlive it.
 */
struct co_master_walk;
struct co_master_walk *co_master_walk_new(struct co_ctx *ctx, const char *origin);
int co_master_walk_feed(void *walk, const char *data, size_t len);
/* Back to the document's start (for a retried GET). */
int co_master_walk_restart(void *walk);
int co_master_walk_end(struct co_master_walk *w, struct co_master_state **out);
void co_master_walk_free(struct co_master_walk *w);

/* JSON helpers: parse a reply, read typed members. */
int co_json_parse(struct co_ctx *ctx, const char *text, size_t len,
		  const char *origin, json_t **out);
/* Member as a new string: strings are copied, numbers formatted; NULL if absent. */
char *co_json_strdup(const json_t *obj, const char *key);
/*
 * Where a byte-by-byte read of JSON text is: inside a string or not. Fed
 * each byte, co_json_scan_step() says whether it is outside any string
 * (punctuation, a number, a blank); a string's quotes are the string's.
 */
struct co_json_scan {
	bool in_string, escaped;
};

static inline bool co_json_scan_step(struct co_json_scan *s, char c)
{
	if (s->in_string) {
		if (s->escaped)
			s->escaped = false;
		else if (c == '\\')
			s->escaped = true;
		else if (c == '"')
			s->in_string = false;
		return false;
	}
	if (c == '"')
		s->in_string = true;
	return !s->in_string;
}

/* A copy of string v, any NUL in it ('\u0000') replaced by '?'; NULL when out of memory. */
char *co_json_string_dup(const json_t *v);
int64_t co_json_int(const json_t *obj, const char *key, int64_t dflt);
int co_json_count(const json_t *obj, const char *key);

/* REST replies. */
struct co_rest_reply {
	char *action;
	bool success;
	bool success_known;	/* "success" was true or false, as Spark sends it */
	char *message;
	char *submission_id;
	char *driver_state;
	char *server_version;
};
int co_rest_parse_reply(struct co_ctx *ctx, const char *json, size_t len,
			const char *origin, struct co_rest_reply *out);
void co_rest_reply_clear(struct co_rest_reply *r);

/* The master UI's CSRF token from its main page, or NULL when it has none. */
char *co_master_parse_csrf(const char *html);

/* ---- archives, event logs and logs (archive.c, archive-write.c, worker.c) ---- */

/* What an archive suffix says: the format, and the compression of a tar. */
enum co_archive_filter {
	CO_ARCHIVE_FILTER_NONE,
	CO_ARCHIVE_FILTER_GZIP,
	CO_ARCHIVE_FILTER_ZSTD,
	CO_ARCHIVE_FILTER_BZIP2,
	CO_ARCHIVE_FILTER_XZ,
};

struct co_archive_suffix {
	const char *suffix;		/* ".tar.gz" */
	bool zip;
	enum co_archive_filter filter;
};

/*
 * The suffix table's entry for name (any case), NULL when it has none. The
 * file name must have something before the suffix: "dir/.tar" has no stem.
 * One table for the extractor and the writer.
 */
const struct co_archive_suffix *co_archive_suffix_of(const char *name);

/*
 * A reader of tar and zip, compressed with what the suffixes name (gzip,
 * bzip2, xz, zstd) or not at all: never "all", which would also hand some
 * compressions (lrzip, lzop, grzip) to whatever program of that name is
 * on PATH, run on the archive's bytes. NULL when out of memory.
 */
struct archive *co_archive_reader_new(void);

/*
 * What one archive may unpack to (the extract_max_size and
 * extract_max_members settings), and what it has so far: bytes and members
 * start at 0. The status of a size that does not parse, with its message.
 */
struct co_extract_limits {
	uint64_t max_bytes, bytes;
	long long max_members, members;
};
int co_extract_limits_read(struct co_ctx *ctx, struct co_extract_limits *lim);

#endif
