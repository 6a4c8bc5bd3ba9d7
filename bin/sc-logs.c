/* SPDX-License-Identifier: MIT */
/*
 * sc-logs: collect a Spark application's logs from every worker: each
 * executor's stdout and stderr, or a cluster-mode driver's, read through
 * the workers' /log/ endpoint in bounded pieces, all workers at once, and a
 * client-mode driver's log from the driver-log dir. Streams them with a
 * prefix, follows them, or bundles them with the event log into one archive.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools-common.h"

#define MAX_PARALLEL 8		/* requests in flight, over all workers */
#define MASTER_SILENCE_SECONDS 60.0
#define POLL_SECONDS 1.0	/* between two reads of the master and the logs, following */

enum stream_choice { STDERR_ONLY, STDOUT_ONLY, BOTH };

struct control {
	const char *app_id;
	const char *name_glob;
	const char *driver_id;
	enum stream_choice streams;
	int *executors;		/* --executor filter */
	size_t n_executors;
	bool no_prefix;
	bool no_driver_log;
	bool json;
	bool follow;
	long tail;		/* < 0: everything */
	const char *output;	/* -o bundle */
	enum out_mode mode;
};

/* One log file on one worker, and how its lines are printed. */
struct source {
	const struct control *ctl;
	struct co_worker_log_id id;
	char *worker_id;
	char *webui;
	char *where;		/* host:port of the worker, for prefixes */
	char *label;		/* "executor 0 stderr on host:port", for messages */
	char *prefix;		/* what goes before each of its lines */
	struct line_buffer lines;
};

struct sources {
	struct co_ctx *ctx;
	const struct control *ctl;
	const char *app_id;
	struct source **v;
	size_t n;
	size_t *slots;		/* v's indices plus one by worker, executor and stream */
	size_t n_slots;		/* a power of two, at least twice n */
	uint64_t seed;		/* of their hash, random: workers choose the keys */
	char **missing;		/* what could not be collected, and why */
	size_t n_missing;
	struct co_log_reader *reader;	/* when streaming */
	struct co_driver_log_reader *driver_log;	/* a client-mode driver's */
	struct source *driver;		/* how its lines are printed */
	size_t lines_held;		/* the unfinished lines of all of them */
	bool capped;			/* more logs were listed than are read */
};

/*
 * The most logs read at once: two streams of as many executors as are
 * taken from one worker. Whatever the workers list, this many, each with
 * an unfinished line of its own, and no more than LINES_HELD_MAX of those
 * lines in all (past it, the line being added to is printed as it is).
 */
#define SOURCES_MAX 20000
#define TEXT_OF(n) #n
#define NUMBER_TEXT(n) TEXT_OF(n)	/* "20000" of SOURCES_MAX */
#define LINES_HELD_MAX (16u << 20)

static noreturn void usage(void)
{
	printf("Usage: %s [OPTION]... APP_ID\n"
	       "       %s [OPTION]... --name GLOB\n"
	       "       %s [OPTION]... --driver DRIVER_ID\n"
	       "Collect a Spark application's logs from every worker.\n"
	       "\n"
	       "  -N, --name=GLOB        the application whose name matches GLOB (running ones\n"
	       "                         first; more than one match is refused)\n"
	       "  -d, --driver=ID        a cluster-mode driver's logs\n"
	       "      --stdout           executors' stdout instead of stderr\n"
	       "      --both             stdout and stderr\n"
	       "  -e, --executor=N       only executor N (repeatable)\n"
	       "  -t, --tail=N           only the last N lines of each log\n"
	       "  -f, --follow           keep printing new lines until the application ends\n"
	       "      --no-prefix        print the lines as they are, without their origin\n"
	       "      --no-driver-log    leave out the client-mode driver's log (sc-submit(1))\n"
	       "  -o, --output=FILE      write one archive instead (.tar.gz, .tgz, .tar.zst,\n"
	       "                         .tar.bz2, .tar.xz, .tar or .zip): every log, the event\n"
	       "                         log, the application's JSON from the history server\n"
	       "                         and a MANIFEST.json\n"
	       "  -J, --json             one JSON object per log line\n",
	       program_name, program_name, program_name);
	tool_common_usage(stdout);
	printf("\nExit status: 0 every log collected; 1 some log could not be collected (named\n"
	       "on stderr); 64 usage; 69 master unreachable; 73 cannot create the archive;\n"
	       "76 malformed reply; see clusterops(7).\n");
	exit(CO_OK);
}

