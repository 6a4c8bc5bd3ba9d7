/* SPDX-License-Identifier: MIT */
/* Kafka pieces without a broker: escapes, -f formats, JSON envelopes, properties. */
#include "config.h"

#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#include "check.h"
#include "clusterops.h"

static char *render_fmt(const char *fmt, const char *null_str, const struct co_kafka_msg *m,
			size_t *len)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_format *f = NULL;
	char *buf = NULL;
	FILE *fp = open_memstream(&buf, len);

	CHECK_INT(co_kafka_format_parse(ctx, fmt, null_str, &f), CO_OK);
	CHECK_INT(co_kafka_format_write(f, m, fp), CO_OK);
	fclose(fp);
	co_kafka_format_free(f);
	co_ctx_free(ctx);
	return buf;
}

static char *render_json(const struct co_kafka_msg *m)
{
	char *buf = NULL;
	size_t len;
	FILE *fp = open_memstream(&buf, &len);

	CHECK_INT(co_kafka_json_write(m, fp), CO_OK);
	fclose(fp);
	return buf;
}

static void test_unescape(void)
{
	char out[32];

	CHECK_INT(co_kafka_unescape("a\\tb\\n\\r\\x41\\\\", out), 7);
	CHECK(memcmp(out, "a\tb\n\rA\\", 7) == 0);
	CHECK_INT(co_kafka_unescape("\\x00z", out), 2);
	CHECK(out[0] == '\0' && out[1] == 'z');
	CHECK_INT(co_kafka_unescape("\\q", out), 1);
	CHECK_STR(out, "q");
	/* numbers as kcat's -f reads them (strtoul, base 0): \033 is ESC */
	CHECK_INT(co_kafka_unescape("\\033[1m\\65\\0x42", out), 6);
	CHECK(memcmp(out, "\033[1mAB", 6) == 0);
}

static void test_format(void)
{
	static const struct co_kafka_header hs[] = {
		{ "a", "1", 1 }, { "b", NULL, 0 }, { "c", "", 0 },
	};
	struct co_kafka_msg m = {
		.topic = "t", .partition = 3, .offset = 42, .ts = 1700000000000,
		.key = "k", .key_len = 1, .payload = "hello", .len = 5,
		.headers = hs, .n_headers = 3,
	};
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_format *f = NULL;
	size_t len;
	char *s;

	s = render_fmt("%t|%p|%o|%T|%k|%K|%s|%S|%h|%%\\n", NULL, &m, &len);
	CHECK_STR(s, "t|3|42|1700000000000|k|1|hello|5|a=1,b=NULL,c=|%\n");
	free(s);
	s = render_fmt("%R", NULL, &m, &len);
	CHECK_INT(len, 4);
	CHECK(memcmp(s, "\0\0\0\5", 4) == 0);
	free(s);
	m.key = NULL;
	m.key_len = 0;
	m.payload = NULL;
	m.len = 0;
	s = render_fmt("%k|%K|%s|%S", "NULL", &m, &len);
	CHECK_STR(s, "NULL|-1|NULL|-1");
	free(s);
	s = render_fmt("[%k][%s]", NULL, &m, &len);
	CHECK_STR(s, "[][]");
	free(s);
	CHECK_INT(co_kafka_format_parse(ctx, "%x", NULL, &f), CO_EUSAGE);
	CHECK(f == NULL);
	CHECK_INT(co_kafka_format_parse(ctx, "abc%", NULL, &f), CO_EUSAGE);
	/* what a format shows: a consumer looks up only that */
	CHECK_INT(co_kafka_format_parse(ctx, "%k %s %%h\\n", NULL, &f), CO_OK);
	CHECK(!co_kafka_format_uses(f, 'h'));
	CHECK(co_kafka_format_uses(f, 'k') && co_kafka_format_uses(f, 's'));
	CHECK(!co_kafka_format_uses(f, 'T') && !co_kafka_format_uses(f, 'x'));
	co_kafka_format_free(f);
	CHECK_INT(co_kafka_format_parse(ctx, "%s [%h]\\n", NULL, &f), CO_OK);
	CHECK(co_kafka_format_uses(f, 'h'));
	co_kafka_format_free(f);
	co_ctx_free(ctx);
}

