/* SPDX-License-Identifier: MIT */
/*
 * sc-logs: collect a Spark application's logs from every worker: each
 * executor's stdout and stderr, or a cluster-mode driver's, read through
 * the workers' /log/ endpoint in bounded pieces, all workers at once.
 * Streams them with a prefix, follows them, or bundles them with the event
 * log into one archive.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools-common.h"

/*
 * Bytes asked for per request. The worker's cost is mostly per byte, but
 * each request adds to it, so pieces are large; a piece with the header
 * line in front still fits a 1 MiB reply buffer.
 */
#define CHUNK ((1 << 20) - 4096)
#define MAX_PARALLEL 8		/* requests in flight, over all workers */
#define TAIL_MAX (16 << 20)	/* --tail looks no further back than this */

enum stream_choice { STDERR_ONLY, STDOUT_ONLY, BOTH };

struct control {
	const char *app_id;
	const char *name_glob;
	const char *driver_id;
	enum stream_choice streams;
	int *executors;		/* --executor filter */
	size_t n_executors;
	bool no_prefix;
	bool json;
	bool follow;
	long tail;		/* < 0: everything */
	const char *output;	/* -o bundle */
	double poll_seconds;
};

/* One log file on one worker, read piece by piece. */
struct source {
	char *worker_id;
	char *webui;
	char *where;		/* host:port of the worker, for prefixes */
	int executor;		/* -1 for a driver */
	const char *stream;
	int64_t offset;		/* next byte to ask for */
	int64_t window;		/* --tail: bytes asked for from the end */
	bool busy;		/* a request is in flight */
	bool done;		/* read to the end (for now, when following) */
	bool failed;
	char *partial;		/* an unfinished last line */
	size_t partial_len;
	char *prefix;		/* what goes before each of its lines */
	size_t prefix_len;
};

struct sources {
	struct source *v;
	size_t n;
	char **missing;		/* what could not be collected, and why */
	size_t n_missing;
};

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
	       "  -o, --output=FILE      write one archive instead (.tar.gz, .tar.zst, .tar\n"
	       "                         or .zip): every log, the event log, the application's\n"
	       "                         JSON from the history server and a MANIFEST.json\n"
	       "  -J, --json             one JSON object per log line\n",
	       program_name, program_name, program_name);
	tool_common_usage(stdout);
	printf("\nExit status: 0 every log collected; 1 some log could not be collected (named\n"
	       "on stderr); 64 usage; 69 master unreachable; 73 cannot create the archive;\n"
	       "76 malformed reply; see clusterops(7).\n");
	exit(CO_OK);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a > b && strcmp(s + a - b, suffix) == 0;
}

static bool archive_suffix_known(const char *path)
{
	return has_suffix(path, ".tar.gz") || has_suffix(path, ".tar.zst") ||
	       has_suffix(path, ".tar") || has_suffix(path, ".zip");
}

static void parse_options(int argc, char **argv, struct co_ctx *ctx, struct control *ctl)
{
	enum { OPT_STDOUT = OPT_TOOL_FIRST, OPT_BOTH, OPT_NO_PREFIX };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'N' },
		{ "driver", required_argument, NULL, 'd' },
		{ "stdout", no_argument, NULL, OPT_STDOUT },
		{ "both", no_argument, NULL, OPT_BOTH },
		{ "executor", required_argument, NULL, 'e' },
		{ "tail", required_argument, NULL, 't' },
		{ "follow", no_argument, NULL, 'f' },
		{ "no-prefix", no_argument, NULL, OPT_NO_PREFIX },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'J' },
		CO_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int c;

	ctl->tail = -1;
	ctl->poll_seconds = 1.0;
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
			ctl->executors = realloc(ctl->executors,
						 (ctl->n_executors + 1) * sizeof(*ctl->executors));
			if (!ctl->executors)
				die(CO_ESOFTWARE, "out of memory");
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
	if (ctl->output && !archive_suffix_known(ctl->output))
		usage_error("%s: the name must end in .tar.gz, .tar.zst, .tar or .zip", ctl->output);
}

/* "WHAT: WHY", for the list of what could not be collected. */
static void note_missing(struct sources *srcs, const char *what, const char *why)
{
	char *msg;

	if (asprintf(&msg, "%s: %s", what, why) < 0)
		die(CO_ESOFTWARE, "out of memory");
	srcs->missing = realloc(srcs->missing, (srcs->n_missing + 1) * sizeof(*srcs->missing));
	if (!srcs->missing)
		die(CO_ESOFTWARE, "out of memory");
	srcs->missing[srcs->n_missing++] = msg;
}

static bool have_source(const struct sources *srcs, const char *worker, int executor,
			const char *stream)
{
	for (size_t i = 0; i < srcs->n; i++)
		if (srcs->v[i].executor == executor && strcmp(srcs->v[i].worker_id, worker) == 0 &&
		    strcmp(srcs->v[i].stream, stream) == 0)
			return true;
	return false;
}

