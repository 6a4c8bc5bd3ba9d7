/* SPDX-License-Identifier: MIT */
/*
 * How messages are written and read as text: kcat's -f format strings and
 * escapes, and the JSON envelope of -J, which is kcat's where kcat's is
 * valid JSON, with base64 for the bytes that are not UTF-8.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- escapes ------------------------------------------------------ */

CO_API size_t co_kafka_unescape(const char *in, char *out)
{
	const char *s = in;
	char *d = out;

	/* kcat's rules: \t \n \r, \xHH, and \NNN as C reads a number (a
	 * leading 0 octal, \033 ESC; 0x hexadecimal; else decimal), else the
	 * char. */
	while (*s) {
		if (*s == '\\' && s[1]) {
			char *next;
			int base = 0;

			s++;
			switch (*s) {
			case 't':
				*d = '\t';
				break;
			case 'n':
				*d = '\n';
				break;
			case 'r':
				*d = '\r';
				break;
			case 'x':
				s++;
				base = 16;
				/* fall through */
			case '0': case '1': case '2': case '3': case '4':
			case '5': case '6': case '7': case '8': case '9':
				*d = (char)strtoul(s, &next, base);
				if (next > s)
					s = next - 1;
				else if (base == 16)
					s--;	/* "\x" alone: kcat writes NUL */
				break;
			default:
				*d = *s;
				break;
			}
		} else {
			*d = *s;
		}
		s++;
		d++;
	}
	*d = '\0';
	return (size_t)(d - out);
}

/* ---- -f format strings -------------------------------------------- */

enum fmt_type {
	FMT_STR, FMT_OFFSET, FMT_KEY, FMT_KEY_LEN, FMT_PAYLOAD, FMT_PAYLOAD_LEN,
	FMT_PAYLOAD_LEN_BINARY, FMT_TOPIC, FMT_PARTITION, FMT_TIMESTAMP, FMT_HEADERS,
};

struct fmt_item {
	enum fmt_type type;
	char *str;
	size_t len;
};

/* The % tokens and what each stands for. */
static const char fmt_tokens[] = "okKsSRtpTh";
static const enum fmt_type fmt_types[] = {
	FMT_OFFSET, FMT_KEY, FMT_KEY_LEN, FMT_PAYLOAD, FMT_PAYLOAD_LEN,
	FMT_PAYLOAD_LEN_BINARY, FMT_TOPIC, FMT_PARTITION, FMT_TIMESTAMP, FMT_HEADERS,
};

struct co_kafka_format {
	size_t n;
	struct fmt_item *items;
	char *null_str;		/* written for empty keys and payloads, or NULL */
	char *pack[2];		/* -s: pack-str of the key and of the payload */
	char error[256];	/* why a field did not unpack */
};

CO_API void co_kafka_format_free(struct co_kafka_format *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->items[i].str);
	free(f->items);
	free(f->null_str);
	free(f->pack[0]);
	free(f->pack[1]);
	free(f);
}

static int fmt_add(struct co_kafka_format *f, enum fmt_type type, const char *s, size_t len)
{
	struct fmt_item *it = realloc(f->items, (f->n + 1) * sizeof(*it));

	if (!it)
		return -1;
	f->items = it;
	it = &f->items[f->n];
	it->type = type;
	it->str = NULL;
	it->len = 0;
	if (type == FMT_STR) {
		char *raw = strndup(s, len);

		if (!raw)
			return -1;
		it->str = malloc(len + 1);
		if (!it->str) {
			free(raw);
			return -1;
		}
		it->len = co_kafka_unescape(raw, it->str);
		free(raw);
	}
	f->n++;
	return 0;
}

CO_API int co_kafka_format_parse(struct co_ctx *ctx, const char *fmt, const char *null_str,
				 struct co_kafka_format **out)
{
	struct co_kafka_format *f = calloc(1, sizeof(*f));
	const char *s = fmt, *t;
	int rc = CO_OK;

