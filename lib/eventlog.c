/* SPDX-License-Identifier: MIT */
/*
 * Spark's event-log names, and the events dir read and changed through a
 * directory descriptor only: no path is ever resolved from the outside, no
 * symbolic link is followed.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define ROLLING_PREFIX "eventlog_v2_"
#define INPROGRESS ".inprogress"
#define HIDDEN_PREFIX ".sc-prune."

static const char *const codecs[] = { "lz4", "lzf", "snappy", "zstd" };

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Length of a run of digits at s. */
static size_t digits(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && isdigit((unsigned char)s[n]))
		n++;
	return n;
}

/* Length of an application id at the start of s, 0 if none. */
static size_t app_id_length(const char *s, size_t len)
{
	static const struct { const char *prefix; char sep; } forms[] = {
		{ "app-", '-' },		/* standalone: app-20261125120000-0001 */
		{ "application_", '_' },	/* YARN: application_1700000000000_0001 */
		{ "local-", 0 },		/* local mode: local-1700000000000 */
		{ "spark-application-", 0 },	/* Kubernetes, older */
	};
	size_t hex = 0;

	/* Kubernetes: spark-<32 hex digits> */
	if (len > 6 && memcmp(s, "spark-", 6) == 0) {
		while (6 + hex < len && isxdigit((unsigned char)s[6 + hex]))
			hex++;
		if (hex == 32 && (6 + hex == len || s[6 + hex] == '_'))
			return 6 + hex;
	}

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t p = strlen(forms[i].prefix), a, b;

		if (len <= p || memcmp(s, forms[i].prefix, p) != 0)
			continue;
		a = digits(s + p, len - p);
		if (a == 0)
			return 0;
		if (!forms[i].sep)
			return p + a;
		if (p + a >= len || s[p + a] != forms[i].sep)
			return 0;
		b = digits(s + p + a + 1, len - p - a - 1);
		return b ? p + a + 1 + b : 0;
	}
	return 0;
}

/* "<appId>[_<attempt>]", the whole of s[0..len). */
static int parse_app_attempt(const char *s, size_t len, struct co_eventlog_name *out)
{
	size_t n = app_id_length(s, len);

	if (n == 0 || n >= sizeof(out->app_id))
		return CO_EDATA;
	memcpy(out->app_id, s, n);
	out->app_id[n] = '\0';
	if (n == len)
		return CO_OK;
	if (s[n] != '_' || len - n - 1 == 0 || len - n - 1 >= sizeof(out->attempt))
		return CO_EDATA;
	for (size_t i = n + 1; i < len; i++)
		if (!isalnum((unsigned char)s[i]))
			return CO_EDATA;
	memcpy(out->attempt, s + n + 1, len - n - 1);
	out->attempt[len - n - 1] = '\0';
	return CO_OK;
}

/* Strip a ".<codec>" suffix into out->codec. */
static size_t strip_codec(const char *s, size_t len, struct co_eventlog_name *out)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
		size_t n = strlen(codecs[i]);

		if (len > n + 1 && s[len - n - 1] == '.' && has_suffix(s, len, codecs[i])) {
			strcpy(out->codec, codecs[i]);
			return len - n - 1;
		}
	}
	return len;
}

CO_API int co_eventlog_parse_name(const char *name, struct co_eventlog_name *out)
{
	size_t len = strlen(name);

	memset(out, 0, sizeof(*out));
	if (strncmp(name, ROLLING_PREFIX, strlen(ROLLING_PREFIX)) == 0) {
		out->rolling = true;
		return parse_app_attempt(name + strlen(ROLLING_PREFIX),
					 len - strlen(ROLLING_PREFIX), out);
	}
	if (has_suffix(name, len, INPROGRESS)) {
		out->in_progress = true;
		len -= strlen(INPROGRESS);
	}
	len = strip_codec(name, len, out);
	return parse_app_attempt(name, len, out);
}

/* A time past what milliseconds hold (tmpfs takes any 64-bit second) is held at the edge. */
int64_t co_mtime_ms(const struct stat *sb)
{
	const int64_t edge = INT64_MAX / 1000 - 1;
	int64_t s = (int64_t)sb->st_mtim.tv_sec;

	if (s > edge || s < -edge)
		return (s > 0 ? edge : -edge) * 1000;
	return s * 1000 + sb->st_mtim.tv_nsec / 1000000;
}

