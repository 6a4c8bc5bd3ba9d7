/* SPDX-License-Identifier: MIT */
/*
 * The configuration file (co_config_load, through $SC_CONFIG naming a
 * temporary file that holds the input), then every resolved value,
 * derived URLs included.
 */
#include "config.h"

#include <unistd.h>

#include "clusterops.h"
#include "fuzz.h"

static int config_fd = -1;

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096], link[64];

	snprintf(path, sizeof(path), "%s/co-fuzz-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	config_fd = mkstemp(path);
	if (config_fd < 0)
		abort();
	unlink(path);	/* read through /proc: nothing is left behind */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", config_fd);
	/* The environment must not stand in for the file. */
	for (int k = 0; k < CO_KEY_COUNT; k++)
		unsetenv(co_config_key_env((enum co_key)k));
	setenv("SC_CONFIG", link, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx;
	int rc;

	if (config_fd < 0)
		setup();
	if (ftruncate(config_fd, 0) != 0 || pwrite(config_fd, data, size, 0) != (ssize_t)size)
		abort();
	ctx = co_ctx_new();
	if (!ctx)
		abort();
	rc = co_config_load(ctx);
	FUZZ_ASSERT(rc == CO_OK || rc == CO_EDATA);
	FUZZ_ASSERT(rc == CO_OK || *co_ctx_error(ctx));
	for (int k = 0; k < CO_KEY_COUNT; k++) {
		const char *v = co_config_get(ctx, (enum co_key)k);

		(void)co_config_source(ctx, (enum co_key)k);
		if (v && rc == CO_OK && co_config_source(ctx, (enum co_key)k) == CO_SRC_FILE)
			FUZZ_ASSERT(*v);
	}
	co_ctx_free(ctx);
	return 0;
}