	*out = NULL;
	if (!f || (null_str && !(f->null_str = strdup(null_str))))
		goto oom;
	while (*s) {
		t = strchr(s, '%');
		if (!t) {
			if (fmt_add(f, FMT_STR, s, strlen(s)))
				goto oom;
			break;
		}
		if (t > s && fmt_add(f, FMT_STR, s, (size_t)(t - s)))
			goto oom;
		s = t + 1;
		if (*s == '%') {
			if (fmt_add(f, FMT_STR, "%", 1))
				goto oom;
		} else if (*s && strchr(fmt_tokens, *s)) {
			if (fmt_add(f, fmt_types[strchr(fmt_tokens, *s) - fmt_tokens], NULL, 0))
				goto oom;
		} else if (!*s) {
			rc = co_err(ctx, CO_EUSAGE, "format '%s': empty formatter at the end", fmt);
			goto fail;
		} else {
			rc = co_err(ctx, CO_EUSAGE, "format '%s': unsupported formatter %%%c",
				    fmt, *s);
			goto fail;
		}
		s++;
	}
	*out = f;
	return CO_OK;
oom:
	rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
fail:
	co_kafka_format_free(f);
	return rc;
}

CO_API bool co_kafka_format_uses(const struct co_kafka_format *f, char token)
{
	const char *t = token ? strchr(fmt_tokens, token) : NULL;

	if (!t)
		return false;
	for (size_t i = 0; i < f->n; i++)
		if (f->items[i].type == fmt_types[t - fmt_tokens])
			return true;
	return false;
}

static void write_headers(const struct co_kafka_msg *m, FILE *out)
{
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct co_kafka_header *h = &m->headers[i];

		fprintf(out, "%s%s=", i ? "," : "", h->name);
		if (h->value && h->len)
			fwrite(h->value, 1, h->len, out);
		else if (!h->value)
			fputs("NULL", out);
	}
}

/* ---- -s pack-str deserializers ------------------------------------ */

static const char pack_tokens[] = " <>bBhHiIqQcs$";

CO_API int co_kafka_pack_check(struct co_ctx *ctx, const char *pack)
{
	if (!*pack)
		return co_err(ctx, CO_EUSAGE, "the pack-format is empty");
	for (const char *p = pack; *p; p++)
		if (!strchr(pack_tokens, *p))
			return co_err(ctx, CO_EUSAGE, "invalid token '%c' in the pack-format",
				      *p);
	return CO_OK;
}

CO_API int co_kafka_format_set_pack(struct co_ctx *ctx, struct co_kafka_format *f,
				    enum co_kafka_field field, const char *pack)
{
	char *copy;
	int rc = co_kafka_pack_check(ctx, pack);

	if (rc)
		return rc;
	copy = strdup(pack);
	if (!copy)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	free(f->pack[field]);
	f->pack[field] = copy;
	return CO_OK;
}

CO_API const char *co_kafka_format_error(const struct co_kafka_format *f)
{
	return f->error;
}

/* An integer of size bytes at b, in the byte order asked for. */
static uint64_t unpack_uint(const unsigned char *b, size_t size, bool little)
{
	uint64_t v = 0;

	for (size_t i = 0; i < size; i++)
		v |= (uint64_t)b[little ? i : size - 1 - i] << (8 * i);
	return v;
}