static void test_json_write(void)
{
	static const struct co_kafka_header hs[] = { { "h", "v", 1 }, { "n", NULL, 0 } };
	struct co_kafka_msg m = {
		.topic = "t", .partition = 0, .offset = 7, .tstype = CO_KAFKA_TS_CREATE,
		.ts = 5, .broker = 1, .key = "k\"\\/", .key_len = 4,
		.payload = "a\x01\n\x7f\xe2\x98\x83", .len = 7, .headers = hs, .n_headers = 2,
	};
	char *s = render_json(&m);

	CHECK_STR(s, "{\"topic\":\"t\",\"partition\":0,\"offset\":7,\"tstype\":\"create\","
		  "\"ts\":5,\"broker\":1,\"headers\":[\"h\",\"v\",\"n\",null],"
		  "\"key\":\"k\\\"\\\\/\",\"payload\":\"a\\u0001\\n\x7f\xe2\x98\x83\"}");
	free(s);
	m.tstype = CO_KAFKA_TS_NONE;
	m.n_headers = 0;
	m.key = NULL;
	m.payload = "\xff" "a";
	m.len = 2;
	s = render_json(&m);
	CHECK_STR(s, "{\"topic\":\"t\",\"partition\":0,\"offset\":7,\"broker\":1,"
		  "\"key\":null,\"payload\":\"\xef\xbf\xbd" "a\",\"payload_b64\":\"/2E=\"}");
	free(s);
}

static void test_json_read(void)
{
	static const char line[] =
		"{\"topic\":\"x\",\"partition\":2,\"ts\":9,\"key\":null,\"payload\":\"\\ufffd\","
		"\"payload_b64\":\"AP8=\",\"headers\":[\"a\",\"b\",\"n\",null,\"z\",{\"b64\":\"/w==\"}]}";
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_msg *m = NULL;

	CHECK_INT(co_kafka_json_read(ctx, line, sizeof(line) - 1, &m), CO_OK);
	if (m) {
		CHECK(m->key == NULL);
		CHECK_INT(m->len, 2);
		CHECK(memcmp(m->payload, "\0\xff", 2) == 0);
		CHECK_INT(m->partition, 2);
		CHECK_INT(m->ts, 9);
		CHECK_INT(m->n_headers, 3);
		CHECK_STR(m->headers[0].name, "a");
		CHECK_INT(m->headers[0].len, 1);
		CHECK(m->headers[1].value == NULL);
		CHECK_INT(m->headers[2].len, 1);
		CHECK(((const unsigned char *)m->headers[2].value)[0] == 0xff);
	}
	co_kafka_msg_free(m);
	CHECK_INT(co_kafka_json_read(ctx, "{\"payload\":", 11, &m), CO_EDATA);
	CHECK_INT(co_kafka_json_read(ctx, "[1]", 3, &m), CO_EDATA);
	CHECK_INT(co_kafka_json_read(ctx, "{\"headers\":[\"a\"]}", 17, &m), CO_EDATA);
	CHECK_INT(co_kafka_json_read(ctx, "{\"payload\":1}", 13, &m), CO_EDATA);
	CHECK(m == NULL);
	/* A message round-trips, bytes and all. */
	{
		struct co_kafka_msg w = { .topic = "t", .payload = "\x80\x00z", .len = 3,
					  .key = "", .key_len = 0 };
		char *s = render_json(&w);

		CHECK_INT(co_kafka_json_read(ctx, s, strlen(s), &m), CO_OK);
		CHECK(m && m->len == 3 && memcmp(m->payload, "\x80\x00z", 3) == 0);
		CHECK(m && m->key && m->key_len == 0);
		co_kafka_msg_free(m);
		free(s);
	}
	co_ctx_free(ctx);
}

