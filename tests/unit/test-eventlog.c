/* SPDX-License-Identifier: MIT */
/* Spark's event-log names, as the events dir holds them. */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "clusterops.h"

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

/*
 * What a rolling dir holds is checked again after it is renamed out of
 * sight: something put in it after the scan is not removed with it.
 */
static void check_remove_rechecks_after_rename(const char *planted, bool symlink)
{
	char tmpl[] = "/tmp/test-eventlog.XXXXXX", path[300];
	struct co_eventlog_dir *logs = NULL;
	struct co_ctx *ctx = co_ctx_new();
	struct stat sb;
	int events, sub;

	CHECK(ctx && mkdtemp(tmpl));
	events = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(events >= 0 && mkdirat(events, ROLLING, 0755) == 0);
	sub = openat(events, ROLLING, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	put_file(sub, MEMBER);
	put_file(sub, "appstatus_app-20260101000000-0001");
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
	co_eventlog_dir_free(logs);
	close(sub);
	close(events);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpl);
	CHECK(system(path) == 0);
	co_ctx_free(ctx);
}

int main(void)
{
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
