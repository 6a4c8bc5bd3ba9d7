/* SPDX-License-Identifier: MIT */
/* The Spark master: its /json/ state and its UI's kill actions. */
#include "config.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static void worker_clear(struct co_spark_worker *w)
{
	free(w->id);
	free(w->host);
	free(w->webui);
	free(w->state);
}

static void app_clear(struct co_spark_app *a)
{
	free(a->id);
	free(a->name);
	free(a->user);
	free(a->state);
}

static void driver_clear(struct co_spark_driver *d)
{
	free(d->id);
	free(d->state);
	free(d->worker);
	free(d->main_class);
}

CO_API void co_master_state_free(struct co_master_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n_workers; i++)
		worker_clear(&st->workers[i]);
	for (size_t i = 0; i < st->n_apps; i++)
		app_clear(&st->apps[i]);
	for (size_t i = 0; i < st->n_drivers; i++)
		driver_clear(&st->drivers[i]);
	free(st->workers);
	free(st->apps);
	free(st->drivers);
	free(st->url);
	free(st->status);
	free(st);
}

/* An optional array member: absent is empty, anything else but an array is an error. */
static int get_array(struct co_ctx *ctx, const json_t *root, const char *key,
		     const char *origin, const json_t **out)
{
	const json_t *v = json_object_get(root, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return CO_OK;
	if (!json_is_array(v))
		return co_err(ctx, CO_EPROTOCOL, "%s: '%s' is not an array", origin, key);
	for (size_t i = 0; i < json_array_size(v); i++)
		if (!json_is_object(json_array_get(v, i)))
			return co_err(ctx, CO_EPROTOCOL, "%s: '%s[%zu]' is not an object",
				      origin, key, i);
	*out = v;
	return CO_OK;
}

static int need_id(struct co_ctx *ctx, const char *origin, const char *what,
		   size_t i, const char *id)
{
	if (id)
		return CO_OK;
	return co_err(ctx, CO_EPROTOCOL, "%s: %s[%zu] has no 'id'", origin, what, i);
}

static int parse_workers(struct co_ctx *ctx, const json_t *arr, const char *origin,
			 struct co_master_state *st)
{
	size_t n = json_array_size(arr);

	st->workers = calloc(n ? n : 1, sizeof(*st->workers));
	if (!st->workers)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(arr, i);
		struct co_spark_worker *w = &st->workers[st->n_workers++];

		w->id = co_json_strdup(o, "id");
		w->host = co_json_strdup(o, "host");
		w->port = (int)co_json_int(o, "port", 0);
		w->webui = co_json_strdup(o, "webuiaddress");
		w->cores = (int)co_json_int(o, "cores", 0);
		w->cores_used = (int)co_json_int(o, "coresused", 0);
		w->memory_mb = co_json_int(o, "memory", 0);
		w->memory_used_mb = co_json_int(o, "memoryused", 0);
		w->state = co_json_strdup(o, "state");
		w->last_heartbeat_ms = co_json_int(o, "lastheartbeat", 0);
		if (need_id(ctx, origin, "workers", i, w->id))
			return CO_EPROTOCOL;
	}
	return CO_OK;
}

static int parse_apps(struct co_ctx *ctx, const json_t *arr, bool active,
		      const char *origin, struct co_master_state *st)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);
		struct co_spark_app *a = &st->apps[st->n_apps++];

		a->id = co_json_strdup(o, "id");
		a->name = co_json_strdup(o, "name");
		a->user = co_json_strdup(o, "user");
		a->state = co_json_strdup(o, "state");
		a->start_ms = co_json_int(o, "starttime", 0);
		a->duration_ms = co_json_int(o, "duration", 0);
		a->cores = (int)co_json_int(o, "cores", 0);
		a->memory_per_executor_mb = co_json_int(o, "memoryperexecutor",
							co_json_int(o, "memoryperslave", 0));
		a->active = active;
		if (need_id(ctx, origin, active ? "activeapps" : "completedapps", i, a->id))
			return CO_EPROTOCOL;
	}
	return CO_OK;
}

