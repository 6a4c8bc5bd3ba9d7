/* SPDX-License-Identifier: MIT */
/*
 * sc-events-prune: delete Spark event logs from the shared events dir by
 * age, count, total size or id; never a running application's log, never
 * anything but event logs, never anything outside the dir.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "tools-common.h"

struct control {
	const char *dir;
	bool dry_run;
	bool json;
	bool quiet;
	bool all;
	bool no_master;		/* do not ask the master what runs */
	bool include_inprogress;	/* with --no-master: in-progress logs may go */
	double older_than;	/* seconds, < 0 when not given */
	long keep;		/* < 0 when not given */
	int64_t max_total;	/* bytes, < 0 when not given */
	double lock_wait;
	char **apps;		/* --app globs */
	size_t n_apps;
};

enum verdict { KEEP, REMOVE, PROTECTED };

struct plan {
	enum verdict *verdict;
	const char **why;	/* for PROTECTED */
	bool *wanted;		/* PROTECTED, but a rule would have taken it */
	size_t held_back;	/* in-progress logs wanted, kept as no master vouched */
};

/*
 * What the master can vouch for: only an ALIVE master's lists say which
 * applications ended. A STANDBY or RECOVERING master, one that does not
 * answer or answers garbage, vouches for nothing (its running list still
 * protects).
 */
struct vouch {
	const struct co_master_state *st;	/* NULL: not asked or no answer */
	bool alive;
	bool asked;				/* not --no-master */
};

static noreturn void usage(void)
{
	printf("Usage: %s [OPTION]... RULE...\n"
	       "Delete Spark event logs from the events dir, safely.\n"
	       "\n"
	       "Rules (a log is deleted when any rule selects it):\n"
	       "  -o, --older-than=AGE   logs last written more than AGE ago (90s, 30m, 12h, 7d)\n"
	       "  -k, --keep=N           all but the N newest logs\n"
	       "  -s, --max-total=SIZE   the oldest logs, until the rest fit in SIZE (500M, 2G)\n"
	       "  -a, --app=ID           the logs of application ID (a glob; repeatable)\n"
	       "      --all              every log\n"
	       "\n"
	       "Safety:\n"
	       "  Logs of applications the master reports as running are never deleted.\n"
	       "  In-progress logs go only when an ALIVE master lists their application as\n"
	       "  ended; when the master cannot vouch (down, STANDBY, garbage) they are kept\n"
	       "  and the exit status is 75.\n"
	       "      --no-master        do not ask the master (in-progress logs are then kept)\n"
	       "      --include-inprogress  with --no-master, let the rules take in-progress\n"
	       "                         logs too (a crashed local-mode driver's): you vouch\n"
	       "                         that none of them is running\n"
	       "\n"
	       "  -d, --dir=DIR          the events dir (SC_EVENTS_DIR; default from the configuration)\n"
	       "  -n, --dry-run          show what would be deleted, delete nothing\n"
	       "  -w, --lock-wait=SECONDS  wait this long for another run to finish (default 0)\n"
	       "  -J, --json             one JSON object per deleted log\n"
	       "  -q, --quiet            no summary and no skipped-entry report on stderr\n",
	       program_name);
	tool_common_usage(stdout);
	printf("\nExit status: 0 ok; 1 some log could not be deleted; 64 usage; 74 the events\n"
	       "dir cannot be read; 75 another run holds the lock, or in-progress logs were\n"
	       "kept because the master could not vouch for them; 77 permission denied;\n"
	       "see clusterops(7).\n");
	exit(CO_OK);
}

/* "7d" -> seconds; an age needs its unit, a bare "7" is not taken for seconds. */
static double parse_age_or_die(const char *arg)
{
	size_t len = strlen(arg);

	if (len && !strchr("smhd", arg[len - 1]))
		usage_error("invalid --older-than '%s': give a unit, s, m, h or d", arg);
	return parse_duration_or_die(arg, "--older-than");
}

