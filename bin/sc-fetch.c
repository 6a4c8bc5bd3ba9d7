/* SPDX-License-Identifier: MIT */
/*
 * sc-fetch: download sample data into the datain directory, in parallel,
 * resumable, verified against SHA-256 digests and renamed into place only
 * when complete; optionally unpack archives. The transfers themselves are
 * co_fetch_run()'s; this file decides what to fetch, keeps the lock file,
 * removes what runs killed outright left, shows progress and reports.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "tools-common.h"

#define DEFAULT_JOBS 4
#define DEFAULT_RETRIES 3
#define FIRST_BACKOFF_SECONDS 1.0

enum outcome { PENDING, FETCHED, SKIPPED, FAILED };

struct entry {
	char *url;
	char *name;		/* target, relative to the directory */
	char *path;		/* directory/name */
	char *sha256;		/* expected: from the manifest, else the lock file */
	uint64_t size;		/* expected exact size, when size_known */
	bool size_known;
	bool sha_from_lock;
	bool extract;
	char *extracted;	/* directory it was unpacked into */
	enum outcome outcome;
	int status;
	char *error;
	uint64_t bytes;
	char got[CO_SHA256_HEX_LEN + 1];
	dev_t dev;		/* the file present whose digest is got, when SKIPPED */
	ino_t ino;
	double rate;		/* bytes/s, smoothed, for the progress display */
	uint64_t last_bytes;
};

struct entries {
	struct entry *v;
	size_t n;
};

struct control {
	const char *dir;
	const char *lock;
	const char *cacert;
	const char *manifests[16];
	size_t n_manifests;
	unsigned jobs, retries;
	bool force, extract, quiet, json;
	struct entries todo;
	struct entries locked;	/* what the lock file recorded */
};

static noreturn void usage(void)
{
	printf("Usage: %s [OPTION]... URL...\n"
	       "       %s [OPTION]... -m MANIFEST\n"
	       "Download files into the datain directory: in parallel, resumable,\n"
	       "checksum-verified, renamed into place only when complete.\n"
	       "\n"
	       "  -m, --manifest=FILE  read URLs from FILE ('-': standard input), one per line:\n"
	       "                       URL [sha256=HEX] [size=BYTES] [name=NAME] [extract]\n"
	       "  -d, --dir=DIR        download into DIR (SC_DATAIN; default /opt/workspace/datain)\n"
	       "  -j, --jobs=N         transfers at once (default %d)\n"
	       "      --retries=N      further attempts after a transient failure (default %d)\n"
	       "      --lock=FILE      check files against the digests recorded in FILE and\n"
	       "                       record the digest of every file fetched\n"
	       "  -f, --force          fetch again even what is already present\n"
	       "  -x, --extract        unpack .zip, .tar, .tar.gz, .tgz, .tar.zst, .tar.bz2,\n"
	       "                       .tar.xz archives into DIR/NAME/\n"
	       "      --max-size=SIZE  refuse a file larger than SIZE (SC_FETCH_MAX_SIZE;\n"
	       "                       default 10G)\n"
	       "      --cacert=FILE    verify https servers against the CAs in FILE\n"
	       "  -q, --quiet          no progress display and no report on stdout\n"
	       "  -J, --json           one JSON object per file\n",
	       program_name, program_name, DEFAULT_JOBS, DEFAULT_RETRIES);
	tool_common_usage(stdout);
	printf("\nThe --timeout also bounds a stall: a transfer that receives nothing, or\n"
	       "less than 1 KiB, in that long fails (and is retried).\n"
	       "\nExit status: 0 every file fetched or already present; 1 some file failed\n"
	       "(checksum mismatch, not found, unsafe archive); 64 usage; 65 bad manifest\n"
	       "or lock file; 69 server unreachable; 73 cannot create output; 74 I/O error;\n"
	       "75 timeout; 77 permission denied; see sc-fetch(1).\n");
	exit(CO_OK);
}

static struct entry *entries_add(struct entries *es)
{
	es->v = xreallocarray(es->v, es->n + 1, sizeof(*es->v));
	memset(&es->v[es->n], 0, sizeof(es->v[0]));
	return &es->v[es->n++];
}

static void entries_free(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++) {
		struct entry *e = &es->v[i];

		free(e->url);
		free(e->name);
		free(e->path);
		free(e->sha256);
		free(e->extracted);
		free(e->error);
	}
	free(es->v);
}

static bool supported_url(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0 ||
	       strncasecmp(url, "file://", 7) == 0;
}

