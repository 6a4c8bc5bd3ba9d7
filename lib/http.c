/* SPDX-License-Identifier: MIT */
/* HTTP on libcurl: timeouts, a bounded retry, credentials, named errors. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

#define RETRY_ATTEMPTS 3

struct sink {
	char *data;
	size_t len, cap;
	uint64_t overflow;	/* the limit a reply passed, 0: none */
	/* streamed: a 2xx body goes to fn instead */
	CURL *curl;
	co_http_body_fn *fn;
	void *tag;
	uint64_t max;		/* the most a streamed body may bring */
	uint64_t max_kept;	/* the most a body kept in data may bring */
	uint64_t streamed;
	int fn_rc;
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sink *s = userdata;
	size_t n = size * nmemb;
	long code = 0;

	if (s->fn) {
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
		if (code >= 200 && code <= 299) {
			if (n > s->max - s->streamed) {
				s->overflow = s->max;
				return 0;
			}
			s->streamed += n;
			s->fn_rc = s->fn(s->tag, ptr, n);
			return s->fn_rc == CO_OK ? n : 0;
		}
	}
	if (s->len + n + 1 > s->max_kept) {
		s->overflow = s->max_kept;
		return 0;	/* makes curl fail with CURLE_WRITE_ERROR */
	}
	return co_bytes_append(&s->data, &s->len, &s->cap, ptr, n) ? n : 0;
}

CO_API void co_http_response_clear(struct co_http_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	free(resp->location);
	memset(resp, 0, sizeof(*resp));
}

