/* SPDX-License-Identifier: MIT */
/*
 * Downloading files: many transfers at once on one libcurl multi handle,
 * each streamed into a hidden ".NAME.part" beside its target while its
 * SHA-256 is computed, resumed with a Range request, retried with backoff,
 * verified, flushed and renamed into place.
 *
 * The receiving thread only writes what arrives. A second thread (the
 * "sink") reads back each range just written, while it is still in the page
 * cache, and hashes it; it also starts the writeback of every completed
 * range with sync_file_range() and waits for the ranges written some time
 * before, so that dirty pages do not pile up and the final fsync, which it
 * makes too, has little left to do. The receiver waits only when the sink
 * falls too far behind, which bounds both the memory and the lag.
 *
 * This lives in the library rather than in sc-fetch because it is not
 * specific to sample data: any tool that brings files to disk (executor
 * logs, event logs, application jars) needs the same guarantees, and the
 * policy that is sc-fetch's own (which files to skip, the lock file,
 * archives, the display) stays in the tool.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "internal.h"

/* Bigger chunks from libcurl mean fewer write(2) calls for large files. */
#define RECV_BUFFER (256L << 10)
/* Start writing back every this many bytes: the final fsync is then short. */
#define WRITEBACK_CHUNK (8ull << 20)
/* Wait for the writeback of what was started more than this many bytes ago. */
#define WRITEBACK_LAG (32ull << 20)
/* Written but not yet hashed: beyond this the receiver waits for the sink. */
#define SINK_LAG (32ull << 20)
/* Ranges queued for the sink; contiguous ones are merged up to SINK_RANGE. */
#define SINK_QUEUE 64
#define SINK_RANGE (4ull << 20)
/* The sink's read buffer. */
#define SINK_READ (256u << 10)
/* fsyncs at once: each in a thread of its own, so that they share commits. */
#define MAX_SYNCERS 8
#define MAX_BACKOFF 60.0
/*
 * The version of the file a .part holds (its ETag, else its Last-Modified
 * date), kept in an extended attribute of the .part so that a later run
 * resumes with "If-Range": if the file changed meanwhile, the server sends
 * all of the new one instead of splicing its tail onto the old head.
 */
#define VALIDATOR_XATTR "user.clusterops.validator"
#define MAX_RETRY_AFTER 300.0
/* The most of an error page read (and thrown away) before its status stands. */
#define ERROR_PAGE_MAX (64u << 10)
/*
 * A transfer that receives less than this in a whole stall timeout is
 * stalled too: a server sending a byte every few seconds would otherwise
 * hold it for ever.
 */
#define TRICKLE_MIN 1024

/* X_SYNCING: received whole; the sink is hashing the rest and syncing it. */
enum xfer_state { X_WAITING, X_ACTIVE, X_SYNCING, X_DONE };

struct sink;

struct xfer {
	struct co_fetch_item *item;
	CURL *easy;
	char *part;		/* DIR/.NAME.part */
	char *reldir;		/* DIR below opt->beneath ("" for itself), or NULL */
	const char *base;	/* NAME, relative to dirfd */
	const char *part_base;	/* .NAME.part, relative to dirfd */
	int dirfd;		/* the target's directory, or AT_FDCWD */
	int rootfd;		/* opt->beneath, opened */
	uint64_t limit;		/* most bytes accepted */
	bool limit_is_size;	/* the limit is the item's expected size */
	bool too_big;
	int fd;
	struct co_sha256 *hash;	/* of the bytes in the .part file */
	bool is_file;		/* a file:// source: never resumed */
	bool range_sent;
	bool no_range;		/* the server answered a range wrongly: start over */
	bool body_started;
	bool in_headers;	/* a reply's status line came, its body not yet */
	bool discard;		/* an error page: not written */
	uint64_t discarded;	/* of it, up to ERROR_PAGE_MAX */
	bool error_page_cut;	/* longer than that: its status is enough */
	bool bad_range;
	int write_errno;
	long content_range_start;	/* -1 when the reply had none */
	char etag[256];		/* of the current reply, "" when none */
	char last_modified[64];
	struct curl_slist *headers;	/* If-Range, for the current attempt */
	double ready_at;	/* monotonic time the next attempt may start */
	double last_data;	/* monotonic time of the last bytes received */
	double window_start;	/* a trickle: bytes received since then */
	uint64_t window_bytes;
	struct sink *sink;
	/* The sink's, while it has a range of this transfer to work on: */
	uint64_t wb_started;	/* offset up to which writeback was started */
	uint64_t wb_waited;	/* offset up to which writeback was waited for */
	bool no_writeback;	/* sync_file_range() is not supported here */
	/* Set by the sink under its lock: */
	int sink_errno;		/* reading back or writing back failed */
	int fsync_errno;
	int sync_steps;		/* 2: hashed, written back and fsynced */
	bool has_syncer;	/* the fsync was made by the thread syncer */
	pthread_t syncer;
	enum xfer_state state;
	char errbuf[CURL_ERROR_SIZE];
};

/*
 * The sink: one thread per co_fetch_run() that hashes, writes back and
 * fsyncs what the receiver wrote, in the order it was written. Without a
 * thread (pthread_create() failed) the same work is done in line.
 */
enum sink_kind { SINK_HASH, SINK_FSYNC };

struct sink_job {
	struct xfer *x;
	enum sink_kind kind;
	uint64_t off, len;
};

struct sink {
	pthread_mutex_t mu;
	pthread_cond_t work;	/* to the sink: a job, or stop */
	pthread_cond_t done;	/* to the receiver: a job finished */
	struct sink_job q[SINK_QUEUE];
	size_t head, count;
	uint64_t pending;	/* bytes queued or being hashed */
	bool busy, stop, threaded;
	unsigned syncers;	/* fsync threads running */
	pthread_t thread;
	CURLM *multi;		/* woken when a file is synced */
	char *buf;
};

