/* SPDX-License-Identifier: MIT */
/* A Spark worker's /json/: the executors and drivers it runs or ran. */
#include "config.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

CO_API void co_worker_state_free(struct co_worker_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_executors; i++) {
		free(st->executors[i].app_id);
		free(st->executors[i].app_name);
	}
	for (size_t i = 0; i < st->n_drivers; i++) {
		free(st->drivers[i].id);
		free(st->drivers[i].state);
	}
	free(st->executors);
	free(st->drivers);
	free(st->id);
	free(st->master_url);
	free(st);
}

static int add_executors(struct co_ctx *ctx, const json_t *arr, bool finished,
			 const char *origin, struct co_worker_state *st)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);
		struct co_worker_executor *e = &st->executors[st->n_executors++];
		int64_t id;

		if (!json_is_object(o) || !json_object_get(o, "id"))
			return co_err(ctx, CO_EPROTOCOL, "%s: executor entry %zu has no 'id'",
				      origin, i);
		id = co_json_int(o, "id", -1);
		if (id < 0 || id > INT_MAX)
			return co_err(ctx, CO_EPROTOCOL, "%s: executor entry %zu has the id %"
				      PRId64 ", not one Spark gives", origin, i, id);
		e->id = (int)id;
		e->app_id = co_json_strdup(o, "appid");
		e->app_name = co_json_strdup(json_object_get(o, "appdesc"), "name");
		e->finished = finished;
	}
	return CO_OK;
}

static int add_drivers(struct co_ctx *ctx, const json_t *arr, bool finished,
		       const char *origin, struct co_worker_state *st)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);
		struct co_worker_driver *d = &st->drivers[st->n_drivers++];

		if (!json_is_object(o) || !(d->id = co_json_strdup(o, "id")))
			return co_err(ctx, CO_EPROTOCOL, "%s: driver entry %zu has no 'id'",
				      origin, i);
		d->state = co_json_strdup(o, "state");
		d->finished = finished;
	}
	return CO_OK;
}

static int array_member(struct co_ctx *ctx, const json_t *root, const char *key,
			const char *origin, const json_t **out)
{
	*out = json_object_get(root, key);
	if (*out && !json_is_array(*out))
		return co_err(ctx, CO_EPROTOCOL, "%s: '%s' is not an array", origin, key);
	return CO_OK;
}

CO_API int co_worker_state_parse(struct co_ctx *ctx, const char *text, size_t len,
				 const char *origin, struct co_worker_state **out)
{
	const json_t *ex, *fex, *dr, *fdr;
	struct co_worker_state *st = NULL;
	json_t *root = NULL;
	size_t nex, ndr;
	int rc;

	*out = NULL;
	rc = co_json_parse(ctx, text, len, origin, &root);
	if (rc)
		return rc;
	if (!json_is_string(json_object_get(root, "id"))) {
		rc = co_err(ctx, CO_EPROTOCOL, "%s: not a Spark worker status (no 'id')", origin);
		goto out;
	}
	if ((rc = array_member(ctx, root, "executors", origin, &ex)) ||
	    (rc = array_member(ctx, root, "finishedexecutors", origin, &fex)) ||
	    (rc = array_member(ctx, root, "drivers", origin, &dr)) ||
	    (rc = array_member(ctx, root, "finisheddrivers", origin, &fdr)))
		goto out;
	nex = json_array_size(ex) + json_array_size(fex);
	ndr = json_array_size(dr) + json_array_size(fdr);
	st = calloc(1, sizeof(*st));
	if (st) {
		st->executors = calloc(nex ? nex : 1, sizeof(*st->executors));
		st->drivers = calloc(ndr ? ndr : 1, sizeof(*st->drivers));
	}
	if (!st || !st->executors || !st->drivers) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	st->id = co_json_strdup(root, "id");
	st->master_url = co_json_strdup(root, "masterurl");
	st->cores = co_json_count(root, "cores");
	st->cores_used = co_json_count(root, "coresused");
	st->memory_mb = co_json_int(root, "memory", 0);
	st->memory_used_mb = co_json_int(root, "memoryused", 0);
	if ((rc = add_executors(ctx, ex, false, origin, st)) ||
	    (rc = add_executors(ctx, fex, true, origin, st)) ||
	    (rc = add_drivers(ctx, dr, false, origin, st)) ||
	    (rc = add_drivers(ctx, fdr, true, origin, st)))
		goto out;
	*out = st;
	st = NULL;
out:
	co_worker_state_free(st);
	json_decref(root);
	return rc;
}