static void parse_options(int argc, char **argv, struct co_ctx *ctx, struct control *ctl)
{
	enum { OPT_STDOUT = OPT_TOOL_FIRST, OPT_BOTH, OPT_NO_PREFIX, OPT_NO_DRIVER_LOG };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'N' },
		{ "driver", required_argument, NULL, 'd' },
		{ "stdout", no_argument, NULL, OPT_STDOUT },
		{ "both", no_argument, NULL, OPT_BOTH },
		{ "executor", required_argument, NULL, 'e' },
		{ "tail", required_argument, NULL, 't' },
		{ "follow", no_argument, NULL, 'f' },
		{ "no-prefix", no_argument, NULL, OPT_NO_PREFIX },
		{ "no-driver-log", no_argument, NULL, OPT_NO_DRIVER_LOG },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'J' },
		CO_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int c;

	ctl->tail = -1;
	while ((c = getopt_long(argc, argv, ":N:d:e:t:fo:JhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'N':
			ctl->name_glob = optarg;
			break;
		case 'd':
			ctl->driver_id = optarg;
			break;
		case OPT_STDOUT:
			ctl->streams = STDOUT_ONLY;
			break;
		case OPT_BOTH:
			ctl->streams = BOTH;
			break;
		case 'e':
			ctl->executors = xreallocarray(ctl->executors, ctl->n_executors + 1,
						       sizeof(*ctl->executors));
			ctl->executors[ctl->n_executors++] =
				(int)parse_long_or_die(optarg, "--executor", 0, 1000000);
			break;
		case 't':
			ctl->tail = parse_long_or_die(optarg, "--tail", 0, 10000000);
			break;
		case 'f':
			ctl->follow = true;
			break;
		case OPT_NO_PREFIX:
			ctl->no_prefix = true;
			break;
		case OPT_NO_DRIVER_LOG:
			ctl->no_driver_log = true;
			break;
		case 'o':
			ctl->output = optarg;
			break;
		case 'J':
			ctl->json = true;
			break;
		case 'h':
			usage();
		default:
			tool_common_option(ctx, c, optarg, argv);
		}
	}
	if (optind < argc)
		ctl->app_id = argv[optind++];
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	tool_options_done(ctx);
	if (!!ctl->app_id + !!ctl->name_glob + !!ctl->driver_id != 1)
		usage_error("name one application id, or --name, or --driver");
	if (ctl->output && (ctl->follow || ctl->tail >= 0 || ctl->json))
		usage_error("--output collects whole logs: it takes no --follow, --tail or --json");
	if (ctl->output && !co_archive_supported(ctl->output))
		usage_error("%s: the name must end in .tar.gz, .tgz, .tar.zst, .tar.bz2, .tar.xz, "
			    ".tar or .zip", ctl->output);
	if (ctl->driver_id && !co_driver_log_id_valid(ctl->driver_id))
		usage_error("'%s': not a Spark driver id", ctl->driver_id);
	ctl->mode = out_mode_choose(ctl->json);
}

/* "WHAT: WHY", for the list of what could not be collected (a co_missing_fn). */
static void note_missing(void *arg, const char *what, const char *why)
{
	struct sources *srcs = arg;

	srcs->missing = xreallocarray(srcs->missing, srcs->n_missing + 1, sizeof(*srcs->missing));
	srcs->missing[srcs->n_missing++] = xasprintf("%s: %s", what, why);
}

/*
 * FNV-1a from a random start, then MurmurHash3's finalizer, so that every
 * bit of the key reaches the table's index: executor numbers a worker
 * picks to differ above the index's bits do not all land in one chain.
 */
