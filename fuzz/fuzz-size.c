/* SPDX-License-Identifier: MIT */
/* Sizes such as "500M" (co_parse_size), from options and the configuration. */
#include "config.h"

#include <ctype.h>

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	char *text = fuzz_string(data, size);
	uint64_t bytes = 0;
	int rc;

	if (!ctx)
		abort();
	rc = co_parse_size(ctx, "size", text, &bytes);
	if (rc == CO_OK) {
		unsigned long long n = strtoull(text, NULL, 10);

		/* A positive whole multiple of the number written. */
		FUZZ_ASSERT(bytes > 0 && n > 0 && bytes >= n && bytes % n == 0);
	} else {
		FUZZ_ASSERT(rc == CO_EUSAGE && *co_ctx_error(ctx));
	}
	/* The same text as a size setting. */
	rc = co_config_set(ctx, CO_KEY_FETCH_MAX_SIZE, text);
	FUZZ_ASSERT(rc == CO_OK || rc == CO_EUSAGE);
	free(text);
	co_ctx_free(ctx);
	return 0;
}
