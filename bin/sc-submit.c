/* SPDX-License-Identifier: MIT */
/*
 * sc-submit: run spark-submit with the cluster's settings filled in, report
 * the application id as soon as Spark assigns it, and exit with the job's
 * status; or, with --rest, submit a JAR in cluster mode through the master's
 * REST server with no JVM on the client.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools-common.h"

struct control {
	bool dry_run;
	bool rest;
	bool wait;
	bool json;
	bool quiet;
	double poll_seconds;
	const char *app_id_file;
	double started;		/* monotonic_now() at sc-submit's start */
	double deadline;	/* seconds after the start; 0: none */
	double executor_timeout;	/* seconds after the id is known; 0: none */
	const char *deadline_arg, *executor_timeout_arg;	/* as given, for messages */
	const char *lock;	/* the lock file */
	const char *lock_wait_arg;
	double lock_wait;
	bool no_driver_log;
	char **spark_args;	/* everything after our own options */
	int n_spark_args;
};

/* What the user already set among the spark-submit arguments. */
struct user_settings {
	int resource;		/* index of the application file, -1 if none */
	const char *resource_path;	/* the application file, NULL if none */
	const char *name;
	const char *main_class;
	bool master;
	bool executor_memory;
	bool event_log_enabled;
	bool event_log_dir;
	bool cluster_mode;	/* --deploy-mode cluster */
	bool persist_driver_log;	/* spark.driver.log.persistToDfs.enabled given */
	bool persist_driver_log_on;	/* ... as true */
};

/* Command-line argument growing list. */
struct argv_list {
	char **v;
	size_t n, cap;
};

/* How long spark-submit gets to stop after SIGTERM before SIGKILL. */
#define STOP_GRACE_SECONDS 30.0

static volatile sig_atomic_t got_signal;

/* Long only: a short letter here would be taken from spark-submit's options. */
enum {
	OPT_DEADLINE = OPT_TOOL_FIRST,
	OPT_EXECUTOR_TIMEOUT,
	OPT_LOCK,
	OPT_LOCK_WAIT,
	OPT_DRIVER_LOG_DIR,
	OPT_NO_DRIVER_LOG,
};

