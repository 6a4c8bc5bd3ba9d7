/* SPDX-License-Identifier: MIT */
/*
 * Kafka client configuration: librdkafka properties from -X arguments and
 * property files in kcat's format, merged over the toolkit's broker list
 * into an rd_kafka_conf_t.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "internal.h"

/* The largest property file read: 1 MiB. */
#define CO_KAFKA_PROPS_FILE_MAX (1024 * 1024)

struct co_kafka_props {
	size_t n, cap;
	char **names;
	char **values;
	char **origins;		/* the file each came from, or NULL */
};

CO_API struct co_kafka_props *co_kafka_props_new(void)
{
	return calloc(1, sizeof(struct co_kafka_props));
}

CO_API void co_kafka_props_free(struct co_kafka_props *props)
{
	if (!props)
		return;
	for (size_t i = 0; i < props->n; i++) {
		free(props->names[i]);
		free(props->values[i]);
		free(props->origins[i]);
	}
	free(props->names);
	free(props->values);
	free(props->origins);
	free(props);
}

/* Set name, which came from the file origin (NULL: not from a file). */
static int props_set(struct co_ctx *ctx, struct co_kafka_props *props, const char *name,
		     const char *value, const char *origin)
{
	char *n, *v, *o = NULL;

	if (!*name)
		return co_err(ctx, CO_EUSAGE, "empty property name");
	if (origin && !(o = strdup(origin)))
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	for (size_t i = 0; i < props->n; i++) {
		if (strcmp(props->names[i], name) == 0) {
			v = strdup(value);
			if (!v) {
				free(o);
				return co_err(ctx, CO_ESOFTWARE, "out of memory");
			}
			free(props->values[i]);
			props->values[i] = v;
			free(props->origins[i]);
			props->origins[i] = o;
			return CO_OK;
		}
	}
	if (props->n == props->cap) {
		size_t cap = props->cap ? props->cap * 2 : 8;
		char **pn = realloc(props->names, cap * sizeof(*pn));

		if (pn)
			props->names = pn;
		if (pn && (pn = realloc(props->values, cap * sizeof(*pn))))
			props->values = pn;
		if (pn && (pn = realloc(props->origins, cap * sizeof(*pn))))
			props->origins = pn;
		if (!pn) {
			free(o);
			return co_err(ctx, CO_ESOFTWARE, "out of memory");
		}
		props->cap = cap;
	}
	n = strdup(name);
	v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		free(o);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	props->names[props->n] = n;
	props->values[props->n] = v;
	props->origins[props->n] = o;
	props->n++;
	return CO_OK;
}

CO_API int co_kafka_props_set(struct co_ctx *ctx, struct co_kafka_props *props,
			      const char *name, const char *value)
{
	return props_set(ctx, props, name, value, NULL);
}

CO_API int co_kafka_props_merge(struct co_ctx *ctx, struct co_kafka_props *dst,
				const struct co_kafka_props *src)
{
	int rc;

	for (size_t i = 0; i < src->n; i++)
		if (!co_kafka_props_get(dst, src->names[i]) &&
		    (rc = props_set(ctx, dst, src->names[i], src->values[i], src->origins[i])))
			return rc;
	return CO_OK;
}

CO_API int co_kafka_props_add_arg(struct co_ctx *ctx, struct co_kafka_props *props,
				  const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *name;
	int rc;

	/* Only the name: what follows may be a secret given with ':' or ' '. */
	if (!eq || eq == arg) {
		size_t n = strcspn(arg, ":= \t");

		if (!n)
			return co_err(ctx, CO_EUSAGE, "expected property=value, not a value alone");
		return co_err(ctx, CO_EUSAGE, "'%.*s': expected property=value", (int)n, arg);
	}
	name = strndup(arg, (size_t)(eq - arg));
	if (!name)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = co_kafka_props_set(ctx, props, name, eq + 1);
	free(name);
	return rc;
}

