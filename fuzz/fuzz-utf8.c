/* SPDX-License-Identifier: MIT */
/*
 * The strict UTF-8 check (lib/utf8.c) against a decoder written from
 * RFC 3629's table of well-formed byte sequences, and the replacement of
 * what is invalid, whose result must itself be valid.
 */
#include "config.h"

#include <stdbool.h>

#include "clusterops.h"
#include "fuzz.h"

/* Length of the well-formed sequence at s, 0 if none (RFC 3629, section 4). */
static size_t reference_sequence(const uint8_t *s, size_t n)
{
	static const struct { uint8_t lead_lo, lead_hi, second_lo, second_hi; size_t len; } t[] = {
		{ 0x00, 0x7f, 0, 0, 1 },
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 },
		{ 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 },
		{ 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (s[0] < t[i].lead_lo || s[0] > t[i].lead_hi)
			continue;
		if (t[i].len == 1)
			return 1;
		if (n < t[i].len || s[1] < t[i].second_lo || s[1] > t[i].second_hi)
			return 0;
		for (size_t k = 2; k < t[i].len; k++)
			if (s[k] < 0x80 || s[k] > 0xbf)
				return 0;
		return t[i].len;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool valid = true;
	size_t outlen = 0;
	char *out;

	for (size_t i = 0; i < size; i++)
		FUZZ_ASSERT(co_utf8_sequence(data + i, size - i) ==
			    reference_sequence(data + i, size - i));
	for (size_t i = 0; i < size;) {
		size_t n = reference_sequence(data + i, size - i);

		if (!n) {
			valid = false;
			break;
		}
		i += n;
	}
	FUZZ_ASSERT(co_utf8_valid(data, size) == valid);

	out = co_utf8_replace_invalid(data, size, &outlen);
	FUZZ_ASSERT(out && out[outlen] == '\0');
	FUZZ_ASSERT(co_utf8_valid(out, outlen));
	FUZZ_ASSERT(!valid || (outlen == size && memcmp(out, data, size) == 0));
	free(out);
	return 0;
}