/* A sync_file_range() error that means only "not here": fsync still works. */
static bool writeback_unsupported(int err)
{
	return err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == ESPIPE ||
		err == EPERM;
}

/*
 * Start the writeback of what was hashed since the last start, and wait for
 * what was started more than WRITEBACK_LAG ago. Returns 0 or an errno.
 */
static int writeback(struct xfer *x, uint64_t end, bool last)
{
#ifdef SYNC_FILE_RANGE_WRITE
	uint64_t upto;

	if (x->no_writeback || end < x->wb_started ||
	    (end - x->wb_started < WRITEBACK_CHUNK && !last))
		return 0;
	if (end > x->wb_started &&
	    sync_file_range(x->fd, (off_t)x->wb_started, (off_t)(end - x->wb_started),
			    SYNC_FILE_RANGE_WRITE) != 0)
		goto failed;
	x->wb_started = end;
	if (last || end - x->wb_waited <= WRITEBACK_LAG)
		return 0;	/* fsync waits for the rest */
	upto = end - WRITEBACK_LAG;
	if (sync_file_range(x->fd, (off_t)x->wb_waited, (off_t)(upto - x->wb_waited),
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) != 0)
		goto failed;
	x->wb_waited = upto;
	return 0;
failed:
	if (!writeback_unsupported(errno))
		return errno;
	x->no_writeback = true;	/* the final fsync does it all */
#else
	(void)end;
	(void)last;
	x->no_writeback = true;
#endif
	return 0;
}

/* Hash the range just written, reading it back from the page cache. */
static int sink_hash(struct sink *s, struct xfer *x, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;

	while (off < end) {
		size_t want = end - off < SINK_READ ? (size_t)(end - off) : SINK_READ;
		ssize_t n = pread(x->fd, s->buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			return EIO;	/* shorter than what was written */
		co_sha256_update(x->hash, s->buf, (size_t)n);
		off += (uint64_t)n;
	}
	return writeback(x, end, false);
}

/* One job; returns 0 or an errno. Called without the lock. */
static int sink_do(struct sink *s, const struct sink_job *j)
{
	struct xfer *x = j->x;
	int err;

	if (j->kind == SINK_HASH)
		return x->sink_errno ? 0 : sink_hash(s, x, j->off, j->len);
	err = x->sink_errno ? 0 : writeback(x, j->off, true);
	if (fsync(x->fd) != 0)
		return -errno;	/* negative: the fsync's */
	return err;
}

/*
 * A file's fsync, in a thread of its own: ext4 and others commit the
 * fsyncs that wait at the same time together, and the sink goes on hashing
 * meanwhile.
 */
static void *syncer_main(void *arg)
{
	struct xfer *x = arg;
	struct sink *s = x->sink;
	int err = fsync(x->fd) != 0 ? errno : 0;

	pthread_mutex_lock(&s->mu);
	x->fsync_errno = err;
	x->sync_steps++;
	s->syncers--;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->mu);
	curl_multi_wakeup(s->multi);
	return NULL;
}

/* Start x's fsync in a thread, once fewer than MAX_SYNCERS run; the sink's. */
static bool start_syncer(struct sink *s, struct xfer *x)
{
	pthread_mutex_lock(&s->mu);
	while (s->syncers >= MAX_SYNCERS)
		pthread_cond_wait(&s->done, &s->mu);
	s->syncers++;
	pthread_mutex_unlock(&s->mu);
	/* it inherits the sink's mask: every signal blocked */
	if (pthread_create(&x->syncer, NULL, syncer_main, x) == 0)
		return true;
	pthread_mutex_lock(&s->mu);
	s->syncers--;
	pthread_mutex_unlock(&s->mu);
	return false;
}

/* Record a job's outcome; with the lock held (or no thread). */
static void sink_record(const struct sink_job *j, int err)
{
	struct xfer *x = j->x;

	if (j->kind == SINK_FSYNC) {
		if (err < 0)
			x->fsync_errno = -err;
		else if (err > 0 && !x->sink_errno)
			x->sink_errno = err;
		x->sync_steps = 2;
	} else if (err && !x->sink_errno) {
		x->sink_errno = err;
	}
}

static void *sink_main(void *arg)
{
	struct sink *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct sink_job j;
		int err;

		while (!s->count && !s->stop)
			pthread_cond_wait(&s->work, &s->mu);
		if (!s->count)
			break;
		j = s->q[s->head];
		s->head = (s->head + 1) % SINK_QUEUE;
		s->count--;
		s->busy = true;
		pthread_mutex_unlock(&s->mu);
		if (j.kind == SINK_FSYNC) {
			struct xfer *x = j.x;

			err = x->sink_errno ? 0 : writeback(x, j.off, true);
			if (start_syncer(s, x)) {
				pthread_mutex_lock(&s->mu);
				if (err && !x->sink_errno)
					x->sink_errno = err;
				x->has_syncer = true;
				x->sync_steps++;
			} else {
				if (fsync(x->fd) != 0)
					err = -errno;
				pthread_mutex_lock(&s->mu);
				sink_record(&j, err);
			}
		} else {
			err = sink_do(s, &j);
			pthread_mutex_lock(&s->mu);
			sink_record(&j, err);
		}
		s->busy = false;
		if (j.kind == SINK_HASH)
			s->pending -= j.len;
		pthread_cond_broadcast(&s->done);
		if (j.kind == SINK_FSYNC && j.x->sync_steps == 2)
			curl_multi_wakeup(s->multi);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static bool sink_init(struct sink *s, CURLM *multi)
{
	sigset_t all, old;

	memset(s, 0, sizeof(*s));
	s->multi = multi;
	s->buf = malloc(SINK_READ);
	if (!s->buf)
		return false;
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		goto no_mutex;
	if (pthread_cond_init(&s->work, NULL) != 0)
		goto no_work;
	if (pthread_cond_init(&s->done, NULL) != 0)
		goto no_done;
	/* Signals are the receiver's: its handlers remove the .part files. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	s->threaded = pthread_create(&s->thread, NULL, sink_main, s) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return true;
no_done:
	pthread_cond_destroy(&s->work);
no_work:
	pthread_mutex_destroy(&s->mu);
no_mutex:
	free(s->buf);
	return false;
}

/* Finish every job, stop the thread. */
static void sink_end(struct sink *s)
{
	if (s->threaded) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		s->threaded = false;
	}
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->mu);
	free(s->buf);
	s->buf = NULL;
}