CO_API int co_worker_state_fetch(struct co_ctx *ctx, const char *webui,
				 struct co_worker_state **out)
{
	struct co_http_response resp;
	char *url = co_url_join(webui, "json/");
	int rc;

	*out = NULL;
	if (!url)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = co_http_request(ctx, &(struct co_http_request){
		.method = CO_HTTP_GET, .url = url, .flags = CO_HTTP_RETRY | CO_HTTP_DOCUMENT },
			     &resp);
	if (rc == CO_OK)
		rc = co_worker_state_parse(ctx, resp.body, resp.len, url, out);
	co_http_response_clear(&resp);
	free(url);
	return rc;
}

CO_API char *co_worker_log_url(const char *webui, const char *app_id, int executor_id,
			       const char *driver_id, const char *stream, int64_t offset,
			       int64_t length)
{
	char *base = co_url_join(webui, "log/"), *url = NULL, range[64] = "";
	int n;

	if (!base)
		return NULL;
	if (offset >= 0)
		snprintf(range, sizeof(range), "&offset=%" PRId64, offset);
	/*
	 * Spark's ids are made of [A-Za-z0-9._-]: nothing to escape. An id a
	 * master gave is checked as one (co_driver_log_id_valid()) before it
	 * gets here.
	 */
	if (executor_id >= 0)
		n = asprintf(&url, "%s?appId=%s&executorId=%d&logType=%s%s&byteLength=%" PRId64,
			     base, app_id, executor_id, stream, range, length);
	else
		n = asprintf(&url, "%s?driverId=%s&logType=%s%s&byteLength=%" PRId64,
			     base, driver_id, stream, range, length);
	free(base);
	return n < 0 ? NULL : url;
}

CO_API int co_worker_log_parse(struct co_ctx *ctx, const char *body, size_t len,
			       const char *origin, struct co_log_chunk *out)
{
	static const char head[] = "==== Bytes ";
	const char *nl = memchr(body, '\n', len);
	char line[160];
	long long a, b, n;
	int used = 0;

	memset(out, 0, sizeof(*out));
	/*
	 * sscanf reads a copy of the header line's start, where the numbers are:
	 * the body need not end in a NUL.
	 */
	if (nl) {
		size_t n_line = (size_t)(nl - body) < sizeof(line) - 1 ?
				(size_t)(nl - body) : sizeof(line) - 1;

		memcpy(line, body, n_line);
		line[n_line] = '\0';
	}
	if (!nl || len < sizeof(head) - 1 || memcmp(body, head, sizeof(head) - 1) != 0 ||
	    sscanf(line, "==== Bytes %lld-%lld of %lld of %n", &a, &b, &n, &used) != 3 ||
	    used == 0 || a < 0 || b < a || n < b || nl - body < 5 ||
	    memcmp(nl - 5, " ====", 5) != 0)
		return co_err(ctx, CO_EPROTOCOL, "%s: not a worker log reply", origin);
	out->start = a;
	out->end = b;
	out->total = n;
	out->data = nl + 1;
	out->len = len - (size_t)(nl + 1 - body);
	/*
	 * The worker sends the bytes through a text decoder, so a piece that
	 * cuts a multi-byte character can come back a few bytes off: the
	 * header's range, not the body's length, says where the next piece starts.
	 */
	if (n == 0 && out->len >= 5 && memcmp(out->data, "Error", 5) == 0) {
		out->error = out->data;
		out->len = 0;
	}
	return CO_OK;
}
