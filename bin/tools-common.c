/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools-common.h"

const char *program_name = PACKAGE_NAME;
static bool show_config;

/* Written data can still fail at close (ENOSPC on a full disk): report it. */
static void close_stdout(void)
{
	bool failed = ferror(stdout) != 0;
	int err = errno;

	if (fclose(stdout) != 0) {
		failed = true;
		err = errno;
	}
	if (failed) {
		fprintf(stderr, "%s: write error: %s\n", program_name,
			err ? strerror(err) : "unknown error");
		_exit(CO_EIO);
	}
}

struct co_ctx *tool_init(const char *name)
{
	struct co_ctx *ctx;
	int rc;

	program_name = name;
	opterr = 0;	/* tool_common_option() words the complaint */
	atexit(close_stdout);
	ctx = co_ctx_new();
	if (!ctx)
		die(CO_ESOFTWARE, "out of memory");
	rc = co_config_load(ctx);
	if (rc)
		die_ctx(ctx, rc);
	return ctx;
}

static void set_or_die(struct co_ctx *ctx, enum co_key key, const char *arg)
{
	int rc = co_config_set(ctx, key, arg);

	if (rc == CO_EUSAGE)
		usage_error("%s", co_ctx_error(ctx));
	if (rc)
		die_ctx(ctx, rc);
}

void tool_common_option(struct co_ctx *ctx, int opt, const char *arg, char **argv)
{
	switch (opt) {
	case OPT_MASTER:
		set_or_die(ctx, CO_KEY_MASTER, arg);
		break;
	case OPT_MASTER_UI:
		set_or_die(ctx, CO_KEY_MASTER_UI, arg);
		break;
	case OPT_REST_URL:
		set_or_die(ctx, CO_KEY_REST_URL, arg);
		break;
	case OPT_TIMEOUT:
		set_or_die(ctx, CO_KEY_TIMEOUT, arg);
		break;
	case OPT_SHOW_CONFIG:
		show_config = true;
		break;
	case 'V':
		print_version();
	case ':':
		/* getopt leaves optind past the option that lacks its value */
		usage_error("option '%s' requires an argument", argv[optind - 1]);
	default:
		if (optopt && optopt < 0x100)
			usage_error("invalid option -- '%c'", optopt);
		usage_error("unrecognized option '%s'", argv[optind - 1]);
	}
}

void tool_options_done(struct co_ctx *ctx)
{
	const char *file = co_config_file(ctx);

	if (!show_config)
		return;
	for (int k = 0; k < CO_KEY_COUNT; k++) {
		const char *v = co_config_get(ctx, k);
		enum co_source src = co_config_source(ctx, k);

		printf("%s\t%s\t%s", co_config_key_name(k), v ? v : "",
		       co_config_source_name(src));
		if (src == CO_SRC_ENV)
			printf(" %s", co_config_key_env(k));
		else if (src == CO_SRC_FILE && file)
			printf(" %s", file);
		putchar('\n');
	}
	exit(CO_OK);
}

void tool_common_usage(FILE *out)
{
	fputs("\nConfiguration (flag > SC_* environment > config file > default):\n"
	      "      --master URL       Spark master, spark://HOST:PORT (SC_MASTER)\n"
	      "      --master-ui URL    master web UI (SC_MASTER_UI; default http://MASTERHOST:8080)\n"
	      "      --rest-url URL     REST submission server (SC_REST_URL; default http://MASTERHOST:6066)\n"
	      "      --timeout SECONDS  time allowed for each HTTP request (SC_TIMEOUT; default 10)\n"
	      "      --show-config      print the resolved configuration and exit\n"
	      "  -h, --help             display this help and exit\n"
	      "  -V, --version          output version information and exit\n", out);
}

static void vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", program_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(status);
}

void die_ctx(const struct co_ctx *ctx, int status)
{
	die(status, "%s", co_ctx_error(ctx));
}

void warnmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", program_name);
	exit(CO_EUSAGE);
}

void print_version(void)
{
	printf("%s (%s) %s\n", program_name, PACKAGE_NAME, PACKAGE_VERSION);
	exit(CO_OK);
}

double parse_seconds_or_die(const char *arg, const char *option)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < 0 || v > 7 * 86400)
		usage_error("invalid %s '%s': expected a number of seconds", option, arg);
	return v;
}

double parse_duration_or_die(const char *arg, const char *option)
{
	size_t digits = strspn(arg, "0123456789.");
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	/* digits only: no sign, no exponent, no hex, no "inf" */
	if (errno || end == arg || (size_t)(end - arg) != digits || !isfinite(v))
		goto bad;
	switch (*end) {
	case 'd':
		v *= 24;
		/* fall through */
	case 'h':
		v *= 60;
		/* fall through */
	case 'm':
		v *= 60;
		/* fall through */
	case 's':
		end++;
		break;
	}
	if (*end)
		goto bad;
	if (v > 100 * 365 * 86400.0)
		usage_error("invalid %s '%s': too long", option, arg);
	return v;
bad:
	usage_error("invalid %s '%s': expected a duration such as 90s, 30m, 12h or 7d",
		    option, arg);
}

long parse_long_or_die(const char *arg, const char *option, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		usage_error("invalid %s '%s': expected an integer from %ld to %ld",
			    option, arg, min, max);
	return v;
}