/*
 * Queue a job, waiting while the sink is too far behind. Returns the
 * transfer's sink error so far (0: none).
 */
static int sink_submit(struct sink *s, struct xfer *x, enum sink_kind kind, uint64_t off,
		       uint64_t len)
{
	struct sink_job j = { .x = x, .kind = kind, .off = off, .len = len };
	struct sink_job *last;
	int err;

	if (!s->threaded) {
		sink_record(&j, sink_do(s, &j));
		return x->sink_errno;
	}
	pthread_mutex_lock(&s->mu);
	while (s->count == SINK_QUEUE || (kind == SINK_HASH && s->pending >= SINK_LAG))
		pthread_cond_wait(&s->done, &s->mu);
	last = s->count ? &s->q[(s->head + s->count - 1) % SINK_QUEUE] : NULL;
	if (kind == SINK_HASH && last && last->x == x && last->kind == SINK_HASH &&
	    last->off + last->len == off && last->len + len <= SINK_RANGE) {
		last->len += len;	/* not taken yet: the sink takes from the head */
	} else {
		s->q[(s->head + s->count) % SINK_QUEUE] = j;
		s->count++;
		pthread_cond_signal(&s->work);
	}
	if (kind == SINK_HASH)
		s->pending += len;
	err = x->sink_errno;
	pthread_mutex_unlock(&s->mu);
	return err;
}

/* Wait until the sink has done every job queued. */
static void sink_drain(struct sink *s)
{
	if (!s->threaded)
		return;
	pthread_mutex_lock(&s->mu);
	while (s->count || s->busy)
		pthread_cond_wait(&s->done, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* Whether the sink has synced x (its fsync job is done). */
static bool sink_synced(struct sink *s, struct xfer *x)
{
	bool done;

	if (!s->threaded)
		return x->sync_steps == 2;
	pthread_mutex_lock(&s->mu);
	done = x->sync_steps == 2;
	pthread_mutex_unlock(&s->mu);
	return done;
}

static int errno_status(int err, int dflt)
{
	switch (err) {
	case EACCES:
	case EPERM:
	case EROFS:
		return CO_ENOPERM;
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case EFBIG:
		return CO_EIO;
	default:
		return dflt;
	}
}

/* Record the final outcome of an item. */
static void item_fail(struct xfer *x, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void item_fail(struct xfer *x, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->item->error, sizeof(x->item->error), fmt, ap);
	va_end(ap);
	x->item->status = status;
	x->state = X_DONE;
	x->item->state = CO_FETCH_DONE;
}

static void drop_part(struct xfer *x)
{
	sink_drain(x->sink);	/* nothing of it is still being read */
	if (x->fd >= 0) {
		close(x->fd);
		x->fd = -1;
	}
	unlinkat(x->dirfd, x->part_base, 0);
}

/* One directory below fd, created when missing, never through a link. */
static int open_component(int fd, const char *name)
{
	int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (sub < 0 && errno == ENOENT) {
		if (mkdirat(fd, name, 0777) != 0 && errno != EEXIST)
			return -1;
		sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return sub;
}

/*
 * The directory rel beneath rootfd, following no symbolic link and never
 * leaving rootfd: openat2() says so to the kernel in one call; without it
 * (or when it finds a directory missing) the path is walked a component at
 * a time from rootfd with O_NOFOLLOW, creating what is missing. -1 and
 * errno on failure (ELOOP: a symbolic link on the way).
 */
static int open_dir_beneath(int rootfd, const char *rel)
{
	char *copy, *save = NULL;
	int fd;

#ifdef SYS_openat2
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};

	fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
	if (fd >= 0 || (errno != ENOENT && errno != ENOSYS && errno != EPERM))
		return fd;
#endif
	copy = strdup(rel);
	if (!copy)
		return -1;
	fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	for (char *c = strtok_r(copy, "/", &save); c && fd >= 0; c = strtok_r(NULL, "/", &save)) {
		int sub;

		if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
			close(fd);
			fd = -1;
			errno = EXDEV;
			break;
		}
		sub = open_component(fd, c);
		close(fd);
		fd = sub;
	}
	free(copy);
	return fd;
}

/* The target's directory, for the .part file and the rename. */
static bool open_target_dir(struct xfer *x, int rootfd, const char *root)
{
	if (!x->reldir)
		return true;
	x->dirfd = open_dir_beneath(rootfd, x->reldir);
	if (x->dirfd >= 0)
		return true;
	x->dirfd = AT_FDCWD;
	if (errno == ELOOP || errno == EXDEV)
		item_fail(x, CO_ECANTCREAT, "%s/%s: a symbolic link on the way: not followed, "
			  "nothing is written outside %s", root, x->reldir, root);
	else
		item_fail(x, errno_status(errno, CO_ECANTCREAT), "%s/%s: %s", root, x->reldir,
			  strerror(errno));
	return false;
}

/* Empty the .part file and the digest: the next byte is the file's first. */
static bool restart_part(struct xfer *x)
{
	sink_drain(x->sink);
	x->sink_errno = 0;
	if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
		x->write_errno = errno;
		return false;
	}
	co_sha256_reset(x->hash);
	x->item->bytes = 0;
	x->wb_started = x->wb_waited = 0;
	x->item->resumed = false;
	return true;
}

