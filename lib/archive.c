/* SPDX-License-Identifier: MIT */
/*
 * Safe extraction with libarchive. Every member is checked before anything
 * is written: absolute paths, ".." components and links that would leave
 * the destination refuse the whole archive. Members are written into a
 * temporary directory beside the destination, which is renamed into place
 * only when the whole archive has been unpacked, and removed otherwise.
 *
 * Each temporary directory is held with an exclusive flock(2) for as long
 * as it is used: a run killed outright (SIGKILL, a crash, a power cut)
 * leaves its directory behind, and a later run removes such a leftover
 * only when it can take that lock, so never one that is still in use.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "internal.h"

static const struct co_archive_suffix suffixes[] = {
	{ ".tar.gz", false, CO_ARCHIVE_FILTER_GZIP },
	{ ".tgz", false, CO_ARCHIVE_FILTER_GZIP },
	{ ".tar.zst", false, CO_ARCHIVE_FILTER_ZSTD },
	{ ".tar.bz2", false, CO_ARCHIVE_FILTER_BZIP2 },
	{ ".tar.xz", false, CO_ARCHIVE_FILTER_XZ },
	{ ".tar", false, CO_ARCHIVE_FILTER_NONE },
	{ ".zip", true, CO_ARCHIVE_FILTER_NONE },
};

const struct co_archive_suffix *co_archive_suffix_of(const char *name)
{
	const char *base = strrchr(name, '/');
	size_t len = strlen(base ? base + 1 : name);

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i].suffix);

		if (len > sl && strcasecmp(name + strlen(name) - sl, suffixes[i].suffix) == 0)
			return &suffixes[i];
	}
	return NULL;
}

/* Length of name's archive suffix, 0 when it has none. */
static size_t suffix_len(const char *name)
{
	const struct co_archive_suffix *s = co_archive_suffix_of(name);

	return s ? strlen(s->suffix) : 0;
}

CO_API bool co_archive_supported(const char *name)
{
	return suffix_len(name) > 0;
}

CO_API char *co_archive_stem(const char *name)
{
	size_t sl = suffix_len(name);
	char *stem;

	if (!sl)
		return NULL;
	stem = strdup(name);
	if (stem)
		stem[strlen(stem) - sl] = '\0';
	return stem;
}

/*
 * Check a member's path, with any leading "./" dropped: relative, not
 * empty, no ".." component. Returns the path to use, or NULL with *why.
 */
static const char *safe_member_path(const char *p, const char **why)
{
	const char *s;

	if (!p || !*p) {
		*why = "empty name";
		return NULL;
	}
	if (p[0] == '/') {
		*why = "absolute path";
		return NULL;
	}
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	for (s = p; *s; ) {
		size_t n = strcspn(s, "/");

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			*why = "'..' in path";
			return NULL;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	if (!*p) {
		*why = "empty name";
		return NULL;
	}
	return p;
}

/* Directories above a member: "a/b/c" -> 2, "./a//b" -> 1. */
static int depth_of_parent(const char *path)
{
	int components = 0;

	for (const char *s = path; *s; ) {
		size_t n = strcspn(s, "/");

		if (n > 0 && !(n == 1 && s[0] == '.'))
			components++;
		s += n;
		while (*s == '/')
			s++;
	}
	return components > 0 ? components - 1 : 0;
}

/*
 * A symbolic link stays inside the tree when its target is relative and
 * made of leading ".." components, no more than the link's own depth,
 * followed by components that only go down. A ".." after a downward
 * component is refused: through another link it could climb out.
 */
static bool symlink_stays_inside(const char *member, const char *target)
{
	int up = 0, depth = depth_of_parent(member);
	bool descending = false;

	if (!target || !*target || target[0] == '/')
		return false;
	for (const char *s = target; *s; ) {
		size_t n = strcspn(s, "/");

		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (descending || ++up > depth)
				return false;
		} else if (n > 0 && !(n == 1 && s[0] == '.')) {
			descending = true;
		}
		s += n;
		while (*s == '/')
			s++;
	}
	return true;
}

/*
 * The directory name below parentfd, opened for reading after it has been
 * made readable, writable and searchable by its owner (a tree unpacked by
 * an older version may hold a directory of mode 0555 or 0644, whose
 * entries could not be removed otherwise). Never through a symbolic link:
 * the mode is changed through an O_PATH descriptor of the directory itself.
 * With mine_only, a directory of another user's is refused (EPERM): in a
 * leftover, it was put there by someone else, and root would otherwise
 * empty it.
 */
static int open_dir_to_empty(int parentfd, const char *name, bool mine_only)
{
	int pfd = openat(parentfd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
	struct stat st;
	int fd, err;

	if (pfd < 0)
		return -1;
	if (mine_only && (fstat(pfd, &st) != 0 || st.st_uid != geteuid())) {
		close(pfd);
		errno = EPERM;
		return -1;
	}
	if (fstat(pfd, &st) == 0 && (st.st_mode & S_IRWXU) != S_IRWXU) {
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		if (chmod(proc, (st.st_mode & 07777) | S_IRWXU) != 0) {
			err = errno;
			close(pfd);
			errno = err;
			return -1;
		}
	}
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = errno;
	close(pfd);
	errno = err;
	return fd;
}

static int remove_at(int parentfd, const char *name, bool mine_only);

/*
 * A stream of the directory open as fd. A DIR stream owns its descriptor:
 * it gets a duplicate of its own, so fd stays the caller's. NULL and errno.
 */
static DIR *dir_stream(int fd)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	int err = errno;

	if (!dir && dup_fd >= 0) {
		close(dup_fd);
		errno = err;
	}
	return dir;
}

