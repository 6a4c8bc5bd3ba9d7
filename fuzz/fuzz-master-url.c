/* SPDX-License-Identifier: MIT */
/*
 * Master URLs (co_spark_master_host), given directly and as the master
 * setting, from which the UI, REST and history URLs are derived.
 */
#include "config.h"

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	char *url = fuzz_string(data, size);
	char *host;

	if (!ctx)
		abort();
	host = co_spark_master_host(ctx, url);
	if (host) {
		FUZZ_ASSERT(*host && strncmp(url + 8, host, strlen(host)) == 0);
		/* It becomes the authority of http://HOST:PORT as it is. */
		FUZZ_ASSERT(!host[strcspn(host, ",/?#@ \t\r\n")]);
		FUZZ_ASSERT(host[0] != '[' || host[strlen(host) - 1] == ']');
	}
	free(host);
	if (co_config_set(ctx, CO_KEY_MASTER, url) == CO_OK) {
		/* A master the configuration accepts always gives the derived URLs. */
		FUZZ_ASSERT(co_config_get(ctx, CO_KEY_MASTER_UI));
		FUZZ_ASSERT(co_config_get(ctx, CO_KEY_REST_URL));
		FUZZ_ASSERT(co_config_get(ctx, CO_KEY_HISTORY_URL));
	}
	co_ctx_free(ctx);
	free(url);
	return 0;
}
