/* SPDX-License-Identifier: MIT */
/* Configuration precedence, files, and URL derivation. */
#include "config.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "clusterops.h"

static char dir[] = "/tmp/co-test-config-XXXXXX";

static void clear_env(void)
{
	for (int k = 0; k < CO_KEY_COUNT; k++)
		unsetenv(co_config_key_env(k));
	unsetenv("SC_CONFIG");
	unsetenv("SC_TOKEN");
	setenv("XDG_CONFIG_HOME", dir, 1);	/* no user file unless a test writes one */
}

static char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
	return path;
}

static struct co_ctx *load(int want_rc)
{
	struct co_ctx *ctx = co_ctx_new();

	CHECK_INT(co_config_load(ctx), want_rc);
	return ctx;
}

static void test_defaults(void)
{
	struct co_ctx *ctx;

	clear_env();
	ctx = load(CO_OK);
	CHECK_STR(co_config_get(ctx, CO_KEY_MASTER), "spark://spark-master:7077");
	CHECK_STR(co_config_get(ctx, CO_KEY_MASTER_UI), "http://spark-master:8080");
	CHECK_STR(co_config_get(ctx, CO_KEY_REST_URL), "http://spark-master:6066");
	CHECK_STR(co_config_get(ctx, CO_KEY_HISTORY_URL), "http://spark-master:18080");
	CHECK_STR(co_config_get(ctx, CO_KEY_EVENTS_DIR), "/opt/workspace/events");
	CHECK_STR(co_config_get(ctx, CO_KEY_DATAIN), "/opt/workspace/datain");
	CHECK_STR(co_config_get(ctx, CO_KEY_BROKERS), "kafka:9092");
	CHECK_STR(co_config_get(ctx, CO_KEY_EXECUTOR_MEMORY), "512m");
	CHECK(co_config_get(ctx, CO_KEY_TOKEN_FILE) == NULL);
	CHECK_INT(co_config_source(ctx, CO_KEY_MASTER), CO_SRC_DEFAULT);
	CHECK_INT(co_config_source(ctx, CO_KEY_MASTER_UI), CO_SRC_DERIVED);
	CHECK(co_config_file(ctx) == NULL);
	co_ctx_free(ctx);
}

static void test_precedence(void)
{
	struct co_ctx *ctx;
	char *path;

	clear_env();
	path = write_file("explicit.conf",
			  "# comment\n\n"
			  "master = spark://filehost:7077\n"
			  "  events_dir=/file/events  \n"
			  "brokers = filebroker:9092\n"
			  "timeout = 3   # seconds\n"
			  "datain = /data#1\n");
	setenv("SC_CONFIG", path, 1);
	setenv("SC_EVENTS_DIR", "/env/events", 1);
	setenv("SC_BROKERS", "envbroker:9092", 1);
	ctx = load(CO_OK);
	CHECK_STR(co_config_file(ctx), path);
	/* file beats default, and derived URLs follow the file's master */
	CHECK_STR(co_config_get(ctx, CO_KEY_MASTER), "spark://filehost:7077");
	CHECK_INT(co_config_source(ctx, CO_KEY_MASTER), CO_SRC_FILE);
	CHECK_STR(co_config_get(ctx, CO_KEY_MASTER_UI), "http://filehost:8080");
	CHECK_STR(co_config_get(ctx, CO_KEY_TIMEOUT), "3");
	/* "#" starts a comment only after blank space */
	CHECK_STR(co_config_get(ctx, CO_KEY_DATAIN), "/data#1");
	/* env beats file */
	CHECK_STR(co_config_get(ctx, CO_KEY_EVENTS_DIR), "/env/events");
	CHECK_INT(co_config_source(ctx, CO_KEY_EVENTS_DIR), CO_SRC_ENV);
	/* flag beats env */
	CHECK_INT(co_config_set(ctx, CO_KEY_BROKERS, "flagbroker:9092"), CO_OK);
	CHECK_STR(co_config_get(ctx, CO_KEY_BROKERS), "flagbroker:9092");
	CHECK_INT(co_config_source(ctx, CO_KEY_BROKERS), CO_SRC_FLAG);
	/* a new master moves the derived URLs, not explicit ones */
	CHECK_INT(co_config_set(ctx, CO_KEY_REST_URL, "http://rest.example:16066"), CO_OK);
	CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, "spark://flaghost:7177"), CO_OK);
	CHECK_STR(co_config_get(ctx, CO_KEY_MASTER_UI), "http://flaghost:8080");
	CHECK_STR(co_config_get(ctx, CO_KEY_HISTORY_URL), "http://flaghost:18080");
	CHECK_STR(co_config_get(ctx, CO_KEY_REST_URL), "http://rest.example:16066");
	co_ctx_free(ctx);
}

static void test_user_file(void)
{
	struct co_ctx *ctx;
	char sub[600];

	clear_env();
	snprintf(sub, sizeof(sub), "%s/clusterops", dir);
	mkdir(sub, 0700);
	write_file("clusterops/config", "datain = /user/datain\n");
	ctx = load(CO_OK);
	CHECK_STR(co_config_get(ctx, CO_KEY_DATAIN), "/user/datain");
	CHECK(co_config_file(ctx) != NULL);
	co_ctx_free(ctx);
	unlink(write_file("clusterops/config", ""));
	rmdir(sub);
}