static const struct option longopts[] = {
	{ "dry-run", no_argument, NULL, 'n' },
	{ "app-id-file", required_argument, NULL, 'i' },
	{ "rest", no_argument, NULL, 'r' },
	{ "wait", no_argument, NULL, 'w' },
	{ "json", no_argument, NULL, 'J' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "deadline", required_argument, NULL, OPT_DEADLINE },
	{ "executor-timeout", required_argument, NULL, OPT_EXECUTOR_TIMEOUT },
	{ "lock", required_argument, NULL, OPT_LOCK },
	{ "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
	{ "driver-log-dir", required_argument, NULL, OPT_DRIVER_LOG_DIR },
	{ "no-driver-log", no_argument, NULL, OPT_NO_DRIVER_LOG },
	CO_COMMON_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};
static const char shortopts[] = "+:ni:rwJqhV";

static noreturn void usage(void)
{
	printf("Usage: %s [OPTION]... [--] [SPARK-SUBMIT-OPTION]... APP [APP-ARG]...\n"
	       "       %s --rest [--wait] [OPTION]... --class MAIN [--conf K=V]... JAR [APP-ARG]...\n"
	       "Run spark-submit against the configured cluster and report the application.\n"
	       "\n"
	       "Unless given among the spark-submit options, adds --master, --name (from the\n"
	       "application file's name), --executor-memory (SC_EXECUTOR_MEMORY, default 512m)\n"
	       "and event logging into the events dir (SC_EVENTS_DIR). Every other argument is\n"
	       "passed to spark-submit untouched. The first argument that is not one of the\n"
	       "options below, or everything after '--', belongs to spark-submit.\n"
	       "\n"
	       "  -n, --dry-run          print the spark-submit command, shell-quoted; run nothing\n"
	       "  -i, --app-id-file=FILE write the application id (or driver id) to FILE\n"
	       "                         as soon as it is known\n"
	       "  -r, --rest             submit a JAR in cluster deploy mode through the\n"
	       "                         master's REST server; print the submission id\n"
	       "  -w, --wait             with --rest: follow the driver to its end\n"
	       "  -J, --json             with --rest: print the submission as a JSON line\n"
	       "  -q, --quiet            do not report the application id on stderr\n"
	       "      --driver-log-dir=DIR  keep the driver's output (client deploy mode) in\n"
	       "                         DIR/APP-ID_driver.log (SC_DRIVER_LOG_DIR; default: the\n"
	       "                         events dir's parent + /driver-logs)\n"
	       "      --no-driver-log    do not keep the driver's output in a file\n"
	       "\n"
	       "For cron jobs (DURATION: 90s, 30m, 2h, 1d; a bare number is seconds):\n"
	       "      --deadline=DURATION\n"
	       "                         DURATION after the start, kill the job on the cluster,\n"
	       "                         stop spark-submit and exit 75 (with --rest: --wait)\n"
	       "      --executor-timeout=DURATION\n"
	       "                         kill the application and exit 75 if the cluster has\n"
	       "                         granted it no executor DURATION after its id is known\n"
	       "                         (client deploy mode only; not with --rest)\n"
	       "      --lock=FILE        run only while holding an exclusive lock on FILE;\n"
	       "                         exit 75 if another run holds it\n"
	       "      --lock-wait=DURATION  wait up to DURATION for the lock (default 0)\n",
	       program_name, program_name);
	tool_common_usage(stdout);
	printf("\nExit status: the job's own status (0 success, 1 failure); with --rest,\n"
	       "0 submitted (with --wait: FINISHED) and 1 FAILED, KILLED or ERROR;\n"
	       "128+N when stopped by signal N; 64 usage; 69 spark-submit or the master\n"
	       "unreachable; 73 the lock file is a symbolic link or cannot be created;\n"
	       "75 --deadline or --executor-timeout reached, the lock held by another\n"
	       "run, or no master ALIVE; see clusterops(7).\n");
	exit(CO_OK);
}

static const struct option *find_long(const char *arg)
{
	size_t len = strcspn(arg, "=");

	for (const struct option *o = longopts; o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
			return o;
	return NULL;
}

/*
 * Count how many leading arguments are sc-submit's own: exact option names
 * only (no abbreviations), so that spark-submit's options pass untouched.
 * *dashdash is set when a "--" ends them.
 */
static int own_argument_count(int argc, char **argv, bool *dashdash)
{
	int i = 1;

	*dashdash = false;
	while (i < argc) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			*dashdash = true;
			break;
		}
		if (strncmp(a, "--", 2) == 0) {
			const struct option *o = find_long(a + 2);

			if (!o)
				break;
			i += (o->has_arg == required_argument && !strchr(a, '=')) ? 2 : 1;
			continue;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		/* A cluster of short options: all of them must be ours. */
		bool ours = true, takes_arg = false;

		for (const char *p = a + 1; *p && ours; p++) {
			const char *s = strchr(shortopts + 2, *p);

			ours = s && *p != ':';
			if (ours && s[1] == ':') {
				takes_arg = p[1] == '\0';
				break;
			}
		}
		if (!ours)
			break;
		i += takes_arg ? 2 : 1;
	}
	return i > argc ? argc : i;
}

/* A limit of 0 would stop the job before it started. */
static double parse_limit_or_die(const char *arg, const char *option)
{
	double v = parse_duration_or_die(arg, option);

	if (v <= 0)
		usage_error("invalid %s '%s': must be more than 0", option, arg);
	return v;
}

/* The options that only some modes take, checked once all are read. */
static void check_option_combinations(const struct control *ctl)
{
	if ((ctl->wait || ctl->json) && !ctl->rest)
		usage_error("--wait and --json are only meaningful with --rest");
	if (ctl->lock_wait_arg && !ctl->lock)
		usage_error("--lock-wait is only meaningful with --lock");
	if (ctl->rest && ctl->executor_timeout)
		usage_error("--executor-timeout does not apply to --rest: "
			    "the application id is not followed");
	if (ctl->rest && ctl->deadline && !ctl->wait)
		usage_error("--deadline with --rest needs --wait");
}

static void parse_options(int argc, char **argv, struct co_ctx *ctx, struct control *ctl)
{
	bool dashdash;
	int own = own_argument_count(argc, argv, &dashdash);
	int c;

	ctl->started = monotonic_now();
	ctl->poll_seconds = 1.0;
	while ((c = getopt_long(own, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ctl->dry_run = true;
			break;
		case 'i':
			ctl->app_id_file = optarg;
			break;
		case 'r':
			ctl->rest = true;
			break;
		case 'w':
			ctl->wait = true;
			break;
		case 'J':
			ctl->json = true;
			break;
		case 'q':
			ctl->quiet = true;
			break;
		case OPT_DEADLINE:
			ctl->deadline = parse_limit_or_die(optarg, "--deadline");
			ctl->deadline_arg = optarg;
			break;
		case OPT_EXECUTOR_TIMEOUT:
			ctl->executor_timeout = parse_limit_or_die(optarg, "--executor-timeout");
			ctl->executor_timeout_arg = optarg;
			break;
		case OPT_LOCK:
			ctl->lock = optarg;
			break;
		case OPT_LOCK_WAIT:
			ctl->lock_wait = parse_duration_or_die(optarg, "--lock-wait");
			ctl->lock_wait_arg = optarg;
			break;
		case OPT_DRIVER_LOG_DIR:
			if (co_config_set(ctx, CO_KEY_DRIVER_LOG_DIR, optarg))
				usage_error("%s", co_ctx_error(ctx));
			break;
		case OPT_NO_DRIVER_LOG:
			ctl->no_driver_log = true;
			break;
		case 'h':
			usage();
		default:
			tool_common_option(ctx, c, optarg, argv);
		}
	}
	tool_options_done(ctx);
	ctl->spark_args = argv + own + (dashdash ? 1 : 0);
	ctl->n_spark_args = argc - own - (dashdash ? 1 : 0);
	if (ctl->n_spark_args == 0)
		usage_error("no application given");
	check_option_combinations(ctl);
}

/* spark-submit options that take no value; every other option takes one. */
static bool is_flag(const char *opt)
{
	static const char *const flags[] = { "--verbose", "-v", "--supervise", "--help",
		"-h", "--version", "--usage-error" };

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strcmp(opt, flags[i]) == 0)
			return true;
	return false;
}

/* "--opt=value" or "--opt value": the value, or NULL when opt is not it. */
static const char *option_value(char **args, int n, int *i, const char *opt)
{
	size_t len = strlen(opt);
	const char *a = args[*i];

	if (strncmp(a, opt, len) != 0)
		return NULL;
	if (a[len] == '=')
		return a + len + 1;
	if (a[len] != '\0')
		return NULL;
	if (*i + 1 >= n)
		usage_error("option '%s' needs a value", opt);
	return args[++*i];
}

#define PERSIST_DRIVER_LOG "spark.driver.log.persistToDfs.enabled"

static void note_conf(struct user_settings *u, const char *kv)
{
	if (strncmp(kv, "spark.master=", 13) == 0)
		u->master = true;
	else if (strncmp(kv, "spark.executor.memory=", 22) == 0)
		u->executor_memory = true;
	else if (strncmp(kv, "spark.eventLog.enabled=", 23) == 0)
		u->event_log_enabled = true;
	else if (strncmp(kv, "spark.eventLog.dir=", 19) == 0)
		u->event_log_dir = true;
	else if (strncmp(kv, "spark.app.name=", 15) == 0)
		u->name = kv + 15;
	else if (strncmp(kv, "spark.submit.deployMode=", 24) == 0)
		u->cluster_mode = strcmp(kv + 24, "cluster") == 0;
	else if (strncmp(kv, PERSIST_DRIVER_LOG "=", strlen(PERSIST_DRIVER_LOG) + 1) == 0) {
		u->persist_driver_log = true;
		u->persist_driver_log_on = strcasecmp(kv + strlen(PERSIST_DRIVER_LOG) + 1,
						      "true") == 0;
	}
}

/* Read the spark-submit options up to the application file, without changing them. */
static void scan_user_settings(char **args, int n, struct user_settings *u)
{
	memset(u, 0, sizeof(*u));
	u->resource = -1;
	for (int i = 0; i < n; i++) {
		const char *a = args[i], *v;

		if (a[0] != '-' || a[1] == '\0') {
			u->resource = i;
			u->resource_path = a;
			return;
		}
		if ((v = option_value(args, n, &i, "--master")))
			u->master = true;
		else if ((v = option_value(args, n, &i, "--name")))
			u->name = v;
		else if ((v = option_value(args, n, &i, "--class")))
			u->main_class = v;
		else if ((v = option_value(args, n, &i, "--executor-memory")))
			u->executor_memory = true;
		else if ((v = option_value(args, n, &i, "--deploy-mode")))
			u->cluster_mode = strcmp(v, "cluster") == 0;
		else if ((v = option_value(args, n, &i, "--conf")) ||
			 (v = option_value(args, n, &i, "-c")))
			note_conf(u, v);
		else if (!is_flag(a) && !strchr(a, '=') && i + 1 < n)
			i++;	/* some other option and its value */
	}
}

static void push(struct argv_list *l, const char *s)
{
	if (l->n + 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			die(CO_ESOFTWARE, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = s ? strdup(s) : NULL;
	if (s && !l->v[l->n])
		die(CO_ESOFTWARE, "out of memory");
	l->n++;
	l->v[l->n] = NULL;
}

static void push_conf(struct argv_list *l, const char *key, const char *value)
{
	char *kv;

	if (asprintf(&kv, "%s=%s", key, value) < 0)
		die(CO_ESOFTWARE, "out of memory");
	push(l, "--conf");
	push(l, kv);
	free(kv);
}

static void argv_free(struct argv_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* "pi" for ".../pi.py": the application's default name. */
static char *name_from_file(const char *path)
{
	const char *base = strrchr(path, '/');
	char *name = strdup(base ? base + 1 : path), *dot;

	if (!name)
		die(CO_ESOFTWARE, "out of memory");
	dot = strrchr(name, '.');
	if (dot && dot != name)
		*dot = '\0';
	return name;
}

/*
 * The events dir as a Spark URL. A local one must exist, or the driver dies
 * later with a stack trace; a dry run only shows the command.
 */
static char *event_log_url(struct co_ctx *ctx, bool check)
{
	const char *dir = co_config_get(ctx, CO_KEY_EVENTS_DIR);
	struct stat sb;
	char *url;

	if (strstr(dir, "://"))
		url = strdup(dir);
	else {
		if (check && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
			die(CO_ECANTCREAT, "events dir %s: %s (set SC_EVENTS_DIR or events_dir)",
			    dir, stat(dir, &sb) != 0 ? strerror(errno) : "not a directory");
		if (asprintf(&url, "file://%s", dir) < 0)
			url = NULL;
	}
	if (!url)
		die(CO_ESOFTWARE, "out of memory");
	return url;
}

/* spark-submit from $SPARK_HOME/bin, else the first one on PATH. */
static char *find_spark_submit(void)
{
	const char *home = getenv("SPARK_HOME");
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (home && *home) {
		snprintf(buf, sizeof(buf), "%s/bin/spark-submit", home);
		if (access(buf, X_OK) == 0)
			return strdup(buf);
		die(CO_EUNAVAILABLE, "%s: not found or not executable (check SPARK_HOME)", buf);
	}
	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/spark-submit", (int)len, len ? path : ".");
		if (access(buf, X_OK) == 0)
			return strdup(buf);
		path += len + (path[len] == ':');
	}
	die(CO_EUNAVAILABLE, "spark-submit not found: set SPARK_HOME or add it to PATH");
}

/*
 * sc-submit keeps a client-mode driver's output itself, unless told not to
 * or the user asked for Spark's own copy of the driver's log under that
 * name. A cluster-mode driver's output is on its worker.
 */
static bool driver_log_wanted(const struct control *ctl, const struct user_settings *u)
{
	return !ctl->no_driver_log && !u->cluster_mode && !u->persist_driver_log_on;
}

static void build_command(struct co_ctx *ctx, const struct control *ctl,
			  const struct user_settings *u, struct argv_list *cmd)
{
	char *spark_submit = find_spark_submit();

	if (u->resource < 0)
		usage_error("no application file among the spark-submit arguments");
	push(cmd, spark_submit);
	free(spark_submit);
	if (!u->master) {
		push(cmd, "--master");
		push(cmd, co_config_get(ctx, CO_KEY_MASTER));
	}
	if (!u->name && !u->main_class) {
		char *name = name_from_file(ctl->spark_args[u->resource]);

		push(cmd, "--name");
		push(cmd, name);
		free(name);
	}
	if (!u->executor_memory) {
		push(cmd, "--executor-memory");
		push(cmd, co_config_get(ctx, CO_KEY_EXECUTOR_MEMORY));
	}
	if (!u->event_log_enabled)
		push_conf(cmd, "spark.eventLog.enabled", "true");
	if (!u->event_log_dir) {
		char *url = event_log_url(ctx, !ctl->dry_run);

		push_conf(cmd, "spark.eventLog.dir", url);
		free(url);
	}
	/* sc-submit keeps the whole output under the name Spark's own copy would take */
	if (driver_log_wanted(ctl, u) && !u->persist_driver_log)
		push_conf(cmd, PERSIST_DRIVER_LOG, "false");
	for (int i = 0; i < ctl->n_spark_args; i++)
		push(cmd, ctl->spark_args[i]);
}

/* POSIX shell quoting: 'it'\''s' */
static void print_quoted(const char *s)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_-+=./:,@%") == strlen(s)) {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

static void print_command(const struct argv_list *cmd)
{
	for (size_t i = 0; i < cmd->n; i++) {
		if (i)
			putchar(' ');
		print_quoted(cmd->v[i]);
	}
	putchar('\n');
}

/* Write FILE atomically: a temporary beside it, renamed into place. */
static void write_id_file(const char *path, const char *id)
{
	char *text;
	int err;

	if (!path)
		return;
	text = xasprintf("%s\n", id);
	err = atomic_write(path, text, strlen(text));
	if (err)
		warnmsg("%s: %s", path, strerror(err));
	free(text);
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

/*
 * A signal ignored at start stays ignored, here and in spark-submit:
 * under nohup (SIGHUP) or a shell's background job without job control
 * (SIGINT), the user asked for the job to outlive the terminal.
 */
static void install_signal_handlers(void)
{
	catch_signals(stop_signals, sizeof(stop_signals) / sizeof(stop_signals[0]), on_signal);
}

/* In spark-submit: the default back where a handler was installed, SIG_IGN kept. */
static void restore_child_signals(void)
{
	struct sigaction old;

	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		if (sigaction(stop_signals[i], NULL, &old) == 0 && old.sa_handler == on_signal)
			signal(stop_signals[i], SIG_DFL);
}

/*
 * When spark-submit logs below INFO (a log4j2 configuration of the
 * user's), the line with the application id never comes; in client mode
 * the master is asked instead. The application is the one it did not list
 * before spark-submit started, run by this user, under the name the job
 * runs with (the user's --name, else the one sc-submit gave, else the main
 * class, as spark-submit names it), started after the submission, if
 * there is exactly one such. With two or more, no guess is made, and it
 * is said: a stop then ends spark-submit only, never another's job.
 */
#define APP_START_SLACK_MS 1000	/* between this clock and the master's */
struct app_watch {
	bool on;
	bool saw_info;		/* spark-submit logs at INFO: the line will come */
	double next_check;	/* monotonic; the first falls a second after the start */
	struct co_master_state *before;
	const char *user;
	char *name;		/* the name the application runs under */
	int64_t since_ms;	/* wall clock at the submission */
};

/*
 * The driver's output kept in the driver-log dir: written to a hidden
 * temporary file from the start, which takes the application's name
 * (<app-id>_driver.log) once the id is known.
 */
struct driver_log {
	int dirfd;		/* -1: no driver log */
	int fd;
	const char *dir;
	char tmpname[64];
	bool published;
	bool failed;		/* a write failed: no more is written */
};

/* Ids that spark-submit prints once it has them. */
struct seen_ids {
	char app_id[128];
	char driver_id[128];
	bool cluster_mode;	/* only then has the job a driver id */
	struct app_watch watch;
	struct driver_log *log;
};

static void app_watch_start(const struct user_settings *u, struct app_watch *w)
{
	const struct passwd *pw = getpwuid(geteuid());

	w->user = getenv("SPARK_USER");
	if (!w->user || !*w->user)
		w->user = pw ? pw->pw_name : NULL;
	w->name = u->name ? xstrdup(u->name) : u->main_class ? xstrdup(u->main_class)
		: name_from_file(u->resource_path ? u->resource_path : "");
	w->since_ms = (int64_t)time(NULL) * 1000 - APP_START_SLACK_MS;
	w->next_check = monotonic_now() + 1.0;
	w->on = !u->cluster_mode && w->user;
}

static void app_watch_stop(struct app_watch *w)
{
	co_master_state_free(w->before);
	w->before = NULL;
	w->on = false;
	free(w->name);
	w->name = NULL;
}

static bool take_id(const char *line, const char *marker, const char *prefix,
		    char *out, size_t outlen)
{
	const char *p = strstr(line, marker);
	size_t len;

	if (!p || out[0])
		return false;
	p = strstr(p, prefix);
	if (!p)
		return false;
	len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
	if (len >= outlen || len <= strlen(prefix))
		return false;
	memcpy(out, p, len);
	out[len] = '\0';
	return true;
}

/* The driver log takes the application's name; the output goes on into it. */
static void driver_log_publish(struct co_ctx *ctx, const struct control *ctl,
			       struct driver_log *dl, const char *id)
{
	if (dl->dirfd < 0 || dl->published)
		return;
	dl->published = true;	/* tried once: a refusal keeps the temporary name */
	if (co_driver_log_publish(ctx, dl->dirfd, dl->tmpname, id) != CO_OK)
		warnmsg("driver log: %s/%s; the output is kept in %s/%s", dl->dir,
			co_ctx_error(ctx), dl->dir, dl->tmpname);
	else if (!ctl->quiet)
		fprintf(stderr, "%s: driver log: %s/%s%s\n", program_name, dl->dir, id,
			CO_DRIVER_LOG_SUFFIX);
}

static void found_app(struct co_ctx *ctx, const struct control *ctl, struct seen_ids *ids)
{
	if (!ctl->quiet)
		fprintf(stderr, "%s: application %s: %s/app/?appId=%s\n", program_name,
			ids->app_id, co_master_ui(ctx, co_master_active(ctx)), ids->app_id);
	write_id_file(ctl->app_id_file, ids->app_id);
	app_watch_stop(&ids->watch);
	if (ids->log)
		driver_log_publish(ctx, ctl, ids->log, ids->app_id);
}

/*
 * At most once a second, while the id is not known: has the master got it?
 * The master is asked while spark-submit is quiet, or once a second is
 * overdue: its output is not held up behind a request while it comes, and
 * a spark-submit that has ended, or has said it logs at INFO, before it
 * went quiet (the usual case) costs no request at all. The first request
 * still comes within two seconds, long before a JVM registers anything.
 */
static void app_watch_check(struct co_ctx *ctx, const struct control *ctl, struct seen_ids *ids,
			    bool quiet)
{
	struct app_watch *w = &ids->watch;
	struct co_master_state *now = NULL;
	const char *found = NULL;
	double t = monotonic_now();
	int n = 0;

	/* found_app() ends the watch, so an id seen in the log ends it too */
	if (!w->on || w->saw_info || ids->driver_id[0] || t < w->next_check ||
	    (!quiet && t < w->next_check + 1.0))
		return;
	w->next_check = t + 1.0;
	/* First, soon after the start: the JVM has not registered anything yet. */
	if (!w->before) {
		if (co_master_state_fetch(ctx, &w->before) != CO_OK)
			app_watch_stop(w);
		return;
	}
	if (co_master_state_fetch(ctx, &now) != CO_OK) {
		app_watch_stop(w);	/* no waiting on a master that does not answer */
		return;
	}
	for (size_t i = 0; i < now->n_apps; i++) {
		const struct co_spark_app *a = &now->apps[i];

		/*
		 * What the master calls an id goes to the terminal, the id file, the
		 * driver log's name and the kill: one that is not an id (a newline,
		 * a space, an escape sequence) is nobody's application.
		 */
		if (!a->id || !co_driver_log_id_valid(a->id) ||
		    co_master_state_app(w->before, a->id) || !a->user ||
		    strcmp(a->user, w->user) != 0 || !a->name || strcmp(a->name, w->name) != 0 ||
		    a->start_ms < w->since_ms)
			continue;
		found = a->id;
		n++;
	}
	if (n == 1 && strlen(found) < sizeof(ids->app_id)) {
		strcpy(ids->app_id, found);
		found_app(ctx, ctl, ids);
	} else if (n > 1) {
		warnmsg("%d new applications of %s are named '%s': the id of this one is not "
			"known, and a stop ends spark-submit only", n, w->user, w->name);
		app_watch_stop(w);	/* no guess */
	}
	co_master_state_free(now);
}

static void scan_line(struct co_ctx *ctx, const struct control *ctl, const char *line,
		      struct seen_ids *ids)
{
	if (!ids->watch.saw_info && strstr(line, " INFO "))
		ids->watch.saw_info = true;
	if (take_id(line, "with app ID ", "app-", ids->app_id, sizeof(ids->app_id)))
		found_app(ctx, ctl, ids);
	/*
	 * "Driver successfully submitted as" (legacy) or "Submission successfully
	 * created as" (REST protocol): only in cluster deploy mode, where the
	 * submission client says it first, and the first id found is kept (a
	 * worker's id in a later line is not taken). A client-mode driver has
	 * no driver id, and its log repeats what workers say of themselves (an
	 * executor added "on" a worker id of any text): a driver id found there
	 * would be another's, killed on a stop.
	 */
	if (ids->cluster_mode &&
	    (take_id(line, "successfully submitted as ", "driver-", ids->driver_id,
		     sizeof(ids->driver_id)) ||
	     take_id(line, "successfully created as ", "driver-", ids->driver_id,
		     sizeof(ids->driver_id)))) {
		if (!ctl->quiet)
			fprintf(stderr, "%s: driver %s\n", program_name, ids->driver_id);
		if (!ids->app_id[0])
			write_id_file(ctl->app_id_file, ids->driver_id);
	}
}

/* ---- limits for cron jobs: --deadline, --executor-timeout, --lock ---- */

/* "15s" for --deadline=15 or 15s: a limit as the user gave it, with a unit. */
static const char *limit_text(const char *arg, char buf[48])
{
	size_t len = strlen(arg);

	snprintf(buf, 48, "%s%s", arg, len && !strchr("smhd", arg[len - 1]) ? "s" : "");
	return buf;
}

static bool deadline_passed(const struct control *ctl)
{
	return ctl->deadline && monotonic_now() >= ctl->started + ctl->deadline;
}

/*
 * The deadline for the requests that watch the job, 0 without one: the
 * masters of a list, asked one after another, would each add their
 * timeout to it. The kill at the deadline is not bound by it.
 */
static double request_deadline(const struct control *ctl)
{
	return ctl->deadline ? ctl->started + ctl->deadline : 0;
}

/* The pause between two polls, which ends at the deadline if that comes first. */
static void poll_pause(const struct control *ctl)
{
	sleep_within(ctl->poll_seconds, ctl->deadline ? request_deadline(ctl) : INFINITY);
}

/* "ID: REASON; killed": the one line that says why a limit ended the job. */
static void report_limit(const char *id, const char *reason, int kill_rc, const char *error)
{
	if (!id)
		warnmsg("%s before the application id was known; spark-submit stopped", reason);
	else if (kill_rc)
		warnmsg("%s: %s; spark-submit stopped, but the kill on the cluster failed: %s",
			id, reason, error);
	else
		warnmsg("%s: %s; killed", id, reason);
}

/* --lock, before anything runs; the wait ends at the deadline if that comes first. */
static void take_lock(const struct control *ctl)
{
	double wait = ctl->lock_wait;

	if (!ctl->lock)
		return;
	if (ctl->deadline)
		wait = fmin(wait, fmax(0, ctl->started + ctl->deadline - monotonic_now()));
	hold_lock_or_die(ctl->lock, wait);
}

/*
 * The master's /json/ is asked while spark-submit's output waits: each
 * request gets a second at most, and the executor watch gives up after
 * this many checks in a row without an answer.
 */
#define WATCH_REQUEST_SECONDS 1.0
#define WATCH_FAILURES_MAX 3

/*
 * --executor-timeout: once the application id is known, the master is
 * asked once a second whether it has granted the application any cores. A
 * standalone application that gets none waits for ever, silently, while
 * another one holds every core.
 */
struct executor_watch {
	double since;		/* when the id became known; 0: not yet */
	double next_check;
	double last_check;	/* the last answer of the master */
	bool done;		/* granted, ended, or the master does not answer */
	int failures;		/* checks in a row that had no answer */
	char cluster[200];	/* why not, as of the last check */
};

/* Why the master grants no executor, as far as its state tells. */
static void describe_cluster(const struct co_master_state *st, const struct co_spark_app *a,
			     char *buf, size_t len)
{
	int n = st->alive_workers;
	const char *workers = n == 1 ? "alive worker has" : "alive workers have";

	if (n == 0)
		snprintf(buf, len, "the cluster has no alive worker");
	else if (st->cores_used >= st->cores)
		snprintf(buf, len, "the cluster's %d %s %d of %d cores in use", n, workers,
			 st->cores_used, st->cores);
	else
		snprintf(buf, len, "the cluster's %d %s %d of %d cores and %lld of %lld MiB in use; "
			 "each executor asks %lld MiB", n, workers, st->cores_used, st->cores,
			 (long long)st->memory_used_mb, (long long)st->memory_mb,
			 (long long)(a ? a->memory_per_executor_mb : 0));
}

static void executor_watch_check(struct co_ctx *ctx, const struct control *ctl,
				 const struct seen_ids *ids, struct executor_watch *w)
{
	double now = monotonic_now(), expiry;
	struct co_master_state *st = NULL;
	const struct co_spark_app *a;

	if (!ctl->executor_timeout || w->done || !ids->app_id[0] || now < w->next_check)
		return;
	if (!w->since)
		w->since = now;
	/* one check falls on the expiry itself, so that the verdict is fresh */
	expiry = w->since + ctl->executor_timeout;
	w->next_check = now + ctl->poll_seconds;
	if (now < expiry)
		w->next_check = fmin(w->next_check, expiry);
	if (co_master_state_fetch(ctx, &st) != CO_OK) {
		if (deadline_passed(ctl))
			return;		/* cut short by the deadline, which stops the job */
		/*
		 * No job is killed on a guess, nor the relay held up again and
		 * again by a master that hangs; one failure, a failover's say, is
		 * no verdict.
		 */
		if (++w->failures < WATCH_FAILURES_MAX)
			return;
		warnmsg("%s: --executor-timeout no longer applied: %s", ids->app_id,
			co_ctx_error(ctx));
		w->done = true;
		return;
	}
	w->failures = 0;
	if (strcmp(st->status, "ALIVE") != 0) {
		/* a standby or recovering master knows no application yet: no verdict */
		co_master_state_free(st);
		return;
	}
	w->last_check = now;
	a = co_master_state_app(st, ids->app_id);
	if (a && (a->cores > 0 || co_spark_state_is_final(a->state)))
		w->done = true;
	else
		describe_cluster(st, a, w->cluster, sizeof(w->cluster));
	co_master_state_free(st);
}

/* The master, asked at or after the expiry, still listed no cores. */
static bool executor_timeout_passed(const struct control *ctl, const struct executor_watch *w)
{
	return ctl->executor_timeout && !w->done && w->since &&
	       w->last_check >= w->since + ctl->executor_timeout;
}

/* ---- running spark-submit ------------------------------------------- */

enum stop_reason { NOT_STOPPED, STOP_SIGNAL, STOP_DEADLINE, STOP_NO_EXECUTOR };

/* spark-submit while it runs, and what sc-submit knows of the job. */
struct job {
	pid_t child;		/* 0 once reaped */
	struct seen_ids ids;
	struct executor_watch executors;
	enum stop_reason stop;
	double kill_at;		/* spark-submit gets SIGKILL after this, once stopping */
	int kill_rc;		/* of the kill on the cluster */
	char *kill_error;
};

/* The driver when one was reported, else the application; NULL before either. */
static const char *job_id(const struct seen_ids *ids)
{
	if (ids->driver_id[0])
		return ids->driver_id;
	return ids->app_id[0] ? ids->app_id : NULL;
}

static enum stop_reason stop_due(const struct control *ctl, const struct job *job)
{
	if (got_signal)
		return STOP_SIGNAL;
	if (deadline_passed(ctl))
		return STOP_DEADLINE;
	if (executor_timeout_passed(ctl, &job->executors))
		return STOP_NO_EXECUTOR;
	return NOT_STOPPED;
}

/*
 * Stop the job on the cluster, not just the local spark-submit: the driver
 * through the REST server (the master UI when that cannot be used), else
 * the application through the master UI; then SIGTERM to spark-submit.
 * Returns the kill's status, the message on ctx.
 */
static int stop_on_cluster(struct co_ctx *ctx, const struct seen_ids *ids, pid_t child)
{
	int rc = CO_OK;

	if (ids->driver_id[0]) {
		rc = co_rest_kill(ctx, ids->driver_id);
		if (rc && rc != CO_EFAIL)
			rc = co_master_kill_driver(ctx, ids->driver_id);
	} else if (ids->app_id[0]) {
		rc = co_master_kill_app(ctx, ids->app_id);
	}
	if (child > 0)		/* not yet reaped */
		kill(child, SIGTERM);
	return rc;
}

static void begin_stop(struct co_ctx *ctx, struct job *job, enum stop_reason why)
{
	const char *id = job_id(&job->ids);

	job->stop = why;
	job->kill_at = monotonic_now() + STOP_GRACE_SECONDS;
	job->kill_rc = stop_on_cluster(ctx, &job->ids, job->child);
	if (job->kill_rc)
		job->kill_error = xstrdup(co_ctx_error(ctx));
	/* a limit is reported once spark-submit is gone, as the last line */
	if (why == STOP_SIGNAL && id)
		warnmsg("stopping %s %s%s%s", job->ids.driver_id[0] ? "driver" : "application",
			id, job->kill_rc ? ": " : "", job->kill_rc ? job->kill_error : "");
	else if (why == STOP_SIGNAL)
		warnmsg("stopping spark-submit; the application id is not known, so nothing "
			"is killed on the cluster");
}

/* 128+N for signal N; 75 for a limit, said in one line. */
static int stopped_status(const struct control *ctl, const struct job *job)
{
	char limit[48], reason[300];

	if (job->stop == STOP_SIGNAL || (got_signal && !job->stop))
		return 128 + got_signal;
	if (job->stop == STOP_DEADLINE)
		snprintf(reason, sizeof(reason), "deadline of %s reached",
			 limit_text(ctl->deadline_arg, limit));
	else
		snprintf(reason, sizeof(reason), "no executor granted within %s (%s)",
			 limit_text(ctl->executor_timeout_arg, limit), job->executors.cluster);
	report_limit(job_id(&job->ids), reason, job->kill_rc, job->kill_error);
	return CO_ETEMPFAIL;
}

/*
 * The deadline of a request the relay waits for (the watches' asking the
 * master): a second from now, or the --deadline's if that comes first.
 */
static double watch_request_deadline(const struct control *ctl)
{
	double end = monotonic_now() + WATCH_REQUEST_SECONDS;

	return ctl->deadline ? fmin(request_deadline(ctl), end) : end;
}

/* Once a loop: watch the master, start a stop that is due, escalate one that hangs. */
/* quiet: spark-submit said nothing since the last call. */
static void watch_job(struct co_ctx *ctx, const struct control *ctl, struct job *job, bool quiet)
{
	enum stop_reason why;

	if (job->stop) {
		if (monotonic_now() > job->kill_at) {
			if (job->child > 0)	/* not yet reaped */
				kill(job->child, SIGKILL);	/* it had its chance to stop cleanly */
			job->kill_at = INFINITY;
		}
		return;
	}
	co_ctx_set_deadline(ctx, watch_request_deadline(ctl));
	app_watch_check(ctx, ctl, &job->ids, quiet);
	co_ctx_set_deadline(ctx, watch_request_deadline(ctl));
	executor_watch_check(ctx, ctl, &job->ids, &job->executors);
	co_ctx_set_deadline(ctx, 0);
	why = stop_due(ctl, job);
	if (why)
		begin_stop(ctx, job, why);
}

/* ---- the driver's output: to the terminal as it comes, and into the driver log ---- */

/* SIGPIPE's disposition at the start: ignored, it stays so in spark-submit. */
static bool sigpipe_was_ignored;

static void driver_log_open(struct co_ctx *ctx, const struct control *ctl,
			    const struct user_settings *u, struct driver_log *dl)
{
	memset(dl, 0, sizeof(*dl));
	dl->dirfd = dl->fd = -1;
	if (!driver_log_wanted(ctl, u))
		return;
	if (co_driver_log_dir(ctx, &dl->dir) != CO_OK) {
		warnmsg("driver log not kept: %s", co_ctx_error(ctx));
		return;
	}
	if (!dl->dir)
		return;		/* an events dir that is a URL, and no driver-log dir set */
	if (co_driver_log_dir_open(ctx, &dl->dirfd) != CO_OK) {
		warnmsg("driver log not kept: %s", co_ctx_error(ctx));
		return;
	}
	if (dl->dirfd < 0) {
		warnmsg("driver log not kept: %s: %s (set SC_DRIVER_LOG_DIR or driver_log_dir, "
			"or --no-driver-log)", dl->dir, strerror(ENOENT));
		return;
	}
	if (co_driver_log_create(ctx, dl->dirfd, &dl->fd, dl->tmpname, sizeof(dl->tmpname))) {
		warnmsg("driver log not kept: %s/%s", dl->dir, co_ctx_error(ctx));
		close(dl->dirfd);
		dl->dirfd = -1;
		return;
	}
	/* Python buffers a pipe's output: print()s would reach the terminal late,
	 * and a killed driver's last ones never; the user's own setting wins. */
	setenv("PYTHONUNBUFFERED", "1", 0);
}

/*
 * A run that ended without an application id (spark-submit failed before
 * the driver registered, or the id was never learnt) keeps its output
 * under sc-submit-<UTC time>-<pid>_driver.log; an empty one is removed.
 */
static void driver_log_close(struct co_ctx *ctx, const struct control *ctl,
			     struct driver_log *dl)
{
	struct stat sb;

	if (dl->dirfd < 0)
		return;
	if (!dl->published) {
		char id[64];
		time_t now = time(NULL);

		strftime(id, sizeof(id), "sc-submit-%Y%m%dT%H%M%SZ", gmtime(&now));
		snprintf(id + strlen(id), sizeof(id) - strlen(id), "-%ld", (long)getpid());
		if (fstat(dl->fd, &sb) == 0 && sb.st_size == 0)
			unlinkat(dl->dirfd, dl->tmpname, 0);
		else
			driver_log_publish(ctx, ctl, dl, id);
	}
	close(dl->fd);
	close(dl->dirfd);
}

/* Whether the output still goes into a driver log. */
static bool driver_log_kept(const struct driver_log *dl)
{
	return dl->fd >= 0 && !dl->failed;
}

static void driver_log_write(struct driver_log *dl, const char *buf, size_t len)
{
	if (!driver_log_kept(dl))
		return;
	if (co_write_all(dl->fd, buf, len) != 0) {
		dl->failed = true;
		warnmsg("driver log %s/%s: %s; no more of the output is kept in it", dl->dir,
			dl->tmpname, strerror(errno));
	}
}

/* One of spark-submit's two streams, relayed. */
/* What one read from spark-submit takes. */
#define RELAY_READ 65536

struct relay {
	int in;			/* the pipe from spark-submit; -1 once closed */
	int out;		/* STDOUT_FILENO or STDERR_FILENO; -1 once it cannot be written */
	int error;		/* why it could not be written, or 0 */
	struct driver_log *log;	/* what it read goes into it too */
	bool scan;		/* stderr: watched for the ids, line by line */
	char line[8192];	/* the line being scanned */
	size_t used;
	bool terminal;		/* out is a terminal: controls shown as '?' */
	char held[3];		/* a UTF-8 character the last read cut short */
	size_t held_len;
	char pending[RELAY_READ + 4];	/* read, not yet written out (and what held had) */
	size_t pending_at, pending_len;
	char unended[8192];	/* the driver log's line not yet ended */
	size_t unended_len;
};

/*
 * Into the driver log, whole lines at a time: spark-submit relays a
 * Python driver's output in pieces of a kilobyte, and a line of it cut
 * where a piece ends would otherwise take stderr's lines into its middle.
 * A line longer than the buffer goes in as it comes. Everything up to a
 * read's last newline is one write (line_buffer_feed would make one a line).
 */
static void driver_log_lines(struct relay *r, const char *buf, size_t len)
{
	struct driver_log *dl = r->log;
	const char *nl = memrchr(buf, '\n', len);
	size_t ended = nl ? (size_t)(nl - buf) + 1 : 0;

	if (ended || r->unended_len + len > sizeof(r->unended)) {
		driver_log_write(dl, r->unended, r->unended_len);
		r->unended_len = 0;
		driver_log_write(dl, buf, ended);
		buf += ended;
		len -= ended;
	}
	if (len > sizeof(r->unended)) {
		driver_log_write(dl, buf, len);
		return;
	}
	memcpy(r->unended + r->unended_len, buf, len);
	r->unended_len += len;
}

static void scan_bytes(struct co_ctx *ctx, const struct control *ctl, struct relay *r,
		       const char *buf, size_t len, struct seen_ids *ids)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n') {
			if (r->used < sizeof(r->line) - 1)	/* an endless line: its head */
				r->line[r->used++] = buf[i];
			continue;
		}
		r->line[r->used] = '\0';
		scan_line(ctx, ctl, r->line, ids);
		r->used = 0;
	}
}

/* A write cut short by SIGALRM: the relay's writes never block for longer. */
#define WRITE_SLICE_USEC 500000

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * Our stdout or stderr can no longer be written. A reader that went away
 * (a pipe into head(1)) closes that stream from spark-submit too, so the
 * driver meets the broken pipe it would have met without sc-submit. stderr
 * goes on being read: its lines still name the ids, and still go into the
 * driver log (under cron with 2>&-, that log is all there is). So does a
 * stdout that fails otherwise (a full disk, a closed descriptor), which
 * the driver would not have met as a broken pipe: its output is lost from
 * view, said at once, and the status is 74 if the job succeeds.
 */
static void output_gone(struct relay *r, int err)
{
	r->pending_len = 0;
	r->out = -1;
	r->error = err;
	if (r->scan)
		return;
	if (err == EPIPE) {
		if (r->in >= 0)
			close(r->in);
		r->in = -1;
		return;
	}
	warnmsg("standard output: %s; the job's output is %s", strerror(err),
		driver_log_kept(r->log) ? "kept in the driver log only" : "lost");
}

/*
 * Write out what is pending, for half a second at most: a reader that
 * stops reading (a stalled pipe, a terminal's Ctrl-S) holds the relay no
 * longer, so the deadline and the signals are still seen. true when
 * nothing is left pending.
 */
static bool relay_flush(struct relay *r)
{
	const struct itimerval slice = { .it_value = { 0, WRITE_SLICE_USEC } }, off = { 0 };

	while (r->pending_len > 0) {
		ssize_t n;
		int err;

		setitimer(ITIMER_REAL, &slice, NULL);
		n = write(r->out, r->pending + r->pending_at, r->pending_len);
		err = errno;
		setitimer(ITIMER_REAL, &off, NULL);
		if (n > 0) {
			r->pending_at += (size_t)n;
			r->pending_len -= (size_t)n;
		} else if (n < 0 && err == EINTR) {
			return false;
		} else {
			output_gone(r, n < 0 ? err : EIO);
		}
	}
	return true;
}

/*
 * What was read, as a terminal is to show it: the control characters of
 * the job's output and of Spark's log lines (which carry the host names
 * and ids any registering worker chose: an escape sequence there would
 * set the title or the clipboard) as '?', but tab, newline and carriage
 * return. A character cut by the read waits for the next.
 */
static size_t relay_shown(struct relay *r, size_t n, bool last)
{
	char in[sizeof(r->held) + RELAY_READ];
	size_t len = r->held_len + n, held;

	memcpy(in, r->held, r->held_len);
	memcpy(in + r->held_len, r->pending, n);
	n = printable_piece(in, len, r->pending, "\t\n\r", last, &held);
	memcpy(r->held, in + len - held, held);
	r->held_len = held;
	return n;
}

/* What came from spark-submit: into the driver log, scanned, and passed on. */
static void relay_read(struct co_ctx *ctx, const struct control *ctl, struct relay *r,
		       struct job *job)
{
	ssize_t n = read(r->in, r->pending, RELAY_READ);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (r->scan && r->used) {
			r->line[r->used] = '\0';
			scan_line(ctx, ctl, r->line, &job->ids);
			r->used = 0;
		}
		close(r->in);
		r->in = -1;
		/* a character cut short at the end: shown as what it is */
		if (r->held_len && r->out >= 0) {
			r->pending_at = 0;
			r->pending_len = relay_shown(r, 0, true);
			relay_flush(r);
		}
		return;
	}
	driver_log_lines(r, r->pending, (size_t)n);
	if (r->scan)
		scan_bytes(ctx, ctl, r, r->pending, (size_t)n, &job->ids);
	if (r->out < 0)
		return;
	r->pending_at = 0;
	r->pending_len = r->terminal ? relay_shown(r, (size_t)n, false) : (size_t)n;
	relay_flush(r);
}

/* After spark-submit has exited, its streams are read until they have been quiet this long. */
#define DRAIN_QUIET_SECONDS 1.0
/* ... and, once the job is being stopped, for no longer than this, */
#define DRAIN_STOPPED_SECONDS 2.0
/* ... else this long at most: a process left behind that writes on is not waited for. */
#define DRAIN_MAX_SECONDS 5.0

/*
 * Relay spark-submit's stdout and stderr, each in its own order, while
 * watching stderr for the ids, until both close, or spark-submit has
 * exited and what it started in the background holds them open: until
 * they have been quiet for a second, or five seconds have passed and
 * nothing is left to write out to a slow reader, or until two seconds
 * once the job is being stopped, a signal or the deadline.
 * spark-submit's exit status is in *status when it was reaped here (true
 * is returned); *out_error is why stdout could not be written, or 0.
 */
static bool relay_output(struct co_ctx *ctx, const struct control *ctl, int out_fd,
			 int err_fd, struct job *job, struct driver_log *dl, int *status,
			 int *out_error)
{
	struct relay *r = calloc(2, sizeof(*r));
	bool quiet = false;	/* nothing came in the last poll's time */
	bool reaped = false;
	double exited_at = 0;
	int ready;

	if (!r)
		die(CO_ESOFTWARE, "out of memory");
	sigaction(SIGALRM, &(const struct sigaction){ .sa_handler = on_alarm }, NULL);
	r[0].in = out_fd;
	r[0].out = STDOUT_FILENO;
	r[1].in = err_fd;
	r[1].out = STDERR_FILENO;
	r[1].scan = true;
	r[0].terminal = isatty(STDOUT_FILENO);
	r[1].terminal = isatty(STDERR_FILENO);
	r[0].log = r[1].log = dl;
	while (r[0].in >= 0 || r[1].in >= 0 || r[0].pending_len || r[1].pending_len) {
		struct pollfd pfd[2];
		bool held = false;	/* output still pending */
		nfds_t n = 0;

		if (!reaped)	/* once spark-submit has exited, there is nothing to stop */
			watch_job(ctx, ctl, job, quiet);
		if (!reaped && waitpid(job->child, status, WNOHANG) == job->child) {
			reaped = true;
			exited_at = monotonic_now();
			job->child = 0;	/* its pid may be another's now: never signalled again */
		}
		if (reaped && (got_signal || deadline_passed(ctl) ||
			       (job->stop && monotonic_now() > exited_at + DRAIN_STOPPED_SECONDS)))
			break;
		for (int i = 0; i < 2; i++)
			if (r[i].pending_len && !relay_flush(&r[i]))
				held = true;
		if (reaped && !held && monotonic_now() > exited_at + DRAIN_MAX_SECONDS)
			break;
		for (int i = 0; i < 2; i++)
			if (r[i].in >= 0 && !r[i].pending_len)
				pfd[n++] = (struct pollfd){ .fd = r[i].in, .events = POLLIN };
		ready = n ? poll(pfd, n, held ? 0 : 500) : 0;
		quiet = ready == 0 && !held;
		if (quiet && reaped && monotonic_now() > exited_at + DRAIN_QUIET_SECONDS)
			break;
		if (ready <= 0)
			continue;
		for (nfds_t k = 0; k < n; k++) {
			struct relay *x = pfd[k].fd == r[0].in ? &r[0] : &r[1];

			if (pfd[k].revents)
				relay_read(ctx, ctl, x, job);
		}
	}
	for (int i = 0; i < 2; i++) {
		if (r[i].in >= 0)
			close(r[i].in);
		driver_log_write(dl, r[i].unended, r[i].unended_len);
	}
	*out_error = r[0].error;
	free(r);
	/* A terminal's Ctrl-C can close spark-submit before the loop saw it. */
	if (got_signal && !job->stop)
		begin_stop(ctx, job, STOP_SIGNAL);
	return reaped;
}

static int run_spark_submit(struct co_ctx *ctx, const struct control *ctl,
			    const struct user_settings *u, const struct argv_list *cmd)
{
	struct job job = { 0 };
	struct driver_log dl;
	int outpipe[2], errpipe[2], status = 0, out_error, rc;
	bool reaped;

	job.ids.cluster_mode = u->cluster_mode;
	app_watch_start(u, &job.ids.watch);
	driver_log_open(ctx, ctl, u, &dl);
	job.ids.log = &dl;
	if (pipe2(outpipe, O_CLOEXEC) != 0 || pipe2(errpipe, O_CLOEXEC) != 0)
		die(CO_ESOFTWARE, "pipe: %s", strerror(errno));
	fflush(stdout);
	install_signal_handlers();
	/* a closed stdout is met by the driver, not by sc-submit (see relay_read) */
	sigpipe_was_ignored = signal(SIGPIPE, SIG_IGN) == SIG_IGN;
	job.child = fork();
	if (job.child < 0)
		die(CO_ESOFTWARE, "fork: %s", strerror(errno));
	if (job.child == 0) {
		restore_child_signals();
		if (!sigpipe_was_ignored)
			signal(SIGPIPE, SIG_DFL);
		dup2(outpipe[1], STDOUT_FILENO);
		dup2(errpipe[1], STDERR_FILENO);
		execv(cmd->v[0], cmd->v);
		fprintf(stderr, "%s: %s: %s\n", program_name, cmd->v[0], strerror(errno));
		_exit(CO_EUNAVAILABLE);
	}
	close(outpipe[1]);
	close(errpipe[1]);
	reaped = relay_output(ctx, ctl, outpipe[0], errpipe[0], &job, &dl, &status, &out_error);
	app_watch_stop(&job.ids.watch);
	while (!reaped && waitpid(job.child, &status, 0) < 0) {
		if (errno != EINTR)
			die(CO_ESOFTWARE, "waitpid: %s", strerror(errno));
		if (got_signal)
			kill(job.child, SIGTERM);
	}
	driver_log_close(ctx, ctl, &dl);
	if (job.stop || got_signal)
		rc = stopped_status(ctl, &job);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
	else
		rc = WEXITSTATUS(status);
	if (rc == 0 && out_error && out_error != EPIPE)
		rc = CO_EIO;	/* the job's output was lost: said when it was */
	free(job.kill_error);
	return rc;
}

static int submit_spark(struct co_ctx *ctx, const struct control *ctl)
{
	struct argv_list cmd = { 0 };
	struct user_settings u;
	int rc;

	scan_user_settings(ctl->spark_args, ctl->n_spark_args, &u);
	if (u.cluster_mode && ctl->executor_timeout)
		usage_error("--executor-timeout needs client deploy mode: "
			    "in cluster mode no application id is reported");
	build_command(ctx, ctl, &u, &cmd);
	if (ctl->dry_run) {
		print_command(&cmd);
		rc = CO_OK;
	} else {
		take_lock(ctl);
		rc = run_spark_submit(ctx, ctl, &u, &cmd);
	}
	argv_free(&cmd);
	return rc;
}

/* ---- --rest ---------------------------------------------------------- */

struct rest_job {
	struct co_rest_submission sub;
	struct argv_list conf;
	char *resource;
};

/* A spark-submit option that maps onto a Spark property. */
static bool rest_property_option(char **args, int n, int *i, struct argv_list *conf)
{
	static const struct { const char *opt, *prop; } map[] = {
		{ "--driver-memory", "spark.driver.memory" },
		{ "--driver-cores", "spark.driver.cores" },
		{ "--executor-memory", "spark.executor.memory" },
		{ "--executor-cores", "spark.executor.cores" },
		{ "--total-executor-cores", "spark.cores.max" },
		{ "--driver-java-options", "spark.driver.extraJavaOptions" },
		{ "--driver-class-path", "spark.driver.extraClassPath" },
	};

	for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
		const char *v = option_value(args, n, i, map[k].opt);
		char *kv;

		if (!v)
			continue;
		if (asprintf(&kv, "%s=%s", map[k].prop, v) < 0)
			die(CO_ESOFTWARE, "out of memory");
		push(conf, kv);
		free(kv);
		return true;
	}
	return false;
}

