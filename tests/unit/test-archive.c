/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 against known digests, and archive extraction: good archives in
 * each supported format unpack whole; malicious ones (zip-slip, absolute
 * paths, links that escape) are refused with nothing written anywhere.
 * The archives are built here with libarchive's writer.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"

enum fmt { TAR, TAR_GZ, TAR_ZST, ZIP };

struct member {
	const char *name;
	char type;		/* 'f' file, 'd' directory, 'l' symlink, 'h' hard link */
	const char *data;	/* contents, or the link's target */
};

static char *workdir;

static void build(const char *path, enum fmt fmt, const struct member *m)
{
	struct archive *a = archive_write_new();

	if (fmt == ZIP)
		archive_write_set_format_zip(a);
	else
		archive_write_set_format_pax_restricted(a);
	if (fmt == TAR_GZ)
		archive_write_add_filter_gzip(a);
	if (fmt == TAR_ZST && archive_write_add_filter_zstd(a) != ARCHIVE_OK) {
		fprintf(stderr, "libarchive without zstd: %s\n", archive_error_string(a));
		exit(99);
	}
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		exit(99);
	for (; m->name; m++) {
		if (fmt == ZIP && m->type == 'h')
			continue;	/* zip has no hard links */
		struct archive_entry *e = archive_entry_new();
		size_t len = m->type == 'f' ? strlen(m->data) : 0;

		archive_entry_set_pathname(e, m->name);
		archive_entry_set_perm(e, m->type == 'd' ? 0755 : 0644);
		archive_entry_set_mtime(e, 1700000000, 0);
		switch (m->type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)len);
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, m->data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, m->data);
			break;
		}
		if (archive_write_header(a, e) != ARCHIVE_OK)
			exit(99);
		if (len)
			archive_write_data(a, m->data, len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static int rm_one(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
	(void)sb;
	(void)f;
	(void)ftw;
	return remove(p);
}

/* A fresh directory for each test, with a file outside the destination. */
static void fresh(void)
{
	char path[512];
	FILE *fp;

	if (workdir) {
		nftw(workdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		free(workdir);
	}
	workdir = strdup("/tmp/test-archive-XXXXXX");
	if (!mkdtemp(workdir))
		exit(99);
	snprintf(path, sizeof(path), "%s/secret", workdir);
	fp = fopen(path, "w");
	fputs("keep me\n", fp);
	fclose(fp);
}

static char *at(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", workdir, name);
	return buf[i];
}

static char *slurp(const char *path)
{
	static char buf[256];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (!fp)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Names in the work directory, except those given: nothing else may be left. */
static int entries_besides(const char *a, const char *b)
{
	DIR *d = opendir(workdir);
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "secret") || (a && !strcmp(de->d_name, a)) ||
		    (b && !strcmp(de->d_name, b)))
			continue;
		fprintf(stderr, "  left behind: %s\n", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void test_sha256(void)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_sha256 *h = co_sha256_new();
	char hex[CO_SHA256_HEX_LEN + 1];
	const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	uint64_t bytes = 0;
	FILE *fp;

	CHECK_INT(co_sha256_final(ctx, h, hex), CO_OK);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	co_sha256_update(h, "abc", 3);
	CHECK_INT(co_sha256_final(ctx, h, hex), CO_OK);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* fed in uneven pieces, the same as whole */
	for (size_t i = 0; i < strlen(msg); i += 7)
		co_sha256_update(h, msg + i, strlen(msg) - i < 7 ? strlen(msg) - i : 7);
	CHECK_INT(co_sha256_final(ctx, h, hex), CO_OK);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	fresh();
	fp = fopen(at("f"), "w");
	fputs(msg, fp);
	fclose(fp);
	CHECK_INT(co_sha256_file(ctx, at("f"), hex, &bytes), CO_OK);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CHECK_INT(bytes, strlen(msg));
	CHECK_INT(co_sha256_file(ctx, at("missing"), hex, NULL), CO_EIO);
	CHECK(strstr(co_ctx_error(ctx), "missing") != NULL);

	CHECK(co_sha256_valid("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
	CHECK(co_sha256_valid("248D6A61D20638B8E5C026930C3E6039A33CE45964FF2167F6ECEDD419DB06C1"));
	CHECK(!co_sha256_valid("248d6a61"));
	CHECK(!co_sha256_valid("g48d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
	CHECK(!co_sha256_valid(""));
	co_sha256_free(h);
	co_sha256_free(NULL);
	co_ctx_free(ctx);
}

static void test_names(void)
{
	char *s;

	CHECK(co_archive_supported("a.tar.gz") && co_archive_supported("A.ZIP"));
	CHECK(co_archive_supported("x.tgz") && co_archive_supported("x.tar.zst"));
	CHECK(!co_archive_supported("x.txt") && !co_archive_supported(".zip"));
	CHECK_STR(s = co_archive_stem("books.tar.gz"), "books");
	free(s);
	CHECK_STR(s = co_archive_stem("v1.2.zip"), "v1.2");
	free(s);
	CHECK(co_archive_stem("notes.txt") == NULL);
	CHECK(co_archive_stem("data/.tar.gz") == NULL && !co_archive_supported("d/.zip"));
	CHECK_STR(s = co_archive_stem("/srv/data/set.tgz"), "/srv/data/set");
	free(s);
	CHECK_STR(s = co_fetch_part_path("/d/x.csv"), "/d/.x.csv.part");
	free(s);
	CHECK_STR(s = co_fetch_part_path("x.csv"), ".x.csv.part");
	free(s);
}

static const struct member good[] = {
	{ "./data/", 'd', NULL },
	{ "data/words.txt", 'f', "alpha beta\n" },
	{ "data/sub/deep.txt", 'f', "deep\n" },
	{ "data/sub/up", 'l', "../words.txt" },
	{ "data/same", 'h', "data/words.txt" },
	{ "top.txt", 'f', "top\n" },
	{ NULL, 0, NULL }
};

static void test_good(enum fmt fmt, const char *archive)
{
	struct co_ctx *ctx = co_ctx_new();
	struct stat st;
	char out[512];

	fresh();
	snprintf(out, sizeof(out), "%s", at("out"));
	build(at(archive), fmt, good);
	CHECK_INT(co_archive_extract(ctx, at(archive), at("out"), 0), CO_OK);
	fprintf(stderr, "%s%s", co_ctx_error(ctx), *co_ctx_error(ctx) ? "\n" : "");
	CHECK_STR(slurp(at("out/data/words.txt")), "alpha beta\n");
	CHECK_STR(slurp(at("out/data/sub/deep.txt")), "deep\n");
	CHECK_STR(slurp(at("out/top.txt")), "top\n");
	if (fmt != ZIP) {
		CHECK_STR(slurp(at("out/data/sub/up")), "alpha beta\n");
		CHECK(lstat(at("out/data/sub/up"), &st) == 0 && S_ISLNK(st.st_mode));
		CHECK_STR(slurp(at("out/data/same")), "alpha beta\n");
	}
	CHECK_INT(entries_besides(archive, "out"), 0);
	/* an existing destination is kept, unless replacing is asked for */
	CHECK_INT(co_archive_extract(ctx, at(archive), out, 0), CO_ECANTCREAT);
	CHECK(unlink(at("out/top.txt")) == 0);
	CHECK_INT(co_archive_extract(ctx, at(archive), out, CO_ARCHIVE_REPLACE), CO_OK);
	CHECK_STR(slurp(at("out/top.txt")), "top\n");
	CHECK_INT(entries_besides(archive, "out"), 0);
	co_ctx_free(ctx);
}

/* Refused whole: nothing at the destination, outside it, or left over. */
static void check_refused(enum fmt fmt, const struct member *m, const char *why)
{
	struct co_ctx *ctx = co_ctx_new();
	const char *name = fmt == ZIP ? "evil.zip" : "evil.tar";
	struct stat st;

	fresh();
	build(at(name), fmt, m);
	CHECK_INT(co_archive_extract(ctx, at(name), at("out"), 0), CO_EDATA);
	if (!strstr(co_ctx_error(ctx), why))
		fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,
			co_ctx_error(ctx), why), check_failures++;
	CHECK(lstat(at("out"), &st) != 0);
	CHECK_STR(slurp(at("secret")), "keep me\n");
	CHECK(lstat(at("x"), &st) != 0 && lstat("/tmp/co-test-archive-abs", &st) != 0);
	CHECK_INT(entries_besides(name, NULL), 0);
	co_ctx_free(ctx);
}

static void test_malicious(void)
{
	const struct member slip[] = {
		{ "ok.txt", 'f', "fine\n" }, { "../x", 'f', "escaped\n" }, { NULL, 0, NULL } };
	const struct member slip_deep[] = {
		{ "a/b/../../../x", 'f', "escaped\n" }, { NULL, 0, NULL } };
	const struct member absolute[] = {
		{ "/tmp/co-test-archive-abs", 'f', "escaped\n" }, { NULL, 0, NULL } };
	const struct member link_out[] = {
		{ "ok.txt", 'f', "fine\n" }, { "link", 'l', ".." }, { "link/secret", 'f', "overwritten\n" },
		{ NULL, 0, NULL } };
	const struct member link_abs[] = {
		{ "link", 'l', "/etc" }, { NULL, 0, NULL } };
	const struct member link_climb[] = {
		{ "s", 'l', "." }, { "t", 'l', "s/.." }, { NULL, 0, NULL } };
	const struct member hard_out[] = {
		{ "hl", 'h', "../secret" }, { NULL, 0, NULL } };
	const struct member hard_abs[] = {
		{ "hl", 'h', "/etc/passwd" }, { NULL, 0, NULL } };
	/* The link stays inside at its depth; a copy of it at the top would not. */
	const struct member hard_to_symlink[] = {
		{ "a", 'd', NULL }, { "a/b", 'd', NULL }, { "a/b/s", 'l', "../.." },
		{ "h", 'h', "a/b/s" }, { NULL, 0, NULL } };
	const struct member hard_to_dir[] = {
		{ "a", 'd', NULL }, { "h", 'h', "a" }, { NULL, 0, NULL } };
	const struct member hard_to_later[] = {
		{ "h", 'h', "f" }, { "f", 'f', "data\n" }, { NULL, 0, NULL } };

	check_refused(TAR, slip, "'..' in path");
	check_refused(ZIP, slip, "'..' in path");
	check_refused(TAR, slip_deep, "'..' in path");
	check_refused(TAR, absolute, "absolute path");
	check_refused(ZIP, absolute, "absolute path");
	check_refused(TAR, link_out, "leaves the archive");
	check_refused(TAR, link_abs, "leaves the archive");
	check_refused(TAR, link_climb, "leaves the archive");
	check_refused(TAR, hard_out, "hard link");
	check_refused(TAR, hard_abs, "hard link");
	check_refused(TAR, hard_to_symlink, "not a regular file");
	check_refused(TAR, hard_to_dir, "not a regular file");
	check_refused(TAR, hard_to_later, "not a regular file");
}

/* Bounded: members and unpacked bytes, from the configuration. */
static void test_limits(void)
{
	const struct member three[] = {
		{ "a", 'f', "0123456789" }, { "b", 'f', "0123456789" }, { "c", 'f', "0123456789" },
		{ NULL, 0, NULL } };
	struct co_ctx *ctx = co_ctx_new();
	struct stat st;

	fresh();
	build(at("three.tar"), TAR, three);
	CHECK_INT(co_config_set(ctx, CO_KEY_EXTRACT_MAX_MEMBERS, "2"), CO_OK);
	CHECK_INT(co_archive_extract(ctx, at("three.tar"), at("out"), 0), CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "more than 2 members") != NULL);
	CHECK(lstat(at("out"), &st) != 0);
	CHECK_INT(co_config_set(ctx, CO_KEY_EXTRACT_MAX_MEMBERS, "3"), CO_OK);
	CHECK_INT(co_config_set(ctx, CO_KEY_EXTRACT_MAX_SIZE, "29"), CO_OK);
	CHECK_INT(co_archive_extract(ctx, at("three.tar"), at("out"), 0), CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "limit of 29 bytes") != NULL);
	CHECK(lstat(at("out"), &st) != 0);
	CHECK_INT(entries_besides("three.tar", NULL), 0);
	CHECK_INT(co_config_set(ctx, CO_KEY_EXTRACT_MAX_SIZE, "30"), CO_OK);
	CHECK_INT(co_archive_extract(ctx, at("three.tar"), at("out"), 0), CO_OK);
	CHECK_INT(co_config_set(ctx, CO_KEY_EXTRACT_MAX_SIZE, "lots"), CO_EUSAGE);
	CHECK_INT(co_config_set(ctx, CO_KEY_EXTRACT_MAX_MEMBERS, "0"), CO_EUSAGE);
	co_ctx_free(ctx);
}

/* The new tree's top is as readable as the umask allows, not mkdtemp's 0700. */
static void test_root_mode(void)
{
	struct co_ctx *ctx = co_ctx_new();
	mode_t old = umask(022);
	struct stat st;

	fresh();
	build(at("good.tar"), TAR, good);
	CHECK_INT(co_archive_extract(ctx, at("good.tar"), at("out"), 0), CO_OK);
	CHECK(stat(at("out"), &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0755);
	umask(027);
	CHECK_INT(co_archive_extract(ctx, at("good.tar"), at("out"), CO_ARCHIVE_REPLACE), CO_OK);
	CHECK(stat(at("out"), &st) == 0);
	CHECK_INT(st.st_mode & 07777, 0750);
	umask(old);
	co_ctx_free(ctx);
}

static void test_corrupt(void)
{
	struct co_ctx *ctx = co_ctx_new();
	struct stat st;
	FILE *fp;

	fresh();
	build(at("trunc.tar.gz"), TAR_GZ, good);
	CHECK(truncate(at("trunc.tar.gz"), 60) == 0);
	CHECK_INT(co_archive_extract(ctx, at("trunc.tar.gz"), at("out"), 0), CO_EDATA);
	CHECK(lstat(at("out"), &st) != 0);
	CHECK_INT(entries_besides("trunc.tar.gz", NULL), 0);
	fp = fopen(at("junk.zip"), "w");
	fputs("this is not an archive at all\n", fp);
	fclose(fp);
	CHECK_INT(co_archive_extract(ctx, at("junk.zip"), at("out"), 0), CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "junk.zip") != NULL);
	CHECK_INT(entries_besides("trunc.tar.gz", "junk.zip"), 0);
	CHECK_INT(co_archive_extract(ctx, at("missing.zip"), at("out"), 0), CO_EIO);
	co_ctx_free(ctx);
}

/* A compression libarchive would hand to a program on PATH is refused, not run. */
static void test_no_programs(void)
{
	static const char lrzip_head[] = "LRZI\0\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0xxxxxxxx";
	struct co_ctx *ctx = co_ctx_new();
	char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	char script[600];
	struct stat st;
	FILE *fp;

	fresh();
	CHECK(mkdir(at("bin"), 0755) == 0);
	snprintf(script, sizeof(script), "#!/bin/sh\n: > '%s'\ncat >/dev/null\n", at("ran"));
	fp = fopen(at("bin/lrzip"), "w");
	fputs(script, fp);
	fclose(fp);
	CHECK(chmod(at("bin/lrzip"), 0755) == 0);
	fp = fopen(at("books.tar.gz"), "w");
	fwrite(lrzip_head, 1, sizeof(lrzip_head) - 1, fp);
	fclose(fp);
	setenv("PATH", at("bin"), 1);
	CHECK_INT(co_archive_extract(ctx, at("books.tar.gz"), at("out"), 0), CO_EDATA);
	if (path)
		setenv("PATH", path, 1);
	CHECK(lstat(at("ran"), &st) != 0);
	CHECK(lstat(at("out"), &st) != 0);
	free(path);
	co_ctx_free(ctx);
}

/*
 * From a descriptor: read from the archive's first byte wherever fd's
 * offset is, the zip through the seekable reader too; fd stays open.
 */
static void test_extract_fd(enum fmt fmt, const char *archive)
{
	struct co_ctx *ctx = co_ctx_new();
	char buf[8];
	int fd;

	fresh();
	build(at(archive), fmt, good);
	fd = open(at(archive), O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
	CHECK_INT(co_archive_extract_fd(ctx, fd, "the archive", at("out"), 0), CO_OK);
	CHECK_STR(slurp(at("out/data/sub/deep.txt")), "deep\n");
	CHECK(fcntl(fd, F_GETFD) >= 0);
	CHECK_INT(co_archive_extract_fd(ctx, fd, "the archive", at("out"), CO_ARCHIVE_REPLACE),
		  CO_OK);
	CHECK_STR(slurp(at("out/top.txt")), "top\n");
	CHECK_INT(entries_besides(archive, "out"), 0);
	close(fd);
	co_ctx_free(ctx);
}

struct seen {
	char names[8][64];
	int errs[8];
	int n;
};

static void note_leftover(void *arg, const char *name, int err)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->errs[s->n++] = err;
	}
}

static void make_file(const char *path)
{
	FILE *fp = fopen(path, "w");

	if (!fp)
		exit(99);
	fputs("x\n", fp);
	fclose(fp);
}

/*
 * Only what the extractor names for that directory, marks as its own, and
 * nobody holds: a link is not followed, a file not removed, a directory
 * without the mark (one renamed to such a name) and a tree locked (by a
 * run still unpacking into it) kept; read-only directories in a leftover
 * do not stop its removal.
 */
static void test_leftovers(void)
{
	static const char *const kept[] = {
		".out.tmp-abc12", ".out.tmp-abc1234", ".out.tmp-abc12!", ".out.tmp-abc-12",
		".out2.tmp-abc123", ".out.tmp.abc123", "out.tmp-abc123", ".other.tmp-abc123",
		".out.tmp-", ".out.tmp-NoMrk1", NULL,
	};
	struct co_ctx *ctx = co_ctx_new();
	struct seen seen = { 0 };
	struct stat st;
	int dirfd, lockfd;

	fresh();
	CHECK(mkdir(at("outside"), 0755) == 0);
	make_file(at("outside/f"));
	for (const char *const *k = kept; *k; k++)
		CHECK(mkdir(at(*k), 0700) == 0);
	/* a leftover, read-only inside as an older version's trees were */
	CHECK(mkdir(at(".out.tmp-Ab3dE9"), 0700) == 0);
	CHECK(mkdir(at(".out.tmp-Ab3dE9/ro"), 0755) == 0);
	make_file(at(".out.tmp-Ab3dE9/ro/f"));
	make_file(at(".out.tmp-Ab3dE9/.sc-fetch-tree"));
	CHECK(symlink(at("outside"), at(".out.tmp-Ab3dE9/ro/link")) == 0);
	CHECK(chmod(at(".out.tmp-Ab3dE9/ro"), 0555) == 0);
	CHECK(chmod(at(".out.tmp-Ab3dE9"), 0500) == 0);
	/* planted: a link and a file named like leftovers */
	CHECK(symlink(at("outside"), at(".out.tmp-LINK00")) == 0);
	make_file(at(".out.tmp-FILE00"));
	/* in use: its lock held, as a running extraction holds it */
	CHECK(mkdir(at(".out.tmp-BUSY00"), 0700) == 0);
	make_file(at(".out.tmp-BUSY00/f"));
	make_file(at(".out.tmp-BUSY00/.sc-fetch-tree"));
	lockfd = open(at(".out.tmp-BUSY00"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(lockfd >= 0 && flock(lockfd, LOCK_EX) == 0);

	dirfd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK_INT(co_archive_remove_leftovers(ctx, dirfd, "out", note_leftover, &seen), CO_OK);
	CHECK_INT(seen.n, 1);
	CHECK_STR(seen.names[0], ".out.tmp-Ab3dE9");
	CHECK_INT(seen.errs[0], 0);
	CHECK(lstat(at(".out.tmp-Ab3dE9"), &st) != 0);
	CHECK(lstat(at(".out.tmp-LINK00"), &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(lstat(at(".out.tmp-FILE00"), &st) == 0 && S_ISREG(st.st_mode));
	CHECK_STR(slurp(at("outside/f")), "x\n");
	CHECK_STR(slurp(at(".out.tmp-BUSY00/f")), "x\n");
	for (const char *const *k = kept; *k; k++)
		CHECK(lstat(at(*k), &st) == 0);
	/* the run is over: its lock is gone, and so is the tree the next time */
	close(lockfd);
	seen.n = 0;
	CHECK_INT(co_archive_remove_leftovers(ctx, dirfd, "out", note_leftover, &seen), CO_OK);
	CHECK_INT(seen.n, 1);
	CHECK_STR(seen.names[0], ".out.tmp-BUSY00");
	CHECK(lstat(at(".out.tmp-BUSY00"), &st) != 0);
	CHECK_INT(co_archive_remove_leftovers(ctx, dirfd, "a/b", NULL, NULL), CO_EUSAGE);
	CHECK_INT(co_archive_remove_leftovers(ctx, dirfd, "..", NULL, NULL), CO_EUSAGE);
	close(dirfd);
	co_ctx_free(ctx);
}

int main(void)
{
	test_sha256();
	test_names();
	test_good(TAR, "good.tar");
	test_good(TAR_GZ, "good.tar.gz");
	test_good(TAR_ZST, "good.tar.zst");
	test_good(ZIP, "good.zip");
	test_malicious();
	test_limits();
	test_root_mode();
	test_corrupt();
	test_no_programs();
	test_extract_fd(TAR_GZ, "good.tar.gz");
	test_extract_fd(ZIP, "good.zip");
	test_leftovers();
	nftw(workdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(workdir);
	return CHECK_DONE();
}
