/* SPDX-License-Identifier: MIT */
/*
 * The archive writer: each format its suffix names is written, then read
 * back with libarchive, member by member; members copied from another
 * archive keep only plain relative names; sizes are never exceeded.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "clusterops.h"

static const char *const suffixes[] = {
	".tar.gz", ".tgz", ".tar.zst", ".tar.bz2", ".tar.xz", ".tar", ".zip", ".TAR.GZ",
};

static char workdir[] = "/tmp/test-archive-write.XXXXXX";
static struct co_ctx *ctx;

/* A zip in memory with these members (name, data pairs; NULL ends). */
static void *zip_of(const char *const *members, size_t *len)
{
	size_t cap = 1 << 16;
	void *buf = malloc(cap);
	struct archive *a = archive_write_new();

	archive_write_set_format_zip(a);
	CHECK(archive_write_open_memory(a, buf, cap, len) == ARCHIVE_OK);
	for (; *members; members += 2) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, members[0]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(members[1]));
		CHECK(archive_write_header(a, e) == ARCHIVE_OK);
		CHECK(archive_write_data(a, members[1], strlen(members[1])) ==
		      (la_ssize_t)strlen(members[1]));
		archive_entry_free(e);
	}
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	return buf;
}

static char *path_for(const char *name)
{
	char *p;

	CHECK(asprintf(&p, "%s/%s", workdir, name) > 0);
	return p;
}

static void added(void *arg, const char *path, int64_t size)
{
	int *count = arg;

	(void)path;
	CHECK(size > 0);
	(*count)++;
}