/* A local JAR becomes an absolute file: URL the workers can open. */
static char *resource_url(const char *jar)
{
	char real[PATH_MAX], *url;

	if (strstr(jar, "://") || strncmp(jar, "file:", 5) == 0 || strncmp(jar, "local:", 6) == 0)
		url = strdup(jar);
	else if (!realpath(jar, real))
		die(CO_EDATA, "%s: %s", jar, strerror(errno));
	else if (asprintf(&url, "file:%s", real) < 0)
		url = NULL;
	if (!url)
		die(CO_ESOFTWARE, "out of memory");
	return url;
}

static void parse_rest_job(struct co_ctx *ctx, const struct control *ctl, struct rest_job *job)
{
	char **args = ctl->spark_args;
	int n = ctl->n_spark_args, i;
	struct user_settings u;

	memset(job, 0, sizeof(*job));
	push(&job->conf, NULL);	/* keeps v non-NULL for an empty list */
	job->conf.n = 0;
	for (i = 0; i < n && args[i][0] == '-'; i++) {
		const char *v;

		if ((v = option_value(args, n, &i, "--class")))
			job->sub.main_class = v;
		else if ((v = option_value(args, n, &i, "--name")))
			job->sub.app_name = v;
		else if ((v = option_value(args, n, &i, "--conf")) ||
			 (v = option_value(args, n, &i, "-c")))
			push(&job->conf, v);
		else if ((v = option_value(args, n, &i, "--deploy-mode"))) {
			if (strcmp(v, "cluster") != 0)
				usage_error("--rest submits in cluster deploy mode only");
		} else if (strcmp(args[i], "--supervise") == 0)
			push(&job->conf, "spark.driver.supervise=true");
		else if (!rest_property_option(args, n, &i, &job->conf))
			usage_error("option '%s' is not supported with --rest", args[i]);
	}
	if (i >= n)
		usage_error("no application JAR given");
	if (!job->sub.main_class)
		usage_error("--rest needs --class MAIN_CLASS");
	job->resource = resource_url(args[i]);
	job->sub.app_resource = job->resource;
	job->sub.app_args = (const char *const *)(args + i + 1);
	job->sub.n_app_args = (size_t)(n - i - 1);

	/* The same defaults as a spark-submit run, unless set. */
	memset(&u, 0, sizeof(u));
	for (size_t k = 0; k < job->conf.n; k++)
		note_conf(&u, job->conf.v[k]);
	if (!u.executor_memory) {
		char *kv;

		if (asprintf(&kv, "spark.executor.memory=%s",
			     co_config_get(ctx, CO_KEY_EXECUTOR_MEMORY)) < 0)
			die(CO_ESOFTWARE, "out of memory");
		push(&job->conf, kv);
		free(kv);
	}
	if (!u.event_log_enabled)
		push(&job->conf, "spark.eventLog.enabled=true");
	if (!u.event_log_dir) {
		const char *dir = co_config_get(ctx, CO_KEY_EVENTS_DIR);
		char *kv;

		/* The driver runs on a worker: the dir is the cluster's, not ours. */
		if (asprintf(&kv, "spark.eventLog.dir=%s%s", strstr(dir, "://") ? "" : "file://",
			     dir) < 0)
			die(CO_ESOFTWARE, "out of memory");
		push(&job->conf, kv);
		free(kv);
	}
	job->sub.conf = (const char *const *)job->conf.v;
	job->sub.n_conf = job->conf.n;
}

