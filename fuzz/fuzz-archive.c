/* SPDX-License-Identifier: MIT */
/*
 * The archive extractor (co_archive_extract) on the input as an archive,
 * in a directory of its own beside a file it must not touch. After each
 * run: nothing new outside the box, the file beside it unchanged, and in
 * the unpacked tree only files, directories and links that stay inside
 * it, without set-id bits or extra hard links, and no program run. A failed run leaves
 * nothing; with CO_ARCHIVE_REPLACE (inputs of odd length) the old tree
 * stays as it was.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterops.h"
#include "fuzz.h"

#define VICTIM "not to be touched\n"

/* Each name a little longer than the one it is made from. */
static char root[PATH_MAX - 128], box[PATH_MAX - 96], victim[PATH_MAX - 96];
static char archive_path[PATH_MAX - 64], dest[PATH_MAX - 64];
static char bin[PATH_MAX - 96];
static int archive_fd = -1;
static const char *const programs[] = {
	"lrzip", "lzop", "grzip", "lz4", "lzip", "lzma", "xz", "zstd", "bzip2", "gzip",
	"compress", "uncompress", "sh", NULL
};

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd))
		abort();
}

/* rm -rf of name in the directory at, never following links, whatever the modes. */
static void remove_at(int at, const char *name)
{
	struct stat sb;
	struct dirent *e;
	DIR *d;
	int fd;

	if (fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(at, name, 0) != 0)
			abort();
		return;
	}
	if (fchmodat(at, name, 0700, 0) != 0)
		abort();
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd)))
		abort();
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			remove_at(dirfd(d), e->d_name);
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) != 0)
		abort();
}

static void cleanup(void)
{
	remove_at(AT_FDCWD, root);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/co-fuzz-archive.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		abort();
	snprintf(box, sizeof(box), "%s/box", root);
	snprintf(archive_path, sizeof(archive_path), "%s/in", box);
	snprintf(dest, sizeof(dest), "%s/out", box);
	snprintf(victim, sizeof(victim), "%s/victim", root);
	if (mkdir(box, 0755) != 0)
		abort();
	write_file(victim, VICTIM);
	/*
	 * Decompressors that libarchive runs as programs when it has no
	 * library for them: the only ones on PATH, and each leaves a mark.
	 */
	snprintf(bin, sizeof(bin), "%s/bin", root);
	if (mkdir(bin, 0755) != 0)
		abort();
	for (const char *const *p = programs; *p; p++) {
		char path[PATH_MAX], script[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/%s", bin, *p);
		snprintf(script, sizeof(script), "#!/bin/sh\n: > '%s/executed'\n", root);
		write_file(path, script);
		if (chmod(path, 0755) != 0)
			abort();
	}
	setenv("PATH", bin, 1);
	archive_fd = open(archive_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (archive_fd < 0)
		abort();
	umask(022);
	atexit(cleanup);
}

/* The names in path, other than . and .., as a sorted "a,b," string. */
static void listing(const char *path, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);

	if (n < 0)
		abort();
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
			strncat(out, names[i]->d_name, cap - strlen(out) - 2);
			strcat(out, ",");
		}
		free(names[i]);
	}
	free(names);
}

/* Check every entry of the unpacked tree at path (inside is its real path). */
static void check_tree(const char *path, const char *inside)
{
	struct stat sb;
	struct dirent *e;
	DIR *d;

	if (lstat(path, &sb) != 0)
		abort();
	FUZZ_ASSERT(S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode) || S_ISLNK(sb.st_mode));
	FUZZ_ASSERT(!(sb.st_mode & (S_ISUID | S_ISGID)));
	if (S_ISLNK(sb.st_mode)) {
		char *real = realpath(path, NULL);

		/* A link may dangle; one that resolves stays inside. */
		if (real)
			FUZZ_ASSERT(strncmp(real, inside, strlen(inside)) == 0 &&
				    (real[strlen(inside)] == '/' || real[strlen(inside)] == '\0'));
		free(real);
		return;
	}
	if (!S_ISDIR(sb.st_mode))
		return;
	if (chmod(path, 0700) != 0 || !(d = opendir(path)))
		abort();
	while ((e = readdir(d))) {
		char *sub;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (asprintf(&sub, "%s/%s", path, e->d_name) < 0)
			abort();
		check_tree(sub, inside);
		free(sub);
	}
	closedir(d);
}

static void check_outside(bool dest_expected)
{
	char names[4096];
	struct stat sb;
	char buf[sizeof(VICTIM)];
	int fd;

	listing(root, names, sizeof(names));
	FUZZ_ASSERT(strcmp(names, "bin,box,victim,") == 0);
	listing(box, names, sizeof(names));
	FUZZ_ASSERT(strcmp(names, dest_expected ? "in,out," : "in,") == 0);
	FUZZ_ASSERT(lstat(victim, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_nlink == 1);
	FUZZ_ASSERT(sb.st_size == (off_t)strlen(VICTIM));
	fd = open(victim, O_RDONLY | O_CLOEXEC);
	FUZZ_ASSERT(fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)strlen(VICTIM));
	close(fd);
	FUZZ_ASSERT(memcmp(buf, VICTIM, strlen(VICTIM)) == 0);
	FUZZ_ASSERT(lstat(archive_path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_nlink == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool replace = size % 2 == 1;
	struct co_ctx *ctx;
	char *inside;
	int rc;

	if (archive_fd < 0)
		setup();
	if (ftruncate(archive_fd, 0) != 0 || pwrite(archive_fd, data, size, 0) != (ssize_t)size)
		abort();
	if (replace) {
		char old[PATH_MAX];

		if (mkdir(dest, 0755) != 0)
			abort();
		snprintf(old, sizeof(old), "%s/old", dest);
		write_file(old, "old tree\n");
	}
	ctx = co_ctx_new();
	if (!ctx ||
	    co_config_set(ctx, CO_KEY_EXTRACT_MAX_SIZE, "1M") != CO_OK ||
	    co_config_set(ctx, CO_KEY_EXTRACT_MAX_MEMBERS, "200") != CO_OK)
		abort();
	rc = co_archive_extract(ctx, archive_path, dest, replace ? CO_ARCHIVE_REPLACE : 0);
	FUZZ_ASSERT(rc == CO_OK || *co_ctx_error(ctx));
	check_outside(rc == CO_OK || replace);
	if (rc == CO_OK) {
		inside = realpath(dest, NULL);
		if (!inside)
			abort();
		check_tree(dest, inside);
		free(inside);
	} else if (replace) {
		char names[4096];

		listing(dest, names, sizeof(names));
		FUZZ_ASSERT(strcmp(names, "old,") == 0);
	}
	remove_at(AT_FDCWD, dest);
	co_ctx_free(ctx);
	return 0;
}
