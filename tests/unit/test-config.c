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


/* A failover group: one UI and REST URL per master, in order; history on the first. */
static void test_master_list(void)
{
	static const char *const good[] = {
		"spark://h1:7077,h2:7077", "spark://h1,h2", "spark://h1:1,h2:65535/",
		"spark://[::1]:7077,127.0.0.1:7078",
		"spark://h0:1,h1:1,h2:1,h3:1,h4:1,h5:1,h6:1,h7:1,h8:1,h9:1,h10:1,h11:1,"
		"h12:1,h13:1,h14:1,h15:1", NULL };
	static const struct { const char *url, *why; } bad[] = {
		{ "spark://h1:7077,,h2:7077", "empty master" },
		{ "spark://h1:7077,", "empty master" },
		{ "spark://h1:0", "port must be" },
		{ "spark://h1:65536,h2", "port must be" },
		{ "spark://h1:77x,h2", "unexpected text" },
		{ "spark://h1:,h2", "port must be" },
		{ "spark://h1:7077 h2:7077", "unexpected text" },
		{ "spark://h1:7077/,h2:7077", "unexpected text" },
		{ "spark://h0,h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,h13,h14,h15,h16",
		  "too many masters (at most 16)" },
		{ NULL, NULL } };
	struct co_ctx *ctx;

	clear_env();
	for (const char *const *g = good; *g; g++) {
		ctx = load(CO_OK);
		CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, *g), CO_OK);
		co_ctx_free(ctx);
	}
	for (size_t i = 0; bad[i].url; i++) {
		ctx = load(CO_OK);
		CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, bad[i].url), CO_EUSAGE);
		CHECK(strstr(co_ctx_error(ctx), bad[i].why) != NULL);
		CHECK(strstr(co_ctx_error(ctx), bad[i].url) != NULL);
		co_ctx_free(ctx);
	}

	ctx = load(CO_OK);
	CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, "spark://h1:7077,[::1]:7078,h3"), CO_OK);
	CHECK_STR(co_config_get(ctx, CO_KEY_MASTER_UI),
		  "http://h1:8080,http://[::1]:8080,http://h3:8080");
	CHECK_STR(co_config_get(ctx, CO_KEY_REST_URL),
		  "http://h1:6066,http://[::1]:6066,http://h3:6066");
	CHECK_STR(co_config_get(ctx, CO_KEY_HISTORY_URL), "http://h1:18080");
	CHECK_INT(co_config_source(ctx, CO_KEY_MASTER_UI), CO_SRC_DERIVED);
	CHECK_INT(co_master_count(ctx), 3);
	CHECK_STR(co_master_ui(ctx, 0), "http://h1:8080");
	CHECK_STR(co_master_ui(ctx, 1), "http://[::1]:8080");
	CHECK_STR(co_master_ui(ctx, 2), "http://h3:8080");
	CHECK(co_master_ui(ctx, 3) == NULL);
	CHECK_INT(co_master_active(ctx), 0);
	CHECK(co_master_seen(ctx, 0, NULL) == NULL);
	CHECK(co_rest_url_used(ctx) == NULL);
	/* A new master list changes the derived lists, and the split ones. */
	CHECK_INT(co_config_set(ctx, CO_KEY_MASTER, "spark://solo:7077"), CO_OK);
	CHECK_INT(co_master_count(ctx), 1);
	CHECK_STR(co_master_ui(ctx, 0), "http://solo:8080");
	CHECK(co_master_ui(ctx, 1) == NULL);
	/* Masters that share a host differ by port: the lists say so. */
	CHECK_INT(co_config_set(ctx, CO_KEY_MASTER_UI,
				"http://127.0.0.1:8081,https://127.0.0.1:8082/ui/"), CO_OK);
	CHECK_INT(co_master_count(ctx), 2);
	CHECK_STR(co_master_ui(ctx, 1), "https://127.0.0.1:8082/ui/");
	co_ctx_free(ctx);
}

