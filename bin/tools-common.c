/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools-common.h"

const char *program_name = PACKAGE_NAME;
static bool show_config;

static noreturn void out_of_memory(void);

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

/*
 * A standard descriptor the caller left closed (`cmd <&-`, `>&-`, some
 * service managers) would be taken by the next file or socket opened: a
 * download, the bundle, librdkafka's wake-up pipe or a connection to a
 * broker would then be read as the tool's input or receive its output.
 * Each closed one is taken first, the wrong way round (as gnulib's stdopen
 * does): standard input by /dev/full for writing, standard output and
 * error by /dev/null for reading, so that the tool's own reads and writes
 * still fail, as they would have, with EBADF.
 */
static void std_fds_open(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		int got;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* the lower ones are open, so open() returns fd itself */
		got = open(fd == STDIN_FILENO ? "/dev/full" : "/dev/null",
			   fd == STDIN_FILENO ? O_WRONLY : O_RDONLY);
		if (got < 0 && fd == STDIN_FILENO)
			got = open("/dev/null", O_WRONLY);
		if (got != fd)
			_exit(CO_EIO);	/* nowhere to say it, nothing to take its place */
	}
}

struct co_ctx *tool_ctx;

/* A configuration that could not be read: said once the options are. */
static int config_status;
static char *config_error;

struct co_ctx *tool_init(const char *name)
{
	struct co_ctx *ctx;

	std_fds_open();
	program_name = name;
	opterr = 0;	/* tool_common_option() words the complaint */
	atexit(close_stdout);
	ctx = tool_ctx = co_ctx_new();
	if (!ctx)
		out_of_memory();
	/* --help and --version work whatever the configuration holds */
	if ((config_status = co_config_load(ctx)) != CO_OK)
		config_error = xstrdup(co_ctx_error(ctx));
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

	if (config_status != CO_OK)
		die(config_status, "%s", config_error);

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
	      "      --master URL       Spark master, spark://HOST:PORT[,HOST:PORT...] (SC_MASTER)\n"
	      "      --master-ui URL    master web UI (SC_MASTER_UI; default http://MASTERHOST:8080)\n"
	      "      --rest-url URL     REST submission server (SC_REST_URL; default http://MASTERHOST:6066)\n"
	      "      --timeout SECONDS  time allowed for each HTTP request (SC_TIMEOUT; default 10)\n"
	      "      --show-config      print the resolved configuration and exit\n"
	      "  -h, --help             display this help and exit\n"
	      "  -V, --version          output version information and exit\n", out);
}

static noreturn void out_of_memory(void)
{
	die(CO_ESOFTWARE, "out of memory");
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory();
	return p;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		out_of_memory();
	return xrealloc(p, n * size);
}

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		out_of_memory();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory();
	return s;
}

/*
 * Of the n > 0 bytes at s: how many a terminal would take as a control
 * (a C0 byte, DEL, a C1 control in UTF-8, U+0080..U+009F, as U+009B is
 * CSI, or a byte 0x80..0x9F that is not part of a UTF-8 sequence, which a
 * terminal not in UTF-8 takes as one); 0 for text, *text then the length
 * of the character, or of the byte not in a sequence.
 */
static size_t control_length(const unsigned char *s, size_t n, size_t *text)
{
	size_t seq;

	*text = 1;
	if (*s < 0x20 || *s == 0x7f)
		return 1;
	if (*s < 0x80)
		return 0;
	seq = co_utf8_sequence(s, n);
	if (seq == 2 && s[0] == 0xc2 && s[1] <= 0x9f)
		return 2;
	if (seq == 0)
		return *s <= 0x9f ? 1 : 0;
	*text = seq;
	return 0;
}

/*
 * data to fp, controls as '?' (and, for a cell, a tab, newline or CR as a
 * space); the controls in keep (tab, newline), if any, as they are.
 */