/* If line is the header name, copy its trimmed value into buf. */
static bool header_value(const char *line, size_t n, const char *name, char *buf, size_t len)
{
	size_t nl = strlen(name), vl;

	if (n <= nl || strncasecmp(line, name, nl) != 0)
		return false;
	line += nl;
	n -= nl;
	while (n > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	vl = n < len - 1 ? n : 0;	/* too long to be one we can use: none */
	memcpy(buf, line, vl);
	buf[vl] = '\0';
	return true;
}

/* Bytes have come: progress against a stall and a trickle. */
static void got_data(struct xfer *x, size_t n)
{
	x->last_data = co_monotonic();
	x->window_bytes += n;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	static const char cr[] = "content-range:";

	got_data(x, n);
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new reply (after a redirect or a 100): forget the last one */
		x->in_headers = true;
		x->content_range_start = -1;
		x->etag[0] = x->last_modified[0] = '\0';
	} else if (header_value(line, n, "etag:", x->etag, sizeof(x->etag))) {
		if (strncmp(x->etag, "W/", 2) == 0)
			x->etag[0] = '\0';	/* a weak ETag cannot validate a range */
	} else if (!header_value(line, n, "last-modified:", x->last_modified,
				 sizeof(x->last_modified)) &&
		   n > sizeof(cr) && strncasecmp(line, cr, sizeof(cr) - 1) == 0) {
		char buf[128];
		size_t len = n < sizeof(buf) - 1 ? n : sizeof(buf) - 1;
		long start;

		memcpy(buf, line, len);
		buf[len] = '\0';
		if (sscanf(buf + sizeof(cr) - 1, " bytes %ld-", &start) == 1)
			x->content_range_start = start;
	}
	return n;
}

/* Best effort: a file system without user xattrs resumes unvalidated. */
static void remember_version(struct xfer *x)
{
	const char *v = x->etag[0] ? x->etag : x->last_modified;

	if (x->is_file)
		return;
	if (*v)
		fsetxattr(x->fd, VALIDATOR_XATTR, v, strlen(v), 0);
	else
		fremovexattr(x->fd, VALIDATOR_XATTR);
}

/*
 * Whether the .part may be continued: resuming splices the bytes it holds
 * onto what the server sends now, which is safe only when If-Range makes
 * a changed file come whole (a validator is known), or when the digest
 * the file must have will catch a splice.
 */
static bool may_resume(const struct xfer *x)
{
	return x->item->sha256 || fgetxattr(x->fd, VALIDATOR_XATTR, NULL, 0) > 0;
}

/* "If-Range: <validator>" for resuming the .part, or NULL when unknown. */
static struct curl_slist *if_range(const struct xfer *x)
{
	char buf[300] = "If-Range: ";
	size_t pre = strlen(buf);
	ssize_t n = fgetxattr(x->fd, VALIDATOR_XATTR, buf + pre, sizeof(buf) - pre - 1);

	if (n <= 0)
		return NULL;
	buf[pre + (size_t)n] = '\0';
	return curl_slist_append(NULL, buf);
}

/* The first byte of a reply's body (or its end, for an empty one). */
static bool begin_body(struct xfer *x)
{
	long code = 0;
	curl_off_t len = -1;

	x->body_started = true;
	x->in_headers = false;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (!x->is_file && (code < 200 || code >= 300)) {
		x->discard = true;	/* an error page is not the file */
		return true;
	}
	if (x->range_sent && code == 206) {
		if (x->content_range_start != (long)x->item->bytes) {
			x->bad_range = true;
			return false;
		}
		x->item->resumed = true;
	} else if (code == 206) {
		x->bad_range = true;	/* a part of the file, asked for by no one */
		return false;
	} else if ((x->range_sent || x->item->bytes > 0) && !restart_part(x)) {
		return false;	/* the whole file, from its first byte: the part starts again */
	}
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	x->item->total = len >= 0 ? x->item->bytes + (uint64_t)len : 0;
	if (len >= 0 && x->item->total > x->limit) {
		x->too_big = true;	/* announced too big: not a byte of it */
		return false;
	}
	remember_version(x);
	return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	int err;

	got_data(x, n);
	if (!x->body_started && !begin_body(x))
		return 0;
	if (x->discard) {
		/* an endless error page must not hold the transfer: its status says it */
		x->discarded += n;
		x->error_page_cut = x->discarded > ERROR_PAGE_MAX;
		return x->error_page_cut ? 0 : n;
	}
	if (n > x->limit - x->item->bytes) {
		x->too_big = true;	/* stop now, before the disk fills */
		return 0;
	}
	for (size_t done = 0; done < n; ) {
		ssize_t w = write(x->fd, data + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			x->write_errno = errno;
			return 0;	/* curl ends the transfer with CURLE_WRITE_ERROR */
		}
		done += (size_t)w;
	}
	/* hashed (and written back) by the sink, from the page cache */
	err = sink_submit(x->sink, x, SINK_HASH, x->item->bytes, n);
	x->item->bytes += n;
	if (err) {
		x->write_errno = err;
		return 0;
	}
	return n;
}

