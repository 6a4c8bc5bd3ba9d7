/* SPDX-License-Identifier: MIT */
/*
 * sc-events-prune: delete Spark event logs from the shared events dir, and
 * driver logs from the driver-log dir, by age, count, total size or id;
 * never a running application's log, never anything but those logs, never
 * anything outside the two dirs.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tools-common.h"

struct control {
	const char *dir;
	const char *driver_dir;	/* NULL: none */
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

/* A log of either kind, as the rules see it, while the scan is at it. */
struct item {
	const char *name;
	const char *app_id;
	int64_t bytes;
	int64_t mtime_ms;
	const char *protected_why;	/* NULL: the rules decide */
	bool held_back;		/* protected only because no master could vouch */
	const struct co_eventlog *eventlog;	/* or */
	const struct co_driver_log *driver_log;
};

/*
 * --keep and --max-total need every log before they can decide: each one
 * is then kept as one of these, in the directory's order, its name in an
 * arena; 40 bytes and its name's a log.
 */
struct entry {
	int64_t mtime_ms;
	int64_t bytes;
	size_t name;		/* offset of its name in the arena */
	const char *protected_why;
	unsigned flags;
};

enum {
	E_HELD_BACK = 1,	/* item.held_back */
	E_CRC = 2,		/* a ".<name>.crc" goes with it */
	E_INPROGRESS = 4,	/* a rolling log's appstatus says so */
	E_WANTED = 8,		/* --older-than, --app or --all select it */
	E_REMOVE = 16,		/* the plan removes it */
};

/* An application whose event log is kept as in progress. */
struct kept_inprogress {
	char *app_id;
	bool held_back;
};

/* What one kind's pass did, for its summary line. */
struct tally {
	size_t removed, failed, protected, kept, skipped;
	int64_t freed;
	size_t held_back;
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

/*
 * The master asked on a thread of its own while the events dir is read:
 * when listing, nothing is decided before the scan ends, and the answer is
 * waited for there. Only the thread uses ctx until then; the scan reports
 * on a context of its own.
 */
struct asking {
	struct co_ctx *ctx;
	const struct control *ctl;
	struct co_master_state *st;
	struct vouch *v;
	pthread_t thread;
	bool running;
};

static noreturn void usage(void)
{
	printf("Usage: %s [OPTION]... RULE...\n"
	       "Delete Spark event logs from the events dir, and driver logs from the\n"
	       "driver-log dir, safely.\n"
	       "\n"
	       "Rules (a log is deleted when any rule selects it; they apply to the event\n"
	       "logs and to the driver logs each on their own):\n"
	       "  -o, --older-than=AGE   logs last written more than AGE ago (90s, 30m, 12h, 7d)\n"
	       "  -k, --keep=N           all but the N newest logs\n"
	       "  -s, --max-total=SIZE   the oldest logs, until the rest fit in SIZE (500M, 2G)\n"
	       "  -a, --app=ID           the logs of application ID (a glob; repeatable)\n"
	       "      --all              every log\n"
	       "\n"
	       "Safety:\n"
	       "  Logs of applications the master reports as running are never deleted, nor\n"
	       "  a driver log that sc-submit is writing or whose event log is kept as in\n"
	       "  progress.\n"
	       "  In-progress logs go only when an ALIVE master lists their application as\n"
	       "  ended; when the master cannot vouch (down, STANDBY, garbage) they are kept\n"
	       "  and the exit status is 75.\n"
	       "      --no-master        do not ask the master (in-progress logs are then kept)\n"
	       "      --include-inprogress  with --no-master, let the rules take in-progress\n"
	       "                         logs too (a crashed local-mode driver's): you vouch\n"
	       "                         that none of them is running\n"
	       "\n"
	       "  -d, --dir=DIR          the events dir (SC_EVENTS_DIR; default from the configuration)\n"
	       "      --driver-log-dir=DIR  the driver-log dir (SC_DRIVER_LOG_DIR; default: the\n"
	       "                         events dir's parent + /driver-logs)\n"
	       "  -n, --dry-run          show what would be deleted, delete nothing\n"
	       "  -w, --lock-wait=SECONDS  wait this long for another run to finish (default 0)\n"
	       "  -J, --json             one JSON object per deleted log\n"
	       "  -q, --quiet            no summary and no skipped-entry report on stderr\n",
	       program_name);
	tool_common_usage(stdout);
	printf("\nExit status: 0 ok; 1 some log could not be deleted; 64 usage; 74 the events\n"
	       "dir or the driver-log dir cannot be read, or the lock file is unusable;\n"
	       "75 another run holds the lock, or in-progress logs were kept because the\n"
	       "master could not vouch for them; 77 permission denied; see clusterops(7).\n");
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
	enum { OPT_ALL = OPT_TOOL_FIRST, OPT_NO_MASTER, OPT_INCLUDE_INPROGRESS,
	       OPT_DRIVER_LOG_DIR };
	static const struct option longopts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ "keep", required_argument, NULL, 'k' },
		{ "max-total", required_argument, NULL, 's' },
		{ "app", required_argument, NULL, 'a' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "no-master", no_argument, NULL, OPT_NO_MASTER },
		{ "include-inprogress", no_argument, NULL, OPT_INCLUDE_INPROGRESS },
		{ "dir", required_argument, NULL, 'd' },
		{ "driver-log-dir", required_argument, NULL, OPT_DRIVER_LOG_DIR },
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
		case OPT_DRIVER_LOG_DIR:
			if (co_config_set(ctx, CO_KEY_DRIVER_LOG_DIR, optarg))
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
	if (co_driver_log_dir(ctx, &ctl->driver_dir) != CO_OK)
		usage_error("%s", co_ctx_error(ctx));
}