/* A file of these bytes, open for reading from its start. */
static int file_of(const char *name, const void *data, size_t len)
{
	char *path = path_for(name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	free(path);
	return fd;
}

/*
 * Write every kind of member into an archive named by suffix; the members
 * of another archive come from memory, or from a file with from_fd.
 */
static void write_one(const char *suffix, bool from_fd)
{
	static const char *const zip_members[] = {
		"events_1_app", "{\"Event\":\"x\"}\n",
		"../evil", "x", "/abs", "x", "a//b", "x", "x/./y", "x", "sub/ok", "fine\n",
		NULL,
	};
	char *name, *path = NULL, *src = path_for("source.txt");
	struct co_archive_writer *w = NULL;
	size_t zip_len, unsafe = 0;
	int count = 0, fd, out;
	void *zip = zip_of(zip_members, &zip_len);
	int64_t size = 0;

	CHECK(asprintf(&name, "bundle%s", suffix) > 0);
	path = path_for(name);
	fd = open(src, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(write(fd, "from a file\n", 12) == 12);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK_INT(co_archive_writer_new(ctx, path, out, &w), CO_OK);
	if (!w)
		goto out;
	CHECK_INT(co_archive_writer_add(ctx, w, "app/one.txt", "hello\n", 6), CO_OK);
	CHECK_INT(co_archive_writer_begin(ctx, w, "app/two", 10, 1700000000), CO_OK);
	CHECK_INT(co_archive_writer_write(ctx, w, "01234", 5), CO_OK);
	CHECK_INT(co_archive_writer_write(ctx, w, "56789", 5), CO_OK);
	/* never more than announced */
	CHECK_INT(co_archive_writer_write(ctx, w, "!", 1), CO_ESOFTWARE);
	CHECK_INT(co_archive_writer_add_fd(ctx, w, "app/three", fd, &size), CO_OK);
	CHECK_INT(size, 12);
	if (from_fd) {
		int zfd = file_of("members.zip", zip, zip_len);

		CHECK_INT(co_archive_writer_add_members_fd(ctx, w, "app/eventlog/", zfd, added,
							   &count, &unsafe), CO_OK);
		close(zfd);
	} else {
		CHECK_INT(co_archive_writer_add_members(ctx, w, "app/eventlog/", zip, zip_len,
							added, &count, &unsafe), CO_OK);
	}
	CHECK_INT(count, 2);
	CHECK_INT(unsafe, 4);
	CHECK_INT(co_archive_writer_close(ctx, w), CO_OK);
out:
	co_archive_writer_free(w);
	close(out);
	close(fd);
	free(zip);
	free(src);
	free(name);
	free(path);
}

/* Read it back: exactly these members with exactly these bytes. */
static void read_one(const char *suffix)
{
	static const char *const want[] = {
		"app/one.txt", "hello\n", "app/two", "0123456789", "app/three", "from a file\n",
		"app/eventlog/events_1_app", "{\"Event\":\"x\"}\n", "app/eventlog/sub/ok", "fine\n",
	};
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *name, *path;
	size_t i = 0;

	CHECK(asprintf(&name, "bundle%s", suffix) > 0);
	path = path_for(name);
	archive_read_support_format_all(a);
	archive_read_support_filter_all(a);
	CHECK(archive_read_open_filename(a, path, 10240) == ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char buf[256] = "";
		la_ssize_t n = archive_read_data(a, buf, sizeof(buf) - 1);

		if (i + 1 >= sizeof(want) / sizeof(want[0])) {
			fprintf(stderr, "%s: unexpected member %s\n", suffix, archive_entry_pathname(e));
			check_failures++;
			break;
		}
		CHECK_STR(archive_entry_pathname(e), want[i]);
		CHECK_INT(archive_entry_filetype(e), AE_IFREG);
		CHECK_INT(archive_entry_size(e), strlen(want[i + 1]));
		CHECK_INT(n, strlen(want[i + 1]));
		CHECK_STR(buf, want[i + 1]);
		i += 2;
	}
	CHECK_INT(i, sizeof(want) / sizeof(want[0]));
	/* the format is the one the suffix names, not one libarchive guessed */
	if (strcasecmp(suffix, ".zip") == 0)
		CHECK_INT(archive_format(a) & ARCHIVE_FORMAT_BASE_MASK, ARCHIVE_FORMAT_ZIP);
	else
		CHECK_INT(archive_format(a) & ARCHIVE_FORMAT_BASE_MASK, ARCHIVE_FORMAT_TAR);
	if (strcasecmp(suffix, ".tar") != 0 && strcasecmp(suffix, ".zip") != 0)
		CHECK(archive_filter_count(a) > 1);
	archive_read_free(a);
	free(name);
	free(path);
}

static void test_refusals(void)
{
	static const char *const big[] = { "big", "0123456789", NULL };
	struct co_archive_writer *w = NULL;
	char *path = path_for("r.tar");
	size_t zip_len, unsafe;
	void *zip = zip_of(big, &zip_len);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK_INT(co_archive_writer_new(ctx, "logs.rar", out, &w), CO_EUSAGE);
	CHECK(w == NULL);
	CHECK_INT(co_archive_writer_new(ctx, "dir/.tar", out, &w), CO_EUSAGE);
	CHECK_INT(co_archive_writer_new(ctx, path, out, &w), CO_OK);
	/* what is not an archive adds nothing */
	CHECK_INT(co_archive_writer_add_members(ctx, w, "p/", "not an archive", 14, NULL, NULL,
						&unsafe), CO_EDATA);
	/* a member over extract_max_size is refused before it is begun */
	CHECK_INT(co_config_set(ctx, CO_KEY_EXTRACT_MAX_SIZE, "4"), CO_OK);
	CHECK_INT(co_archive_writer_add_members(ctx, w, "p/", zip, zip_len, NULL, NULL, &unsafe),
		  CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "extract_max_size") != NULL);
	/* a member left short cannot be followed by another, nor closed */
	CHECK_INT(co_archive_writer_begin(ctx, w, "p/short", 5, 0), CO_OK);
	CHECK_INT(co_archive_writer_write(ctx, w, "abc", 3), CO_OK);
	CHECK_INT(co_archive_writer_begin(ctx, w, "p/next", 1, 0), CO_ESOFTWARE);
	CHECK_INT(co_archive_writer_close(ctx, w), CO_ESOFTWARE);
	CHECK_INT(co_archive_writer_write(ctx, w, "de", 2), CO_OK);
	CHECK_INT(co_archive_writer_close(ctx, w), CO_OK);
	co_archive_writer_free(w);
	close(out);
	free(zip);
	free(path);
}

/*
 * Another archive's compression that libarchive would hand to a program on
 * PATH (lrzip here) is refused, from memory or a file, and nothing runs.
 */
static void test_no_programs(void)
{
	static const char lrzip_head[] = "LRZI\0\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0xxxxxxxx";
	char *bin = path_for("bin"), *fake = path_for("bin/lrzip"), *ran = path_for("ran");
	char *path = path_for("p.tar"), *old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	struct co_archive_writer *w = NULL;
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int in = file_of("events.zip", lrzip_head, sizeof(lrzip_head) - 1);
	size_t unsafe;
	struct stat st;
	FILE *fp;

	CHECK(mkdir(bin, 0755) == 0);
	CHECK((fp = fopen(fake, "w")) != NULL);
	fprintf(fp, "#!/bin/sh\n: > '%s'\ncat >/dev/null\n", ran);
	fclose(fp);
	CHECK(chmod(fake, 0755) == 0);
	CHECK_INT(co_archive_writer_new(ctx, path, out, &w), CO_OK);
	setenv("PATH", bin, 1);
	CHECK_INT(co_archive_writer_add_members(ctx, w, "p/", lrzip_head, sizeof(lrzip_head) - 1,
						NULL, NULL, &unsafe), CO_EDATA);
	CHECK_INT(co_archive_writer_add_members_fd(ctx, w, "p/", in, NULL, NULL, &unsafe),
		  CO_EDATA);
	if (old_path)
		setenv("PATH", old_path, 1);
	CHECK(lstat(ran, &st) != 0);
	CHECK_INT(co_archive_writer_close(ctx, w), CO_OK);
	co_archive_writer_free(w);
	close(out);
	close(in);
	free(old_path);
	free(path);
	free(ran);
	free(fake);
	free(bin);
}

int main(void)
{
	char cmd[64];

	ctx = co_ctx_new();
	CHECK(mkdtemp(workdir) != NULL);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		write_one(suffixes[i], i % 2);
		read_one(suffixes[i]);
	}
	test_refusals();
	test_no_programs();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	CHECK(system(cmd) == 0);
	co_ctx_free(ctx);
	return CHECK_DONE();
}
