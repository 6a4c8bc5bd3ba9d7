/* SPDX-License-Identifier: MIT */
/* The history server's application document: parsed, or refused. */
#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "clusterops.h"

static struct co_ctx *ctx;

static int parse(const char *json, struct co_history_app **out)
{
	return co_history_app_parse(ctx, json, strlen(json), "http://h/api", out);
}

static void test_document(void)
{
	static const char doc[] =
		"{\"id\":\"app-20261125120000-0001\",\"name\":\"chatty\",\"attempts\":["
		"{\"startTime\":\"2026-11-25T12:00:00.000GMT\",\"endTime\":\"2026-11-25T12:01:00.000GMT\","
		"\"lastUpdated\":\"2026-11-25T12:01:00.000GMT\",\"duration\":60000,"
		"\"sparkUser\":\"jovyan\",\"completed\":true,\"appSparkVersion\":\"4.3.0\","
		"\"startTimeEpoch\":1795608000000,\"endTimeEpoch\":1795608060000,"
		"\"lastUpdatedEpoch\":1795608060000},"
		"{\"attemptId\":\"2\",\"completed\":false,\"startTimeEpoch\":1795608100000}]}";
	struct co_history_app *app = NULL;

	CHECK_INT(parse(doc, &app), CO_OK);
	if (!app)
		return;
	CHECK_STR(app->id, "app-20261125120000-0001");
	CHECK_STR(app->name, "chatty");
	CHECK_STR(app->origin, "http://h/api");
	CHECK_INT(app->json_len, strlen(doc));
	CHECK_STR(app->json, doc);
	CHECK_INT(app->n_attempts, 2);
	CHECK(app->attempts[0].attempt_id == NULL);
	CHECK_INT(app->attempts[0].start_ms, 1795608000000LL);
	CHECK_INT(app->attempts[0].end_ms, 1795608060000LL);
	CHECK_INT(app->attempts[0].duration_ms, 60000);
	CHECK_STR(app->attempts[0].spark_user, "jovyan");
	CHECK_STR(app->attempts[0].spark_version, "4.3.0");
	CHECK(app->attempts[0].completed);
	CHECK_STR(app->attempts[1].attempt_id, "2");
	CHECK(!app->attempts[1].completed);
	CHECK_INT(app->attempts[1].end_ms, 0);
	co_history_app_free(app);
	/* no attempts at all is still an application */
	CHECK_INT(parse("{\"id\":\"local-1\"}", &app), CO_OK);
	CHECK_INT(app ? app->n_attempts : 99, 0);
	co_history_app_free(app);
}

static void test_refused(void)
{
	static const char *const bad[] = {
		"", "null", "[]", "\"app\"", "{}", "{\"id\":7}", "{\"id\":null}",
		"{\"id\":\"a\",\"attempts\":{}}", "{\"id\":\"a\",\"attempts\":[1]}",
		"{\"id\":\"a\",\"attempts\":[{}, \"x\"]}", "{\"id\":\"a\"", "<html>404</html>",
	};
	struct co_history_app *app;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &app);

		if (rc != CO_EPROTOCOL || app) {
			fprintf(stderr, "'%s': status %d, expected %d\n", bad[i], rc, CO_EPROTOCOL);
			check_failures++;
		}
		co_history_app_free(app);
	}
	CHECK(strncmp(co_ctx_error(ctx), "http://h/api", 12) == 0);
}

static void test_url_and_patience(void)
{
	struct co_spark_app app = { .active = true };
	char *url;

	CHECK_INT(co_config_set(ctx, CO_KEY_HISTORY_URL, "http://h:18080/"), CO_OK);
	url = co_history_url(ctx, "app-1", "/logs");
	CHECK_STR(url, "http://h:18080/api/v1/applications/app-1/logs");
	free(url);
	url = co_history_url(ctx, "app-1", NULL);
	CHECK_STR(url, "http://h:18080/api/v1/applications/app-1");
	free(url);
	/* running, unknown to the master, or just ended: worth waiting for */
	CHECK(co_history_patience(&app) > 0);
	CHECK(co_history_patience(NULL) > 0);
	app.active = false;
	app.start_ms = (int64_t)time(NULL) * 1000 - 5000;
	app.duration_ms = 2000;
	CHECK(co_history_patience(&app) > 0);
	/* ended an hour ago: a 404 is final */
	app.start_ms -= 3600 * 1000;
	CHECK(co_history_patience(&app) == 0);
}

int main(void)
{
	ctx = co_ctx_new();
	test_document();
	test_refused();
	test_url_and_patience();
	co_ctx_free(ctx);
	return CHECK_DONE();
}