/*
 * Does name belong in the rolling dir of app[_attempt] (suffix)? Spark
 * writes appstatus_<suffix>[.inprogress], events_<N>_<suffix>[.<codec>]
 * [.compact], and Hadoop's local file system hidden .<file>.crc checksums.
 */
static bool rolling_member(const char *name, const char *suffix, bool *appstatus,
			   bool *in_progress)
{
	size_t len = strlen(name), slen = strlen(suffix), n;
	struct co_eventlog_name dummy;

	if (name[0] == '.')
		return has_suffix(name, len, ".crc");
	if (strncmp(name, "appstatus_", 10) == 0) {
		len -= 10;
		name += 10;
		*in_progress = has_suffix(name, len, INPROGRESS);
		if (*in_progress)
			len -= strlen(INPROGRESS);
		*appstatus = true;
		return len == slen && memcmp(name, suffix, slen) == 0;
	}
	if (strncmp(name, "events_", 7) != 0)
		return false;
	name += 7;
	len -= 7;
	n = digits(name, len);
	if (n == 0 || n >= len || name[n] != '_')
		return false;
	name += n + 1;
	len -= n + 1;
	if (has_suffix(name, len, ".compact"))
		len -= strlen(".compact");
	memset(&dummy, 0, sizeof(dummy));
	len = strip_codec(name, len, &dummy);
	return len == slen && memcmp(name, suffix, slen) == 0;
}


/* Remember one of a rolling log's files; -1 when out of memory. */
static int add_file(struct co_eventlog *log, const char *name)
{
	char **p = co_grow(log->files, log->n_files, sizeof(*p));

	if (!p)
		return -1;
	log->files = p;
	if (!(p[log->n_files] = strdup(name)))
		return -1;
	log->n_files++;
	return 0;
}

static void free_files(struct co_eventlog *log)
{
	for (size_t i = 0; i < log->n_files; i++)
		free(log->files[i]);
	free(log->files);
	log->files = NULL;
	log->n_files = 0;
}

/*
 * Size, age and progress of a rolling dir, and its files. Its age is that
 * of the newest of the dir itself (a file made or renamed in it) and its
 * files (appended to), so a dir that is still empty is as old as its
 * making, not as the epoch.
 * *why is set (and CO_OK returned) when the dir holds something that is not
 * its own, so it must be skipped.
 */
static int scan_rolling(int events_fd, const struct stat *dir_sb, struct co_eventlog *log,
			const char **why)
{
	const char *suffix = log->name + strlen(ROLLING_PREFIX);
	bool appstatus = false, any_progress = false;
	struct dirent *e;
	DIR *d;
	int fd;

	*why = NULL;
	log->mtime_ms = co_mtime_ms(dir_sb);
	/* One unreadable dir is reported and skipped; it does not stop the scan. */
	fd = openat(events_fd, log->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		*why = errno == EACCES ? "rolling log dir cannot be read: permission denied"
			: "rolling log dir cannot be read";
		if (fd >= 0)
			close(fd);
		return CO_OK;
	}
	while ((e = readdir(d))) {
		bool status = false, progress = false;
		struct stat sb;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;	/* gone meanwhile */
		if (!S_ISREG(sb.st_mode) || !rolling_member(e->d_name, suffix, &status, &progress)) {
			*why = S_ISREG(sb.st_mode) ? "rolling log dir holds an unexpected file"
				: "rolling log dir holds something that is not a file";
			break;
		}
		if (status) {
			appstatus = true;
			any_progress |= progress;
		}
		if (e->d_name[0] != '.' && add_file(log, e->d_name) != 0) {
			closedir(d);
			return CO_ESOFTWARE;
		}
		log->bytes = co_size_add(log->bytes, sb.st_size);
		if (co_mtime_ms(&sb) > log->mtime_ms)
			log->mtime_ms = co_mtime_ms(&sb);
	}
	closedir(d);
	/*
	 * Spark makes the dir, then its appstatus file: a log being started.
	 * An in-progress appstatus file beside a final one (put there by
	 * someone else) leaves it in progress, whatever the directory's order.
	 */
	log->id.in_progress = log->id.in_progress || !appstatus || any_progress;
	return CO_OK;
}

void *co_grow(void *array, size_t n, size_t size)
{
	if (n == 0)
		return realloc(array, 16 * size);
	if (n < 16 || (n & (n - 1)) != 0)
		return array;
	return realloc(array, 2 * n * size);
}