/* Write data through pack; -1 with f->error set when it does not match. */
static int unpack(struct co_kafka_format *f, const char *what, const char *pack,
		  const unsigned char *b, size_t len, FILE *out)
{
	const unsigned char *end = b + len;
	bool little = false;

	for (const char *p = pack; *p; p++) {
		size_t remaining = (size_t)(end - b), size = 0;
		uint64_t v;

		switch (*p) {
		case ' ':
			if (out)
				fputc(' ', out);
			continue;
		case '<': little = true; continue;
		case '>': little = false; continue;
		case 'b': case 'B': case 'c': size = 1; break;
		case 'h': case 'H': size = 2; break;
		case 'i': case 'I': size = 4; break;
		case 'q': case 'Q': size = 8; break;
		case 's':
			if (out)
				fwrite(b, 1, remaining, out);
			b = end;
			continue;
		case '$':
			if (remaining) {
				snprintf(f->error, sizeof(f->error),
					 "expected %s end-of-input, but %zu bytes remaining",
					 what, remaining);
				return -1;
			}
			continue;
		}
		if (size > remaining) {
			snprintf(f->error, sizeof(f->error),
				 "%s truncated, expected %zu bytes to unpack %c but only %zu "
				 "bytes remaining", what, size, *p, remaining);
			return -1;
		}
		v = unpack_uint(b, size, little);
		b += size;
		if (!out)
			continue;
		switch (*p) {
		case 'c': fputc((int)v, out); break;
		case 'b': fprintf(out, "%d", (int)(int8_t)v); break;
		case 'h': fprintf(out, "%d", (int)(int16_t)v); break;
		case 'i': fprintf(out, "%" PRId32, (int32_t)v); break;
		case 'q': fprintf(out, "%" PRId64, (int64_t)v); break;
		default: fprintf(out, "%" PRIu64, v); break;
		}
	}
	return 0;
}

/*
 * A key or payload: through its pack-str when it has one and is not empty,
 * or as decoded (-s avro). With out NULL, only whether it can be: 0, or -1
 * with the format's error set.
 */
static int write_field(const struct co_kafka_format *f, enum co_kafka_field field,
		       const struct co_kafka_decoded *dec, const void *data, size_t len,
		       FILE *out)
{
	if (!len) {
		if (f->null_str && out)
			fputs(f->null_str, out);
		return 0;
	}
	if (dec) {
		if (dec->json) {
			if (out)
				fputs(dec->json, out);
			return 0;
		}
		snprintf(((struct co_kafka_format *)f)->error, sizeof(f->error),
			 "Avro/Schema-registry %s deserialization: %s",
			 field == CO_KAFKA_FIELD_KEY ? "key" : "message", dec->error);
		return -1;
	}
	if (f->pack[field])
		return unpack((struct co_kafka_format *)f,
			      field == CO_KAFKA_FIELD_KEY ? "key" : "value", f->pack[field],
			      data, len, out);
	if (out)
		fwrite(data, 1, len, out);
	return 0;
}

CO_API int co_kafka_format_write(const struct co_kafka_format *f,
				 const struct co_kafka_msg *m, FILE *out)
{
	/* A field that cannot be shown fails the message before any of it is
	 * written: never half a line, run into the next message's. */
	if (f->pack[0] || f->pack[1] || m->decoded[0] || m->decoded[1])
		for (size_t i = 0; i < f->n; i++)
			if ((f->items[i].type == FMT_KEY &&
			     write_field(f, CO_KAFKA_FIELD_KEY, m->decoded[0], m->key, m->key_len,
					 NULL)) ||
			    (f->items[i].type == FMT_PAYLOAD &&
			     write_field(f, CO_KAFKA_FIELD_VALUE, m->decoded[1], m->payload, m->len,
					 NULL)))
				return CO_EDATA;
	for (size_t i = 0; i < f->n; i++) {
		const struct fmt_item *it = &f->items[i];
		uint32_t belen;
		unsigned char be[4];

		switch (it->type) {
		case FMT_STR:
			fwrite(it->str, 1, it->len, out);
			break;
		case FMT_OFFSET:
			fprintf(out, "%" PRId64, m->offset);
			break;
		case FMT_KEY:
			if (write_field(f, CO_KAFKA_FIELD_KEY, m->decoded[0], m->key, m->key_len, out))
				return CO_EDATA;
			break;
		case FMT_KEY_LEN:
			fprintf(out, "%zd", m->key ? (ssize_t)m->key_len : (ssize_t)-1);
			break;
		case FMT_PAYLOAD:
			if (write_field(f, CO_KAFKA_FIELD_VALUE, m->decoded[1], m->payload, m->len, out))
				return CO_EDATA;
			break;
		case FMT_PAYLOAD_LEN:
			fprintf(out, "%zd", m->payload ? (ssize_t)m->len : (ssize_t)-1);
			break;
		case FMT_PAYLOAD_LEN_BINARY:
			belen = m->payload ? (uint32_t)m->len : UINT32_MAX;
			be[0] = (unsigned char)(belen >> 24);
			be[1] = (unsigned char)(belen >> 16);
			be[2] = (unsigned char)(belen >> 8);
			be[3] = (unsigned char)belen;
			fwrite(be, 1, 4, out);
			break;
		case FMT_TOPIC:
			fputs(m->topic, out);
			break;
		case FMT_PARTITION:
			fprintf(out, "%" PRId32, m->partition);
			break;
		case FMT_TIMESTAMP:
			fprintf(out, "%" PRId64, m->ts);
			break;
		case FMT_HEADERS:
			write_headers(m, out);
			break;
		}
	}
	return ferror(out) ? CO_EIO : CO_OK;
}

