/* SPDX-License-Identifier: MIT */
/*
 * -s avro: keys and values in the schema registry's framing (a magic byte
 * 0, the schema id in 4 big-endian bytes, then the Avro binary datum),
 * decoded with avro-c against the schema the registry holds for that id
 * and written as one line of JSON, as kcat writes them.
 *
 * The registry and the messages are outside data: replies and schemas are
 * bounded, schemas are fetched once per id into a bounded cache, and each
 * datum is walked against its schema before avro-c reads it, so that no
 * length, count or nesting in it makes avro-c allocate more than the
 * datum could hold or recurse without end.
 */
#include "config.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct schema_entry {
	int32_t id;
	int status;			/* CO_OK, or why the id cannot be used */
	char *error;			/* the message that goes with status */
	avro_schema_t schema;
	avro_value_iface_t *iface;
};

struct co_kafka_avro {
	struct co_ctx *ctx;
	char *url;			/* without trailing slashes; NULL: none */
	struct schema_entry entries[CO_KAFKA_AVRO_MAX_SCHEMAS];
	size_t n;			/* entries in use */
	size_t next;			/* the one replaced when all are in use */
};

CO_API int co_kafka_avro_new(struct co_ctx *ctx, const char *url, struct co_kafka_avro **out)
{
	struct co_kafka_avro *a;
	size_t len;

	*out = NULL;
	if (url) {
		len = strlen(url);
		while (len && url[len - 1] == '/')
			len--;
		if (!len)
			return co_err(ctx, CO_EUSAGE, "the schema registry URL is empty");
		if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
			return co_err(ctx, CO_EUSAGE,
				      "schema registry URL '%s': expected http:// or https://", url);
	}
	if (co_lazy_need(ctx, CO_LAZY_AVRO))
		return CO_ESOFTWARE;	/* with its message */
	a = calloc(1, sizeof(*a));
	if (!a)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	a->ctx = ctx;
	if (url && !(a->url = strndup(url, len))) {
		free(a);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	*out = a;
	return CO_OK;
}

static void entry_clear(struct schema_entry *e)
{
	if (e->iface)
		avro_value_iface_decref(e->iface);
	if (e->schema)
		avro_schema_decref(e->schema);
	free(e->error);
	memset(e, 0, sizeof(*e));
}

CO_API void co_kafka_avro_free(struct co_kafka_avro *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		entry_clear(&a->entries[i]);
	free(a->url);
	free(a);
}

static struct schema_entry *lookup(struct co_kafka_avro *a, int32_t id)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->entries[i].id == id)
			return &a->entries[i];
	return NULL;
}

/* A slot for id: a free one, else the oldest filled. */
static struct schema_entry *slot(struct co_kafka_avro *a, int32_t id)
{
	struct schema_entry *e = lookup(a, id);

	if (!e) {
		if (a->n < CO_KAFKA_AVRO_MAX_SCHEMAS) {
			e = &a->entries[a->n++];
		} else {
			e = &a->entries[a->next];
			a->next = (a->next + 1) % CO_KAFKA_AVRO_MAX_SCHEMAS;
		}
	}
	entry_clear(e);
	e->id = id;
	return e;
}