/* Open the .part file on the first attempt, taking up where it stopped. */
static bool open_part(struct co_ctx *ctx, struct xfer *x, bool restart)
{
	struct co_fetch_item *it = x->item;

	struct stat st;
	bool created = false;

	/* Never through a link someone planted, nor into a FIFO or device. */
	for (int tries = 0; tries < 3; tries++) {
		x->fd = openat(x->dirfd, x->part_base, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
			       O_NONBLOCK | O_CLOEXEC, 0644);
		created = x->fd >= 0;
		if (x->fd < 0 && errno == EEXIST)
			x->fd = openat(x->dirfd, x->part_base,
				       O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (x->fd >= 0 || errno != ENOENT)
			break;	/* else removed between the two: made afresh */
	}
	if (x->fd < 0 && errno == ELOOP) {
		item_fail(x, CO_ECANTCREAT, "%s: is a symbolic link: refusing to write "
			  "through it (remove it)", x->part);
		return false;
	}
	if (x->fd < 0) {
		item_fail(x, errno_status(errno, CO_ECANTCREAT), "%s: %s", x->part,
			  strerror(errno));
		return false;
	}
	if (fstat(x->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(x->fd);
		x->fd = -1;
		item_fail(x, CO_ECANTCREAT, "%s: not a regular file: refusing to write to it "
			  "(remove it)", x->part);
		return false;
	}
	/*
	 * One left by an earlier run is ours alone: another user's (planted in
	 * a shared dir, writable by them after it is renamed into place) or
	 * one with other hard links (a file elsewhere) is not written to.
	 */
	if (!created && (st.st_uid != geteuid() || st.st_nlink != 1)) {
		close(x->fd);
		x->fd = -1;
		item_fail(x, CO_ECANTCREAT, "%s: %s: refusing to write to it (remove it)",
			  x->part, st.st_uid != geteuid() ? "another user's file"
			  : "a file with other hard links");
		return false;
	}
	fcntl(x->fd, F_SETFL, fcntl(x->fd, F_GETFL) & ~O_NONBLOCK);
	/* Two runs writing one file would interleave their bytes. */
	if (flock(x->fd, LOCK_EX | LOCK_NB) != 0) {
		close(x->fd);
		x->fd = -1;
		item_fail(x, CO_ETEMPFAIL, "%s: being fetched by another process", it->path);
		return false;
	}
	if (restart || x->is_file) {
		if (!restart_part(x)) {
			item_fail(x, errno_status(x->write_errno, CO_EIO), "%s: %s", x->part,
				  strerror(x->write_errno));
			return false;
		}
		return true;
	}
	it->bytes = 0;
	if (co_sha256_update_fd(ctx, x->hash, x->fd, x->part, &it->bytes) != CO_OK) {
		item_fail(x, CO_EIO, "%s", co_ctx_error(ctx));
		return false;
	}
	x->wb_started = x->wb_waited = it->bytes;
	if (it->bytes > x->limit && !restart_part(x)) {	/* cannot be this file */
		item_fail(x, errno_status(x->write_errno, CO_EIO), "%s: %s", x->part,
			  strerror(x->write_errno));
		return false;
	}
	return true;
}

static bool start_attempt(struct co_ctx *ctx, CURLM *multi, struct xfer *x,
			  const struct co_fetch_options *opt)
{
	struct co_fetch_item *it = x->item;
	char range[32];

	if (x->fd < 0 && x->dirfd == AT_FDCWD && !open_target_dir(x, x->rootfd, opt->beneath))
		return false;
	if (x->fd < 0 && !open_part(ctx, x, opt->restart))
		return false;
	if (!x->is_file && it->bytes > 0 && !may_resume(x) && !restart_part(x)) {
		item_fail(x, errno_status(x->write_errno, CO_EIO), "%s: %s", x->part,
			  strerror(x->write_errno));
		return false;
	}
	x->easy = co_curl_easy(ctx);
	if (!x->easy) {
		item_fail(x, CO_ESOFTWARE, "%s: cannot start a transfer", it->url);
		return false;
	}
	it->attempts++;
	it->state = CO_FETCH_ACTIVE;
	x->state = X_ACTIVE;
	x->body_started = x->discard = x->bad_range = x->error_page_cut = false;
	x->in_headers = false;
	x->discarded = 0;
	x->write_errno = 0;
	x->content_range_start = -1;
	x->errbuf[0] = '\0';
	x->last_data = x->window_start = co_monotonic();
	x->window_bytes = 0;
	x->range_sent = !x->is_file && !x->no_range && it->bytes > 0;

	CURL *e = x->easy;

	curl_easy_setopt(e, CURLOPT_URL, it->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
	/* A redirect may not lead from the web to the local disk. */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS,
			 (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS | CURLPROTO_FILE));
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(opt->connect_timeout * 1000));
	/*
	 * Stalls are caught in co_fetch_run(), not with CURLOPT_LOW_SPEED_*:
	 * curl averages the speed over several seconds, so a burst of data
	 * before a stall would hide it for that long.
	 */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "clusterops/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	if (opt->cacert)
		curl_easy_setopt(e, CURLOPT_CAINFO, opt->cacert);
	if (x->range_sent) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)it->bytes);
		curl_easy_setopt(e, CURLOPT_RANGE, range);
		x->headers = if_range(x);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	}
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		x->easy = NULL;
		curl_slist_free_all(x->headers);
		x->headers = NULL;
		item_fail(x, CO_ESOFTWARE, "%s: cannot start a transfer", it->url);
		return false;
	}
	return true;
}

/*
 * The transfer ended well: check its length, and have the sink hash what is
 * left and fsync the file; complete() follows once it has.
 */