/*
 * Remove every entry of the directory open as fd, never following links.
 * 0, or the errno of the first failure (the rest is still removed as far
 * as it can be).
 */
static int remove_entries(int fd, bool mine_only)
{
	struct dirent *d;
	DIR *dir = dir_stream(fd);
	int err = 0;

	if (!dir)
		return errno;
	while ((errno = 0, d = readdir(dir))) {
		int e;

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		e = remove_at(dirfd(dir), d->d_name, mine_only);
		if (e && !err)
			err = e;
	}
	if (errno && !err)
		err = errno;
	closedir(dir);
	return err;
}

/*
 * rm -rf name below parentfd, never following links. 0, or the errno of
 * the first failure (the rest is still removed as far as it can be). What
 * is already gone counts as removed: another run may be removing the same
 * leftover.
 */
static int remove_at(int parentfd, const char *name, bool mine_only)
{
	struct stat st;
	int fd, err;

	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parentfd, name, 0) == 0 || errno == ENOENT ? 0 : errno;
	fd = open_dir_to_empty(parentfd, name, mine_only);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	err = remove_entries(fd, mine_only);
	close(fd);
	if (unlinkat(parentfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && !err)
		err = errno;
	return err;
}

/* Whether name in dirfd is still the file open as fd. */
static bool still_named(int dirfd, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * The directory open as fd (st being its status) made readable, writable
 * and searchable by its owner, then emptied: 0 or an errno, as
 * remove_entries().
 */
static int empty_dir(int fd, const struct stat *st, bool mine_only)
{
	if ((st->st_mode & S_IRWXU) != S_IRWXU && fchmod(fd, (st->st_mode & 07777) | S_IRWXU) != 0)
		return errno;
	return remove_entries(fd, mine_only);
}

/* Whether the directory open as fd holds nothing but "." and "..". */
static bool dir_empty(int fd)
{
	DIR *dir = dir_stream(fd);
	struct dirent *d;
	bool empty = dir != NULL;

	while (empty && (d = readdir(dir)))
		empty = strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0;
	if (dir)
		closedir(dir);
	return empty;
}

/*
 * The temporary tree's name: ".NAME.tmp-" and six letters or digits, which
 * mkdtemp(3) chooses. A leftover is recognised by exactly this pattern.
 */
#define TMP_INFIX ".tmp-"
#define TMP_RANDOM "XXXXXX"
/*
 * What makes a directory so named one of the extractor's: a file of this
 * user's by this name in it, made as soon as the tree is claimed (and in
 * a tree it replaces, once swapped out), removed before the tree is put
 * in place. Whoever else may write the directory above can rename a
 * directory of the user's to a leftover's name, but cannot put this file
 * in it: that directory is not taken for a leftover and emptied.
 */
#define TREE_MARK ".sc-fetch-tree"

static bool marked(int fd)
{
	struct stat st;

	return fstatat(fd, TREE_MARK, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       st.st_uid == geteuid();
}

/* Mark the tree open as fd; its mark's inode in *ino. 0 or an errno. */
static int mark_tree(int fd, ino_t *ino)
{
	struct stat st;
	int m = openat(fd, TREE_MARK, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int err = m < 0 || fstat(m, &st) != 0 ? errno : 0;

	if (m >= 0)
		close(m);
	if (!err && ino)
		*ino = st.st_ino;
	return err;
}

static bool leftover_name(const char *entry, const char *name)
{
	size_t n = strlen(name), i;

	if (entry[0] != '.' || strncmp(entry + 1, name, n) != 0 ||
	    strncmp(entry + 1 + n, TMP_INFIX, strlen(TMP_INFIX)) != 0)
		return false;
	entry += 1 + n + strlen(TMP_INFIX);
	for (i = 0; entry[i]; i++)
		if (!((entry[i] >= 'a' && entry[i] <= 'z') || (entry[i] >= 'A' && entry[i] <= 'Z') ||
		      (entry[i] >= '0' && entry[i] <= '9')))
			return false;
	return i == strlen(TMP_RANDOM);
}

/*
 * Lock the temporary tree this process has just made as name in parentfd,
 * for as long as it is used. Between mkdtemp(3) and the lock, another
 * run's co_archive_remove_leftovers() may take the tree for a leftover:
 * the lock is then its (EWOULDBLOCK), or the tree is gone once the lock
 * is had; either way -1 with EAGAIN, and the caller makes another. Where
 * directories cannot be locked at all (flock(2) over some NFS), the tree
 * is used unlocked: no leftover cleaner can lock it either, so none
 * removes it. Whoever else may write parentfd may also have swapped
 * another directory in under the name (renameat2(2) RENAME_EXCHANGE):
 * only what mkdtemp(3) makes is taken, an empty directory of this user's
 * open to no one else, so that no directory of theirs is filled, or
 * emptied when the unpacking fails. The descriptor, or -1 and errno.
 */
static int claim_tree(int parentfd, const char *name)
{
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0) {
		if (errno == ENOENT)
			errno = EAGAIN;
		return -1;
	}
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077) ||
	    !dir_empty(fd) || (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) ||
	    !still_named(parentfd, name, fd)) {
		close(fd);
		errno = EAGAIN;
		return -1;
	}
	return fd;
}

