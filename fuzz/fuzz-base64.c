/* SPDX-License-Identifier: MIT */
/*
 * Base64, which only the -J envelope decodes: the input as the text of
 * "payload_b64" (first byte even) must be refused or decoded without
 * harm; the input as a payload's bytes (first byte odd) must come back
 * unchanged from a written envelope, through base64 when it is not UTF-8.
 */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

/* The input as a JSON string: every byte \u00XX-escaped, so always valid. */
static char *json_b64_envelope(const uint8_t *data, size_t size)
{
	char *s = malloc(size * 6 + 32), *p;

	if (!s)
		abort();
	p = s + sprintf(s, "{\"payload_b64\":\"");
	for (size_t i = 0; i < size; i++) {
		if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\')
			*p++ = (char)data[i];
		else
			p += sprintf(p, "\\u%04x", data[i]);
	}
	strcpy(p, "\"}");
	return s;
}

static void decode(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_msg *m = NULL;
	char *text = json_b64_envelope(data, size);

	if (!ctx)
		abort();
	if (co_kafka_json_read(ctx, text, strlen(text), &m) == CO_OK)
		FUZZ_ASSERT(m->payload && m->len <= size * 3 / 4 + 2);
	else
		FUZZ_ASSERT(!m && *co_ctx_error(ctx));
	co_kafka_msg_free(m);
	free(text);
	co_ctx_free(ctx);
}

static void round_trip(const uint8_t *data, size_t size)
{
	struct co_kafka_msg m = { .topic = "fuzz", .partition = -1, .payload = data, .len = size };
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_msg *back = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!ctx || !out)
		abort();
	FUZZ_ASSERT(co_kafka_json_write(&m, out) == CO_OK);
	if (fclose(out) != 0)
		abort();
	FUZZ_ASSERT(co_kafka_json_read(ctx, text, len, &back) == CO_OK);
	FUZZ_ASSERT(back->len == size && memcmp(back->payload, data, size) == 0);
	/* A quote inside a JSON string is escaped: this is the field, not data. */
	FUZZ_ASSERT(co_utf8_valid(data, size) == !strstr(text, ",\"payload_b64\":\""));
	co_kafka_msg_free(back);
	free(text);
	co_ctx_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		round_trip(data + 1, size - 1);
	else
		decode(data + 1, size - 1);
	return 0;
}