/* A signal (128+N) or --deadline (75): kill the driver through the REST server. */
static int stop_driver(struct co_ctx *ctx, const struct control *ctl, const char *id)
{
	char limit[48], reason[80];
	int rc;

	co_ctx_set_deadline(ctx, 0);	/* the kill comes at the deadline, or after it */
	rc = co_rest_kill(ctx, id);

	if (got_signal) {
		warnmsg("killing driver %s%s%s", id, rc ? ": " : "", rc ? co_ctx_error(ctx) : "");
		return 128 + got_signal;
	}
	snprintf(reason, sizeof(reason), "deadline of %s reached",
		 limit_text(ctl->deadline_arg, limit));
	report_limit(id, reason, rc, co_ctx_error(ctx));
	return CO_ETEMPFAIL;
}

/*
 * How long the driver's status may stay unknown (the REST server down, or
 * no master ALIVE) before --wait gives up: a master's failover takes one
 * to two minutes.
 */
#define STATUS_PATIENCE 300.0

/*
 * Follow the driver until it ends; a signal or the deadline kills it on the
 * cluster. A status call that fails for a while (unreachable, timed out, no
 * master ALIVE) is asked again, and the deadline still holds meanwhile.
 */
static int follow_driver(struct co_ctx *ctx, const struct control *ctl, const char *id,
			 char **final_state)
{
	char *last = NULL;
	double unknown_since = -1;
	int rc;

	for (;;) {
		char *state = NULL;

		if (got_signal || deadline_passed(ctl)) {
			free(last);
			return stop_driver(ctx, ctl, id);
		}
		rc = co_rest_status(ctx, id, &state);
		if (rc == CO_EUNAVAILABLE || rc == CO_ETEMPFAIL) {
			double now = monotonic_now();

			if (deadline_passed(ctl))
				continue;	/* cut short by the deadline: the driver is stopped */
			if (unknown_since < 0) {
				unknown_since = now;
				warnmsg("driver %s: status unknown (%s); asking again", id,
					co_ctx_error(ctx));
			} else if (now - unknown_since >= STATUS_PATIENCE) {
				warnmsg("driver %s: status unknown for %.0f s (%s); it may still run",
					id, now - unknown_since, co_ctx_error(ctx));
				free(last);
				return rc;
			}
			poll_pause(ctl);
			continue;
		}
		if (rc) {
			free(last);
			die_ctx(ctx, rc);
		}
		if (!ctl->quiet && (!last || strcmp(last, state) != 0 || unknown_since >= 0))
			fprintf(stderr, "%s: driver %s: %s\n", program_name, id, state);
		unknown_since = -1;
		free(last);
		last = state;
		if (co_spark_state_is_final(state)) {
			*final_state = last;
			return CO_OK;
		}
		poll_pause(ctl);
	}
}