/*
 * A leftover candidate, entry in dirfd: removed when it is a directory of
 * this user's that no running extraction holds; its contents through the
 * descriptor locked and checked, the directory itself by name while the
 * lock is held. -1 when it is left alone (a link, a file, another user's,
 * in use), else 0 or the errno of a failure to remove it whole.
 */
static int remove_leftover(int dirfd, const char *entry)
{
	struct stat st;
	int fd, err;

	/* O_NOFOLLOW: a planted link named like a leftover leads nowhere */
	fd = openat(dirfd, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || !marked(fd) ||
	    flock(fd, LOCK_EX | LOCK_NB) != 0 || !still_named(dirfd, entry, fd)) {
		close(fd);
		return -1;
	}
	err = empty_dir(fd, &st, true);
	if (!err && !still_named(dirfd, entry, fd))
		err = EEXIST;	/* renamed away meanwhile: whatever has the name is not this */
	else if (!err && unlinkat(dirfd, entry, AT_REMOVEDIR) != 0 && errno != ENOENT)
		err = errno;
	close(fd);
	return err;
}

struct leftovers {
	const char *name;
	char **v;
	size_t n;
};

static int add_leftover(struct co_ctx *ctx, const char *entry, unsigned char d_type, void *arg)
{
	struct leftovers *l = arg;
	char **p;

	(void)d_type;	/* what it is is checked on the descriptor */
	if (!leftover_name(entry, l->name))
		return CO_OK;
	p = co_grow(l->v, l->n, sizeof(*p));
	if (!p)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	l->v = p;
	if (!(l->v[l->n] = strdup(entry)))
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	l->n++;
	return CO_OK;
}

CO_API int co_archive_remove_leftovers(struct co_ctx *ctx, int dirfd, const char *name,
				       co_archive_leftover_fn *fn, void *arg)
{
	struct leftovers l = { .name = name };
	int rc;

	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return co_err(ctx, CO_EUSAGE, "%s: not a directory name", name);
	/* Listed first, removed after: the listing does not run over removals. */
	rc = co_dir_each(ctx, dirfd, "leftovers", add_leftover, &l);
	for (size_t i = 0; i < l.n; i++) {
		int err = remove_leftover(dirfd, l.v[i]);

		if (err >= 0 && fn)
			fn(arg, l.v[i], err);
		free(l.v[i]);
	}
	free(l.v);
	return rc;
}

/*
 * A signal that ends the process (SIGINT, SIGTERM, SIGHUP) while an
 * archive is unpacked is held until the temporary tree is removed: the
 * handler only notes it, unpacking stops between members or data blocks,
 * and once the tree is gone the caller's disposition is put back and the
 * signal raised again, so that the process still dies of it (128 + N).
 */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define N_STOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

static volatile sig_atomic_t stop_signal;

struct stop_guard {
	struct sigaction old[N_STOP_SIGNALS];
	bool caught[N_STOP_SIGNALS];
};

static void note_stop_signal(int sig)
{
	stop_signal = sig;
}

static void hold_stop_signals(struct stop_guard *g)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = note_stop_signal;
	sigemptyset(&sa.sa_mask);
	stop_signal = 0;
	for (size_t i = 0; i < N_STOP_SIGNALS; i++)	/* one ignored stays ignored */
		g->caught[i] = sigaction(stop_signals[i], NULL, &g->old[i]) == 0 &&
			       g->old[i].sa_handler != SIG_IGN &&
			       sigaction(stop_signals[i], &sa, NULL) == 0;
}

/* The tree is gone: the caller's dispositions back, and a signal held raised. */
static void release_stop_signals(struct stop_guard *g)
{
	int sig = stop_signal;

	for (size_t i = 0; i < N_STOP_SIGNALS; i++)
		if (g->caught[i])
			sigaction(stop_signals[i], &g->old[i], NULL);
	stop_signal = 0;
	if (sig)
		raise(sig);
}

static int stopped(struct co_ctx *ctx, const char *archive_path)
{
	return co_err(ctx, CO_ETEMPFAIL, "%s: unpacking interrupted by signal %d",
		      archive_path, (int)stop_signal);
}

static int write_status(int err)
{
	if (err == EACCES || err == EPERM)
		return CO_ENOPERM;
	return CO_EIO;
}

/*
 * A member could not be written into the fresh temporary tree. When the
 * reason is the archive's own contents (a file where a member needs a
 * directory, a directory where it has a file, a name too long, a loop),
 * the archive is bad: CO_EDATA. The disk's own failures (full, read-only,
 * over quota, an I/O error) stay CO_EIO.
 */