static void put_bytes(const unsigned char *p, size_t len, FILE *fp, bool cell, const char *keep)
{
	const unsigned char *end = p + len;

	while (p < end) {
		const unsigned char *q = p;
		size_t c = 0, t;
		bool kept;

		while (q < end && ((kept = keep && *q && strchr(keep, *q)) ||
				   !(c = control_length(q, (size_t)(end - q), &t))))
			q += kept ? 1 : t;
		fwrite(p, 1, (size_t)(q - p), fp);
		if (c) {
			fputc(cell && (*q == '\t' || *q == '\n' || *q == '\r') ? ' ' : '?', fp);
			q += c;
		}
		p = q;
	}
}

/* s (NULL as "") to fp, as put_bytes() puts it. */
static void put_text(const char *s, FILE *fp, bool cell)
{
	s = s ? s : "";
	put_bytes((const unsigned char *)s, strlen(s), fp, cell, NULL);
}

void fwrite_printable(const char *data, size_t len, FILE *fp)
{
	put_bytes((const unsigned char *)data, len, fp, false, "\t");
}

void fwrite_printable_lines(const char *data, size_t len, FILE *fp)
{
	put_bytes((const unsigned char *)data, len, fp, false, "\t\n");
}

/* Whether s holds the start of a UTF-8 sequence that n bytes cut short. */
static bool utf8_cut(const unsigned char *s, size_t n)
{
	size_t need = *s >= 0xc2 && *s <= 0xdf ? 2 : *s >= 0xe0 && *s <= 0xef ? 3
		      : *s >= 0xf0 && *s <= 0xf4 ? 4 : 0;

	if (n >= need)
		return false;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return false;
	return true;
}

size_t printable_piece(const char *data, size_t len, char *out, const char *keep, bool last,
		       size_t *held)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len;
	char *o = out;

	*held = 0;
	while (p < end) {
		size_t c, t;

		if (*p && keep && strchr(keep, *p)) {
			*o++ = (char)*p++;
			continue;
		}
		if (!last && utf8_cut(p, (size_t)(end - p))) {
			*held = (size_t)(end - p);
			break;
		}
		if ((c = control_length(p, (size_t)(end - p), &t))) {
			*o++ = '?';
			p += c;
		} else {
			memcpy(o, p, t);
			o += t;
			p += t;
		}
	}
	return (size_t)(o - out);
}

void master_unreadable_warn(const struct co_master_state *st)
{
	if (st && st->n_unreadable)
		warnmsg("%zu entr%s of the master's status could not be read and %s left out",
			st->n_unreadable, st->n_unreadable == 1 ? "y" : "ies",
			st->n_unreadable == 1 ? "is" : "are");
}

void fputs_printable(const char *s, FILE *fp)
{
	put_text(s, fp, false);
}

void fputs_field(const char *s, FILE *fp)
{
	put_text(s, fp, true);
}

void list_app(const struct co_spark_app *a)
{
	flockfile(stderr);
	fputs("  ", stderr);
	fputs_field(a->id, stderr);
	fputc('\t', stderr);
	fputs_field(a->name ? a->name : "", stderr);
	fputc('\t', stderr);
	fputs_field(a->state ? a->state : "", stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
}

/* put_text into a new string. */
static char *text_copy(const char *s, bool cell)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		out_of_memory();
	put_text(s, fp, cell);
	if (fclose(fp) != 0)
		out_of_memory();
	return text;
}

char *printable(const char *s)
{
	return text_copy(s, false);
}

__attribute__((format(printf, 1, 0)))
/*
 * One line, whole even when another thread writes one too. Messages carry
 * what masters, workers and files name: their control characters are
 * shown as '?', never sent to the terminal.
 */
