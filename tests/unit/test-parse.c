/* SPDX-License-Identifier: MIT */
/*
 * Parsing of responses recorded from real masters, workers and REST servers
 * of both Spark lines (tests/fixtures), and of malformed ones.
 */
#include "config.h"

#include <stdlib.h>
#include <sys/resource.h>

#include "check.h"
#include "internal.h"

static const char *const versions[] = { "4.3", "3.5" };

static char *slurp(const char *name, size_t *len)
{
	char path[1024];
	char *buf = NULL;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	fp = fopen(path, "rb");
	if (!fp) {
		fprintf(stderr, "cannot open fixture %s\n", path);
		exit(99);
	}
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n)
		exit(99);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void test_master(struct co_ctx *ctx, const char *version)
{
	char name[64];
	struct co_master_state *st;
	size_t len, active = 0, completed = 0;
	char *text;

	snprintf(name, sizeof(name), "master-%s-busy.json", version);
	text = slurp(name, &len);
	CHECK_INT(co_master_state_parse(ctx, text, len, name, &st), CO_OK);
	free(text);
	if (!st)
		return;
	CHECK(strncmp(st->url, "spark://127.0.0.1:", 18) == 0);
	CHECK_STR(st->status, "ALIVE");
	CHECK_INT(st->alive_workers, 2);
	CHECK_INT(st->n_workers, 2);
	for (size_t i = 0; i < st->n_workers; i++) {
		const struct co_spark_worker *w = &st->workers[i];

		CHECK(strncmp(w->id, "worker-", 7) == 0);
		CHECK_STR(w->host, "127.0.0.1");
		CHECK(w->port > 0);
		CHECK(w->webui && strncmp(w->webui, "http://127.0.0.1:", 17) == 0);
		CHECK_STR(w->state, "ALIVE");
		CHECK_INT(w->cores, 2);
		CHECK_INT(w->memory_mb, 2048);
		CHECK(w->last_heartbeat_ms > 1700000000000LL);
	}
	for (size_t i = 0; i < st->n_apps; i++) {
		const struct co_spark_app *a = &st->apps[i];

		CHECK(strncmp(a->id, "app-", 4) == 0);
		CHECK(a->name != NULL && a->user != NULL);
		CHECK(a->start_ms > 1700000000000LL);
		CHECK_INT(a->memory_per_executor_mb, 512);
		if (a->active) {
			active++;
			CHECK_STR(a->state, "RUNNING");
			/* active ones come first */
			CHECK_INT(completed, 0);
		} else {
			completed++;
			CHECK(co_spark_state_is_final(a->state));
		}
		CHECK(co_master_state_app(st, a->id) == a);
	}
	CHECK(active >= 1);
	CHECK(completed >= 1);
	CHECK(st->n_drivers >= 1);
	for (size_t i = 0; i < st->n_drivers; i++) {
		const struct co_spark_driver *d = &st->drivers[i];

		CHECK(strncmp(d->id, "driver-", 7) == 0);
		/* starttime arrives as a string of milliseconds */
		CHECK(d->start_ms > 1700000000000LL);
		CHECK_STR(d->main_class, "Pi");
		CHECK(co_master_state_driver(st, d->id) == d);
		if (!d->active)
			CHECK(co_spark_state_is_final(d->state));
	}
	CHECK(co_master_state_app(st, "app-none") == NULL);
	CHECK(co_master_state_driver(st, "driver-none") == NULL);
	co_master_state_free(st);
}

static void test_worker(struct co_ctx *ctx, const char *version)
{
	char name[64];
	struct co_worker_state *st;
	size_t len, running = 0;
	char *text;

	snprintf(name, sizeof(name), "worker-%s.json", version);
	text = slurp(name, &len);
	CHECK_INT(co_worker_state_parse(ctx, text, len, name, &st), CO_OK);
	free(text);
	if (!st)
		return;
	CHECK(strncmp(st->id, "worker-", 7) == 0);
	CHECK(strncmp(st->master_url, "spark://127.0.0.1:", 18) == 0);
	CHECK(st->n_executors >= 1);
	for (size_t i = 0; i < st->n_executors; i++) {
		const struct co_worker_executor *e = &st->executors[i];

		CHECK(e->id >= 0);
		CHECK(strncmp(e->app_id, "app-", 4) == 0);
		CHECK(e->app_name != NULL);
		if (!e->finished)
			running++;
	}
	CHECK(running >= 1);
	co_worker_state_free(st);
}