static int member_status(int err)
{
	switch (err) {
	case 0:			/* libarchive's own complaint, about the member */
	case ENOTDIR:
	case EEXIST:
	case EISDIR:
	case ENOTEMPTY:
	case ENAMETOOLONG:
	case ELOOP:
	case EMLINK:
	case EINVAL:
	case EILSEQ:
		return CO_EDATA;
	default:
		return write_status(err);
	}
}

/*
 * A failure to write a member: libarchive's message, with the system's
 * reason when the message does not already give it.
 */
static int member_error(struct co_ctx *ctx, struct archive *out, const char *archive_path,
			const char *name)
{
	int err = archive_errno(out);
	const char *msg = archive_error_string(out);

	if (!msg)
		msg = "cannot write";
	if (err > 0 && !strstr(msg, strerror(err)))
		return co_err(ctx, member_status(err), "%s: %s: %s: %s", archive_path, name, msg,
			      strerror(err));
	return co_err(ctx, member_status(err), "%s: %s: %s", archive_path, name, msg);
}

/* Check one member and point it into root. */
static int prepare_entry(struct co_ctx *ctx, const char *archive_path, const char *root,
			 struct archive_entry *e)
{
	const char *why = NULL;
	const char *name = archive_entry_pathname(e);
	const char *path = safe_member_path(name, &why);
	const char *link;
	char *full = NULL;
	mode_t perm;
	int rc = CO_OK;

	if (!name)	/* what libarchive could not convert */
		return co_err(ctx, CO_EDATA, "%s: a member's name is not UTF-8", archive_path);
	if (!path)
		return co_err(ctx, CO_EDATA, "%s: unsafe member '%s': %s", archive_path, name, why);
	link = archive_entry_hardlink(e);
	if (link) {
		const char *target = safe_member_path(link, &why);

		if (!target)
			return co_err(ctx, CO_EDATA,
				      "%s: unsafe member '%s': hard link to '%s': %s",
				      archive_path, name, link, why);
		struct stat st;

		if (asprintf(&full, "%s/%s", root, target) < 0)
			return co_err(ctx, CO_ESOFTWARE, "out of memory");
		/*
		 * Only to a regular file unpacked before it: a hard link to a
		 * symbolic link would copy the link to another depth, where
		 * its "../.." leads out of the tree.
		 */
		if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(full);
			return co_err(ctx, CO_EDATA, "%s: unsafe member '%s': hard link to '%s': "
				      "not a regular file unpacked before it", archive_path,
				      name, link);
		}
		archive_entry_copy_hardlink(e, full);
		free(full);
	} else {
		switch (archive_entry_filetype(e)) {
		case AE_IFREG:
			/* its owner can read it: a member of mode 0000 too */
			archive_entry_set_perm(e, archive_entry_perm(e) | S_IRUSR);
			break;
		case AE_IFDIR:
			/*
			 * Its owner can list it, make and remove its entries: a
			 * later run must be able to remove the tree it replaces;
			 * whoever may list it may enter it (0644 -> 0755).
			 */
			perm = archive_entry_perm(e) | S_IRWXU;
			archive_entry_set_perm(e, perm | (perm & 0444) >> 2);
			break;
		case AE_IFLNK:
			link = archive_entry_symlink(e);
			if (!symlink_stays_inside(path, link))
				return co_err(ctx, CO_EDATA, "%s: unsafe member '%s': "
					      "symbolic link to '%s' leaves the archive",
					      archive_path, name, link ? link : "");
			break;
		default:
			return co_err(ctx, CO_EDATA,
				      "%s: member '%s': not a file, directory or link",
				      archive_path, name);
		}
	}
	if (asprintf(&full, "%s/%s", root, path) < 0)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	archive_entry_copy_pathname(e, full);
	free(full);
	return rc;
}

int co_extract_limits_read(struct co_ctx *ctx, struct co_extract_limits *lim)
{
	const char *members = co_config_get(ctx, CO_KEY_EXTRACT_MAX_MEMBERS);
	int rc = co_parse_size(ctx, "extract_max_size",
			       co_config_get(ctx, CO_KEY_EXTRACT_MAX_SIZE), &lim->max_bytes);

	lim->bytes = 0;
	lim->members = 0;
	lim->max_members = strtoll(members, NULL, 10);	/* validated when set */
	return rc;
}

/* Room for n more bytes of what the archive unpacks to, or the error. */
static int count_bytes(struct co_ctx *ctx, const char *archive_path, const char *name,
		       struct co_extract_limits *lim, uint64_t n)
{
	if (n > lim->max_bytes - lim->bytes)
		return co_err(ctx, CO_EDATA, "%s: %s: unpacks to more than the limit of "
			      "%llu bytes (extract_max_size)", archive_path, name,
			      (unsigned long long)lim->max_bytes);
	lim->bytes += n;
	return CO_OK;
}

/*
 * A member's data, counted as it is unpacked (a header's size may lie) by
 * the extent it reaches, not the bytes it brings: the holes of a sparse
 * member take room in the file too, as does its size in the header, to
 * which the file is cut or extended at its end.
 */
static int copy_data(struct co_ctx *ctx, const char *archive_path, struct archive *in,
		     struct archive *out, const char *name, struct co_extract_limits *lim, uint64_t declared)
{
	uint64_t extent = 0;

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t offset;
		int r, rc;

