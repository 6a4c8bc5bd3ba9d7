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

static int need_id(struct co_ctx *ctx, const char *origin, const char *what,
		   size_t i, const char *id)
{
	if (id)
		return CO_OK;
	return co_err(ctx, CO_EPROTOCOL, "%s: %s[%zu] has no 'id'", origin, what, i);
}

static void fill_worker(const json_t *o, struct co_spark_worker *w)
{
	w->id = co_json_strdup(o, "id");
	w->host = co_json_strdup(o, "host");
	w->port = co_json_count(o, "port");
	if (w->port > 65535)
		w->port = 0;
	w->webui = co_json_strdup(o, "webuiaddress");
	w->cores = co_json_count(o, "cores");
	w->cores_used = co_json_count(o, "coresused");
	w->memory_mb = co_json_int(o, "memory", 0);
	w->memory_used_mb = co_json_int(o, "memoryused", 0);
	w->state = co_json_strdup(o, "state");
	w->last_heartbeat_ms = co_json_int(o, "lastheartbeat", 0);
}

static void fill_app(const json_t *o, bool active, struct co_spark_app *a)
{
	a->id = co_json_strdup(o, "id");
	a->name = co_json_strdup(o, "name");
	a->user = co_json_strdup(o, "user");
	a->state = co_json_strdup(o, "state");
	a->start_ms = co_json_int(o, "starttime", 0);
	a->duration_ms = co_json_int(o, "duration", 0);
	a->cores = co_json_count(o, "cores");
	a->memory_per_executor_mb = co_json_int(o, "memoryperexecutor",
						co_json_int(o, "memoryperslave", 0));
	a->active = active;
}

static void fill_driver(const json_t *o, bool active, struct co_spark_driver *d)
{
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
	d->cores = co_json_count(o, "cores");
	d->memory_mb = co_json_int(o, "memory", 0);
	d->active = active;
}

/*
 * The document is walked member by member as its bytes arrive, and each
 * element of its five lists is parsed by jansson on its own and turned
 * into the state's structs at once: a master that lists 5,000 applications
 * is held neither whole (1.5 MB) nor as one jansson tree (10 MiB more),
 * only as the structs. Only the punctuation between members and elements
 * is read here; every key and value is parsed by jansson, which says where
 * it stopped.
 */
enum { L_WORKERS, L_ACTIVEAPPS, L_COMPLETEDAPPS, L_ACTIVEDRIVERS, L_COMPLETEDDRIVERS, L_N };
static const char *const list_names[L_N] = {
	"workers", "activeapps", "completedapps", "activedrivers", "completeddrivers",
};

/* What comes next in the document. */
enum step {
	S_OPEN,			/* '{' */
	S_FIRST_KEY,		/* a key or '}' */
	S_KEY,			/* a key */
	S_COLON,		/* ':' */
	S_VALUE,		/* the member's value (a list's '[' or null) */
	S_FIRST_ELEMENT,	/* an element or ']' */
	S_ELEMENT,		/* an element */
	S_SKIP_ELEMENT,		/* the rest of an element jansson refused */
	S_AFTER_ELEMENT,	/* ',' or ']' */
	S_AFTER_MEMBER,		/* ',' or '}' */
	S_END,			/* nothing but blanks */
};

struct co_master_walk {
	struct co_ctx *ctx;
	const char *origin;
	char *buf;			/* the bytes not yet walked */
	size_t len, cap, pos;		/* pos: the next byte in buf */
	size_t base;			/* buf[0]'s offset in the document */
	size_t tried;			/* bytes left when a value was found cut short */
	bool eof;
	enum step step;
	char *key;			/* the member being read */
	int list;			/* its list, or L_N */
	size_t index;			/* the list's next element */
	json_t *top;			/* the members other than the lists */
	struct {			/* S_SKIP_ELEMENT: where the scan is */
		int depth;
		bool started;
		struct co_json_scan scan;
	} skip;
	size_t unreadable;		/* elements skipped */
	bool seen[L_N];
	size_t n[L_N];			/* elements of each list */
	struct co_spark_worker *workers;
	struct co_spark_app *apps[2];	/* active, completed */
	struct co_spark_driver *drivers[2];
};

#define WALK_MORE (-1)	/* the next value has not all arrived */
/*
 * What jansson is given at a time: a member, or an element of a list, is
 * at most 1 MiB (a real one is a few hundred bytes); its tree can take
 * twenty times its text. The lists together hold at most a million
 * elements: a master that retains more than that is not a real one.
 */
