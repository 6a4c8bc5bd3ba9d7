/* SPDX-License-Identifier: MIT */
/*
 * The master's REST submission server (port 6066): create, status and kill
 * a cluster-mode driver with no JVM on the client.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Sent as clientSparkVersion; the server requires the field, not a match. */
#define CLIENT_SPARK_VERSION "3.5.0"

void co_rest_reply_clear(struct co_rest_reply *r)
{
	free(r->action);
	free(r->message);
	free(r->submission_id);
	free(r->driver_state);
	free(r->server_version);
	memset(r, 0, sizeof(*r));
}

int co_rest_parse_reply(struct co_ctx *ctx, const char *text, size_t len,
			const char *origin, struct co_rest_reply *out)
{
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = co_json_parse(ctx, text, len, origin, &root);
	if (rc)
		return rc;
	out->action = co_json_strdup(root, "action");
	if (!out->action) {
		json_decref(root);
		return co_err(ctx, CO_EPROTOCOL, "%s: not a Spark REST reply (no 'action')", origin);
	}
	out->success = json_is_true(json_object_get(root, "success"));
	out->success_known = json_is_boolean(json_object_get(root, "success"));
	out->message = co_json_strdup(root, "message");
	out->submission_id = co_json_strdup(root, "submissionId");
	out->driver_state = co_json_strdup(root, "driverState");
	out->server_version = co_json_strdup(root, "serverSparkVersion");
	json_decref(root);
	return CO_OK;
}

/* Send one request to base and parse the reply; ErrorResponse becomes a failure. */
static int rest_call_one(struct co_ctx *ctx, const char *base, enum co_http_method method,
			 const char *path, const char *body, struct co_rest_reply *reply)
{
	struct co_http_request req = {
		.method = method,
		.content_type = "application/json;charset=UTF-8",
		.body = body,
		.body_len = body ? strlen(body) : 0,
		/* Spark answers errors as JSON with 4xx/5xx: read them. */
		.flags = CO_HTTP_ANY_STATUS | CO_HTTP_DOCUMENT |
			 (method == CO_HTTP_GET ? CO_HTTP_RETRY : 0),
	};
	struct co_http_response resp;
	char *url = co_url_join(base, path);
	int rc;

	memset(reply, 0, sizeof(*reply));
	memset(&resp, 0, sizeof(resp));
	if (!url)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	req.url = url;
	rc = co_http_request(ctx, &req, &resp);
	if (rc)
		goto out;
	if (resp.status == 401 || resp.status == 403) {
		rc = co_err(ctx, CO_ENOPERM, "%s: HTTP %ld", url, resp.status);
		goto out;
	}
	rc = co_rest_parse_reply(ctx, resp.body, resp.len, url, reply);
	if (rc) {
		if (resp.status >= 400)	/* not Spark's JSON: report the status */
			rc = co_err(ctx, resp.status >= 500 ? CO_EUNAVAILABLE : CO_EPROTOCOL,
				    "%s: HTTP %ld", url, resp.status);
		goto out;
	}
	if (strcmp(reply->action, "ErrorResponse") == 0) {
		rc = co_err(ctx, CO_EPROTOCOL, "%s: %s", url,
			    reply->message ? reply->message : "error");
		co_rest_reply_clear(reply);
	}
out:
	co_http_response_clear(&resp);
	free(url);
	return rc;
}

/*
 * A master that is not the ALIVE one of its failover group refuses:
 * "Current state is not alive: STANDBY. Can only accept driver
 * submissions in ALIVE state."
 */
static bool not_alive(const struct co_rest_reply *r)
{
	return !r->success && r->message &&
	       (strstr(r->message, "in ALIVE state") || strstr(r->message, "state is not alive"));
}

/* A reply to a request on a submission says true or false: anything else is malformed. */
static int success_unknown(struct co_ctx *ctx)
{
	return co_err(ctx, CO_EPROTOCOL, "%s: the reply's 'success' is not true or false",
		      ctx->rest_used ? ctx->rest_used : co_config_get(ctx, CO_KEY_REST_URL));
}

/* Every REST server asked is of a standby or recovering master: try later. */
static int no_alive_master(struct co_ctx *ctx, const struct co_rest_reply *r)
{
	return co_err(ctx, CO_ETEMPFAIL, "%s: no master is ALIVE: %s",
		      ctx->rest_used ? ctx->rest_used : co_config_get(ctx, CO_KEY_REST_URL),
		      r->message);
}