static int parse_drivers(struct co_ctx *ctx, const json_t *arr, bool active,
			 const char *origin, struct co_master_state *st)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);
		struct co_spark_driver *d = &st->drivers[st->n_drivers++];

		d->id = co_json_strdup(o, "id");
		d->state = co_json_strdup(o, "state");
		d->worker = co_json_strdup(o, "worker");
		if (d->worker && strcmp(d->worker, "None") == 0) {
			free(d->worker);
			d->worker = NULL;
		}
		d->main_class = co_json_strdup(o, "mainclass");
		/* starttime is a string in /json/ */
		d->start_ms = co_json_int(o, "starttime", 0);
		d->cores = (int)co_json_int(o, "cores", 0);
		d->memory_mb = co_json_int(o, "memory", 0);
		d->active = active;
		if (need_id(ctx, origin, active ? "activedrivers" : "completeddrivers", i, d->id))
			return CO_EPROTOCOL;
	}
	return CO_OK;
}

CO_API int co_master_state_parse(struct co_ctx *ctx, const char *text, size_t len,
				 const char *origin, struct co_master_state **out)
{
	const json_t *workers, *aa, *ca, *ad, *cd;
	struct co_master_state *st = NULL;
	json_t *root = NULL;
	size_t napps, ndrivers;
	int rc;

	*out = NULL;
	rc = co_json_parse(ctx, text, len, origin, &root);
	if (rc)
		return rc;
	if (!json_is_string(json_object_get(root, "status")) ||
	    !json_is_string(json_object_get(root, "url"))) {
		rc = co_err(ctx, CO_EPROTOCOL,
			    "%s: not a Spark master status (no 'url' and 'status')", origin);
		goto out;
	}
	if ((rc = get_array(ctx, root, "workers", origin, &workers)) ||
	    (rc = get_array(ctx, root, "activeapps", origin, &aa)) ||
	    (rc = get_array(ctx, root, "completedapps", origin, &ca)) ||
	    (rc = get_array(ctx, root, "activedrivers", origin, &ad)) ||
	    (rc = get_array(ctx, root, "completeddrivers", origin, &cd)))
		goto out;

	st = calloc(1, sizeof(*st));
	napps = json_array_size(aa) + json_array_size(ca);
	ndrivers = json_array_size(ad) + json_array_size(cd);
	if (st) {
		st->apps = calloc(napps ? napps : 1, sizeof(*st->apps));
		st->drivers = calloc(ndrivers ? ndrivers : 1, sizeof(*st->drivers));
	}
	if (!st || !st->apps || !st->drivers) {
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	st->url = co_json_strdup(root, "url");
	st->status = co_json_strdup(root, "status");
	st->alive_workers = (int)co_json_int(root, "aliveworkers", 0);
	st->cores = (int)co_json_int(root, "cores", 0);
	st->cores_used = (int)co_json_int(root, "coresused", 0);
	st->memory_mb = co_json_int(root, "memory", 0);
	st->memory_used_mb = co_json_int(root, "memoryused", 0);
	if ((rc = parse_workers(ctx, workers, origin, st)) ||
	    (rc = parse_apps(ctx, aa, true, origin, st)) ||
	    (rc = parse_apps(ctx, ca, false, origin, st)) ||
	    (rc = parse_drivers(ctx, ad, true, origin, st)) ||
	    (rc = parse_drivers(ctx, cd, false, origin, st)))
		goto out;
	*out = st;
	st = NULL;
out:
	co_master_state_free(st);
	json_decref(root);
	return rc;
}

static int fetch_one(struct co_ctx *ctx, const char *ui, struct co_master_state **out)
{
	struct co_http_response resp;
	char *url = co_url_join(ui, "json/");
	int rc;

	*out = NULL;
	if (!url)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = co_http_get(ctx, url, &resp);
	if (rc == CO_OK)
		rc = co_master_state_parse(ctx, resp.body, resp.len, url, out);
	co_http_response_clear(&resp);
	free(url);
	return rc;
}

static void seen_clear(struct co_ctx *ctx)
{
	for (size_t i = 0; i < CO_MASTERS_MAX; i++) {
		free(ctx->seen[i].status);
		free(ctx->seen[i].error);
		ctx->seen[i].status = ctx->seen[i].error = NULL;
	}
}

/* "no master answered: A; B", from what each said, in the order asked. */
static void none_answered(struct co_ctx *ctx, const size_t *order, size_t n)
{
	char msg[sizeof(ctx->errmsg)];
	size_t len;

	len = (size_t)snprintf(msg, sizeof(msg), "no master answered:");
	for (size_t k = 0; k < n && len < sizeof(msg); k++) {
		const char *e = ctx->seen[order[k]].error;

		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s %s", k ? ";" : "",
					e ? e : "?");
	}
	co_err(ctx, CO_OK, "%s", msg);
}