int co_skip_add(struct co_ctx *ctx, struct co_eventlog_skip **skipped, size_t *n,
		const char *name, const char *reason)
{
	struct co_eventlog_skip *p = co_grow(*skipped, *n, sizeof(*p));

	if (!p)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	*skipped = p;
	p[*n].name = strdup(name);
	p[*n].reason = strdup(reason);
	if (!p[*n].name || !p[*n].reason) {
		free(p[*n].name);
		free(p[*n].reason);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	(*n)++;
	return CO_OK;
}

void co_skips_free(struct co_eventlog_skip *skipped, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(skipped[i].name);
		free(skipped[i].reason);
	}
	free(skipped);
}

/*
 * Hadoop's ".<log>.crc" names beside single-file logs, read in a first pass
 * over the names alone (no stat), sorted, so that each log finds its own
 * however the directory orders them. Their number bounds the memory.
 */
struct crcs {
	char **names;
	size_t n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void crcs_free(struct crcs *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->names[i]);
	free(c->names);
}

static int note_crc(struct co_ctx *ctx, struct crcs *c, const char *name)
{
	char **p = co_grow(c->names, c->n, sizeof(*p));

	if (!p || !(p[c->n] = strdup(name))) {
		if (p)
			c->names = p;
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	c->names = p;
	c->n++;
	return CO_OK;
}

static int finish_removal(struct co_ctx *ctx, int dirfd, const char *name);

struct first_pass {
	int dirfd;
	struct crcs *crcs;
	bool finish;		/* CO_EVENTLOG_FINISH_REMOVALS */
	co_skip_fn *skip;
	void *arg;
};

/* Hidden names: the checksums, and the removals an interrupted run left. */
static int first_pass_one(struct co_ctx *ctx, const char *name, unsigned char d_type, void *arg)
{
	const struct first_pass *fp = arg;

	(void)d_type;
	if (name[0] != '.')
		return CO_OK;
	if (has_suffix(name, strlen(name), ".crc"))
		return note_crc(ctx, fp->crcs, name);
	if (fp->finish && strncmp(name, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)) == 0 &&
	    finish_removal(ctx, fp->dirfd, name) != CO_OK) {
		char why[1100];

		snprintf(why, sizeof(why), "interrupted removal not finished: %s",
			 co_ctx_error(ctx));
		return fp->skip(ctx, name, why, fp->arg);
	}
	return CO_OK;
}

static int first_pass(struct co_ctx *ctx, int dirfd, unsigned flags, struct crcs *c,
		      co_skip_fn *skip, void *arg)
{
	struct first_pass fp = { .dirfd = dirfd, .crcs = c, .skip = skip, .arg = arg,
				 .finish = flags & CO_EVENTLOG_FINISH_REMOVALS };
	int rc = co_dir_each(ctx, dirfd, "events dir", first_pass_one, &fp);

	if (rc == CO_OK && c->n)
		qsort(c->names, c->n, sizeof(*c->names), cmp_str);
	return rc;
}

/* A single-file log's checksum, when the first pass saw one and it is a file. */
static void attach_checksum(int dirfd, const struct crcs *c, struct co_eventlog *log,
			    char *buf, size_t len)
{
	struct stat sb;
	char *key = buf;

	if (c->n == 0 || (size_t)snprintf(buf, len, ".%s.crc", log->name) >= len)
		return;
	if (bsearch(&key, c->names, c->n, sizeof(*c->names), cmp_str) &&
	    fstatat(dirfd, buf, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode)) {
		log->crc_name = buf;
		log->bytes = co_size_add(log->bytes, sb.st_size);
	}
}

struct each {
	int dirfd;
	const struct crcs *crcs;
	co_eventlog_fn *fn;
	co_skip_fn *skip;
	void *arg;
};

/*
 * Consider one entry of the events dir. The entry's type from the
 * directory (d_type, DT_UNKNOWN when the file system does not say) lets a
 * link or a name that is not a log's be skipped without a stat; every log
 * is stat'ed, without following a link, and judged by what that says.
 */