CO_API bool co_kafka_property_secret(const char *name)
{
	return strstr(name, "password") || strstr(name, "secret") ||
	       strstr(name, "basic.auth.user.info") || strcmp(name, "sasl.jaas.config") == 0 ||
	       strcmp(name, "ssl.key.pem") == 0 || strcmp(name, "sasl.oauthbearer.config") == 0;
}

/* Java client properties that librdkafka has no use for. */
static bool java_only(const char *name)
{
	static const char *const names[] = {
		"client.dns.lookup", "key.serializer", "value.serializer",
		"key.deserializer", "value.deserializer",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return strncmp(name, "schema.registry.", 16) == 0 ||
	       strncmp(name, "basic.auth.", 11) == 0;
}

/*
 * One option of a JAAS line: NAME=VALUE with the value quoted ("" or '')
 * or bare, up to white space or ';'. In a quoted value a backslash escapes
 * as Java's StreamTokenizer (which reads JAAS lines) has it: \a \b \f \n
 * \r \t \v, up to three octal digits, and any other character stands for
 * itself (\\ a backslash, \" a quote). Returns the position after it, or
 * NULL at the end of the line; *nul is set when the value holds a NUL.
 */
static const char *jaas_option(const char *s, char *name, size_t nsize, char *value,
			       size_t vsize, bool *nul)
{
	size_t n = 0;
	char quote = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s || *s == ';')
		return NULL;
	while (*s && *s != '=' && !isspace((unsigned char)*s) && *s != ';')
		if (n + 1 < nsize)
			name[n++] = *s++;
		else
			s++;
	name[n] = '\0';
	n = 0;
	if (*s == '=') {
		s++;
		if (*s == '"' || *s == '\'')
			quote = *s++;
		while (*s && (quote ? *s != quote : !isspace((unsigned char)*s) && *s != ';')) {
			int c = (unsigned char)*s++;

			if (quote && c == '\\' && *s) {
				static const char from[] = "abfnrtv", to[] = "\a\b\f\n\r\t\v";
				const char *e = strchr(from, *s);

				if (*s >= '0' && *s <= '7') {
					int max = *s <= '3' ? 3 : 2;

					c = 0;
					for (int i = 0; i < max && *s >= '0' && *s <= '7'; i++)
						c = c * 8 + (*s++ - '0');
				} else {
					c = e ? to[e - from] : (unsigned char)*s;
					s++;
				}
				if (!c)
					*nul = true;
			}
			if (n + 1 < vsize)
				value[n++] = (char)c;
		}
		if (quote && *s == quote)
			s++;
	}
	value[n] = '\0';
	return s;
}

/* sasl.jaas.config "org...PlainLoginModule required username=... password=...;" */
static int jaas_convert(struct co_ctx *ctx, struct co_kafka_props *props, const char *v,
			const char *origin, int lineno)
{
	char module[256], flag[64], name[64], value[1024];
	char user[1024] = "", pass[1024] = "";
	const char *s = v;
	bool have_user = false, have_pass = false, nul = false;
	int rc;

	if (sscanf(s, "%255s %63s", module, flag) != 2 ||
	    (!strstr(module, ".plain.PlainLoginModule") &&
	     !strstr(module, ".scram.ScramLoginModule")))
		return co_err(ctx, CO_EDATA,
			      "%s:%d: sasl.jaas.config: only the PLAIN and SCRAM login modules "
			      "convert to librdkafka's sasl.username and sasl.password", origin,
			      lineno);
	s = strstr(s, flag) + strlen(flag);
	while ((s = jaas_option(s, name, sizeof(name), value, sizeof(value), &nul))) {
		if (strcmp(name, "username") == 0) {
			memcpy(user, value, sizeof(user));
			have_user = true;
		} else if (strcmp(name, "password") == 0) {
			memcpy(pass, value, sizeof(pass));
			have_pass = true;
		}
	}
	explicit_bzero(value, sizeof(value));
	if (nul)
		rc = co_err(ctx, CO_EDATA, "%s:%d: sasl.jaas.config: a NUL byte in a value", origin,
			    lineno);
	else if (!have_user || !have_pass)
		rc = co_err(ctx, CO_EDATA, "%s:%d: sasl.jaas.config: no username or password",
			    origin, lineno);
	else if (!(rc = props_set(ctx, props, "sasl.username", user, origin)))
		rc = props_set(ctx, props, "sasl.password", pass, origin);
	explicit_bzero(pass, sizeof(pass));
	return rc;
}

