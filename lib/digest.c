/* SPDX-License-Identifier: MIT */
/* Streaming SHA-256 on OpenSSL's libcrypto (EVP): never a hand-written hash. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "internal.h"

/* Large enough that reading a file costs few system calls. */
#define READ_CHUNK (256u << 10)

struct co_sha256 {
	EVP_MD_CTX *md;
	bool failed;		/* some EVP call failed: reported by final() */
};

CO_API struct co_sha256 *co_sha256_new(void)
{
	struct co_sha256 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->md = EVP_MD_CTX_new();
	if (!h->md) {
		free(h);
		return NULL;
	}
	co_sha256_reset(h);
	return h;
}

CO_API void co_sha256_free(struct co_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->md);
	free(h);
}

CO_API void co_sha256_reset(struct co_sha256 *h)
{
	h->failed = EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1;
}

CO_API void co_sha256_update(struct co_sha256 *h, const void *data, size_t len)
{
	if (len && !h->failed && EVP_DigestUpdate(h->md, data, len) != 1)
		h->failed = true;
}

CO_API int co_sha256_final(struct co_ctx *ctx, struct co_sha256 *h, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	bool failed = h->failed || EVP_DigestFinal_ex(h->md, md, &n) != 1 || n != 32;

	co_sha256_reset(h);
	if (failed) {
		hex[0] = '\0';
		return co_err(ctx, CO_ESOFTWARE, "SHA-256: libcrypto failed");
	}
	for (unsigned int i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 0xf];
	}
	hex[2 * n] = '\0';
	return CO_OK;
}

CO_API int co_sha256_update_fd(struct co_ctx *ctx, struct co_sha256 *h, int fd,
			       const char *path, uint64_t *bytes)
{
	char *buf = malloc(READ_CHUNK);
	int rc = CO_OK;

	if (!buf)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		co_sha256_update(h, buf, (size_t)n);
		if (bytes)
			*bytes += (uint64_t)n;
	}
	free(buf);
	return rc;
}

CO_API int co_sha256_file(struct co_ctx *ctx, const char *path, char *hex, uint64_t *bytes)
{
	struct co_sha256 *h = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (bytes)
		*bytes = 0;
	if (fd < 0)
		return co_err(ctx, errno == EACCES ? CO_ENOPERM : CO_EIO, "%s: %s", path,
			      strerror(errno));
	h = co_sha256_new();
	if (!h) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	rc = co_sha256_update_fd(ctx, h, fd, path, bytes);
	if (rc == CO_OK)
		rc = co_sha256_final(ctx, h, hex);
out:
	co_sha256_free(h);
	close(fd);
	return rc;
}

CO_API bool co_sha256_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return i == CO_SHA256_HEX_LEN;
}