/* The bearer token from $SC_TOKEN or the token file; NULL when none. */
static int read_token(struct co_ctx *ctx, char **out)
{
	const char *env = getenv("SC_TOKEN");
	const char *path = co_config_get(ctx, CO_KEY_TOKEN_FILE);
	char buf[4096];
	size_t n;
	FILE *fp;

	*out = NULL;
	if (env && *env) {
		*out = strdup(env);
		return *out ? CO_OK : co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	if (!path)
		return CO_OK;
	fp = fopen(path, "r");
	if (!fp)
		return co_err(ctx, errno == EACCES ? CO_ENOPERM : CO_EIO,
			      "token file %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		return co_err(ctx, CO_EDATA, "token file %s: empty", path);
	*out = strdup(buf);
	return *out ? CO_OK : co_err(ctx, CO_ESOFTWARE, "out of memory");
}

/*
 * An origin: scheme, host and port, the unit a token is sent to. Addresses
 * of workers come from the master's JSON, which any host that registers a
 * worker writes: they get no token unless their origin is configured.
 */
struct origin {
	char *scheme, *host, *port;
};

static void origin_clear(struct origin *o)
{
	curl_free(o->scheme);
	curl_free(o->host);
	curl_free(o->port);
	memset(o, 0, sizeof(*o));
}

/* 0 when url parses into an origin (scheme, host, port with its default). */
static int origin_of(const char *url, struct origin *o)
{
	CURLU *u = curl_url();
	int rc = -1;

	memset(o, 0, sizeof(*o));
	if (!u)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &o->scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &o->host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &o->port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		rc = 0;
	curl_url_cleanup(u);
	if (rc)
		origin_clear(o);
	return rc;
}

static bool same_origin(const struct origin *a, const char *url)
{
	struct origin b;
	bool same;

	if (!url || origin_of(url, &b) != 0)
		return false;
	same = strcasecmp(a->scheme, b.scheme) == 0 && strcasecmp(a->host, b.host) == 0 &&
	       strcmp(a->port, b.port) == 0;
	origin_clear(&b);
	return same;
}

/* Only http and https, whatever libcurl could speak: named before any connection. */
static int check_scheme(struct co_ctx *ctx, const char *url)
{
	size_t len = strcspn(url, ":");

	if (url[len] == ':' && ((len == 4 && strncasecmp(url, "http", 4) == 0) ||
				(len == 5 && strncasecmp(url, "https", 5) == 0)))
		return CO_OK;
	return co_err(ctx, CO_EPROTOCOL, "%s: refused: only http and https URLs are used", url);
}

/*
 * Whether url's origin is one the token may go to: that of the master UI,
 * the REST server or the history server as configured, or one listed in
 * token_origins (SC_TOKEN_ORIGINS; separated by commas or blanks).
 */
static bool origin_listed(const struct origin *o, const char *list)
{
	bool ok = false;

	while (!ok && list && *list) {
		size_t len;
		char *one;

		list += strspn(list, ", \t");
		len = strcspn(list, ", \t");
		if (!len)
			break;
		one = strndup(list, len);
		ok = one && same_origin(o, one);
		free(one);
		list += len;
	}
	return ok;
}

/* The master UI and REST URLs list one URL per master of a failover group. */
static bool token_allowed(const struct co_ctx *ctx, const char *url)
{
	static const enum co_key configured[] = {
		CO_KEY_MASTER_UI, CO_KEY_REST_URL, CO_KEY_HISTORY_URL, CO_KEY_TOKEN_ORIGINS
	};
	struct origin o;
	bool ok = false;

	if (origin_of(url, &o) != 0)
		return false;
	for (size_t i = 0; !ok && i < sizeof(configured) / sizeof(configured[0]); i++)
		ok = origin_listed(&o, co_config_get(ctx, configured[i]));
	origin_clear(&o);
	return ok;
}

long co_timeout_ms(const struct co_ctx *ctx)
{
	double t = strtod(co_config_get(ctx, CO_KEY_TIMEOUT), NULL);

	return t > 0 ? (long)(t * 1000) : 10000;
}

/*
 * The time a request may take, in ms: the timeout setting, or the time
 * left before the context's deadline when that is less. 0 when the
 * deadline has passed: the request is not made.
 */
static long request_ms(const struct co_ctx *ctx)
{
	long ms = co_timeout_ms(ctx);
	double left;

	if (!ctx->deadline)
		return ms;
	left = (ctx->deadline - co_monotonic()) * 1000;
	if (left >= (double)ms)
		return ms;
	return left >= 1 ? (long)left : 0;
}

/*
 * Whether a request that timed out met the deadline: libcurl counts whole
 * milliseconds on a clock of its own, so it may end one a moment early.
 * Well before the deadline, it was the time to connect that ran out.
 */
static bool at_deadline(double deadline)
{
	return deadline && co_monotonic() >= deadline - 0.01;
}

/*
 * A request the deadline cut short after seconds, or did not let start
 * (0). The moment libcurl may have ended it early is waited out: callers
 * are told once the deadline has passed.
 */
static int past_deadline(struct co_ctx *ctx, const char *url, double deadline, double seconds)
{
	double early = deadline - co_monotonic();

	if (early > 0)
		nanosleep(&(struct timespec){ 0, (long)(early * 1e9) }, NULL);
	if (seconds <= 0)
		return co_err(ctx, CO_ETEMPFAIL, "%s: not asked: the deadline has passed", url);
	return co_err(ctx, CO_ETEMPFAIL, "%s: timed out after %.1f s, at the deadline", url,
		      seconds);
}

/* Translate a transport failure into a status and "URL: reason". */
static int transport_error(struct co_ctx *ctx, CURL *curl, const char *url, CURLcode cc,
			   const char *errbuf, const struct sink *sink)
{
	long oserr = 0;

	curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &oserr);
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		return co_err(ctx, CO_EUNAVAILABLE, "%s: %s", url,
			      oserr ? strerror((int)oserr) : "could not connect");
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return co_err(ctx, CO_EUNAVAILABLE, "%s: could not resolve host", url);
	case CURLE_OPERATION_TIMEDOUT:
		return co_err(ctx, CO_ETEMPFAIL, "%s: timed out after %.1f s", url,
			      co_timeout_ms(ctx) / 1000.0);
	case CURLE_GOT_NOTHING:
		return co_err(ctx, CO_EPROTOCOL, "%s: empty reply from server", url);
	case CURLE_WRITE_ERROR:
		if (sink->overflow && sink->overflow % (1 << 20))
			return co_err(ctx, CO_EPROTOCOL, "%s: reply larger than %llu bytes", url,
				      (unsigned long long)sink->overflow);
		if (sink->overflow)
			return co_err(ctx, CO_EPROTOCOL, "%s: reply larger than %llu MiB", url,
				      (unsigned long long)sink->overflow >> 20);
		return co_err(ctx, CO_ESOFTWARE, "%s: out of memory", url);
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		return co_err(ctx, CO_EUNAVAILABLE, "%s: %s", url,
			      errbuf[0] ? errbuf : curl_easy_strerror(cc));
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return co_err(ctx, CO_EUSAGE, "%s: invalid URL", url);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
		return co_err(ctx, CO_EUNAVAILABLE, "%s: TLS: %s", url,
			      errbuf[0] ? errbuf : curl_easy_strerror(cc));
	default:
		return co_err(ctx, CO_EUNAVAILABLE, "%s: %s", url,
			      errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
}

/*
 * What every request shares: timeouts, identity, and credentials from
 * netrc where the caller allows them: never to an address that came from
 * a master or a worker.
 */
static void setup_easy(CURL *curl, const char *url, long ms, char *errbuf, struct sink *sink,
		       bool netrc)
{
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, ms < 5000 ? ms : 5000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "clusterops/" PACKAGE_VERSION);
	curl_easy_setopt(curl, CURLOPT_NETRC,
			 (long)(netrc ? CURL_NETRC_OPTIONAL : CURL_NETRC_IGNORED));
	/* http and https only, for the request and any redirect */
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85.0 */
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	/*
	 * No Accept-Encoding: the cluster is near, and gzip would cost its
	 * daemons more CPU than it saves on the wire (logs come in megabytes).
	 */
}

static int status_error(struct co_ctx *ctx, const char *url, long status)
{
	int rc;

	if (status == 401 || status == 403)
		rc = CO_ENOPERM;
	else if (status >= 500)
		rc = CO_EUNAVAILABLE;
	else
		rc = CO_EPROTOCOL;
	return co_err(ctx, rc, "%s: HTTP %ld", url, status);
}

static int perform_once(struct co_ctx *ctx, const struct co_http_request *req,
			const char *token, struct co_http_response *resp, bool *retryable,
			struct sink *stream)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL;
	struct sink sink = { .max_kept = (req->flags & CO_HTTP_DOCUMENT) ? CO_HTTP_MAX_DOC
						: CO_HTTP_MAX_BODY };
	char *auth = NULL;
	char *ctype = NULL;
	char *location = NULL;
	CURLcode cc;
	int rc = CO_OK;
	long ms = request_ms(ctx);
	bool configured;	/* one of the configured origins: token and netrc go */

	*retryable = false;
	if ((rc = check_scheme(ctx, req->url)))
		return rc;
	if (!ms)
		return past_deadline(ctx, req->url, ctx->deadline, 0);
	if (!co_ctx_curl(ctx))
		return CO_ESOFTWARE;	/* with its message */
	curl_easy_reset(ctx->curl);
	if (stream) {
		sink.curl = ctx->curl;
		sink.fn = stream->fn;
		sink.tag = stream->tag;
		sink.max = stream->max;
	}
	configured = token_allowed(ctx, req->url);
	setup_easy(ctx->curl, req->url, ms, errbuf, &sink,
		   configured || (req->flags & CO_HTTP_NAMED_URL));
	if (token && configured) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
			goto out;
		}
		headers = curl_slist_append(headers, auth);
	}
	if (req->method == CO_HTTP_POST) {
		curl_easy_setopt(ctx->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(ctx->curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(ctx->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(req->body ? req->body_len : 0));
		if (req->content_type) {
			if (asprintf(&ctype, "Content-Type: %s", req->content_type) < 0) {
				rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
				goto out;
			}
			headers = curl_slist_append(headers, ctype);
		}
	}
	curl_easy_setopt(ctx->curl, CURLOPT_HTTPHEADER, headers);

	cc = curl_easy_perform(ctx->curl);
	/* Worth another try: refused, reset or dropped (a restarting server). */
	*retryable = cc == CURLE_COULDNT_CONNECT || cc == CURLE_GOT_NOTHING ||
		     cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
		     cc == CURLE_PARTIAL_FILE;
	if (stream)
		stream->streamed = sink.streamed;
	if (cc == CURLE_WRITE_ERROR && sink.fn_rc != CO_OK) {
		rc = sink.fn_rc;	/* with the body function's message */
		*retryable = false;
		goto out;
	}
	if (cc == CURLE_OPERATION_TIMEDOUT && at_deadline(ctx->deadline)) {
		rc = past_deadline(ctx, req->url, ctx->deadline, ms / 1000.0);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = transport_error(ctx, ctx->curl, req->url, cc, errbuf, &sink);
		goto out;
	}
	curl_easy_getinfo(ctx->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	*retryable = resp->status >= 500 || resp->status == 429;
	curl_easy_getinfo(ctx->curl, CURLINFO_REDIRECT_URL, &location);
	resp->location = co_strdup0(location);
	resp->body = sink.data ? sink.data : strdup("");
	resp->len = sink.len;
	sink.data = NULL;
	if (!resp->body) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	if (!(req->flags & CO_HTTP_ANY_STATUS) && resp->status >= 400)
		rc = status_error(ctx, req->url, resp->status);
out:
	curl_easy_setopt(ctx->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(ctx->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	free(auth);
	free(ctype);
	free(sink.data);
	return rc;
}

static int request(struct co_ctx *ctx, const struct co_http_request *req,
		   struct co_http_response *resp, struct sink *stream, int (*restart)(void *))
{
	int attempts = (req->flags & CO_HTTP_RETRY) ? RETRY_ATTEMPTS : 1;
	char *token = NULL;
	int rc;

	memset(resp, 0, sizeof(*resp));
	rc = read_token(ctx, &token);
	if (rc)
		return rc;
	for (int i = 0; i < attempts; i++) {
		if (i > 0) {
			/* 200 ms, 400 ms: long enough for a restart, short under cron */
			struct timespec ts = { 0, 200000000L << (i - 1) };

			/* no pause that ends past the deadline: the last failure stands */
			if (ctx->deadline && co_monotonic() + ts.tv_nsec / 1e9 >= ctx->deadline)
				break;
			nanosleep(&ts, NULL);
			co_http_response_clear(resp);
			if (stream && stream->streamed && (rc = restart(stream->tag)))
				break;
		}
		bool retryable = false;

		rc = perform_once(ctx, req, token, resp, &retryable, stream);
		/* A timeout is not retried: it already spent the caller's budget. */
		if (rc == CO_OK || !retryable)
			break;
	}
	free(token);
	if (rc)
		co_http_response_clear(resp);
	return rc;
}

CO_API int co_http_request(struct co_ctx *ctx, const struct co_http_request *req,
			   struct co_http_response *resp)
{
	return request(ctx, req, resp, NULL, NULL);
}

int co_http_get_streamed(struct co_ctx *ctx, const char *url, uint64_t max,
			 co_http_body_fn *body_fn, int (*restart)(void *tag), void *tag)
{
	struct co_http_request req = {
		.method = CO_HTTP_GET,
		.url = url,
		.flags = CO_HTTP_RETRY,
	};
	struct co_http_response resp;
	struct sink stream = { .fn = body_fn, .tag = tag, .max = max };
	int rc = request(ctx, &req, &resp, &stream, restart);

	co_http_response_clear(&resp);
	return rc;
}

CO_API int co_http_get(struct co_ctx *ctx, const char *url, struct co_http_response *resp)
{
	struct co_http_request req = {
		.method = CO_HTTP_GET,
		.url = url,
		.flags = CO_HTTP_RETRY,
	};

	return co_http_request(ctx, &req, resp);
}

/* ---- concurrent GETs ------------------------------------------------- */

struct transfer {
	CURL *curl;
	char *url;
	void *tag;
	struct sink sink;
	co_http_body_fn *body_fn;	/* streamed: a 2xx reply's body goes here */
	int body_rc;			/* what body_fn returned to end the transfer */
	size_t streamed;
	/* its deadline leaves out the time its multi's caller took */
	struct co_http_multi *multi;
	double started, away_at_start, limit;
	double ctx_deadline;	/* the context's, when it started; 0: none */
	bool timed_out;
	char errbuf[CURL_ERROR_SIZE];
	struct transfer *next;	/* in the queue, or in the list of running ones */
};

struct co_http_multi {
	struct co_ctx *ctx;
	CURLM *multi;
	struct curl_slist *headers;	/* the bearer token, if any, for its origins */
	int max_parallel, running;
	struct transfer *queue, *queue_tail;
	struct transfer *active;	/* started, not yet taken back */
	double away;		/* seconds spent in body functions and callers */
	double returned_at;	/* when co_http_multi_next last returned a transfer */
};

CO_API struct co_http_multi *co_http_multi_new(struct co_ctx *ctx, int max_parallel)
{
	struct co_http_multi *m = calloc(1, sizeof(*m));
	char *token = NULL, *auth = NULL;

	if (!m) {
		co_err(ctx, CO_ESOFTWARE, "out of memory");
		return NULL;
	}
	m->ctx = ctx;
	m->max_parallel = max_parallel > 0 ? max_parallel : 8;
	m->multi = co_curl_multi(ctx);
	if (!m->multi || read_token(ctx, &token) != CO_OK) {
		co_http_multi_free(m);
		return NULL;
	}
	if (token) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) >= 0)
			m->headers = curl_slist_append(NULL, auth);
		free(auth);
		free(token);
	}
	return m;
}

static void transfer_free(struct transfer *t)
{
	if (!t)
		return;
	if (t->curl)
		curl_easy_cleanup(t->curl);
	free(t->url);
	free(t->sink.data);
	free(t);
}

CO_API void co_http_multi_free(struct co_http_multi *m)
{
	if (!m)
		return;
	while (m->queue) {
		struct transfer *t = m->queue;

		m->queue = t->next;
		transfer_free(t);
	}
	while (m->active) {
		struct transfer *t = m->active;

		m->active = t->next;
		curl_multi_remove_handle(m->multi, t->curl);
		transfer_free(t);
	}
	if (m->multi)
		curl_multi_cleanup(m->multi);
	curl_slist_free_all(m->headers);
	free(m);
}

/* A streamed transfer's body: a 2xx reply's to its function, any other to the sink. */
static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct transfer *t = userdata;
	size_t n = size * nmemb;
	long code = 0;
	double t0;

	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299)
		return sink_write(ptr, size, nmemb, &t->sink);
	t->streamed += n;
	t0 = co_monotonic();
	t->body_rc = t->body_fn(t->tag, ptr, n);
	t->multi->away += co_monotonic() - t0;
	return t->body_rc == CO_OK ? n : 0;
}