/*
 * Ask the masters in turn, the one in use first, each at most once; stop
 * at the first ALIVE one unless all is set (sc-status shows every one).
 */
static int fetch_masters(struct co_ctx *ctx, bool all, struct co_master_state **out)
{
	const struct co_url_list *l;
	struct co_master_state *alive = NULL, *other = NULL;
	size_t order[CO_MASTERS_MAX], n, k = 0, other_i = 0;
	int rc = co_url_list_get(ctx, CO_KEY_MASTER_UI, &l), first_rc = CO_OK;
	bool malformed = false;

	*out = NULL;
	if (rc)
		return rc;
	n = l->n < CO_MASTERS_MAX ? l->n : CO_MASTERS_MAX;
	if (n == 0)
		return co_err(ctx, CO_EUSAGE, "no master UI configured");
	seen_clear(ctx);
	if (ctx->master_active >= n)
		ctx->master_active = 0;
	order[k++] = ctx->master_active;
	for (size_t i = 0; i < n; i++)
		if (i != ctx->master_active)
			order[k++] = i;
	for (k = 0; k < n; k++) {
		size_t i = order[k];
		struct co_master_state *st;

		rc = fetch_one(ctx, l->v[i], &st);
		if (rc != CO_OK) {
			if (rc == CO_ESOFTWARE || rc == CO_EUSAGE)
				goto fail;	/* not the master's doing: no use asking another */
			ctx->seen[i].error = strdup(ctx->errmsg);
			first_rc = first_rc ? first_rc : rc;
			malformed |= rc == CO_EPROTOCOL;
			continue;
		}
		ctx->seen[i].status = strdup(st->status);
		if (!alive && strcmp(st->status, "ALIVE") == 0) {
			alive = st;
			ctx->master_active = i;
			if (!all)
				break;
		} else if (!other) {
			other = st;
			other_i = i;
		} else {
			co_master_state_free(st);
		}
	}
	if (alive || other) {
		*out = alive ? alive : other;
		if (!alive)
			ctx->master_active = other_i;	/* the state shown is its */
		co_master_state_free(alive ? other : NULL);
		return CO_OK;
	}
	if (n == 1)
		return first_rc;	/* the message is that master's own */
	none_answered(ctx, order, n);
	/* Some master answered something that is not a master's state: say so. */
	return malformed ? CO_EPROTOCOL : first_rc;
fail:
	co_master_state_free(alive);
	co_master_state_free(other);
	return rc;
}

CO_API int co_master_state_fetch(struct co_ctx *ctx, struct co_master_state **out)
{
	return fetch_masters(ctx, false, out);
}

CO_API int co_master_state_fetch_all(struct co_ctx *ctx, struct co_master_state **out)
{
	return fetch_masters(ctx, true, out);
}