static void test_props(void)
{
	static const char file[] = "# comment\n\n  bootstrap.servers = a:1 \nclient.id=x=y\n"
				   "client.id=z\n";
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_props *p = co_kafka_props_new();
	struct rd_kafka_conf_s *conf = NULL;

	CHECK_INT(co_kafka_props_parse(ctx, p, file, sizeof(file) - 1, "f"), CO_OK);
	CHECK_INT(co_kafka_props_count(p), 2);
	CHECK_STR(co_kafka_props_get(p, "bootstrap.servers"), "a:1");
	CHECK_STR(co_kafka_props_get(p, "client.id"), "z");
	CHECK_INT(co_kafka_props_parse(ctx, p, "acks=1\nbroken\n", 14, "f"), CO_EDATA);
	CHECK_STR(co_ctx_error(ctx), "f:2: expected property=value");
	/* A property librdkafka does not know, or a value it refuses, is bad
	 * data at its line, and is not kept. */
	CHECK_INT(co_kafka_props_parse(ctx, p, "#\nssl.truststore.location=/x.jks\n", 33, "f"),
		  CO_EDATA);
	CHECK(strncmp(co_ctx_error(ctx), "f:2: property ssl.truststore.location: ", 39) == 0);
	CHECK_INT(co_kafka_props_parse(ctx, p, "security.protocol=SASL_SSLX\n", 28, "f"), CO_EDATA);
	CHECK(strncmp(co_ctx_error(ctx), "f:1: property security.protocol: ", 33) == 0);
	CHECK(co_kafka_props_get(p, "security.protocol") == NULL);
	CHECK_INT(co_kafka_props_add_arg(ctx, p, "ok=1"), CO_OK);
	CHECK_INT(co_kafka_props_add_arg(ctx, p, "noequals"), CO_EUSAGE);
	CHECK_INT(co_kafka_props_add_arg(ctx, p, "sasl.password:SEKRET"), CO_EUSAGE);
	CHECK_STR(co_ctx_error(ctx), "'sasl.password': expected property=value");
	CHECK_INT(co_kafka_props_add_arg(ctx, p, "=SEKRET"), CO_EUSAGE);
	CHECK(strstr(co_ctx_error(ctx), "SEKRET") == NULL);
	CHECK_INT(co_kafka_props_add_arg(ctx, p, "linger.ms=7"), CO_OK);
	CHECK_INT(co_kafka_conf_new(ctx, p, &conf), CO_EUSAGE);	/* "ok" is unknown */
	CHECK(strstr(co_ctx_error(ctx), "property ok") != NULL);
	co_kafka_props_free(p);
	p = co_kafka_props_new();
	CHECK_INT(co_kafka_props_add_arg(ctx, p, "linger.ms=7"), CO_OK);
	CHECK_INT(co_kafka_conf_new(ctx, p, &conf), CO_OK);
	CHECK(conf != NULL);
	rd_kafka_conf_destroy(conf);
	co_kafka_props_free(p);
	co_ctx_free(ctx);
}

/* Each property knows the file it came from, until it is set again. */
static void test_props_origin(void)
{
	static const char file[] = "client.id=a\nsasl.jaas.config=org.apache.kafka.common."
				   "security.plain.PlainLoginModule required username=u "
				   "password=p;\n";
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_props *p = co_kafka_props_new(), *q = co_kafka_props_new();

	CHECK_INT(co_kafka_props_add_arg(ctx, p, "linger.ms=7"), CO_OK);
	CHECK_INT(co_kafka_props_parse(ctx, p, file, sizeof(file) - 1, "f.conf"), CO_OK);
	CHECK_INT(co_kafka_props_count(p), 4);
	CHECK(co_kafka_props_origin(p, 0) == NULL);
	CHECK_STR(co_kafka_props_origin(p, 1), "f.conf");
	CHECK_STR(co_kafka_props_name(p, 3), "sasl.password");
	CHECK_STR(co_kafka_props_origin(p, 3), "f.conf");
	CHECK(co_kafka_props_origin(p, 4) == NULL);
	CHECK_INT(co_kafka_props_add_arg(ctx, p, "client.id=b"), CO_OK);
	CHECK(co_kafka_props_origin(p, 1) == NULL);
	/* A merge keeps what dst has, and the origins of what it adds. */
	CHECK_INT(co_kafka_props_add_arg(ctx, q, "sasl.username=v"), CO_OK);
	CHECK_INT(co_kafka_props_merge(ctx, q, p), CO_OK);
	CHECK_INT(co_kafka_props_count(q), 4);
	CHECK_STR(co_kafka_props_get(q, "sasl.username"), "v");
	CHECK(co_kafka_props_origin(q, 0) == NULL);
	CHECK_STR(co_kafka_props_name(q, 3), "sasl.password");
	CHECK_STR(co_kafka_props_origin(q, 3), "f.conf");
	co_kafka_props_free(p);
	co_kafka_props_free(q);
	co_ctx_free(ctx);
}

