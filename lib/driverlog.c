/* SPDX-License-Identifier: MIT */
/*
 * Driver logs: a client-mode driver's output, one file per application in
 * the driver-log dir, named "<app-id>_driver.log" as Spark's own driver-log
 * persistence (spark.driver.log.dfsDir) names it, so that Spark, the history
 * server's driver-log cleaner and the tools see one file per application.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SUFFIX CO_DRIVER_LOG_SUFFIX
#define TEMP_PREFIX ".sc-submit."

CO_API int co_driver_log_dir(struct co_ctx *ctx, const char **dir)
{
	const char *d = co_config_get(ctx, CO_KEY_DRIVER_LOG_DIR);

	*dir = NULL;
	if (!d)
		return CO_OK;	/* derived from an events dir that is a URL: none */
	if (!(d = co_events_dir_path(ctx, d)))
		return co_err_prefix(ctx, CO_EUSAGE, "driver-log dir");
	if (*d == '\0')
		return co_err(ctx, CO_EUSAGE, "driver-log dir: empty path");
	*dir = d;
	return CO_OK;
}

CO_API bool co_driver_log_id_valid(const char *app_id)
{
	size_t len = strlen(app_id);

	return len > 0 && len < CO_DRIVER_LOG_ID_MAX && app_id[0] != '.' &&
	       strspn(app_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._-") == len;
}

CO_API int co_driver_log_name(struct co_ctx *ctx, const char *app_id, char *buf, size_t len)
{
	if (!co_driver_log_id_valid(app_id))
		return co_err(ctx, CO_EDATA, "invalid application id '%s' for a driver log name",
			      app_id);
	if ((size_t)snprintf(buf, len, "%s%s", app_id, SUFFIX) >= len)
		return co_err(ctx, CO_ESOFTWARE, "driver log name too long");
	return CO_OK;
}

CO_API int co_driver_log_parse_name(const char *name, char *app_id)
{
	size_t len = strlen(name), slen = strlen(SUFFIX);

	if (len <= slen || len - slen >= CO_DRIVER_LOG_ID_MAX ||
	    strcmp(name + len - slen, SUFFIX) != 0)
		return CO_EDATA;
	memcpy(app_id, name, len - slen);
	app_id[len - slen] = '\0';
	return co_driver_log_id_valid(app_id) ? CO_OK : CO_EDATA;
}

/*
 * A directory another user made where anyone can make one (the sibling of
 * /tmp/spark-events is /tmp/driver-logs) is theirs: they could read what
 * is written into it (a set-group-ID bit, a default ACL), and replace or
 * remove it. It is used when it is the user's own or root's, or when its
 * parent is not writable by every user, so that whoever made it there
 * could already do so.
 */
static int dir_trusted(struct co_ctx *ctx, const char *dir, int dirfd)
{
	struct stat sb, parent;

	if (fstat(dirfd, &sb) != 0 || fstatat(dirfd, "..", &parent, 0) != 0)
		return co_err(ctx, CO_EIO, "driver-log dir %s: %s", dir, strerror(errno));
	if (sb.st_uid == geteuid() || sb.st_uid == 0 || !(parent.st_mode & S_IWOTH))
		return CO_OK;
	return co_err(ctx, CO_ENOPERM, "driver-log dir %s: another user's (uid %lu), in a "
		      "directory every user can write: not used", dir, (unsigned long)sb.st_uid);
}

CO_API int co_driver_log_dir_open(struct co_ctx *ctx, int *dirfd)
{
	const char *dir;
	int rc = co_driver_log_dir(ctx, &dir);

	*dirfd = -1;
	if (rc || !dir)
		return rc;
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd >= 0 && (rc = dir_trusted(ctx, dir, *dirfd)) != CO_OK) {
		close(*dirfd);
		*dirfd = -1;
		return rc;
	}
	if (*dirfd >= 0)
		return CO_OK;
	if (errno == ENOENT)
		return CO_OK;
	return co_err(ctx, errno == EACCES ? CO_ENOPERM : CO_EIO, "driver-log dir %s: %s", dir,
		      strerror(errno));
}