CO_API size_t co_master_count(struct co_ctx *ctx)
{
	const struct co_url_list *l;

	if (co_url_list_get(ctx, CO_KEY_MASTER_UI, &l))
		return 0;
	return l->n < CO_MASTERS_MAX ? l->n : CO_MASTERS_MAX;
}

CO_API const char *co_master_ui(struct co_ctx *ctx, size_t i)
{
	const struct co_url_list *l;

	if (co_url_list_get(ctx, CO_KEY_MASTER_UI, &l))
		return NULL;
	return i < l->n && i < CO_MASTERS_MAX ? l->v[i] : NULL;
}

CO_API size_t co_master_active(const struct co_ctx *ctx)
{
	return ctx->master_active;
}

CO_API const char *co_master_seen(const struct co_ctx *ctx, size_t i, const char **error)
{
	if (error)
		*error = i < CO_MASTERS_MAX ? ctx->seen[i].error : NULL;
	return i < CO_MASTERS_MAX ? ctx->seen[i].status : NULL;
}

/* The UI of the master in use (the first until one answered ALIVE). */
static const char *active_ui(struct co_ctx *ctx)
{
	const char *ui = co_master_ui(ctx, ctx->master_active);

	return ui ? ui : co_master_ui(ctx, 0);
}

CO_API const struct co_spark_app *co_master_state_app(const struct co_master_state *st,
						      const char *app_id)
{
	for (size_t i = 0; i < st->n_apps; i++)
		if (strcmp(st->apps[i].id, app_id) == 0)
			return &st->apps[i];
	return NULL;
}

CO_API const struct co_spark_driver *
co_master_state_driver(const struct co_master_state *st, const char *driver_id)
{
	for (size_t i = 0; i < st->n_drivers; i++)
		if (strcmp(st->drivers[i].id, driver_id) == 0)
			return &st->drivers[i];
	return NULL;
}

CO_API bool co_spark_state_is_final(const char *state)
{
	static const char *const final[] = { "FINISHED", "FAILED", "KILLED", "ERROR" };

	if (!state)
		return false;
	for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++)
		if (strcmp(state, final[i]) == 0)
			return true;
	return false;
}

/* Spark 4.3 puts a hidden csrfToken input in each kill form. */
char *co_master_parse_csrf(const char *html)
{
	static const char marker[] = "name=\"csrfToken\"";
	const char *p = strstr(html, marker), *v, *end;

	if (!p)
		return NULL;
	v = strstr(p, "value=\"");
	if (!v || v - p > 64)
		return NULL;
	v += strlen("value=\"");
	end = strchr(v, '"');
	if (!end || end == v || end - v > 256)
		return NULL;
	return strndup(v, (size_t)(end - v));
}

/*
 * The token is fixed for the life of the master UI, so one fetch is
 * enough, per master: another master in use has a token of its own.
 */
static int csrf_token(struct co_ctx *ctx, const char *ui, const char **token)
{
	struct co_http_response resp;
	int rc;

	if (ctx->csrf_fetched && ctx->csrf_master != ctx->master_active) {
		free(ctx->csrf_token);
		ctx->csrf_token = NULL;
		ctx->csrf_fetched = false;
	}
	if (!ctx->csrf_fetched) {
		rc = co_http_get(ctx, ui, &resp);
		if (rc)
			return rc;
		ctx->csrf_master = ctx->master_active;
		ctx->csrf_token = co_master_parse_csrf(resp.body);
		ctx->csrf_fetched = true;
		co_http_response_clear(&resp);
	}
	*token = ctx->csrf_token;
	return CO_OK;
}

