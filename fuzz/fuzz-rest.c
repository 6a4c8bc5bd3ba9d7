/* SPDX-License-Identifier: MIT */
/* A reply of the REST submission server (co_rest_parse_reply). */
#include "config.h"

#include "internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_rest_reply r;

	if (!ctx)
		abort();
	if (co_rest_parse_reply(ctx, (const char *)data, size, "fuzz", &r) == CO_OK)
		FUZZ_ASSERT(r.action);
	else
		FUZZ_ASSERT(!r.action && *co_ctx_error(ctx));
	co_rest_reply_clear(&r);
	co_ctx_free(ctx);
	return 0;
}