/* ---- the lock: one run at a time on an events dir ------------------------ */

/*
 * A lock file in the events dir, locked with an OFD lock (fcntl), which
 * NFS carries as a POSIX lock: flock(2) on the directory itself may fail
 * there. The holder of the exclusive lock removes the file when it is done;
 * a run that was waiting for the lock then finds the name gone, or on
 * another file, and starts over, so two runs never hold locks on different
 * files at once.
 */
#define LOCK_NAME ".sc-prune.lock"

struct prune_lock {
	int fd;			/* -1: none taken */
	bool exclusive;
};

static volatile sig_atomic_t lock_wait_over;

static void on_lock_alarm(int sig)
{
	(void)sig;
	lock_wait_over = 1;
}

/* F_OFD_SETLKW for up to wait seconds; -1 with EAGAIN when it did not come. */
static int wait_for_lock(int fd, struct flock *fl, double wait)
{
	struct sigaction sa = { .sa_handler = on_lock_alarm }, old;
	struct itimerval t = { 0 }, off = { 0 };
	int rc, err;

	if (fcntl(fd, F_OFD_SETLK, fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return -1;
	if (wait <= 0) {
		errno = EAGAIN;
		return -1;
	}
	sigemptyset(&sa.sa_mask);	/* no SA_RESTART: the alarm ends the wait */
	sigaction(SIGALRM, &sa, &old);
	t.it_value.tv_sec = (time_t)wait;
	t.it_value.tv_usec = (suseconds_t)((wait - (double)(time_t)wait) * 1e6);
	if (t.it_value.tv_sec == 0 && t.it_value.tv_usec == 0)
		t.it_value.tv_usec = 1;
	lock_wait_over = 0;
	setitimer(ITIMER_REAL, &t, NULL);
	do
		rc = fcntl(fd, F_OFD_SETLKW, fl);
	while (rc != 0 && errno == EINTR && !lock_wait_over);
	err = errno;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	errno = rc != 0 && err == EINTR ? EAGAIN : err;
	return rc;
}

/* Still the file named LOCK_NAME? A holder that finished may have removed it. */
static bool lock_file_current(int dirfd, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, LOCK_NAME, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The name is taken by what cannot be the lock: anyone who can write the
 * events dir could otherwise stop every prune by planting it. The run goes
 * on without the lock, which only keeps two runs from working at once: a
 * log that another run removed first counts as gone.
 */
static int lock_unusable(const struct control *ctl, const char *why)
{
	if (!ctl->quiet)
		warnmsg("%s/%s: %s; not used as the lock, the run goes on without it",
			ctl->dir, LOCK_NAME, why);
	return -1;
}

/*
 * The lock file cannot be opened for writing. A dry run, or a run in a
 * directory it cannot write (and so cannot delete from), goes on with a
 * shared lock on an existing file it can read, else with none, and says so.
 */
static int open_lock_readonly(int dirfd, const struct control *ctl, int open_errno)
{
	int fd = openat(dirfd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
			O_NOCTTY);

	if (fd < 0 && errno == ENOENT) {
		if (!ctl->quiet)
			warnmsg("%s: %s; %s goes on without the lock", ctl->dir,
				strerror(open_errno), ctl->dry_run ? "the dry run"
				: "nothing can be deleted here, and the run");
		return -1;
	}
	if (fd >= 0 && !ctl->dry_run) {
		close(fd);
		fd = -1;
		errno = open_errno;
	}
	if (fd < 0)
		return lock_unusable(ctl, errno == EACCES || errno == EPERM
				     ? "a file this user cannot write" : strerror(errno));
	if (!ctl->quiet)
		warnmsg("%s/%s: %s; the dry run takes a shared lock", ctl->dir, LOCK_NAME,
			strerror(open_errno));
	return fd;
}

static int open_lock_file(int dirfd, const struct control *ctl, bool *exclusive)
{
	struct stat sb;
	int fd;

	/* O_NONBLOCK: a FIFO planted under the name must not hang the open */
	fd = openat(dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
		    O_NOCTTY, 0666);
	*exclusive = fd >= 0;
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		fd = open_lock_readonly(dirfd, ctl, errno);
	} else if (fd < 0) {
		int err = errno;

		/* a link (ELOOP), a directory (EISDIR), a socket (ENXIO), ... */
		if (fstatat(dirfd, LOCK_NAME, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(sb.st_mode))
			return lock_unusable(ctl, S_ISLNK(sb.st_mode) ? "a symbolic link"
					     : S_ISDIR(sb.st_mode) ? "a directory"
					     : "not a regular file");
		die(CO_EIO, "%s/%s: %s", ctl->dir, LOCK_NAME, strerror(err));
	}
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return lock_unusable(ctl, "not a regular file");
	}
	/*
	 * Every user who prunes this dir must be able to lock it, as with the
	 * dir before; a hard link planted under the name is another file of
	 * ours, whose mode is not for this run to open up.
	 */
	if (*exclusive && sb.st_uid == geteuid() && sb.st_nlink == 1 &&
	    (sb.st_mode & 07777) != 0666)
		(void)fchmod(fd, 0666);
	return fd;
}

/* Two cron jobs at once: the second waits up to --lock-wait, then gives up. */
static void lock_or_die(int dirfd, const struct control *ctl, struct prune_lock *lk)
{
	double deadline = monotonic_now() + ctl->lock_wait;

	for (;;) {
		struct flock fl = { .l_whence = SEEK_SET };

		lk->fd = open_lock_file(dirfd, ctl, &lk->exclusive);
		if (lk->fd < 0)
			return;
		fl.l_type = lk->exclusive ? F_WRLCK : F_RDLCK;
		if (wait_for_lock(lk->fd, &fl, deadline - monotonic_now()) != 0) {
			if (errno != EAGAIN)
				die(CO_EIO, "%s: cannot lock %s: %s", ctl->dir, LOCK_NAME,
				    strerror(errno));
			die(CO_ETEMPFAIL, "%s: another sc-events-prune is running", ctl->dir);
		}
		if (lock_file_current(dirfd, lk->fd))
			return;
		close(lk->fd);	/* its holder removed it: start over on the new one */
	}
}

/* The exclusive holder removes the file, while it still holds the lock. */
static void unlock(int dirfd, struct prune_lock *lk)
{
	if (lk->fd < 0)
		return;
	if (lk->exclusive && lock_file_current(dirfd, lk->fd))
		unlinkat(dirfd, LOCK_NAME, 0);	/* another's file in a sticky dir stays */
	close(lk->fd);
	lk->fd = -1;
}

/* The master lists the active applications first: only they are looked at,
 * not the thousands of completed ones a busy master may retain. */
static bool app_running(const struct co_master_state *st, const char *app_id)
{
	for (size_t i = 0; i < st->n_apps && st->apps[i].active; i++)
		if (strcmp(st->apps[i].id, app_id) == 0)
			return true;
	return false;
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

/* --keep and --max-total list every log before they decide. */
static bool lists_first(const struct control *ctl)
{
	return ctl->keep >= 0 || ctl->max_total >= 0;
}

/*
 * An event log's protection: its application runs; or it is in progress
 * and no ALIVE master lists its application as ended (a driver that died
 * before closing its log), unless the user vouches with --no-master
 * --include-inprogress. An application the master does not know may be
 * another cluster's, local mode's, or one that registered after we asked.
 */
static void protect_eventlog(const struct control *ctl, const struct vouch *v,
			     struct item *it)
{
	const struct co_eventlog *log = it->eventlog;

	if (v->st && app_running(v->st, log->id.app_id)) {
		it->protected_why = "application running";
		return;
	}
	if (log->id.in_progress && !(ctl->no_master && ctl->include_inprogress) &&
	    !app_ended(v, log->id.app_id)) {
		it->protected_why = inprogress_kept_why(v);
		it->held_back = v->asked && !v->alive;
	}
}

static int cmp_kept_app(const void *a, const void *b)
{
	return strcmp(((const struct kept_inprogress *)a)->app_id,
		      ((const struct kept_inprogress *)b)->app_id);
}

/*
 * A driver log's protection: its application runs; sc-submit still writes
 * it (it holds the file's lock); or the application's event log is kept as
 * in progress (the same verdict, for the same reason). kept holds those
 * applications, sorted by id.
 */
static void protect_driver_log(const struct vouch *v, const struct kept_inprogress *kept,
			       size_t n_kept, struct item *it)
{
	const struct kept_inprogress key = { .app_id = (char *)it->app_id }, *ev;

	if (v->st && app_running(v->st, it->app_id)) {
		it->protected_why = "application running";
		return;
	}
	if (it->driver_log->writing) {
		it->protected_why = "being written (sc-submit runs)";
		return;
	}
	ev = n_kept ? bsearch(&key, kept, n_kept, sizeof(*kept), cmp_kept_app) : NULL;
	if (ev) {
		it->protected_why = "its event log is kept as in progress";
		it->held_back = ev->held_back;
	}
}

/* "action\tname\tapp_id\tbytes\tmtime\n", a line per log: no format to parse. */
static void put_line(const char *action, const char *name, const char *app_id, int64_t bytes,
		     const char *when)
{
	char num[24], *p = num + sizeof(num);
	uint64_t v = bytes < 0 ? 0 : (uint64_t)bytes;

	*--p = '\t';
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	fputs_unlocked(action, stdout);
	putc_unlocked('\t', stdout);
	fputs_unlocked(name, stdout);
	putc_unlocked('\t', stdout);
	fputs_unlocked(app_id, stdout);
	putc_unlocked('\t', stdout);
	fwrite_unlocked(p, 1, (size_t)(num + sizeof(num) - p), stdout);
	fputs_unlocked(when, stdout);
	putc_unlocked('\n', stdout);
}

static void report_removed(const struct control *ctl, const struct item *it)
{
	const struct co_eventlog *log = it->eventlog;
	const char *action = ctl->dry_run ? "would-remove" : "removed";
	/* logs come in runs of the same second: one formatting per second */
	static int64_t when_s = -1;
	static char when[32];

	if (it->mtime_ms <= 0 || it->mtime_ms / 1000 != when_s) {
		format_time_ms(it->mtime_ms, when);
		when_s = it->mtime_ms > 0 ? it->mtime_ms / 1000 : -1;
	}
	if (ctl->json && log)
		json_line(json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I, s:s, s:b, s:b}", "action",
				    action, "kind", "event-log", "name", it->name,
				    "app_id", it->app_id,
				    "attempt", log->id.attempt[0] ? log->id.attempt : NULL,
				    "bytes", (json_int_t)it->bytes, "mtime", when,
				    "rolling", log->id.rolling, "inprogress", log->id.in_progress));
	else if (ctl->json)
		json_line(json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "action", action,
				    "kind", "driver-log", "name", it->name, "app_id", it->app_id,
				    "bytes", (json_int_t)it->bytes, "mtime", when));
	else
		put_line(action, it->name, it->app_id, it->bytes, when);
}

