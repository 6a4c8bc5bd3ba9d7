/* SPDX-License-Identifier: MIT */
/* Spark's history server: an application's document and its event log. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Spark's history server reads the events dir every 10 s by default
 * (spark.history.fs.update.interval), so it may not know an application
 * that is running or ended a moment ago.
 */
#define HISTORY_WAIT_SECONDS 30.0
#define HISTORY_RECENT_SECONDS 60.0	/* "a moment ago" */

CO_API void co_history_app_free(struct co_history_app *app)
{
	if (!app)
		return;
	for (size_t i = 0; i < app->n_attempts; i++) {
		free(app->attempts[i].attempt_id);
		free(app->attempts[i].spark_user);
		free(app->attempts[i].spark_version);
	}
	free(app->attempts);
	free(app->id);
	free(app->name);
	free(app->json);
	free(app->origin);
	free(app);
}

static void read_attempt(const json_t *o, struct co_history_attempt *a)
{
	a->attempt_id = co_json_strdup(o, "attemptId");
	a->start_ms = co_json_int(o, "startTimeEpoch", 0);
	a->end_ms = co_json_int(o, "endTimeEpoch", 0);
	a->last_updated_ms = co_json_int(o, "lastUpdatedEpoch", 0);
	a->duration_ms = co_json_int(o, "duration", 0);
	a->spark_user = co_json_strdup(o, "sparkUser");
	a->spark_version = co_json_strdup(o, "appSparkVersion");
	a->completed = json_is_true(json_object_get(o, "completed"));
}

CO_API int co_history_app_parse(struct co_ctx *ctx, const char *json, size_t len,
				const char *origin, struct co_history_app **out)
{
	struct co_history_app *app = NULL;
	const json_t *attempts;
	json_t *root = NULL;
	size_t n;
	int rc;

	*out = NULL;
	rc = co_json_parse(ctx, json, len, origin, &root);
	if (rc)
		return rc;
	attempts = json_object_get(root, "attempts");
	if (!json_is_object(root) || !json_is_string(json_object_get(root, "id")) ||
	    (attempts && !json_is_array(attempts))) {
		rc = co_err(ctx, CO_EPROTOCOL, "%s: not a history server's application document",
			    origin);
		goto out;
	}
	n = json_array_size(attempts);
	for (size_t i = 0; i < n; i++)
		if (!json_is_object(json_array_get(attempts, i))) {
			rc = co_err(ctx, CO_EPROTOCOL, "%s: attempt %zu is not an object", origin, i);
			goto out;
		}
	app = calloc(1, sizeof(*app));
	if (app) {
		app->attempts = calloc(n ? n : 1, sizeof(*app->attempts));
		app->json = malloc(len + 1);
		app->origin = strdup(origin);
	}
	if (!app || !app->attempts || !app->json || !app->origin) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	memcpy(app->json, json, len);
	app->json[len] = '\0';
	app->json_len = len;
	app->id = co_json_strdup(root, "id");
	app->name = co_json_strdup(root, "name");
	for (; app->n_attempts < n; app->n_attempts++)
		read_attempt(json_array_get(attempts, app->n_attempts),
			     &app->attempts[app->n_attempts]);
	*out = app;
	app = NULL;
out:
	co_history_app_free(app);
	json_decref(root);
	return rc;
}

CO_API char *co_history_url(const struct co_ctx *ctx, const char *app_id, const char *tail)
{
	const char *base = co_config_get(ctx, CO_KEY_HISTORY_URL);
	size_t n = strlen(base);
	char *url;

	while (n > 0 && base[n - 1] == '/')
		n--;
	/* Spark's ids are made of [A-Za-z0-9_-]: nothing to escape. */
	if (asprintf(&url, "%.*s/api/v1/applications/%s%s", (int)n, base, app_id,
		     tail ? tail : "") < 0)
		return NULL;
	return url;
}

CO_API double co_history_patience(const struct co_spark_app *app)
{
	double ended_ago;

	if (!app || app->active)
		return HISTORY_WAIT_SECONDS;
	/* in doubles: the master's numbers may add up past int64 */
	ended_ago = (double)time(NULL) - ((double)app->start_ms + (double)app->duration_ms) / 1000.0;
	return ended_ago < HISTORY_RECENT_SECONDS ? HISTORY_WAIT_SECONDS : 0;
}

static void wait_a_second(void)
{
	struct timespec ts = { 1, 0 };

	nanosleep(&ts, NULL);
}

CO_API int co_history_app_fetch(struct co_ctx *ctx, const char *app_id, double wait_seconds,
				struct co_history_app **out)
{
	struct co_http_response resp = { 0 };
	struct co_http_request req = { .method = CO_HTTP_GET, .flags = CO_HTTP_ANY_STATUS |
				       CO_HTTP_RETRY | CO_HTTP_DOCUMENT };
	double deadline = co_monotonic() + wait_seconds;
	char *url = co_history_url(ctx, app_id, NULL);
	int rc;