static void test_rest(struct co_ctx *ctx, const char *version)
{
	struct co_rest_reply r;
	char name[64];
	size_t len;
	char *text;

	snprintf(name, sizeof(name), "rest-%s-create.json", version);
	text = slurp(name, &len);
	CHECK_INT(co_rest_parse_reply(ctx, text, len, name, &r), CO_OK);
	CHECK_STR(r.action, "CreateSubmissionResponse");
	CHECK(r.success);
	CHECK(strncmp(r.submission_id, "driver-", 7) == 0);
	CHECK(strncmp(r.server_version, version, 3) == 0);
	co_rest_reply_clear(&r);
	free(text);

	snprintf(name, sizeof(name), "rest-%s-status.json", version);
	text = slurp(name, &len);
	CHECK_INT(co_rest_parse_reply(ctx, text, len, name, &r), CO_OK);
	CHECK_STR(r.action, "SubmissionStatusResponse");
	CHECK(r.success);
	CHECK(co_spark_state_is_final(r.driver_state) ||
	      strcmp(r.driver_state, "RUNNING") == 0 || strcmp(r.driver_state, "SUBMITTED") == 0);
	co_rest_reply_clear(&r);
	free(text);

	snprintf(name, sizeof(name), "rest-%s-status-unknown.json", version);
	text = slurp(name, &len);
	CHECK_INT(co_rest_parse_reply(ctx, text, len, name, &r), CO_OK);
	CHECK(!r.success);
	CHECK(r.driver_state == NULL);
	co_rest_reply_clear(&r);
	free(text);

	snprintf(name, sizeof(name), "rest-%s-kill-finished.json", version);
	text = slurp(name, &len);
	CHECK_INT(co_rest_parse_reply(ctx, text, len, name, &r), CO_OK);
	CHECK_STR(r.action, "KillSubmissionResponse");
	CHECK(!r.success);
	CHECK(r.message && strstr(r.message, "already finished") != NULL);
	co_rest_reply_clear(&r);
	free(text);
}

static void test_csrf(void)
{
	size_t len;
	char *html = slurp("master-4.3-page.html", &len);
	char *token = co_master_parse_csrf(html);

	CHECK(token != NULL && strlen(token) >= 16);
	free(token);
	free(html);
	/* 3.5 has no token: the form carries none */
	html = slurp("master-3.5-page.html", &len);
	CHECK(strstr(html, "app/kill/") != NULL);
	CHECK(co_master_parse_csrf(html) == NULL);
	free(html);
	CHECK(co_master_parse_csrf("<input name=\"csrfToken\" value=\"\"/>") == NULL);
	CHECK(co_master_parse_csrf("<input name=\"csrfToken\"") == NULL);
}

static void expect_malformed(struct co_ctx *ctx, const char *json, const char *msg)
{
	struct co_master_state *st = (void *)1;

	CHECK_INT(co_master_state_parse(ctx, json, strlen(json), "http://m/json/", &st),
		  CO_EPROTOCOL);
	CHECK(st == NULL);
	CHECK(strstr(co_ctx_error(ctx), "http://m/json/") == co_ctx_error(ctx));
	if (!strstr(co_ctx_error(ctx), msg)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", co_ctx_error(ctx), msg);
		check_failures++;
	}
}