/* One kind's pass over its dir. */
struct pass {
	struct co_ctx *ctx;
	const struct control *ctl;
	const struct vouch *v;
	int dirfd;
	const char *dirname;
	double now_ms;
	bool listing;		/* --keep or --max-total: list, then decide */
	struct tally *t;
	size_t n;		/* logs seen */
	/* the list, when listing */
	struct entry *entries;
	size_t n_entries, cap_entries;
	char *arena;
	size_t arena_len, arena_cap;
	/* event logs kept as in progress: noted by the event pass, read by the driver pass */
	struct kept_inprogress *kept;
	size_t n_kept, cap_kept;
	struct asking *asking;	/* the master's answer, to wait for after the scan */
};

/* --older-than, --app and --all: each log on its own. */
static bool rules_select(const struct pass *p, const struct item *it)
{
	const struct control *ctl = p->ctl;

	return ctl->all ||
	       (ctl->older_than >= 0 && p->now_ms - (double)it->mtime_ms > ctl->older_than * 1000) ||
	       (ctl->n_apps && app_selected(ctl, it->app_id));
}

/* A protected log: counted, and named when a rule would have taken it. */
static void protected_seen(struct pass *p, const struct item *it, bool wanted)
{
	p->t->protected++;
	if (!wanted)
		return;
	if (it->held_back)
		p->t->held_back++;
	if (!p->ctl->quiet)
		warnmsg("kept %s: %s", it->name, it->protected_why);
}