#define VALUE_MAX ((size_t)1 << 20)
#define ELEMENTS_MAX 1000000

static int malformed(struct co_master_walk *w, size_t at, const char *what)
{
	return co_err(w->ctx, CO_EPROTOCOL, "%s: malformed JSON at byte %zu: %s",
		      w->origin, w->base + at, what);
}

/* The next byte after blanks (left in place), or -1 when none has arrived. */
static int peek(struct co_master_walk *w)
{
	while (w->pos < w->len && strchr(" \t\n\r", w->buf[w->pos]) && w->buf[w->pos])
		w->pos++;
	return w->pos < w->len ? (unsigned char)w->buf[w->pos] : -1;
}

/*
 * One JSON value (any kind) by jansson, which reports where it stopped.
 * Until the document's end, a value that jansson cannot read may still be
 * arriving, and a number that ends where the bytes do may go on: both wait
 * for more, tried again once what is left has doubled, so that a long
 * value is not read over and over.
 */
static int value(struct co_master_walk *w, json_t **out)
{
	size_t avail = w->len - w->pos;
	json_error_t err;
	json_t *v;

	size_t span = avail < VALUE_MAX ? avail : VALUE_MAX;

	*out = NULL;
	if (!w->eof && w->tried && avail < 2 * w->tried && avail < VALUE_MAX)
		return WALK_MORE;
	v = json_loadb(w->buf + w->pos, span,
		       JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &err);
	if (v && ((size_t)err.position < span || !json_is_number(v) ||
		  (w->eof && span == avail))) {
		w->pos += (size_t)err.position;
		w->tried = 0;
		*out = v;
		return CO_OK;
	}
	json_decref(v);
	if (span == VALUE_MAX)
		return malformed(w, w->pos, "a value longer than 1 MiB");
	if (!w->eof) {
		w->tried = avail;
		return WALK_MORE;
	}
	return malformed(w, w->pos + (size_t)err.position, err.text);
}

/* Element w->index of list w->list, o, into the state's structs. */
static int element(struct co_master_walk *w, const json_t *o)
{
	int l = w->list, k = l == L_ACTIVEAPPS || l == L_ACTIVEDRIVERS ? 0 : 1;
	const char *id;
	void **arr, *p;
	size_t size;

	if (!json_is_object(o))
		return co_err(w->ctx, CO_EPROTOCOL, "%s: '%s[%zu]' is not an object",
			      w->origin, list_names[l], w->index);
	if (w->n[L_WORKERS] + w->n[L_ACTIVEAPPS] + w->n[L_COMPLETEDAPPS] +
	    w->n[L_ACTIVEDRIVERS] + w->n[L_COMPLETEDDRIVERS] >= ELEMENTS_MAX)
		return co_err(w->ctx, CO_EPROTOCOL, "%s: more than %d workers, applications "
			      "and drivers", w->origin, ELEMENTS_MAX);
	if (l == L_WORKERS)
		arr = (void **)&w->workers, size = sizeof(*w->workers);
	else if (l == L_ACTIVEAPPS || l == L_COMPLETEDAPPS)
		arr = (void **)&w->apps[k], size = sizeof(*w->apps[k]);
	else
		arr = (void **)&w->drivers[k], size = sizeof(*w->drivers[k]);
	if (!(p = co_grow(*arr, w->n[l], size)))
		return co_err(w->ctx, CO_ESOFTWARE, "out of memory");
	*arr = p;
	p = (char *)p + w->n[l]++ * size;
	memset(p, 0, size);
	if (l == L_WORKERS) {
		fill_worker(o, p);
		id = ((struct co_spark_worker *)p)->id;
	} else if (l == L_ACTIVEAPPS || l == L_COMPLETEDAPPS) {
		fill_app(o, k == 0, p);
		id = ((struct co_spark_app *)p)->id;
	} else {
		fill_driver(o, k == 0, p);
		id = ((struct co_spark_driver *)p)->id;
	}
	return need_id(w->ctx, w->origin, list_names[l], w->index++, id);
}

/*
 * The other members the state is made of: only they are kept, so that a
 * document of many large members of no use costs one member at a time.
 */
static bool kept_member(const char *key)
{
	static const char *const kept[] = { "url", "status", "aliveworkers", "cores",
					     "coresused", "memory", "memoryused" };

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (strcmp(key, kept[i]) == 0)
			return true;
	return false;
}