static int submit_rest(struct co_ctx *ctx, const struct control *ctl)
{
	struct rest_job job;
	char *id = NULL, *state = NULL;
	int rc;

	parse_rest_job(ctx, ctl, &job);
	if (ctl->dry_run) {
		const char *rest = co_config_get(ctx, CO_KEY_REST_URL);

		/* A failover group's first master, which is asked first. */
		printf("POST %.*s/v1/submissions/create %s %s\n", (int)strcspn(rest, ","),
		       rest, job.sub.main_class, job.resource);
		rc = CO_OK;
		goto out;
	}
	take_lock(ctl);
	/*
	 * From the request on, a signal stops the job: a driver created while
	 * it came is killed, as the caller gave up before its id was printed.
	 * A reader of stderr that went away (cron's pipe to a logger that
	 * died) costs the status lines only: the driver is still followed,
	 * and killed at the deadline.
	 */
	install_signal_handlers();
	signal(SIGPIPE, SIG_IGN);
	rc = co_rest_create(ctx, &job.sub, &id);
	if (rc && got_signal) {
		warnmsg("%s", co_ctx_error(ctx));
		rc = 128 + got_signal;
		goto out;
	}
	if (rc)
		die_ctx(ctx, rc);
	write_id_file(ctl->app_id_file, id);
	if (got_signal) {
		rc = stop_driver(ctx, ctl, id);
		goto out;
	}
	if (!ctl->quiet)
		fprintf(stderr, "%s: submitted %s to %s\n", program_name, id,
			co_rest_url_used(ctx) ? co_rest_url_used(ctx)
					      : co_config_get(ctx, CO_KEY_REST_URL));
	if (ctl->wait) {
		co_ctx_set_deadline(ctx, request_deadline(ctl));
		rc = follow_driver(ctx, ctl, id, &state);
		co_ctx_set_deadline(ctx, 0);
	}
	if (ctl->json)
		json_line(json_pack("{s:s, s:s?}", "submissionId", id, "state", state));
	else
		printf("%s%s%s\n", id, state ? "\t" : "", state ? state : "");
	if (rc == CO_OK && state && strcmp(state, "FINISHED") != 0)
		rc = CO_EFAIL;
out:
	free(id);
	free(state);
	free(job.resource);
	argv_free(&job.conf);
	return rc;
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct co_ctx *ctx = tool_init("sc-submit");
	int rc;

	parse_options(argc, argv, ctx, &ctl);
	if (ctl.rest)
		rc = submit_rest(ctx, &ctl);
	else
		rc = submit_spark(ctx, &ctl);
	co_ctx_free(ctx);
	return rc;
}