static int ui_kill(struct co_ctx *ctx, const char *path, const char *id)
{
	struct co_http_request req = {
		.method = CO_HTTP_POST,
		.content_type = "application/x-www-form-urlencoded",
		.flags = CO_HTTP_ANY_STATUS,
	};
	struct co_http_response resp;
	const char *token, *ui = active_ui(ctx);
	char *url = NULL, *eid = NULL, *etoken = NULL, *form = NULL;
	int rc;

	if (!ui)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = csrf_token(ctx, ui, &token);
	if (rc)
		return rc;
	url = co_url_join(ui, path);
	if (!co_ctx_curl(ctx)) {
		rc = CO_ESOFTWARE;	/* with its message */
		goto out;
	}
	/* Both come from outside: neither may add fields to the form. */
	eid = curl_easy_escape(ctx->curl, id, 0);
	etoken = curl_easy_escape(ctx->curl, token ? token : "", 0);
	if (!url || !eid || !etoken ||
	    asprintf(&form, "id=%s&terminate=true%s%s", eid,
		     token ? "&csrfToken=" : "", token ? etoken : "") < 0) {
		form = NULL;
		rc = co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto out;
	}
	req.url = url;
	req.body = form;
	req.body_len = strlen(form);
	rc = co_http_request(ctx, &req, &resp);
	if (rc == CO_OK) {
		if (resp.status == 403 || resp.status == 401)
			rc = co_err(ctx, CO_ENOPERM, "%s: HTTP %ld: kill refused "
				    "(is spark.ui.killEnabled false?)", url, resp.status);
		else if (resp.status >= 400)
			rc = co_err(ctx, resp.status >= 500 ? CO_EUNAVAILABLE : CO_EPROTOCOL,
				    "%s: HTTP %ld", url, resp.status);
	}
	co_http_response_clear(&resp);
out:
	curl_free(eid);
	curl_free(etoken);
	free(form);
	free(url);
	return rc;
}

CO_API int co_master_kill_app(struct co_ctx *ctx, const char *app_id)
{
	return ui_kill(ctx, "app/kill/", app_id);
}

CO_API int co_master_kill_driver(struct co_ctx *ctx, const char *driver_id)
{
	return ui_kill(ctx, "driver/kill/", driver_id);
}

CO_API bool co_spark_app_named(const struct co_spark_app *app, const char *glob)
{
	return app->name && fnmatch(glob, app->name, 0) == 0;
}

CO_API const struct co_spark_app *co_master_state_app_named(const struct co_master_state *st,
							    const char *glob, size_t *matches)
{
	const struct co_spark_app *found = NULL;

	*matches = 0;
	for (size_t i = 0; i < st->n_apps; i++) {
		if (!co_spark_app_named(&st->apps[i], glob))
			continue;
		if (found && found->active && !st->apps[i].active)
			break;
		found = found ? found : &st->apps[i];
		(*matches)++;
	}
	return found;
}

CO_API int co_master_still_running(struct co_ctx *ctx, const char *id, double silence_s,
				   double *silent_since, struct co_master_state **st, bool *running)
{
	const struct co_spark_app *a;
	const struct co_spark_driver *d;
	struct timespec now;
	double t;
	int rc;

	co_master_state_free(*st);
	*st = NULL;
	*running = true;
	rc = co_master_state_fetch(ctx, st);
	if (rc == CO_OK && strcmp((*st)->status, "ALIVE") != 0) {
		/* A standby or recovering master knows nothing yet: as silence. */
		co_master_state_free(*st);
		*st = NULL;
		rc = co_err(ctx, CO_ETEMPFAIL, "no master is ALIVE");
	}
	if (rc != CO_OK) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		t = (double)now.tv_sec + now.tv_nsec / 1e9;
		if (!*silent_since)
			*silent_since = t;
		return t - *silent_since > silence_s ? rc : CO_OK;
	}
	*silent_since = 0;
	a = co_master_state_app(*st, id);
	d = a ? NULL : co_master_state_driver(*st, id);
	*running = a ? a->active : d && !co_spark_state_is_final(d->state);
	return CO_OK;
}
