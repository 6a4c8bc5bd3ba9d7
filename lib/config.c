/* SPDX-License-Identifier: MIT */
/*
 * The one place that resolves configuration: command-line flag, then
 * environment (SC_*), then the configuration file, then values derived from
 * the master URL, then the built-in defaults of the Docker cluster.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct key_info {
	const char *name;
	const char *env;
	const char *dflt;
	int derived_port;	/* > 0: derived as http://MASTERHOST:port */
};

static const struct key_info keys[CO_KEY_COUNT] = {
	[CO_KEY_MASTER] = { "master", "SC_MASTER", "spark://spark-master:7077", 0 },
	[CO_KEY_MASTER_UI] = { "master_ui", "SC_MASTER_UI", NULL, 8080 },
	[CO_KEY_REST_URL] = { "rest_url", "SC_REST_URL", NULL, 6066 },
	[CO_KEY_HISTORY_URL] = { "history_url", "SC_HISTORY_URL", NULL, 18080 },
	[CO_KEY_EVENTS_DIR] = { "events_dir", "SC_EVENTS_DIR", "/opt/workspace/events", 0 },
	[CO_KEY_DATAIN] = { "datain", "SC_DATAIN", "/opt/workspace/datain", 0 },
	[CO_KEY_DATAOUT] = { "dataout", "SC_DATAOUT", "/opt/workspace/dataout", 0 },
	[CO_KEY_BROKERS] = { "brokers", "SC_BROKERS", "kafka:9092", 0 },
	[CO_KEY_EXECUTOR_MEMORY] = { "executor_memory", "SC_EXECUTOR_MEMORY", "512m", 0 },
	[CO_KEY_TIMEOUT] = { "timeout", "SC_TIMEOUT", "10", 0 },
	[CO_KEY_TOKEN_FILE] = { "token_file", "SC_TOKEN_FILE", NULL, 0 },
	[CO_KEY_TOKEN_ORIGINS] = { "token_origins", "SC_TOKEN_ORIGINS", NULL, 0 },
	[CO_KEY_FETCH_MAX_SIZE] = { "fetch_max_size", "SC_FETCH_MAX_SIZE", "10G", 0 },
	[CO_KEY_EXTRACT_MAX_SIZE] = { "extract_max_size", "SC_EXTRACT_MAX_SIZE", "10G", 0 },
	[CO_KEY_EXTRACT_MAX_MEMBERS] = { "extract_max_members", "SC_EXTRACT_MAX_MEMBERS",
					 "100000", 0 },
	[CO_KEY_DRIVER_LOG_DIR] = { "driver_log_dir", "SC_DRIVER_LOG_DIR", NULL, 0 },
};

static const char *const source_names[] = {
	[CO_SRC_DEFAULT] = "default",
	[CO_SRC_DERIVED] = "derived",
	[CO_SRC_FILE] = "file",
	[CO_SRC_ENV] = "env",
	[CO_SRC_FLAG] = "flag",
};

CO_API const char *co_config_key_name(enum co_key key)
{
	return (unsigned)key < CO_KEY_COUNT ? keys[key].name : NULL;
}

CO_API const char *co_config_key_env(enum co_key key)
{
	return (unsigned)key < CO_KEY_COUNT ? keys[key].env : NULL;
}

CO_API const char *co_config_source_name(enum co_source src)
{
	return (unsigned)src <= CO_SRC_FLAG ? source_names[src] : NULL;
}

CO_API const char *co_config_file(const struct co_ctx *ctx)
{
	return ctx->config_file;
}

static int set_layer(struct co_ctx *ctx, enum co_key key, enum co_source src,
		     const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	free(ctx->layer[key][src]);
	ctx->layer[key][src] = copy;
	if (key == CO_KEY_MASTER) {	/* derived URLs follow the master */
		for (int k = 0; k < CO_KEY_COUNT; k++) {
			free(ctx->layer[k][CO_SRC_DERIVED]);
			ctx->layer[k][CO_SRC_DERIVED] = NULL;
		}
	}
	if (key == CO_KEY_EVENTS_DIR) {	/* so does the driver-log dir the events dir */
		free(ctx->layer[CO_KEY_DRIVER_LOG_DIR][CO_SRC_DERIVED]);
		ctx->layer[CO_KEY_DRIVER_LOG_DIR][CO_SRC_DERIVED] = NULL;
	}
	return CO_OK;
}

