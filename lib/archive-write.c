/* SPDX-License-Identifier: MIT */
/*
 * Writing an archive with libarchive, streamed into a descriptor: the
 * format from the name's suffix (the extractor's table), regular files
 * only, each announced with its size before its bytes.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "internal.h"

struct co_archive_writer {
	struct archive *a;
	char *name;		/* the archive, for messages */
	int64_t left;		/* bytes the current member still takes */
	bool in_member;
};

static int write_error(struct co_ctx *ctx, struct co_archive_writer *w, const char *what)
{
	const char *err = archive_error_string(w->a);

	return co_err(ctx, archive_errno(w->a) == ENOSPC || archive_errno(w->a) == EIO
		      ? CO_EIO : CO_ECANTCREAT, "%s: %s%s%s", w->name, what,
		      err ? ": " : "", err ? err : "");
}

static int add_filter(struct archive *a, enum co_archive_filter filter)
{
	switch (filter) {
	case CO_ARCHIVE_FILTER_GZIP:
		return archive_write_add_filter_gzip(a);
	case CO_ARCHIVE_FILTER_ZSTD:
		return archive_write_add_filter_zstd(a);
	case CO_ARCHIVE_FILTER_BZIP2:
		return archive_write_add_filter_bzip2(a);
	case CO_ARCHIVE_FILTER_XZ:
		return archive_write_add_filter_xz(a);
	case CO_ARCHIVE_FILTER_NONE:
		break;
	}
	return ARCHIVE_OK;
}

CO_API int co_archive_writer_new(struct co_ctx *ctx, const char *name, int fd,
				 struct co_archive_writer **out)
{
	const struct co_archive_suffix *suffix = co_archive_suffix_of(name);
	struct co_archive_writer *w;
	int rc = CO_OK;

	*out = NULL;
	if (!suffix)
		return co_err(ctx, CO_EUSAGE, "%s: not an archive name (.tar.gz, .tgz, .tar.zst, "
			      ".tar.bz2, .tar.xz, .tar or .zip)", name);
	rc = co_lazy_need(ctx, CO_LAZY_ARCHIVE);
	if (rc)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->a = archive_write_new()) || !(w->name = strdup(name))) {
		co_archive_writer_free(w);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	if (suffix->zip)
		archive_write_set_format_zip(w->a);
	else
		archive_write_set_format_pax_restricted(w->a);
	if (add_filter(w->a, suffix->filter) != ARCHIVE_OK)
		rc = co_err(ctx, CO_ESOFTWARE, "%s: %s", name, archive_error_string(w->a));
	else if (archive_write_open_fd(w->a, fd) != ARCHIVE_OK)
		rc = write_error(ctx, w, "cannot write");
	if (rc) {
		co_archive_writer_free(w);
		return rc;
	}
	*out = w;
	return CO_OK;
}

/*
 * A member name stays relative and plain: not empty, no leading "/", no
 * empty, "." or ".." component; so that unpacking the archive stays in its
 * directory, whoever named the member (a worker's id, another archive).
 */