static void add_source(struct sources *srcs, const struct co_spark_worker *w, int executor,
		       const char *stream)
{
	struct source *s;

	if (have_source(srcs, w->id, executor, stream))
		return;
	srcs->v = realloc(srcs->v, (srcs->n + 1) * sizeof(*srcs->v));
	if (!srcs->v)
		die(CO_ESOFTWARE, "out of memory");
	s = &srcs->v[srcs->n++];
	memset(s, 0, sizeof(*s));
	s->worker_id = xstrdup(w->id);
	s->webui = xstrdup(w->webui);
	if (asprintf(&s->where, "%s:%d", w->host ? w->host : "?", w->port) < 0)
		die(CO_ESOFTWARE, "out of memory");
	s->executor = executor;
	s->stream = stream;
}

static void add_streams(struct sources *srcs, const struct control *ctl,
			const struct co_spark_worker *w, int executor)
{
	if (ctl->streams != STDOUT_ONLY)
		add_source(srcs, w, executor, "stderr");
	if (ctl->streams != STDERR_ONLY)
		add_source(srcs, w, executor, "stdout");
}

static bool executor_wanted(const struct control *ctl, int id)
{
	if (ctl->n_executors == 0)
		return true;
	for (size_t i = 0; i < ctl->n_executors; i++)
		if (ctl->executors[i] == id)
			return true;
	return false;
}

/* Which application: by id, or the one whose name matches. */
static const char *resolve_app(const struct control *ctl, const struct co_master_state *st)
{
	const struct co_spark_app *found = NULL;
	size_t matches = 0;

	if (ctl->app_id) {
		if (!co_master_state_app(st, ctl->app_id))
			die(CO_EFAIL, "%s: the master does not know this application", ctl->app_id);
		return ctl->app_id;
	}
	/* Running ones first: the master lists them before completed ones. */
	for (size_t i = 0; i < st->n_apps; i++) {
		const struct co_spark_app *a = &st->apps[i];

		if (!a->name || fnmatch(ctl->name_glob, a->name, 0) != 0)
			continue;
		if (found && found->active && !a->active)
			break;
		found = found ? found : a;
		matches++;
	}
	if (!found)
		die(CO_EFAIL, "no application is named '%s'", ctl->name_glob);
	if (matches > 1) {
		warnmsg("%zu applications match '%s'; give an id:", matches, ctl->name_glob);
		for (size_t i = 0; i < st->n_apps; i++)
			if (st->apps[i].name && fnmatch(ctl->name_glob, st->apps[i].name, 0) == 0)
				fprintf(stderr, "  %s\t%s\t%s\n", st->apps[i].id, st->apps[i].name,
					st->apps[i].state);
		exit(CO_EFAIL);
	}
	return found->id;
}

/*
 * Ask every worker which executors of the application it runs or ran. A
 * worker that does not answer is named as missing; the others still count.
 */
static void find_sources(struct co_ctx *ctx, const struct control *ctl,
			 const struct co_master_state *st, const char *app_id,
			 struct sources *srcs, bool report_missing)
{
	if (ctl->driver_id) {
		const struct co_spark_driver *d = co_master_state_driver(st, ctl->driver_id);

		if (!d)
			die(CO_EFAIL, "%s: the master does not know this driver", ctl->driver_id);
		for (size_t i = 0; d->worker && i < st->n_workers; i++)
			if (strcmp(st->workers[i].id, d->worker) == 0)
				add_streams(srcs, ctl, &st->workers[i], -1);
		if (srcs->n == 0 && report_missing)
			note_missing(srcs, ctl->driver_id,
				     d->worker ? "its worker is gone" : "it never ran on a worker");
		return;
	}
	const struct co_spark_app *app = co_master_state_app(st, app_id);
	int64_t app_start_ms = app ? app->start_ms : 0;

	for (size_t i = 0; i < st->n_workers; i++) {
		const struct co_spark_worker *w = &st->workers[i];
		struct co_worker_state *ws;

		/*
		 * A worker that was dead when the application started never ran
		 * it. Heartbeats come every 15 s and a worker is declared dead
		 * after 60 s without one (Spark's defaults): only a heartbeat a
		 * full minute before the start proves it.
		 */
		if (!w->webui || (w->state && strcmp(w->state, "DEAD") == 0 &&
				  w->last_heartbeat_ms < app_start_ms - 60000))
			continue;
		if (co_worker_state_fetch(ctx, w->webui, &ws) != CO_OK) {
			if (report_missing)
				note_missing(srcs, w->id, co_ctx_error(ctx));
			continue;
		}
		/*
		 * A worker restarted on the same port answers for the dead one's
		 * address: its executors are its own, and its own entry adds them.
		 */
		if (strcmp(ws->id, w->id) != 0) {
			if (report_missing && !(w->state && strcmp(w->state, "DEAD") == 0))
				note_missing(srcs, w->id, "its address now belongs to another worker");
			co_worker_state_free(ws);
			continue;
		}
		for (size_t e = 0; e < ws->n_executors; e++)
			if (ws->executors[e].app_id && strcmp(ws->executors[e].app_id, app_id) == 0 &&
			    executor_wanted(ctl, ws->executors[e].id))
				add_streams(srcs, ctl, w, ws->executors[e].id);
		co_worker_state_free(ws);
	}
}