static int scan_entry(struct co_ctx *ctx, const struct each *ea, const char *name,
		      unsigned char d_type)
{
	struct co_eventlog log = { 0 };
	char crc[NAME_MAX + 8];
	const char *why = NULL;
	struct stat sb;
	int rc;

	if (d_type == DT_LNK)
		return ea->skip(ctx, name, "symbolic link, not followed", ea->arg);
	if (d_type != DT_UNKNOWN && co_eventlog_parse_name(name, &log.id) != CO_OK)
		return ea->skip(ctx, name, "not an event log", ea->arg);
	if (d_type != DT_UNKNOWN && (log.id.rolling ? d_type != DT_DIR : d_type != DT_REG))
		return ea->skip(ctx, name, log.id.rolling ? "not a directory" : "not a file",
				ea->arg);
	if (fstatat(ea->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return CO_OK;	/* removed meanwhile */
	if (S_ISLNK(sb.st_mode))
		return ea->skip(ctx, name, "symbolic link, not followed", ea->arg);
	/* the name was parsed above when d_type was known */
	if (d_type == DT_UNKNOWN && co_eventlog_parse_name(name, &log.id) != CO_OK)
		return ea->skip(ctx, name, "not an event log", ea->arg);
	if (log.id.rolling ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))
		return ea->skip(ctx, name, log.id.rolling ? "not a directory" : "not a file",
				ea->arg);
	log.name = (char *)name;
	if (log.id.rolling) {
		log.name = strdup(name);	/* scan_rolling reads a dir meanwhile */
		if (!log.name)
			return co_err(ctx, CO_ESOFTWARE, "out of memory");
		rc = scan_rolling(ea->dirfd, &sb, &log, &why);
		if (rc)
			rc = co_err(ctx, rc, "out of memory");
		else if (why)
			rc = ea->skip(ctx, name, why, ea->arg);
		else
			rc = ea->fn(ctx, &log, ea->arg);
		free(log.name);
		free_files(&log);
		return rc;
	}
	log.bytes = sb.st_size;
	log.mtime_ms = co_mtime_ms(&sb);
	attach_checksum(ea->dirfd, ea->crcs, &log, crc, sizeof(crc));
	return ea->fn(ctx, &log, ea->arg);
}

/* Each name of the events dir but the hidden ones: ".", "..", checksums, ours. */
static int each_entry(struct co_ctx *ctx, const char *name, unsigned char d_type, void *arg)
{
	return name[0] == '.' ? CO_OK : scan_entry(ctx, arg, name, d_type);
}

CO_API int co_eventlog_dir_each(struct co_ctx *ctx, int dirfd, unsigned flags,
				co_eventlog_fn *fn, co_skip_fn *skip, void *arg)
{
	struct crcs crcs = { 0 };
	struct each ea = { .dirfd = dirfd, .crcs = &crcs, .fn = fn, .skip = skip, .arg = arg };
	int rc = first_pass(ctx, dirfd, flags, &crcs, skip, arg);

	if (rc == CO_OK)
		rc = co_dir_each(ctx, dirfd, "events dir", each_entry, &ea);
	crcs_free(&crcs);
	return rc;
}

static int add_skip(struct co_ctx *ctx, const char *name, const char *reason, void *arg)
{
	struct co_eventlog_dir *dir = arg;

	return co_skip_add(ctx, &dir->skipped, &dir->n_skipped, name, reason);
}

/* Keep a copy of one log the scan found. */
static int add_log(struct co_ctx *ctx, const struct co_eventlog *found, void *arg)
{
	struct co_eventlog_dir *dir = arg;
	struct co_eventlog *p = co_grow(dir->logs, dir->n_logs, sizeof(*p)), *log;

	if (!p)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	dir->logs = p;
	log = &p[dir->n_logs];
	*log = *found;
	log->dir_order = dir->n_logs;
	log->name = strdup(found->name);
	log->crc_name = found->crc_name ? strdup(found->crc_name) : NULL;
	log->files = NULL;
	log->n_files = 0;
	if (!log->name || (found->crc_name && !log->crc_name))
		goto oom;
	for (size_t i = 0; i < found->n_files; i++)
		if (add_file(log, found->files[i]) != 0)
			goto oom;
	dir->n_logs++;
	return CO_OK;
oom:
	free(log->name);
	free(log->crc_name);
	free_files(log);
	return co_err(ctx, CO_ESOFTWARE, "out of memory");
}

static int newest_first(const void *a, const void *b)
{
	const struct co_eventlog *x = a, *y = b;

	if (x->mtime_ms != y->mtime_ms)
		return x->mtime_ms > y->mtime_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * The entries of a directory are read in batches and each batch is visited
 * in inode order, as GNU find's fts does for big directories: on ext4 the
 * names come in hash order, and stat and unlink in that order touch the
 * inode table at random. A batch holds at most co_dir_batch entries and 40
 * bytes of names an entry, so memory stays flat however big the dir (7 MiB
 * at most, touched only as far as the dir fills it). The batch is about as
 * big as fts's (100,000): side by side on ext4, removing 100,000 logs took
 * 1.4-1.8 s in batches of 4,096 and 1.2-1.4 s in batches of 131,072, and
 * 1,000,000 logs 14.6-15.3 s and 13.4-14.2 s (bench/prune's ratios to
 * find are in the README).
 */
size_t co_dir_batch = 131072;

struct dir_batch {
	struct dir_entry {
		ino_t ino;
		uint32_t name;		/* offset in names */
		unsigned char type;
	} *entries;
	size_t n;
	char *names;
	size_t used;
};

static int by_inode(const void *a, const void *b)
{
	const struct dir_entry *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

int co_dir_each(struct co_ctx *ctx, int dirfd, const char *what,
		int (*fn)(struct co_ctx *ctx, const char *name, unsigned char d_type, void *arg),
		void *arg)
{
	struct dir_batch b = { 0 };
	/* a batch always has room for one more name: it makes progress */
	size_t batch = co_dir_batch ? co_dir_batch : 1, arena = batch * 40 + NAME_MAX + 1;
	struct dirent *e;
	bool more = true;
	DIR *d;
	int rc = CO_OK;
	/* A DIR stream owns its fd: give it a duplicate so dirfd stays ours. */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = co_err(ctx, errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", what,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	b.entries = malloc(batch * sizeof(*b.entries));
	b.names = malloc(arena);
	if (!b.entries || !b.names)
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
	while (rc == CO_OK && more) {
		b.n = b.used = 0;
		while (b.n < batch && b.used + NAME_MAX + 1 <= arena) {
			size_t len;

			errno = 0;
			if (!(e = readdir(d))) {
				if (errno)
					rc = co_err(ctx, CO_EIO, "%s: %s", what, strerror(errno));
				more = false;
				break;
			}
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			len = strlen(e->d_name) + 1;
			memcpy(b.names + b.used, e->d_name, len);
			b.entries[b.n++] = (struct dir_entry){ .ino = e->d_ino,
							       .name = (uint32_t)b.used,
							       .type = e->d_type };
			b.used += len;
		}
		qsort(b.entries, b.n, sizeof(*b.entries), by_inode);
		for (size_t i = 0; rc == CO_OK && i < b.n; i++)
			rc = fn(ctx, b.names + b.entries[i].name, b.entries[i].type, arg);
	}
	free(b.entries);
	free(b.names);
	closedir(d);
	return rc;
}

CO_API int co_eventlog_dir_scan(struct co_ctx *ctx, int dirfd, struct co_eventlog_dir **out)
{
	struct co_eventlog_dir *dir = calloc(1, sizeof(*dir));
	int rc;

	*out = NULL;
	if (!dir)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = co_eventlog_dir_each(ctx, dirfd, 0, add_log, add_skip, dir);
	if (rc == CO_OK) {
		if (dir->n_logs)
			qsort(dir->logs, dir->n_logs, sizeof(*dir->logs), newest_first);
		*out = dir;
		dir = NULL;
	}
	co_eventlog_dir_free(dir);
	return rc;
}

CO_API void co_eventlog_dir_free(struct co_eventlog_dir *dir)
{
	if (!dir)
		return;
	for (size_t i = 0; i < dir->n_logs; i++) {
		free(dir->logs[i].name);
		free(dir->logs[i].crc_name);
		free_files(&dir->logs[i]);
	}
	co_skips_free(dir->skipped, dir->n_skipped);
	free(dir->logs);
	free(dir);
}

/*
 * A dir renamed out of sight is marked as ours by a file created with
 * O_EXCL inside it, holding the dir's device and inode: a leftover of an
 * interrupted run is emptied only when that file is there, a regular file
 * of our user with one link, naming the very dir it is in. A planted
 * ".sc-prune.*" dir, or a rolling dir of someone's copied elsewhere, is
 * never emptied. A scanned rolling dir cannot already hold the marker: it
 * is not one of a rolling log's files.
 */
#define OWNER_MARKER ".sc-prune-owner"

static void owner_text(const struct stat *dir_sb, char *buf, size_t len)
{
	snprintf(buf, len, "sc-events-prune %ju:%ju:%ju\n", (uintmax_t)dir_sb->st_dev,
		 (uintmax_t)dir_sb->st_ino, (uintmax_t)geteuid());
}

static int mark_ours(int fd)
{
	char text[128];
	struct stat sb;
	ssize_t len;
	int mfd;

	if (fstat(fd, &sb) != 0)
		return errno;
	mfd = openat(fd, OWNER_MARKER, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	if (mfd < 0)
		return errno;
	owner_text(&sb, text, sizeof(text));
	len = (ssize_t)strlen(text);
	if (write(mfd, text, (size_t)len) != len) {
		int err = errno ? errno : EIO;

		close(mfd);
		unlinkat(fd, OWNER_MARKER, 0);
		return err;
	}
	return close(mfd) == 0 ? 0 : errno;
}

static bool marked_ours(int fd)
{
	char want[128], got[128];
	struct stat dir_sb, sb;
	ssize_t n;
	int mfd;

	if (fstat(fd, &dir_sb) != 0)
		return false;
	mfd = openat(fd, OWNER_MARKER, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (mfd < 0)
		return false;
	n = fstat(mfd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
	    sb.st_nlink == 1 ? read(mfd, got, sizeof(got) - 1) : -1;
	close(mfd);
	if (n < 0)
		return false;
	got[n] = '\0';
	owner_text(&dir_sb, want, sizeof(want));
	return strcmp(got, want) == 0;
}

/*
 * Empty and remove a hidden dir of ours, open as fd (which this closes);
 * its entries were checked when seen, or it is a marked leftover.
 */
static int remove_hidden_dir(struct co_ctx *ctx, int events_fd, int fd, const char *hidden,
			     const char *shown)
{
	struct dirent *e;
	int rc = CO_OK;
	DIR *d;

	if (!(d = fdopendir(fd))) {
		close(fd);
		return co_err(ctx, CO_EIO, "%s: %s", shown, strerror(errno));
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, OWNER_MARKER) == 0)
			continue;
		/* flags 0: a directory in here fails with EISDIR, it is not followed */
		if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
			rc = co_err(ctx, errno == EACCES || errno == EPERM ? CO_ENOPERM : CO_EIO,
				    "%s/%s: %s", shown, e->d_name, strerror(errno));
			break;
		}
	}
	/* the marker goes last: a run interrupted before this finds it again */
	if (rc == CO_OK && unlinkat(dirfd(d), OWNER_MARKER, 0) != 0 && errno != ENOENT)
		rc = co_err(ctx, CO_EIO, "%s/%s: %s", shown, OWNER_MARKER, strerror(errno));
	closedir(d);
	/* ENOENT: a run without the lock finished it first */
	if (rc == CO_OK && unlinkat(events_fd, hidden, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = co_err(ctx, CO_EIO, "%s: %s", shown, strerror(errno));
	return rc;
}

/*
 * The scan saw only the log's own files, but that was before the rename:
 * look again at what the renamed dir, open as fd, holds now. Only regular
 * files named as members of the rolling log, of the dir's owner, besides
 * our marker; anything else (a link, a dir, a FIFO, a stranger's file) and
 * the dir is not emptied. Returns 0 or an errno value.
 */
static int still_only_members(int fd, const char *log_name)
{
	const char *suffix = log_name + strlen(ROLLING_PREFIX);
	struct stat dir_sb, sb;
	struct dirent *e;
	int err = 0, dup_fd;
	DIR *d;

	if (fstat(fd, &dir_sb) != 0)
		return errno;
	dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		err = errno;
		if (dup_fd >= 0)
			close(dup_fd);
		return err;
	}
	while (!err && (e = readdir(d))) {
		bool status, progress;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, OWNER_MARKER) == 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			err = errno == ENOENT ? 0 : errno;
		else if (!S_ISREG(sb.st_mode) || sb.st_uid != dir_sb.st_uid ||
			 !rolling_member(e->d_name, suffix, &status, &progress))
			err = EEXIST;
	}
	closedir(d);
	return err;
}

CO_API int co_eventlog_remove(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log)
{
	uint64_t nonce;
	char *hidden;
	int rc;

	if (!log->id.rolling) {
		/* ENOENT: Spark renamed or someone removed it meanwhile; it is gone. */
		if (unlinkat(dirfd, log->name, 0) != 0 && errno != ENOENT)
			return co_err(ctx, errno == EACCES || errno == EPERM ? CO_ENOPERM : CO_EIO,
				      "%s: %s", log->name, strerror(errno));
		if (log->crc_name)
			unlinkat(dirfd, log->crc_name, 0);	/* a checksum alone is harmless */
		return CO_OK;
	}
	/*
	 * A name nobody can take first: anyone who can write the events dir
	 * could otherwise plant ".sc-prune.<name>" to make this rename fail
	 * for ever.
	 */
	if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		nonce = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) ^ (uintptr_t)&nonce;
	if (asprintf(&hidden, HIDDEN_PREFIX "%s.%016" PRIx64, log->name, nonce) < 0)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	/* The one step that makes the log disappear, atomically. */
	if (renameat(dirfd, log->name, dirfd, hidden) != 0) {
		if (errno == ENOENT) {
			free(hidden);
			return CO_OK;
		}
		rc = co_err(ctx, errno == EACCES || errno == EPERM ? CO_ENOPERM : CO_EIO,
			    "%s: %s", log->name, strerror(errno));
	} else {
		int fd = openat(dirfd, hidden, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = fd < 0 ? errno : mark_ours(fd);
		bool marked = fd >= 0 && !err;

		if (!err)
			err = still_only_members(fd, log->name);
		if (err) {
			/* not provably ours later: put it back rather than leave it hidden */
			if (marked)
				unlinkat(fd, OWNER_MARKER, 0);
			if (fd >= 0)
				close(fd);
			renameat(dirfd, hidden, dirfd, log->name);
			if (err == EEXIST)
				rc = co_err(ctx, CO_EFAIL, "%s: holds something that is not its own "
					    "since it was scanned: not removed", log->name);
			else
				rc = co_err(ctx, err == EACCES || err == EPERM ? CO_ENOPERM
					    : CO_EIO, "%s: %s", log->name, strerror(err));
		} else {
			rc = remove_hidden_dir(ctx, dirfd, fd, hidden, log->name);
		}
	}
	free(hidden);
	return rc;
}

/*
 * One hidden ".sc-prune.*" entry: emptied and removed when it is a dir
 * marked as ours, else never touched (CO_OK).
 */
static int finish_removal(struct co_ctx *ctx, int dirfd, const char *name)
{
	struct stat sb;
	int sub;

	if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(sb.st_mode))
		return CO_OK;
	sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return CO_OK;
	if (!marked_ours(sub)) {
		close(sub);	/* not a leftover of ours: never touched */
		return CO_OK;
	}
	return remove_hidden_dir(ctx, dirfd, sub, name, name);
}

CO_API int co_eventlog_remove_leftovers(struct co_ctx *ctx, int dirfd)
{
	struct dirent *e;
	int fd, rc = CO_OK;
	DIR *d;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return co_err(ctx, CO_EIO, "events dir: %s", strerror(errno));
	}
	/* Keep going past one that fails; report the last failure. */
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, HIDDEN_PREFIX, strlen(HIDDEN_PREFIX)) == 0 &&
		    finish_removal(ctx, dirfd, e->d_name) != CO_OK)
			rc = CO_EIO;
	}
	closedir(d);
	return rc;
}