/* a + b for sizes (b >= 0), held at INT64_MAX: huge sparse files must not wrap a total. */
static int64_t size_add(int64_t a, int64_t b)
{
	return b > INT64_MAX - a ? INT64_MAX : a + b;
}

/* Remove one log (unless a dry run) and report it. */
static void take(struct pass *p, const struct item *it)
{
	if (!p->ctl->dry_run) {
		int rc = it->eventlog ? co_eventlog_remove(p->ctx, p->dirfd, it->eventlog)
				      : co_driver_log_remove(p->ctx, p->dirfd, it->driver_log);

		if (rc != CO_OK) {
			warnmsg("%s/%s", p->dirname, co_ctx_error(p->ctx));
			p->t->failed++;
			return;
		}
	}
	report_removed(p->ctl, it);
	p->t->removed++;
	p->t->freed = size_add(p->t->freed, it->bytes);
}

static void *grow_or_die(void *array, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return array;
	*cap = *cap ? *cap * 2 : 1024;
	while (*cap < need)
		*cap *= 2;
	if (!(array = realloc(array, *cap * size)))
		die(CO_ESOFTWARE, "out of memory");
	return array;
}

/* Keep a log for the plan: its entry and its name. */
static void list_add(struct pass *p, const struct item *it, bool wanted)
{
	size_t len = strlen(it->name) + 1;
	struct entry *e;

	p->entries = grow_or_die(p->entries, &p->cap_entries, p->n_entries + 1,
				 sizeof(*p->entries));
	p->arena = grow_or_die(p->arena, &p->arena_cap, p->arena_len + len, 1);
	memcpy(p->arena + p->arena_len, it->name, len);
	e = &p->entries[p->n_entries++];
	*e = (struct entry){ .mtime_ms = it->mtime_ms, .bytes = it->bytes,
			     .name = p->arena_len, .protected_why = it->protected_why };
	p->arena_len += len;
	if (it->held_back)
		e->flags |= E_HELD_BACK;
	if (wanted)
		e->flags |= E_WANTED;
	if (it->eventlog ? it->eventlog->crc_name != NULL : it->driver_log->crc_name != NULL)
		e->flags |= E_CRC;
	if (it->eventlog && it->eventlog->id.in_progress)
		e->flags |= E_INPROGRESS;
}

