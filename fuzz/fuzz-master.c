/* SPDX-License-Identifier: MIT */
/* The master's /json/ view (co_master_state_parse), then every lookup on it. */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_master_state *st = NULL;

	if (!ctx)
		abort();
	if (co_master_state_parse(ctx, (const char *)data, size, "fuzz", &st) == CO_OK) {
		FUZZ_ASSERT(st && st->url && st->status);
		for (size_t i = 0; i < st->n_workers; i++)
			FUZZ_ASSERT(st->workers[i].id);
		for (size_t i = 0; i < st->n_apps; i++)
			FUZZ_ASSERT(co_master_state_app(st, st->apps[i].id));
		for (size_t i = 0; i < st->n_drivers; i++) {
			FUZZ_ASSERT(co_master_state_driver(st, st->drivers[i].id));
			(void)co_spark_state_is_final(st->drivers[i].state);
		}
		(void)co_master_state_app(st, "app-none");
	} else {
		FUZZ_ASSERT(!st && *co_ctx_error(ctx));
	}
	co_master_state_free(st);
	co_ctx_free(ctx);
	return 0;
}