static bool plain_relative_path(const char *name)
{
	const char *p = name;

	if (!name || !*name || *name == '/')
		return false;
	for (;;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

CO_API int co_archive_writer_check_name(struct co_ctx *ctx, const struct co_archive_writer *w,
					const char *path)
{
	return plain_relative_path(path) ? CO_OK : co_err(ctx, CO_EDATA, "%s: '%s': not a plain "
							  "relative member name", w->name, path);
}

CO_API int co_archive_writer_begin(struct co_ctx *ctx, struct co_archive_writer *w,
				   const char *path, int64_t size, int64_t mtime)
{
	struct archive_entry *e;
	int rc = CO_OK;

	if (w->in_member && w->left > 0)
		return co_err(ctx, CO_ESOFTWARE, "%s: a member is %lld bytes short", w->name,
			      (long long)w->left);
	if (size < 0)
		return co_err(ctx, CO_ESOFTWARE, "%s: %s: negative size", w->name, path);
	if ((rc = co_archive_writer_check_name(ctx, w, path)) != CO_OK)
		return rc;
	e = archive_entry_new();
	if (!e)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, mtime, 0);
	if (archive_write_header(w->a, e) != ARCHIVE_OK)
		rc = write_error(ctx, w, path);
	archive_entry_free(e);
	w->in_member = rc == CO_OK;
	w->left = size;
	return rc;
}

CO_API int co_archive_writer_write(struct co_ctx *ctx, struct co_archive_writer *w,
				   const void *data, size_t len)
{
	if (!w->in_member || (uint64_t)len > (uint64_t)w->left)
		return co_err(ctx, CO_ESOFTWARE, "%s: more bytes than the member announced",
			      w->name);
	if (len && archive_write_data(w->a, data, len) < 0)
		return write_error(ctx, w, "cannot write");
	w->left -= (int64_t)len;
	return CO_OK;
}

CO_API int co_archive_writer_add(struct co_ctx *ctx, struct co_archive_writer *w,
				 const char *path, const void *data, size_t len)
{
	int rc = co_archive_writer_begin(ctx, w, path, (int64_t)len, time(NULL));

	return rc ? rc : co_archive_writer_write(ctx, w, data, len);
}

static int add_fd(struct co_ctx *ctx, struct co_archive_writer *w, const char *path, int fd,
		  int64_t mtime, int64_t *size)
{
	char buf[65536];
	struct stat sb;
	int64_t left;
	ssize_t n = 0;
	int rc;

	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		return co_err(ctx, CO_EDATA, "%s: not a regular file", path);
	rc = co_archive_writer_begin(ctx, w, path, sb.st_size, mtime < 0 ? sb.st_mtim.tv_sec
				     : mtime);
	for (left = sb.st_size; rc == CO_OK && left > 0; left -= n) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			return co_err(ctx, CO_EIO, "%s: %s", path,
				      n < 0 ? strerror(errno) : "the file shrank while it was read");
		rc = co_archive_writer_write(ctx, w, buf, (size_t)(n < left ? n : left));
	}
	if (size)
		*size = sb.st_size;
	return rc;
}

CO_API int co_archive_writer_add_fd(struct co_ctx *ctx, struct co_archive_writer *w,
				    const char *path, int fd, int64_t *size)
{
	return add_fd(ctx, w, path, fd, -1, size);
}

/*
 * A member's data into an unlinked temporary file, so that the size
 * announced in the new archive is what it really holds, never what the
 * member's header claims. All the members together are bounded by the
 * extract_max_size setting, max: *used counts what came before.
 */
static int spool_member(struct co_ctx *ctx, struct archive *in, const char *name,
			uint64_t max, uint64_t *used, FILE **out)
{
	FILE *fp = tmpfile();
	uint64_t total = *used;
	char buf[65536];
	la_ssize_t got;

	*out = NULL;
	if (!fp)
		return co_err(ctx, CO_EIO, "temporary file: %s", strerror(errno));
	while ((got = archive_read_data(in, buf, sizeof(buf))) > 0) {
		total += (uint64_t)got;
		if (total > max) {
			fclose(fp);
			return co_err(ctx, CO_EDATA, "%s: the archive unpacks to more than the "
				      "limit of %llu bytes (extract_max_size)", name,
				      (unsigned long long)max);
		}
		if (fwrite(buf, 1, (size_t)got, fp) != (size_t)got) {
			fclose(fp);
			return co_err(ctx, CO_EIO, "temporary file: %s", strerror(errno));
		}
	}
	if (got < 0 || fflush(fp) != 0 || fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		return co_err(ctx, got < 0 ? CO_EDATA : CO_EIO, "%s: %s", name,
			      got < 0 ? archive_error_string(in) : strerror(errno));
	}
	*used = total;
	*out = fp;
	return CO_OK;
}