/* ---- base64 (UTF-8 is lib/utf8.c's) ------------------------------- */

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void write_base64(const unsigned char *s, size_t len, FILE *out)
{
	char q[4];

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		q[0] = b64chars[v >> 18 & 63];
		q[1] = b64chars[v >> 12 & 63];
		q[2] = i + 1 < len ? b64chars[v >> 6 & 63] : '=';
		q[3] = i + 2 < len ? b64chars[v & 63] : '=';
		fwrite(q, 1, 4, out);
	}
}

/* Decode base64 (padding optional) into out, which holds len*3/4+3 bytes. */
static int base64_decode(const char *s, size_t len, unsigned char *out, size_t *outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		const char *p;

		if (s[i] == '=')
			break;
		p = s[i] ? strchr(b64chars, s[i]) : NULL;
		if (!p)
			return -1;
		acc = acc << 6 | (uint32_t)(p - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*outlen = n;
	return 0;
}

/* ---- JSON envelope ------------------------------------------------ */

/* A JSON string escaped as yajl (and so kcat) does; invalid UTF-8 bytes
 * become U+FFFD, so the output is always valid. */
static void write_json_string(const void *data, size_t len, FILE *out)
{
	const unsigned char *s = data;
	size_t i = 0, run = 0;

	fputc('"', out);
	while (i < len) {
		unsigned char c = s[i];
		const char *esc = NULL;
		char hex[8];
		size_t n;

		switch (c) {
		case '\r': esc = "\\r"; break;
		case '\n': esc = "\\n"; break;
		case '\\': esc = "\\\\"; break;
		case '"': esc = "\\\""; break;
		case '\f': esc = "\\f"; break;
		case '\b': esc = "\\b"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c < 0x20) {
				snprintf(hex, sizeof(hex), "\\u00%02X", c);
				esc = hex;
			}
		}
		n = esc ? 0 : co_utf8_sequence(s + i, len - i);
		if (esc || !n) {
			fwrite(s + run, 1, i - run, out);
			fputs(esc ? esc : "\xef\xbf\xbd", out);
			i++;
			run = i;
		} else {
			i += n;
		}
	}
	fwrite(s + run, 1, i - run, out);
	fputc('"', out);
}

/* A header name or value: a string when UTF-8, else {"b64":"..."}. */
static void write_json_bytes(const void *data, size_t len, FILE *out)
{
	if (co_utf8_valid(data, len)) {
		write_json_string(data, len, out);
	} else {
		fputs("{\"b64\":\"", out);
		write_base64(data, len, out);
		fputs("\"}", out);
	}
}