static void received(struct xfer *x)
{
	struct co_fetch_item *it = x->item;

	if (it->size_known && it->bytes != it->size) {
		drop_part(x);
		item_fail(x, CO_EFAIL, "%s: %llu bytes, expected %llu", it->url,
			  (unsigned long long)it->bytes, (unsigned long long)it->size);
		return;
	}
	x->sync_steps = 0;
	x->has_syncer = false;
	x->fsync_errno = 0;
	x->state = X_SYNCING;
	sink_submit(x->sink, x, SINK_FSYNC, it->bytes, 0);
}

/* Hashed and synced: verify the .part file and rename it into place. */
static void complete(struct co_ctx *ctx, struct xfer *x)
{
	struct co_fetch_item *it = x->item;
	struct stat mine, named;
	char *dir, *slash;
	int dfd;

	if (x->has_syncer) {
		pthread_join(x->syncer, NULL);	/* done: it counted its step */
		x->has_syncer = false;
	}
	if (x->sink_errno) {
		int err = x->sink_errno;

		drop_part(x);
		item_fail(x, errno_status(err, CO_EIO), "%s: %s", x->part, strerror(err));
		return;
	}
	/* The name must still be the file written: never rename a link in. */
	if (fstat(x->fd, &mine) != 0 ||
	    fstatat(x->dirfd, x->part_base, &named, AT_SYMLINK_NOFOLLOW) != 0 ||
	    mine.st_dev != named.st_dev || mine.st_ino != named.st_ino) {
		close(x->fd);
		x->fd = -1;
		item_fail(x, CO_ECANTCREAT, "%s: replaced while being written: not used",
			  x->part);
		return;
	}
	if (co_sha256_final(ctx, x->hash, it->sha256_got) != CO_OK) {
		drop_part(x);
		item_fail(x, CO_ESOFTWARE, "%s: %s", it->path, co_ctx_error(ctx));
		return;
	}
	if (it->sha256 && strcasecmp(it->sha256, it->sha256_got) != 0) {
		drop_part(x);
		item_fail(x, CO_EFAIL, "%s: checksum mismatch: expected sha256 %s, got %s",
			  it->url, it->sha256, it->sha256_got);
		return;
	}
	/* On disk (the sink's fsync) before it has its name: a crash leaves the
	 * old file or the new. */
	if (x->fsync_errno || close(x->fd) != 0) {
		int err = x->fsync_errno ? x->fsync_errno : errno;

		x->fd = -1;
		drop_part(x);
		item_fail(x, errno_status(err, CO_EIO), "%s: %s", x->part, strerror(err));
		return;
	}
	x->fd = -1;
	if (renameat(x->dirfd, x->part_base, x->dirfd, x->base) != 0) {
		int err = errno;

		drop_part(x);
		item_fail(x, errno_status(err, CO_ECANTCREAT), "%s: %s", it->path,
			  strerror(err));
		return;
	}
	if (x->dirfd != AT_FDCWD) {
		fsync(x->dirfd);	/* the rename itself; best effort */
		dir = NULL;
	} else if ((dir = strdup(it->path))) {
		slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir] = '\0';
		dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);	/* the rename itself; best effort */
			close(dfd);
		}
		free(dir);
	}
	it->status = CO_OK;
	it->error[0] = '\0';
	it->state = CO_FETCH_DONE;
	x->state = X_DONE;
}

static bool transient_curl_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/*
 * The server's reply headers went past what libcurl accepts: in all
 * (CURLE_RECV_ERROR, "Too large response headers"), or in one line, which
 * libcurl before 8.6 reports as running out of memory while it reads the
 * headers. Not the network's fault: asking again gets the same.
 */
static bool headers_too_large(const struct xfer *x, CURLcode cc)
{
#if LIBCURL_VERSION_NUM >= 0x080600
	if (cc == CURLE_TOO_LARGE)
		return true;
#endif
	if (cc == CURLE_RECV_ERROR || cc == CURLE_OUT_OF_MEMORY)
		return strstr(x->errbuf, "Too large response headers") ||
		       (strstr(x->errbuf, "Rejected") && strstr(x->errbuf, "header")) ||
		       (cc == CURLE_OUT_OF_MEMORY && x->in_headers);
	return false;
}

static int curl_error_status(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return CO_ETEMPFAIL;
	case CURLE_FILE_COULDNT_READ_FILE:
	case CURLE_REMOTE_FILE_NOT_FOUND:
		return CO_EFAIL;
	case CURLE_LOGIN_DENIED:
	case CURLE_REMOTE_ACCESS_DENIED:
		return CO_ENOPERM;
	case CURLE_URL_MALFORMAT:
		return CO_EUSAGE;
	case CURLE_UNSUPPORTED_PROTOCOL:	/* the URL's was checked: a redirect's */
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_WEIRD_SERVER_REPLY:
		return CO_EPROTOCOL;
	default:
		return CO_EUNAVAILABLE;
	}
}

static int http_status(long code)
{
	if (code == 401 || code == 403)
		return CO_ENOPERM;
	if (code == 408 || code == 429)
		return CO_ETEMPFAIL;
	if (code >= 500)
		return CO_EUNAVAILABLE;
	if (code >= 400)
		return CO_EFAIL;	/* 404, 410: the file is not there */
	return CO_EPROTOCOL;
}

/* Seconds before the next attempt: Retry-After, else doubling with jitter. */
static double backoff(const struct co_fetch_options *opt, int attempt, curl_off_t retry_after,
		      unsigned *seed)
{
	double d;

	if (retry_after > 0)
		return retry_after < MAX_RETRY_AFTER ? (double)retry_after : MAX_RETRY_AFTER;
	d = opt->backoff * pow(2, attempt - 1);
	if (d > MAX_BACKOFF)
		d = MAX_BACKOFF;
	/* up to a quarter more, so that many clients do not retry in step */
	return d * (1.0 + (rand_r(seed) % 1000) / 4000.0);
}