		if (stop_signal)
			return stopped(ctx, archive_path);
		r = archive_read_data_block(in, &buf, &size, &offset);

		if (r == ARCHIVE_EOF)
			return declared > extent ? count_bytes(ctx, archive_path, name, lim,
							       declared - extent) : CO_OK;
		if (r < ARCHIVE_WARN)
			return co_err(ctx, CO_EDATA, "%s: %s: %s", archive_path, name,
				      archive_error_string(in));
		if (offset < 0 || (uint64_t)offset > UINT64_MAX - size)
			return co_err(ctx, CO_EDATA, "%s: %s: a block out of range",
				      archive_path, name);
		if ((uint64_t)offset + size > extent) {
			rc = count_bytes(ctx, archive_path, name, lim,
					 (uint64_t)offset + size - extent);
			if (rc)
				return rc;
			extent = (uint64_t)offset + size;
		}
		/* a failed write(2), a full disk say, is only ARCHIVE_WARN here */
		if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_OK)
			return member_error(ctx, out, archive_path, name);
	}
}

struct archive *co_archive_reader_new(void)
{
	struct archive *in = archive_read_new();

	if (in) {
		archive_read_support_format_tar(in);
		archive_read_support_format_zip(in);
		archive_read_support_filter_gzip(in);
		archive_read_support_filter_bzip2(in);
		archive_read_support_filter_xz(in);
		archive_read_support_filter_zstd(in);
	}
	return in;
}

/* The end of the zip's tail searched for its end record, as libarchive does. */
#define ZIP_TAIL (22 + 65535 + 20)

/*
 * Whether the end of fp holds a zip's end record signature, where
 * libarchive's seekable zip reader looks for one (whatever its fields say).
 */
static bool zip_tail_signed(FILE *fp, off_t size)
{
	size_t n = size < ZIP_TAIL ? (size_t)size : ZIP_TAIL;
	unsigned char *tail = malloc(n);
	bool found = false;

	if (tail && fseeko(fp, size - (off_t)n, SEEK_SET) == 0 && fread(tail, 1, n, fp) == n)
		found = memmem(tail, n, "PK\5\6", 4) != NULL;
	free(tail);
	return found;
}

/*
 * The central directory headers there can be: the "PK\1\2" signatures
 * anywhere in fp. libarchive reads the directory's headers one after
 * another, each starting with one and at least 46 bytes long, from an
 * offset it works out from the end record: however the records lie about
 * that offset, it cannot read more headers than there are signatures.
 * Counted up to max + 1.
 */
static uint64_t zip_signatures(FILE *fp, uint64_t max)
{
	enum { CHUNK = 1 << 16 };
	unsigned char *buf = malloc(CHUNK + 3);
	uint64_t count = 0;
	size_t kept = 0, got;

	if (!buf || fseeko(fp, 0, SEEK_SET) != 0) {
		free(buf);
		return 0;
	}
	while (count <= max && (got = fread(buf + kept, 1, CHUNK, fp)) > 0) {
		size_t len = kept + got;

		for (const unsigned char *p = buf; count <= max &&
		     (p = memmem(p, len - (size_t)(p - buf), "PK\1\2", 4)); p += 4)
			count++;
		/* a signature cut by the chunk's end: its first bytes carried over */
		kept = len < 3 ? len : 3;
		memmove(buf, buf + len - kept, kept);
	}
	free(buf);
	return count;
}

/*
 * libarchive's seekable zip reader takes the whole central directory into
 * memory before the first member, reading headers until the end record,
 * whatever count it declares: a zip of millions of empty entries would
 * take gigabytes before the member limit could apply. So the headers
 * there can be are counted here first, whatever the records say of where
 * the directory starts and what it holds: more than extract_max_members
 * refuses the archive.
 */
static int check_zip_directory(struct co_ctx *ctx, int fd, const char *archive_path,
			       const struct co_extract_limits *lim)
{
	static const unsigned char filtered[][4] = {
		{ 0x1f, 0x8b }, { 0x28, 0xb5, 0x2f, 0xfd }, { 'B', 'Z', 'h' },
		{ 0xfd, '7', 'z', 'X' },
	};
	unsigned char head[4];
	struct stat st;
	int rc = CO_OK, dup_fd;
	FILE *fp;

	/* Only a regular file is seekable, and read by the seekable reader. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 22)
		return CO_OK;
	/* A stream of its own, on a duplicate: the caller rewinds fd after. */
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	fp = dup_fd >= 0 ? fdopen(dup_fd, "rb") : NULL;
	if (!fp) {
		if (dup_fd >= 0)
			close(dup_fd);
		return CO_OK;	/* the reader says why, if it cannot read it either */
	}
	if (fseeko(fp, 0, SEEK_SET) != 0 || fread(head, 1, sizeof(head), fp) != sizeof(head))
		goto out;
	/* a compressed stream is read as a stream: never by the seekable reader */
	for (size_t i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++)
		if (memcmp(head, filtered[i], filtered[i][2] ? (filtered[i][3] ? 4 : 3) : 2) == 0)
			goto out;
	if (zip_tail_signed(fp, st.st_size) &&
	    zip_signatures(fp, (uint64_t)lim->max_members) > (uint64_t)lim->max_members)
		rc = co_err(ctx, CO_EDATA, "%s: more than %lld members (extract_max_members): "
			    "it holds more central directory headers", archive_path,
			    lim->max_members);
out:
	fclose(fp);
	return rc;
}