static void test_malformed(struct co_ctx *ctx)
{
	struct co_worker_state *ws;
	struct co_rest_reply r;

	expect_malformed(ctx, "", "malformed JSON");
	expect_malformed(ctx, "{\"url\": \"spark://x\", \"status\": \"ALIVE\"", "malformed JSON");
	expect_malformed(ctx, "[]", "expected a JSON object");
	expect_malformed(ctx, "{\"hello\": 1}", "not a Spark master status");
	expect_malformed(ctx, "{\"url\": \"spark://x\", \"status\": \"ALIVE\", \"workers\": 3}",
			 "'workers' is not an array");
	expect_malformed(ctx, "{\"url\": \"spark://x\", \"status\": \"ALIVE\", \"activeapps\": [1]}",
			 "'activeapps[0]' is not an object");
	expect_malformed(ctx, "{\"url\": \"spark://x\", \"status\": \"ALIVE\", "
			 "\"completedapps\": [{\"name\": \"no id\"}]}", "completedapps[0] has no 'id'");
	CHECK_INT(co_worker_state_parse(ctx, "{\"executors\": []}", 17, "w", &ws), CO_EPROTOCOL);
	CHECK_INT(co_rest_parse_reply(ctx, "{\"success\": true}", 17, "r", &r), CO_EPROTOCOL);
	CHECK(strstr(co_ctx_error(ctx), "no 'action'") != NULL);

	/* an empty but well-formed master: no workers, nothing running */
	{
		const char *idle = "{\"url\": \"spark://x:7077\", \"status\": \"STANDBY\"}";
		struct co_master_state *st;

		CHECK_INT(co_master_state_parse(ctx, idle, strlen(idle), "m", &st), CO_OK);
		CHECK_INT(st->n_workers + st->n_apps + st->n_drivers, 0);
		CHECK_STR(st->status, "STANDBY");
		co_master_state_free(st);
	}
	co_master_state_free(NULL);
	co_worker_state_free(NULL);
}

/* Numbers too large for the fields are read as absent, not converted. */
static void test_huge_numbers(struct co_ctx *ctx)
{
	const char *json = "{\"url\": \"spark://x:7077\", \"status\": \"ALIVE\", "
		"\"memory\": 1e300, \"cores\": -1e19, \"activeapps\": [{\"id\": \"app-1\", "
		"\"duration\": 2.5, \"starttime\": 9.3e18}]}";
	struct co_master_state *st;

	CHECK_INT(co_master_state_parse(ctx, json, strlen(json), "m", &st), CO_OK);
	if (!st)
		return;
	CHECK_INT(st->memory_mb, 0);
	CHECK_INT(st->cores, 0);
	CHECK_INT(st->apps[0].duration_ms, 2);
	CHECK_INT(st->apps[0].start_ms, 0);
	co_master_state_free(st);
}

/*
 * The document is read member by member: every way of cutting a real one
 * short is refused, whitespace is allowed wherever JSON allows it, the
 * lists may come in any order (active applications and drivers still come
 * first), a list given twice is refused, and what follows the object too.
 */