/* "name":value[,"name_b64":"..."] for the key and the payload. */
static void write_json_field(const char *name, const void *data, size_t len, FILE *out)
{
	fprintf(out, ",\"%s\":", name);
	if (!data) {
		fputs("null", out);
		return;
	}
	write_json_string(data, len, out);
	if (!co_utf8_valid(data, len)) {
		fprintf(out, ",\"%s_b64\":\"", name);
		write_base64(data, len, out);
		fputc('"', out);
	}
}

/* kcat's -s avro fields: the JSON verbatim and its schema id, or null and why. */
static void write_json_decoded(const char *name, const char *id_name,
			       const struct co_kafka_decoded *dec, FILE *out)
{
	if (dec->json) {
		fprintf(out, ",\"%s\":%s,\"%s_schema_id\":%" PRId32, name, dec->json, id_name,
			dec->schema_id);
		return;
	}
	fprintf(out, ",\"%s\":null,\"%s_error\":", name, name);
	write_json_string(dec->error, strlen(dec->error), out);
}

CO_API int co_kafka_json_write(const struct co_kafka_msg *m, FILE *out)
{
	static const char *const tstypes[] = { NULL, "create", "logappend" };

	fputs("{\"topic\":", out);
	write_json_string(m->topic, strlen(m->topic), out);
	fprintf(out, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64, m->partition,
		m->offset);
	if (m->tstype == CO_KAFKA_TS_CREATE || m->tstype == CO_KAFKA_TS_LOGAPPEND)
		fprintf(out, ",\"tstype\":\"%s\",\"ts\":%" PRId64, tstypes[m->tstype], m->ts);
	fprintf(out, ",\"broker\":%" PRId32, m->broker);
	if (m->n_headers) {
		fputs(",\"headers\":[", out);
		for (size_t i = 0; i < m->n_headers; i++) {
			const struct co_kafka_header *h = &m->headers[i];

			if (i)
				fputc(',', out);
			write_json_bytes(h->name, strlen(h->name), out);
			fputc(',', out);
			if (h->value)
				write_json_bytes(h->value, h->len, out);
			else
				fputs("null", out);
		}
		fputc(']', out);
	}
	if (m->key && m->decoded[0])
		write_json_decoded("key", "key", m->decoded[0], out);
	else
		write_json_field("key", m->key, m->key_len, out);
	if (m->payload && m->decoded[1])
		write_json_decoded("payload", "value", m->decoded[1], out);
	else
		write_json_field("payload", m->payload, m->len, out);
	fputc('}', out);
	return ferror(out) ? CO_EIO : CO_OK;
}

/* Bytes of a decoded field, pointing into the jansson value or into a
 * decoded base64 buffer. */
struct bytes {
	const char *data;	/* NULL: JSON null */
	size_t len;
	unsigned char *owned;
};

static int json_bytes(struct co_ctx *ctx, json_t *v, json_t *b64, const char *what,
		      struct bytes *out)
{
	memset(out, 0, sizeof(*out));
	if (json_is_object(v) && !b64)
		b64 = json_object_get(v, "b64");
	if (b64) {
		const char *s = json_string_value(b64);
		size_t n = json_string_length(b64);

		if (!s)
			return co_err(ctx, CO_EDATA, "%s: base64 must be a string", what);
		out->owned = malloc(n / 4 * 3 + 4);
		if (!out->owned)
			return co_err(ctx, CO_ESOFTWARE, "out of memory");
		if (base64_decode(s, n, out->owned, &out->len)) {
			free(out->owned);
			out->owned = NULL;
			return co_err(ctx, CO_EDATA, "%s: invalid base64", what);
		}
		out->data = (const char *)out->owned;
		return CO_OK;
	}
	if (!v || json_is_null(v))
		return CO_OK;
	if (!json_is_string(v))
		return co_err(ctx, CO_EDATA, "%s: expected a string or null", what);
	out->data = json_string_value(v);
	out->len = json_string_length(v);
	return CO_OK;
}