/*
 * A body function, or the caller between two co_http_multi_next(), may
 * block, on a full pipe to a pager for example: that time is the reader's,
 * not the servers', and holds up every transfer, so it does not count
 * against their time limits, which are checked here instead of by curl.
 */
static int deadline_check(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
			   curl_off_t ultotal, curl_off_t ulnow)
{
	struct transfer *t = userdata;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	if (t->started &&
	    co_monotonic() - t->started - (t->multi->away - t->away_at_start) > t->limit) {
		t->timed_out = true;
		return 1;	/* makes curl fail with CURLE_ABORTED_BY_CALLBACK */
	}
	return 0;
}

static int multi_add(struct co_http_multi *m, const char *url, void *tag,
		     co_http_body_fn *body_fn, uint64_t max_kept)
{
	struct transfer *t;
	int rc = check_scheme(m->ctx, url);
	bool configured;	/* a worker the master lists is not: no token, no netrc */

	if (rc)
		return rc;
	configured = token_allowed(m->ctx, url);
	t = calloc(1, sizeof(*t));
	if (!t || !(t->url = strdup(url)) || !(t->curl = co_curl_easy(m->ctx))) {
		transfer_free(t);
		return co_err(m->ctx, CO_ESOFTWARE, "out of memory");
	}
	t->tag = tag;
	t->sink.max_kept = max_kept;
	setup_easy(t->curl, t->url, co_timeout_ms(m->ctx), t->errbuf, &t->sink, configured);
	t->multi = m;
	t->limit = co_timeout_ms(m->ctx) / 1000.0;
	curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, 0L);
	curl_easy_setopt(t->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(t->curl, CURLOPT_XFERINFOFUNCTION, deadline_check);
	curl_easy_setopt(t->curl, CURLOPT_XFERINFODATA, t);
	if (body_fn) {
		t->body_fn = body_fn;
		curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, stream_write);
		curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, t);
	}
	if (configured)
		curl_easy_setopt(t->curl, CURLOPT_HTTPHEADER, m->headers);
	curl_easy_setopt(t->curl, CURLOPT_PRIVATE, (char *)t);
	if (m->queue_tail)
		m->queue_tail->next = t;
	else
		m->queue = t;
	m->queue_tail = t;
	return CO_OK;
}