/*
 * Each log as the scan finds it: protected, taken at once, or left; or,
 * when listing, kept for the plan. Protection comes first and wins over
 * every rule.
 */
static void consider(struct pass *p, const struct item *it)
{
	bool wanted = rules_select(p, it);

	p->n++;
	if (p->listing)
		list_add(p, it, wanted);
	else if (it->protected_why)
		protected_seen(p, it, wanted);
	else if (wanted)
		take(p, it);
}

static int on_skip(struct co_ctx *ctx, const char *name, const char *reason, void *arg)
{
	struct pass *p = arg;

	(void)ctx;
	p->t->skipped++;
	if (!p->ctl->quiet)
		warnmsg("skipped %s: %s", name, reason);
	return CO_OK;
}

/* protect_eventlog(), and an in-progress log kept is noted for its driver log's verdict. */
static void protect_eventlog_noted(struct pass *p, struct item *it)
{
	protect_eventlog(p->ctl, p->v, it);
	if (it->protected_why && it->eventlog->id.in_progress) {
		p->kept = grow_or_die(p->kept, &p->cap_kept, p->n_kept + 1, sizeof(*p->kept));
		p->kept[p->n_kept++] = (struct kept_inprogress){ xstrdup(it->app_id),
								 it->held_back };
	}
}