static void vmsg(const char *fmt, va_list ap)
{
	char *text = NULL;

	flockfile(stderr);
	fprintf(stderr, "%s: ", program_name);
	if (vasprintf(&text, fmt, ap) >= 0) {
		/* "***" may be longer than what it stands for */
		size_t size = 2 * strlen(text) + 8;
		char *masked = malloc(size);

		if (masked)
			co_mask_credentials(text, masked, size);
		fputs_printable(masked ? masked : "(out of memory)", stderr);
		free(masked);
	} else
		fputs(fmt, stderr);	/* out of memory: the message's shape */
	free(text);
	fputc('\n', stderr);
	funlockfile(stderr);
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
	size_t digits = strspn(arg, "0123456789.");
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	/* digits only: strtod would take leading blanks, a sign, an exponent,
	 * hex and "inf" */
	if (errno || end == arg || (size_t)(end - arg) != digits || *end || !isfinite(v) ||
	    v > 7 * 86400)
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
	/* Decimal digits, after a '-' only for a negative number the range
	 * holds (-p -1): strtol alone would take leading blanks and a '+'. */
	const char *d = min < 0 && *arg == '-' ? arg + 1 : arg;
	char *end;
	long v;

	if (!isdigit((unsigned char)*d))
		goto bad;
	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || *end || v < min || v > max || (d != arg && v == 0))
		goto bad;
	return v;
bad:
	usage_error("invalid %s '%s': expected an integer from %ld to %ld", option, arg, min,
		    max);
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

void catch_signals(const int *sigs, size_t n, void (*handler)(int))
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < n; i++)
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

/* ---- files replaced atomically ----------------------------------------- */

struct atomic_file {
	int dirfd;
	int fd;
	char *name;		/* the final name, inside dirfd */
	int slot;		/* in pending[] */
};

/*
 * The temporary files not yet renamed, removed at exit or by a signal
 * handler: fixed storage, so that the handler touches no heap and calls
 * only unlinkat().
 */
#define ATOMIC_PENDING 4
static struct {
	volatile sig_atomic_t used;
	int dirfd;
	char name[NAME_MAX + 1];
} pending[ATOMIC_PENDING];

static void remove_pending(void)
{
	for (int i = 0; i < ATOMIC_PENDING; i++)
		if (pending[i].used)
			unlinkat(pending[i].dirfd, pending[i].name, 0);
}