static size_t source_hash(uint64_t seed, const char *worker_id, int executor,
			  const char *stream)
{
	uint64_t h = 14695981039346656037u ^ seed;

	for (const char *p = worker_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	for (const char *p = stream; *p; p++)	/* a worker id holds no NUL: no ambiguity */
		h = (h ^ (unsigned char)*p ^ 0x100) * 1099511628211u;
	h = (h ^ (uint32_t)executor) * 1099511628211u;
	h = (h ^ h >> 33) * 0xff51afd7ed558ccdu;
	h = (h ^ h >> 33) * 0xc4ceb9fe1a85ec53u;
	return (size_t)(h ^ h >> 33);
}

/*
 * Where a log is, or would go, in the table of those already read. Every
 * poll of a follower lists them all again: each is found in about one
 * step, not by a walk of thousands.
 */
static size_t *source_slot(struct sources *srcs, const char *worker_id, int executor,
			   const char *stream)
{
	size_t mask = srcs->n_slots - 1;

	for (size_t i = source_hash(srcs->seed, worker_id, executor, stream) & mask;;
	     i = (i + 1) & mask) {
		const struct source *s = srcs->slots[i] ? srcs->v[srcs->slots[i] - 1] : NULL;

		if (!s || (s->id.executor == executor && strcmp(s->worker_id, worker_id) == 0 &&
			   strcmp(s->id.stream, stream) == 0))
			return &srcs->slots[i];
	}
}

/* Room in the table for one more, at most half full. */
static void source_slots_grow(struct sources *srcs)
{
	if (2 * (srcs->n + 1) <= srcs->n_slots)
		return;
	if (!srcs->slots && getrandom(&srcs->seed, sizeof(srcs->seed), 0) < 0)
		srcs->seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	free(srcs->slots);
	srcs->n_slots = srcs->n_slots ? 2 * srcs->n_slots : 64;
	srcs->slots = xcalloc(srcs->n_slots, sizeof(*srcs->slots));
	for (size_t k = 0; k < srcs->n; k++)
		*source_slot(srcs, srcs->v[k]->worker_id, srcs->v[k]->id.executor,
			     srcs->v[k]->id.stream) = k + 1;
}

static void add_source(struct sources *srcs, const struct co_spark_worker *w, int executor,
		       const char *stream)
{
	const struct control *ctl = srcs->ctl;
	struct source *s;
	size_t *slot;
	char exec[16], *where;

	source_slots_grow(srcs);
	if (*(slot = source_slot(srcs, w->id, executor, stream)))
		return;		/* read already */
	if (srcs->n >= SOURCES_MAX) {
		if (!srcs->capped)
			note_missing(srcs, "logs past the first " NUMBER_TEXT(SOURCES_MAX)
				     " the workers list", "too many to read");
		srcs->capped = true;
		return;
	}
	srcs->v = xreallocarray(srcs->v, srcs->n + 1, sizeof(*srcs->v));
	s = srcs->v[srcs->n++] = xcalloc(1, sizeof(*s));
	*slot = srcs->n;
	s->ctl = ctl;
	s->webui = xstrdup(w->webui);
	s->id = (struct co_worker_log_id){ .webui = s->webui, .app_id = srcs->app_id, .stream = stream,
					   .executor = executor, .driver_id = ctl->driver_id };
	s->worker_id = xstrdup(w->id);
	s->where = xasprintf("%s:%d", w->host ? w->host : "?", w->port);
	where = printable(s->where);	/* what the worker says it is: a prefix shows it safe */
	snprintf(exec, sizeof(exec), "%d", executor);
	if (executor >= 0)
		s->label = xasprintf("executor %d %s on %s", executor, stream, s->where);
	else
		s->label = xasprintf("driver %s on %s", stream, s->where);
	/* The prefix is the same for every line of a source: made once. */
	if (ctl->no_prefix || ctl->mode == OUT_JSON)
		s->prefix = NULL;
	else if (ctl->mode == OUT_TSV)
		s->prefix = xasprintf("%s\t%s\t%s\t", where, executor >= 0 ? exec : "driver",
				      stream);
	else if (executor >= 0)
		s->prefix = xasprintf("[%s exec %s %s] ", where, exec, stream);
	else
		s->prefix = xasprintf("[%s driver %s] ", where, stream);
	free(where);
	s->lines.max = CO_LOG_PIECE;
	s->lines.held = &srcs->lines_held;
	s->lines.held_max = LINES_HELD_MAX;
	if (srcs->reader && co_log_reader_add(srcs->reader, &s->id, s) != CO_OK)
		die(CO_ESOFTWARE, "out of memory");
}

static void add_streams(struct sources *srcs, const struct co_spark_worker *w, int executor)
{
	if (srcs->ctl->streams != STDOUT_ONLY)
		add_source(srcs, w, executor, "stderr");
	if (srcs->ctl->streams != STDERR_ONLY)
		add_source(srcs, w, executor, "stdout");
}

/* The driver's log, kept by sc-submit or Spark, unless executors or a driver are named. */
static void add_driver_log(struct sources *srcs)
{
	const struct control *ctl = srcs->ctl;
	struct source *s;

	if (ctl->no_driver_log || ctl->driver_id || ctl->n_executors)
		return;
	if (!(srcs->driver_log = co_driver_log_reader_new(srcs->ctx, srcs->app_id,
							      ctl->output ? 0 : ctl->tail)))
		die(CO_ESOFTWARE, "out of memory");
	s = srcs->driver = xcalloc(1, sizeof(*s));
	s->ctl = ctl;
	s->id = (struct co_worker_log_id){ .app_id = srcs->app_id, .stream = "log", .executor = -1 };
	s->label = xstrdup("driver log");
	if (!ctl->no_prefix && ctl->mode != OUT_JSON)
		s->prefix = xstrdup(ctl->mode == OUT_TSV ? "-\tdriver\tlog\t" : "[driver] ");
	s->lines.max = CO_LOG_PIECE;
	s->lines.held = &srcs->lines_held;
	s->lines.held_max = LINES_HELD_MAX;
}

/* Which application: by id, or the one whose name matches. */
static const char *resolve_app(const struct control *ctl, const struct co_master_state *st)
{
	const struct co_spark_app *found;
	size_t matches;

	if (ctl->app_id && !co_master_state_app(st, ctl->app_id))
		die(CO_EFAIL, "%s: the master does not know this application", ctl->app_id);
	if (ctl->app_id)
		return ctl->app_id;
	if (!(found = co_master_state_app_named(st, ctl->name_glob, &matches)))
		die(CO_EFAIL, "no application is named '%s'", ctl->name_glob);
	if (matches > 1) {
		warnmsg("%zu applications match '%s'; give an id:", matches, ctl->name_glob);
		for (size_t i = 0; i < st->n_apps; i++)
			if (co_spark_app_named(&st->apps[i], ctl->name_glob))
				list_app(&st->apps[i]);
		exit(CO_EFAIL);
	}
	return found->id;
}

static void found_executor(void *arg, const struct co_spark_worker *w, int executor)
{
	struct sources *srcs = arg;
	bool wanted = srcs->ctl->n_executors == 0;

	for (size_t i = 0; i < srcs->ctl->n_executors; i++)
		wanted |= srcs->ctl->executors[i] == executor;
	if (wanted)
		add_streams(srcs, w, executor);
}

/* The logs to read: a driver's, or those of the application's executors. */
static void find_sources(struct co_ctx *ctx, const struct co_master_state *st,
			 struct sources *srcs, bool report_missing)
{
	const struct control *ctl = srcs->ctl;
	const struct co_spark_driver *d;

	if (!ctl->driver_id) {
		co_app_executors_find(ctx, st, srcs->app_id, found_executor,
				      report_missing ? note_missing : NULL, srcs);
		return;
	}
	d = co_master_state_driver(st, ctl->driver_id);
	if (!d && !report_missing)
		return;		/* following: forgotten, it ended; its logs are read once more */
	if (!d)
		die(CO_EFAIL, "%s: the master does not know this driver", ctl->driver_id);
	for (size_t i = 0; d->worker && i < st->n_workers; i++)
		if (strcmp(st->workers[i].id, d->worker) == 0)
			add_streams(srcs, &st->workers[i], -1);
	if (srcs->n == 0 && report_missing)
		note_missing(srcs, ctl->driver_id,
			     d->worker ? "its worker is gone" : "it never ran on a worker");
}

/* ---- streaming to stdout --------------------------------------------- */

/*
 * Output that cannot be written ends the run at once, with 74 and the
 * error (said by the check of stdout at exit): whatever more is read could
 * not be shown.
 */
static void output_check(void)
{
	if (ferror(stdout))
		exit(CO_EIO);
}

static void print_line(void *arg, const char *line, size_t len)
{
	struct source *s = arg;
	char exec[16];

	if (s->ctl->mode == OUT_JSON) {
		snprintf(exec, sizeof(exec), "%d", s->id.executor);
		json_line(json_pack("{s:o, s:s, s:s, s:o}", "worker", !s->where ? json_null() :
				    json_string_lossy(s->where, strlen(s->where)),
				    "executor", s->id.executor >= 0 ? exec : "driver",
				    "stream", s->id.stream, "line", json_string_lossy(line, len)));
		output_check();
		return;
	}
	if (s->prefix)
		fputs(s->prefix, stdout);
	/* On a terminal, what a worker's log holds cannot drive it. */
	if (s->ctl->mode == OUT_TEXT)
		fwrite_printable(line, len, stdout);
	else
		fwrite(line, 1, len, stdout);
	putchar('\n');
	output_check();
}

static void print_data(void *arg, void *tag, const char *data, size_t len)
{
	(void)arg;
	line_buffer_feed(&((struct source *)tag)->lines, data, len, print_line, tag);
}

static void print_driver_data(void *arg, const char *data, size_t len)
{
	line_buffer_feed(&((struct source *)arg)->lines, data, len, print_line, arg);
}

/* What the driver's log gained since the last read; unreadable, it is missing. */
static void read_driver_log(struct sources *srcs)
{
	if (srcs->driver_log &&
	    co_driver_log_reader_read(srcs->driver_log, print_driver_data, srcs->driver)) {
		note_missing(srcs, "driver log", co_ctx_error(srcs->ctx));
		co_driver_log_reader_free(srcs->driver_log);
		srcs->driver_log = NULL;
	}
}

static void note_failed(void *arg, void *tag, const char *why)
{
	note_missing(arg, ((struct source *)tag)->label, why);
}

static void stream_logs(struct co_ctx *ctx, struct co_master_state **st, struct sources *srcs)
{
	const struct control *ctl = srcs->ctl;
	bool following = ctl->follow;
	double silent_since = 0;
	int rc;

	/* Lines from a terminal user's point of view: flush each. */
	if (ctl->follow || ctl->mode == OUT_TEXT)
		setvbuf(stdout, NULL, _IOLBF, 0);
	while ((rc = co_log_reader_run(srcs->reader, print_data, note_failed, srcs)) == CO_OK &&
	       (read_driver_log(srcs), following)) {
		/* Read once more after it ended; a master's restart is survived, not its end. */
		rc = co_master_still_running(ctx, srcs->app_id, MASTER_SILENCE_SECONDS,
					     &silent_since, st, &following);
		if (rc)
			die(rc, "%s (for %.0f s: stopped following)", co_ctx_error(ctx),
			    MASTER_SILENCE_SECONDS);
		sleep_seconds(following ? POLL_SECONDS : 0);
		if (stdout_reader_gone())	/* as tail -f: no line need come first */
			exit(CO_EIO);
		if (*st)
			find_sources(ctx, *st, srcs, false);
	}
	if (rc)
		die_ctx(ctx, rc);	/* the transfer engine itself failed */
	for (size_t i = 0; i < srcs->n; i++)
		line_buffer_flush(&srcs->v[i]->lines, print_line, srcs->v[i]);
	if (srcs->driver)
		line_buffer_flush(&srcs->driver->lines, print_line, srcs->driver);
}

/* ---- bundles ------------------------------------------------------------ */

struct bundle {
	struct co_ctx *ctx;
	struct co_archive_writer *w;
	const char *app_id;
	const char *from;	/* where the members being added come from */
	json_t *manifest;	/* {"files": [...], "missing": [...]} */
	const char *output;
	int scratch;		/* each worker log, before it goes in */
	uint64_t left;		/* of extract_max_size, for the worker logs */
};

/* A failure to write the archive ends the run; its temporary file goes. */
static void bundle_check(struct bundle *b, int rc)
{
	if (rc)
		die_ctx(b->ctx, rc);
}

static void bundle_note(void *arg, const char *path, int64_t size)
{
	struct bundle *b = arg;
	const char *name = path + strlen(b->app_id) + 1;	/* "APP/" */

	json_array_append_new(json_object_get(b->manifest, "files"),
			      json_pack("{s:s, s:I, s:s}", "name", name, "bytes",
					(json_int_t)size, "from", b->from));
}

static void bundle_add(struct bundle *b, const char *name, const char *data, size_t len,
		       const char *from)
{
	char *path = xasprintf("%s/%s", b->app_id, name);

	bundle_check(b, co_archive_writer_add(b->ctx, b->w, path, data, len));
	b->from = from;
	bundle_note(b, path, (int64_t)len);
	free(path);
}

/*
 * One log into the scratch file, then whole into the archive: a worker
 * that fails half-way, or a log larger than what is left of the bundle's
 * allowance, costs that log only, named in the manifest.
 */
static void bundle_log(struct bundle *b, struct source *s, struct sources *srcs)
{
	char *path = s->id.executor >= 0
		? xasprintf("%s/executors/%s/%d/%s", b->app_id, s->worker_id, s->id.executor,
			    s->id.stream)
		: xasprintf("%s/driver/%s/%s", b->app_id, b->app_id, s->id.stream);
	char *first_url;
	int64_t size;
	int rc;

	if (ftruncate(b->scratch, 0) != 0 || lseek(b->scratch, 0, SEEK_SET) != 0)
		die(CO_EIO, "%s: temporary file: %s", b->output, strerror(errno));
	first_url = NULL;
	rc = co_archive_writer_check_name(b->ctx, b->w, path);
	if (rc == CO_OK)
		rc = co_worker_log_copy(b->ctx, &s->id, b->scratch, &b->left, &first_url,
					&size);
	if (rc == CO_EIO)	/* the scratch file, on the archive's disk */
		die(rc, "%s: %s", b->output, co_ctx_error(b->ctx));
	if (rc != CO_OK) {
		note_missing(srcs, s->label, co_ctx_error(b->ctx));
	} else {
		if (lseek(b->scratch, 0, SEEK_SET) != 0)
			die(CO_EIO, "%s: temporary file: %s", b->output, strerror(errno));
		bundle_check(b, co_archive_writer_add_fd(b->ctx, b->w, path, b->scratch, &size));
		b->from = first_url;
		bundle_note(b, path, size);
	}
	free(first_url);
	free(path);
}

/*
 * The driver's log as it is now, when there is one. The driver-log dir is
 * everyone's: the file is copied, at most the size it had when it was
 * opened, into the scratch file, and counted with the workers' logs
 * against the bundle's allowance; a larger one is left out, named.
 */
static void bundle_driver_log(struct bundle *b, struct sources *srcs)
{
	char *path = xasprintf("%s/driver.log", b->app_id), buf[65536];
	struct stat sb;
	off_t pos = 0;
	int64_t size;
	int fd;

	read_driver_log(srcs);	/* opens it, and reads nothing: the tail is its end */
	if (!srcs->driver_log || (fd = co_driver_log_reader_fd(srcs->driver_log)) < 0)
		goto out;
	if (fstat(fd, &sb) != 0) {
		note_missing(srcs, "driver log", strerror(errno));
		goto out;
	}
	if ((uint64_t)sb.st_size > b->left) {
		char why[160];

		snprintf(why, sizeof(why), "the file's %jd bytes are more than the %" PRIu64
			 " left of the limit (extract_max_size)", (intmax_t)sb.st_size, b->left);
		note_missing(srcs, "driver log", why);
		goto out;
	}
	if (ftruncate(b->scratch, 0) != 0 || lseek(b->scratch, 0, SEEK_SET) != 0)
		die(CO_EIO, "%s: temporary file: %s", b->output, strerror(errno));
	while (pos < sb.st_size) {
		size_t want = sb.st_size - pos < (off_t)sizeof(buf) ? (size_t)(sb.st_size - pos)
			      : sizeof(buf);
		ssize_t got = pread(fd, buf, want, pos);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			note_missing(srcs, "driver log", strerror(errno));
			goto out;
		}
		if (got == 0)	/* truncated meanwhile: what is there is taken */
			break;
		if (co_write_all(b->scratch, buf, (size_t)got) != 0)
			die(CO_EIO, "%s: temporary file: %s", b->output, strerror(errno));
		pos += got;
	}
	if (lseek(b->scratch, 0, SEEK_SET) != 0)
		die(CO_EIO, "%s: temporary file: %s", b->output, strerror(errno));
	bundle_check(b, co_archive_writer_add_fd(b->ctx, b->w, path, b->scratch, &size));
	b->left -= (uint64_t)size < b->left ? (uint64_t)size : b->left;
	b->from = "driver-log dir";
	bundle_note(b, path, size);
out:
	free(path);
}