CO_API int co_parse_size(struct co_ctx *ctx, const char *what, const char *text,
			 uint64_t *bytes)
{
	static const char units[] = "KMGT";
	unsigned long long n;
	const char *u;
	char *end;
	int shift = 0;

	errno = 0;
	n = isdigit((unsigned char)text[0]) ? strtoull(text, &end, 10) : 0;
	if (!isdigit((unsigned char)text[0]) || errno || n == 0)
		goto bad;
	if (*end && (u = strchr(units, toupper((unsigned char)*end)))) {
		shift = 10 * (int)(u - units + 1);
		end++;
		if (*end == 'i' && end[1] == 'B')
			end++;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		goto bad;
	if (n > (UINT64_MAX >> shift))
		return co_err(ctx, CO_EUSAGE, "invalid %s '%s': too large", what, text);
	*bytes = (uint64_t)n << shift;
	return CO_OK;
bad:
	return co_err(ctx, CO_EUSAGE, "invalid %s '%s': expected a size such as 500M or 10G",
		      what, text);
}

/* The n bytes at s, which were between brackets, are an IPv6 address. */
static bool ipv6_literal(const char *s, size_t n)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr addr;

	if (n >= sizeof(text))
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, &addr) == 1;
}

/*
 * Length of the host at the start of s: a name or an IPv4 address, or an
 * IPv6 address with its brackets ("[::1]"). 0 when there is none, or when
 * it holds what would change the meaning of http://HOST:PORT.
 */
static size_t host_length(const char *s)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._";
	size_t n;

	if (*s != '[')
		n = strspn(s, name_chars);
	else if ((n = strspn(s + 1, "0123456789abcdefABCDEF:.")) == 0 || s[n + 1] != ']' ||
		 !ipv6_literal(s + 1, n))
		return 0;
	else
		n += 2;
	return s[n] == '\0' || strchr(":,/", s[n]) ? n : 0;
}

/*
 * Length of ":PORT" at the start of s (0 when s holds no port): a port
 * from 1 to 65535, in decimal. -1 when a ':' is followed by anything else.
 */
static int port_length(const char *s)
{
	size_t n;
	long port = 0;

	if (*s != ':')
		return 0;
	n = strspn(s + 1, "0123456789");
	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 1; i <= n; i++)
		port = port * 10 + (s[i] - '0');
	return port >= 1 && port <= 65535 ? (int)n + 1 : -1;
}

/*
 * The masters of "HOST:PORT,HOST:PORT" (Spark's syntax for the masters of
 * a ZooKeeper failover group): each names a host, with an optional port;
 * none is empty; at most CO_MASTERS_MAX. "[::1]:7077" is a host; "[]" is
 * not. One '/' may end the URL, as Spark's own URLs sometimes do. The
 * number of masters into *count; a reason, or NULL when the list is good.
 */
static const char *master_list_check(const char *list, size_t *count)
{
	*count = 0;
	for (const char *s = list; ; ) {
		size_t h = host_length(s);
		int p;

		if (h == 0)
			return *s == ',' || *s == '\0' ? "no host: an empty master in the list"
							: "no host (expected spark://HOST:PORT)";
		if (++*count > CO_MASTERS_MAX)
			return "too many masters (at most " CO_STR(CO_MASTERS_MAX) ")";
		s += h;
		if ((p = port_length(s)) < 0)
			return "a port must be a number from 1 to 65535";
		s += p;
		if (*s == '\0' || (s[0] == '/' && s[1] == '\0'))
			return NULL;
		if (*s != ',')
			return "unexpected text after a host (expected spark://HOST:PORT,HOST:PORT)";
		s++;
	}
}

