/* SPDX-License-Identifier: MIT */
/*
 * sc-logs: collect a Spark application's logs from every worker: each
 * executor's stdout and stderr, or a cluster-mode driver's, read through
 * the workers' /log/ endpoint in bounded pieces, all workers at once.
 * Streams them with a prefix, follows them, or bundles them with the event
 * log into one archive.
 */
#include "config.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
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
	const struct control *ctl;
	const char *app_id;
	struct source **v;
	size_t n;
	char **missing;		/* what could not be collected, and why */
	size_t n_missing;
	struct co_log_reader *reader;	/* when streaming */
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
	ctl->mode = out_mode_choose(ctl->json);
}

/* "WHAT: WHY", for the list of what could not be collected (a co_missing_fn). */
static void note_missing(void *arg, const char *what, const char *why)
{
	struct sources *srcs = arg;

	srcs->missing = xreallocarray(srcs->missing, srcs->n_missing + 1, sizeof(*srcs->missing));
	srcs->missing[srcs->n_missing++] = xasprintf("%s: %s", what, why);
}

static void add_source(struct sources *srcs, const struct co_spark_worker *w, int executor,
		       const char *stream)
{
	const struct control *ctl = srcs->ctl;
	struct source *s;
	char exec[16];

	for (size_t i = 0; i < srcs->n; i++)
		if (srcs->v[i]->id.executor == executor && !strcmp(srcs->v[i]->worker_id, w->id) &&
		    strcmp(srcs->v[i]->id.stream, stream) == 0)
			return;
	srcs->v = xreallocarray(srcs->v, srcs->n + 1, sizeof(*srcs->v));
	s = srcs->v[srcs->n++] = xcalloc(1, sizeof(*s));
	s->ctl = ctl;
	s->webui = xstrdup(w->webui);
	s->id = (struct co_worker_log_id){ .webui = s->webui, .app_id = srcs->app_id, .stream = stream,
					   .executor = executor, .driver_id = ctl->driver_id };
	s->worker_id = xstrdup(w->id);
	s->where = xasprintf("%s:%d", w->host ? w->host : "?", w->port);
	snprintf(exec, sizeof(exec), "%d", executor);
	if (executor >= 0)
		s->label = xasprintf("executor %d %s on %s", executor, stream, s->where);
	else
		s->label = xasprintf("driver %s on %s", stream, s->where);
	/* The prefix is the same for every line of a source: made once. */
	if (ctl->no_prefix || ctl->mode == OUT_JSON)
		s->prefix = NULL;
	else if (ctl->mode == OUT_TSV)
		s->prefix = xasprintf("%s\t%s\t%s\t", s->where, executor >= 0 ? exec : "driver",
				      stream);
	else if (executor >= 0)
		s->prefix = xasprintf("[%s exec %s %s] ", s->where, exec, stream);
	else
		s->prefix = xasprintf("[%s driver %s] ", s->where, stream);
	s->lines.max = CO_LOG_PIECE;
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

static bool name_matches(const struct control *ctl, const struct co_spark_app *a)
{
	return a->name && fnmatch(ctl->name_glob, a->name, 0) == 0;
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
		if (!name_matches(ctl, &st->apps[i]))
			continue;
		if (found && found->active && !st->apps[i].active)
			break;
		found = found ? found : &st->apps[i];
		matches++;
	}
	if (!found)
		die(CO_EFAIL, "no application is named '%s'", ctl->name_glob);
	if (matches > 1) {
		warnmsg("%zu applications match '%s'; give an id:", matches, ctl->name_glob);
		for (size_t i = 0; i < st->n_apps; i++)
			if (name_matches(ctl, &st->apps[i]))
				fprintf(stderr, "  %s\t%s\t%s\n", st->apps[i].id, st->apps[i].name,
					st->apps[i].state);
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
	if (!(d = co_master_state_driver(st, ctl->driver_id)))
		die(CO_EFAIL, "%s: the master does not know this driver", ctl->driver_id);
	for (size_t i = 0; d->worker && i < st->n_workers; i++)
		if (strcmp(st->workers[i].id, d->worker) == 0)
			add_streams(srcs, &st->workers[i], -1);
	if (srcs->n == 0 && report_missing)
		note_missing(srcs, ctl->driver_id,
			     d->worker ? "its worker is gone" : "it never ran on a worker");
}

/* ---- streaming to stdout --------------------------------------------- */

static void print_line(void *arg, const char *line, size_t len)
{
	struct source *s = arg;
	char exec[16];

	if (s->ctl->mode == OUT_JSON) {
		snprintf(exec, sizeof(exec), "%d", s->id.executor);
		json_line(json_pack("{s:o, s:s, s:s, s:o}", "worker",
				    json_string_lossy(s->where, strlen(s->where)),
				    "executor", s->id.executor >= 0 ? exec : "driver",
				    "stream", s->id.stream, "line", json_string_lossy(line, len)));
		return;
	}
	if (s->prefix)
		fputs(s->prefix, stdout);
	fwrite(line, 1, len, stdout);
	putchar('\n');
}

static void print_data(void *arg, void *tag, const char *data, size_t len)
{
	(void)arg;
	line_buffer_feed(&((struct source *)tag)->lines, data, len, print_line, tag);
}

static void note_failed(void *arg, void *tag, const char *why)
{
	note_missing(arg, ((struct source *)tag)->label, why);
}

static bool app_active(struct co_ctx *ctx, const struct sources *srcs,
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
	if (srcs->ctl->driver_id) {
		const struct co_spark_driver *d = co_master_state_driver(*st, srcs->app_id);

		return d && !co_spark_state_is_final(d->state);
	}
	const struct co_spark_app *a = co_master_state_app(*st, srcs->app_id);

	return a && a->active;
}

static void stream_logs(struct co_ctx *ctx, struct co_master_state **st, struct sources *srcs)
{
	const struct control *ctl = srcs->ctl;
	bool following = ctl->follow;
	int rc;

	/* Lines from a terminal user's point of view: flush each. */
	if (ctl->follow || ctl->mode == OUT_TEXT)
		setvbuf(stdout, NULL, _IOLBF, 0);
	while ((rc = co_log_reader_run(srcs->reader, print_data, note_failed, srcs)) == CO_OK &&
	       following) {
		/* Read once more after the application ended, then stop. */
		following = app_active(ctx, srcs, st);
		sleep_seconds(following ? POLL_SECONDS : 0);
		if (*st)
			find_sources(ctx, *st, srcs, false);
	}
	if (rc)
		die_ctx(ctx, rc);	/* the transfer engine itself failed */
	for (size_t i = 0; i < srcs->n; i++)
		line_buffer_flush(&srcs->v[i]->lines, print_line, srcs->v[i]);
}

/* ---- bundles ------------------------------------------------------------ */

struct bundle {
	struct co_ctx *ctx;
	struct co_archive_writer *w;
	const char *app_id;
	const char *from;	/* where the members being added come from */
	json_t *manifest;	/* {"files": [...], "missing": [...]} */
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

/* One log, piece by piece, straight into the archive. */
static void bundle_log(struct bundle *b, struct source *s, struct sources *srcs)
{
	char *path = s->id.executor >= 0
		? xasprintf("%s/executors/%s/%d/%s", b->app_id, s->worker_id, s->id.executor,
			    s->id.stream)
		: xasprintf("%s/driver/%s/%s", b->app_id, b->app_id, s->id.stream);
	char *first_url;
	int64_t size;
	int rc = co_worker_log_archive(b->ctx, &s->id, b->w, path, &first_url, &size);
	bool begun = first_url != NULL;

	if (rc == CO_OK) {
		b->from = first_url;
		bundle_note(b, path, size);
	} else if (!begun) {	/* nothing of it is in the archive */
		note_missing(srcs, s->label, co_ctx_error(b->ctx));
	}
	free(first_url);
	free(path);
	bundle_check(b, begun ? rc : CO_OK);
}

/* The event log from the events dir, if this machine sees it. */
static bool bundle_event_log_from_dir(struct bundle *b)
{
	const char *dir = co_events_dir_path(b->ctx, co_config_get(b->ctx, CO_KEY_EVENTS_DIR));
	char *prefix = xasprintf("%s/eventlog/", b->app_id);
	struct co_eventlog_dir *logs = NULL;
	size_t copied, found = 0;
	int rc = CO_OK, events_fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	b->from = dir;
	if (events_fd >= 0 && co_eventlog_dir_scan(b->ctx, events_fd, &logs) != CO_OK)
		logs = NULL;
	for (size_t i = 0; rc == CO_OK && i < (logs ? logs->n_logs : 0); i++) {
		if (strcmp(logs->logs[i].id.app_id, b->app_id) != 0)
			continue;
		rc = co_eventlog_archive(b->ctx, events_fd, &logs->logs[i], b->w, prefix,
					 bundle_note, b, &copied);
		found += copied;
	}
	co_eventlog_dir_free(logs);
	if (events_fd >= 0)
		close(events_fd);
	free(prefix);
	bundle_check(b, rc);
	return found > 0;
}

/* Else the history server's zip of it, its members put in one by one. */
static void bundle_event_log_from_history(struct bundle *b, struct sources *srcs)
{
	char *why = NULL;
	char *url = co_history_url(b->ctx, b->app_id, "/logs");
	char *prefix = xasprintf("%s/eventlog/", b->app_id);
	size_t before = json_array_size(json_object_get(b->manifest, "files")), unsafe = 0;
	struct co_http_response resp;
	int rc = co_history_eventlog_zip(b->ctx, b->app_id, &resp), fatal = CO_OK;

	b->from = url;
	if (rc == CO_OK) {
		rc = co_archive_writer_add_members(b->ctx, b->w, prefix, resp.body, resp.len,
						   bundle_note, b, &unsafe);
		fatal = rc == CO_EDATA ? CO_OK : rc;	/* else the archive being written */
	}
	if (rc != CO_OK)
		why = xstrdup(co_ctx_error(b->ctx));
	else if (json_array_size(json_object_get(b->manifest, "files")) == before)
		why = xstrdup(unsafe ? "the history server's archive holds only unsafe member names"
			      : "the history server's archive holds no event log");
	if (why)
		note_missing(srcs, "event log", why);
	co_http_response_clear(&resp);
	free(prefix);
	free(url);
	free(why);
	bundle_check(b, fatal);
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
	/* Written beside the target and renamed: never half an archive at its name. */
	struct atomic_file *file = atomic_file_open_or_die(ctl->output);
	struct bundle b = { .ctx = ctx, .app_id = app_id };
	char *manifest;

	bundle_check(&b, co_archive_writer_new(ctx, ctl->output, atomic_file_fd(file), &b.w));
	b.manifest = json_pack("{s:s, s:[], s:[]}", "application", app_id, "files", "missing");
	if (!b.manifest)
		die(CO_ESOFTWARE, "out of memory");
	for (size_t i = 0; i < srcs->n; i++)
		bundle_log(&b, srcs->v[i], srcs);
	if (!ctl->driver_id && !bundle_event_log_from_dir(&b))
		bundle_event_log_from_history(&b, srcs);
	if (!ctl->driver_id)
		bundle_history_json(&b, st, srcs);
	for (size_t i = 0; i < srcs->n_missing; i++)
		json_array_append_new(json_object_get(b.manifest, "missing"),
				      json_string(srcs->missing[i]));
	manifest = json_dumps(b.manifest, JSON_INDENT(2));
	if (!manifest)
		die(CO_ESOFTWARE, "out of memory");
	bundle_add(&b, "MANIFEST.json", manifest, strlen(manifest), NULL);
	bundle_check(&b, co_archive_writer_close(ctx, b.w));
	atomic_file_commit_or_die(file, ctl->output);
	co_archive_writer_free(b.w);
	free(manifest);
	json_decref(b.manifest);
}

static void sources_free(struct sources *srcs)
{
	for (size_t i = 0; i < srcs->n; i++) {
		struct source *s = srcs->v[i];

		free(s->worker_id);
		free(s->webui);
		free(s->where);
		free(s->label);
		free(s->prefix);
		line_buffer_clear(&s->lines);
		free(s);
	}
	for (size_t i = 0; i < srcs->n_missing; i++)
		free(srcs->missing[i]);
	free(srcs->v);
	free(srcs->missing);
	co_log_reader_free(srcs->reader);
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct sources srcs = { .ctl = &ctl };
	struct co_master_state *st = NULL;
	struct co_ctx *ctx = tool_init("sc-logs");
	char *app_id;
	int rc;

	parse_options(argc, argv, ctx, &ctl);
	rc = co_master_state_fetch(ctx, &st);
	if (rc)
		die_ctx(ctx, rc);
	srcs.app_id = app_id = xstrdup(ctl.driver_id ? ctl.driver_id : resolve_app(&ctl, st));
	if (!ctl.output && !(srcs.reader = co_log_reader_new(ctx, MAX_PARALLEL, ctl.tail)))
		die(CO_ESOFTWARE, "out of memory");
	find_sources(ctx, st, &srcs, true);
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