/*
 * The last segment of the URL's path: ".../pg11.txt?x=1" -> "pg11.txt";
 * NULL when there is none to name a file after (no path, a path that ends
 * with '/', "." or "..").
 */
static char *name_from_url(const char *url)
{
	const char *p = strstr(url, "://") + 3;
	size_t end = strcspn(p, "?#");
	const char *slash = memrchr(p, '/', end);
	size_t n = slash ? (size_t)(p + end - slash - 1) : 0;

	if (n == 0 || strncmp(slash + 1, "..", n) == 0)
		return NULL;
	return strndup(slash + 1, n);
}

/* A target name stays inside the directory: relative, no "..". */
static bool safe_name(const char *name)
{
	if (!*name || name[0] == '/' || name[strlen(name) - 1] == '/')
		return false;
	for (const char *s = name; *s; ) {
		size_t n = strcspn(s, "/");

		if ((n == 2 && s[0] == '.' && s[1] == '.') || (n == 1 && s[0] == '.') || n == 0)
			return false;
		s += n + (s[n] == '/');
	}
	return true;
}

/*
 * Turn "URL [sha256=HEX] [name=NAME] [extract]" into an entry. Returns
 * NULL, or the reason the line is wrong.
 */
static const char *parse_line(char *line, struct entry *e)
{
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (tok[0] == '#')
			break;
		if (!e->url) {
			if (!supported_url(tok))
				return "expected an http://, https:// or file:// URL";
			e->url = xstrdup(tok);
		} else if (strncmp(tok, "sha256=", 7) == 0) {
			if (!co_sha256_valid(tok + 7))
				return "sha256= needs 64 hex digits";
			free(e->sha256);
			e->sha256 = xstrdup(tok + 7);
			for (char *c = e->sha256; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
		} else if (strncmp(tok, "name=", 5) == 0) {
			if (!safe_name(tok + 5))
				return "name= must be a relative path without '.' or '..'";
			free(e->name);
			e->name = xstrdup(tok + 5);
		} else if (strncmp(tok, "size=", 5) == 0) {
			char *end;

			errno = 0;
			e->size = strtoull(tok + 5, &end, 10);
			if (!isdigit((unsigned char)tok[5]) || errno || *end)
				return "size= needs a number of bytes";
			e->size_known = true;
		} else if (strcmp(tok, "extract") == 0) {
			e->extract = true;
		} else {
			return "unknown field (expected sha256=, size=, name= or extract)";
		}
	}
	return NULL;
}

static void entry_clear(struct entry *e)
{
	free(e->url);
	free(e->name);
	free(e->sha256);
	memset(e, 0, sizeof(*e));
}

/* Read a manifest or a lock file into es; a bad line is fatal (65). */
static void read_list(const char *path, FILE *fp, struct entries *es)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;

	while (getline(&line, &cap, fp) > 0) {
		struct entry e = { 0 };
		const char *why;

		lineno++;
		why = parse_line(line, &e);
		if (!why && e.url && !e.name && !(e.name = name_from_url(e.url)))
			why = "no file name in the URL: add name=";
		if (!why && e.extract && !co_archive_supported(e.name))
			why = "extract: not a .zip, .tar, .tar.gz, .tgz, .tar.zst, .tar.bz2 or .tar.xz name";
		if (why) {
			entry_clear(&e);
			free(line);
			die(CO_EDATA, "%s:%u: %s", path, lineno, why);
		}
		if (e.url)
			*entries_add(es) = e;
	}
	if (ferror(fp))
		die(CO_EIO, "%s: %s", path, strerror(errno));
	free(line);
}