/* The event log from the events dir if this machine sees it, else the history server's. */
static void bundle_event_log(struct bundle *b, struct sources *srcs)
{
	char *prefix = xasprintf("%s/eventlog/", b->app_id), *why = NULL;
	size_t copied;

	b->from = co_config_get(b->ctx, CO_KEY_EVENTS_DIR);
	bundle_check(b, co_eventlog_archive_app(b->ctx, b->app_id, b->w, prefix, bundle_note, b,
						&copied));
	if (!copied) {
		b->from = co_config_get(b->ctx, CO_KEY_HISTORY_URL);
		bundle_check(b, co_history_eventlog_archive(b->ctx, b->app_id, b->w, prefix,
							    bundle_note, b, &why));
	}
	if (why)
		note_missing(srcs, "event log", why);
	free(why);
	free(prefix);
}

static void bundle_history_json(struct bundle *b, const struct co_master_state *st,
				struct sources *srcs)
{
	double wait = co_history_patience(co_master_state_app(st, b->app_id));
	struct co_history_app *app;

	if (co_history_app_fetch(b->ctx, b->app_id, wait, &app) != CO_OK) {
		note_missing(srcs, "application.json", co_ctx_error(b->ctx));
		return;
	}
	bundle_add(b, "application.json", app->json, app->json_len, app->origin);
	co_history_app_free(app);
}

