/* SPDX-License-Identifier: MIT */
/*
 * -f format strings and kcat's escapes (co_kafka_format_parse,
 * co_kafka_unescape), written for a message made of the input too
 * (co_kafka_format_write). The input: a flags byte, the format up to the
 * first newline, then the key up to the first tab, then the payload.
 */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_kafka_format *fmt = NULL;
	struct co_kafka_header headers[2];
	struct co_kafka_msg m = { 0 };
	struct co_ctx *ctx;
	const uint8_t *nl, *tab, *rest;
	char *text, *unescaped;
	unsigned flags;
	size_t rest_len;

	if (size < 1)
		return 0;
	if (!sink && !(sink = fopen("/dev/null", "w")))
		abort();
	flags = data[0];
	data++;
	size--;
	nl = memchr(data, '\n', size);
	text = fuzz_string(data, nl ? (size_t)(nl - data) : size);
	rest = nl ? nl + 1 : data + size;
	rest_len = (size_t)(data + size - rest);

	unescaped = malloc(strlen(text) + 1);
	if (!unescaped)
		abort();
	FUZZ_ASSERT(co_kafka_unescape(text, unescaped) <= strlen(text));
	free(unescaped);

	ctx = co_ctx_new();
	if (!ctx)
		abort();
	if (co_kafka_format_parse(ctx, text, flags & 1 ? "NULL" : NULL, &fmt) != CO_OK) {
		FUZZ_ASSERT(!fmt && *co_ctx_error(ctx));
		goto out;
	}
	for (const char *t = "okKsSRtpTh%x"; *t; t++)
		(void)co_kafka_format_uses(fmt, *t);
	(void)co_kafka_format_uses(fmt, '\0');

	tab = memchr(rest, '\t', rest_len);
	m.topic = "fuzz";
	m.partition = (int32_t)(flags >> 4) - 1;
	m.offset = (int64_t)flags << 40;
	m.ts = flags & 2 ? 1700000000000 : 0;
	m.tstype = flags & 2 ? CO_KAFKA_TS_CREATE : CO_KAFKA_TS_NONE;
	if (!(flags & 4)) {
		m.key = rest;
		m.key_len = tab ? (size_t)(tab - rest) : 0;
	}
	if (!(flags & 8)) {
		m.payload = tab ? tab + 1 : rest;
		m.len = (size_t)(rest + rest_len - (const uint8_t *)m.payload);
	}
	headers[0] = (struct co_kafka_header){ "h", m.payload, m.len };
	headers[1] = (struct co_kafka_header){ "null", NULL, 0 };
	m.headers = headers;
	m.n_headers = flags & 4 ? 2 : flags & 8 ? 1 : 0;
	FUZZ_ASSERT(co_kafka_format_write(fmt, &m, sink) == CO_OK);
out:
	co_kafka_format_free(fmt);
	co_ctx_free(ctx);
	free(text);
	return 0;
}