static void test_walk(struct co_ctx *ctx)
{
	struct co_master_state *st;
	size_t len, cut;
	char *text = slurp("master-4.3-busy.json", &len);

	for (cut = 0; cut < len; cut++) {
		size_t k = cut;

		while (k < len && strchr(" \t\r\n", text[k]))
			k++;
		st = NULL;
		CHECK_INT(co_master_state_parse(ctx, text, cut, "m", &st),
			  k == len ? CO_OK : CO_EPROTOCOL);
		co_master_state_free(st);
	}
	free(text);

	static const char spaced[] = " \r\n\t{ \"completedapps\" :\n[ { \"id\" : \"app-2\" } ,"
		"{\"id\":\"app-3\"}\t] , \"url\":\"spark://x:7077\",\"activeapps\":[{\"id\":\"app-1\"}],"
		"\"completeddrivers\":null,\"activedrivers\":[],\"status\" : \"ALIVE\" , "
		"\"cores\" : 4\n}\n ";

	CHECK_INT(co_master_state_parse(ctx, spaced, strlen(spaced), "m", &st), CO_OK);
	if (st) {
		CHECK_INT(st->n_apps, 3);
		CHECK_STR(st->apps[0].id, "app-1");
		CHECK(st->apps[0].active);
		CHECK_STR(st->apps[1].id, "app-2");
		CHECK(!st->apps[1].active);
		CHECK_STR(st->apps[2].id, "app-3");
		CHECK_INT(st->n_drivers, 0);
		CHECK_INT(st->n_workers, 0);
		CHECK_INT(st->cores, 4);
		CHECK_STR(st->status, "ALIVE");
		co_master_state_free(st);
	}
	expect_malformed(ctx, "{\"url\": \"spark://x\", \"status\": \"ALIVE\", \"activeapps\": [], "
			 "\"activeapps\": []}", "'activeapps' appears twice");
	expect_malformed(ctx, "{\"url\": \"spark://x\", \"status\": \"ALIVE\"} {}",
			 "malformed JSON at byte 40: end of file expected");
	expect_malformed(ctx, "{\"url\": \"spark://x\" \"status\": \"ALIVE\"}",
			 "malformed JSON at byte 20: ',' or '}' expected");
	expect_malformed(ctx, "{\"url\": \"spark://x\", \"status\": \"ALIVE\",}",
			 "malformed JSON at byte 39: a string expected");
	expect_malformed(ctx, "{\"url\" \"spark://x\"}", "':' expected");
	expect_malformed(ctx, "{\"workers\": [{\"id\": \"w\"} {\"id\": \"v\"}]}", "',' or ']' expected");
	expect_malformed(ctx, "{\"workers\": [{\"id\": \"w\"},]}",
			 "malformed JSON at byte 25: a value expected");
	expect_malformed(ctx, "{\"workers\": [,]}", "malformed JSON at byte 13: a value expected");
	expect_malformed(ctx, "{\"url\": \"u\", \"stat\\u0000us\": \"ALIVE\"}", "a NUL in a key");
	expect_malformed(ctx, "{\"workers\": [{\"id\": \"w\", \"x\": \"\\u0000\" \"y\"}}]}",
			 "',' or ']' expected");
	expect_malformed(ctx, "{\"url\": tru}", "invalid token");
	{
		/* Spark writes a NUL in a name as \u0000: shown as '?' */
		static const char doc[] = "{\"url\": \"spark://a\\u0000b\", \"status\": \"ALIVE\", "
			"\"completedapps\": [{\"id\": \"app-1\", \"name\": \"x\\u0000y\", "
			"\"cores\": \"2\\u0000\"}]}";

		CHECK_INT(co_master_state_parse(ctx, doc, sizeof(doc) - 1, "m", &st), CO_OK);
		if (st) {
			CHECK_STR(st->url, "spark://a?b");
			CHECK_INT(st->n_apps, 1);
			CHECK_STR(st->apps[0].name, "x?y");
			CHECK_INT(st->apps[0].cores, 0);	/* "2\0" is not 2 */
			CHECK_INT(st->n_unreadable, 0);
			co_master_state_free(st);
		}
	}
	{
		/* jansson would pass over this NUL, and count one byte too few */
		static const char nul[] = "{\"workers\": [{\"id\": \"w\", \"port\": 1\0}], "
			"\"url\": \"spark://x\", \"status\": \"ALIVE\"}";

		st = (void *)1;
		CHECK_INT(co_master_state_parse(ctx, nul, sizeof(nul) - 1, "m", &st), CO_EPROTOCOL);
		CHECK(st == NULL);
		CHECK(strstr(co_ctx_error(ctx), "at byte 34: a NUL byte") != NULL);
	}
}

/*
 * The same document fed as the network may cut it: one byte at a time,
 * and in pieces of every size up to 64 bytes, reads as it does whole,
 * the numbers cut in the middle included; cut short, it is refused.
 */