/*
 * One URL of a master_ui or rest_url list, as written: http or https, a
 * host, and nothing that would make the origin ambiguous (user info,
 * blanks). libcurl parses it when the list is first used (url_parses), not
 * here, so that a tool that makes no HTTP request does not load libcurl.
 */
static bool url_proper(const char *url, size_t len)
{
	size_t host;

	if (len == 0 || memchr(url, '@', len) || strcspn(url, " \t\r\n") < len)
		return false;
	/* As written, not as libcurl would mend it ("http:/h" is not a URL here). */
	if (strncasecmp(url, "http://", 7) == 0)
		host = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		host = 8;
	else
		return false;
	return len > host && !strchr("/:?#", url[host]);
}

/* What libcurl makes of a URL that url_proper() let through: still one. */
static bool url_parses(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *user = NULL;
	bool ok = false;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER)
		ok = (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0) &&
		     host && *host;
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

/* A comma-separated list of URLs, one per master. */
static int url_list_check(struct co_ctx *ctx, enum co_key key, const char *value)
{
	size_t n = 0;

	for (const char *s = value; ; ) {
		size_t len = strcspn(s, ",");

		if (len == 0)
			return co_err(ctx, CO_EUSAGE, "invalid %s '%s': an empty URL in the list",
				      keys[key].name, value);
		if (++n > CO_MASTERS_MAX)
			return co_err(ctx, CO_EUSAGE, "invalid %s '%s': too many URLs (at most %d)",
				      keys[key].name, value, CO_MASTERS_MAX);
		if (!url_proper(s, len))
			return co_err(ctx, CO_EUSAGE, "invalid %s '%s': '%.*s' %s", keys[key].name,
				      value, (int)len, s, memchr(s, '@', len)
				      ? "has a user name or password (they belong in ~/.netrc)"
				      : "is not an http or https URL with a host");
		s += len;
		if (*s == '\0')
			return CO_OK;
		s++;
	}
}

static int validate(struct co_ctx *ctx, enum co_key key, const char *value)
{
	if (key == CO_KEY_TIMEOUT) {
		char *end;
		double t;

		/* digits and a point (".5" too, as the flags take it): strtod
		 * alone takes blanks, a sign, an exponent, hex and "inf" */
		errno = 0;
		t = strtod(value, &end);
		if (value[strspn(value, "0123456789.")] ||
		    errno || end == value || *end || !(t > 0) || t > 86400)
			return co_err(ctx, CO_EUSAGE,
				      "invalid timeout '%s': expected seconds, greater than 0", value);
	}
	if (key == CO_KEY_MASTER && strncmp(value, "spark://", 8) != 0)
		return co_err(ctx, CO_EUSAGE,
			      "invalid master URL '%s': expected spark://HOST:PORT", value);
	if (key == CO_KEY_MASTER) {
		size_t n;
		const char *why = master_list_check(value + 8, &n);

		if (why)
			return co_err(ctx, CO_EUSAGE, "invalid master URL '%s': %s", value, why);
	}
	if (*value == '\0')
		return co_err(ctx, CO_EUSAGE, "empty value for %s", keys[key].name);
	if (key == CO_KEY_MASTER_UI || key == CO_KEY_REST_URL)
		return url_list_check(ctx, key, value);
	if (key == CO_KEY_FETCH_MAX_SIZE || key == CO_KEY_EXTRACT_MAX_SIZE) {
		uint64_t bytes;

		return co_parse_size(ctx, keys[key].name, value, &bytes);
	}
	if (key == CO_KEY_EXTRACT_MAX_MEMBERS) {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(value, &end, 10);
		if (!isdigit((unsigned char)value[0]) || errno || end == value || *end || n <= 0)
			return co_err(ctx, CO_EUSAGE, "invalid %s '%s': expected a count "
				      "greater than 0", keys[key].name, value);
	}
	return CO_OK;
}