	*out = NULL;
	if (!url)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	req.url = url;
	while ((rc = co_http_request(ctx, &req, &resp)) == CO_OK && resp.status == 404 &&
	       co_monotonic() < deadline) {
		co_http_response_clear(&resp);
		wait_a_second();
	}
	if (rc == CO_OK && resp.status == 404)
		rc = co_err(ctx, CO_EFAIL, "%s: HTTP 404%s", url, wait_seconds > 0
			    ? " (the history server has not read its event log)" : "");
	else if (rc == CO_OK && resp.status >= 300)
		rc = co_err(ctx, resp.status == 401 || resp.status == 403 ? CO_ENOPERM
			    : resp.status >= 500 ? CO_EUNAVAILABLE : CO_EPROTOCOL,
			    "%s: HTTP %ld", url, resp.status);
	if (rc == CO_OK)
		rc = co_history_app_parse(ctx, resp.body, resp.len, url, out);
	if (rc == CO_OK && strcmp((*out)->id, app_id) != 0) {
		rc = co_err(ctx, CO_EPROTOCOL, "%s: a document about another application, %s",
			    url, (*out)->id);
		co_history_app_free(*out);
		*out = NULL;
	}
	co_http_response_clear(&resp);
	free(url);
	return rc;
}

CO_API int co_history_eventlog_zip(struct co_ctx *ctx, const char *app_id,
				   struct co_http_response *resp)
{
	char *url = co_history_url(ctx, app_id, "/logs");
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (!url)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = co_http_get(ctx, url, resp);
	free(url);
	return rc;
}

struct counted {
	co_archive_member_fn *added;
	void *arg;
	size_t n;
};

static void count_member(void *arg, const char *path, int64_t size)
{
	struct counted *c = arg;

	c->n++;
	if (c->added)
		c->added(c->arg, path, size);
}

/* The history server's zip as it arrives, in an unlinked temporary file. */
struct spool {
	struct co_ctx *ctx;
	const char *url;
	int fd;
	uint64_t len, max;
};

static int spool_write(void *tag, const char *data, size_t len)
{
	struct spool *s = tag;

	if (len > s->max - s->len)
		return co_err(s->ctx, CO_EDATA, "%s: more than the limit of %llu bytes "
			      "(extract_max_size)", s->url, (unsigned long long)s->max);
	s->len += len;
	while (len > 0) {
		ssize_t n = write(s->fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return co_err(s->ctx, CO_EIO, "temporary file: %s", strerror(errno));
		data += n;
		len -= (size_t)n;
	}
	return CO_OK;
}

/* A reply asked for again starts the file again. */
static int spool_restart(void *tag)
{
	struct spool *s = tag;

	s->len = 0;
	if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
		return co_err(s->ctx, CO_EIO, "temporary file: %s", strerror(errno));
	return CO_OK;
}

/* GET the zip into fp, bounded by the extract_max_size setting; read from its start. */
static int eventlog_zip_spool(struct co_ctx *ctx, const char *app_id, FILE *fp)
{
	struct spool s = { .ctx = ctx, .fd = fileno(fp) };
	struct co_extract_limits lim;
	char *url = co_history_url(ctx, app_id, "/logs");
	int rc;

	if (!url)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	s.url = url;
	rc = co_extract_limits_read(ctx, &lim);
	s.max = lim.max_bytes;
	if (rc == CO_OK)
		rc = co_http_get_streamed(ctx, url, UINT64_MAX, spool_write, spool_restart, &s);
	if (rc == CO_OK && lseek(s.fd, 0, SEEK_SET) != 0)
		rc = co_err(ctx, CO_EIO, "temporary file: %s", strerror(errno));
	free(url);
	return rc;
}

/*
 * The zip goes to a temporary file as it arrives, not into memory: an
 * event log may be gigabytes. Each member is then copied through a
 * temporary file of its own.
 */
CO_API int co_history_eventlog_archive(struct co_ctx *ctx, const char *app_id,
				       struct co_archive_writer *w, const char *prefix,
				       co_archive_member_fn *added, void *arg, char **why)
{
	struct counted c = { added, arg, 0 };
	size_t unsafe = 0;
	FILE *fp = tmpfile();
	int rc, fatal = CO_OK;

	*why = NULL;
	rc = fp ? eventlog_zip_spool(ctx, app_id, fp)
		: co_err(ctx, CO_EIO, "temporary file: %s", strerror(errno));
	if (rc == CO_OK) {
		rc = co_archive_writer_add_members_fd(ctx, w, prefix, fileno(fp), count_member,
						      &c, &unsafe);
		fatal = rc == CO_EDATA ? CO_OK : rc;	/* else the archive being written */
	}
	if (rc != CO_OK)
		*why = strdup(co_ctx_error(ctx));
	else if (c.n == 0)
		*why = strdup(unsafe ? "the history server's archive holds only unsafe member names"
			      : "the history server's archive holds no event log");
	if (fp)
		fclose(fp);
	return fatal;
}