static char *source_url(const struct control *ctl, const char *app_id, const struct source *s,
			int64_t offset, int64_t length)
{
	char *url = co_worker_log_url(s->webui, app_id, s->executor, ctl->driver_id,
				      s->stream, offset, length);

	if (!url)
		die(CO_ESOFTWARE, "out of memory");
	return url;
}

static void source_label(const struct source *s, char *buf, size_t len)
{
	if (s->executor >= 0)
		snprintf(buf, len, "executor %d %s on %s", s->executor, s->stream, s->where);
	else
		snprintf(buf, len, "driver %s on %s", s->stream, s->where);
}

/* ---- streaming to stdout --------------------------------------------- */

/*
 * JSON must be valid UTF-8: a byte that does not start a valid sequence
 * (strict: no overlong form, no surrogate) becomes U+FFFD, as in
 * kcat-lite -J's "key" and "payload". Only memory can fail here.
 */
static json_t *json_text(const char *text, size_t len)
{
	size_t n;
	char *clean = co_utf8_replace_invalid(text, len, &n);
	json_t *j;

	if (!clean)
		die(CO_ESOFTWARE, "out of memory");
	j = json_stringn(clean, n);
	free(clean);
	if (!j)
		die(CO_ESOFTWARE, "out of memory");
	return j;
}

/* The prefix is the same for every line of a source: made once. */
static const char *line_prefix(const struct control *ctl, enum out_mode mode, struct source *s)
{
	char exec[16];
	int n = 0;

	if (s->prefix || ctl->no_prefix)
		return s->prefix;
	snprintf(exec, sizeof(exec), "%d", s->executor);
	if (mode == OUT_TSV)
		n = asprintf(&s->prefix, "%s\t%s\t%s\t", s->where,
			     s->executor >= 0 ? exec : "driver", s->stream);
	else if (s->executor >= 0)
		n = asprintf(&s->prefix, "[%s exec %s %s] ", s->where, exec, s->stream);
	else
		n = asprintf(&s->prefix, "[%s driver %s] ", s->where, s->stream);
	if (n < 0)
		die(CO_ESOFTWARE, "out of memory");
	s->prefix_len = (size_t)n;
	return s->prefix;
}

static void print_line(const struct control *ctl, enum out_mode mode, struct source *s,
		       const char *line, size_t len)
{
	char exec[16];

	if (mode == OUT_JSON) {
		snprintf(exec, sizeof(exec), "%d", s->executor);
		json_line(json_pack("{s:o, s:s, s:s, s:o}", "worker",
				    json_text(s->where, strlen(s->where)),
				    "executor", s->executor >= 0 ? exec : "driver",
				    "stream", s->stream, "line", json_text(line, len)));
		return;
	}
	if (line_prefix(ctl, mode, s))
		fwrite(s->prefix, 1, s->prefix_len, stdout);
	fwrite(line, 1, len, stdout);
	putchar('\n');
}

/* Add to the unfinished last line of a source. */
static void append_partial(struct source *s, const char *data, size_t n)
{
	char *p = realloc(s->partial, s->partial_len + n + 1);

	if (!p)
		die(CO_ESOFTWARE, "out of memory");
	memcpy(p + s->partial_len, data, n);
	s->partial = p;
	s->partial_len += n;
}

/* Print the complete lines of data; keep an unfinished last line for later. */
static void emit(const struct control *ctl, enum out_mode mode, struct source *s,
		 const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (!nl) {	/* keep it; lines are short, but cap the carry */
			append_partial(s, data, n);
			if (s->partial_len > CHUNK) {
				print_line(ctl, mode, s, s->partial, s->partial_len);
				s->partial_len = 0;
			}
			return;
		}
		if (s->partial_len) {
			append_partial(s, data, n);
			print_line(ctl, mode, s, s->partial, s->partial_len);
			s->partial_len = 0;
		} else {
			print_line(ctl, mode, s, data, n);
		}
		data += n + 1;
		len -= n + 1;
	}
}

static void flush_partial(const struct control *ctl, enum out_mode mode, struct source *s)
{
	if (s->partial_len)
		print_line(ctl, mode, s, s->partial, s->partial_len);
	s->partial_len = 0;
}