/* One attempt ended: done, failed, or another attempt later. */
/*
 * Nothing received for the stall timeout, or less than TRICKLE_MIN bytes in
 * a whole one: the reason goes into errbuf.
 */
static bool stalled(struct xfer *x, double timeout)
{
	double now = co_monotonic();

	if (now - x->last_data > timeout) {
		snprintf(x->errbuf, sizeof(x->errbuf), "no data received for %g s", timeout);
		return true;
	}
	if (now - x->window_start <= timeout)
		return false;
	if (x->window_bytes < TRICKLE_MIN) {
		snprintf(x->errbuf, sizeof(x->errbuf), "less than %d bytes received in %g s",
			 TRICKLE_MIN, timeout);
		return true;
	}
	x->window_start = now;	/* enough came: a new window */
	x->window_bytes = 0;
	return false;
}

static void finish_attempt(CURLM *multi, struct xfer *x, CURLcode cc,
			   const struct co_fetch_options *opt, unsigned *seed)
{
	struct co_fetch_item *it = x->item;
	curl_off_t retry_after = 0;
	long code = 0;
	bool transient;
	int status;
	char why[CURL_ERROR_SIZE + 64];

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &retry_after);
	curl_multi_remove_handle(multi, x->easy);
	if (cc == CURLE_OK && !x->body_started && !begin_body(x))
		cc = CURLE_WRITE_ERROR;	/* an empty reply to a Range request */
	if (cc == CURLE_WRITE_ERROR && x->error_page_cut)
		cc = CURLE_OK;	/* the HTTP status below tells what it was */
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	curl_slist_free_all(x->headers);
	x->headers = NULL;

	if (cc == CURLE_WRITE_ERROR && x->too_big) {
		drop_part(x);
		if (x->limit_is_size)
			item_fail(x, CO_EFAIL, "%s: more than the expected %llu bytes", it->url,
				  (unsigned long long)x->limit);
		else
			item_fail(x, CO_EFAIL, "%s: larger than the limit of %llu bytes "
				  "(fetch_max_size)", it->url, (unsigned long long)x->limit);
		return;
	}
	if (cc == CURLE_WRITE_ERROR && x->write_errno) {
		int err = x->write_errno;

		drop_part(x);	/* a full disk gets its space back */
		item_fail(x, errno_status(err, CO_EIO), "%s: %s", x->part, strerror(err));
		return;
	}
	if (cc == CURLE_WRITE_ERROR && x->bad_range) {
		transient = true;
		x->no_range = true;
		status = CO_EPROTOCOL;
		snprintf(why, sizeof(why), "%s", x->range_sent
			 ? "wrong Content-Range in reply to a range request"
			 : "a part of the file (206) in reply to a request for all of it");
	} else if (cc != CURLE_OK && headers_too_large(x, cc)) {
		transient = false;
		status = CO_EPROTOCOL;
		snprintf(why, sizeof(why), "%s", x->errbuf[0] && cc != CURLE_OUT_OF_MEMORY ?
			 x->errbuf : "response headers too large");
	} else if (cc != CURLE_OK) {
		transient = transient_curl_error(cc);
		status = curl_error_status(cc);
		snprintf(why, sizeof(why), "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
	} else if (x->is_file || (code >= 200 && code < 300)) {
		received(x);
		return;
	} else if (code == 416 && x->range_sent && !x->no_range) {
		/* The part is stale (the file changed, or is complete): start over. */
		x->no_range = true;
		it->attempts--;
		if (!restart_part(x)) {
			drop_part(x);
			item_fail(x, errno_status(x->write_errno, CO_EIO), "%s: %s", x->part,
				  strerror(x->write_errno));
			return;
		}
		x->state = X_WAITING;
		it->state = CO_FETCH_WAITING;
		x->ready_at = 0;
		return;
	} else {
		status = http_status(code);
		transient = code == 408 || code == 429 || code >= 500;
		snprintf(why, sizeof(why), "HTTP %ld", code);
	}
	if (transient && it->attempts <= (int)opt->retries) {
		x->state = X_WAITING;
		it->state = CO_FETCH_WAITING;
		x->ready_at = co_monotonic() + backoff(opt, it->attempts, retry_after, seed);
		snprintf(it->error, sizeof(it->error), "%s: %s", it->url, why);
		return;
	}
	if (!transient || it->bytes == 0)
		drop_part(x);	/* nothing to resume from a source that refused */
	else if (x->fd >= 0) {
		sink_drain(x->sink);
		close(x->fd);	/* kept, for the next run to resume */
		x->fd = -1;
	}
	if (transient && it->attempts > 1)
		item_fail(x, status, "%s: %s (after %d attempts)", it->url, why, it->attempts);
	else
		item_fail(x, status, "%s: %s", it->url, why);
}

CO_API char *co_fetch_part_path(const char *path)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0;
	char *part;

	if (asprintf(&part, "%.*s.%s.part", dirlen, path, path + dirlen) < 0)
		return NULL;
	return part;
}

/* Where the target lies below opt->beneath: x->reldir, x->base, x->part_base. */
static int place(struct co_ctx *ctx, struct xfer *x, const char *beneath)
{
	const char *path = x->item->path, *rel, *slash;
	size_t bl = beneath ? strlen(beneath) : 0;

	while (bl > 1 && beneath[bl - 1] == '/')
		bl--;
	slash = strrchr(x->part, '/');
	x->part_base = slash ? slash + 1 : x->part;
	slash = strrchr(path, '/');
	x->base = slash ? slash + 1 : path;
	if (!beneath)
		return CO_OK;
	if (strncmp(path, beneath, bl) != 0 || path[bl] != '/' || !*x->base)
		return co_err(ctx, CO_ESOFTWARE, "%s: not beneath %s", path, beneath);
	for (rel = path + bl; *rel == '/'; rel++)
		;
	x->reldir = strndup(rel, (size_t)(x->base - rel));
	if (!x->reldir)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	return CO_OK;
}