/* Unpack every member of the archive open as fd into root, a fresh empty directory. */
static int unpack_in(struct co_ctx *ctx, int fd, const char *archive_path, const char *root)
{
	struct archive *in = co_archive_reader_new();
	struct archive *out = archive_write_disk_new();
	struct archive_entry *e;
	struct co_extract_limits lim;
	int rc = co_extract_limits_read(ctx, &lim);
	int r;

	if (rc)
		goto out;
	if (!in || !out) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	/*
	 * Our checks above come first; these are libarchive's own, kept as a
	 * second line: no ".." and no writing through a symbolic link.
	 * No ARCHIVE_EXTRACT_OWNER/PERM: set-id bits and owners are not restored.
	 */
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME |
				       ARCHIVE_EXTRACT_SECURE_NODOTDOT |
				       ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	rc = check_zip_directory(ctx, fd, archive_path, &lim);
	if (rc)
		goto out;
	/* From its first byte, whatever the check (or the caller) read; a pipe cannot seek. */
	if (lseek(fd, 0, SEEK_SET) != 0 && errno != ESPIPE) {
		rc = co_err(ctx, CO_EIO, "%s: %s", archive_path, strerror(errno));
		goto out;
	}
	/* fd stays the caller's: libarchive does not close it */
	if (archive_read_open_fd(in, fd, 256 << 10) != ARCHIVE_OK) {
		int err = archive_errno(in);

		rc = co_err(ctx, err == EACCES || err == EIO ? write_status(err) : CO_EDATA,
			    "%s: %s", archive_path, archive_error_string(in));
		goto out;
	}
	while (!stop_signal && (r = archive_read_next_header(in, &e)) != ARCHIVE_EOF) {
		la_int64_t size;
		char *name;

		if (r < ARCHIVE_WARN) {
			rc = co_err(ctx, CO_EDATA, "%s: %s", archive_path,
				    archive_error_string(in));
			goto out;
		}
		if (++lim.members > lim.max_members) {
			rc = co_err(ctx, CO_EDATA, "%s: more than %lld members (extract_max_members)",
				    archive_path, lim.max_members);
			goto out;
		}
		name = co_strdup0(archive_entry_pathname(e));
		size = archive_entry_size(e);
		/* a size past the limit is refused before its file is made */
		rc = size > 0 && (uint64_t)size > lim.max_bytes - lim.bytes
		     ? count_bytes(ctx, archive_path, name ? name : "", &lim, (uint64_t)size)
		     : prepare_entry(ctx, archive_path, root, e);
		if (rc == CO_OK && archive_write_header(out, e) < ARCHIVE_WARN)
			rc = member_error(ctx, out, archive_path, name ? name : "");
		if (rc == CO_OK && size > 0)
			rc = copy_data(ctx, archive_path, in, out, name ? name : "", &lim,
				       (uint64_t)size);
		if (rc == CO_OK && archive_write_finish_entry(out) < ARCHIVE_WARN)
			rc = member_error(ctx, out, archive_path, name ? name : "");
		free(name);
		if (rc)
			goto out;
	}
	if (stop_signal) {
		rc = stopped(ctx, archive_path);
		goto out;
	}
	if (archive_write_close(out) < ARCHIVE_WARN)
		rc = co_err(ctx, member_status(archive_errno(out)), "%s: %s", archive_path,
			    archive_error_string(out));
out:
	archive_read_free(in);
	archive_write_free(out);
	return rc;
}

/*
 * The same, with this thread's characters UTF-8. libarchive gives a
 * member's name in the locale's character set, and the tools set none: in
 * the C locale the UTF-8 names of a zip (café.txt, as Python, Java,
 * Windows and macOS write them) cannot be converted, and the member has
 * no name. In C.UTF-8 they come out as their bytes; the names that carry
 * no character set (ustar's, an unflagged zip's) are their bytes either
 * way.
 */
static int unpack(struct co_ctx *ctx, int fd, const char *archive_path, const char *root)
{
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	locale_t was = utf8 ? uselocale(utf8) : (locale_t)0;
	int rc = unpack_in(ctx, fd, archive_path, root);

	if (utf8) {
		uselocale(was);
		freelocale(utf8);
	}
	return rc;
}

/*
 * The tree about to be replaced, locked too: once swapped out it bears the
 * temporary name until it is removed, and another run's leftover cleaner
 * must not remove it at the same time. Best effort: anyone who can read
 * the tree can lock it, so one held by someone else (another run replacing
 * it at the same moment, say) is waited for a second at most, then
 * replaced without the lock; -1 then, and when it is not a directory.
 */
static int lock_replaced(int parentfd, const char *name)
{
	const struct timespec pause = { 0, 20 * 1000 * 1000 };

	for (int i = 0; i < 50 && !stop_signal; i++) {
		int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err;

		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (still_named(parentfd, name, fd))
				return fd;
			close(fd);	/* replaced meanwhile: lock the new one */
			continue;
		}
		err = errno;
		close(fd);
		if (err != EWOULDBLOCK)
			return -1;
		nanosleep(&pause, NULL);
	}
	return -1;
}