CO_API int co_config_set(struct co_ctx *ctx, enum co_key key, const char *value)
{
	int rc;

	if ((unsigned)key >= CO_KEY_COUNT || !value)
		return co_err(ctx, CO_ESOFTWARE, "invalid configuration key");
	rc = validate(ctx, key, value);
	if (rc == CO_OK)
		rc = set_layer(ctx, key, CO_SRC_FLAG, value);
	if (rc == CO_OK && (key == CO_KEY_MASTER_UI || key == CO_KEY_REST_URL)) {
		/* Given for this run, so used by it: libcurl parses them now. */
		const struct co_url_list *l;

		rc = co_url_list_get(ctx, key, &l);
	}
	return rc;
}

static int lookup_key(const char *name)
{
	for (int k = 0; k < CO_KEY_COUNT; k++)
		if (strcmp(keys[k].name, name) == 0)
			return k;
	return -1;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Cut a comment: '#' at the start of a line or after blank space. */
static void strip_comment(char *s)
{
	for (char *p = s; *p; p++) {
		if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

/* "key = value" lines; '#' starts a comment; blank lines are skipped. */
/* More than a configuration file ever holds: anything larger is not one. */
#define CONFIG_MAX (1 << 20)

static int read_file(struct co_ctx *ctx, const char *path, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = CO_OK;

	size_t total = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, fp)) != -1) {
		char *p, *eq, *name, *value;
		int key;

		lineno++;
		/* a file that grows while it is read is bounded too */
		if ((total += (size_t)n) > CONFIG_MAX) {
			rc = co_err(ctx, CO_EDATA, "%s: larger than 1 MiB, too large for a "
				    "configuration file", path);
			break;
		}
		if (memchr(line, '\0', (size_t)n)) {
			rc = co_err(ctx, CO_EDATA, "%s:%u: a NUL byte", path, lineno);
			break;
		}
		strip_comment(line);
		p = trim(line);
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			rc = co_err(ctx, CO_EDATA, "%s:%u: expected 'key = value'", path, lineno);
			break;
		}
		*eq = '\0';
		name = trim(p);
		value = trim(eq + 1);
		key = lookup_key(name);
		if (key < 0) {
			rc = co_err(ctx, CO_EDATA, "%s:%u: unknown key '%s'", path, lineno, name);
			break;
		}
		rc = validate(ctx, key, value);
		if (rc) {
			rc = co_err_prefix(ctx, CO_EDATA, path);
			break;
		}
		rc = set_layer(ctx, key, CO_SRC_FILE, value);
		if (rc)
			break;
	}
	if (rc == CO_OK && ferror(fp))
		rc = co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
	free(line);
	return rc;
}

/*
 * The configuration file, for reading: a regular file of at most
 * CONFIG_MAX bytes. A FIFO or a device in its place (/dev/zero) would
 * hang the tool or fill its memory before it did anything.
 */