/* The member w->key's value: a list's '[' or null, or a value kept in w->top. */
static int member_value(struct co_master_walk *w, int c)
{
	json_t *v;
	int rc;

	for (w->list = 0; w->list < L_N && strcmp(w->key, list_names[w->list]) != 0; w->list++)
		;
	if (w->list < L_N && w->seen[w->list])
		return co_err(w->ctx, CO_EPROTOCOL, "%s: '%s' appears twice",
			      w->origin, w->key);
	if (w->list < L_N && c == '[') {
		w->pos++;
		w->seen[w->list] = true;
		w->index = 0;
		w->step = S_FIRST_ELEMENT;
		return CO_OK;
	}
	if ((rc = value(w, &v)))
		return rc;
	if (w->list < L_N) {
		w->seen[w->list] = true;
		rc = json_is_null(v) ? CO_OK :
			co_err(w->ctx, CO_EPROTOCOL, "%s: '%s' is not an array",
			       w->origin, list_names[w->list]);
		json_decref(v);
	} else if (!kept_member(w->key)) {
		json_decref(v);
	} else if (json_object_set_new(w->top, w->key, v)) {
		rc = co_err(w->ctx, CO_ESOFTWARE, "out of memory");
	}
	w->step = S_AFTER_MEMBER;
	return rc;
}

/*
 * The rest of an element jansson could not take, by its punctuation alone,
 * as its bytes arrive: any worker or application may carry a name a
 * registering host chose (a NUL as '\u0000' in a resource's name, which
 * jansson refuses in a key; a lone surrogate; a megabyte of text), and
 * one such entry must not make the master's whole document unreadable
 * for every tool. CO_OK once past it, WALK_MORE, or an error when the
 * element does not end where an element may.
 */
static int skip_element(struct co_master_walk *w)
{
	for (; w->pos < w->len; w->pos++) {
		char c = w->buf[w->pos];

		if (!w->skip.started && (c == ',' || c == ']' || c == '}'))
			return malformed(w, w->pos, "a value expected");
		w->skip.started = true;
		if (!co_json_scan_step(&w->skip.scan, c)) {
			continue;
		} else if (c == '{' || c == '[') {
			if (++w->skip.depth > 2048)
				return malformed(w, w->pos, "nested too deeply");
		} else if (c == '}' || c == ']') {
			if (w->skip.depth == 0 && c == ']')
				return CO_OK;		/* a scalar element, the list's end */
			if (w->skip.depth == 0)
				return malformed(w, w->pos, "',' or ']' expected");
			if (--w->skip.depth == 0) {
				w->pos++;
				return CO_OK;
			}
		} else if (c == ',' && w->skip.depth == 0) {
			return CO_OK;
		}
	}
	return w->eof ? malformed(w, w->pos, "the document ends early") : WALK_MORE;
}

