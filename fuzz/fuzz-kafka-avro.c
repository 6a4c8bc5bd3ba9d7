/* SPDX-License-Identifier: MIT */
/*
 * -s avro: a schema as the registry would hold it (co_kafka_avro_add_schema)
 * and a datum in the registry's framing decoded against it
 * (co_kafka_avro_decode). The input: the schema up to the first newline,
 * then the framed datum, whose schema id is the one the schema is added
 * under. A decoded datum must be one line of valid JSON, and decode the
 * same the second time, from the cache.
 */
#include "config.h"

#include <jansson.h>

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	const uint8_t *datum = nl ? nl + 1 : data + size;
	size_t len = (size_t)(data + size - datum);
	struct co_kafka_avro *avro = NULL;
	struct co_ctx *ctx = co_ctx_new();
	char *json = NULL, *again = NULL;
	int32_t id = 0, id2 = 0;
	int rc;

	if (!ctx)
		abort();
	FUZZ_ASSERT(co_kafka_avro_new(ctx, NULL, &avro) == CO_OK);
	if (len >= 5)
		id = (int32_t)((uint32_t)datum[1] << 24 | (uint32_t)datum[2] << 16 |
			       (uint32_t)datum[3] << 8 | datum[4]);
	rc = co_kafka_avro_add_schema(avro, id, (const char *)data,
				      nl ? (size_t)(nl - data) : size);
	FUZZ_ASSERT(rc == CO_OK || (rc == CO_EDATA && *co_ctx_error(ctx)));
	rc = co_kafka_avro_decode(avro, datum, len, &json, &id2);
	if (rc == CO_OK) {
		json_t *parsed = json_loads(json, JSON_DECODE_ANY, NULL);

		FUZZ_ASSERT(parsed && !strchr(json, '\n') && id2 == id);
		json_decref(parsed);
		FUZZ_ASSERT(co_kafka_avro_decode(avro, datum, len, &again, NULL) == CO_OK);
		FUZZ_ASSERT(strcmp(json, again) == 0);
	} else {
		/* Without a registry, only the data itself can be at fault. */
		FUZZ_ASSERT((rc == CO_EDATA || rc == CO_EUSAGE) && !json && *co_ctx_error(ctx));
	}
	free(json);
	free(again);
	co_kafka_avro_free(avro);
	co_ctx_free(ctx);
	return 0;
}