static void remove_pending_on_signal(int sig)
{
	remove_pending();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void guard_pending(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	static bool guarded;

	if (guarded)
		return;
	guarded = true;
	atexit(remove_pending);
	catch_signals(sigs, sizeof(sigs) / sizeof(sigs[0]), remove_pending_on_signal);
}

/* ".NAME.tmp.XXXXXX" created in dirfd with O_EXCL, as mkstemp(3) would. */
static int create_beside(int dirfd, const char *name, char *tmp, size_t size, int access,
			 mode_t mode)
{
	static const char chars[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned char rnd[6];
		char suffix[7];
		int fd;

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return -1;
		for (size_t i = 0; i < sizeof(rnd); i++)
			suffix[i] = chars[rnd[i] % (sizeof(chars) - 1)];
		suffix[6] = '\0';
		if ((size_t)snprintf(tmp, size, ".%s.tmp.%s", name, suffix) >= size) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(dirfd, tmp, access | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

static struct atomic_file *open_beside(const char *path, bool guard, mode_t mode)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xasprintf("%.*s", (int)(slash - path), path) : xstrdup(".");
	struct atomic_file *af = xcalloc(1, sizeof(*af));
	int err = 0;

	af->name = xstrdup(slash ? slash + 1 : path);
	af->fd = -1;
	af->slot = -1;
	af->dirfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	for (int i = 0; af->dirfd >= 0 && i < ATOMIC_PENDING && af->slot < 0; i++)
		if (!pending[i].used)
			af->slot = i;
	if (af->dirfd < 0 || !*af->name) {
		err = af->dirfd < 0 ? errno : EISDIR;
	} else if (af->slot < 0) {
		err = EMFILE;
	} else {
		if (guard)
			guard_pending();
		af->fd = create_beside(af->dirfd, af->name, pending[af->slot].name,
				       sizeof(pending[af->slot].name), O_WRONLY, mode);
		err = errno;
	}
	if (af->fd < 0) {
		atomic_file_abort(af);
		errno = err;
		return NULL;
	}
	pending[af->slot].dirfd = af->dirfd;
	pending[af->slot].used = 1;
	return af;
}

struct atomic_file *atomic_file_open(const char *path, mode_t mode)
{
	return open_beside(path, true, mode);
}

int atomic_file_fd(const struct atomic_file *af)
{
	return af->fd;
}

int atomic_file_scratch(const struct atomic_file *af)
{
	char tmp[NAME_MAX + 1];
	int fd = openat(af->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* a file system without O_TMPFILE: a name, at once removed, the owner's only */
	fd = create_beside(af->dirfd, af->name, tmp, sizeof(tmp), O_RDWR, 0600);
	if (fd >= 0)
		unlinkat(af->dirfd, tmp, 0);
	return fd;
}

void atomic_file_abort(struct atomic_file *af)
{
	if (!af)
		return;
	if (af->slot >= 0 && pending[af->slot].used) {
		unlinkat(af->dirfd, pending[af->slot].name, 0);
		pending[af->slot].used = 0;
	}
	if (af->fd >= 0)
		close(af->fd);
	if (af->dirfd >= 0)
		close(af->dirfd);
	free(af->name);
	free(af);
}

int atomic_file_commit(struct atomic_file *af)
{
	int err = 0;

	if (fsync(af->fd) != 0 || close(af->fd) != 0)
		err = errno;
	af->fd = -1;
	if (!err && renameat(af->dirfd, pending[af->slot].name, af->dirfd, af->name) != 0)
		err = errno;
	if (!err) {
		pending[af->slot].used = 0;
		/* the rename itself is on disk only once the directory is */
		if (fsync(af->dirfd) != 0 && errno != EINVAL)
			err = errno;
	}
	atomic_file_abort(af);
	return err;
}

int atomic_write(const char *path, const void *data, size_t len)
{
	/* written in a moment: the caller's signal handling is left alone */
	struct atomic_file *af = open_beside(path, false, 0666);
	const char *p = data;

	if (!af)
		return errno;
	while (len > 0) {
		ssize_t n = write(af->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			atomic_file_abort(af);
			return err;
		}
		p += n;
		len -= (size_t)n;
	}
	return atomic_file_commit(af);
}

static int atomic_status(int err, bool writing)
{
	if (err == EACCES || err == EPERM)
		return CO_ENOPERM;
	return writing || err == EIO || err == ENOSPC || err == EDQUOT ? CO_EIO : CO_ECANTCREAT;
}

struct atomic_file *atomic_file_open_or_die(const char *path, mode_t mode)
{
	struct atomic_file *af = atomic_file_open(path, mode);

	if (!af)
		die(atomic_status(errno, false), "%s: %s", path, strerror(errno));
	return af;
}

void atomic_file_commit_or_die(struct atomic_file *af, const char *path)
{
	int err = atomic_file_commit(af);

	if (err)
		die(atomic_status(err, false), "%s: %s", path, strerror(err));
}

void atomic_write_or_die(const char *path, const void *data, size_t len)
{
	int err = atomic_write(path, data, len);

	if (err)
		die(atomic_status(err, false), "%s: %s", path, strerror(err));
}

/* ---- lines ------------------------------------------------------------ */

static void partial_add(struct line_buffer *lb, const char *data, size_t n)
{
	lb->partial = xrealloc(lb->partial, lb->len + n + 1);
	memcpy(lb->partial + lb->len, data, n);
	lb->len += n;
	if (lb->held)
		*lb->held += n;
}

void line_buffer_feed(struct line_buffer *lb, const char *data, size_t len, line_fn *fn,
		      void *arg)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (!nl) {	/* keep it, up to max */
			partial_add(lb, data, n);
			if ((lb->max && lb->len > lb->max) ||
			    (lb->held && *lb->held > lb->held_max))
				line_buffer_flush(lb, fn, arg);
			return;
		}
		if (lb->len) {
			partial_add(lb, data, n);
			line_buffer_flush(lb, fn, arg);
		} else {
			fn(arg, data, n);
		}
		data += n + 1;
		len -= n + 1;
	}
}

void line_buffer_flush(struct line_buffer *lb, line_fn *fn, void *arg)
{
	if (lb->len)
		fn(arg, lb->partial, lb->len);
	if (lb->held)
		*lb->held -= lb->len;
	/* a long line's room is not kept for the next */
	if (lb->len > 4096) {
		free(lb->partial);
		lb->partial = NULL;
	}
	lb->len = 0;
}

void line_buffer_clear(struct line_buffer *lb)
{
	if (lb->held)
		*lb->held -= lb->len;
	free(lb->partial);
	lb->partial = NULL;
	lb->len = 0;
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

bool stdout_reader_gone(void)
{
	static int piped = -1;
	struct pollfd out = { .fd = STDOUT_FILENO, .events = 0 };
	struct stat st;

	if (piped < 0)
		piped = fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) ||
							   S_ISSOCK(st.st_mode));
	if (!piped || poll(&out, 1, 0) != 1 || !(out.revents & POLLERR))
		return false;
	raise(SIGPIPE);
	if (fflush(stdout) == 0)	/* else the check at exit says it */
		warnmsg("write error: %s", strerror(EPIPE));
	return true;
}

void sleep_within(double s, double deadline)
{
	double left = deadline - monotonic_now();

	sleep_seconds(s < left ? s : left);
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
	FILE *tsv;		/* rows printed as added, none kept */
};

struct table *table_new(size_t ncols, const char *const *headers)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	table_add(t, headers);
	return t;
}

