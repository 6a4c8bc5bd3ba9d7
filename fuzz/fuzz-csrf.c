/* SPDX-License-Identifier: MIT */
/* The CSRF token of the master UI's main page (co_master_parse_csrf). */
#include "config.h"

#include "internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *html = fuzz_string(data, size);
	char *token = co_master_parse_csrf(html);

	if (token) {
		/* Sent back in a form: never empty, never with a quote, bounded. */
		FUZZ_ASSERT(*token && !strchr(token, '"') && strlen(token) <= 256);
		FUZZ_ASSERT(strstr(html, token));
	}
	free(token);
	free(html);
	return 0;
}