/* master_ui and rest_url lists: each element a proper http(s) URL. */
static void test_url_lists(void)
{
	static const char *const good[] = {
		"http://h:8080", "http://h1:8080,http://h2:8080", "HTTPS://h/x/,http://[::1]:1",
		NULL };
	static const struct { const char *value, *why; } bad[] = {
		{ "http://h1:8080,,http://h2:8080", "an empty URL" },
		{ "http://h1:8080,", "an empty URL" },
		{ ",http://h1:8080", "an empty URL" },
		{ "h1:8080", "is not an http" },
		{ "ftp://h1/", "'ftp://h1/' is not an http" },
		{ "http://h1:8080,file:///etc/passwd", "'file:///etc/passwd' is not" },
		{ "http://h1:8080, http://h2:8080", "' http://h2:8080' is not" },
		{ "http://user:pw@h1:8080", "'http://***@h1:8080' has a user name or password" },
		{ "http://", "is not an http" },
		{ "http:/h1:8080", "is not an http" },
		{ "http:h1:8080", "is not an http" },
		{ NULL, NULL } };
	static const enum co_key lists[] = { CO_KEY_MASTER_UI, CO_KEY_REST_URL };
	char many[17 * 16 + 1] = "";
	struct co_ctx *ctx;

	clear_env();
	for (int i = 0; i < 17; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%shttp://h%d",
			 i ? "," : "", i);
	for (size_t k = 0; k < 2; k++) {
		for (const char *const *g = good; *g; g++) {
			ctx = load(CO_OK);
			CHECK_INT(co_config_set(ctx, lists[k], *g), CO_OK);
			co_ctx_free(ctx);
		}
		for (size_t i = 0; bad[i].value; i++) {
			ctx = load(CO_OK);
			CHECK_INT(co_config_set(ctx, lists[k], bad[i].value), CO_EUSAGE);
			CHECK(strstr(co_ctx_error(ctx), bad[i].why) != NULL);
			CHECK(strstr(co_ctx_error(ctx), co_config_key_name(lists[k])) != NULL);
			co_ctx_free(ctx);
		}
		ctx = load(CO_OK);
		CHECK_INT(co_config_set(ctx, lists[k], many), CO_EUSAGE);
		CHECK(strstr(co_ctx_error(ctx), "too many URLs (at most 16)") != NULL);
		co_ctx_free(ctx);
	}
	/* The environment and the file are checked alike, naming the variable or file. */
	setenv("SC_REST_URL", "http://a:1,,http://b:1", 1);
	ctx = load(CO_EUSAGE);
	CHECK(strstr(co_ctx_error(ctx), "SC_REST_URL: invalid rest_url") != NULL);
	co_ctx_free(ctx);
	clear_env();
	setenv("SC_CONFIG", write_file("lists.conf", "master_ui = http://a:1,gopher://b:1\n"), 1);
	ctx = load(CO_EDATA);
	CHECK(strstr(co_ctx_error(ctx), "lists.conf: invalid master_ui") != NULL);
	co_ctx_free(ctx);
	clear_env();
}

/* A URL's user name and password never reach a message. */
static void test_mask_credentials(void)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "GET http://alice:pw@h:1/x failed", "GET http://***@h:1/x failed" },
		{ "'https://tok@h/p@q'", "'https://***@h/p@q'" },
		{ "http://h/a@b and ftp://u:p@g", "http://h/a@b and ftp://***@g" },
		{ "http://a:b@c@h", "http://***@h" },
		{ "mail me@here, ://", "mail me@here, ://" },
		{ "", "" },
		{ NULL, NULL } };
	char out[64], tiny[8];

	for (size_t i = 0; cases[i].in; i++) {
		co_mask_credentials(cases[i].in, out, sizeof(out));
		CHECK_STR(out, cases[i].out);
	}
	/* cut to the room there is, never past it */
	co_mask_credentials("http://u:p@h", tiny, sizeof(tiny));
	CHECK_STR(tiny, "http://");
	co_mask_credentials("abcdefghijk", tiny, sizeof(tiny));
	CHECK_STR(tiny, "abcdefg");
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
	test_master_list();
	test_url_lists();
	test_mask_credentials();
	for (const char *const *f = (const char *const[]){ "explicit.conf", "bad1.conf",
			"bad2.conf", "bad3.conf", "nohost.conf", "lists.conf", NULL }; *f; f++) {
		char p[600];

		snprintf(p, sizeof(p), "%s/%s", dir, *f);
		unlink(p);
	}
	rmdir(dir);
	return CHECK_DONE();
}