static void test_walk_pieces(struct co_ctx *ctx)
{
	size_t len;
	char *text = slurp("master-4.3-busy.json", &len);
	struct co_master_state *whole, *st;

	CHECK_INT(co_master_state_parse(ctx, text, len, "m", &whole), CO_OK);
	if (!whole)
		return;
	for (size_t piece = 1; piece <= 64; piece++) {
		struct co_master_walk *w = co_master_walk_new(ctx, "m");
		int rc = CO_OK;

		for (size_t at = 0; at < len && rc == CO_OK; at += piece)
			rc = co_master_walk_feed(w, text + at, at + piece < len ? piece : len - at);
		CHECK_INT(rc, CO_OK);
		st = NULL;
		CHECK_INT(co_master_walk_end(w, &st), CO_OK);
		co_master_walk_free(w);
		if (!st)
			continue;
		CHECK_INT(st->n_workers, whole->n_workers);
		CHECK_INT(st->n_apps, whole->n_apps);
		CHECK_INT(st->n_drivers, whole->n_drivers);
		CHECK_INT(st->cores, whole->cores);
		CHECK_INT(st->memory_mb, whole->memory_mb);
		for (size_t i = 0; i < st->n_apps && i < whole->n_apps; i++) {
			CHECK_STR(st->apps[i].id, whole->apps[i].id);
			CHECK_INT(st->apps[i].start_ms, whole->apps[i].start_ms);
			CHECK_INT(st->apps[i].duration_ms, whole->apps[i].duration_ms);
		}
		for (size_t i = 0; i < st->n_workers && i < whole->n_workers; i++) {
			CHECK_INT(st->workers[i].port, whole->workers[i].port);
			CHECK_INT(st->workers[i].last_heartbeat_ms, whole->workers[i].last_heartbeat_ms);
		}
		co_master_state_free(st);
		/* cut short, in the same pieces */
		w = co_master_walk_new(ctx, "m");
		rc = CO_OK;
		for (size_t at = 0; at < len / 2 && rc == CO_OK; at += piece)
			rc = co_master_walk_feed(w, text + at, at + piece < len / 2 ? piece : len / 2 - at);
		CHECK_INT(rc, CO_OK);
		st = NULL;
		CHECK_INT(co_master_walk_end(w, &st), CO_EPROTOCOL);
		CHECK(st == NULL);
		co_master_walk_free(w);
	}
	/* a restart forgets what came before it */
	{
		struct co_master_walk *w = co_master_walk_new(ctx, "m");

		CHECK_INT(co_master_walk_feed(w, text, len / 3), CO_OK);
		CHECK_INT(co_master_walk_restart(w), CO_OK);
		CHECK_INT(co_master_walk_feed(w, text, len), CO_OK);
		st = NULL;
		CHECK_INT(co_master_walk_end(w, &st), CO_OK);
		CHECK(st && st->n_apps == whole->n_apps);
		co_master_state_free(st);
		co_master_walk_free(w);
	}
	co_master_state_free(whole);
	free(text);
}

/*
 * A master that lists 5,000 applications: parsing it takes little more
 * memory than the structs it fills (the whole document as one jansson tree
 * took 10 MiB more). Not measured under a sanitizer, whose allocator keeps
 * what is freed.
 */
/* doc fed to a walk in pieces of piece bytes, as it arrives from the master. */
static int walk_in_pieces(struct co_ctx *ctx, const char *doc, size_t len, size_t piece,
			  struct co_master_state **st)
{
	struct co_master_walk *w = co_master_walk_new(ctx, "m");
	int rc = CO_OK;

	for (size_t at = 0; rc == CO_OK && at < len; at += piece)
		rc = co_master_walk_feed(w, doc + at, at + piece < len ? piece : len - at);
	if (rc == CO_OK)
		rc = co_master_walk_end(w, st);
	co_master_walk_free(w);
	return rc;
}

/* A hostile master: a member too long for jansson's tree, too many elements. */
static void test_hostile_master(struct co_ctx *ctx)
{
	static const char head[] = "{\"status\": \"ALIVE\", \"x\": [";
	static const char element[] = "{\"id\":\"a\"},";
	size_t n = 1000001, cap = sizeof(head) + n * (sizeof(element) - 1) + 16, len;
	char *doc = malloc(cap);
	struct co_master_state *st = NULL;

	CHECK(doc != NULL);
	if (!doc)
		return;
	/* an unknown member of 2 MiB: refused before jansson reads it whole */
	len = (size_t)snprintf(doc, cap, "%s", head);
	while (len < (2u << 20))
		len += (size_t)snprintf(doc + len, cap - len, "0,");
	len += (size_t)snprintf(doc + len, cap - len, "0]}");
	CHECK_INT(co_master_state_parse(ctx, doc, len, "m", &st), CO_EPROTOCOL);
	CHECK(strstr(co_ctx_error(ctx), "malformed JSON at byte 25: a value longer than 1 MiB")
	      != NULL);
	for (size_t piece = 4096; piece <= (1u << 16); piece *= 16) {
		CHECK_INT(walk_in_pieces(ctx, doc, len, piece, &st), CO_EPROTOCOL);
		CHECK(strstr(co_ctx_error(ctx), "a value longer than 1 MiB") != NULL);
	}
	/* a million and one applications, each a few bytes */
	len = (size_t)snprintf(doc, cap, "{\"status\": \"ALIVE\", \"completedapps\": [");
	for (size_t i = 0; i < n; i++) {
		memcpy(doc + len, element, sizeof(element) - 1);
		len += sizeof(element) - 1;
	}
	len += (size_t)snprintf(doc + len - 1, cap - len + 1, "]}") - 1;
	CHECK_INT(co_master_state_parse(ctx, doc, len, "m", &st), CO_EPROTOCOL);
	CHECK(strstr(co_ctx_error(ctx), "more than 1000000 workers, applications and drivers")
	      != NULL);
	free(doc);
}