/* --tail: print the last N lines of a piece that ends at the file's end. */
static void emit_tail(const struct control *ctl, enum out_mode mode, struct source *s,
		      const struct co_log_chunk *c)
{
	const char *p = c->data + c->len;
	long lines = 0;

	if (p > c->data && p[-1] == '\n')
		p--;
	while (p > c->data && lines < ctl->tail) {
		if (p[-1] == '\n')
			lines++;
		if (lines < ctl->tail)
			p--;
	}
	if (ctl->tail > 0)
		emit(ctl, mode, s, p, (size_t)(c->data + c->len - p));
}

/* Did this piece hold N lines, or reach the start? Otherwise look further back. */
static bool tail_enough(const struct control *ctl, const struct co_log_chunk *c)
{
	long lines = 0;

	if (c->start == 0 || c->end - c->start >= TAIL_MAX)
		return true;
	for (size_t i = 0; i < c->len; i++)
		lines += c->data[i] == '\n';
	return lines > ctl->tail;
}

/*
 * The worker's header is not trusted further than its bytes: a piece that
 * is not the end of the file must move the offset forward and carry about
 * as many bytes as it claims (the worker's text decoder may change a cut
 * character by a few bytes: PIECE_SLOP). Otherwise the log ends with an
 * error, rather than a loop that never ends or filler the worker asked for.
 */
#define PIECE_SLOP 8

static bool piece_advances(int64_t offset, const struct co_log_chunk *c)
{
	if (c->end < offset)
		return false;
	if (c->end == offset)
		return c->end == c->total;	/* nothing new: only at the end */
	return (int64_t)c->len + PIECE_SLOP >= c->end - c->start;
}

static const char *piece_stalled(const struct co_log_chunk *c)
{
	static char why[160];

	snprintf(why, sizeof(why), "the worker's reply does not advance or lacks its bytes "
		 "(bytes %" PRId64 "-%" PRId64 " of %" PRId64 ", %zu sent)",
		 c->start, c->end, c->total, c->len);
	return why;
}

static void request(struct co_http_multi *m, const struct control *ctl, const char *app_id,
		    struct source *s)
{
	char *url = ctl->tail >= 0 && s->offset == 0 && !s->done
		? source_url(ctl, app_id, s, -1, s->window)
		: source_url(ctl, app_id, s, s->offset, CHUNK);

	if (co_http_multi_get(m, url, s))
		die(CO_ESOFTWARE, "cannot queue a transfer");
	s->busy = true;
	free(url);
}

/* Take one reply in; returns false when the source has nothing more to give now. */
static void take_reply(struct co_ctx *ctx, struct co_http_multi *m, const struct control *ctl,
		       enum out_mode mode, const char *app_id, struct source *s,
		       const struct co_http_response *resp, int status, struct sources *srcs)
{
	struct co_log_chunk c;
	char label[256];

	s->busy = false;
	source_label(s, label, sizeof(label));
	if (status == CO_OK)
		status = co_worker_log_parse(ctx, resp->body, resp->len, label, &c);
	if (status != CO_OK || c.error) {
		s->failed = true;
		s->done = true;
		note_missing(srcs, label,
			     status ? co_ctx_error(ctx) : "the worker no longer has this log");
		return;
	}
	if (ctl->tail >= 0 && s->offset == 0 && !s->done) {
		if (!tail_enough(ctl, &c)) {
			s->window *= 2;
			request(m, ctl, app_id, s);
			return;
		}
		emit_tail(ctl, mode, s, &c);
		s->offset = c.end;
		s->done = true;		/* the start of following, if asked */
		return;
	}
	if (!piece_advances(s->offset, &c)) {
		s->failed = true;
		s->done = true;
		note_missing(srcs, label, piece_stalled(&c));
		return;
	}
	emit(ctl, mode, s, c.data, c.len);
	s->offset = c.end;
	if (c.end < c.total)
		request(m, ctl, app_id, s);
	else
		s->done = true;
}

#define MASTER_SILENCE_SECONDS 60.0

static bool app_active(struct co_ctx *ctx, const struct control *ctl, const char *app_id,
		       struct co_master_state **st)
{
	static double silent_since;
	int rc;

	co_master_state_free(*st);
	*st = NULL;
	rc = co_master_state_fetch(ctx, st);
	if (rc != CO_OK) {
		/* A restart of the master is survived; a master gone for good is not. */
		if (!silent_since)
			silent_since = monotonic_now();
		else if (monotonic_now() - silent_since > MASTER_SILENCE_SECONDS)
			die(rc, "%s (for %.0f s: stopped following)", co_ctx_error(ctx),
			    MASTER_SILENCE_SECONDS);
		return true;
	}
	silent_since = 0;
	if (ctl->driver_id) {
		const struct co_spark_driver *d = co_master_state_driver(*st, ctl->driver_id);

		return d && !co_spark_state_is_final(d->state);
	}
	const struct co_spark_app *a = co_master_state_app(*st, app_id);

	return a && a->active;
}

