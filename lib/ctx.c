/* SPDX-License-Identifier: MIT */
/* The context: error messages and lifetime of what the library caches. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

CO_API const char *co_version(void)
{
	return PACKAGE_VERSION;
}

CO_API struct co_ctx *co_ctx_new(void)
{
	return calloc(1, sizeof(struct co_ctx));
}

/*
 * libcurl (and with it TLS) is loaded and set up on first use, not with the
 * context: a tool that never speaks HTTP does not pay for it in start-up
 * or memory.
 */
static bool curl_setup(struct co_ctx *ctx)
{
	if (ctx->curl_ready || co_lazy_need(ctx, CO_LAZY_CURL) != CO_OK)
		return ctx->curl_ready;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
		ctx->curl_ready = true;
	else
		co_err(ctx, CO_ESOFTWARE, "cannot initialise libcurl");
	return ctx->curl_ready;
}

CURL *co_curl_easy(struct co_ctx *ctx)
{
	CURL *h = curl_setup(ctx) ? curl_easy_init() : NULL;

	if (!h && ctx->curl_ready)
		co_err(ctx, CO_ESOFTWARE, "cannot initialise libcurl");
	return h;
}

CURL *co_ctx_curl(struct co_ctx *ctx)
{
	if (!ctx->curl)
		ctx->curl = co_curl_easy(ctx);
	return ctx->curl;
}

double co_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

CURLM *co_curl_multi(struct co_ctx *ctx)
{
	CURLM *m = curl_setup(ctx) ? curl_multi_init() : NULL;

	if (!m && ctx->curl_ready)
		co_err(ctx, CO_ESOFTWARE, "cannot initialise libcurl");
	return m;
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
	co_http_multi_free(ctx->workers);
	co_url_lists_free(ctx);
	for (size_t i = 0; i < CO_MASTERS_MAX; i++) {
		free(ctx->seen[i].status);
		free(ctx->seen[i].error);
	}
	free(ctx->rest_used);
	for (size_t i = 0; i < ctx->n_silent; i++)
		free(ctx->silent[i].webui);
	free(ctx->silent);
	if (ctx->curl)
		curl_easy_cleanup(ctx->curl);
	if (ctx->curl_ready)
		curl_global_cleanup();
	free(ctx);
}

CO_API const char *co_ctx_error(const struct co_ctx *ctx)
{
	return ctx ? ctx->errmsg : "out of memory";
}

CO_API void co_ctx_set_deadline(struct co_ctx *ctx, double deadline)
{
	ctx->deadline = deadline > 0 ? deadline : 0;
}

/* Where the authority of a URL that starts at p (after "://") ends. */
static size_t authority_length(const char *p)
{
	return strcspn(p, "/?#'\" \t\r\n");
}

CO_API void co_mask_credentials(const char *in, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	while (*in && o + 1 < size) {
		const char *at;
		size_t auth;

		if (strncmp(in, "://", 3) != 0) {
			out[o++] = *in++;
			continue;
		}
		auth = authority_length(in + 3);
		at = memrchr(in + 3, '@', auth);
		if (!at) {
			out[o++] = *in++;
			continue;
		}
		o += (size_t)snprintf(out + o, size - o, "://***");
		if (o >= size)
			o = size - 1;
		in = at;	/* the '@' and the host follow */
	}
	out[o] = '\0';
}

CO_API int co_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {	/* an inherited non-blocking fd */
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			poll(&pfd, 1, 1000);
			continue;
		}
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

CO_API int co_small_file_check(struct co_ctx *ctx, int fd, const char *path, int64_t max,
				const char *what)
{
	struct stat sb;
	int flags;

	if (fstat(fd, &sb) != 0)
		return co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return co_err(ctx, CO_EDATA, "%s: not a regular file", path);
	if (sb.st_size > max)
		return co_err(ctx, CO_EDATA, "%s: larger than %" PRId64 " MiB, too large for a %s",
			      path, max >> 20, what);
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
	return CO_OK;
}

/*
 * A message cut at its buffer's size may end inside a UTF-8 character
 * (a reply's text in any script): the part of it that is there goes.
 */
static void utf8_cut_whole(char *s)
{
	size_t n = strlen(s), i = n;

	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0xc0 &&
	    co_utf8_sequence(s + i - 1, n - i + 1) != n - i + 1)
		s[i - 1] = '\0';
}

int co_err(struct co_ctx *ctx, int status, const char *fmt, ...)
{
	char text[sizeof(ctx->errmsg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* a URL's user name and password stay out of every message */
	co_mask_credentials(text, ctx->errmsg, sizeof(ctx->errmsg));
	utf8_cut_whole(ctx->errmsg);
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

bool co_bytes_append(char **data, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;
		char *q;

		while (c < *len + n + 1)
			c *= 2;
		if (!(q = realloc(*data, c)))
			return false;
		*data = q;
		*cap = c;
	}
	memcpy(*data + *len, p, n);
	*len += n;
	(*data)[*len] = '\0';
	return true;
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