/* O_NONBLOCK: a FIFO planted under a log's name neither blocks the open nor a read. */
static int open_regular(struct co_ctx *ctx, int dirfd, const char *name, int *fd)
{
	struct stat sb;

	*fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0) {
		if (errno == ENOENT)
			return CO_OK;
		if (errno == ELOOP)
			return co_err(ctx, CO_EDATA, "%s: a symbolic link, not followed", name);
		return co_err(ctx, errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", name,
			      strerror(errno));
	}
	if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		int rc = co_err(ctx, CO_EDATA, "%s: not a regular file", name);

		close(*fd);
		*fd = -1;
		return rc;
	}
	return CO_OK;
}

CO_API int co_driver_log_open(struct co_ctx *ctx, int dirfd, const char *app_id, int *fd)
{
	char name[CO_DRIVER_LOG_ID_MAX + sizeof(SUFFIX)];
	int rc;

	*fd = -1;
	rc = co_driver_log_name(ctx, app_id, name, sizeof(name));
	if (rc)
		return rc;
	return open_regular(ctx, dirfd, name, fd);
}

/* ---- writing ---------------------------------------------------------- */

/* The writer's lock: a whole-file OFD write lock, held while the fd is open. */
static int lock_writer(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl);
}

CO_API int co_driver_log_create(struct co_ctx *ctx, int dirfd, int *fd, char *tmpname,
				size_t len)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned char rnd[6];
		size_t n;

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return co_err(ctx, CO_ESOFTWARE, "getrandom: %s", strerror(errno));
		n = (size_t)snprintf(tmpname, len, "%s%ld.%02x%02x%02x%02x%02x%02x", TEMP_PREFIX,
				     (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
				     rnd[5]);
		if (n >= len)
			return co_err(ctx, CO_ESOFTWARE, "driver log temporary name too long");
		*fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			     O_CLOEXEC | O_NOCTTY, 0640);
		if (*fd >= 0)
			break;
		if (errno != EEXIST)
			return co_err(ctx, errno == EACCES || errno == EPERM ? CO_ENOPERM
				      : CO_ECANTCREAT, "%s: %s", tmpname, strerror(errno));
	}
	if (*fd < 0)
		return co_err(ctx, CO_ECANTCREAT, "%s: %s", tmpname, strerror(EEXIST));
	/* Without the lock (a file system that has none) the log still works;
	 * sc-events-prune then relies on the master alone to know it is live. */
	(void)lock_writer(*fd);
	return CO_OK;
}

/* rename without replacing: renameat2 where the file system has it, else link + unlink. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	if (linkat(dirfd, from, dirfd, to, 0) != 0)
		return -1;
	unlinkat(dirfd, from, 0);
	return 0;
}

CO_API int co_driver_log_publish(struct co_ctx *ctx, int dirfd, const char *tmpname,
				 const char *app_id)
{
	char name[CO_DRIVER_LOG_ID_MAX + sizeof(SUFFIX)];
	int rc = co_driver_log_name(ctx, app_id, name, sizeof(name));

	if (rc)
		return rc;
	if (rename_noreplace(dirfd, tmpname, name) != 0)
		return co_err(ctx, errno == EEXIST ? CO_ECANTCREAT : errno == EACCES ||
			      errno == EPERM ? CO_ENOPERM : CO_EIO, "%s: %s", name,
			      errno == EEXIST ? "exists already, not replaced" : strerror(errno));
	return CO_OK;
}

/* ---- scanning and removing -------------------------------------------- */

/* Someone holds the writer's lock: sc-submit is still writing it. */
static bool being_written(int dirfd, const char *name)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	bool busy = false;

	if (fd < 0)
		return false;
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0)
		busy = fl.l_type != F_UNLCK;
	close(fd);
	return busy;
}

/* Hadoop's ".<name>.crc", which Spark's persistence writes beside the log, goes with it. */
static void attach_checksum(int dirfd, struct co_driver_log *log, char *buf, size_t len)
{
	struct stat sb;

	if ((size_t)snprintf(buf, len, ".%s.crc", log->name) >= len)
		return;
	if (fstatat(dirfd, buf, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode)) {
		log->crc_name = buf;
		log->bytes = co_size_add(log->bytes, sb.st_size);
	}
}

struct each {
	int dirfd;
	co_driver_log_fn *fn;
	co_skip_fn *skip;
	void *arg;
};