/* A property file as java.util.Properties reads it. */
static void test_props_java(void)
{
	static const char file[] =
		"! a comment\r\n"
		"   # another, whose end is not a continuation \\\n"
		"client.id = a\\\n"
		"   b\\\\\n"
		"linger.ms:5\n"
		"acks   all\n"
		"client.rack=tab\\there\\u00e9\\ud83d\\ude00\\x\\=\\:\\\\ \\ \n"
		"topic.metadata.refresh.interval.ms\\\n"
		"  =\\\n"
		"  7\\\n"
		"\n"
		"sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\r"
		"  username=\"alice\" \\\n"
		"  password=\"p\\\\\\\\w\\\\\"q\\\\101\";\n"
		"retries=3\\";
	static const struct {
		const char *text, *error;
	} bad[] = {
		{ "acks=1\nsasl.password=abc\0def\n", "f:2: a NUL byte in the line" },
		{ "x\\\n\0=1\n", "f:2: a NUL byte in the line" },
		{ "client.id=\\u12\n", "f:1: malformed \\uXXXX escape" },
		{ "client.id=\\u0000\n", "f:1: a NUL byte (\\u0000)" },
		{ "client.id=\\ud83d!\n", "f:1: \\uXXXX: a lone surrogate" },
		{ "client.id=\\ude00\n", "f:1: \\uXXXX: a lone surrogate" },
		{ "\n=1\n", "f:2: expected property=value" },
		{ "sasl.jaas.config=x.plain.PlainLoginModule required username=u password=\"\\\\0\";",
		  "f:1: sasl.jaas.config: a NUL byte in a value" },
	};
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_props *p = co_kafka_props_new();

	CHECK_INT(co_kafka_props_parse(ctx, p, file, sizeof(file) - 1, "f"), CO_OK);
	CHECK_STR(co_kafka_props_get(p, "client.id"), "ab\\");
	CHECK_STR(co_kafka_props_get(p, "linger.ms"), "5");
	CHECK_STR(co_kafka_props_get(p, "acks"), "all");
	CHECK_STR(co_kafka_props_get(p, "client.rack"), "tab\there\xc3\xa9\xf0\x9f\x98\x80x=:\\  ");
	CHECK_STR(co_kafka_props_get(p, "sasl.username"), "alice");
	CHECK_STR(co_kafka_props_get(p, "topic.metadata.refresh.interval.ms"), "7");
	CHECK_STR(co_kafka_props_get(p, "sasl.password"), "p\\w\"qA");
	CHECK_STR(co_kafka_props_get(p, "retries"), "3");
	co_kafka_props_free(p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i].text);

		p = co_kafka_props_new();
		if (strstr(bad[i].error, "NUL byte in the line"))
			len += strlen(bad[i].text + len + 1) + 1;
		CHECK_INT(co_kafka_props_parse(ctx, p, bad[i].text, len, "f"), CO_EDATA);
		CHECK_STR(co_ctx_error(ctx), bad[i].error);
		co_kafka_props_free(p);
	}
	co_ctx_free(ctx);
}

/* Invalid base64 in any field is bad data, and frees what it decoded so far. */
static void test_json_read_bad_base64(void)
{
	static const char *const bad[] = {
		"{\"key_b64\":\"!!!!\",\"payload\":\"x\"}",
		"{\"key_b64\":\"QUJD*\"}",
		"{\"key\":\"k\",\"payload_b64\":\"@@\"}",
		"{\"headers\":[\"a\",{\"b64\":\"#\"}]}",
		"{\"key_b64\":\"QUJD\",\"payload_b64\":\"Q$\"}",
	};
	struct co_ctx *ctx = co_ctx_new();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct co_kafka_msg *m = NULL;

		CHECK_INT(co_kafka_json_read(ctx, bad[i], strlen(bad[i]), &m), CO_EDATA);
		CHECK(strstr(co_ctx_error(ctx), "invalid base64") != NULL);
		CHECK(m == NULL);
	}
	co_ctx_free(ctx);
}

/* A field that does not fit its pack-str: nothing of the message, not half a line. */
static void test_format_pack_mismatch_writes_nothing(void)
{
	struct co_kafka_msg m = { .topic = "t", .key = "k1", .key_len = 2,
				  .payload = "\0\0\0\1\0\0", .len = 6 };
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_format *f = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	CHECK_INT(co_kafka_format_parse(ctx, "%k|%s\\n", NULL, &f), CO_OK);
	CHECK_INT(co_kafka_format_set_pack(ctx, f, CO_KAFKA_FIELD_VALUE, ">i >i"), CO_OK);
	CHECK_INT(co_kafka_format_write(f, &m, fp), CO_EDATA);
	fflush(fp);
	CHECK_INT((long)len, 0);
	CHECK(strstr(co_kafka_format_error(f), "truncated") != NULL);
	m.len = 8;
	m.payload = "\0\0\0\1\0\0\0\2";
	CHECK_INT(co_kafka_format_write(f, &m, fp), CO_OK);
	fclose(fp);
	CHECK_STR(buf, "k1|1 2\n");
	free(buf);
	co_kafka_format_free(f);
	co_ctx_free(ctx);
}

int main(void)
{
	unsetenv("SC_CONFIG");
	test_unescape();
	test_format();
	test_format_pack_mismatch_writes_nothing();
	test_json_write();
	test_json_read();
	test_json_read_bad_base64();
	test_props();
	test_props_origin();
	test_props_java();
	return CHECK_DONE();
}