static int setup(struct co_ctx *ctx, struct xfer *x, struct co_fetch_item *it,
		 const struct co_fetch_options *opt)
{
	memset(x, 0, sizeof(*x));
	x->item = it;
	x->fd = -1;
	x->dirfd = AT_FDCWD;
	x->limit = it->size_known ? it->size : UINT64_MAX;
	x->limit_is_size = it->size_known;
	if (opt->max_bytes && opt->max_bytes < x->limit) {
		x->limit = opt->max_bytes;
		x->limit_is_size = false;
	}
	x->state = X_WAITING;
	x->is_file = strncasecmp(it->url, "file:", 5) == 0;
	it->status = CO_OK;
	it->error[0] = '\0';
	it->sha256_got[0] = '\0';
	it->bytes = it->total = 0;
	it->attempts = 0;
	it->resumed = false;
	it->state = CO_FETCH_QUEUED;
	x->hash = co_sha256_new();
	x->part = co_fetch_part_path(it->path);
	if (!x->hash || !x->part)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	return place(ctx, x, opt->beneath);
}

/* A slot is free and an attempt is due: start it now, not after a poll. */
static bool can_start(const struct xfer *xs, size_t n, unsigned parallel)
{
	double now = co_monotonic();
	unsigned active = 0;
	bool due = false;

	for (size_t i = 0; i < n; i++) {
		active += xs[i].state == X_ACTIVE;
		due |= xs[i].state == X_WAITING && xs[i].ready_at <= now;
	}
	return due && active < parallel;
}

CO_API int co_fetch_run(struct co_ctx *ctx, struct co_fetch_item *items, size_t n,
			const struct co_fetch_options *opt)
{
	struct xfer *xs = calloc(n ? n : 1, sizeof(*xs));
	CURLM *multi = co_curl_multi(ctx);
	struct sink sink;
	bool sink_up = false;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	unsigned parallel = opt->parallel ? opt->parallel : 1;
	int rootfd = -1;
	double next_progress = 0;
	size_t left = n;
	int rc = CO_OK;

	if (!multi) {
		rc = CO_ESOFTWARE;	/* with its message */
		goto out;
	}
	if (!xs || !(sink_up = sink_init(&sink, multi))) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	if (opt->beneath) {
		rootfd = open(opt->beneath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rootfd < 0) {
			rc = co_err(ctx, errno_status(errno, CO_ECANTCREAT), "%s: %s",
				    opt->beneath, strerror(errno));
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		rc = setup(ctx, &xs[i], &items[i], opt);
		xs[i].rootfd = rootfd;
		xs[i].sink = &sink;
		if (rc)
			goto out;
	}
	while (left > 0) {
		unsigned active = 0;
		double now = co_monotonic(), wake = now + 0.25;
		int running = 0;
		CURLMsg *msg;
		int queued;

		for (size_t i = 0; i < n; i++)
			active += xs[i].state == X_ACTIVE;
		/* Start what may start, in the order given. */
		for (size_t i = 0; i < n && active < parallel; i++) {
			if (xs[i].state != X_WAITING)
				continue;
			if (xs[i].ready_at > now) {
				if (xs[i].ready_at < wake)
					wake = xs[i].ready_at;
				continue;
			}
			if (start_attempt(ctx, multi, &xs[i], opt))
				active++;
			else
				left--;
		}
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &queued))) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			finish_attempt(multi, x, msg->data.result, opt, &seed);
			if (x->state == X_DONE)
				left--;
		}
		for (size_t i = 0; i < n; i++) {
			struct xfer *x = &xs[i];

			if (x->state != X_ACTIVE || !stalled(x, opt->stall_timeout))
				continue;
			finish_attempt(multi, x, CURLE_OPERATION_TIMEDOUT, opt, &seed);
			if (x->state == X_DONE)
				left--;
		}
		/* Rename into place what the sink has hashed and synced. */
		for (size_t i = 0; i < n; i++) {
			if (xs[i].state != X_SYNCING || !sink_synced(&sink, &xs[i]))
				continue;
			complete(ctx, &xs[i]);
			left--;
		}
		if (opt->progress && (now >= next_progress || left == 0)) {
			opt->progress(opt->progress_arg, items, n);
			next_progress = now + (opt->progress_interval > 0 ?
					       opt->progress_interval : 0.2);
		}
		if (left > 0 && !can_start(xs, n, parallel)) {
			int ms = (int)((wake - co_monotonic()) * 1000);

			curl_multi_poll(multi, NULL, 0, ms > 0 ? (ms < 250 ? ms : 250) : 0, NULL);
		}
	}
out:
	if (sink_up)
		sink_end(&sink);	/* before the files it reads are closed */
	for (size_t i = 0; xs && i < n; i++) {
		if (xs[i].has_syncer)
			pthread_join(xs[i].syncer, NULL);
		if (xs[i].easy) {
			curl_multi_remove_handle(multi, xs[i].easy);
			curl_easy_cleanup(xs[i].easy);
		}
		curl_slist_free_all(xs[i].headers);
		if (xs[i].fd >= 0)
			close(xs[i].fd);
		if (xs[i].reldir && xs[i].dirfd >= 0)
			close(xs[i].dirfd);
		co_sha256_free(xs[i].hash);
		free(xs[i].part);
		free(xs[i].reldir);
	}
	free(xs);
	if (rootfd >= 0)
		close(rootfd);
	if (multi)
		curl_multi_cleanup(multi);
	return rc;
}
