/* SPDX-License-Identifier: MIT */
/*
 * A reply of a worker's /log/ endpoint (co_worker_log_parse): the header
 * line, then the bytes. What it returns must lie inside the reply.
 */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_log_chunk c;
	/* Replies come NUL-terminated from the HTTP layer (sscanf needs it), as here. */
	char *body = fuzz_string(data, size);

	if (!ctx)
		abort();
	if (co_worker_log_parse(ctx, body, size, "fuzz", &c) == CO_OK) {
		FUZZ_ASSERT(c.start >= 0 && c.start <= c.end && c.end <= c.total);
		FUZZ_ASSERT(c.data > body && c.data <= body + size);
		FUZZ_ASSERT(c.len <= (size_t)(body + size - c.data));
		if (c.error)
			FUZZ_ASSERT(c.len == 0 && c.total == 0);
	}
	free(body);
	co_ctx_free(ctx);
	return 0;
}