/*
 * Send a request to the REST server of the master in use, then to the
 * others', each once, while they answer that they are not the ALIVE one or
 * (for what is safe to repeat: a GET, or a refused connection) do not
 * answer. The last answer or failure stands.
 */
static int rest_call(struct co_ctx *ctx, enum co_http_method method, const char *path,
		     const char *body, struct co_rest_reply *reply)
{
	const struct co_url_list *l;
	size_t n, first;
	int rc;

	memset(reply, 0, sizeof(*reply));
	rc = co_url_list_get(ctx, CO_KEY_REST_URL, &l);
	if (rc)
		return rc;
	n = l->n < CO_MASTERS_MAX ? l->n : CO_MASTERS_MAX;
	first = ctx->master_active < n ? ctx->master_active : 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = k == 0 ? first : k - 1 + (k - 1 >= first);
		bool last = k + 1 == n;

		co_rest_reply_clear(reply);
		free(ctx->rest_used);
		ctx->rest_used = strdup(l->v[i]);
		rc = rest_call_one(ctx, l->v[i], method, path, body, reply);
		if (rc == CO_OK && !(not_alive(reply) && !last)) {
			if (!not_alive(reply))
				ctx->master_active = i;
			return CO_OK;
		}
		if (rc == CO_OK || last)
			continue;
		if (rc != CO_EUNAVAILABLE && rc != CO_ETEMPFAIL)
			return rc;
		if (method != CO_HTTP_GET && !strstr(ctx->errmsg, strerror(ECONNREFUSED)) &&
		    !strstr(ctx->errmsg, "could not resolve host"))
			return rc;	/* it may have arrived: not sent twice */
	}
	return rc;
}

CO_API const char *co_rest_url_used(const struct co_ctx *ctx)
{
	return ctx->rest_used;
}

static int add_conf(json_t *props, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *key;
	int rc;

	if (!eq || eq == kv)
		return -1;
	key = strndup(kv, (size_t)(eq - kv));
	if (!key)
		return -1;
	rc = json_object_set_new(props, key, json_string(eq + 1));
	free(key);
	return rc;
}

static json_t *create_request(struct co_ctx *ctx, const struct co_rest_submission *sub)
{
	json_t *req = json_object(), *args = json_array(), *props = json_object();
	const char *name = sub->app_name ? sub->app_name : sub->main_class;
	int bad = !req || !args || !props;

	for (size_t i = 0; !bad && i < sub->n_app_args; i++)
		bad |= json_array_append_new(args, json_string(sub->app_args[i]));
	/* Defaults first, so that the caller's conf overrides them. */
	bad |= json_object_set_new(props, "spark.master", json_string(co_config_get(ctx, CO_KEY_MASTER)));
	bad |= json_object_set_new(props, "spark.submit.deployMode", json_string("cluster"));
	bad |= json_object_set_new(props, "spark.app.name", json_string(name));
	bad |= json_object_set_new(props, "spark.jars", json_string(sub->app_resource));
	bad |= json_object_set_new(props, "spark.driver.supervise", json_string("false"));
	for (size_t i = 0; !bad && i < sub->n_conf; i++) {
		if (add_conf(props, sub->conf[i])) {
			co_err(ctx, CO_EUSAGE, "invalid Spark property '%s': expected KEY=VALUE",
			       sub->conf[i]);
			goto fail;
		}
	}
	bad |= json_object_set_new(req, "action", json_string("CreateSubmissionRequest"));
	bad |= json_object_set_new(req, "appResource", json_string(sub->app_resource));
	bad |= json_object_set_new(req, "mainClass", json_string(sub->main_class));
	bad |= json_object_set_new(req, "clientSparkVersion", json_string(CLIENT_SPARK_VERSION));
	bad |= json_object_set_new(req, "environmentVariables",
				   json_pack("{s:s}", "SPARK_ENV_LOADED", "1"));
	bad |= json_object_set(req, "appArgs", args);
	bad |= json_object_set(req, "sparkProperties", props);
	if (bad) {
		co_err(ctx, CO_ESOFTWARE, "out of memory");
		goto fail;
	}
	json_decref(args);
	json_decref(props);
	return req;
fail:
	json_decref(args);
	json_decref(props);
	json_decref(req);
	return NULL;
}