/*
 * Put the unpacked tree, tmp in parentfd, at name (dest, for messages),
 * atomically replacing what is there. *replaced: tmp now holds the old
 * tree, *oldfd that tree locked (-1 when it could not be).
 */
static int move_into_place(struct co_ctx *ctx, int parentfd, const char *tmp, const char *name,
			   const char *dest, unsigned flags, bool *replaced, int *oldfd)
{
	struct stat st;

	*replaced = false;
	*oldfd = -1;
	if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (renameat(parentfd, tmp, parentfd, name) == 0)
			return CO_OK;
		return co_err(ctx, write_status(errno) == CO_ENOPERM ? CO_ENOPERM
			      : CO_ECANTCREAT, "%s: %s", dest, strerror(errno));
	}
	if (!(flags & CO_ARCHIVE_REPLACE))
		return co_err(ctx, CO_ECANTCREAT, "%s: already exists", dest);
	if (S_ISDIR(st.st_mode))
		*oldfd = lock_replaced(parentfd, name);
	/* Swap the two in one step; afterwards tmp holds the old tree. */
	if (renameat2(parentfd, tmp, parentfd, name, RENAME_EXCHANGE) != 0)
		return co_err(ctx, write_status(errno) == CO_ENOPERM ? CO_ENOPERM
			      : CO_ECANTCREAT, "%s: %s", dest, strerror(errno));
	*replaced = true;
	return CO_OK;
}

/*
 * A fresh temporary tree beside dest, in the working directory (dest's
 * directory, parentfd), locked: tmp is its name, which mkdtemp(3) fills
 * in, and *treefd the locked descriptor. shown names parentfd in messages.
 */
static int make_tree(struct co_ctx *ctx, int parentfd, const char *shown, char *tmp,
		     int *treefd, ino_t *mark)
{
	size_t len = strlen(tmp);
	int err;

	for (int tries = 0; ; tries++) {
		memcpy(tmp + len - strlen(TMP_RANDOM), TMP_RANDOM, strlen(TMP_RANDOM));
		if (!mkdtemp(tmp)) {
			err = errno;
			break;
		}
		*treefd = claim_tree(parentfd, tmp);
		if (*treefd >= 0) {
			if (!(err = mark_tree(*treefd, mark)))
				return CO_OK;
			close(*treefd);
			*treefd = -1;
		} else if ((err = errno) == EAGAIN && tries < 100) {
			continue;	/* taken for a leftover, and removed: another */
		}
		if (err != EAGAIN)
			unlinkat(parentfd, tmp, AT_REMOVEDIR);	/* ours, still empty */
		break;
	}
	return co_err(ctx, write_status(err) == CO_ENOPERM ? CO_ENOPERM : CO_ECANTCREAT,
		      "%s/%s: %s", shown, tmp, strerror(err));
}

/*
 * The tree open as fd, named name in parentfd, removed: its entries through
 * fd, the directory itself by name only while the name is still it. Whoever
 * else may write parentfd can swap the name with another directory
 * (renameat2(2) RENAME_EXCHANGE) while the tree is in use: that directory
 * is then left as it is. 0, or the errno of the first failure.
 */
static int remove_tree(int parentfd, const char *name, int fd)
{
	struct stat st;
	int err = fstat(fd, &st) != 0 ? errno : empty_dir(fd, &st, false);

	if (still_named(parentfd, name, fd) && unlinkat(parentfd, name, AT_REMOVEDIR) != 0 &&
	    errno != ENOENT && !err)
		err = errno;
	return err;
}

/*
 * The archive open as fd, unpacked into base in the directory parentfd
 * (shown in messages as parent, dest being its path). libarchive writes by
 * path: while it runs, the working directory is the temporary tree itself,
 * open and locked, and the members' paths are relative to it, so that no
 * link, rename or swap of the tree's name or of any directory above it can
 * take them elsewhere. Everything else is done relative to parentfd.
 */