/* Remember a failure for id: the message stays on the context too. */
static int entry_fail(struct co_kafka_avro *a, struct schema_entry *e, int status,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int entry_fail(struct co_kafka_avro *a, struct schema_entry *e, int status,
		      const char *fmt, ...)
{
	char msg[sizeof(a->ctx->errmsg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	e->status = status;
	e->error = strdup(msg);
	if (!e->error) {
		e->status = CO_ESOFTWARE;
		return co_err(a->ctx, CO_ESOFTWARE, "out of memory");
	}
	return co_err(a->ctx, status, "%s", msg);
}

/* Text from outside for a message: printable ASCII, at most max bytes. */
static void printable(char *out, size_t outsize, const char *s, size_t len)
{
	size_t n = 0, i;

	for (i = 0; i < len && n + 4 < outsize; i++)
		out[n++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[n] = '\0';
	if (i < len)
		snprintf(out + n, outsize - n, "...");
}

/*
 * What avro-c 1.11 does not check in a schema, or checks and then fails
 * on, found in its JSON first: a registry could otherwise crash kcat-lite
 * or make every new schema id cost memory for as long as it runs.
 *  - A named type (record, enum, fixed) defined twice: avro-c rejects it
 *    but loses what it built for the second definition. Full names follow
 *    avro-c's rules (a dotted name carries its namespace, else
 *    "namespace", else the enclosing record's), so what this rejects is
 *    what avro-c would.
 *  - A fixed type's size out of [0, CO_KAFKA_AVRO_MAX_FIXED]: avro-c
 *    takes a negative one and crashes building the schema's values.
 * why gets the message; seen holds the full names defined so far.
 */
static bool schema_problem(json_t *json, const char *parent_ns, json_t *seen, char *why,
			   size_t whysize, int depth)
{
	const char *type, *name, *dot;
	json_t *ns_json, *size, *field;
	char *ns = NULL, *full = NULL, shown[128];
	bool found = false;
	size_t i;

	if (depth > 4096)	/* deeper than any parser here lets through */
		return false;
	if (json_is_array(json)) {
		json_array_foreach(json, i, field)
			if (schema_problem(field, parent_ns, seen, why, whysize, depth + 1))
				return true;
		return false;
	}
	if (!json_is_object(json) || !(type = json_string_value(json_object_get(json, "type"))))
		return false;
	if (!strcmp(type, "array"))
		return schema_problem(json_object_get(json, "items"), parent_ns, seen, why,
				      whysize, depth + 1);
	if (!strcmp(type, "map"))
		return schema_problem(json_object_get(json, "values"), parent_ns, seen, why,
				      whysize, depth + 1);
	if ((strcmp(type, "record") && strcmp(type, "enum") && strcmp(type, "fixed")) ||
	    !(name = json_string_value(json_object_get(json, "name"))))
		return false;
	ns_json = json_object_get(json, "namespace");
	if ((dot = strrchr(name, '.'))) {
		ns = strndup(name, (size_t)(dot - name));
		name = dot + 1;
	} else if (json_is_string(ns_json)) {
		if (*json_string_value(ns_json))
			ns = strdup(json_string_value(ns_json));
	} else if (parent_ns) {
		ns = strdup(parent_ns);
	}
	if (ns ? asprintf(&full, "%s.%s", ns, name) < 0 : !(full = strdup(name)))
		full = NULL;
	if (!full) {
		free(ns);
		return false;	/* out of memory: avro-c will say so too */
	}
	printable(shown, sizeof(shown), full, strlen(full));
	size = json_object_get(json, "size");
	if (json_object_get(seen, full)) {
		snprintf(why, whysize, "%s is defined twice", shown);
		found = true;
	} else if (!strcmp(type, "fixed") && json_is_integer(size) &&
		   (json_integer_value(size) < 0 ||
		    json_integer_value(size) > CO_KAFKA_AVRO_MAX_FIXED)) {
		snprintf(why, whysize, "fixed %s has a size of %" JSON_INTEGER_FORMAT
			 " bytes, not 0 to %d", shown, json_integer_value(size),
			 CO_KAFKA_AVRO_MAX_FIXED);
		found = true;
	} else if (!json_object_set_new(seen, full, json_true()) && !strcmp(type, "record")) {
		json_array_foreach(json_object_get(json, "fields"), i, field)
			if ((found = schema_problem(json_object_get(field, "type"), ns, seen, why,
						    whysize, depth + 1)))
				break;
	}
	free(full);
	free(ns);
	return found;
}

/*
 * avro-c builds a value's records, and the records in their fields, all
 * at once and recursively: a record that holds itself other than through
 * a union, an array or a map would recurse without end, and a chain of
 * records deeper than a datum may nest only spends the stack. state maps
 * each record seen to 1 while it is being looked into, 2 once done.
 */
static int record_chain(avro_schema_t s, json_t *state, int depth, const char **name)
{
	char key[32];
	json_t *seen;
	int rc = 0;

	if (avro_typeof(s) == AVRO_LINK)
		s = avro_schema_link_target(s);
	if (avro_typeof(s) != AVRO_RECORD)
		return 0;
	snprintf(key, sizeof(key), "%p", (void *)s);
	if ((seen = json_object_get(state, key))) {
		*name = avro_schema_name(s);
		return json_integer_value(seen) == 1 ? 1 : 0;
	}
	*name = avro_schema_name(s);
	if (depth >= CO_KAFKA_AVRO_MAX_DEPTH)
		return 2;
	if (json_object_set_new(state, key, json_integer(1)))
		return -1;
	for (size_t i = 0; !rc && i < avro_schema_record_size(s); i++)
		rc = record_chain(avro_schema_record_field_get_by_index(s, (int)i), state,
				  depth + 1, name);
	if (!rc && json_object_set_new(state, key, json_integer(2)))
		rc = -1;
	return rc;
}

/*
 * Parse schema text into e. A schema that is a JSON string ("string") is
 * made an object first, as libserdes does: avro-c reads only objects and
 * arrays.
 */
static int load_schema(struct co_kafka_avro *a, struct schema_entry *e, const char *text,
		       size_t len)
{
	char *wrapped = NULL, why[400];
	const char *name = "?";
	json_t *root, *seen;
	int chain;
	bool bad;

	while (len && (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')) {
		text++;
		len--;
	}
	if (len && *text == '"') {
		if (asprintf(&wrapped, "{ \"type\": %.*s }", (int)len, text) < 0)
			return co_err(a->ctx, CO_ESOFTWARE, "out of memory");
		text = wrapped;
		len = strlen(wrapped);
	}
	if ((root = json_loadb(text, len, JSON_DECODE_ANY, NULL))) {
		seen = json_object();
		bad = seen && schema_problem(root, NULL, seen, why, sizeof(why), 0);
		json_decref(seen);
		json_decref(root);
		if (bad) {
			free(wrapped);
			return entry_fail(a, e, CO_EDATA, "schema %" PRId32 ": %s", e->id, why);
		}
	}
	if (avro_schema_from_json_length(text, len, &e->schema)) {
		e->schema = NULL;
		free(wrapped);
		return entry_fail(a, e, CO_EDATA, "schema %" PRId32 ": %s", e->id,
				  avro_strerror());
	}
	free(wrapped);
	seen = json_object();
	chain = seen ? record_chain(e->schema, seen, 0, &name) : -1;
	json_decref(seen);
	if (chain < 0)
		return co_err(a->ctx, CO_ESOFTWARE, "out of memory");
	if (chain == 1) {
		printable(why, sizeof(why), name, strlen(name));
		return entry_fail(a, e, CO_EDATA, "schema %" PRId32 ": record %s holds itself, "
				  "not through a union, an array or a map", e->id, why);
	}
	if (chain == 2)
		return entry_fail(a, e, CO_EDATA, "schema %" PRId32 ": records held in records "
				  "more than %d deep", e->id, CO_KAFKA_AVRO_MAX_DEPTH);
	e->iface = avro_generic_class_from_schema(e->schema);
	if (!e->iface)
		return entry_fail(a, e, CO_EDATA, "schema %" PRId32 ": %s", e->id,
				  avro_strerror());
	e->status = CO_OK;
	return CO_OK;
}

CO_API int co_kafka_avro_add_schema(struct co_kafka_avro *a, int32_t id, const char *text,
				    size_t len)
{
	if (len > CO_KAFKA_AVRO_MAX_SCHEMA)
		return co_err(a->ctx, CO_EDATA, "schema %" PRId32 ": larger than %u KiB", id,
			      CO_KAFKA_AVRO_MAX_SCHEMA >> 10);
	return load_schema(a, slot(a, id), text, len);
}

/* GET /schemas/ids/ID: {"schema": "<Avro schema as JSON text>", ...}. */
static int fetch_schema(struct co_kafka_avro *a, int32_t id, struct schema_entry **out)
{
	struct co_http_request req = { .method = CO_HTTP_GET,
				       .flags = CO_HTTP_ANY_STATUS | CO_HTTP_RETRY |
						CO_HTTP_DOCUMENT | CO_HTTP_NAMED_URL };
	struct co_http_response resp;
	struct schema_entry *e;
	json_error_t jerr;
	json_t *root = NULL, *schema, *type;
	char url[4096], body[256];
	int rc;

	if (!a->url)
		return co_err(a->ctx, CO_EUSAGE,
			      "Unable to load schema %" PRId32 " from registry: no registry URL", id);
	if ((size_t)snprintf(url, sizeof(url), "%s/schemas/ids/%" PRId32, a->url, id) >=
	    sizeof(url))
		return co_err(a->ctx, CO_EUSAGE, "the schema registry URL is too long");
	req.url = url;
	rc = co_http_request(a->ctx, &req, &resp);
	if (rc)
		return rc;	/* unreachable, timed out: not remembered */
	if (resp.status >= 300) {
		long status = resp.status;

		printable(body, sizeof(body), resp.body, resp.len);
		co_http_response_clear(&resp);
		/* An id the registry does not know: that message cannot be decoded. */
		rc = status == 401 || status == 403 ? CO_ENOPERM
		     : status >= 500 || status == 429 ? CO_EUNAVAILABLE
		     : status == 404 ? CO_EDATA : CO_EPROTOCOL;
		if (rc == CO_EUNAVAILABLE || rc == CO_ENOPERM)
			return co_err(a->ctx, rc, "%s: REST request failed (code %ld): %s", url,
				      status, body);
		*out = e = slot(a, id);
		return entry_fail(a, e, rc, "%s: REST request failed (code %ld): %s", url,
				  status, body);
	}
	*out = e = slot(a, id);
	if (resp.len > CO_KAFKA_AVRO_MAX_SCHEMA) {
		co_http_response_clear(&resp);
		return entry_fail(a, e, CO_EPROTOCOL, "%s: reply larger than %u KiB", url,
				  CO_KAFKA_AVRO_MAX_SCHEMA >> 10);
	}
	root = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
	co_http_response_clear(&resp);
	if (!root)
		return entry_fail(a, e, CO_EPROTOCOL,
				  "%s: Failed to read schema envelope: %s at line %d, column %d",
				  url, jerr.text, jerr.line, jerr.column);
	type = json_object_get(root, "schemaType");
	if (type && (!json_is_string(type) || strcmp(json_string_value(type), "AVRO"))) {
		printable(body, sizeof(body), json_is_string(type) ? json_string_value(type) : "?",
			  json_is_string(type) ? json_string_length(type) : 1);
		json_decref(root);
		return entry_fail(a, e, CO_EDATA, "schema %" PRId32 " is of type %s, not Avro",
				  id, body);
	}
	schema = json_object_get(root, "schema");
	if (!json_is_string(schema)) {
		json_decref(root);
		return entry_fail(a, e, CO_EPROTOCOL,
				  "%s: No \"schema\" string field in schema %" PRId32 " envelope",
				  url, id);
	}
	rc = load_schema(a, e, json_string_value(schema), json_string_length(schema));
	json_decref(root);
	return rc;
}

static int get_schema(struct co_kafka_avro *a, int32_t id, struct schema_entry **out)
{
	struct schema_entry *e = lookup(a, id);

	*out = NULL;
	if (e) {
		*out = e;
		return e->status ? co_err(a->ctx, e->status, "%s", e->error) : CO_OK;
	}
	return fetch_schema(a, id, out);
}

/* ---- the walk that bounds what avro-c reads ---------------------- */

struct walk {
	const unsigned char *p, *end;
	size_t len;			/* bytes of the datum */
	size_t values, max_values;	/* values walked, and the bound */
	char error[128];
};

static int walk_fail(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int walk_fail(struct walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->error, sizeof(w->error), fmt, ap);
	va_end(ap);
	return -1;
}

static int walk_long(struct walk *w, int64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 70; shift += 7) {
		unsigned char b;

		if (w->p == w->end)
			return walk_fail(w, "the data ends inside a number");
		b = *w->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
			return 0;
		}
	}
	return walk_fail(w, "Varint too long");
}

static int walk_skip(struct walk *w, int64_t n, const char *what)
{
	if (n < 0)
		return walk_fail(w, "Invalid %s length: %" PRId64, what, n);
	if ((uint64_t)n > (uint64_t)(w->end - w->p))
		return walk_fail(w, "%s of %" PRId64 " bytes, with %zu left", what, n,
				 (size_t)(w->end - w->p));
	w->p += n;
	return 0;
}

static int walk_value(struct walk *w, avro_schema_t s, int depth);

/* The blocks of an array or a map: counts, negative with a byte size. */
static int walk_blocks(struct walk *w, avro_schema_t items, bool map, int depth)
{
	for (;;) {
		int64_t count, size;

		if (walk_long(w, &count))
			return -1;
		if (!count)
			return 0;
		if (count < 0) {
			if (count == INT64_MIN)
				return walk_fail(w, "Invalid block count");
			count = -count;
			if (walk_long(w, &size))
				return -1;
			if (size < 0)
				return walk_fail(w, "Invalid block size: %" PRId64, size);
		}
		/* Each item counts as a value, and values are bounded. */
		for (int64_t i = 0; i < count; i++) {
			if (map) {
				if (walk_long(w, &size) || walk_skip(w, size, "map key"))
					return -1;
			}
			if (walk_value(w, items, depth + 1))
				return -1;
		}
	}
}

static int walk_value(struct walk *w, avro_schema_t s, int depth)
{
	int64_t n;

	if (depth > CO_KAFKA_AVRO_MAX_DEPTH)
		return walk_fail(w, "nested deeper than %d levels", CO_KAFKA_AVRO_MAX_DEPTH);
	if (++w->values > w->max_values)
		return walk_fail(w, "more than %zu values in %zu bytes", w->max_values,
				 w->len);
	switch (avro_typeof(s)) {
	case AVRO_NULL:
		return 0;
	case AVRO_BOOLEAN:
		return walk_skip(w, 1, "boolean");
	case AVRO_INT32:
		if (walk_long(w, &n))
			return -1;
		if (n < INT32_MIN || n > INT32_MAX)
			return walk_fail(w, "Varint out of range for int type");
		return 0;
	case AVRO_INT64:
		return walk_long(w, &n);
	case AVRO_FLOAT:
		return walk_skip(w, 4, "float");
	case AVRO_DOUBLE:
		return walk_skip(w, 8, "double");
	case AVRO_STRING:
		return walk_long(w, &n) || walk_skip(w, n, "string") ? -1 : 0;
	case AVRO_BYTES:
		return walk_long(w, &n) || walk_skip(w, n, "bytes") ? -1 : 0;
	case AVRO_FIXED:
		return walk_skip(w, avro_schema_fixed_size(s), "fixed");
	case AVRO_ENUM:
		if (walk_long(w, &n))
			return -1;
		if (n < 0 || n >= avro_schema_enum_number_of_symbols(s))
			return walk_fail(w, "enum index %" PRId64 " out of range", n);
		return 0;
	case AVRO_RECORD:
		for (size_t i = 0; i < avro_schema_record_size(s); i++)
			if (walk_value(w, avro_schema_record_field_get_by_index(s, (int)i),
				       depth + 1))
				return -1;
		return 0;
	case AVRO_ARRAY:
		return walk_blocks(w, avro_schema_array_items(s), false, depth);
	case AVRO_MAP:
		return walk_blocks(w, avro_schema_map_values(s), true, depth);
	case AVRO_UNION:
		if (walk_long(w, &n))
			return -1;
		if (n < 0 || (uint64_t)n >= avro_schema_union_size(s))
			return walk_fail(w, "union branch %" PRId64 " out of range", n);
		return walk_value(w, avro_schema_union_branch(s, (int)n), depth + 1);
	case AVRO_LINK:
		w->values--;
		return walk_value(w, avro_schema_link_target(s), depth + 1);
	default:
		return walk_fail(w, "unsupported schema type %d", (int)avro_typeof(s));
	}
}

/* ---- decoding ------------------------------------------------------ */

CO_API int co_kafka_avro_decode(struct co_kafka_avro *a, const void *data, size_t len,
				char **json, int32_t *schema_id)
{
	const unsigned char *b = data;
	struct schema_entry *e;
	struct walk w = { 0 };
	avro_reader_t reader = NULL;
	avro_value_t value;
	char *text = NULL;
	int32_t id;
	int rc;

	*json = NULL;
	if (len < 5)
		return co_err(a->ctx, CO_EDATA, "Payload is smaller (%zu) than framing (5)", len);
	if (b[0] != 0)
		return co_err(a->ctx, CO_EDATA,
			      "Invalid CP1 magic byte %d, expected 0: message not produced with "
			      "Schema-Registry Avro framing", b[0]);
	id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4]);
	if ((rc = get_schema(a, id, &e)))
		return rc;
	b += 5;
	len -= 5;
	if (avro_typeof(e->schema) == AVRO_BYTES) {
		/* The registry's serializers write a bytes schema's value bare,
		 * without a length: so does libserdes read it. */
		if (avro_generic_value_new(e->iface, &value))
			return co_err(a->ctx, CO_ESOFTWARE, "Avro: %s", avro_strerror());
		if (avro_value_set_bytes(&value, (void *)b, len)) {
			rc = co_err(a->ctx, CO_ESOFTWARE, "Avro: %s", avro_strerror());
			goto out;
		}
	} else {
		w.p = b;
		w.end = b + len;
		w.len = len;
		/* Nulls and empty records take no space: without a bound tied to
		 * the size, a few bytes would claim a million of them. */
		w.max_values = len > (CO_KAFKA_AVRO_MAX_VALUES - CO_KAFKA_AVRO_VALUES_FREE) /
					     CO_KAFKA_AVRO_VALUES_PER_BYTE
				       ? CO_KAFKA_AVRO_MAX_VALUES
				       : CO_KAFKA_AVRO_VALUES_FREE + len * CO_KAFKA_AVRO_VALUES_PER_BYTE;
		if (walk_value(&w, e->schema, 0))
			return co_err(a->ctx, CO_EDATA, "Failed to read avro value: %s", w.error);
		/*
		 * Only now the value: avro-c makes every field of a record at
		 * once, and a schema whose records hold two of the next record
		 * each would make 2^depth of them. The walk has counted each
		 * one it reaches against the bound of values.
		 */
		if (avro_generic_value_new(e->iface, &value))
			return co_err(a->ctx, CO_ESOFTWARE, "Avro: %s", avro_strerror());
		reader = avro_reader_memory((const char *)b, (int64_t)len);
		if (!reader) {
			rc = co_err(a->ctx, CO_ESOFTWARE, "out of memory");
			goto out;
		}
		if (avro_value_read(reader, &value)) {
			rc = co_err(a->ctx, CO_EDATA, "Failed to read avro value: %s",
				    avro_strerror());
			goto out;
		}
	}
	if (avro_value_to_json(&value, 1, &text)) {
		rc = co_err(a->ctx, CO_EDATA, "Failed to encode Avro as JSON");
		goto out;
	}
	*json = text;
	if (schema_id)
		*schema_id = id;
	rc = CO_OK;
out:
	if (reader)
		avro_reader_free(reader);
	avro_value_decref(&value);
	return rc;
}