CO_API int co_http_multi_get(struct co_http_multi *m, const char *url, void *tag)
{
	return multi_add(m, url, tag, NULL, CO_HTTP_MAX_BODY);
}

int co_http_multi_get_max(struct co_http_multi *m, const char *url, void *tag, size_t max)
{
	return multi_add(m, url, tag, NULL, max < CO_HTTP_MAX_BODY ? max : CO_HTTP_MAX_BODY);
}

int co_http_multi_get_document(struct co_http_multi *m, const char *url, void *tag)
{
	return multi_add(m, url, tag, NULL, CO_HTTP_MAX_DOC);
}

CO_API int co_http_multi_get_streamed(struct co_http_multi *m, const char *url, void *tag,
				      co_http_body_fn *body_fn)
{
	return multi_add(m, url, tag, body_fn, CO_HTTP_MAX_BODY);
}

/* Start queued transfers while there is room. */
static int start_queued(struct co_http_multi *m)
{
	while (m->queue && m->running < m->max_parallel) {
		struct transfer *t = m->queue;

		m->queue = t->next;
		if (!m->queue)
			m->queue_tail = NULL;
		t->started = co_monotonic();
		t->away_at_start = m->away;
		/* Unlike the timeout, the deadline counts the time away too. */
		if ((t->ctx_deadline = m->ctx->deadline)) {
			double left = (t->ctx_deadline - t->started) * 1000;

			curl_easy_setopt(t->curl, CURLOPT_TIMEOUT_MS, left >= 1 ? (long)left : 1L);
		}
		if (curl_multi_add_handle(m->multi, t->curl) != CURLM_OK) {
			transfer_free(t);
			return co_err(m->ctx, CO_ESOFTWARE, "cannot start a transfer");
		}
		t->next = m->active;
		m->active = t;
		m->running++;
	}
	return CO_OK;
}