static void stream_logs(struct co_ctx *ctx, const struct control *ctl, const char *app_id,
			struct co_master_state **st, struct sources *srcs)
{
	enum out_mode mode = out_mode_choose(ctl->json);
	struct co_http_multi *m = co_http_multi_new(ctx, MAX_PARALLEL);
	bool following = ctl->follow;

	if (!m)
		die_ctx(ctx, CO_ESOFTWARE);
	/* Lines from a terminal user's point of view: flush each. */
	if (ctl->follow || mode == OUT_TEXT)
		setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		struct co_http_response resp;
		void *tag;
		int status, got;
		bool ended;

		for (size_t i = 0; i < srcs->n; i++) {
			if (!srcs->v[i].window)
				srcs->v[i].window = 64 * 1024;
			if (!srcs->v[i].busy && !srcs->v[i].done)
				request(m, ctl, app_id, &srcs->v[i]);
		}
		while ((got = co_http_multi_next(m, &tag, &resp, &status)) == 1) {
			take_reply(ctx, m, ctl, mode, app_id, tag, &resp, status, srcs);
			co_http_response_clear(&resp);
		}
		if (got != 0)
			die_ctx(ctx, got);	/* the transfer engine itself failed */
		if (!following)
			break;
		/* Read once more after the application ended, then stop. */
		ended = !app_active(ctx, ctl, app_id, st);
		sleep_seconds(ended ? 0 : ctl->poll_seconds);
		if (*st)
			find_sources(ctx, ctl, *st, app_id, srcs, false);
		for (size_t i = 0; i < srcs->n; i++)
			if (!srcs->v[i].failed)
				srcs->v[i].done = false;
		if (ended)
			following = false;
	}
	for (size_t i = 0; i < srcs->n; i++)
		flush_partial(ctl, mode, &srcs->v[i]);
	co_http_multi_free(m);
}

/* ---- bundles ------------------------------------------------------------ */

struct bundle {
	struct archive *a;
	char *tmp_path;
	const char *app_id;
	json_t *manifest;	/* {"files": [...], "missing": [...]} */
};

/*
 * The temporary file of the bundle being written: removed by whatever ends
 * the run before the rename, an exit on any error or a signal.
 */
static char *volatile bundle_tmp;

static void bundle_tmp_remove(void)
{
	if (bundle_tmp)
		unlink(bundle_tmp);
}

