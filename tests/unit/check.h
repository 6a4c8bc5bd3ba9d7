/* SPDX-License-Identifier: MIT */
/* A few assertion macros: each failure is reported, the exit status counts them. */
#ifndef CO_CHECK_H
#define CO_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		check_failures++; \
	} \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (!g_ || !w_ ? g_ != w_ : strcmp(g_, w_) != 0) { \
		fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, \
			__LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
		check_failures++; \
	} \
} while (0)

#define CHECK_INT(got, want) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (g_ != w_) { \
		fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, \
			__LINE__, #got, g_, w_); \
		check_failures++; \
	} \
} while (0)

#define CHECK_DONE() (check_failures ? (fprintf(stderr, "%d check(s) failed\n", \
					check_failures), 1) : 0)

#endif