static void read_manifest(struct control *ctl, const char *path)
{
	FILE *fp = strcmp(path, "-") ? fopen(path, "r") : stdin;

	if (!fp)
		die(errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", path, strerror(errno));
	read_list(strcmp(path, "-") ? path : "(stdin)", fp, &ctl->todo);
	if (fp != stdin)
		fclose(fp);
}

static void add_url(struct control *ctl, const char *url)
{
	struct entry *e;

	if (!supported_url(url))
		usage_error("%s: expected an http://, https:// or file:// URL", url);
	e = entries_add(&ctl->todo);
	e->url = xstrdup(url);
	e->name = name_from_url(url);
	if (!e->name)
		usage_error("%s: no file name in the URL: use a manifest with name=", url);
}

static void parse_options(int argc, char **argv, struct co_ctx *ctx, struct control *ctl)
{
	enum { OPT_RETRIES = OPT_TOOL_FIRST, OPT_LOCK, OPT_CACERT, OPT_MAX_SIZE };
	static const struct option longopts[] = {
		{ "manifest", required_argument, NULL, 'm' },
		{ "dir", required_argument, NULL, 'd' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "lock", required_argument, NULL, OPT_LOCK },
		{ "force", no_argument, NULL, 'f' },
		{ "extract", no_argument, NULL, 'x' },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'J' },
		CO_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int c;

	ctl->jobs = DEFAULT_JOBS;
	ctl->retries = DEFAULT_RETRIES;
	while ((c = getopt_long(argc, argv, ":m:d:j:fxqJhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (ctl->n_manifests == sizeof(ctl->manifests) / sizeof(ctl->manifests[0]))
				usage_error("too many manifests");
			ctl->manifests[ctl->n_manifests++] = optarg;
			break;
		case 'd':
			if (co_config_set(ctx, CO_KEY_DATAIN, optarg))
				usage_error("%s", co_ctx_error(ctx));
			break;
		case 'j':
			ctl->jobs = (unsigned)parse_long_or_die(optarg, "--jobs", 1, 64);
			break;
		case OPT_RETRIES:
			ctl->retries = (unsigned)parse_long_or_die(optarg, "--retries", 0, 100);
			break;
		case OPT_LOCK:
			ctl->lock = optarg;
			break;
		case 'f':
			ctl->force = true;
			break;
		case 'x':
			ctl->extract = true;
			break;
		case OPT_CACERT:
			ctl->cacert = optarg;
			break;
		case OPT_MAX_SIZE:
			if (co_config_set(ctx, CO_KEY_FETCH_MAX_SIZE, optarg))
				usage_error("--max-size: %s", co_ctx_error(ctx));
			break;
		case 'q':
			ctl->quiet = true;
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
	tool_options_done(ctx);
	if (optind == argc && ctl->n_manifests == 0)
		usage_error("nothing to fetch: give a URL or -m MANIFEST");
	if (ctl->cacert && access(ctl->cacert, R_OK) != 0)
		usage_error("--cacert %s: %s", ctl->cacert, strerror(errno));
	ctl->dir = co_config_get(ctx, CO_KEY_DATAIN);
	for (size_t i = 0; i < ctl->n_manifests; i++)
		read_manifest(ctl, ctl->manifests[i]);
	for (int i = optind; i < argc; i++)
		add_url(ctl, argv[i]);
}

/* name is dir, or lies below it. */
static bool at_or_below(const char *name, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(name, dir, n) == 0 && (name[n] == '\0' || name[n] == '/');
}

/*
 * The directory an archive is unpacked into is replaced whole: no other
 * entry's target may be it or lie in it, nor may another archive be
 * unpacked there (data.tar and data.zip).
 */
static void check_extract_dirs(const struct control *ctl)
{
	for (size_t i = 0; i < ctl->todo.n; i++) {
		const struct entry *a = &ctl->todo.v[i];
		char *dir;

		if (!a->extract)
			continue;
		dir = co_archive_stem(a->name);
		if (!dir)
			die(CO_ESOFTWARE, "out of memory");
		for (size_t j = 0; j < ctl->todo.n; j++) {
			const struct entry *b = &ctl->todo.v[j];
			char *other;

			if (j == i)
				continue;
			if (at_or_below(b->name, dir))
				die(CO_EDATA, "%s: inside %s/, which %s is unpacked into and "
				    "replaces: two URLs have the same target: %s and %s", b->name,
				    dir, a->name, a->url, b->url);
			if (!b->extract || j < i)
				continue;
			other = co_archive_stem(b->name);
			if (!other)
				die(CO_ESOFTWARE, "out of memory");
			if (at_or_below(other, dir) || at_or_below(dir, other))
				die(CO_EDATA, "%s/: %s and %s are both unpacked into it: two URLs "
				    "have the same target: %s and %s", strlen(other) < strlen(dir) ?
				    other : dir, a->name, b->name, a->url, b->url);
			free(other);
		}
		free(dir);
	}
}

/* Targets, the -x flag, and one target per entry. */
static void resolve_targets(struct control *ctl)
{
	for (size_t i = 0; i < ctl->todo.n; i++) {
		struct entry *e = &ctl->todo.v[i];

		e->path = xasprintf("%s/%s", ctl->dir, e->name);
		if (ctl->extract && co_archive_supported(e->name))
			e->extract = true;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ctl->todo.v[j].name, e->name) == 0)
				die(CO_EDATA, "%s: named by two sources: %s and %s", e->name,
				    ctl->todo.v[j].url, e->url);
	}
	check_extract_dirs(ctl);
}

static struct entry *find_url(struct entries *es, const char *url)
{
	for (size_t i = 0; i < es->n; i++)
		if (strcmp(es->v[i].url, url) == 0)
			return &es->v[i];
	return NULL;
}

/* The digests recorded earlier stand in for those the manifest lacks. */
static void read_lock(struct control *ctl)
{
	FILE *fp;

	if (!ctl->lock)
		return;
	fp = fopen(ctl->lock, "r");
	if (!fp && errno == ENOENT)
		return;		/* the first run creates it */
	if (!fp)
		die(errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", ctl->lock, strerror(errno));
	read_list(ctl->lock, fp, &ctl->locked);
	fclose(fp);
	for (size_t i = 0; i < ctl->todo.n; i++) {
		struct entry *e = &ctl->todo.v[i];
		struct entry *l = find_url(&ctl->locked, e->url);

		if (!e->sha256 && l && l->sha256) {
			e->sha256 = xstrdup(l->sha256);
			e->sha_from_lock = true;
		}
	}
}

/* mkdir -p */
static void make_dirs(const char *path, bool last_too)
{
	char *copy = xstrdup(path);

	for (char *p = copy + 1; ; p++) {
		if (*p != '/' && (*p || !last_too))
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, 0777) != 0 && errno != EEXIST)
			die(errno == EACCES || errno == EROFS ? CO_ENOPERM : CO_ECANTCREAT,
			    "%s: %s", copy, strerror(errno));
		if (!saved)
			break;
		*p = saved;
	}
	free(copy);
}

static void fail(struct entry *e, int status, const char *msg)
{
	e->outcome = FAILED;
	e->status = status;
	free(e->error);
	e->error = xstrdup(msg);
}

/*
 * rel beneath rootfd, opened with flags, following no symbolic link on the
 * way or at the end and never leaving rootfd: openat2() says so to the
 * kernel in one call; without it the path is walked a component at a
 * time with O_NOFOLLOW. Nothing is created. -1 and errno on failure
 * (ELOOP: a symbolic link; EXDEV: a "." or ".." component).
 */
static int open_beneath(int rootfd, const char *rel, int flags)
{
	char *copy, *save = NULL, *c, *next;
	int fd;

#ifdef SYS_openat2
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};

	fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return fd;
#endif
	copy = xstrdup(rel);
	fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	for (c = strtok_r(copy, "/", &save); c && fd >= 0; c = next) {
		int sub;

		next = strtok_r(NULL, "/", &save);
		if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
			close(fd);
			fd = -1;
			errno = EXDEV;
			break;
		}
		sub = openat(fd, c, next ? O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
			     : flags | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = sub;
	}
	free(copy);
	return fd;
}