/*
 * Elements jansson cannot take, which any registering host can send: a NUL
 * in a key (a worker's resource name), a lone surrogate, 2 MiB of name. Each
 * is left out and counted, the rest of the document read, whole or in
 * pieces of any size.
 */
static void test_unreadable_elements(struct co_ctx *ctx)
{
	static const char head[] = "{\"url\": \"spark://x\", \"status\": \"ALIVE\", "
		"\"workers\": [{\"id\": \"w1\", \"resources\": {\"g\\u0000\": {}}}, {\"id\": \"w2\"}], "
		"\"completedapps\": [{\"id\": \"app-1\", \"name\": \"\\ud800\"}, "
		"{\"id\": \"app-2\", \"name\": \"";
	static const char tail[] = "\\\"]}\"}, {\"id\": \"app-3\", \"name\": \"[{\"}]}";
	size_t cap = sizeof(head) + (2u << 20) + sizeof(tail), len = 0;
	char *doc = malloc(cap);
	struct co_master_state *st = NULL;

	CHECK(doc != NULL);
	if (!doc)
		return;
	memcpy(doc, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	memset(doc + len, 'n', 2u << 20);
	len += 2u << 20;
	memcpy(doc + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	for (size_t piece = 1000; piece <= (4u << 20); piece *= 64) {
		int rc = walk_in_pieces(ctx, doc, len, piece, &st);

		CHECK_INT(rc, CO_OK);
		if (rc == CO_OK) {
			CHECK_INT(st->n_unreadable, 3);
			CHECK_INT(st->n_workers, 1);
			CHECK_STR(st->workers[0].id, "w2");
			CHECK_INT(st->n_apps, 1);
			CHECK_STR(st->apps[0].id, "app-3");
			CHECK_STR(st->apps[0].name, "[{");
			co_master_state_free(st);
			st = NULL;
		} else {
			fprintf(stderr, "pieces of %zu: %s\n", piece, co_ctx_error(ctx));
		}
	}
	free(doc);
}

/*
 * 20 unknown members of 512 KiB of empty objects: each is read and let go.
 * Kept, they took some 75 times their size (788 MB); as the sanitizer keeps
 * what is freed in quarantine, the peak is only checked without it.
 */
static void test_unused_members(struct co_ctx *ctx)
{
	size_t cap = 20 * ((512u << 10) + 16) + 64, len;
	char *doc = malloc(cap);
	struct co_master_state *st = NULL;
	struct rusage before, after;

	CHECK(doc != NULL);
	if (!doc)
		return;
	len = (size_t)snprintf(doc, cap, "{\"status\": \"ALIVE\", \"url\": \"u\"");
	for (int m = 0; m < 20; m++) {
		len += (size_t)snprintf(doc + len, cap - len, ", \"p%d\": [", m);
		for (size_t k = 0; k < (512u << 10) / 3; k++)
			len += (size_t)snprintf(doc + len, cap - len, "{},");
		doc[len - 1] = ']';
	}
	len += (size_t)snprintf(doc + len, cap - len, "}");
	getrusage(RUSAGE_SELF, &before);
	CHECK_INT(co_master_state_parse(ctx, doc, len, "m", &st), CO_OK);
	getrusage(RUSAGE_SELF, &after);
#if !defined(__SANITIZE_ADDRESS__)
	if (after.ru_maxrss - before.ru_maxrss > 100 * 1024) {
		fprintf(stderr, "%zu bytes of unused members took %ld KiB more\n", len,
			after.ru_maxrss - before.ru_maxrss);
		check_failures++;
	}
#endif
	if (st)
		CHECK_STR(st->status, "ALIVE");
	co_master_state_free(st);
	free(doc);
}

static void test_big_master(struct co_ctx *ctx)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)ctx;
#else
	static const char app[] = "{\"id\": \"app-20261203010203-%04d\", \"starttime\": 1795624622668, "
		"\"name\": \"co-bench-app-%05d\", \"cores\": 4, \"user\": \"root\", "
		"\"memoryperexecutor\": 512, \"memoryperslave\": 512, \"resourcesperexecutor\": [], "
		"\"resourcesperslave\": [], \"submitdate\": \"Wed Nov 25 16:37:02 UTC 2026\", "
		"\"state\": \"FINISHED\", \"duration\": 10245}";
	size_t cap = 5000 * (sizeof(app) + 8) + 200, len;
	char *doc = malloc(cap);
	struct co_master_state *st;
	struct rusage before, after;

	CHECK(doc != NULL);
	if (!doc)
		return;
	len = (size_t)snprintf(doc, cap, "{\"url\": \"spark://x:7077\", \"status\": \"ALIVE\", "
			       "\"completedapps\": [");
	for (int i = 0; i < 5000; i++) {
		if (i)
			len += (size_t)snprintf(doc + len, cap - len, ", ");
		len += (size_t)snprintf(doc + len, cap - len, app, i, i);
	}
	len += (size_t)snprintf(doc + len, cap - len, "]}");
	getrusage(RUSAGE_SELF, &before);
	CHECK_INT(co_master_state_parse(ctx, doc, len, "m", &st), CO_OK);
	getrusage(RUSAGE_SELF, &after);
	if (st) {
		CHECK_INT(st->n_apps, 5000);
		CHECK_STR(st->apps[4999].name, "co-bench-app-04999");
	}
	/* the structs take about 1 MiB */
	if (after.ru_maxrss - before.ru_maxrss > 3 * 1024) {
		fprintf(stderr, "parsing %zu bytes of JSON took %ld KiB more\n", len,
			after.ru_maxrss - before.ru_maxrss);
		check_failures++;
	}
	co_master_state_free(st);
	free(doc);
#endif
}