static int on_eventlog(struct co_ctx *ctx, const struct co_eventlog *log, void *arg)
{
	struct pass *p = arg;
	struct item it = { .name = log->name, .app_id = log->id.app_id, .bytes = log->bytes,
			   .mtime_ms = log->mtime_ms, .eventlog = log };

	(void)ctx;
	if (!p->listing)	/* else once the master has answered */
		protect_eventlog_noted(p, &it);
	consider(p, &it);
	return CO_OK;
}

static int on_driver_log(struct co_ctx *ctx, const struct co_driver_log *log, void *arg)
{
	struct pass *p = arg;
	struct item it = { .name = log->name, .app_id = log->app_id, .bytes = log->bytes,
			   .mtime_ms = log->mtime_ms, .driver_log = log };

	(void)ctx;
	protect_driver_log(p->v, p->kept, p->n_kept, &it);
	consider(p, &it);
	return CO_OK;
}

static const struct pass *sort_pass;	/* qsort has no argument for the comparison */

/* Newest first; the same time by name. */
static int newest_first(const void *a, const void *b)
{
	const struct entry *x = &sort_pass->entries[*(const size_t *)a];
	const struct entry *y = &sort_pass->entries[*(const size_t *)b];

	if (x->mtime_ms != y->mtime_ms)
		return x->mtime_ms > y->mtime_ms ? -1 : 1;
	return strcmp(sort_pass->arena + x->name, sort_pass->arena + y->name);
}

/*
 * The plan, when listing: --keep takes all but the newest N unprotected
 * logs; --max-total takes the oldest of what remains until the rest fits.
 * What remains once every unprotected log older than the k-th newest has
 * gone is what is kept up to the k-th, and the protected older ones: both
 * sums only grow, so they are held at INT64_MAX rather than wrap, and never
 * subtracted from.
 */
static void make_plan(struct pass *p)
{
	const struct control *ctl = p->ctl;
	size_t *order = malloc((p->n_entries + 1) * sizeof(*order));
	int64_t *kept_upto = NULL, kept_bytes = 0, older_protected = 0;
	long unprotected = 0;

	if (!order)
		die(CO_ESOFTWARE, "out of memory");
	for (size_t i = 0; i < p->n_entries; i++)
		order[i] = i;
	sort_pass = p;
	qsort(order, p->n_entries, sizeof(*order), newest_first);
	for (size_t k = 0; k < p->n_entries; k++) {
		struct entry *e = &p->entries[order[k]];

		if (e->protected_why)
			continue;
		if ((e->flags & E_WANTED) || (ctl->keep >= 0 && unprotected >= ctl->keep))
			e->flags |= E_REMOVE;
		unprotected++;
	}
	if (ctl->max_total >= 0 && !(kept_upto = malloc((p->n_entries + 1) * sizeof(*kept_upto))))
		die(CO_ESOFTWARE, "out of memory");
	for (size_t k = 0; kept_upto && k < p->n_entries; k++) {
		const struct entry *e = &p->entries[order[k]];

		if (!(e->flags & E_REMOVE))
			kept_bytes = size_add(kept_bytes, e->bytes);
		kept_upto[k] = kept_bytes;
	}
	for (size_t k = p->n_entries; kept_upto && k-- > 0 &&
	     size_add(kept_upto[k], older_protected) > ctl->max_total;) {
		struct entry *e = &p->entries[order[k]];

		if (e->protected_why)
			older_protected = size_add(older_protected, e->bytes);
		else
			e->flags |= E_REMOVE;
	}
	free(kept_upto);
	free(order);
}

/* A listed log made again from its entry: an item, and the log it points to. */
struct remade {
	struct item it;
	struct co_eventlog ev;
	struct co_driver_log dl;
	char crc[NAME_MAX + 8];
};