static void bundle_tmp_on_signal(int sig)
{
	bundle_tmp_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void bundle_tmp_guard(char *path)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	struct sigaction sa, old;

	bundle_tmp = path;
	atexit(bundle_tmp_remove);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bundle_tmp_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

static void bundle_fail(struct bundle *b, int status, const char *what)
{
	const char *err = b->a ? archive_error_string(b->a) : NULL;

	if (b->tmp_path)
		unlink(b->tmp_path);
	die(status, "%s: %s%s%s", b->tmp_path ? b->tmp_path : "archive", what,
	    err ? ": " : "", err ? err : "");
}

static void bundle_open(struct bundle *b, const char *path)
{
	int fd;

	b->a = archive_write_new();
	if (!b->a)
		die(CO_ESOFTWARE, "out of memory");
	if (has_suffix(path, ".zip")) {
		archive_write_set_format_zip(b->a);
	} else {
		archive_write_set_format_pax_restricted(b->a);
		if (has_suffix(path, ".tar.gz"))
			archive_write_add_filter_gzip(b->a);
		else if (has_suffix(path, ".tar.zst") &&
			 archive_write_add_filter_zstd(b->a) != ARCHIVE_OK)
			die(CO_ESOFTWARE, "zstd: %s", archive_error_string(b->a));
	}
	/* Written beside the target and renamed: never half an archive at PATH. */
	if (asprintf(&b->tmp_path, "%s.tmp.XXXXXX", path) < 0)
		die(CO_ESOFTWARE, "out of memory");
	fd = mkstemp(b->tmp_path);
	if (fd < 0) {
		int err = errno;

		free(b->tmp_path);
		b->tmp_path = NULL;
		die(err == EACCES ? CO_ENOPERM : CO_ECANTCREAT, "%s: %s", path, strerror(err));
	}
	bundle_tmp_guard(b->tmp_path);
	{
		mode_t mask = umask(0);

		umask(mask);
		fchmod(fd, 0666 & ~mask);	/* as if created by open(2), not mkstemp */
	}
	if (archive_write_open_fd(b->a, fd) != ARCHIVE_OK)
		bundle_fail(b, CO_ECANTCREAT, "cannot write");
	b->manifest = json_pack("{s:s, s:[], s:[]}", "application", b->app_id, "files", "missing");
	if (!b->manifest)
		die(CO_ESOFTWARE, "out of memory");
}

static void bundle_header(struct bundle *b, const char *name, int64_t size)
{
	struct archive_entry *e = archive_entry_new();
	char *path;

	if (!e || asprintf(&path, "%s/%s", b->app_id, name) < 0)
		die(CO_ESOFTWARE, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(b->a, e) != ARCHIVE_OK)
		bundle_fail(b, CO_EIO, "cannot write");
	archive_entry_free(e);
	free(path);
}

static void bundle_data(struct bundle *b, const void *data, size_t len)
{
	if (len && archive_write_data(b->a, data, len) < 0)
		bundle_fail(b, CO_EIO, "cannot write");
}

static void bundle_note(struct bundle *b, const char *name, int64_t size, const char *from)
{
	json_array_append_new(json_object_get(b->manifest, "files"),
			      json_pack("{s:s, s:I, s:s}", "name", name, "bytes",
					(json_int_t)size, "from", from));
}

static void bundle_file_from_memory(struct bundle *b, const char *name, const char *data,
				    size_t len, const char *from)
{
	bundle_header(b, name, (int64_t)len);
	bundle_data(b, data, len);
	bundle_note(b, name, (int64_t)len, from);
}

/*
 * One log, piece by piece, straight into the archive. The entry's size is
 * the file's size at the first piece: what the log grows by later is left
 * out, so that the header stays true.
 */
static void bundle_log(struct co_ctx *ctx, struct bundle *b, const struct control *ctl,
		       struct source *s, struct sources *srcs)
{
	char name[512], label[256];
	int64_t total = -1, written = 0, offset = 0, pieces = 0;
	char *first_url = NULL;

	source_label(s, label, sizeof(label));
	if (s->executor >= 0)
		snprintf(name, sizeof(name), "executors/%s/%d/%s", s->worker_id, s->executor,
			 s->stream);
	else
		snprintf(name, sizeof(name), "driver/%s/%s", ctl->driver_id, s->stream);
	for (;;) {
		char *url = source_url(ctl, b->app_id, s, offset, CHUNK);
		struct co_http_response resp;
		struct co_log_chunk c;
		int rc = co_http_get(ctx, url, &resp);

		if (rc == CO_OK)
			rc = co_worker_log_parse(ctx, resp.body, resp.len, label, &c);
		if (rc != CO_OK || c.error) {
			note_missing(srcs, label,
				     rc ? co_ctx_error(ctx) : "the worker no longer has this log");
			co_http_response_clear(&resp);
			free(url);
			if (total >= 0)	/* the header is out: keep the entry whole */
				bundle_fail(b, CO_EFAIL, "a log vanished while it was being written");
			free(first_url);
			return;
		}
		if (!piece_advances(offset, &c) || (total >= 0 && c.end > total + PIECE_SLOP)) {
			note_missing(srcs, label, piece_stalled(&c));
			co_http_response_clear(&resp);
			free(url);
			if (total >= 0) {	/* the header is out: keep the entry whole */
				char why[512];

				snprintf(why, sizeof(why), "%s: %s", label, piece_stalled(&c));
				bundle_fail(b, CO_EPROTOCOL, why);
			}
			free(first_url);
			return;
		}
		if (total < 0) {
			total = c.total;
			first_url = url;
			url = NULL;
			bundle_header(b, name, total);
		}
		if ((int64_t)c.len > total - written)
			c.len = (size_t)(total - written);
		bundle_data(b, c.data, c.len);
		written += (int64_t)c.len;
		pieces++;
		offset = c.end;
		co_http_response_clear(&resp);
		free(url);
		if (offset >= total || c.end == c.start)
			break;
	}
	/*
	 * Re-encoded text came back a little short: keep the header true with
	 * at most PIECE_SLOP bytes of filler a piece; more is a worker that
	 * claimed bytes it never sent.
	 */
	if (total - written > pieces * PIECE_SLOP) {
		note_missing(srcs, label, "the worker sent fewer bytes than it announced");
		bundle_fail(b, CO_EPROTOCOL, "a worker's log is shorter than announced");
	}
	for (; written < total; written++)
		bundle_data(b, "\n", 1);
	bundle_note(b, name, total, first_url);
	free(first_url);
}

/*
 * An event-log file of the events dir, or -1. The scan saw a regular file,
 * but it may have been swapped since: O_NONBLOCK so a FIFO put in its place
 * cannot hang the bundle, O_NOFOLLOW so a link is not followed; anything
 * but a regular file is refused.
 */
static int open_event_log_file(int dirfd, const char *name)
{
	struct stat sb;
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * A member name from the history server's zip goes into the bundle under
 * eventlog/: only relative names of plain components (no "..", ".", empty
 * component or leading "/") so that unpacking the bundle stays in its dir.
 */
static bool safe_member_name(const char *name)
{
	const char *p = name;

	if (!name || !*name || *name == '/')
		return false;
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

/* A whole file, open as fd, into the archive as name. */
static void bundle_fd(struct bundle *b, int fd, const char *name, const char *from)
{
	char buf[65536];
	struct stat sb;
	int64_t left;
	ssize_t n = 0;

	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		return;
	bundle_header(b, name, sb.st_size);
	for (left = sb.st_size; left > 0 && (n = read(fd, buf, sizeof(buf))) > 0; left -= n)
		bundle_data(b, buf, (size_t)(n < left ? n : left));
	if (left > 0)
		bundle_fail(b, CO_EIO, "an event log file shrank while it was read");
	bundle_note(b, name, sb.st_size, from);
}

/* The event log from the events dir, if this machine sees it. */
static bool bundle_event_log_from_dir(struct co_ctx *ctx, struct bundle *b)
{
	const char *dir = co_config_get(ctx, CO_KEY_EVENTS_DIR);
	struct co_eventlog_dir *logs = NULL;
	bool found = false;
	int events_fd;

	if (strncmp(dir, "file://", 7) == 0)
		dir += 7;
	events_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (events_fd < 0 || co_eventlog_dir_scan(ctx, events_fd, &logs) != CO_OK) {
		if (events_fd >= 0)
			close(events_fd);
		return false;
	}
	for (size_t i = 0; i < logs->n_logs; i++) {
		const struct co_eventlog *log = &logs->logs[i];
		char name[600];
		int fd, sub;

		if (strcmp(log->id.app_id, b->app_id) != 0)
			continue;
		if (log->id.rolling) {
			/* every file of the rolling dir, read through its descriptor */
			DIR *d;
			struct dirent *e;

			sub = openat(events_fd, log->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0 || !(d = fdopendir(sub)))
				continue;
			while ((e = readdir(d))) {
				if (e->d_name[0] == '.')
					continue;
				snprintf(name, sizeof(name), "eventlog/%s/%s", log->name, e->d_name);
				fd = open_event_log_file(dirfd(d), e->d_name);
				if (fd >= 0) {
					bundle_fd(b, fd, name, dir);
					close(fd);
				}
			}
			closedir(d);
			found = true;
			continue;
		}
		fd = open_event_log_file(events_fd, log->name);
		if (fd >= 0) {
			snprintf(name, sizeof(name), "eventlog/%s", log->name);
			bundle_fd(b, fd, name, dir);
			close(fd);
			found = true;
		}
	}
	co_eventlog_dir_free(logs);
	close(events_fd);
	return found;
}

/* Else the history server's zip of it, unpacked and put in entry by entry. */
static bool bundle_event_log_from_history(struct co_ctx *ctx, struct bundle *b, char **why)
{
	struct co_http_response resp;
	struct archive_entry *e;
	struct archive *zip;
	char *url, path[600];
	bool found = false;
	size_t unsafe = 0;

	if (asprintf(&url, "%s/api/v1/applications/%s/logs",
		     co_config_get(ctx, CO_KEY_HISTORY_URL), b->app_id) < 0)
		die(CO_ESOFTWARE, "out of memory");
	if (co_http_get(ctx, url, &resp) != CO_OK) {
		*why = xstrdup(co_ctx_error(ctx));
		free(url);
		return false;
	}
	zip = archive_read_new();
	archive_read_support_format_zip(zip);
	if (archive_read_open_memory(zip, resp.body, resp.len) == ARCHIVE_OK) {
		while (archive_read_next_header(zip, &e) == ARCHIVE_OK) {
			const char *n = archive_entry_pathname(e);
			char buf[65536];
			la_ssize_t got;

			if (archive_entry_filetype(e) != AE_IFREG || !archive_entry_size_is_set(e))
				continue;
			if (!safe_member_name(n) || strlen(n) >= sizeof(path) - 10) {
				unsafe++;
				continue;
			}
			snprintf(path, sizeof(path), "eventlog/%s", n);
			bundle_header(b, path, archive_entry_size(e));
			while ((got = archive_read_data(zip, buf, sizeof(buf))) > 0)
				bundle_data(b, buf, (size_t)got);
			bundle_note(b, path, archive_entry_size(e), url);
			found = true;
		}
	}
	if (!found)
		*why = xstrdup(unsafe ? "the history server's archive holds only unsafe member names"
			       : "the history server's archive holds no event log");
	archive_read_free(zip);
	co_http_response_clear(&resp);
	free(url);
	return found;
}

/*
 * Spark's history server reads the events dir every 10 s by default
 * (spark.history.fs.update.interval), so it may not know an application
 * that is running or ended a moment ago: for such an application a 404 is
 * asked again for a while.
 */
#define HISTORY_WAIT_SECONDS 30.0
#define HISTORY_RECENT_SECONDS 60.0	/* "a moment ago" */

static double history_wait(const struct co_master_state *st, const char *app_id)
{
	const struct co_spark_app *a = st ? co_master_state_app(st, app_id) : NULL;
	double ended_ago;

	if (!a || a->active)
		return HISTORY_WAIT_SECONDS;
	ended_ago = (double)time(NULL) - (double)(a->start_ms + a->duration_ms) / 1000.0;
	return ended_ago < HISTORY_RECENT_SECONDS ? HISTORY_WAIT_SECONDS : 0;
}

static void bundle_history_json(struct co_ctx *ctx, struct bundle *b, struct sources *srcs,
				double wait)
{
	struct co_http_response resp = { 0 };
	struct co_http_request req = { .method = CO_HTTP_GET,
				       .flags = CO_HTTP_ANY_STATUS | CO_HTTP_RETRY };
	double deadline = monotonic_now() + wait;
	char *url, why[512];
	int rc;

	if (asprintf(&url, "%s/api/v1/applications/%s", co_config_get(ctx, CO_KEY_HISTORY_URL),
		     b->app_id) < 0)
		die(CO_ESOFTWARE, "out of memory");
	req.url = url;
	while ((rc = co_http_request(ctx, &req, &resp)) == CO_OK && resp.status == 404 &&
	       monotonic_now() < deadline) {
		co_http_response_clear(&resp);
		sleep_seconds(1);
	}
	if (rc == CO_OK && resp.status < 300) {
		bundle_file_from_memory(b, "application.json", resp.body, resp.len, url);
	} else {
		if (rc == CO_OK)
			snprintf(why, sizeof(why), "%s: HTTP %ld%s", url, resp.status,
				 resp.status == 404 && wait > 0
				 ? " (the history server has not read its event log)" : "");
		note_missing(srcs, "application.json", rc == CO_OK ? why : co_ctx_error(ctx));
	}
	co_http_response_clear(&resp);
	free(url);
}

static void write_bundle(struct co_ctx *ctx, const struct control *ctl, const char *app_id,
			 const struct co_master_state *st, struct sources *srcs)
{
	struct bundle b = { .app_id = app_id };
	char *why = NULL, *manifest;

	bundle_open(&b, ctl->output);
	for (size_t i = 0; i < srcs->n; i++)
		bundle_log(ctx, &b, ctl, &srcs->v[i], srcs);
	if (!ctl->driver_id && !bundle_event_log_from_dir(ctx, &b) &&
	    !bundle_event_log_from_history(ctx, &b, &why)) {
		note_missing(srcs, "event log", why);
	}
	free(why);
	if (!ctl->driver_id)
		bundle_history_json(ctx, &b, srcs, history_wait(st, app_id));
	for (size_t i = 0; i < srcs->n_missing; i++)
		json_array_append_new(json_object_get(b.manifest, "missing"),
				      json_string(srcs->missing[i]));
	manifest = json_dumps(b.manifest, JSON_INDENT(2));
	if (!manifest)
		die(CO_ESOFTWARE, "out of memory");
	bundle_header(&b, "MANIFEST.json", (int64_t)strlen(manifest));
	bundle_data(&b, manifest, strlen(manifest));
	free(manifest);
	json_decref(b.manifest);
	if (archive_write_close(b.a) != ARCHIVE_OK)
		bundle_fail(&b, CO_EIO, "cannot finish");
	archive_write_free(b.a);
	if (rename(b.tmp_path, ctl->output) != 0) {
		unlink(b.tmp_path);
		die(CO_ECANTCREAT, "%s: %s", ctl->output, strerror(errno));
	}
	bundle_tmp = NULL;
	free(b.tmp_path);
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct sources srcs = { 0 };
	struct co_master_state *st = NULL;
	struct co_ctx *ctx = tool_init("sc-logs");
	char *app_id;
	int rc;

	parse_options(argc, argv, ctx, &ctl);
	rc = co_master_state_fetch(ctx, &st);
	if (rc)
		die_ctx(ctx, rc);
	app_id = xstrdup(ctl.driver_id ? ctl.driver_id : resolve_app(&ctl, st));
	find_sources(ctx, &ctl, st, app_id, &srcs, true);
	if (srcs.n == 0 && srcs.n_missing == 0 && !ctl.follow)
		note_missing(&srcs, app_id,
			     "no worker has logs of it (they may have been cleaned up)");
	if (ctl.output)
		write_bundle(ctx, &ctl, app_id, st, &srcs);
	else
		stream_logs(ctx, &ctl, app_id, &st, &srcs);
	if (srcs.n == 0 && srcs.n_missing == 0)	/* followed, and none ever appeared */
		note_missing(&srcs, app_id, "no worker had logs of it");
	for (size_t i = 0; i < srcs.n_missing; i++)
		warnmsg("not collected: %s", srcs.missing[i]);
	rc = srcs.n_missing ? CO_EFAIL : CO_OK;
	for (size_t i = 0; i < srcs.n; i++) {
		free(srcs.v[i].worker_id);
		free(srcs.v[i].webui);
		free(srcs.v[i].where);
		free(srcs.v[i].partial);
		free(srcs.v[i].prefix);
	}
	for (size_t i = 0; i < srcs.n_missing; i++)
		free(srcs.missing[i]);
	free(srcs.v);
	free(srcs.missing);
	free(ctl.executors);
	free(app_id);
	co_master_state_free(st);
	co_ctx_free(ctx);
	return rc;
}