static void test_bad_files(void)
{
	struct co_ctx *ctx;

	clear_env();
	setenv("SC_CONFIG", "/nonexistent/clusterops.conf", 1);
	ctx = load(CO_EIO);
	CHECK(strstr(co_ctx_error(ctx), "/nonexistent/clusterops.conf") != NULL);
	co_ctx_free(ctx);

	setenv("SC_CONFIG", write_file("bad1.conf", "master = spark://a:7077\njust words\n"), 1);
	ctx = load(CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "bad1.conf:2:") != NULL);
	co_ctx_free(ctx);

	setenv("SC_CONFIG", write_file("bad2.conf", "mastr = spark://a:7077\n"), 1);
	ctx = load(CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "unknown key 'mastr'") != NULL);
	co_ctx_free(ctx);

	setenv("SC_CONFIG", write_file("bad3.conf", "timeout = soon\n"), 1);
	ctx = load(CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "bad3.conf") != NULL);
	co_ctx_free(ctx);

	clear_env();
	setenv("SC_MASTER", "http://not-spark:7077", 1);
	ctx = load(CO_EUSAGE);
	CHECK(strstr(co_ctx_error(ctx), "SC_MASTER") != NULL);
	co_ctx_free(ctx);
	clear_env();
}

static void test_flag_validation(void)
{
	struct co_ctx *ctx;

	clear_env();
	ctx = load(CO_OK);
	CHECK_INT(co_config_set(ctx, CO_KEY_TIMEOUT, "0"), CO_EUSAGE);
	CHECK_INT(co_config_set(ctx, CO_KEY_TIMEOUT, "-1"), CO_EUSAGE);
	CHECK_INT(co_config_set(ctx, CO_KEY_TIMEOUT, "2.5"), CO_OK);
	CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, "localhost:7077"), CO_EUSAGE);
	CHECK_INT(co_config_set(ctx, CO_KEY_EVENTS_DIR, ""), CO_EUSAGE);
	co_ctx_free(ctx);
}

/* A master URL without a host is refused wherever it comes from. */
static void test_master_without_host(void)
{
	static const char *const bad[] = { "spark://", "spark://:7077", "spark://,h:7077",
					   "spark:///x", "spark://[]:7077", "spark://[::1:7077",
					   "spark://h1:7077,[::1", "spark://user@h:7077",
					   "spark://h?x:7077", NULL };
	struct co_ctx *ctx;

	for (const char *const *b = bad; *b; b++) {
		clear_env();
		ctx = load(CO_OK);
		CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, *b), CO_EUSAGE);
		CHECK(strstr(co_ctx_error(ctx), "no host") != NULL);
		CHECK_STR(co_config_get(ctx, CO_KEY_MASTER), "spark://spark-master:7077");
		co_ctx_free(ctx);

		setenv("SC_MASTER", *b, 1);
		ctx = load(CO_EUSAGE);
		CHECK(strstr(co_ctx_error(ctx), "SC_MASTER") != NULL);
		co_ctx_free(ctx);

		clear_env();
		{
			char line[128];

			snprintf(line, sizeof(line), "master = %s\n", *b);
			setenv("SC_CONFIG", write_file("nohost.conf", line), 1);
		}
		ctx = load(CO_EDATA);
		CHECK(strstr(co_ctx_error(ctx), "no host") != NULL);
		co_ctx_free(ctx);
	}
	clear_env();
	ctx = load(CO_OK);
	CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, "spark://[::1]:7077"), CO_OK);
	CHECK_STR(co_config_get(ctx, CO_KEY_MASTER_UI), "http://[::1]:8080");
	co_ctx_free(ctx);
	clear_env();
}

static void test_master_host(void)
{
	struct co_ctx *ctx = co_ctx_new();
	char *h;

	h = co_spark_master_host(ctx, "spark://h1:7077,h2:7077");
	CHECK_STR(h, "h1");
	free(h);
	h = co_spark_master_host(ctx, "spark://127.0.0.1:7177");
	CHECK_STR(h, "127.0.0.1");
	free(h);
	h = co_spark_master_host(ctx, "spark://[::1]:7077");
	CHECK_STR(h, "[::1]");
	free(h);
	h = co_spark_master_host(ctx, "spark://solo");
	CHECK_STR(h, "solo");
	free(h);
	h = co_spark_master_host(ctx, "spark://spark_master-1.example:7077/");
	CHECK_STR(h, "spark_master-1.example");
	free(h);
	CHECK(co_spark_master_host(ctx, "spark://:7077") == NULL);
	CHECK(co_spark_master_host(ctx, "spark://[::1") == NULL);
	CHECK(co_spark_master_host(ctx, "spark://a b:7077") == NULL);
	CHECK(co_spark_master_host(ctx, "spark://evil#@h:7077") == NULL);
	CHECK(co_spark_master_host(ctx, "mesos://h:5050") == NULL);
	CHECK(strstr(co_ctx_error(ctx), "mesos://h:5050") != NULL);
	co_ctx_free(ctx);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 99;
	test_defaults();
	test_precedence();
	test_user_file();
	test_bad_files();
	test_flag_validation();
	test_master_without_host();
	test_master_host();
	for (const char *const *f = (const char *const[]){ "explicit.conf", "bad1.conf",
			"bad2.conf", "bad3.conf", "nohost.conf", NULL }; *f; f++) {
		char p[600];

		snprintf(p, sizeof(p), "%s/%s", dir, *f);
		unlink(p);
	}
	rmdir(dir);
	return CHECK_DONE();
}