/* The pid in a lock file, or 0 when it holds something else. */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (!isdigit((unsigned char)buf[0]))
		return 0;
	pid = strtol(buf, &end, 10);
	return (*end == '\0' || *end == '\n') && pid > 0 ? pid : 0;
}

/* Informational only, so a failure is not reported; other content stays. */
static void write_lock_holder(int fd)
{
	struct stat sb;
	char buf[32];
	int len;

	if (fstat(fd, &sb) != 0 || (sb.st_size != 0 && !lock_holder(fd)))
		return;
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	/* the new pid first, then the old one's tail cut: never an empty file */
	if (pwrite(fd, buf, (size_t)len, 0) != len)
		return;
	if (ftruncate(fd, len) != 0)
		return;	/* a longer old pid's tail stays, after a newline */
}

static int open_lock_file(const char *path)
{
	const int flags = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;	/* a FIFO must not block */
	int fd = open(path, O_RDWR | O_CREAT | flags, 0644);

	/* someone else's lock file: a read-only descriptor locks it just as well */
	if (fd < 0 && errno == EACCES)
		fd = open(path, O_RDONLY | flags);
	if (fd >= 0)
		return fd;
	if (errno == ELOOP)
		die(CO_ECANTCREAT, "%s: is a symbolic link; refusing to use it as a lock file",
		    path);
	die(errno == EACCES || errno == EPERM ? CO_ENOPERM : CO_ECANTCREAT, "%s: %s", path,
	    strerror(errno));
}

void hold_lock_or_die(const char *path, double wait_seconds)
{
	double deadline = monotonic_now() + wait_seconds;
	int fd = open_lock_file(path);
	struct stat sb;
	long pid;

	if (fstat(fd, &sb) != 0)
		die(CO_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		die(CO_ECANTCREAT, "%s: not a regular file; refusing to use it as a lock file",
		    path);
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			die(CO_EIO, "%s: cannot lock: %s", path, strerror(errno));
		if (monotonic_now() >= deadline) {
			char holder[40] = "", buf[32];

			if ((pid = lock_holder(fd)))
				snprintf(holder, sizeof(holder), " (pid %ld)", pid);
			if (wait_seconds > 0)
				die(CO_ETEMPFAIL, "%s: still held by another run%s after %s", path,
				    holder, format_duration_ms((int64_t)(wait_seconds * 1000), buf));
			die(CO_ETEMPFAIL, "%s: held by another run%s", path, holder);
		}
		sleep_seconds(0.2);
	}
	write_lock_holder(fd);
	/* fd stays open, and the lock held, until the process exits */
}

double monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void sleep_seconds(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);	/* a signal cuts it short: callers re-check */
}

enum out_mode out_mode_choose(bool json)
{
	if (json)
		return OUT_JSON;
	return isatty(STDOUT_FILENO) ? OUT_TEXT : OUT_TSV;
}

struct table {
	size_t ncols, nrows, cap;
	char **cells;		/* row-major, header row first */
};

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		die(CO_ESOFTWARE, "out of memory");
	return p;
}

struct table *table_new(size_t ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		die(CO_ESOFTWARE, "out of memory");
	t->ncols = ncols;
	table_add(t, headers);
	return t;
}

void table_add(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));

		if (!p)
			die(CO_ESOFTWARE, "out of memory");
		t->cells = p;
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++) {
		const char *s = cells[c];
		char *copy = xstrdup(s && *s ? s : "-");

		/* A tab or newline inside a cell would break a TSV row. */
		for (char *p = copy; *p; p++)
			if (*p == '\t' || *p == '\n' || *p == '\r')
				*p = ' ';
		t->cells[t->nrows * t->ncols + c] = copy;
	}
	t->nrows++;
}

void table_print(const struct table *t, FILE *out, enum out_mode mode)
{
	size_t width[16] = { 0 };

	if (mode == OUT_TSV) {
		for (size_t r = 1; r < t->nrows; r++)
			for (size_t c = 0; c < t->ncols; c++)
				fprintf(out, "%s%c", t->cells[r * t->ncols + c],
					c + 1 < t->ncols ? '\t' : '\n');
		return;
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols && c < 16; c++) {
			size_t w = strlen(t->cells[r * t->ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 < t->ncols)
				fprintf(out, "%-*s  ", (int)width[c < 16 ? c : 15], s);
			else
				fprintf(out, "%s\n", s);
		}
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void json_line(json_t *obj)
{
	if (!obj)
		die(CO_ESOFTWARE, "out of memory");
	if (json_dumpf(obj, stdout, JSON_COMPACT) == 0)
		putchar('\n');
	json_decref(obj);
}

const char *format_time_ms(int64_t ms, char buf[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm))
		return strcpy(buf, "-");
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

const char *format_duration_ms(int64_t ms, char buf[32])
{
	int64_t s = ms / 1000;

	if (ms < 0)
		snprintf(buf, 32, "-");
	else if (ms < 60000)
		snprintf(buf, 32, "%.1fs", ms / 1000.0);
	else if (s < 3600)
		snprintf(buf, 32, "%dm%02ds", (int)(s / 60), (int)(s % 60));
	else
		snprintf(buf, 32, "%dh%02dm%02ds", (int)(s / 3600), (int)(s / 60 % 60),
			 (int)(s % 60));
	return buf;
}
