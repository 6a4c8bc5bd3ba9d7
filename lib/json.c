/* SPDX-License-Identifier: MIT */
/* Reading Spark's JSON with jansson: tolerant of extra fields, strict on types. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
 * A document parsed whole (a worker's status, a REST or history reply) is
 * at most CO_HTTP_MAX_DOC bytes, but its tree takes some 80 bytes a value
 * and 230 an object: 8 MiB of "{}," would take 600 MiB. Its values are
 * counted first, by its punctuation: a real worker that keeps 1,000
 * finished executors sends some 50,000 values in 10,000 objects and arrays.
 */
#define DOC_VALUES_MAX 250000
#define DOC_CONTAINERS_MAX 50000

static bool too_many_values(const char *text, size_t len)
{
	size_t values = 0, containers = 0;
	struct co_json_scan scan = { 0 };

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!co_json_scan_step(&scan, c)) {
			continue;
		} else if (c == '{' || c == '[') {
			if (++containers > DOC_CONTAINERS_MAX)
				return true;
		} else if (c == ',' && ++values > DOC_VALUES_MAX) {
			return true;
		}
	}
	return false;
}

int co_json_parse(struct co_ctx *ctx, const char *text, size_t len,
		  const char *origin, json_t **out)
{
	json_error_t err;

	*out = NULL;
	if (too_many_values(text, len))
		return co_err(ctx, CO_EPROTOCOL, "%s: more than %d values or %d objects and "
			      "arrays: not a Spark document", origin, DOC_VALUES_MAX,
			      DOC_CONTAINERS_MAX);
	*out = json_loadb(text, len, JSON_ALLOW_NUL, &err);
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

char *co_json_string_dup(const json_t *v)
{
	size_t len = json_string_length(v);
	char *s = malloc(len + 1);

	if (!s)
		return NULL;
	memcpy(s, json_string_value(v), len + 1);
	/* Spark writes a NUL in a name as \u0000, and the documents are
	 * parsed with JSON_ALLOW_NUL so that one such name does not make the
	 * whole document unreadable: it is shown as '?', as control
	 * characters are, and cannot cut an id short into another's. */
	for (size_t i = 0; i < len; i++)
		if (!s[i])
			s[i] = '?';
	return s;
}

char *co_json_strdup(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	char buf[64];

	if (json_is_string(v))
		return co_json_string_dup(v);
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

		/* all of it: "5\u0000x" is not 5 */
		if (end != json_string_value(v) &&
		    (size_t)(end - json_string_value(v)) == json_string_length(v))
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