static void remake(const struct pass *p, const struct entry *e, bool events, struct remade *r)
{
	char *name = p->arena + e->name;

	*r = (struct remade){ .it = { .name = name, .bytes = e->bytes, .mtime_ms = e->mtime_ms,
				      .protected_why = e->protected_why,
				      .held_back = e->flags & E_HELD_BACK } };
	snprintf(r->crc, sizeof(r->crc), ".%s.crc", name);
	if (events) {
		r->ev.name = name;
		(void)co_eventlog_parse_name(name, &r->ev.id);	/* parsed when found */
		r->ev.id.in_progress = e->flags & E_INPROGRESS;
		r->ev.crc_name = e->flags & E_CRC ? r->crc : NULL;
		r->it.app_id = r->ev.id.app_id;
		r->it.eventlog = &r->ev;
	} else {
		r->dl.name = name;
		(void)co_driver_log_parse_name(name, r->dl.app_id);
		r->dl.crc_name = e->flags & E_CRC ? r->crc : NULL;
		r->it.app_id = r->dl.app_id;
		r->it.driver_log = &r->dl;
	}
}

/* The listed event logs' protection, once the master has answered. */
static void protect_entries(struct pass *p)
{
	for (size_t i = 0; i < p->n_entries; i++) {
		struct entry *e = &p->entries[i];
		struct remade r;

		remake(p, e, true, &r);
		protect_eventlog_noted(p, &r.it);
		e->protected_why = r.it.protected_why;
		if (r.it.held_back)
			e->flags |= E_HELD_BACK;
	}
}

/* Carry out the plan, in the directory's own order. */
static void carry_out(struct pass *p, bool events)
{
	for (size_t i = 0; i < p->n_entries; i++) {
		const struct entry *e = &p->entries[i];
		struct remade r;

		if (!e->protected_why && !(e->flags & E_REMOVE))
			continue;
		remake(p, e, events, &r);
		if (e->protected_why)
			protected_seen(p, &r.it, e->flags & E_WANTED);
		else
			take(p, &r.it);
	}
}

static void summary(const struct control *ctl, const char *what, const struct tally *t)
{
	if (ctl->quiet)
		return;
	warnmsg("%s %zu %s%s, %.1f MiB; kept %zu (%zu protected); %zu skipped%s",
		ctl->dry_run ? "would remove" : "removed", t->removed, what,
		t->removed == 1 ? "" : "s", t->freed / 1048576.0, t->kept, t->protected,
		t->skipped, t->failed ? "; some could not be removed" : "");
}

/* After the scan: the plan when listing, then the counts. */
static void finish_pass(struct pass *p, bool events)
{
	if (p->listing) {
		make_plan(p);
		carry_out(p, events);
	}
	p->t->kept = p->n - p->t->removed;
	free(p->entries);
	free(p->arena);
	p->entries = NULL;
	p->arena = NULL;
	p->n_entries = p->cap_entries = p->arena_len = p->arena_cap = 0;
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
	if (!ctl->quiet)
		master_unreadable_warn(*st);
	v->alive = (*st)->status && strcmp((*st)->status, "ALIVE") == 0;
	if (!v->alive && !ctl->quiet)
		warnmsg("%s: the master is %s, not ALIVE; in-progress logs are kept",
			co_master_ui(ctx, co_master_active(ctx)),
			(*st)->status ? (*st)->status : "in no known state");
}

static void *ask_master_thread(void *arg)
{
	struct asking *a = arg;

	ask_master(a->ctx, a->ctl, &a->st, a->v);
	return NULL;
}

/*
 * Ask the master while the scan runs, on a thread that takes no signal;
 * or at once, if no thread can be made.
 */
static void ask_master_meanwhile(struct asking *a)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	a->running = pthread_create(&a->thread, NULL, ask_master_thread, a) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!a->running)
		ask_master(a->ctx, a->ctl, &a->st, a->v);
}

/* The master's answer is in (or it could not be asked): the vouch is final. */
static void master_answered(struct asking *a)
{
	if (a && a->running) {
		pthread_join(a->thread, NULL);
		a->running = false;
	}
}

/*
 * The event logs. With --older-than, --app and --all alone each log is
 * decided, and removed, as the scan finds it, in the directory's order:
 * memory does not grow with the number of logs.
 */