struct table *table_new_tsv(size_t ncols, FILE *out)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->ncols = ncols;
	t->tsv = out;
	return t;
}

/*
 * A cell as printed: "-" when empty; a tab, newline or CR (which would
 * break a TSV row) as a space, any other control character as '?'.
 */
static void put_cell(const char *s, FILE *fp)
{
	fputs_field(s && *s ? s : "-", fp);
}

static char *cell_text(const char *s)
{
	return text_copy(s && *s ? s : "-", true);
}

void table_add(struct table *t, const char *const *cells)
{
	if (t->tsv) {
		for (size_t c = 0; c < t->ncols; c++) {
			put_cell(cells[c], t->tsv);
			fputc(c + 1 < t->ncols ? '\t' : '\n', t->tsv);
		}
		return;
	}
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;

		t->cells = xreallocarray(t->cells, cap * t->ncols, sizeof(*t->cells));
		t->cap = cap;
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = cell_text(cells[c]);
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

json_t *json_string_lossy(const char *text, size_t len)
{
	size_t n;
	char *clean = co_utf8_replace_invalid(text, len, &n);
	json_t *j = clean ? json_stringn(clean, n) : NULL;

	if (!j)
		out_of_memory();
	free(clean);
	return j;
}

json_t *json_text_lossy(const char *text)
{
	return text ? json_string_lossy(text, strlen(text)) : NULL;
}

void json_line(json_t *obj)
{
	static int terminal = -1;

	if (!obj)
		out_of_memory();
	if (terminal < 0)
		terminal = isatty(STDOUT_FILENO);
	/* jansson escapes only U+0000-U+001F: on a terminal everything past
	 * ASCII is escaped too, so that a name's C1 controls (U+009B, CSI)
	 * reach it as text; in a pipe the value is kept as it is. */
	if (json_dumpf(obj, stdout, JSON_COMPACT | (terminal ? JSON_ENSURE_ASCII : 0)) == 0)
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
		snprintf(buf, 32, "%" PRId64 "h%02dm%02ds", s / 3600, (int)(s / 60 % 60),
			 (int)(s % 60));
	return buf;
}