CO_API void co_kafka_msg_free(struct co_kafka_msg *m)
{
	free(m);	/* one allocation holds everything */
}

static int decode_obj(struct co_ctx *ctx, json_t *root, struct co_kafka_msg **out)
{
	struct bytes key, payload, *hb = NULL;
	json_t *headers = json_object_get(root, "headers"), *v;
	size_t nh = 0, total, i;
	struct co_kafka_msg *m;
	char *p;
	int rc;

	rc = json_bytes(ctx, json_object_get(root, "key"), json_object_get(root, "key_b64"),
			"key", &key);
	if (rc)
		return rc;
	rc = json_bytes(ctx, json_object_get(root, "payload"),
			json_object_get(root, "payload_b64"), "payload", &payload);
	if (rc)
		goto done;
	if (headers && !json_is_null(headers)) {
		if (!json_is_array(headers) || json_array_size(headers) % 2) {
			rc = co_err(ctx, CO_EDATA, "headers: expected an array of name, value pairs");
			goto done;
		}
		nh = json_array_size(headers) / 2;
		hb = calloc(nh * 2 + 1, sizeof(*hb));
		if (!hb) {
			rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
			goto done;
		}
		for (i = 0; i < nh * 2 && !rc; i++)
			rc = json_bytes(ctx, json_array_get(headers, i), NULL,
					i % 2 ? "header value" : "header name", &hb[i]);
		for (i = 0; i < nh * 2 && !rc; i += 2)
			if (!hb[i].data || memchr(hb[i].data, '\0', hb[i].len))
				rc = co_err(ctx, CO_EDATA, "header name: expected a string without NUL");
		if (rc)
			goto done;
	}
	total = sizeof(*m) + nh * sizeof(struct co_kafka_header) + key.len + payload.len + 2;
	for (i = 0; i < nh * 2; i++)
		total += hb[i].len + 1;
	m = calloc(1, total);
	if (!m) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto done;
	}
	m->headers = (struct co_kafka_header *)(m + 1);
	m->n_headers = nh;
	p = (char *)(m->headers + nh);
	for (i = 0; i < nh; i++) {
		struct co_kafka_header *h = (struct co_kafka_header *)&m->headers[i];

		memcpy(p, hb[2 * i].data, hb[2 * i].len);
		h->name = p;
		p += hb[2 * i].len + 1;
		if (hb[2 * i + 1].data) {
			memcpy(p, hb[2 * i + 1].data, hb[2 * i + 1].len);
			h->value = p;
			h->len = hb[2 * i + 1].len;
			p += h->len + 1;
		}
	}
	if (key.data) {
		memcpy(p, key.data, key.len);
		m->key = p;
		m->key_len = key.len;
		p += key.len + 1;
	}
	if (payload.data) {
		memcpy(p, payload.data, payload.len);
		m->payload = p;
		m->len = payload.len;
	}
	m->topic = NULL;
	v = json_object_get(root, "partition");
	m->partition = json_is_integer(v) ? (int32_t)json_integer_value(v) : -1;
	v = json_object_get(root, "ts");
	m->ts = json_is_integer(v) ? json_integer_value(v) : 0;
	m->offset = -1;
	m->broker = -1;
	*out = m;
done:
	free(key.owned);
	free(payload.owned);
	for (i = 0; hb && i < nh * 2; i++)
		free(hb[i].owned);
	free(hb);
	return rc;
}

CO_API int co_kafka_json_read(struct co_ctx *ctx, const char *text, size_t len,
			      struct co_kafka_msg **out)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	*out = NULL;
	root = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return co_err(ctx, CO_EDATA, "invalid JSON at column %d: %s", jerr.column,
			      jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return co_err(ctx, CO_EDATA, "expected a JSON object");
	}
	rc = decode_obj(ctx, root, out);
	json_decref(root);
	return rc;
}