static void write_bundle(struct co_ctx *ctx, const struct co_master_state *st,
			 struct sources *srcs)
{
	const struct control *ctl = srcs->ctl;
	const char *app_id = srcs->app_id;
	struct atomic_file *file;
	struct bundle b = { .ctx = ctx, .app_id = app_id, .output = ctl->output };
	char *manifest;

	/*
	 * Written beside the target and renamed: never half an archive at its
	 * name. The owner's only: the driver's log in it may hold secrets.
	 */
	file = atomic_file_open_or_die(ctl->output, 0600);

	bundle_check(&b, co_archive_writer_new(ctx, ctl->output, atomic_file_fd(file), &b.w));
	bundle_check(&b, co_parse_size(ctx, "extract_max_size",
				       co_config_get(ctx, CO_KEY_EXTRACT_MAX_SIZE), &b.left));
	if ((b.scratch = atomic_file_scratch(file)) < 0)
		die(CO_ECANTCREAT, "%s: temporary file: %s", ctl->output, strerror(errno));
	b.manifest = json_pack("{s:s, s:[], s:[]}", "application", app_id, "files", "missing");
	if (!b.manifest)
		die(CO_ESOFTWARE, "out of memory");
	for (size_t i = 0; i < srcs->n; i++)
		bundle_log(&b, srcs->v[i], srcs);
	bundle_driver_log(&b, srcs);
	if (!ctl->driver_id) {
		/* the document first: it waits for the history server to know the application */
		bundle_history_json(&b, st, srcs);
		bundle_event_log(&b, srcs);
	}
	for (size_t i = 0; i < srcs->n_missing; i++)
		json_array_append_new(json_object_get(b.manifest, "missing"),
				      json_text_lossy(srcs->missing[i]));
	manifest = json_dumps(b.manifest, JSON_INDENT(2));
	if (!manifest)
		die(CO_ESOFTWARE, "out of memory");
	bundle_add(&b, "MANIFEST.json", manifest, strlen(manifest), NULL);
	bundle_check(&b, co_archive_writer_close(ctx, b.w));
	close(b.scratch);
	atomic_file_commit_or_die(file, ctl->output);
	co_archive_writer_free(b.w);
	free(manifest);
	json_decref(b.manifest);
}

