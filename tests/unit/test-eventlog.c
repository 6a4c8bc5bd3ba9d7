/* SPDX-License-Identifier: MIT */
/* Spark's event-log names, as the events dir holds them. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "check.h"
#include "clusterops.h"
#include "internal.h"

struct name_case {
	const char *name;
	int rc;
	const char *app_id, *attempt, *codec;
	bool rolling, in_progress;
};

static const struct name_case cases[] = {
	{ "app-20261125163923-0002", CO_OK, "app-20261125163923-0002", "", "", false, false },
	{ "app-20261125163923-0002.inprogress", CO_OK, "app-20261125163923-0002", "", "", false, true },
	{ "app-20261125163923-0002_1.lz4", CO_OK, "app-20261125163923-0002", "1", "lz4", false, false },
	{ "app-20261125163923-0002_1.zstd.inprogress", CO_OK, "app-20261125163923-0002", "1", "zstd", false, true },
	{ "app-20261125163923-10000.snappy", CO_OK, "app-20261125163923-10000", "", "snappy", false, false },
	{ "local-1700000000000.lzf", CO_OK, "local-1700000000000", "", "lzf", false, false },
	{ "application_1700000000000_0042_2", CO_OK, "application_1700000000000_0042", "2", "", false, false },
	{ "spark-application-1700000000000", CO_OK, "spark-application-1700000000000", "", "", false, false },
	{ "eventlog_v2_app-20261125163739-0002", CO_OK, "app-20261125163739-0002", "", "", true, false },
	{ "eventlog_v2_app-20261125163739-0002_3", CO_OK, "app-20261125163739-0002", "3", "", true, false },
	{ "README", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "app-", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "app-2026", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "app-2026-", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "app-20261125163923-0002.gz", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "app-20261125163923-0002_", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "app-20261125163923-0002_1/x", CO_EDATA, NULL, NULL, NULL, false, false },
	{ ".inprogress", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "eventlog_v2_", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "eventlog_v2_notes", CO_EDATA, NULL, NULL, NULL, false, false },
	{ "application_17_", CO_EDATA, NULL, NULL, NULL, false, false },
};

#define ROLLING "eventlog_v2_app-20260101000000-0001"
#define MEMBER "events_1_app-20260101000000-0001"

static void put_file(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, "{}\n", 3) == 3);
		close(fd);
	}
}

/* A rolling log in events, with an events file and its appstatus: its dir, open. */
static int rolling_dir(int events)
{
	int sub;

	CHECK(mkdirat(events, ROLLING, 0755) == 0);
	sub = openat(events, ROLLING, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(sub >= 0);
	put_file(sub, MEMBER);
	put_file(sub, "appstatus_app-20260101000000-0001");
	return sub;
}

/* Everything a test made: the scan, the descriptors, the temporary dir, the context. */
static void clean_up(struct co_eventlog_dir *logs, int sub, int events, const char *dir,
		     struct co_ctx *ctx)
{
	char cmd[300];

	co_eventlog_dir_free(logs);
	close(sub);
	close(events);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	co_ctx_free(ctx);
}

/*
 * What a rolling dir holds is checked again after it is renamed out of
 * sight: something put in it after the scan is not removed with it.
 */
static void check_remove_rechecks_after_rename(const char *planted, bool symlink)
{
	char tmpl[] = "/tmp/test-eventlog.XXXXXX";
	struct co_eventlog_dir *logs = NULL;
	struct co_ctx *ctx = co_ctx_new();
	struct stat sb;
	int events, sub;

	CHECK(ctx && mkdtemp(tmpl));
	events = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(events >= 0);
	sub = rolling_dir(events);
	CHECK_INT(co_eventlog_dir_scan(ctx, events, &logs), CO_OK);
	CHECK_INT(logs->n_logs, 1);
	/* after the scan, before the removal */
	if (symlink)
		CHECK(symlinkat("/etc/passwd", sub, planted) == 0);
	else
		put_file(sub, planted);
	CHECK(co_eventlog_remove(ctx, events, &logs->logs[0]) != CO_OK);
	CHECK(fstatat(sub, planted, &sb, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(fstatat(events, ROLLING "/" MEMBER, &sb, AT_SYMLINK_NOFOLLOW) == 0);
	clean_up(logs, sub, events, tmpl, ctx);
}

static const struct co_eventlog *find_log(const struct co_eventlog_dir *logs, const char *name)
{
	for (size_t i = 0; i < logs->n_logs; i++)
		if (strcmp(logs->logs[i].name, name) == 0)
			return &logs->logs[i];
	return NULL;
}

static bool has_file(const struct co_eventlog *log, const char *name)
{
	for (size_t i = 0; i < log->n_files; i++)
		if (strcmp(log->files[i], name) == 0)
			return true;
	return false;
}

static int temp_events(char *tmpl)
{
	int fd;

	CHECK(mkdtemp(tmpl) != NULL);
	fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

/*
 * A scan lists single files and rolling dirs with the rolling logs' own
 * files (not the hidden checksums); what is not an event log, or a rolling
 * dir holding a stranger, is skipped; removal takes each kind whole.
 */
static void check_scan_and_remove(void)
{
	char tmpl[] = "/tmp/test-eventlog.XXXXXX";
	struct co_eventlog_dir *logs = NULL;
	struct co_ctx *ctx = co_ctx_new();
	const struct co_eventlog *single, *rolling;
	struct stat sb;
	int events = temp_events(tmpl), sub;

	put_file(events, "app-20260101000000-0002");
	put_file(events, ".app-20260101000000-0002.crc");
	put_file(events, "README");
	CHECK(mkdirat(events, ROLLING, 0755) == 0);
	sub = openat(events, ROLLING, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put_file(sub, MEMBER);
	put_file(sub, "events_2_app-20260101000000-0001.zstd");
	put_file(sub, "." MEMBER ".crc");
	put_file(sub, "appstatus_app-20260101000000-0001.inprogress");
	CHECK(mkdirat(events, "eventlog_v2_app-20260101000000-0003", 0755) == 0);
	CHECK(symlinkat("/etc/passwd", events, "eventlog_v2_app-20260101000000-0003/"
			"events_1_app-20260101000000-0003") == 0);
	CHECK_INT(co_eventlog_dir_scan(ctx, events, &logs), CO_OK);
	CHECK_INT(logs->n_logs, 2);
	CHECK_INT(logs->n_skipped, 2);
	single = find_log(logs, "app-20260101000000-0002");
	rolling = find_log(logs, ROLLING);
	CHECK(single && rolling);
	if (!single || !rolling)
		goto out;
	CHECK_INT(single->n_files, 0);
	CHECK_STR(single->crc_name, ".app-20260101000000-0002.crc");
	CHECK_INT(rolling->n_files, 3);
	CHECK(has_file(rolling, MEMBER));
	CHECK(has_file(rolling, "events_2_app-20260101000000-0001.zstd"));
	CHECK(has_file(rolling, "appstatus_app-20260101000000-0001.inprogress"));
	CHECK(!has_file(rolling, "." MEMBER ".crc"));
	CHECK(rolling->id.in_progress);
	CHECK_INT(rolling->bytes, 4 * 3);
	CHECK_INT(co_eventlog_remove(ctx, events, single), CO_OK);
	CHECK(fstatat(events, "app-20260101000000-0002", &sb, AT_SYMLINK_NOFOLLOW) != 0);
	CHECK(fstatat(events, ".app-20260101000000-0002.crc", &sb, AT_SYMLINK_NOFOLLOW) != 0);
	CHECK_INT(co_eventlog_remove(ctx, events, rolling), CO_OK);
	CHECK(fstatat(events, ROLLING, &sb, AT_SYMLINK_NOFOLLOW) != 0);
	CHECK(fstatat(events, "README", &sb, AT_SYMLINK_NOFOLLOW) == 0);
	/* removing what is already gone is not an error */
	CHECK_INT(co_eventlog_remove(ctx, events, single), CO_OK);
out:
	clean_up(logs, sub, events, tmpl, ctx);
}

/*
 * A file of a listed log is opened only while it is still a regular file:
 * a FIFO or a link swapped in after the scan is refused, and never waited on.
 */
static void check_open_file(void)
{
	char tmpl[] = "/tmp/test-eventlog.XXXXXX";
	struct co_eventlog_dir *logs = NULL;
	struct co_ctx *ctx = co_ctx_new();
	const struct co_eventlog *single, *rolling;
	int events = temp_events(tmpl), sub, fd = -1;

	put_file(events, "app-20260101000000-0002");
	sub = rolling_dir(events);
	CHECK_INT(co_eventlog_dir_scan(ctx, events, &logs), CO_OK);
	single = find_log(logs, "app-20260101000000-0002");
	rolling = find_log(logs, ROLLING);
	CHECK(single && rolling);
	if (!single || !rolling)
		goto out;
	CHECK_INT(co_eventlog_open_file(ctx, events, single, NULL, &fd), CO_OK);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(co_eventlog_open_file(ctx, events, rolling, MEMBER, &fd), CO_OK);
	close(fd);
	/* only the log's own files */
	CHECK_INT(co_eventlog_open_file(ctx, events, rolling, "../app-20260101000000-0002", &fd),
		  CO_ESOFTWARE);
	CHECK_INT(co_eventlog_open_file(ctx, events, rolling, NULL, &fd), CO_ESOFTWARE);
	/* swapped since the scan */
	CHECK(unlinkat(events, "app-20260101000000-0002", 0) == 0);
	CHECK(mkfifoat(events, "app-20260101000000-0002", 0644) == 0);
	CHECK_INT(co_eventlog_open_file(ctx, events, single, NULL, &fd), CO_EDATA);
	CHECK_INT(fd, -1);
	CHECK(unlinkat(sub, MEMBER, 0) == 0);
	CHECK(symlinkat("/etc/passwd", sub, MEMBER) == 0);
	CHECK_INT(co_eventlog_open_file(ctx, events, rolling, MEMBER, &fd), CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "not followed") != NULL);
out:
	clean_up(logs, sub, events, tmpl, ctx);
}

/* An event log copied into an archive: each of its files under the prefix. */
static void check_archive(void)
{
	char tmpl[] = "/tmp/test-eventlog.XXXXXX", path[300];
	struct co_eventlog_dir *logs = NULL;
	struct co_archive_writer *w = NULL;
	struct co_ctx *ctx = co_ctx_new();
	struct archive_entry *e;
	struct archive *a;
	size_t copied = 0, seen = 0;
	int events = temp_events(tmpl), sub, out;

	sub = rolling_dir(events);
	CHECK_INT(co_eventlog_dir_scan(ctx, events, &logs), CO_OK);
	snprintf(path, sizeof(path), "%s/out.tar", tmpl);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK_INT(co_archive_writer_new(ctx, path, out, &w), CO_OK);
	CHECK_INT(co_eventlog_archive(ctx, events, &logs->logs[0], w, "app/eventlog/", NULL, NULL,
				      &copied), CO_OK);
	CHECK_INT(copied, 2);
	CHECK_INT(co_archive_writer_close(ctx, w), CO_OK);
	co_archive_writer_free(w);
	close(out);
	a = archive_read_new();
	archive_read_support_format_tar(a);
	CHECK(archive_read_open_filename(a, path, 10240) == ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);

		CHECK(strcmp(n, "app/eventlog/" ROLLING "/" MEMBER) == 0 ||
		      strcmp(n, "app/eventlog/" ROLLING "/appstatus_app-20260101000000-0001") == 0);
		CHECK_INT(archive_entry_size(e), 3);
		seen++;
	}
	CHECK_INT(seen, 2);
	archive_read_free(a);
	clean_up(logs, sub, events, tmpl, ctx);
}

/* What a streaming scan saw; the callback removes every log it is given. */
struct stream_seen {
	int events;
	size_t logs, skipped, removed;
	int64_t bytes;
	bool crc_seen[40];
	char reasons[512];
};

static int stream_log(struct co_ctx *ctx, const struct co_eventlog *log, void *arg)
{
	struct stream_seen *s = arg;
	unsigned n;

	s->logs++;
	s->bytes += log->bytes;
	if (!log->id.rolling && sscanf(log->id.app_id, "app-20260101000000-%u", &n) == 1 &&
	    n < 40 && log->crc_name)
		s->crc_seen[n] = true;
	if (co_eventlog_remove(ctx, s->events, log) == CO_OK)
		s->removed++;
	return CO_OK;
}

static int stream_skip(struct co_ctx *ctx, const char *name, const char *reason, void *arg)
{
	struct stream_seen *s = arg;
	size_t len = strlen(s->reasons);

	(void)ctx;
	s->skipped++;
	snprintf(s->reasons + len, sizeof(s->reasons) - len, "%s: %s\n", name, reason);
	return CO_OK;
}

/*
 * The streaming scan: every log once, while the callback removes them as
 * it goes; each checksum found with its log, wherever the directory puts
 * it; what is not a log skipped with its reason, whatever d_type said;
 * the removals an interrupted run left finished only when asked.
 */
static void check_stream(void)
{
	char tmpl[] = "/tmp/test-eventlog.XXXXXX", name[64];
	struct co_ctx *ctx = co_ctx_new();
	struct stream_seen seen = { 0 };
	struct stat sb;
	int events = temp_events(tmpl), sub, left = 0;
	DIR *d;

	for (unsigned i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "app-20260101000000-%04u", i);
		put_file(events, name);
		if (i % 3 == 0) {
			snprintf(name, sizeof(name), ".app-20260101000000-%04u.crc", i);
			put_file(events, name);
		}
	}
	sub = rolling_dir(events);
	close(sub);
	put_file(events, "README");
	CHECK(symlinkat("/etc/passwd", events, "app-20260101000000-0100") == 0);
	CHECK(mkdirat(events, "app-20260101000000-0101", 0755) == 0);
	put_file(events, "eventlog_v2_app-20260101000000-0102");
	/* a leftover of ours, which only CO_EVENTLOG_FINISH_REMOVALS finishes */
	CHECK(mkdirat(events, ".sc-prune." ROLLING "_2", 0755) == 0);
	sub = openat(events, ".sc-prune." ROLLING "_2", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fstat(sub, &sb) == 0);
	snprintf(seen.reasons, sizeof(seen.reasons), "sc-events-prune %ju:%ju:%ju\n",
		 (uintmax_t)sb.st_dev, (uintmax_t)sb.st_ino, (uintmax_t)geteuid());
	{
		int fd = openat(sub, ".sc-prune-owner", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

		CHECK(fd >= 0 && write(fd, seen.reasons, strlen(seen.reasons)) ==
		      (ssize_t)strlen(seen.reasons));
		close(fd);
	}
	close(sub);
	seen.reasons[0] = '\0';
	seen.events = events;
	CHECK_INT(co_eventlog_dir_each(ctx, events, 0, stream_log, stream_skip, &seen), CO_OK);
	CHECK(fstatat(events, ".sc-prune." ROLLING "_2", &sb, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK_INT(seen.logs, 41);
	CHECK_INT(seen.removed, 41);
	CHECK_INT(seen.bytes, 40 * 3 + 14 * 3 + 2 * 3);
	for (unsigned i = 0; i < 40; i++)
		CHECK_INT(seen.crc_seen[i], i % 3 == 0);
	CHECK_INT(seen.skipped, 4);
	CHECK(strstr(seen.reasons, "README: not an event log\n") != NULL);
	CHECK(strstr(seen.reasons, "app-20260101000000-0100: symbolic link, not followed\n"));
	CHECK(strstr(seen.reasons, "app-20260101000000-0101: not a file\n"));
	CHECK(strstr(seen.reasons, "eventlog_v2_app-20260101000000-0102: not a directory\n"));
	/* what is left: the skipped entries and the leftover, nothing else */
	CHECK((d = fdopendir(openat(events, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC))) != NULL);
	for (struct dirent *e; d && (e = readdir(d));)
		left += e->d_name[0] != '.' || strncmp(e->d_name, ".sc-prune.", 10) == 0;
	if (d)
		closedir(d);
	CHECK_INT(left, 5);
	memset(&seen, 0, sizeof(seen));
	seen.events = events;
	CHECK_INT(co_eventlog_dir_each(ctx, events, CO_EVENTLOG_FINISH_REMOVALS, stream_log,
				       stream_skip, &seen), CO_OK);
	CHECK(fstatat(events, ".sc-prune." ROLLING "_2", &sb, AT_SYMLINK_NOFOLLOW) != 0);
	CHECK_INT(seen.logs, 0);
	CHECK_INT(seen.skipped, 4);
	clean_up(NULL, -1, events, tmpl, ctx);
}

struct big_seen {
	unsigned char logs[20000];
	int skipped, other;
};

static int big_log(struct co_ctx *ctx, const struct co_eventlog *log, void *arg)
{
	struct big_seen *s = arg;
	unsigned n;

	(void)ctx;
	if (sscanf(log->name, "app-20260101000000-%5u", &n) == 1 && n < 20000)
		s->logs[n]++;
	else
		s->other++;
	return CO_OK;
}

static int big_skip(struct co_ctx *ctx, const char *name, const char *reason, void *arg)
{
	struct big_seen *s = arg;

	(void)ctx;
	(void)reason;
	if (strlen(name) > 200)
		s->skipped++;
	else
		s->other++;
	return CO_OK;
}

/* Walk events with batches of 4,096 entries and of the default size. */
static void walk_big_dir(struct co_ctx *ctx, int events, struct big_seen *seen, int long_names)
{
	size_t batches[] = { 4096, co_dir_batch };

	for (size_t b = 0; b < sizeof(batches) / sizeof(batches[0]); b++) {
		int once = 0;

		memset(seen, 0, sizeof(*seen));
		co_dir_batch = batches[b];
		CHECK_INT(co_eventlog_dir_each(ctx, events, 0, big_log, big_skip, seen), CO_OK);
		for (unsigned i = 0; i < 20000; i++)
			once += seen->logs[i] == 1;
		CHECK_INT(once, 20000);
		CHECK_INT(seen->skipped, long_names);
		CHECK_INT(seen->other, 0);
	}
	co_dir_batch = batches[1];
}

/*
 * A directory bigger than one batch of the walk, by count (20,000 names
 * of 24 bytes) and then by the bytes of its names (3,000 more of 240):
 * every entry is met exactly once, in batches of 4,096 (making the
 * default's 131,072 entries would take longer than the rest of the tests)
 * and in the default's one batch.
 */
static void check_big_dir(void)
{
	char tmpl[] = "/tmp/test-eventlog.XXXXXX", name[300];
	struct co_ctx *ctx = co_ctx_new();
	struct big_seen *seen = malloc(sizeof(*seen));
	int events = temp_events(tmpl);

	for (unsigned i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "app-20260101000000-%05u", i);
		put_file(events, name);
	}
	walk_big_dir(ctx, events, seen, 0);
	for (unsigned i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "%0240u", i);
		put_file(events, name);
	}
	walk_big_dir(ctx, events, seen, 3000);
	free(seen);
	clean_up(NULL, -1, events, tmpl, ctx);
}

static void check_events_dir_path(void)
{
	struct co_ctx *ctx = co_ctx_new();

	CHECK_STR(co_events_dir_path(ctx, "/opt/workspace/events"), "/opt/workspace/events");
	CHECK_STR(co_events_dir_path(ctx, "events"), "events");
	CHECK_STR(co_events_dir_path(ctx, "file:///opt/events"), "/opt/events");
	CHECK_STR(co_events_dir_path(ctx, "file:/opt/events"), "/opt/events");
	CHECK_STR(co_events_dir_path(ctx, "file://localhost/opt/events"), "/opt/events");
	CHECK(co_events_dir_path(ctx, "file://otherhost/opt/events") == NULL);
	CHECK(co_events_dir_path(ctx, "hdfs://namenode:8020/events") == NULL);
	CHECK(co_events_dir_path(ctx, "s3a://bucket/events") == NULL);
	CHECK(co_events_dir_path(ctx, "file:events") == NULL);
	CHECK(strstr(co_ctx_error(ctx), "not a local directory") != NULL);
	co_ctx_free(ctx);
}

int main(void)
{
	check_scan_and_remove();
	check_stream();
	check_big_dir();
	check_open_file();
	check_archive();
	check_events_dir_path();
	check_remove_rechecks_after_rename("precious.txt", false);
	check_remove_rechecks_after_rename("events_2_app-20260101000000-0001", true);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *c = &cases[i];
		struct co_eventlog_name n;
		int rc = co_eventlog_parse_name(c->name, &n);

		if (rc != c->rc) {
			fprintf(stderr, "%s: status %d, expected %d\n", c->name, rc, c->rc);
			check_failures++;
			continue;
		}
		if (rc != CO_OK)
			continue;
		CHECK_STR(n.app_id, c->app_id);
		CHECK_STR(n.attempt, c->attempt);
		CHECK_STR(n.codec, c->codec);
		CHECK_INT(n.rolling, c->rolling);
		CHECK_INT(n.in_progress, c->in_progress);
	}
	return CHECK_DONE();
}
