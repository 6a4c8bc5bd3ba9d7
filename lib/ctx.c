/* SPDX-License-Identifier: MIT */
/* The context: error messages and lifetime of what the library caches. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

CO_API const char *co_version(void)
{
	return PACKAGE_VERSION;
}

CO_API struct co_ctx *co_ctx_new(void)
{
	struct co_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(ctx);
		return NULL;
	}
	return ctx;
}

CO_API void co_ctx_free(struct co_ctx *ctx)
{
	if (!ctx)
		return;
	for (int k = 0; k < CO_KEY_COUNT; k++)
		for (int s = 0; s <= CO_SRC_FLAG; s++)
			free(ctx->layer[k][s]);
	free(ctx->config_file);
	free(ctx->csrf_token);
	if (ctx->curl)
		curl_easy_cleanup(ctx->curl);
	curl_global_cleanup();
	free(ctx);
}

CO_API const char *co_ctx_error(const struct co_ctx *ctx)
{
	return ctx ? ctx->errmsg : "out of memory";
}

int co_err(struct co_ctx *ctx, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->errmsg, sizeof(ctx->errmsg), fmt, ap);
	va_end(ap);
	return status;
}

int co_err_prefix(struct co_ctx *ctx, int status, const char *prefix)
{
	char old[sizeof(ctx->errmsg)];

	memcpy(old, ctx->errmsg, sizeof(old));
	return co_err(ctx, status, "%s: %s", prefix, old);
}

char *co_strdup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *co_url_join(const char *base, const char *path)
{
	size_t blen = strlen(base);
	char *url;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	while (*path == '/')
		path++;
	url = malloc(blen + strlen(path) + 2);
	if (url)
		sprintf(url, "%.*s/%s", (int)blen, base, path);
	return url;
}