/* Walk what has arrived: CO_OK at the document's end, WALK_MORE, or an error. */
static int walk(struct co_master_walk *w)
{
	json_t *v;
	int c, rc;

	for (;;) {
		/* blanks are punctuation's, but inside an element skipped they may be a string's */
		c = w->step != S_SKIP_ELEMENT ? peek(w)
			: w->pos < w->len ? (unsigned char)w->buf[w->pos] : -1;
		if (c < 0)
			return w->step == S_END ? CO_OK :
				w->eof ? malformed(w, w->pos, "the document ends early") : WALK_MORE;
		switch (w->step) {
		case S_OPEN:
			if (c != '{')
				return strchr("[\"-0123456789tfn", c) ?
					co_err(w->ctx, CO_EPROTOCOL, "%s: expected a JSON object",
					       w->origin) :
					malformed(w, w->pos, "'{' expected");
			w->pos++;
			w->step = S_FIRST_KEY;
			break;
		case S_FIRST_KEY:
			if (c == '}') {
				w->pos++;
				w->step = S_END;
				break;
			}
			/* fall through */
		case S_KEY:
			if (c != '"')
				return malformed(w, w->pos, w->step == S_KEY ? "a string expected" :
						 "a string or '}' expected");
			if ((rc = value(w, &v)))
				return rc;
			/* as jansson has it in a document read whole */
			if (memchr(json_string_value(v), '\0', json_string_length(v))) {
				json_decref(v);
				return malformed(w, w->pos, "a NUL in a key");
			}
			free(w->key);
			w->key = strdup(json_string_value(v));
			json_decref(v);
			if (!w->key)
				return co_err(w->ctx, CO_ESOFTWARE, "out of memory");
			w->step = S_COLON;
			break;
		case S_COLON:
			if (c != ':')
				return malformed(w, w->pos, "':' expected");
			w->pos++;
			w->step = S_VALUE;
			break;
		case S_VALUE:
			if ((rc = member_value(w, c)))
				return rc;
			break;
		case S_FIRST_ELEMENT:
			if (c == ']') {
				w->pos++;
				w->step = S_AFTER_MEMBER;
				break;
			}
			/* fall through */
		case S_ELEMENT:
			if ((rc = value(w, &v)) == CO_EPROTOCOL) {
				memset(&w->skip, 0, sizeof(w->skip));
				w->tried = 0;	/* the next element is not this one */
				w->step = S_SKIP_ELEMENT;
				break;
			}
			if (rc)
				return rc;
			rc = element(w, v);
			json_decref(v);
			if (rc)
				return rc;
			w->step = S_AFTER_ELEMENT;
			break;
		case S_SKIP_ELEMENT:
			if ((rc = skip_element(w)))
				return rc;
			if (++w->unreadable > ELEMENTS_MAX)
				return co_err(w->ctx, CO_EPROTOCOL, "%s: more than %d elements "
					      "that cannot be read", w->origin, ELEMENTS_MAX);
			w->index++;
			w->step = S_AFTER_ELEMENT;
			break;
		case S_AFTER_ELEMENT:
		case S_AFTER_MEMBER:
			if (c == ',') {
				w->step = w->step == S_AFTER_ELEMENT ? S_ELEMENT : S_KEY;
			} else if (c == (w->step == S_AFTER_ELEMENT ? ']' : '}')) {
				w->step = w->step == S_AFTER_ELEMENT ? S_AFTER_MEMBER : S_END;
			} else {
				return malformed(w, w->pos, w->step == S_AFTER_ELEMENT ?
						 "',' or ']' expected" : "',' or '}' expected");
			}
			w->pos++;
			break;
		case S_END:
			return malformed(w, w->pos, "end of file expected");
		}
	}
}

static void walk_clear(struct co_master_walk *w)
{
	for (size_t i = 0; i < w->n[L_WORKERS]; i++)
		worker_clear(&w->workers[i]);
	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < w->n[L_ACTIVEAPPS + k]; i++)
			app_clear(&w->apps[k][i]);
		for (size_t i = 0; i < w->n[L_ACTIVEDRIVERS + k]; i++)
			driver_clear(&w->drivers[k][i]);
		free(w->apps[k]);
		free(w->drivers[k]);
	}
	free(w->workers);
	free(w->key);
	free(w->buf);
	json_decref(w->top);
	memset(w, 0, sizeof(*w));
}

static int walk_start(struct co_master_walk *w, struct co_ctx *ctx, const char *origin)
{
	memset(w, 0, sizeof(*w));
	w->ctx = ctx;
	w->origin = origin;
	if (!(w->top = json_object()))
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	return CO_OK;
}

struct co_master_walk *co_master_walk_new(struct co_ctx *ctx, const char *origin)
{
	struct co_master_walk *w = malloc(sizeof(*w));

	if (!w) {
		co_err(ctx, CO_ESOFTWARE, "out of memory");
		return NULL;
	}
	if (walk_start(w, ctx, origin)) {
		free(w);
		return NULL;
	}
	return w;
}

void co_master_walk_free(struct co_master_walk *w)
{
	if (w) {
		walk_clear(w);
		free(w);
	}
}

int co_master_walk_restart(void *arg)
{
	struct co_master_walk *w = arg;
	struct co_ctx *ctx = w->ctx;
	const char *origin = w->origin;

	walk_clear(w);
	return walk_start(w, ctx, origin);
}

int co_master_walk_feed(void *arg, const char *data, size_t n)
{
	struct co_master_walk *w = arg;
	const char *nul;
	int rc;

	/*
	 * jansson passes over a NUL after a number without counting it, so
	 * where it says it stopped would be off by one; JSON has no raw NUL.
	 */
	if ((nul = memchr(data, '\0', n)))
		return malformed(w, w->len + (size_t)(nul - data), "a NUL byte");
	/* what was walked goes, when it is most of the buffer */
	if (w->pos > w->len / 2) {
		memmove(w->buf, w->buf + w->pos, w->len - w->pos);
		w->base += w->pos;
		w->len -= w->pos;
		w->pos = 0;
	}
	if (n && !co_bytes_append(&w->buf, &w->len, &w->cap, data, n))
		return co_err(w->ctx, CO_ESOFTWARE, "out of memory");
	rc = walk(w);
	return rc == WALK_MORE ? CO_OK : rc;
}