CO_API int co_http_multi_next(struct co_http_multi *m, void **tag,
			      struct co_http_response *resp, int *status)
{
	memset(resp, 0, sizeof(*resp));
	*tag = NULL;
	if (m->returned_at) {
		m->away += co_monotonic() - m->returned_at;
		m->returned_at = 0;
	}
	for (;;) {
		CURLMsg *msg;
		int queued, still;
		struct transfer *t = NULL;
		int rc = start_queued(m);

		if (rc)
			return rc;
		/* Drive the transfers, then look for one that is done, then wait. */
		if (curl_multi_perform(m->multi, &still) != CURLM_OK)
			return co_err(m->ctx, CO_ESOFTWARE, "transfer engine failed");
		while ((msg = curl_multi_info_read(m->multi, &queued))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			curl_multi_remove_handle(m->multi, msg->easy_handle);
			for (struct transfer **pp = &m->active; *pp; pp = &(*pp)->next) {
				if (*pp == t) {
					*pp = t->next;
					break;
				}
			}
			m->running--;
			*tag = t->tag;
			curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &resp->status);
			if (t->body_rc != CO_OK) {
				*status = t->body_rc;	/* its message is on the context */
			} else if (msg->data.result == CURLE_OPERATION_TIMEDOUT && !t->timed_out &&
				   at_deadline(t->ctx_deadline)) {
				*status = past_deadline(m->ctx, t->url, t->ctx_deadline,
							t->ctx_deadline - t->started);
			} else if (msg->data.result != CURLE_OK) {
				*status = transport_error(m->ctx, t->curl, t->url, t->timed_out ?
							  CURLE_OPERATION_TIMEDOUT : msg->data.result,
							  t->errbuf, &t->sink);
			} else if (t->body_fn && resp->status >= 200 && resp->status <= 299) {
				resp->len = t->streamed;	/* the body went to body_fn */
				*status = CO_OK;
			} else {
				resp->body = t->sink.data ? t->sink.data : strdup("");
				resp->len = t->sink.len;
				t->sink.data = NULL;
				*status = resp->status >= 400 ? status_error(m->ctx, t->url, resp->status)
					: resp->body ? CO_OK : co_err(m->ctx, CO_ESOFTWARE, "out of memory");
			}
			transfer_free(t);
			m->returned_at = co_monotonic();
			return 1;
		}
		if (m->running == 0 && !m->queue) {
			m->returned_at = 0;	/* idle until more is asked of it */
			return 0;
		}
		if (curl_multi_poll(m->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			return co_err(m->ctx, CO_ESOFTWARE, "transfer engine failed");
	}
}