/* Hidden entries are checksums, and sc-submit's logs that have no id yet. */
static int scan_entry(struct co_ctx *ctx, const char *name, unsigned char d_type, void *arg)
{
	const struct each *ea = arg;
	struct co_driver_log log = { 0 };
	char crc[NAME_MAX + 8];
	struct stat sb;

	(void)d_type;	/* every driver log is stat'ed: its size is reported */
	if (name[0] == '.')
		return CO_OK;
	if (fstatat(ea->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return CO_OK;	/* removed meanwhile */
	if (S_ISLNK(sb.st_mode))
		return ea->skip(ctx, name, "symbolic link, not followed", ea->arg);
	if (co_driver_log_parse_name(name, log.app_id) != CO_OK)
		return ea->skip(ctx, name, "not a driver log", ea->arg);
	if (!S_ISREG(sb.st_mode))
		return ea->skip(ctx, name, "not a file", ea->arg);
	log.bytes = sb.st_size;
	log.mtime_ms = co_mtime_ms(&sb);
	log.writing = being_written(ea->dirfd, name);
	log.name = (char *)name;
	attach_checksum(ea->dirfd, &log, crc, sizeof(crc));
	return ea->fn(ctx, &log, ea->arg);
}

CO_API int co_driver_log_dir_each(struct co_ctx *ctx, int dirfd, co_driver_log_fn *fn,
				  co_skip_fn *skip, void *arg)
{
	struct each ea = { .dirfd = dirfd, .fn = fn, .skip = skip, .arg = arg };

	return co_dir_each(ctx, dirfd, "driver-log dir", scan_entry, &ea);
}

static int add_skip(struct co_ctx *ctx, const char *name, const char *reason, void *arg)
{
	struct co_driver_log_dir *dir = arg;

	return co_skip_add(ctx, &dir->skipped, &dir->n_skipped, name, reason);
}

static int add_log(struct co_ctx *ctx, const struct co_driver_log *found, void *arg)
{
	struct co_driver_log_dir *dir = arg;
	struct co_driver_log *p = co_grow(dir->logs, dir->n_logs, sizeof(*p)), *log;

	if (!p)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	dir->logs = p;
	log = &p[dir->n_logs];
	*log = *found;
	log->dir_order = dir->n_logs;
	log->name = strdup(found->name);
	log->crc_name = found->crc_name ? strdup(found->crc_name) : NULL;
	if (!log->name || (found->crc_name && !log->crc_name)) {
		free(log->name);
		free(log->crc_name);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	dir->n_logs++;
	return CO_OK;
}

static int newest_first(const void *a, const void *b)
{
	const struct co_driver_log *x = a, *y = b;

	if (x->mtime_ms != y->mtime_ms)
		return x->mtime_ms > y->mtime_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

CO_API int co_driver_log_dir_scan(struct co_ctx *ctx, int dirfd, struct co_driver_log_dir **out)
{
	struct co_driver_log_dir *dir = calloc(1, sizeof(*dir));
	int rc;

	*out = NULL;
	if (!dir)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = co_driver_log_dir_each(ctx, dirfd, add_log, add_skip, dir);
	if (rc == CO_OK) {
		if (dir->n_logs)
			qsort(dir->logs, dir->n_logs, sizeof(*dir->logs), newest_first);
		*out = dir;
		dir = NULL;
	}
	co_driver_log_dir_free(dir);
	return rc;
}

CO_API void co_driver_log_dir_free(struct co_driver_log_dir *dir)
{
	if (!dir)
		return;
	for (size_t i = 0; i < dir->n_logs; i++) {
		free(dir->logs[i].name);
		free(dir->logs[i].crc_name);
	}
	co_skips_free(dir->skipped, dir->n_skipped);
	free(dir->logs);
	free(dir);
}

CO_API int co_driver_log_remove(struct co_ctx *ctx, int dirfd, const struct co_driver_log *log)
{
	if (unlinkat(dirfd, log->name, 0) != 0 && errno != ENOENT)
		return co_err(ctx, errno == EACCES || errno == EPERM ? CO_ENOPERM : CO_EIO,
			      "%s: %s", log->name, strerror(errno));
	if (log->crc_name && unlinkat(dirfd, log->crc_name, 0) != 0 && errno != ENOENT)
		return co_err(ctx, errno == EACCES || errno == EPERM ? CO_ENOPERM : CO_EIO,
			      "%s: %s", log->crc_name, strerror(errno));
	return CO_OK;
}

/* ---- reading ---------------------------------------------------------- */

#define READ_PIECE 65536

struct co_driver_log_reader {
	struct co_ctx *ctx;
	char *app_id;
	long tail;
	int fd;
	char *buf;
};

CO_API struct co_driver_log_reader *co_driver_log_reader_new(struct co_ctx *ctx,
							     const char *app_id, long tail)
{
	struct co_driver_log_reader *r = calloc(1, sizeof(*r));

	if (!r || !(r->app_id = strdup(app_id)) || !(r->buf = malloc(READ_PIECE))) {
		co_driver_log_reader_free(r);
		return NULL;
	}
	r->ctx = ctx;
	r->tail = tail;
	r->fd = -1;
	return r;
}

/*
 * Where the last n lines of the file begin: blocks read backwards from its
 * end, at most CO_LOG_TAIL_MAX bytes back, as for a worker's log: the file
 * is in a dir that everyone writes, and may be a sparse one of terabytes
 * with no newline in it.
 */
static off_t tail_offset(struct co_driver_log_reader *r, off_t end, long n)
{
	off_t pos = end, floor = end > CO_LOG_TAIL_MAX ? end - CO_LOG_TAIL_MAX : 0;
	long lines = 0;
	bool last = true;	/* the file's last byte: a final newline ends, not starts, a line */

	while (pos > floor) {
		size_t len = pos - floor < READ_PIECE ? (size_t)(pos - floor) : READ_PIECE;
		ssize_t got = pread(r->fd, r->buf, len, pos - (off_t)len);

		if (got != (ssize_t)len)
			return 0;
		for (size_t i = len; i-- > 0;) {
			if (r->buf[i] == '\n' && !(last && i == len - 1) && ++lines >= n)
				return pos - (off_t)len + (off_t)i + 1;
		}
		last = false;
		pos -= (off_t)len;
	}
	return floor;
}

CO_API int co_driver_log_reader_read(struct co_driver_log_reader *r,
				     void (*fn)(void *arg, const char *data, size_t len), void *arg)
{
	struct stat sb;
	off_t pos, end;
	int dirfd, rc;

	if (r->fd < 0) {
		rc = co_driver_log_dir_open(r->ctx, &dirfd);
		if (rc || dirfd < 0)
			return rc;
		rc = co_driver_log_open(r->ctx, dirfd, r->app_id, &r->fd);
		close(dirfd);
		if (rc || r->fd < 0)
			return rc;
		if (r->tail >= 0 && fstat(r->fd, &sb) == 0 &&
		    lseek(r->fd, r->tail ? tail_offset(r, sb.st_size, r->tail) : sb.st_size,
			  SEEK_SET) < 0)
			return co_err(r->ctx, CO_EIO, "%s driver log: %s", r->app_id, strerror(errno));
	}
	if (fstat(r->fd, &sb) != 0 || (pos = lseek(r->fd, 0, SEEK_CUR)) < 0)
		return co_err(r->ctx, CO_EIO, "%s driver log: %s", r->app_id, strerror(errno));
	for (end = sb.st_size; pos < end;) {
		size_t want = end - pos < READ_PIECE ? (size_t)(end - pos) : READ_PIECE;
		ssize_t got = read(r->fd, r->buf, want);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return co_err(r->ctx, CO_EIO, "%s driver log: %s", r->app_id,
				      strerror(errno));
		if (got == 0)	/* truncated meanwhile: what is there is read */
			break;
		fn(arg, r->buf, (size_t)got);
		pos += got;
	}
	return CO_OK;
}

CO_API int co_driver_log_reader_fd(const struct co_driver_log_reader *r)
{
	return r->fd;
}

CO_API bool co_driver_log_reader_writing(const struct co_driver_log_reader *r)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

	return r->fd >= 0 && fcntl(r->fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
}

CO_API void co_driver_log_reader_free(struct co_driver_log_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->app_id);
	free(r->buf);
	free(r);
}
