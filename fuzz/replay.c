/* SPDX-License-Identifier: MIT */
/*
 * The main() of a fuzz target built without libFuzzer: run the target
 * once on each file named, as libFuzzer does when given files, so that
 * every build replays the seeds and the regression inputs. As libFuzzer
 * does by default, an input that takes the process past 2 GiB of resident
 * memory fails, so that an input which made a parser allocate without
 * bound stays a failing regression once fixed.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fuzz.h"

#define RSS_LIMIT_KIB (2048L * 1024)	/* libFuzzer's -rss_limit_mb default */

static int replay(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;

	if (!fp) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	for (;;) {
		size_t n;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			data = realloc(data, cap);
			if (!data)
				abort();
		}
		n = fread(data + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		fclose(fp);
		free(data);
		return 1;
	}
	fclose(fp);
	/* An exact-size copy, so that reading past the input is caught. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		if (!exact)
			abort();
		memcpy(exact, data, len);
		free(data);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	{
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > RSS_LIMIT_KIB) {
			fprintf(stderr, "%s: resident memory reached %ld MiB (limit %ld MiB)\n",
				path, ru.ru_maxrss / 1024, RSS_LIMIT_KIB / 1024);
			exit(1);	/* a peak stays: the inputs after it cannot be judged */
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0;

	for (int i = 1; i < argc; i++)
		bad |= replay(argv[i]);
	return bad;
}