static void prune_eventlogs(struct pass *p)
{
	struct co_ctx *scan = co_ctx_new();	/* p->ctx may be the master's thread's */
	int rc = scan ? co_eventlog_dir_each(scan, p->dirfd, p->ctl->dry_run ? 0
					     : CO_EVENTLOG_FINISH_REMOVALS, on_eventlog,
					     on_skip, p) : CO_ESOFTWARE;

	master_answered(p->asking);
	if (rc)
		die(rc, "%s: %s", p->ctl->dir, scan ? co_ctx_error(scan) : "out of memory");
	co_ctx_free(scan);
	if (p->listing)
		protect_entries(p);
	finish_pass(p, true);
	summary(p->ctl, "log", p->t);
	if (p->n_kept)
		qsort(p->kept, p->n_kept, sizeof(*p->kept), cmp_kept_app);
}

/*
 * The driver logs, by the same rules. A missing driver-log dir has none;
 * one that cannot be read is reported, and its status returned, after the
 * event logs were done.
 */
static int prune_driver_logs(struct pass *p)
{
	int dirfd, rc;

	if (!p->ctl->driver_dir)
		return CO_OK;
	rc = co_driver_log_dir_open(p->ctx, &dirfd);
	if (rc == CO_OK && dirfd >= 0) {
		p->dirfd = dirfd;
		p->dirname = p->ctl->driver_dir;
		rc = co_driver_log_dir_each(p->ctx, dirfd, on_driver_log, on_skip, p);
		if (rc)
			close(dirfd);
	}
	if (rc) {
		warnmsg("%s: %s", p->ctl->driver_dir, co_ctx_error(p->ctx));
		return rc;
	}
	if (dirfd < 0)
		return CO_OK;
	finish_pass(p, false);
	close(dirfd);
	summary(p->ctl, "driver log", p->t);
	return CO_OK;
}

static int prune(struct co_ctx *ctx, const struct control *ctl, int dirfd,
		 const struct vouch *v, struct asking *asking)
{
	struct tally events = { 0 }, drivers = { 0 };
	struct pass p = { .ctx = ctx, .ctl = ctl, .v = v, .dirfd = dirfd, .dirname = ctl->dir,
			  .listing = lists_first(ctl), .t = &events, .asking = asking,
			  .now_ms = (double)time(NULL) * 1000 };
	size_t held_back;
	int driver_rc;

	prune_eventlogs(&p);
	p.t = &drivers;
	p.n = 0;
	p.now_ms = (double)time(NULL) * 1000;
	driver_rc = prune_driver_logs(&p);
	for (size_t i = 0; i < p.n_kept; i++)
		free(p.kept[i].app_id);
	free(p.kept);
	held_back = events.held_back + drivers.held_back;
	if (held_back)
		warnmsg("kept %zu in-progress log%s that the rules select: the master could not "
			"vouch that %s ended; run again when it is ALIVE", held_back,
			held_back == 1 ? "" : "s", held_back == 1 ? "its application"
			: "their applications");
	if (events.failed || drivers.failed)
		return CO_EFAIL;
	if (driver_rc)
		return driver_rc;
	return held_back ? CO_ETEMPFAIL : CO_OK;
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct prune_lock lock;
	struct vouch v = { 0 };
	struct co_ctx *ctx = tool_init("sc-events-prune");
	struct asking ask = { .ctx = ctx, .ctl = &ctl, .v = &v };
	int dirfd, rc;

	parse_options(argc, argv, ctx, &ctl);
	/* a line per log, hundreds of thousands of them: written in large blocks */
	if (!isatty(STDOUT_FILENO))
		setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (!(ctl.dir = co_events_dir_path(ctx, ctl.dir)))
		die_ctx(ctx, CO_EUSAGE);
	dirfd = open(ctl.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		die(errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", ctl.dir, strerror(errno));
	lock_or_die(dirfd, &ctl, &lock);
	if (!ctl.no_master && lists_first(&ctl))
		ask_master_meanwhile(&ask);
	else if (!ctl.no_master)
		ask_master(ctx, &ctl, &ask.st, &v);
	rc = prune(ctx, &ctl, dirfd, &v, &ask);
	unlock(dirfd, &lock);
	close(dirfd);
	co_master_state_free(ask.st);
	free(ctl.apps);
	co_ctx_free(ctx);
	return rc;
}