/*
 * A property from a file is tried on a scratch configuration as it is
 * read, so that one librdkafka does not know, or a value it refuses, is
 * bad data at its FILE:LINE rather than a usage error without a place.
 * plugin.library.paths loads its plugins when set: it is left to the
 * configuration that is used.
 */
static int file_prop_check(struct co_ctx *ctx, rd_kafka_conf_t *scratch, const char *name,
			   const char *value, const char *origin, int lineno)
{
	char errstr[512];

	if (strcmp(name, "plugin.library.paths") == 0 ||
	    rd_kafka_conf_set(scratch, name, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
		return CO_OK;
	if (co_kafka_property_secret(name) && *value && strstr(errstr, value))
		return co_err(ctx, CO_EDATA, "%s:%d: property %s: invalid value (not shown)",
			      origin, lineno, name);
	return co_err(ctx, CO_EDATA, "%s:%d: property %s: %s", origin, lineno, name, errstr);
}

/* One name=value from a file, as a Java client file means it. */
static int props_set_from_file(struct co_ctx *ctx, struct co_kafka_props *props,
			       rd_kafka_conf_t *scratch, char *name, char *value,
			       const char *origin, int lineno)
{
	int rc;

	/* kcat reads its -r from a file too: kept, never given to librdkafka */
	if (strcmp(name, CO_KAFKA_REGISTRY_PROPERTY) == 0)
		return props_set(ctx, props, name, value, origin);
	if (java_only(name))
		return CO_OK;
	if (strcmp(name, "sasl.jaas.config") == 0)
		return jaas_convert(ctx, props, value, origin, lineno);
	if (strcmp(name, "ssl.endpoint.identification.algorithm") == 0 && !*value)
		value = "none";
	if ((rc = file_prop_check(ctx, scratch, name, value, origin, lineno)))
		return rc;
	return props_set(ctx, props, name, value, origin);
}

/* White space as java.util.Properties has it. */
static bool java_space(char c)
{
	return c == ' ' || c == '\t' || c == '\f';
}

/* Append a code point as UTF-8. */
static size_t put_utf8(char *d, unsigned long cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* \uXXXX at s (s[0] is 'u'): its value, or -1 when it is not four hex digits. */
static long hex4(const char *s, const char *end)
{
	long v = 0;

	if (end - s < 5 || s[0] != 'u')
		return -1;
	for (int i = 1; i <= 4; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -1;
		v = v * 16 + (isdigit((unsigned char)s[i]) ? s[i] - '0' :
						       tolower((unsigned char)s[i]) - 'a' + 10);
	}
	return v;
}

/*
 * Unescape [s, end) as java.util.Properties does into out (at least as
 * large: no escape grows): \t \n \r \f, \uXXXX (written as UTF-8, a
 * surrogate pair as one character), and any other \c is c. Returns NULL,
 * or what is wrong.
 */
static const char *java_unescape(const char *s, const char *end, char *out)
{
	char *d = out;

	while (s < end) {
		char c = *s++;
		long cp;

		if (c != '\\' || s == end) {
			if (c != '\\')
				*d++ = c;
			continue;
		}
		c = *s++;
		switch (c) {
		case 't': *d++ = '\t'; break;
		case 'n': *d++ = '\n'; break;
		case 'r': *d++ = '\r'; break;
		case 'f': *d++ = '\f'; break;
		case 'u':
			if ((cp = hex4(s - 1, end)) < 0)
				return "malformed \\uXXXX escape";
			s += 4;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				long lo = end - s >= 2 && s[0] == '\\' ? hex4(s + 1, end) : -1;

				if (lo < 0xdc00 || lo > 0xdfff)
					return "\\uXXXX: a lone surrogate";
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				s += 6;
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				return "\\uXXXX: a lone surrogate";
			} else if (cp == 0) {
				return "a NUL byte (\\u0000)";
			}
			d += put_utf8(d, (unsigned long)cp);
			break;
		default: *d++ = c; break;
		}
	}
	*d = '\0';
	return NULL;
}

/* Whether the character before p, from start, is escaped by a backslash. */
static bool escaped(const char *start, const char *p)
{
	size_t n = 0;

	while (p > start && p[-1] == '\\') {
		p--;
		n++;
	}
	return n % 2 == 1;
}

/*
 * One logical line, [s, end): its leading white space dropped and its
 * continuations joined. Key and value as java.util.Properties separates
 * them (the first unescaped '=', ':' or white space, with white space
 * around it), except that a line without a separator is an error and
 * trailing white space that is not escaped is dropped.
 */
static int props_line(struct co_ctx *ctx, struct co_kafka_props *props,
		      rd_kafka_conf_t *scratch, const char *s, const char *end,
		      const char *origin, int lineno)
{
	const char *k = s, *v;
	char *name, *value;
	const char *why;
	int rc;

	while (end > s && java_space(end[-1]) && !escaped(s, end - 1))
		end--;
	while (k < end && !(*k == '=' || *k == ':' || java_space(*k)))
		k += *k == '\\' && k + 1 < end ? 2 : 1;
	if (k == s || k == end)
		return co_err(ctx, CO_EDATA, "%s:%d: expected property=value", origin, lineno);
	v = k;
	while (v < end && java_space(*v))
		v++;
	if (v < end && (*v == '=' || *v == ':'))
		v++;
	while (v < end && java_space(*v))
		v++;
	name = malloc((size_t)(k - s) + 1);
	value = malloc((size_t)(end - v) + 1);
	if (!name || !value) {
		free(name);
		free(value);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	if ((why = java_unescape(s, k, name)) || (why = java_unescape(v, end, value)))
		rc = co_err(ctx, CO_EDATA, "%s:%d: %s", origin, lineno, why);
	else
		rc = props_set_from_file(ctx, props, scratch, name, value, origin, lineno);
	explicit_bzero(value, (size_t)(end - v) + 1);
	free(name);
	free(value);
	return rc;
}

/*
 * A file in kcat's format, which is java.util.Properties' as far as kcat's
 * go: '#' and '!' comments; a line that ends in an odd number of
 * backslashes goes on, after its next line's leading white space; a NUL
 * byte is refused. Lines end at \n, \r or \r\n.
 */
CO_API int co_kafka_props_parse(struct co_ctx *ctx, struct co_kafka_props *props,
				const char *text, size_t len, const char *origin)
{
	const char *p = text, *end = text + len;
	char *buf = malloc(len + 1);
	int lineno = 0, rc = CO_OK;
	rd_kafka_conf_t *scratch = rd_kafka_conf_new();

	if (!buf || !scratch) {
		free(buf);
		if (scratch)
			rd_kafka_conf_destroy(scratch);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	while (p < end && rc == CO_OK) {
		int first = lineno + 1;
		size_t n = 0;
		bool more = true, comment = false;

		/* Natural lines, joined while each ends in a continuation. */
		for (bool joined = false; more && p < end;) {
			const char *nl = p, *q;

			lineno++;
			while (nl < end && *nl != '\n' && *nl != '\r')
				nl++;
			q = p;
			while (q < nl && java_space(*q))
				q++;
			if (!joined && (q == nl || *q == '#' || *q == '!'))
				comment = true;
			if (memchr(q, '\0', (size_t)(nl - q))) {
				rc = co_err(ctx, CO_EDATA, "%s:%d: a NUL byte in the line", origin,
					    lineno);
				break;
			}
			more = !comment && nl > q && nl[-1] == '\\' && !escaped(q, nl - 1);
			memcpy(buf + n, q, (size_t)(nl - q) - more);
			n += (size_t)(nl - q) - more;
			p = nl < end && *nl == '\r' && nl + 1 < end && nl[1] == '\n' ? nl + 2 :
			    nl < end ? nl + 1 : nl;
			joined = true;
			if (comment)
				break;
		}
		if (rc == CO_OK && !comment && n)
			rc = props_line(ctx, props, scratch, buf, buf + n, origin, first);
	}
	explicit_bzero(buf, len + 1);
	free(buf);
	rd_kafka_conf_destroy(scratch);
	return rc;
}

/*
 * A property file: a regular file of at most CO_KAFKA_PROPS_FILE_MAX bytes.
 * Opened without blocking, so that a FIFO under the name cannot hold the
 * run, and checked before a byte is read, so that /dev/zero cannot fill
 * memory.
 */
CO_API int co_kafka_props_read_file(struct co_ctx *ctx, struct co_kafka_props *props,
				    const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), rc;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
	if ((rc = co_small_file_check(ctx, fd, path, CO_KAFKA_PROPS_FILE_MAX, "property file")))
		goto out;
	/* One byte more than allowed: a file that grew since fstat is seen. */
	text = malloc(CO_KAFKA_PROPS_FILE_MAX + 1);
	if (!text) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	while (len <= CO_KAFKA_PROPS_FILE_MAX &&
	       (n = read(fd, text + len, CO_KAFKA_PROPS_FILE_MAX + 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > CO_KAFKA_PROPS_FILE_MAX)
		goto too_large;
	rc = co_kafka_props_parse(ctx, props, text, len, path);
	goto out;
too_large:
	rc = co_err(ctx, CO_EDATA, "%s: larger than 1 MiB, too large for a property file", path);
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	close(fd);
	return rc;
}

CO_API size_t co_kafka_props_count(const struct co_kafka_props *props)
{
	return props->n;
}

CO_API const char *co_kafka_props_name(const struct co_kafka_props *props, size_t i)
{
	return i < props->n ? props->names[i] : NULL;
}

CO_API const char *co_kafka_props_value(const struct co_kafka_props *props, size_t i)
{
	return i < props->n ? props->values[i] : NULL;
}

CO_API const char *co_kafka_props_origin(const struct co_kafka_props *props, size_t i)
{
	return i < props->n ? props->origins[i] : NULL;
}

CO_API const char *co_kafka_props_get(const struct co_kafka_props *props,
				      const char *name)
{
	for (size_t i = 0; i < props->n; i++)
		if (strcmp(props->names[i], name) == 0)
			return props->values[i];
	return NULL;
}

CO_API int co_kafka_conf_new(struct co_ctx *ctx, const struct co_kafka_props *props,
			     struct rd_kafka_conf_s **out)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];
	const char *brokers = co_config_get(ctx, CO_KEY_BROKERS);

	*out = NULL;
	if (!conf)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	/* TCP_NODELAY, as the Java client and librdkafka 2.10 on have it: with
	 * Nagle's algorithm each request's last TLS record waited for the
	 * broker's delayed ACK, which made an idempotent producer over SASL_SSL
	 * two to four times slower. A property given wins. */
	if (rd_kafka_conf_set(conf, "socket.nagle.disable", "true", errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return co_err(ctx, CO_ESOFTWARE, "socket.nagle.disable: %s", errstr);
	}
	if (brokers && rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr,
					 sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		return co_err(ctx, CO_EUSAGE, "brokers '%s': %s", brokers, errstr);
	}
	for (size_t i = 0; props && i < props->n; i++) {
		if (strcmp(props->names[i], CO_KAFKA_REGISTRY_PROPERTY) == 0)
			continue;
		if (rd_kafka_conf_set(conf, props->names[i], props->values[i], errstr,
				      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
			rd_kafka_conf_destroy(conf);
			if (co_kafka_property_secret(props->names[i]) && *props->values[i] &&
			    strstr(errstr, props->values[i]))
				return co_err(ctx, CO_EUSAGE, "property %s: invalid value (not shown)",
					      props->names[i]);
			return co_err(ctx, CO_EUSAGE, "property %s: %s", props->names[i],
				      errstr);
		}
	}
	*out = conf;
	return CO_OK;
}
