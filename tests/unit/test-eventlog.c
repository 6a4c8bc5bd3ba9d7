/* SPDX-License-Identifier: MIT */
/* Spark's event-log names, as the events dir holds them. */
#include "config.h"

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

int main(void)
{
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