static FILE *open_config(struct co_ctx *ctx, const char *path, int *rc)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	FILE *fp;

	if (fd < 0) {
		*rc = co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((*rc = co_small_file_check(ctx, fd, path, CONFIG_MAX, "configuration file"))) {
		close(fd);
		return NULL;
	}
	if (!(fp = fdopen(fd, "r"))) {
		*rc = co_err(ctx, CO_EIO, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	return fp;
}

/*
 * Whether a configuration file is there to be read: only a name that does
 * not exist is missing. One that cannot be looked at (a directory on its
 * way that the user may not search) is taken, and opening it reports why:
 * passing over it would read /etc/clusterops.conf instead, which may name
 * another cluster.
 */
static bool config_present(const char *path)
{
	return access(path, F_OK) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

static int load_file(struct co_ctx *ctx)
{
	const char *explicit = getenv("SC_CONFIG");
	char *path = NULL;
	FILE *fp;
	int rc;

	if (explicit && *explicit) {
		path = strdup(explicit);
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME");
		const char *home = getenv("HOME");
		char buf[4096];

		if (xdg && *xdg)
			snprintf(buf, sizeof(buf), "%s/clusterops/config", xdg);
		else if (home && *home)
			snprintf(buf, sizeof(buf), "%s/.config/clusterops/config", home);
		else
			buf[0] = '\0';
		if (buf[0] && config_present(buf))
			path = strdup(buf);
		else if (config_present("/etc/clusterops.conf"))
			path = strdup("/etc/clusterops.conf");
		else
			return CO_OK;
	}
	if (!path)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");

	fp = open_config(ctx, path, &rc);
	if (!fp) {
		free(path);
		return rc;
	}
	rc = read_file(ctx, path, fp);
	fclose(fp);
	free(ctx->config_file);
	ctx->config_file = path;
	return rc;
}

CO_API int co_config_load(struct co_ctx *ctx)
{
	int rc = load_file(ctx);

	if (rc)
		return rc;
	for (int k = 0; k < CO_KEY_COUNT; k++) {
		const char *v = getenv(keys[k].env);

		if (!v || !*v)
			continue;
		rc = validate(ctx, k, v);
		if (rc)
			return co_err_prefix(ctx, CO_EUSAGE, keys[k].env);
		rc = set_layer(ctx, k, CO_SRC_ENV, v);
		if (rc)
			return rc;
	}
	return CO_OK;
}

/* Highest layer that holds a value, or -1. */
static int top_layer(const struct co_ctx *ctx, enum co_key key)
{
	for (int s = CO_SRC_FLAG; s >= CO_SRC_FILE; s--)
		if (ctx->layer[key][s])
			return s;
	return -1;
}

CO_API char *co_spark_master_host(struct co_ctx *ctx, const char *url)
{
	const char *host, *end;
	char *out;

	if (strncmp(url, "spark://", 8) != 0) {
		co_err(ctx, CO_EDATA, "invalid master URL '%s': expected spark://HOST:PORT", url);
		return NULL;
	}
	host = url + 8;
	end = host + host_length(host);	/* an IPv6 literal keeps its brackets */
	if (end == host) {
		co_err(ctx, CO_EDATA, "invalid master URL '%s': no host", url);
		return NULL;
	}
	out = strndup(host, (size_t)(end - host));
	if (!out)
		co_err(ctx, CO_ESOFTWARE, "out of memory");
	return out;
}

/*
 * Fill the derived layer of UI/REST/history URLs from the master URL: a
 * UI and a REST URL per master, in the order of the master URL; the
 * history server's on the first master's host.
 */
static void derive(struct co_ctx *ctx, enum co_key key)
{
	const char *master = co_config_get(ctx, CO_KEY_MASTER);
	char *out = NULL;
	size_t len = 0, n;
	FILE *fp;

	if (ctx->layer[key][CO_SRC_DERIVED] || keys[key].derived_port <= 0)
		return;
	/* Validated when set; the built-in default is good too. */
	if (strncmp(master, "spark://", 8) != 0 || master_list_check(master + 8, &n))
		return;
	fp = open_memstream(&out, &len);
	if (!fp)
		return;
	for (const char *s = master + 8; ; ) {
		size_t h = host_length(s);

		fprintf(fp, "http://%.*s:%d", (int)h, s, keys[key].derived_port);
		s = strchr(s, ',');
		if (!s || key == CO_KEY_HISTORY_URL)
			break;
		s++;
		fputc(',', fp);
	}
	if (fclose(fp) == 0)
		ctx->layer[key][CO_SRC_DERIVED] = out;
	else
		free(out);
}

/*
 * The driver-log dir beside a local events dir: "/x/events/" ->
 * "/x/driver-logs", "events" -> "driver-logs", "file:///x/events" ->
 * "/x/driver-logs". None for an events dir on another file system (hdfs://).
 */
static void derive_driver_log_dir(struct co_ctx *ctx)
{
	const char *events = co_config_get(ctx, CO_KEY_EVENTS_DIR);
	size_t len;
	char *out;

	if (ctx->layer[CO_KEY_DRIVER_LOG_DIR][CO_SRC_DERIVED])
		return;
	if (strncmp(events, "file://", 7) == 0)
		events += 7;
	if (strstr(events, "://"))
		return;
	len = strlen(events);
	while (len > 1 && events[len - 1] == '/')
		len--;
	while (len > 0 && events[len - 1] != '/')
		len--;			/* the parent, with its slash */
	while (len > 1 && events[len - 1] == '/' && events[len - 2] == '/')
		len--;
	if (asprintf(&out, "%.*s%s", (int)len, events, "driver-logs") < 0)
		return;
	ctx->layer[CO_KEY_DRIVER_LOG_DIR][CO_SRC_DERIVED] = out;
}

CO_API const char *co_config_get(const struct co_ctx *ctx, enum co_key key)
{
	int top;

	if ((unsigned)key >= CO_KEY_COUNT)
		return NULL;
	top = top_layer(ctx, key);
	if (top >= 0)
		return ctx->layer[key][top];
	if (keys[key].derived_port > 0) {
		/* The cache is logically const: it only memoizes the derivation. */
		derive((struct co_ctx *)ctx, key);
		return ctx->layer[key][CO_SRC_DERIVED];
	}
	if (key == CO_KEY_DRIVER_LOG_DIR) {
		derive_driver_log_dir((struct co_ctx *)ctx);
		return ctx->layer[key][CO_SRC_DERIVED];
	}
	return keys[key].dflt;
}

CO_API enum co_source co_config_source(const struct co_ctx *ctx, enum co_key key)
{
	int top = top_layer(ctx, key);

	if (top >= 0)
		return top;
	return keys[key].derived_port > 0 || key == CO_KEY_DRIVER_LOG_DIR ? CO_SRC_DERIVED
									 : CO_SRC_DEFAULT;
}

static void url_list_clear(struct co_url_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->src);
	memset(l, 0, sizeof(*l));
}

void co_url_lists_free(struct co_ctx *ctx)
{
	url_list_clear(&ctx->urls[0]);
	url_list_clear(&ctx->urls[1]);
}

/* A URL url_proper() let through and libcurl did not: as that would have said. */
static int url_unparsed(struct co_ctx *ctx, enum co_key key, const char *value, const char *url)
{
	enum co_source src = co_config_source(ctx, key);
	int rc = co_err(ctx, src == CO_SRC_FILE ? CO_EDATA : CO_EUSAGE, "invalid %s '%s': '%s' "
			"is not an http or https URL with a host", keys[key].name, value, url);

	if (src == CO_SRC_ENV)
		return co_err_prefix(ctx, rc, keys[key].env);
	if (src == CO_SRC_FILE && ctx->config_file)
		return co_err_prefix(ctx, rc, ctx->config_file);
	return rc;
}

int co_url_list_get(struct co_ctx *ctx, enum co_key key, const struct co_url_list **out)
{
	struct co_url_list *l = &ctx->urls[key == CO_KEY_REST_URL];
	const char *value = co_config_get(ctx, key), *url;
	size_t n = 1;
	int rc;

	*out = NULL;
	if (key != CO_KEY_MASTER_UI && key != CO_KEY_REST_URL)
		return co_err(ctx, CO_ESOFTWARE, "%s is not a list of URLs", keys[key].name);
	if (!value)
		value = "";
	if (l->src && strcmp(l->src, value) == 0) {
		*out = l;
		return CO_OK;
	}
	url_list_clear(l);
	rc = co_lazy_need(ctx, CO_LAZY_CURL);
	if (rc)
		return rc;
	for (const char *s = value; (s = strchr(s, ',')); s++)
		n++;
	l->v = calloc(n, sizeof(*l->v));
	if (!l->v)
		goto oom;
	for (const char *s = value; l->n < n; ) {
		size_t len = strcspn(s, ",");

		if (!(l->v[l->n] = strndup(s, len)))
			goto oom;
		url = l->v[l->n++];
		if (*url && !url_parses(url)) {
			rc = url_unparsed(ctx, key, value, url);
			url_list_clear(l);
			return rc;
		}
		s += len + (s[len] == ',');
	}
	if (!(l->src = strdup(value)))
		goto oom;
	*out = l;
	return CO_OK;
oom:
	url_list_clear(l);
	return co_err(ctx, CO_ESOFTWARE, "out of memory");
}