CO_API const char *co_events_dir_path(struct co_ctx *ctx, const char *setting)
{
	if (strncmp(setting, "file:///", 8) == 0)
		return setting + 7;
	if (strncmp(setting, "file://localhost/", 17) == 0)
		return setting + 16;
	if (strncmp(setting, "file:/", 6) == 0 && setting[6] != '/')
		return setting + 5;
	if (strstr(setting, "://") || strncmp(setting, "file:", 5) == 0) {
		co_err(ctx, CO_EUSAGE, "%s: not a local directory (a path or a file:// URL)",
		       setting);
		return NULL;
	}
	return setting;
}

static bool is_file_of(const struct co_eventlog *log, const char *file)
{
	for (size_t i = 0; i < log->n_files; i++)
		if (strcmp(log->files[i], file) == 0)
			return true;
	return false;
}

CO_API int co_eventlog_open_file(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log,
				 const char *file, int *fd)
{
	int sub = dirfd, err;
	struct stat sb;

	*fd = -1;
	if (log->id.rolling != (file != NULL) || (file && !is_file_of(log, file)))
		return co_err(ctx, CO_ESOFTWARE, "%s%s%s: not a file of this log", log->name,
			      file ? "/" : "", file ? file : "");
	if (file)
		sub = openat(dirfd, log->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/*
	 * The scan saw a regular file, but it may have been swapped since:
	 * O_NONBLOCK so that a FIFO in its place cannot hang, O_NOFOLLOW so
	 * that a link is not followed, and anything but a regular file refused.
	 */
	if (sub >= 0)
		*fd = openat(sub, file ? file : log->name,
			     O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	err = errno;
	if (file && sub >= 0)
		close(sub);
	if (*fd < 0)
		return co_err(ctx, err == ELOOP ? CO_EDATA : CO_EIO, "%s%s%s: %s", log->name,
			      file ? "/" : "", file ? file : "",
			      err == ELOOP ? "a symbolic link, not followed" : strerror(err));
	if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(*fd);
		*fd = -1;
		return co_err(ctx, CO_EDATA, "%s%s%s: not a regular file", log->name,
			      file ? "/" : "", file ? file : "");
	}
	return CO_OK;
}

/*
 * One file of an event log into w. The events dir is everyone's: a file
 * larger than what is left of the bundle's allowance (*left bytes) is left
 * out, as is one gone or swapped since the scan.
 */
static int archive_file(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log,
			const char *file, struct co_archive_writer *w, const char *prefix,
			co_archive_member_fn *added, void *arg, size_t *copied, uint64_t *left)
{
	struct stat sb;
	char *path;
	int64_t size;
	int fd, rc;

	if (co_eventlog_open_file(ctx, dirfd, log, file, &fd) != CO_OK)
		return CO_OK;	/* gone or swapped since the scan: left out */
	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size > *left) {
		close(fd);
		return CO_OK;
	}
	if (asprintf(&path, "%s%s%s%s", prefix, log->name, file ? "/" : "",
		     file ? file : "") < 0) {
		close(fd);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	rc = co_archive_writer_add_fd(ctx, w, path, fd, &size);
	close(fd);
	if (rc == CO_OK) {
		*left -= (uint64_t)size < *left ? (uint64_t)size : *left;
		(*copied)++;
		if (added)
			added(arg, path, size);
	}
	free(path);
	return rc;
}

static int archive_log(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log,
		       struct co_archive_writer *w, const char *prefix,
		       co_archive_member_fn *added, void *arg, size_t *copied, uint64_t *left)
{
	int rc = CO_OK;

	*copied = 0;
	if (!log->id.rolling)
		return archive_file(ctx, dirfd, log, NULL, w, prefix, added, arg, copied, left);
	for (size_t i = 0; rc == CO_OK && i < log->n_files; i++)
		rc = archive_file(ctx, dirfd, log, log->files[i], w, prefix, added, arg, copied,
				  left);
	return rc;
}

/* What the bundle takes from the events dir: the extract_max_size setting. */
static uint64_t allowance(struct co_ctx *ctx)
{
	struct co_extract_limits lim;

	return co_extract_limits_read(ctx, &lim) == CO_OK ? lim.max_bytes : 0;
}

CO_API int co_eventlog_archive(struct co_ctx *ctx, int dirfd, const struct co_eventlog *log,
			       struct co_archive_writer *w, const char *prefix,
			       co_archive_member_fn *added, void *arg, size_t *copied)
{
	uint64_t left = allowance(ctx);

	return archive_log(ctx, dirfd, log, w, prefix, added, arg, copied, &left);
}

CO_API int co_eventlog_archive_app(struct co_ctx *ctx, const char *app_id,
				   struct co_archive_writer *w, const char *prefix,
				   co_archive_member_fn *added, void *arg, size_t *copied)
{
	const char *dir = co_events_dir_path(ctx, co_config_get(ctx, CO_KEY_EVENTS_DIR));
	struct co_eventlog_dir *logs = NULL;
	int rc = CO_OK, fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	uint64_t left = allowance(ctx);
	size_t n;

	*copied = 0;
	if (fd >= 0 && co_eventlog_dir_scan(ctx, fd, &logs) != CO_OK)
		logs = NULL;
	for (size_t i = 0; rc == CO_OK && logs && i < logs->n_logs; i++) {
		if (strcmp(logs->logs[i].id.app_id, app_id) != 0)
			continue;
		rc = archive_log(ctx, fd, &logs->logs[i], w, prefix, added, arg, &n, &left);
		*copied += n;
	}
	co_eventlog_dir_free(logs);
	if (fd >= 0)
		close(fd);
	return rc;
}