static void source_free(struct source *s)
{
	if (!s)
		return;
	free(s->worker_id);
	free(s->webui);
	free(s->where);
	free(s->label);
	free(s->prefix);
	line_buffer_clear(&s->lines);
	free(s);
}

static void sources_free(struct sources *srcs)
{
	for (size_t i = 0; i < srcs->n; i++)
		source_free(srcs->v[i]);
	source_free(srcs->driver);
	co_driver_log_reader_free(srcs->driver_log);
	for (size_t i = 0; i < srcs->n_missing; i++)
		free(srcs->missing[i]);
	free(srcs->v);
	free(srcs->slots);
	free(srcs->missing);
	co_log_reader_free(srcs->reader);
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct co_ctx *ctx = tool_init("sc-logs");
	struct sources srcs = { .ctx = ctx, .ctl = &ctl };
	struct co_master_state *st = NULL;
	char *app_id;
	int rc;

	parse_options(argc, argv, ctx, &ctl);
	if ((rc = co_master_state_fetch(ctx, &st)))
		die_ctx(ctx, rc);
	master_unreadable_warn(st);
	/* Between two masters of a failover group: not an answer yet. */
	if (co_master_count(ctx) > 1 && strcmp(st->status, "ALIVE") != 0) {
		char *msg = xasprintf("no master is ALIVE (%s: %s)",
				      co_master_ui(ctx, co_master_active(ctx)), st->status);

		co_master_state_free(st);
		die(CO_ETEMPFAIL, "%s", msg);
	}
	srcs.app_id = app_id = xstrdup(ctl.driver_id ? ctl.driver_id : resolve_app(&ctl, st));
	/*
	 * It goes into each worker's URL and names the bundle's members: an
	 * id the master gave (--name) is one of Spark's, or nothing is asked.
	 * A --driver id was checked with the options.
	 */
	if (!co_driver_log_id_valid(app_id))
		die(CO_EPROTOCOL, "'%s': not a Spark application id", app_id);
	if (!ctl.output && !(srcs.reader = co_log_reader_new(ctx, MAX_PARALLEL, ctl.tail)))
		die(CO_ESOFTWARE, "out of memory");
	find_sources(ctx, st, &srcs, true);
	add_driver_log(&srcs);
	if (srcs.n == 0 && srcs.n_missing == 0 && !ctl.follow)
		note_missing(&srcs, app_id,
			     "no worker has logs of it (they may have been cleaned up)");
	if (ctl.output)
		write_bundle(ctx, st, &srcs);
	else
		stream_logs(ctx, &st, &srcs);
	if (srcs.n == 0 && srcs.n_missing == 0)	/* followed, and none ever appeared */
		note_missing(&srcs, app_id, "no worker had logs of it");
	for (size_t i = 0; i < srcs.n_missing; i++)
		warnmsg("not collected: %s", srcs.missing[i]);
	rc = srcs.n_missing ? CO_EFAIL : CO_OK;
	sources_free(&srcs);
	free(ctl.executors);
	free(app_id);
	co_master_state_free(st);
	co_ctx_free(ctx);
	return rc;
}
