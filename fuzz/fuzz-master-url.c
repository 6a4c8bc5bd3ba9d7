/* SPDX-License-Identifier: MIT */
/*
 * Master URLs (co_spark_master_host), given directly and as the master
 * setting, from which the UI, REST and history URLs are derived; lists of
 * masters, and lists of UI URLs.
 */
#include "config.h"

#include <strings.h>

#include "clusterops.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	char *url = fuzz_string(data, size);
	char *host;
	size_t n;

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
		/* One UI per master, each http://HOST:8080, none empty. */
		n = co_master_count(ctx);
		FUZZ_ASSERT(n >= 1 && n <= CO_MASTERS_MAX);
		for (size_t i = 0; i < n; i++) {
			const char *ui = co_master_ui(ctx, i);

			FUZZ_ASSERT(ui && strncmp(ui, "http://", 7) == 0 && !strchr(ui, ','));
			FUZZ_ASSERT(strlen(ui) > 12 && strcmp(ui + strlen(ui) - 5, ":8080") == 0);
		}
		FUZZ_ASSERT(co_master_ui(ctx, n) == NULL);
		FUZZ_ASSERT(!strchr(co_config_get(ctx, CO_KEY_HISTORY_URL), ','));
	}
	if (co_config_set(ctx, CO_KEY_MASTER_UI, url) == CO_OK) {
		n = co_master_count(ctx);
		FUZZ_ASSERT(n >= 1 && n <= CO_MASTERS_MAX);
		for (size_t i = 0; i < n; i++) {
			const char *ui = co_master_ui(ctx, i);

			FUZZ_ASSERT(ui && *ui && !strchr(ui, ','));
			FUZZ_ASSERT(strncasecmp(ui, "http://", 7) == 0 ||
				    strncasecmp(ui, "https://", 8) == 0);
		}
	}
	co_ctx_free(ctx);
	free(url);
	return 0;
}