CO_API int co_rest_create(struct co_ctx *ctx, const struct co_rest_submission *sub,
			  char **submission_id)
{
	struct co_rest_reply reply;
	json_t *req;
	char *body;
	int rc;

	*submission_id = NULL;
	if (!sub->app_resource || !sub->main_class)
		return co_err(ctx, CO_EUSAGE, "a REST submission needs an application JAR and a main class");
	req = create_request(ctx, sub);
	if (!req)
		return CO_EUSAGE;
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	rc = rest_call(ctx, CO_HTTP_POST, "v1/submissions/create", body, &reply);
	free(body);
	if (rc)
		return rc;
	if (not_alive(&reply))
		rc = no_alive_master(ctx, &reply);
	else if (!reply.success_known)
		rc = success_unknown(ctx);
	else if (!reply.success)
		rc = co_err(ctx, CO_EFAIL, "submission refused: %s",
			    reply.message ? reply.message : "no reason given");
	else if (!reply.submission_id)
		rc = co_err(ctx, CO_EPROTOCOL, "%s: reply has no submissionId",
			    ctx->rest_used ? ctx->rest_used : co_config_get(ctx, CO_KEY_REST_URL));
	else if (!co_driver_log_id_valid(reply.submission_id))
		/* It goes into the id file, a driver log's name and later requests. */
		rc = co_err(ctx, CO_EPROTOCOL, "%s: the submissionId is not an id "
			    "(letters, digits, '.', '_' and '-' only)",
			    ctx->rest_used ? ctx->rest_used : co_config_get(ctx, CO_KEY_REST_URL));
	else {
		*submission_id = reply.submission_id;
		reply.submission_id = NULL;
	}
	co_rest_reply_clear(&reply);
	return rc;
}

/* A call on one submission: v1/submissions/VERB/ID, the id escaped. */
static int id_call(struct co_ctx *ctx, enum co_http_method method, const char *verb,
		   const char *id, struct co_rest_reply *reply)
{
	char *eid, *path = NULL;
	int rc;

	if (!co_ctx_curl(ctx))
		return CO_ESOFTWARE;	/* with its message */
	eid = curl_easy_escape(ctx->curl, id, 0);
	if (!eid || asprintf(&path, "v1/submissions/%s/%s", verb, eid) < 0) {
		curl_free(eid);
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	}
	curl_free(eid);
	rc = rest_call(ctx, method, path, NULL, reply);
	free(path);
	return rc;
}

/* A driver state as Spark writes one: RUNNING, FINISHED, ... */
static bool state_word(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= 32 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == len;
}

CO_API int co_rest_status(struct co_ctx *ctx, const char *id, char **driver_state)
{
	struct co_rest_reply reply;
	int rc;

	*driver_state = NULL;
	if ((rc = id_call(ctx, CO_HTTP_GET, "status", id, &reply)))
		return rc;
	if (not_alive(&reply))
		rc = no_alive_master(ctx, &reply);
	else if (!reply.success_known)
		rc = success_unknown(ctx);
	else if (!reply.success)
		rc = co_err(ctx, CO_EFAIL, "%s: no such submission%s%s", id,
			    reply.message ? ": " : "", reply.message ? reply.message : "");
	/* found, and then the state is owed: none, or one of the wrong type, is malformed */
	else if (!reply.driver_state || !state_word(reply.driver_state))
		rc = co_err(ctx, CO_EPROTOCOL, "%s: the driverState is not a state", id);
	else {
		*driver_state = reply.driver_state;
		reply.driver_state = NULL;
	}
	co_rest_reply_clear(&reply);
	return rc;
}

CO_API int co_rest_kill(struct co_ctx *ctx, const char *id)
{
	struct co_rest_reply reply;
	int rc;

	if ((rc = id_call(ctx, CO_HTTP_POST, "kill", id, &reply)))
		return rc;
	if (not_alive(&reply))
		rc = no_alive_master(ctx, &reply);
	else if (!reply.success_known)
		rc = success_unknown(ctx);
	else if (!reply.success)
		rc = co_err(ctx, CO_EFAIL, "%s: %s", id,
			    reply.message ? reply.message : "kill refused");
	co_rest_reply_clear(&reply);
	return rc;
}