/*
 * name beneath rootfd as the file it is now: never through a symbolic link
 * (ELOOP, EXDEV), and opened without blocking, so that a FIFO or a device
 * put in its place cannot hold the run. The descriptor of a regular file,
 * blocking again, with its stat; -2 for anything else; -1 and errno.
 */
static int open_regular_beneath(int rootfd, const char *name, struct stat *st)
{
	int fd = open_beneath(rootfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -2;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/*
 * The digest of the file present as e->name, when it is a regular file
 * reached through directories only. Anything else there (a symbolic link,
 * a FIFO, a device, a directory on the way that is a link) is treated as
 * absent: it is replaced by the file fetched, never read or written
 * through. Returns true when there is a file to compare.
 */
static bool digest_present(struct co_ctx *ctx, const struct control *ctl, int rootfd,
			   struct entry *e)
{
	struct co_sha256 *h;
	struct stat st;
	int fd, rc;

	fd = open_regular_beneath(rootfd, e->name, &st);
	if (fd == -2) {
		if (!ctl->quiet)
			warnmsg("%s: present but not a regular file: not read", e->path);
		return false;
	}
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return false;
	if (fd < 0 && (errno == ELOOP || errno == EXDEV)) {
		if (!ctl->quiet)
			warnmsg("%s: a symbolic link, or one on the way: not followed", e->path);
		return false;
	}
	if (fd < 0) {
		int err = errno;
		char *msg = xasprintf("%s: %s", e->path, strerror(err));

		fail(e, err == EACCES ? CO_ENOPERM : CO_EIO, msg);
		free(msg);
		return false;
	}
	e->dev = st.st_dev;	/* what is unpacked must be the file checked */
	e->ino = st.st_ino;
	h = co_sha256_new();
	if (!h)
		die(CO_ESOFTWARE, "out of memory");
	e->bytes = 0;
	rc = co_sha256_update_fd(ctx, h, fd, e->path, &e->bytes);
	if (rc == CO_OK)
		rc = co_sha256_final(ctx, h, e->got);
	co_sha256_free(h);
	close(fd);
	if (rc != CO_OK) {
		fail(e, rc, co_ctx_error(ctx));
		return false;
	}
	return true;
}

static int open_dir_or_die(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die(errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", dir, strerror(errno));
	return fd;
}

struct leftover_dir {
	const struct control *ctl;
	const char *dir;	/* the directory, for messages */
};

static void leftover_seen(void *arg, const char *name, int err)
{
	const struct leftover_dir *ld = arg;

	if (err)
		warnmsg("%s/%s: left by an interrupted run, cannot be removed: %s", ld->dir, name,
			strerror(err));
	else if (!ld->ctl->quiet)
		warnmsg("%s/%s: left by an interrupted run: removed", ld->dir, name);
}

/*
 * The directory an archive's tree goes in, opened beneath rootfd without
 * following links (rootfd itself when the stem has no directory); *rel is
 * the stem's directory (the stem itself when it has none: *base == *rel),
 * *base its last component, both in one string the caller frees. -1 and
 * errno when it cannot be opened.
 */
static int open_stem_dir(int rootfd, const struct entry *e, char **rel, const char **base)
{
	char *slash;

	if (!(*rel = co_archive_stem(e->name)))
		die(CO_ESOFTWARE, "out of memory");
	slash = strrchr(*rel, '/');
	*base = slash ? slash + 1 : *rel;
	if (!slash)
		return rootfd;
	*slash = '\0';
	return open_beneath(rootfd, *rel, O_RDONLY | O_DIRECTORY);
}

/*
 * A run killed outright (SIGKILL, a crash, a power cut) while it unpacked
 * an archive leaves its hidden temporary tree, which may hold gigabytes;
 * each such run another. Before anything is fetched (the space may be
 * needed), the trees left for each archive to unpack are removed: only
 * those the extractor itself names for that directory, of this user's,
 * that no run still holds (see co_archive_remove_leftovers()). The
 * directory is reached beneath dir without following links: one on the
 * way means nothing there is ours. Cannot remove one: a warning, not the
 * file's failure.
 */
static void remove_leftovers(struct co_ctx *ctx, const struct control *ctl)
{
	int rootfd = -1;

	for (size_t i = 0; i < ctl->todo.n; i++) {
		const struct entry *e = &ctl->todo.v[i];
		struct leftover_dir ld = { .ctl = ctl };
		char *rel, *path;
		const char *base;
		int dfd;

		if (!e->extract)
			continue;
		if (rootfd < 0)
			rootfd = open_dir_or_die(ctl->dir);
		dfd = open_stem_dir(rootfd, e, &rel, &base);
		path = base != rel ? xasprintf("%s/%s", ctl->dir, rel) : xstrdup(ctl->dir);
		ld.dir = path;
		if (dfd >= 0 && co_archive_remove_leftovers(ctx, dfd, base, leftover_seen, &ld))
			warnmsg("%s: %s", path, co_ctx_error(ctx));
		if (dfd >= 0 && dfd != rootfd)
			close(dfd);
		free(path);
		free(rel);
	}
	if (rootfd >= 0)
		close(rootfd);
}

/* Without touching the network: what is already here, and right, is skipped. */
static void check_present(struct co_ctx *ctx, struct control *ctl)
{
	int rootfd;

	if (ctl->force)
		return;
	rootfd = open_dir_or_die(ctl->dir);
	for (size_t i = 0; i < ctl->todo.n; i++) {
		struct entry *e = &ctl->todo.v[i];

		if (!digest_present(ctx, ctl, rootfd, e))
			continue;
		if (e->size_known && e->bytes != e->size) {
			if (!ctl->quiet)
				warnmsg("%s: present but %llu bytes, not %llu: fetching it again",
					e->path, (unsigned long long)e->bytes,
					(unsigned long long)e->size);
		} else if (!e->sha256 || strcmp(e->sha256, e->got) == 0)
			e->outcome = SKIPPED;
		else if (!ctl->quiet)
			warnmsg("%s: present but its sha256 is %s, not %s: fetching it again",
				e->path, e->got, e->sha256);
	}
	close(rootfd);
}

static void human_bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void eta(double left, double rate, char *buf, size_t len)
{
	long s = rate > 0 ? (long)(left / rate) : -1;

	if (s < 0 || s > 99 * 3600)
		snprintf(buf, len, "--:--");
	else
		snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

/* On a terminal: a line per active transfer and a total, redrawn in place. */
struct progress {
	int lines;		/* drawn last time */
	double last;
};

static void draw_progress(void *arg, const struct co_fetch_item *items, size_t n)
{
	struct progress *pg = arg;
	double now = monotonic_now(), dt = pg->last ? now - pg->last : 0;
	uint64_t done = 0, total = 0;
	double rate = 0;
	size_t finished = 0;
	int lines = 0;
	char a[32], b[32], r[32], t[32];

	pg->last = now;
	if (pg->lines)
		fprintf(stderr, "\033[%dA", pg->lines);
	for (size_t i = 0; i < n; i++) {
		const struct co_fetch_item *it = &items[i];
		struct entry *e = it->user;

		if (dt > 0) {
			double inst = (double)(it->bytes - (it->bytes >= e->last_bytes ?
							    e->last_bytes : it->bytes)) / dt;

			e->rate = e->rate ? 0.7 * e->rate + 0.3 * inst : inst;
		}
		e->last_bytes = it->bytes;
		done += it->bytes;
		total += it->total ? it->total : it->bytes;
		rate += it->state == CO_FETCH_ACTIVE ? e->rate : 0;
		finished += it->state == CO_FETCH_DONE;
		if (it->state != CO_FETCH_ACTIVE && it->state != CO_FETCH_WAITING)
			continue;
		human_bytes((double)it->bytes, a, sizeof(a));
		human_bytes((double)it->total, b, sizeof(b));
		human_bytes(e->rate, r, sizeof(r));
		eta((double)(it->total - (it->total > it->bytes ? it->bytes : it->total)),
		    e->rate, t, sizeof(t));
		if (it->state == CO_FETCH_WAITING)
			fprintf(stderr, "\033[K  %-30.30s  retrying (attempt %d): %s\n", e->name,
				it->attempts + 1, it->error);
		else
			fprintf(stderr, "\033[K  %-30.30s  %10s of %-10s  %10s/s  ETA %s\n", e->name,
				a, it->total ? b : "?", r, t);
		lines++;
	}
	human_bytes((double)done, a, sizeof(a));
	human_bytes((double)total, b, sizeof(b));
	human_bytes(rate, r, sizeof(r));
	eta((double)(total - (total > done ? done : total)), rate, t, sizeof(t));
	fprintf(stderr, "\033[K%zu/%zu files  %s of %s  %s/s  ETA %s\n\033[J", finished, n, a,
		b, r, t);
	pg->lines = lines + 1;
}

static void fetch_missing(struct co_ctx *ctx, struct control *ctl)
{
	struct co_fetch_item *items = xcalloc(ctl->todo.n + 1, sizeof(*items));
	struct progress pg = { 0 };
	double timeout = strtod(co_config_get(ctx, CO_KEY_TIMEOUT), NULL);
	uint64_t max_bytes;
	struct co_fetch_options opt = {
		.parallel = ctl->jobs,
		.retries = ctl->retries,
		.connect_timeout = timeout > 0 ? timeout : 10,
		.stall_timeout = timeout > 0 ? timeout : 10,
		.backoff = FIRST_BACKOFF_SECONDS,
		.cacert = ctl->cacert,
		.restart = ctl->force,
		.beneath = ctl->dir,
	};
	size_t n = 0;
	int rc;

	/* Checked when set: a value from any layer parses. */
	if (co_parse_size(ctx, "fetch_max_size", co_config_get(ctx, CO_KEY_FETCH_MAX_SIZE),
			  &max_bytes))
		die_ctx(ctx, CO_EUSAGE);
	opt.max_bytes = max_bytes;
	/* Subdirectories are made by co_fetch_run(), never through a link. */
	for (size_t i = 0; i < ctl->todo.n; i++) {
		struct entry *e = &ctl->todo.v[i];

		if (e->outcome != PENDING)
			continue;
		items[n++] = (struct co_fetch_item){ .url = e->url, .path = e->path,
						     .sha256 = e->sha256, .user = e,
						     .size = e->size,
						     .size_known = e->size_known };
	}
	if (!ctl->quiet && isatty(STDERR_FILENO)) {
		opt.progress = draw_progress;
		opt.progress_arg = &pg;
	}
	rc = co_fetch_run(ctx, items, n, &opt);
	if (rc)
		die_ctx(ctx, rc);
	if (pg.lines)
		fprintf(stderr, "\033[%dA\033[J", pg.lines);	/* the report replaces it */
	for (size_t i = 0; i < n; i++) {
		struct entry *e = items[i].user;

		if (items[i].status) {
			char msg[700];

			snprintf(msg, sizeof(msg), "%s%s", items[i].error,
				 e->sha_from_lock && strstr(items[i].error, "checksum mismatch") ?
				 " (the digest recorded in the lock file)" : "");
			fail(e, items[i].status, msg);
			continue;
		}
		e->outcome = FETCHED;
		e->bytes = items[i].bytes;
		memcpy(e->got, items[i].sha256_got, sizeof(e->got));
	}
	free(items);
}

/*
 * The archive to unpack, opened beneath dir as the check of what is present
 * opened it: not through a symbolic link, nor a FIFO or a device; and when
 * it was skipped as present, the very file whose digest was checked. By
 * name, another user of a shared datain could swap it for something else
 * between that check and this open. -1 with the entry failed.
 */
static int open_archive(int rootfd, struct entry *e)
{
	const char *since = e->outcome == SKIPPED ? "checked" : "fetched";
	int fd, err, status = CO_ETEMPFAIL;	/* changed meanwhile: the next run sees */
	struct stat st;
	char *msg;

	fd = open_regular_beneath(rootfd, e->name, &st);
	err = errno;
	if (fd == -2) {
		msg = xasprintf("%s: not a regular file since it was %s: not unpacked", e->path,
				since);
	} else if (fd < 0 && (err == ELOOP || err == EXDEV)) {
		msg = xasprintf("%s: a symbolic link, or one on the way, since it was %s: "
				"not followed, not unpacked", e->path, since);
	} else if (fd < 0) {
		msg = xasprintf("%s: %s", e->path, strerror(err));
		if (err == EACCES)
			status = CO_ENOPERM;
		else if (err != ENOENT && err != ENOTDIR)
			status = CO_EIO;
	} else if (e->outcome == SKIPPED && (st.st_dev != e->dev || st.st_ino != e->ino)) {
		msg = xasprintf("%s: replaced since its digest was checked: not unpacked",
				e->path);
	} else {
		return fd;
	}
	if (fd >= 0)
		close(fd);
	fail(e, status, msg);
	free(msg);
	return -1;
}

/*
 * The archive open as fd unpacked beside it, into stem: its directory
 * opened beneath rootfd without following links, and the tree made,
 * swapped in and removed relative to that, so that a directory of the
 * path swapped for a link meanwhile cannot take the tree elsewhere.
 * co_archive_extract_at()'s status, or -1 with the entry failed.
 */
static int extract_beneath(struct co_ctx *ctx, int rootfd, int fd, struct entry *e,
			   const char *stem)
{
	char *rel, *msg;
	const char *base;
	int dfd = open_stem_dir(rootfd, e, &rel, &base), rc = -1, err = errno;
	int status = CO_ETEMPFAIL;	/* as open_archive() */

	if (dfd >= 0) {
		rc = co_archive_extract_at(ctx, fd, e->path, dfd, base, stem, CO_ARCHIVE_REPLACE);
		if (dfd != rootfd)
			close(dfd);
	} else {
		if (err == ELOOP || err == EXDEV)
			msg = xasprintf("%s: a symbolic link on the way since the archive was "
					"opened: not followed, not unpacked", stem);
		else
			msg = xasprintf("%s: %s", stem, strerror(err));
		if (err == EACCES)
			status = CO_ENOPERM;
		else if (err != ENOENT && err != ENOTDIR && err != ELOOP && err != EXDEV)
			status = CO_EIO;
		fail(e, status, msg);
		free(msg);
	}
	free(rel);
	return rc;
}

/* Unpack what was fetched, and what is present but not yet unpacked. */
static void extract_archives(struct co_ctx *ctx, struct control *ctl)
{
	int rootfd = -1;

	for (size_t i = 0; i < ctl->todo.n; i++) {
		struct entry *e = &ctl->todo.v[i];
		char *stem, *rel;
		int rc, fd = -1;

		if (!e->extract || e->outcome == FAILED)
			continue;
		stem = co_archive_stem(e->path);
		rel = co_archive_stem(e->name);
		if (!stem || !rel)
			die(CO_ESOFTWARE, "out of memory");
		if (rootfd < 0)
			rootfd = open_dir_or_die(ctl->dir);
		/* Unpacked before: a directory, not a link to one somewhere else. */
		if (e->outcome == SKIPPED)
			fd = open_beneath(rootfd, rel, O_RDONLY | O_DIRECTORY);
		free(rel);
		if (fd >= 0) {
			close(fd);
			free(stem);
			continue;
		}
		fd = open_archive(rootfd, e);
		if (fd < 0) {
			free(stem);
			continue;
		}
		rc = extract_beneath(ctx, rootfd, fd, e, stem);
		close(fd);
		if (rc < 0) {
			free(stem);
			continue;
		}
		if (rc) {
			/* An archive that is corrupt or unsafe is this file's failure. */
			fail(e, rc == CO_EDATA ? CO_EFAIL : rc, co_ctx_error(ctx));
			free(stem);
			continue;
		}
		e->extracted = stem;
	}
	if (rootfd >= 0)
		close(rootfd);
}

static void write_entry(FILE *fp, const struct entry *e)
{
	fprintf(fp, "%s sha256=%s name=%s%s\n", e->url, e->sha256, e->name,
		e->extract ? " extract" : "");
}

/* Record every digest known now; written whole and replaced atomically. */
static void write_lock(struct control *ctl)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		die(CO_ESOFTWARE, "out of memory");
	for (size_t i = 0; i < ctl->todo.n; i++) {
		struct entry *e = &ctl->todo.v[i];
		struct entry *l;

		if (e->outcome == FAILED || e->outcome == PENDING)
			continue;
		l = find_url(&ctl->locked, e->url);
		if (!l) {
			l = entries_add(&ctl->locked);
			l->url = xstrdup(e->url);
		}
		free(l->name);
		free(l->sha256);
		l->name = xstrdup(e->name);
		l->sha256 = xstrdup(e->got);
		l->extract = e->extract;
	}
	fprintf(fp, "# sc-fetch lock file: the sha256 of each file as first fetched.\n"
		"# Delete a line to accept a changed file.\n");
	for (size_t i = 0; i < ctl->locked.n; i++)
		write_entry(fp, &ctl->locked.v[i]);
	if (fclose(fp) != 0)
		die(CO_ESOFTWARE, "out of memory");
	atomic_write_or_die(ctl->lock, text, len);
	free(text);
}

static const char *outcome_name(enum outcome o)
{
	return o == FETCHED ? "fetched" : o == SKIPPED ? "skipped" : "failed";
}

/*
 * One line per file. The status is 0 when nothing failed; when something
 * did, the first failure that is not simply "this file failed" (1) wins:
 * an unreachable server or a full disk says more about what to do.
 */
static int report(const struct control *ctl)
{
	static const char *const headers[] = { "PATH", "BYTES", "SHA256", "OUTCOME" };
	enum out_mode mode = out_mode_choose(ctl->json);
	struct table *table = table_new(4, headers);
	int rc = CO_OK;

	for (size_t i = 0; i < ctl->todo.n; i++) {
		const struct entry *e = &ctl->todo.v[i];
		bool ok = e->outcome != FAILED;
		char bytes[24];

		snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)e->bytes);
		if (mode == OUT_JSON && !ctl->quiet)
			json_line(json_pack("{s:o, s:o, s:o, s:s?, s:s, s:o?, s:o?}",
					    "path", json_text_lossy(e->path),
					    "url", json_text_lossy(e->url),
					    "bytes", ok ? json_integer((json_int_t)e->bytes)
					    : json_null(),
					    "sha256", ok ? e->got : NULL, "outcome",
					    outcome_name(e->outcome),
					    "extracted", json_text_lossy(e->extracted),
					    "error", json_text_lossy(e->error)));
		else
			table_add(table, (const char *const[]){ e->path, ok ? bytes : "-",
					  ok ? e->got : "-", outcome_name(e->outcome) });
		if (!ok) {
			warnmsg("%s", e->error);
			if (rc == CO_OK || (rc == CO_EFAIL && e->status != CO_EFAIL))
				rc = e->status;
		}
	}
	if (mode != OUT_JSON && !ctl->quiet)
		table_print(table, stdout, mode);
	table_free(table);
	return rc;
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct co_ctx *ctx = tool_init("sc-fetch");
	int rc;

	parse_options(argc, argv, ctx, &ctl);
	resolve_targets(&ctl);
	read_lock(&ctl);
	make_dirs(ctl.dir, true);
	remove_leftovers(ctx, &ctl);
	check_present(ctx, &ctl);
	fetch_missing(ctx, &ctl);
	extract_archives(ctx, &ctl);
	if (ctl.lock)
		write_lock(&ctl);
	rc = report(&ctl);
	entries_free(&ctl.todo);
	entries_free(&ctl.locked);
	co_ctx_free(ctx);
	return rc;
}
