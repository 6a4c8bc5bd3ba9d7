/* SPDX-License-Identifier: MIT */
/*
 * The -P -J envelope (co_kafka_json_read). What it accepts is written
 * back (co_kafka_json_write) and read again: key, payload and headers
 * must come back byte for byte.
 */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

static bool same_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	if (!a || !b)
		return !a && !b;
	return alen == blen && memcmp(a, b, alen) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_kafka_msg *m = NULL, *again = NULL;
	struct co_ctx *ctx = co_ctx_new();
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	if (!ctx)
		abort();
	if (co_kafka_json_read(ctx, (const char *)data, size, &m) != CO_OK) {
		FUZZ_ASSERT(!m && *co_ctx_error(ctx));
		goto done;
	}
	m->topic = "fuzz";
	out = open_memstream(&text, &len);
	if (!out)
		abort();
	FUZZ_ASSERT(co_kafka_json_write(m, out) == CO_OK);
	if (fclose(out) != 0)
		abort();
	/* What is written is valid UTF-8 JSON that reads back the same. */
	FUZZ_ASSERT(co_utf8_valid(text, len));
	FUZZ_ASSERT(co_kafka_json_read(ctx, text, len, &again) == CO_OK);
	FUZZ_ASSERT(same_bytes(m->key, m->key_len, again->key, again->key_len));
	FUZZ_ASSERT(same_bytes(m->payload, m->len, again->payload, again->len));
	FUZZ_ASSERT(m->partition == again->partition);
	FUZZ_ASSERT(m->n_headers == again->n_headers);
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct co_kafka_header *a = &m->headers[i], *b = &again->headers[i];

		FUZZ_ASSERT(strcmp(a->name, b->name) == 0);
		FUZZ_ASSERT(same_bytes(a->value, a->len, b->value, b->len));
	}
done:
	co_kafka_msg_free(again);
	co_kafka_msg_free(m);
	free(text);
	co_ctx_free(ctx);
	return 0;
}
