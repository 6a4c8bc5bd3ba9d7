/* SPDX-License-Identifier: MIT */
/* Reading Spark's JSON with jansson: tolerant of extra fields, strict on types. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int co_json_parse(struct co_ctx *ctx, const char *text, size_t len,
		  const char *origin, json_t **out)
{
	json_error_t err;

	*out = json_loadb(text, len, 0, &err);
	if (!*out)
		return co_err(ctx, CO_EPROTOCOL, "%s: malformed JSON at line %d: %s",
			      origin, err.line, err.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return co_err(ctx, CO_EPROTOCOL, "%s: expected a JSON object", origin);
	}
	return CO_OK;
}

char *co_json_strdup(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	char buf[64];

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return strdup(buf);
	}
	return NULL;
}

/* Integers may arrive as numbers or, for some fields, as strings. */
int64_t co_json_int(const json_t *obj, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v)) {
		double d = json_real_value(v);

		/* Outside int64_t's range the conversion is undefined: 1e300. */
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0)
			return (int64_t)d;
		return dflt;
	}
	if (json_is_string(v)) {
		char *end;
		long long n = strtoll(json_string_value(v), &end, 10);

		if (end != json_string_value(v) && *end == '\0')
			return n;
	}
	return dflt;
}

/*
 * A count or a port a master or worker gives, in [0, INT_MAX], else 0 (not
 * known): any host may register as a worker, with 2^40 cores.
 */
int co_json_count(const json_t *obj, const char *key)
{
	int64_t n = co_json_int(obj, key, 0);

	return n >= 0 && n <= INT_MAX ? (int)n : 0;
}
