/* SPDX-License-Identifier: MIT */
/* A worker's /json/ view (co_worker_state_parse). */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_worker_state *st = NULL;

	if (!ctx)
		abort();
	if (co_worker_state_parse(ctx, (const char *)data, size, "fuzz", &st) == CO_OK) {
		FUZZ_ASSERT(st && st->id);
		for (size_t i = 0; i < st->n_executors; i++)
			FUZZ_ASSERT(!st->executors[i].app_id || strlen(st->executors[i].app_id) < size);
		for (size_t i = 0; i < st->n_drivers; i++) {
			FUZZ_ASSERT(st->drivers[i].id);
			(void)co_spark_state_is_final(st->drivers[i].state);
		}
	} else {
		FUZZ_ASSERT(!st && *co_ctx_error(ctx));
	}
	co_worker_state_free(st);
	co_ctx_free(ctx);
	return 0;
}