static int extract_in(struct co_ctx *ctx, int fd, const char *archive_path, int parentfd,
		      const char *parent, const char *base, const char *dest, unsigned flags)
{
	struct stop_guard guard;
	char *tmp = NULL;
	int rc, err, treefd = -1, oldfd = -1, cwdfd;
	bool replaced = false;
	ino_t mark = 0;
	struct stat st;

	if (!*base || strchr(base, '/') || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return co_err(ctx, CO_ECANTCREAT, "%s: not a valid destination", dest);
	if (asprintf(&tmp, ".%s" TMP_INFIX TMP_RANDOM, base) < 0)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	cwdfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwdfd < 0 || fchdir(parentfd) != 0) {
		rc = co_err(ctx, write_status(errno) == CO_ENOPERM ? CO_ENOPERM : CO_ECANTCREAT,
			    "%s: %s", cwdfd < 0 ? "." : parent, strerror(errno));
		goto out;
	}
	hold_stop_signals(&guard);
	rc = make_tree(ctx, parentfd, parent, tmp, &treefd, &mark);
	if (rc) {
		release_stop_signals(&guard);
		goto out;
	}
	rc = fchdir(treefd) == 0 ? unpack(ctx, fd, archive_path, ".")
	     : co_err(ctx, CO_EIO, "%s/%s: %s", parent, tmp, strerror(errno));
	if (rc == CO_OK && stop_signal)
		rc = stopped(ctx, archive_path);	/* not swapped in, then */
	/* mkdtemp's 0700 would hide the tree from Spark workers of other users. */
	if (rc == CO_OK) {
		mode_t mask = umask(0);

		umask(mask);
		if (fchmod(treefd, 0777 & ~mask) != 0)
			rc = co_err(ctx, write_status(errno), "%s/%s: %s", parent, tmp,
				    strerror(errno));
	}
	/* unmarked as it goes in place (unless a member took the mark's name) */
	if (rc == CO_OK && fstatat(treefd, TREE_MARK, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == mark && unlinkat(treefd, TREE_MARK, 0) != 0)
		rc = co_err(ctx, write_status(errno), "%s/%s/%s: %s", parent, tmp, TREE_MARK,
			    strerror(errno));
	if (rc == CO_OK)
		rc = move_into_place(ctx, parentfd, tmp, base, dest, flags, &replaced, &oldfd);
	/* the tree swapped out is the extractor's now: a leftover if it stays */
	if (replaced && oldfd >= 0)
		mark_tree(oldfd, NULL);
	/*
	 * The failed attempt, or the tree replaced, removed while still locked,
	 * through its descriptor (an old tree that could not be locked, or is
	 * not a directory, by its name).
	 */
	err = rc != CO_OK ? remove_tree(parentfd, tmp, treefd)
	      : !replaced ? 0
	      : oldfd >= 0 ? remove_tree(parentfd, tmp, oldfd) : remove_at(parentfd, tmp, false);
	if (err && rc == CO_OK)
		rc = co_err(ctx, write_status(err), "%s: unpacked, but the tree it replaced "
			    "is left in %s/%s: %s", dest, parent, tmp, strerror(err));
	else if (err) {
		char *why = strdup(co_ctx_error(ctx));

		co_err(ctx, rc, "%s; %s/%s is left: %s", why ? why : "", parent, tmp,
		       strerror(err));
		free(why);
	}
	if (oldfd >= 0)
		close(oldfd);
	close(treefd);
	release_stop_signals(&guard);
out:
	if (cwdfd >= 0) {
		if (fchdir(cwdfd) != 0 && rc == CO_OK)
			rc = co_err(ctx, CO_EIO, "back to the working directory: %s",
				    strerror(errno));
		close(cwdfd);
	}
	free(tmp);
	return rc;
}

/* co_archive_extract(), the archive open as fd. */
static int extract(struct co_ctx *ctx, int fd, const char *archive_path, const char *dest,
		   unsigned flags)
{
	char *copy = strdup(dest), *slash;
	const char *base, *parent;
	int rc = co_lazy_need(ctx, CO_LAZY_ARCHIVE), parentfd;

	if (rc || !copy) {
		free(copy);
		return rc ? rc : co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	while ((slash = strrchr(copy, '/')) && slash != copy && !slash[1])
		*slash = '\0';	/* "dir/" -> "dir" */
	slash = strrchr(copy, '/');
	base = slash ? slash + 1 : copy;
	if (slash)
		*slash = '\0';
	parent = slash ? (copy[0] ? copy : "/") : ".";
	/* The tree is made, locked, renamed and removed relative to its directory. */
	parentfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parentfd < 0)
		rc = co_err(ctx, write_status(errno) == CO_ENOPERM ? CO_ENOPERM : CO_ECANTCREAT,
			    "%s: %s", parent, strerror(errno));
	else
		rc = extract_in(ctx, fd, archive_path, parentfd, strcmp(parent, "/") ? parent : "",
				base, dest, flags);
	if (parentfd >= 0)
		close(parentfd);
	free(copy);
	return rc;
}

CO_API int co_archive_extract_fd(struct co_ctx *ctx, int fd, const char *archive_path,
				 const char *dest, unsigned flags)
{
	return extract(ctx, fd, archive_path, dest, flags);
}

CO_API int co_archive_extract_at(struct co_ctx *ctx, int fd, const char *archive_path, int dirfd,
				 const char *name, const char *dest, unsigned flags)
{
	int rc = co_lazy_need(ctx, CO_LAZY_ARCHIVE);
	char *parent = rc ? NULL : strdup(dest), *slash;

	if (rc || !parent)
		return rc ? rc : co_err(ctx, CO_ESOFTWARE, "out of memory");
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	rc = extract_in(ctx, fd, archive_path, dirfd, slash ? parent : ".", name, dest, flags);
	free(parent);
	return rc;
}

CO_API int co_archive_extract(struct co_ctx *ctx, const char *archive_path,
			      const char *dest, unsigned flags)
{
	int fd = open(archive_path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return co_err(ctx, errno == ENOENT || errno == EACCES ? write_status(errno)
			      : CO_EDATA, "%s: %s", archive_path, strerror(errno));
	rc = extract(ctx, fd, archive_path, dest, flags);
	close(fd);
	return rc;
}
