/* SPDX-License-Identifier: MIT */
/* The one strict UTF-8 check: overlong forms, surrogates, beyond U+10FFFF. */
#include "config.h"

#include <stdlib.h>

#include "check.h"
#include "clusterops.h"

#define VALID(lit) co_utf8_valid(lit, sizeof(lit) - 1)

static void test_valid(void)
{
	CHECK(VALID(""));
	CHECK(VALID("plain ascii\n"));
	CHECK(VALID("\xc3\xa9t\xc3\xa9"));		/* été */
	CHECK(VALID("\xe2\x82\xac"));			/* U+20AC */
	CHECK(VALID("\xed\x9f\xbf"));			/* U+D7FF, just below the surrogates */
	CHECK(VALID("\xee\x80\x80"));			/* U+E000, just above */
	CHECK(VALID("\xef\xbf\xbf"));			/* U+FFFF */
	CHECK(VALID("\xf0\x90\x80\x80"));		/* U+10000 */
	CHECK(VALID("\xf4\x8f\xbf\xbf"));		/* U+10FFFF */
	CHECK(VALID("a\0b"));				/* NUL is a character */
}

static void test_invalid(void)
{
	CHECK(!VALID("\xc0\xaf"));			/* overlong '/' */
	CHECK(!VALID("\xc1\xbf"));
	CHECK(!VALID("\xe0\x80\xaf"));			/* overlong, 3 bytes */
	CHECK(!VALID("\xe0\x9f\xbf"));			/* overlong U+07FF */
	CHECK(!VALID("\xf0\x80\x80\xaf"));		/* overlong, 4 bytes */
	CHECK(!VALID("\xf0\x8f\xbf\xbf"));		/* overlong U+FFFF */
	CHECK(!VALID("\xed\xa0\x80"));			/* U+D800 */
	CHECK(!VALID("\xed\xbf\xbf"));			/* U+DFFF */
	CHECK(!VALID("\xed\xa0\xbd\xed\xb8\x80"));	/* a CESU-8 surrogate pair */
	CHECK(!VALID("\xf4\x90\x80\x80"));		/* U+110000 */
	CHECK(!VALID("\xf5\x80\x80\x80"));
	CHECK(!VALID("\xff"));
	CHECK(!VALID("\x80"));				/* a lone continuation */
	CHECK(!VALID("\xc3"));				/* cut short */
	CHECK(!VALID("\xe2\x82"));
	CHECK(!VALID("\xe2\x28\xa1"));			/* not a continuation */
}

static void test_sequence(void)
{
	CHECK_INT(co_utf8_sequence("a", 1), 1);
	CHECK_INT(co_utf8_sequence("\xc3\xa9", 2), 2);
	CHECK_INT(co_utf8_sequence("\xc3\xa9", 1), 0);
	CHECK_INT(co_utf8_sequence("\xe2\x82\xac", 3), 3);
	CHECK_INT(co_utf8_sequence("\xf0\x9f\x98\x80", 4), 4);
	CHECK_INT(co_utf8_sequence("\xed\xa0\x80", 3), 0);
}

static void test_replace(void)
{
	static const char in[] = "a\xed\xa0\x80z\xc0\xaf\xe2\x82\xac";
	size_t n = 0;
	char *out = co_utf8_replace_invalid(in, sizeof(in) - 1, &n);

	/* each byte that starts no valid sequence becomes U+FFFD */
	CHECK_STR(out, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xe2\x82\xac");
	CHECK(out && co_utf8_valid(out, n));
	CHECK_INT(n, out ? strlen(out) : 0);
	free(out);
	out = co_utf8_replace_invalid("", 0, &n);
	CHECK_STR(out, "");
	CHECK_INT(n, 0);
	free(out);
}

int main(void)
{
	test_valid();
	test_invalid();
	test_sequence();
	test_replace();
	return CHECK_DONE();
}