static void test_final_states(void)
{
	CHECK(co_spark_state_is_final("FINISHED"));
	CHECK(co_spark_state_is_final("KILLED"));
	CHECK(co_spark_state_is_final("FAILED"));
	CHECK(co_spark_state_is_final("ERROR"));
	CHECK(!co_spark_state_is_final("RUNNING"));
	CHECK(!co_spark_state_is_final("WAITING"));
	CHECK(!co_spark_state_is_final("RELAUNCHING"));
	CHECK(!co_spark_state_is_final(NULL));
}

/*
 * The worker's /log/ reply header: parsed within the reply's length (the
 * buffer need not end in a NUL), whatever the length of the file's path.
 */
static void test_worker_log_header(struct co_ctx *ctx)
{
	struct co_log_chunk c;
	char reply[600], *exact;
	int n;

	n = snprintf(reply, sizeof(reply), "==== Bytes 10-20 of 30 of /%0300d/stderr ====\nabc", 0);
	CHECK_INT(co_worker_log_parse(ctx, reply, (size_t)n, "w", &c), CO_OK);
	CHECK_INT(c.start, 10);
	CHECK_INT(c.end, 20);
	CHECK_INT(c.total, 30);
	CHECK_INT(c.len, 3);
	/* Blanks and digits up to the buffer's end, no NUL after them. */
	static const char tricky[] = "==== Bytes \n 12";
	exact = malloc(sizeof(tricky) - 1);
	CHECK(exact != NULL);
	if (exact) {
		memcpy(exact, tricky, sizeof(tricky) - 1);
		CHECK_INT(co_worker_log_parse(ctx, exact, sizeof(tricky) - 1, "w", &c),
			  CO_EPROTOCOL);
		free(exact);
	}
}

int main(void)
{
	struct co_ctx *ctx = co_ctx_new();

	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		test_master(ctx, versions[i]);
		test_worker(ctx, versions[i]);
		test_rest(ctx, versions[i]);
	}
	test_csrf();
	test_malformed(ctx);
	test_huge_numbers(ctx);
	test_walk(ctx);
	test_walk_pieces(ctx);
	test_big_master(ctx);
	test_hostile_master(ctx);
	test_unreadable_elements(ctx);
	test_unused_members(ctx);
	test_final_states();
	test_worker_log_header(ctx);
	co_ctx_free(ctx);
	return CHECK_DONE();
}