/* Active elements first, then completed: a and b become one array in *a. */
static bool join(void **a, size_t na, void *b, size_t nb, size_t size)
{
	void *p = realloc(*a, (na + nb ? na + nb : 1) * size);

	if (!p)
		return false;
	if (nb)
		memcpy((char *)p + na * size, b, nb * size);
	*a = p;
	return true;
}

int co_master_walk_end(struct co_master_walk *w, struct co_master_state **out)
{
	struct co_master_state *st;
	int rc;

	*out = NULL;
	w->eof = true;
	if ((rc = walk(w)))
		return rc == WALK_MORE ? malformed(w, w->pos, "the document ends early") : rc;
	if (!json_is_string(json_object_get(w->top, "status")) ||
	    !json_is_string(json_object_get(w->top, "url")))
		return co_err(w->ctx, CO_EPROTOCOL,
			      "%s: not a Spark master status (no 'url' and 'status')", w->origin);
	if (!(st = calloc(1, sizeof(*st))) ||
	    !join((void **)&w->workers, w->n[L_WORKERS], NULL, 0, sizeof(*w->workers)) ||
	    !join((void **)&w->apps[0], w->n[L_ACTIVEAPPS], w->apps[1], w->n[L_COMPLETEDAPPS],
		  sizeof(*w->apps[0])) ||
	    !join((void **)&w->drivers[0], w->n[L_ACTIVEDRIVERS], w->drivers[1],
		  w->n[L_COMPLETEDDRIVERS], sizeof(*w->drivers[0]))) {
		free(st);
		return co_err(w->ctx, CO_ESOFTWARE, "out of memory");
	}
	/* the structs move to the state; of the completed lists, only the arrays stay */
	st->workers = w->workers, st->n_workers = w->n[L_WORKERS];
	st->apps = w->apps[0], st->n_apps = w->n[L_ACTIVEAPPS] + w->n[L_COMPLETEDAPPS];
	st->drivers = w->drivers[0];
	st->n_drivers = w->n[L_ACTIVEDRIVERS] + w->n[L_COMPLETEDDRIVERS];
	w->workers = NULL, w->apps[0] = NULL, w->drivers[0] = NULL;
	memset(w->n, 0, sizeof(w->n));
	st->url = co_json_strdup(w->top, "url");
	st->status = co_json_strdup(w->top, "status");
	st->alive_workers = co_json_count(w->top, "aliveworkers");
	st->cores = co_json_count(w->top, "cores");
	st->cores_used = co_json_count(w->top, "coresused");
	st->memory_mb = co_json_int(w->top, "memory", 0);
	st->memory_used_mb = co_json_int(w->top, "memoryused", 0);
	st->n_unreadable = w->unreadable;
	if (!st->url || !st->status) {
		co_master_state_free(st);
		return co_err(w->ctx, CO_ESOFTWARE, "out of memory");
	}
	*out = st;
	return CO_OK;
}

CO_API int co_master_state_parse(struct co_ctx *ctx, const char *text, size_t len,
				 const char *origin, struct co_master_state **out)
{
	struct co_master_walk *w = co_master_walk_new(ctx, origin);
	int rc;

	*out = NULL;
	if (!w)
		return CO_ESOFTWARE;
	if (!(rc = co_master_walk_feed(w, text, len)))
		rc = co_master_walk_end(w, out);
	co_master_walk_free(w);
	return rc;
}

static int fetch_one(struct co_ctx *ctx, const char *ui, struct co_master_state **out)
{
	struct co_master_walk *w = NULL;
	char *url = co_url_join(ui, "json/");
	int rc = CO_ESOFTWARE;

	*out = NULL;
	if (!url)
		return co_err(ctx, CO_ESOFTWARE, "out of memory");
	if ((w = co_master_walk_new(ctx, url)) &&
	    !(rc = co_http_get_streamed(ctx, url, CO_HTTP_MAX_BODY, co_master_walk_feed,
					 co_master_walk_restart, w)))
		rc = co_master_walk_end(w, out);
	co_master_walk_free(w);
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
		t = co_monotonic();
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