/* Copy the members of an archive opened for reading, then free it. */
static int add_members(struct co_ctx *ctx, struct co_archive_writer *w, const char *prefix,
		       struct archive *in, co_archive_member_fn *added, void *arg,
		       size_t *unsafe)
{
	struct archive_entry *e;
	struct co_extract_limits lim;
	int rc = co_extract_limits_read(ctx, &lim), r;

	while (rc == CO_OK && (r = archive_read_next_header(in, &e)) != ARCHIVE_EOF) {
		const char *name = archive_entry_pathname(e);
		int64_t size;
		char *path;
		FILE *fp;

		if (r < ARCHIVE_WARN) {
			rc = co_err(ctx, CO_EDATA, "%s", archive_error_string(in));
			break;
		}
		if (++lim.members > lim.max_members) {
			rc = co_err(ctx, CO_EDATA, "more than %lld members (extract_max_members)",
				    lim.max_members);
			break;
		}
		if (archive_entry_filetype(e) != AE_IFREG || !archive_entry_size_is_set(e))
			continue;
		if (!plain_relative_path(name)) {
			(*unsafe)++;
			continue;
		}
		rc = spool_member(ctx, in, name, lim.max_bytes, &lim.bytes, &fp);
		if (rc)
			break;
		if (asprintf(&path, "%s%s", prefix, name) < 0) {
			fclose(fp);
			rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
			break;
		}
		rc = add_fd(ctx, w, path, fileno(fp), archive_entry_mtime(e), &size);
		fclose(fp);
		if (rc == CO_OK && added)
			added(arg, path, size);
		free(path);
	}
	archive_read_free(in);
	return rc;
}

/* The reader of co_archive_reader_new(), or NULL with the message. */
static struct archive *members_reader(struct co_ctx *ctx, size_t *unsafe)
{
	struct archive *in = co_archive_reader_new();

	*unsafe = 0;
	if (!in)
		co_err(ctx, CO_ESOFTWARE, "out of memory");
	return in;
}

CO_API int co_archive_writer_add_members(struct co_ctx *ctx, struct co_archive_writer *w,
					 const char *prefix, const void *data, size_t len,
					 co_archive_member_fn *added, void *arg, size_t *unsafe)
{
	struct archive *in = members_reader(ctx, unsafe);

	if (!in)
		return CO_ESOFTWARE;
	if (archive_read_open_memory(in, data, len) != ARCHIVE_OK) {
		int rc = co_err(ctx, CO_EDATA, "not an archive: %s", archive_error_string(in));

		archive_read_free(in);
		return rc;
	}
	return add_members(ctx, w, prefix, in, added, arg, unsafe);
}

CO_API int co_archive_writer_add_members_fd(struct co_ctx *ctx, struct co_archive_writer *w,
					    const char *prefix, int fd,
					    co_archive_member_fn *added, void *arg, size_t *unsafe)
{
	struct archive *in = members_reader(ctx, unsafe);

	if (!in)
		return CO_ESOFTWARE;
	if (archive_read_open_fd(in, fd, 1 << 16) != ARCHIVE_OK) {
		int rc = co_err(ctx, CO_EDATA, "not an archive: %s", archive_error_string(in));

		archive_read_free(in);
		return rc;
	}
	return add_members(ctx, w, prefix, in, added, arg, unsafe);
}

CO_API int co_archive_writer_close(struct co_ctx *ctx, struct co_archive_writer *w)
{
	if (w->in_member && w->left > 0)
		return co_err(ctx, CO_ESOFTWARE, "%s: a member is %lld bytes short", w->name,
			      (long long)w->left);
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return write_error(ctx, w, "cannot finish");
	return CO_OK;
}

CO_API void co_archive_writer_free(struct co_archive_writer *w)
{
	if (!w)
		return;
	if (w->a)
		archive_write_free(w->a);
	free(w->name);
	free(w);
}
