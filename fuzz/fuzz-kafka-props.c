/* SPDX-License-Identifier: MIT */
/* A kcat property file (co_kafka_props_parse), then every property read back. */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_kafka_props *props = co_kafka_props_new();
	int rc;

	if (!ctx || !props)
		abort();
	rc = co_kafka_props_parse(ctx, props, (const char *)data, size, "fuzz");
	FUZZ_ASSERT(rc == CO_OK || rc == CO_EDATA || rc == CO_EUSAGE);
	for (size_t i = 0; i < co_kafka_props_count(props); i++) {
		const char *name = co_kafka_props_name(props, i);

		FUZZ_ASSERT(*name && !strchr(name, '\n'));
		FUZZ_ASSERT(co_kafka_props_get(props, name) == co_kafka_props_value(props, i));
	}
	co_kafka_props_free(props);
	co_ctx_free(ctx);
	return 0;
}