/* "500M" -> bytes; K, M, G, T are powers of 1024. */
static int64_t parse_size_or_die(const char *arg)
{
	static const char units[] = "KMGT";
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || !isfinite(v) || v < 0 || !isdigit((unsigned char)*arg))
		usage_error("invalid --max-total '%s': expected a size such as 500M or 2G", arg);
	if (*end) {
		const char *u = strchr(units, *end);

		if (!u || (end[1] && strcmp(end + 1, "B") != 0 && strcmp(end + 1, "iB") != 0))
			usage_error("invalid --max-total '%s': units are K, M, G, T", arg);
		for (long i = 0; i <= u - units; i++)
			v *= 1024;
	}
	if (v > 9e18)
		usage_error("invalid --max-total '%s': too large", arg);
	return (int64_t)v;
}

static void parse_options(int argc, char **argv, struct co_ctx *ctx, struct control *ctl)
{
	enum { OPT_ALL = OPT_TOOL_FIRST, OPT_NO_MASTER, OPT_INCLUDE_INPROGRESS };
	static const struct option longopts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "keep", required_argument, NULL, 'k' },
		{ "max-total", required_argument, NULL, 's' },
		{ "app", required_argument, NULL, 'a' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "no-master", no_argument, NULL, OPT_NO_MASTER },
		{ "include-inprogress", no_argument, NULL, OPT_INCLUDE_INPROGRESS },
		{ "dir", required_argument, NULL, 'd' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "lock-wait", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'J' },
		{ "quiet", no_argument, NULL, 'q' },
		CO_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int c;

	ctl->older_than = -1;
	ctl->keep = -1;
	ctl->max_total = -1;
	while ((c = getopt_long(argc, argv, ":o:k:s:a:d:nw:JqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			ctl->older_than = parse_age_or_die(optarg);
			break;
		case 'k':
			ctl->keep = parse_long_or_die(optarg, "--keep", 0, 100000000);
			break;
		case 's':
			ctl->max_total = parse_size_or_die(optarg);
			break;
		case 'a':
			ctl->apps = realloc(ctl->apps, (ctl->n_apps + 1) * sizeof(*ctl->apps));
			if (!ctl->apps)
				die(CO_ESOFTWARE, "out of memory");
			ctl->apps[ctl->n_apps++] = optarg;
			break;
		case OPT_ALL:
			ctl->all = true;
			break;
		case OPT_NO_MASTER:
			ctl->no_master = true;
			break;
		case OPT_INCLUDE_INPROGRESS:
			ctl->include_inprogress = true;
			break;
		case 'd':
			if (co_config_set(ctx, CO_KEY_EVENTS_DIR, optarg))
				usage_error("%s", co_ctx_error(ctx));
			break;
		case 'n':
			ctl->dry_run = true;
			break;
		case 'w':
			ctl->lock_wait = parse_seconds_or_die(optarg, "--lock-wait");
			break;
		case 'J':
			ctl->json = true;
			break;
		case 'q':
			ctl->quiet = true;
			break;
		case 'h':
			usage();
		default:
			tool_common_option(ctx, c, optarg, argv);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	tool_options_done(ctx);
	if (ctl->older_than < 0 && ctl->keep < 0 && ctl->max_total < 0 && !ctl->n_apps && !ctl->all)
		usage_error("no rule given: use --older-than, --keep, --max-total, --app or --all");
	ctl->dir = co_config_get(ctx, CO_KEY_EVENTS_DIR);
}

/* Two cron jobs at once: the second waits up to --lock-wait, then gives up. */
static void lock_or_die(int dirfd, const struct control *ctl)
{
	double deadline = monotonic_now() + ctl->lock_wait;

	while (flock(dirfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK)
			die(CO_EIO, "%s: cannot lock: %s", ctl->dir, strerror(errno));
		if (monotonic_now() >= deadline)
			die(CO_ETEMPFAIL, "%s: another sc-events-prune is running", ctl->dir);
		sleep_seconds(0.2);
	}
}

static bool app_running(const struct co_master_state *st, const char *app_id)
{
	const struct co_spark_app *a = co_master_state_app(st, app_id);

	return a && a->active;
}

static bool app_ended(const struct vouch *v, const char *app_id)
{
	const struct co_spark_app *a = v->alive ? co_master_state_app(v->st, app_id) : NULL;

	return a && !a->active && co_spark_state_is_final(a->state);
}

/* Why an in-progress log stays. */
static const char *inprogress_kept_why(const struct vouch *v)
{
	if (v->alive)
		return "in progress, and the master does not list it as ended";
	if (!v->asked)
		return "in progress, and the master could not be asked";
	return v->st ? "in progress, and the master is not ALIVE to vouch that it ended"
		     : "in progress, and the master could not be asked";
}

static bool app_selected(const struct control *ctl, const char *app_id)
{
	for (size_t i = 0; i < ctl->n_apps; i++)
		if (fnmatch(ctl->apps[i], app_id, 0) == 0)
			return true;
	return false;
}

/*
 * Decide each log's fate. Protection comes first and wins over every rule;
 * then the rules select (a union); --max-total takes the oldest of what
 * remains until the rest fits. Logs are newest first.
 */
static void make_plan(const struct control *ctl, const struct co_eventlog_dir *dir,
		      const struct vouch *v, struct plan *plan)
{
	double now_ms = (double)time(NULL) * 1000;
	int64_t kept_bytes = 0;
	long unprotected = 0;

	for (size_t i = 0; i < dir->n_logs; i++) {
		const struct co_eventlog *log = &dir->logs[i];
		bool old = ctl->older_than >= 0 &&
			   now_ms - (double)log->mtime_ms > ctl->older_than * 1000;
		bool select = ctl->all || old || app_selected(ctl, log->id.app_id);

		plan->wanted[i] = select;
		plan->verdict[i] = KEEP;
		if (v->st && app_running(v->st, log->id.app_id)) {
			plan->verdict[i] = PROTECTED;
			plan->why[i] = "application running";
			continue;
		}
		/*
		 * An in-progress log may go only when an ALIVE master lists its
		 * application as ended (a driver that died before closing its
		 * log), or, with --no-master, when the user says so. An
		 * application the master does not know may be another cluster's,
		 * local mode's, or one that registered after we asked.
		 */
		if (log->id.in_progress && !(ctl->no_master && ctl->include_inprogress) &&
		    !app_ended(v, log->id.app_id)) {
			plan->verdict[i] = PROTECTED;
			plan->why[i] = inprogress_kept_why(v);
			if (select && v->asked && !v->alive)
				plan->held_back++;
			continue;
		}
		if (ctl->keep >= 0 && unprotected >= ctl->keep)
			select = true;
		unprotected++;
		if (select)
			plan->verdict[i] = REMOVE;
	}
	if (ctl->max_total < 0)
		return;
	for (size_t i = 0; i < dir->n_logs; i++)
		if (plan->verdict[i] != REMOVE)
			kept_bytes += dir->logs[i].bytes;
	for (size_t i = dir->n_logs; i-- > 0 && kept_bytes > ctl->max_total;) {
		if (plan->verdict[i] == KEEP) {
			plan->verdict[i] = REMOVE;
			kept_bytes -= dir->logs[i].bytes;
		}
	}
}

static void report_removed(const struct control *ctl, const struct co_eventlog *log)
{
	char when[32];

	format_time_ms(log->mtime_ms, when);
	if (ctl->json)
		json_line(json_pack("{s:s, s:s, s:s, s:s?, s:I, s:s, s:b, s:b}", "action",
				    ctl->dry_run ? "would-remove" : "removed", "name", log->name,
				    "app_id", log->id.app_id,
				    "attempt", log->id.attempt[0] ? log->id.attempt : NULL,
				    "bytes", (json_int_t)log->bytes, "mtime", when,
				    "rolling", log->id.rolling, "inprogress", log->id.in_progress));
	else
		printf("%s\t%s\t%s\t%" PRId64 "\t%s\n", ctl->dry_run ? "would-remove" : "removed",
		       log->name, log->id.app_id, log->bytes, when);
}

static int prune(struct co_ctx *ctx, const struct control *ctl, int dirfd,
		 const struct vouch *v)
{
	struct co_eventlog_dir *dir;
	struct plan plan;
	size_t removed = 0, failed = 0, protected = 0;
	int64_t freed = 0;
	int rc;

	rc = co_eventlog_dir_scan(ctx, dirfd, &dir);
	if (rc)
		die(rc, "%s: %s", ctl->dir, co_ctx_error(ctx));
	plan.held_back = 0;
	plan.verdict = calloc(dir->n_logs + 1, sizeof(*plan.verdict));
	plan.why = calloc(dir->n_logs + 1, sizeof(*plan.why));
	plan.wanted = calloc(dir->n_logs + 1, sizeof(*plan.wanted));
	if (!plan.verdict || !plan.why || !plan.wanted)
		die(CO_ESOFTWARE, "out of memory");
	make_plan(ctl, dir, v, &plan);

	/*
	 * The plan is made; now remove in the directory's own order, which is
	 * the order its file system finds and drops entries fastest in.
	 */
	size_t *order = calloc(dir->n_logs + 1, sizeof(*order));

	if (!order)
		die(CO_ESOFTWARE, "out of memory");
	for (size_t i = 0; i < dir->n_logs; i++)
		order[dir->logs[i].dir_order] = i;
	for (size_t k = 0; k < dir->n_logs; k++) {
		size_t i = order[k];
		const struct co_eventlog *log = &dir->logs[i];

		if (plan.verdict[i] == PROTECTED) {
			protected++;
			if (!ctl->quiet && plan.wanted[i])
				warnmsg("kept %s: %s", log->name, plan.why[i]);
			continue;
		}
		if (plan.verdict[i] != REMOVE)
			continue;
		if (!ctl->dry_run && co_eventlog_remove(ctx, dirfd, log) != CO_OK) {
			warnmsg("%s/%s", ctl->dir, co_ctx_error(ctx));
			failed++;
			continue;
		}
		report_removed(ctl, log);
		removed++;
		freed += log->bytes;
	}
	if (!ctl->quiet) {
		for (size_t i = 0; i < dir->n_skipped; i++)
			warnmsg("skipped %s: %s", dir->skipped[i].name, dir->skipped[i].reason);
		warnmsg("%s %zu log%s, %.1f MiB; kept %zu (%zu protected); %zu skipped%s",
			ctl->dry_run ? "would remove" : "removed", removed, removed == 1 ? "" : "s",
			freed / 1048576.0, dir->n_logs - removed, protected, dir->n_skipped,
			failed ? "; some could not be removed" : "");
	}
	if (plan.held_back)
		warnmsg("kept %zu in-progress log%s that the rules select: the master could not "
			"vouch that %s ended; run again when it is ALIVE", plan.held_back,
			plan.held_back == 1 ? "" : "s", plan.held_back == 1 ? "its application"
			: "their applications");
	free(order);
	free(plan.verdict);
	free(plan.why);
	free(plan.wanted);
	co_eventlog_dir_free(dir);
	if (failed)
		return CO_EFAIL;
	return plan.held_back ? CO_ETEMPFAIL : CO_OK;
}

static void ask_master(struct co_ctx *ctx, const struct control *ctl,
		       struct co_master_state **st, struct vouch *v)
{
	v->asked = true;
	if (co_master_state_fetch(ctx, st) != CO_OK) {
		if (!ctl->quiet)
			warnmsg("%s; in-progress logs are kept", co_ctx_error(ctx));
		return;
	}
	v->st = *st;
	v->alive = (*st)->status && strcmp((*st)->status, "ALIVE") == 0;
	if (!v->alive && !ctl->quiet)
		warnmsg("%s: the master is %s, not ALIVE; in-progress logs are kept",
			co_config_get(ctx, CO_KEY_MASTER_UI),
			(*st)->status ? (*st)->status : "in no known state");
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct co_master_state *st = NULL;
	struct vouch v = { 0 };
	struct co_ctx *ctx = tool_init("sc-events-prune");
	int dirfd, rc;

	parse_options(argc, argv, ctx, &ctl);
	if (strncmp(ctl.dir, "file://", 7) == 0)
		ctl.dir += 7;
	if (strstr(ctl.dir, "://"))
		die(CO_EUSAGE, "%s: a URL; sc-events-prune works on a local (or mounted) directory",
		    ctl.dir);
	dirfd = open(ctl.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		die(errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", ctl.dir, strerror(errno));
	lock_or_die(dirfd, &ctl);
	if (!ctl.no_master)
		ask_master(ctx, &ctl, &st, &v);
	if (!ctl.dry_run && co_eventlog_remove_leftovers(ctx, dirfd) != CO_OK)
		warnmsg("%s", co_ctx_error(ctx));
	rc = prune(ctx, &ctl, dirfd, &v);
	close(dirfd);
	co_master_state_free(st);
	free(ctl.apps);
	co_ctx_free(ctx);
	return rc;
}
