/* SPDX-License-Identifier: MIT */
/*
 * An application's logs on the workers: which workers ran its executors,
 * and reading their logs through the /log/ endpoint in bounded pieces:
 * where to read next and whether a piece is believable (the cursor), many
 * logs at once (the reader), or one whole log into a file.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/*
 * The worker's text decoder may change a cut character by a few bytes: a
 * piece may carry that many fewer bytes than its header's range.
 */
#define PIECE_SLOP 8
/*
 * Whether len bytes can be the text of a range of n >= 0 bytes: at most
 * 3n + 8, each byte as U+FFFD.
 */
static bool range_holds(int64_t len, int64_t n)
{
	return n > (INT64_MAX - PIECE_SLOP) / 3 || len <= 3 * n + PIECE_SLOP;
}

CO_API void co_log_cursor_init(struct co_log_cursor *c, long tail, bool fixed)
{
	memset(c, 0, sizeof(*c));
	c->tail = tail;
	c->tailing = tail >= 0;
	c->window = CO_LOG_TAIL_WINDOW;
	c->fixed = fixed;
	c->limit = -1;
}

CO_API void co_log_cursor_next(const struct co_log_cursor *c, int64_t *offset, int64_t *length)
{
	*offset = c->tailing ? -1 : c->offset;
	*length = c->tailing ? c->window : CO_LOG_PIECE;
	/* of a log read to a size, no byte past it: a log that grows ends there */
	if (!c->tailing && c->limit >= 0 && c->limit - c->offset < *length)
		*length = c->limit > c->offset ? c->limit - c->offset : 1;
}

/*
 * Whether a piece answers the one asked for (c->offset and the length
 * co_log_cursor_next() gives): it starts where it was asked to, and short
 * of the end of the log (the most any piece has said the log holds) it
 * brings at least half of what was asked; otherwise a worker could move a
 * few bytes a reply, or claim a log smaller each time, and the reading
 * would go on for ever. Its bytes are about those of its range: the
 * worker's text decoder may change a character cut by the piece, and
 * turns each byte that is not UTF-8 into U+FFFD, three bytes.
 */
static bool piece_advances(const struct co_log_cursor *c, const struct co_log_chunk *p)
{
	int64_t offset, asked, most = p->total > c->total ? p->total : c->total;

	co_log_cursor_next(c, &offset, &asked);
	if (most - offset < asked)
		asked = most - offset;
	if (p->start != offset || p->end < offset)
		return false;
	if (p->end == offset)	/* nothing new: only at the end */
		return p->end == p->total && p->len == 0;
	if (p->end - offset < asked / 2 + asked % 2)
		return false;
	return (int64_t)p->len + PIECE_SLOP >= p->end - p->start &&
	       range_holds((int64_t)p->len, p->end - p->start);
}

static size_t count_lines(const char *data, size_t len)
{
	size_t lines = 0;

	for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data))); p++)
		lines++;
	return lines;
}

/* Where the last n lines of a piece that ends at the file's end start. */
static const char *last_lines(const char *data, size_t len, long n)
{
	const char *p = data + len;
	long lines = 0;

	if (n == 0)
		return p;
	if (p > data && p[-1] == '\n')
		p--;
	while (p > data) {
		if (p[-1] == '\n' && ++lines == n)
			break;
		p--;
	}
	return p;
}

/*
 * The tail's window: enough lines, the start of the file, or as far back as
 * it looks. It grows only while the worker gave all of the window asked
 * for, and never past CO_LOG_TAIL_MAX: what the worker claims cannot make
 * it ask again for ever.
 */
static int take_tail(struct co_ctx *ctx, struct co_log_cursor *c, const struct co_log_chunk *p,
		     const char *origin, const char **data, size_t *len, bool *more)
{
	/* its bytes are about those of its range, and of no more than was asked */
	if (p->end < p->start || p->end - p->start > c->window ||
	    !range_holds((int64_t)p->len, p->end - p->start))
		return co_err(ctx, CO_EPROTOCOL, "%s: the worker's reply holds other than the "
			      "bytes %" PRId64 "-%" PRId64 " it announces (%zu sent, %" PRId64
			      " asked for)", origin, p->start, p->end, p->len, c->window);
	if (p->start > 0 && c->window < CO_LOG_TAIL_MAX && p->end - p->start >= c->window &&
	    count_lines(p->data, p->len) <= (size_t)c->tail) {
		c->window *= 2;
		*more = true;
		return CO_OK;
	}
	*data = last_lines(p->data, p->len, c->tail);
	*len = (size_t)(p->data + p->len - *data);
	c->offset = p->end;
	c->tailing = false;
	return CO_OK;
}

CO_API int co_log_cursor_take(struct co_ctx *ctx, struct co_log_cursor *c,
			      const struct co_log_chunk *p, const char *origin,
			      const char **data, size_t *len, bool *more)
{
	*data = p->data;
	*len = 0;
	*more = false;
	if (p->error)
		return co_err(ctx, CO_EFAIL, "%s: the worker no longer has this log", origin);
	if (c->tailing) {
		int rc = take_tail(ctx, c, p, origin, data, len, more);

		c->total = p->total;
		c->delivered += (int64_t)*len;
		return rc;
	}
	if (!piece_advances(c, p) || (c->limit >= 0 && p->end - PIECE_SLOP > c->limit))
		return co_err(ctx, CO_EPROTOCOL, "%s: the worker's reply does not advance or "
			      "lacks its bytes (bytes %" PRId64 "-%" PRId64 " of %" PRId64
			      ", %zu sent)", origin, p->start, p->end, p->total, p->len);
	if (c->fixed && c->limit < 0)
		c->limit = p->total;
	*len = p->len;
	if (c->limit >= 0 && (int64_t)*len > c->limit - c->delivered)
		*len = (size_t)(c->limit - c->delivered);
	c->delivered += (int64_t)*len;
	c->pieces++;
	/* asked for again only after a piece that moved on: a loop that ends */
	*more = p->end > c->offset && p->end < (c->limit >= 0 ? c->limit : p->total);
	c->offset = p->end;
	if (p->total > c->total)
		c->total = p->total;
	return CO_OK;
}

CO_API int co_log_cursor_finish(struct co_ctx *ctx, const struct co_log_cursor *c,
				const char *origin, int64_t *pad)
{
	*pad = c->limit > c->delivered ? c->limit - c->delivered : 0;
	if (*pad > c->pieces * PIECE_SLOP)
		return co_err(ctx, CO_EPROTOCOL, "%s: the worker sent fewer bytes than it "
			      "announced", origin);
	return CO_OK;
}

/*
 * A worker whose log request timed out is not asked for its other logs for
 * three timeouts: a host that died, or one that registered as a worker and
 * never answers, costs a run one timeout, not one for each of the logs it
 * lists (thousands, at 8 at a time). After that it is asked again: a
 * follower's next reads find a worker that came back.
 */
static double silence_seconds(const struct co_ctx *ctx)
{
	return 3.0 * (double)co_timeout_ms(ctx) / 1000.0;
}

static struct co_silent_worker *silent_find(struct co_ctx *ctx, const char *webui)
{
	for (size_t i = 0; i < ctx->n_silent; i++)
		if (strcmp(ctx->silent[i].webui, webui) == 0)
			return &ctx->silent[i];
	return NULL;
}

/* Whether webui is not to be asked now; then the error, on ctx, says why. */
static bool worker_silent(struct co_ctx *ctx, const char *webui)
{
	struct co_silent_worker *s = silent_find(ctx, webui);

	if (!s || co_monotonic() >= s->until)
		return false;
	co_err(ctx, CO_ETEMPFAIL, "%s: not asked: the worker did not answer in time for "
	       "another of its logs", webui);
	return true;
}

/* After a request to webui that ended with rc: a timeout silences the worker. */
static void worker_answered(struct co_ctx *ctx, const char *webui, int rc)
{
	struct co_silent_worker *s, *v;
	char *copy;

	if (rc != CO_ETEMPFAIL)
		return;
	if ((s = silent_find(ctx, webui))) {
		s->until = co_monotonic() + silence_seconds(ctx);
		return;
	}
	v = realloc(ctx->silent, (ctx->n_silent + 1) * sizeof(*v));
	if (v)
		ctx->silent = v;
	if (!v || !(copy = strdup(webui)))
		return;		/* out of memory: asked again, as before */
	ctx->silent[ctx->n_silent++] = (struct co_silent_worker){
		copy, co_monotonic() + silence_seconds(ctx) };
}

static char *next_url(const struct co_worker_log_id *id, const struct co_log_cursor *c)
{
	int64_t offset, length;

	co_log_cursor_next(c, &offset, &length);
	return co_worker_log_url(id->webui, id->app_id, id->executor, id->driver_id, id->stream,
				 offset, length);
}

/* Parse a reply and move the cursor: the new bytes in *data and *len. */
static int take_reply(struct co_ctx *ctx, const struct co_worker_log_id *id,
		      struct co_log_cursor *c, const struct co_http_response *resp,
		      const char **data, size_t *len, bool *more)
{
	struct co_log_chunk piece;
	int rc = co_worker_log_parse(ctx, resp->body, resp->len, id->webui, &piece);

	return rc ? rc : co_log_cursor_take(ctx, c, &piece, id->webui, data, len, more);
}

/* ---- many logs at once ------------------------------------------------- */

/*
 * A piece's header line, as long as a worker's path can make it; what
 * follows it is handed on as it arrives, unless the piece has no bytes to
 * give (the end of a log, or the worker's error text), or the log is being
 * tailed: those replies are kept whole, as they are small or bounded.
 */
#define HEADER_MAX 8192
/* The most a reply of no bytes (the end of a log, the worker's error) holds. */
#define NO_BYTES_REPLY_MAX (64 << 10)

struct reader_log {
	struct co_log_reader *reader;
	struct co_worker_log_id id;	/* strings owned */
	struct co_log_cursor cursor;
	void *tag;
	bool failed;
	/* the reply being read */
	bool headed;		/* its header line is in */
	bool streaming;		/* its bytes go straight on */
	struct co_log_chunk piece;	/* from its header, once it is in */
	int64_t run_end;	/* the log's size at its first piece of this run, or -1 */
	size_t body;		/* bytes after the header */
	char *kept;		/* the header, and all of a reply kept whole */
	size_t kept_len, kept_cap;
};

struct co_log_reader {
	struct co_ctx *ctx;
	int max_parallel;
	long tail;
	size_t n;
	struct reader_log **logs;
	co_log_data_fn *data;	/* while running */
	void *arg;
	/* kept from run to run: a follower asks the same workers each time */
	struct co_http_multi *multi;
};

CO_API struct co_log_reader *co_log_reader_new(struct co_ctx *ctx, int max_parallel,
					       long tail)
{
	struct co_log_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->ctx = ctx;
	r->max_parallel = max_parallel > 0 ? max_parallel : 8;	/* as co_http_multi's */
	r->tail = tail;
	return r;
}

static void reader_log_free(struct reader_log *l)
{
	if (!l)
		return;
	free((char *)l->id.webui);
	free((char *)l->id.app_id);
	free((char *)l->id.driver_id);
	free((char *)l->id.stream);
	free(l->kept);
	free(l);
}

CO_API void co_log_reader_free(struct co_log_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		reader_log_free(r->logs[i]);
	free(r->logs);
	co_http_multi_free(r->multi);
	free(r);
}

CO_API int co_log_reader_add(struct co_log_reader *r, const struct co_worker_log_id *id,
			     void *tag)
{
	struct reader_log *l = calloc(1, sizeof(*l));
	struct reader_log **v = l ? realloc(r->logs, (r->n + 1) * sizeof(*v)) : NULL;

	if (v)
		r->logs = v;
	if (l) {
		l->id.webui = co_strdup0(id->webui);
		l->id.app_id = co_strdup0(id->app_id);
		l->id.driver_id = co_strdup0(id->driver_id);
		l->id.stream = co_strdup0(id->stream);
		l->id.executor = id->executor;
		l->reader = r;
		l->tag = tag;
		co_log_cursor_init(&l->cursor, r->tail, false);
	}
	if (!v || !l->id.webui || !l->id.stream || (id->app_id && !l->id.app_id) ||
	    (id->driver_id && !l->id.driver_id)) {
		reader_log_free(l);
		return co_err(r->ctx, CO_ESOFTWARE, "out of memory");
	}
	r->logs[r->n++] = l;
	return CO_OK;
}

static int keep(struct co_ctx *ctx, struct reader_log *l, const char *data, size_t len)
{
	return co_bytes_append(&l->kept, &l->kept_len, &l->kept_cap, data, len) ? CO_OK :
	       co_err(ctx, CO_ESOFTWARE, "out of memory");
}

/*
 * Once a piece's header is in: whether its bytes can go on as they come.
 * What the header alone shows is checked now, before any byte is passed
 * on; whether the bytes it announces all came, once the reply is complete.
 */
static int header_in(struct co_ctx *ctx, struct reader_log *l)
{
	struct co_log_chunk *p = &l->piece;
	int rc = co_worker_log_parse(ctx, l->kept, l->kept_len, l->id.webui, p);

	l->streaming = rc == CO_OK && p->end > p->start;
	/* one kept whole (no bytes, or the worker's error text) is checked once in */
	if (l->streaming && p->start != l->cursor.offset)
		return co_err(ctx, CO_EPROTOCOL, "%s: the worker's reply is not of the bytes asked "
			      "for (bytes %" PRId64 "-%" PRId64 " of %" PRId64 ", asked from %"
			      PRId64 ")", l->id.webui, p->start, p->end, p->total,
			      l->cursor.offset);
	return rc;
}

static int log_body(void *tag, const char *data, size_t len)
{
	struct reader_log *l = tag;
	struct co_log_reader *r = l->reader;
	int rc;

	if (!l->headed) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) + 1 : len;

		if (l->kept_len + n > HEADER_MAX)
			return co_err(r->ctx, CO_EPROTOCOL, "%s: not a worker log reply",
				      l->id.webui);
		if ((rc = keep(r->ctx, l, data, n)) != CO_OK || !nl)
			return rc;
		l->headed = true;
		if ((rc = header_in(r->ctx, l)) != CO_OK)
			return rc;
		data += n;
		len -= n;
	}
	if (l->body + len + 1 > CO_HTTP_MAX_BODY)
		return co_err(r->ctx, CO_EPROTOCOL, "%s: reply larger than %u MiB", l->id.webui,
			      CO_HTTP_MAX_BODY >> 20);
	l->body += len;
	/* a piece of no bytes carries at most the worker's error text */
	if (!l->streaming && l->body > NO_BYTES_REPLY_MAX)
		return co_err(r->ctx, CO_EPROTOCOL, "%s: the worker's reply for no bytes holds "
			      "more than %d KiB", l->id.webui, NO_BYTES_REPLY_MAX >> 10);
	if (!l->streaming)
		return keep(r->ctx, l, data, len);
	/* more than its range can come back as is not passed on */
	if (!range_holds((int64_t)l->body, l->piece.end - l->piece.start))
		return co_err(r->ctx, CO_EPROTOCOL, "%s: the worker's reply holds more than "
			      "the bytes %" PRId64 "-%" PRId64 " it announces", l->id.webui,
			      l->piece.start, l->piece.end);
	if (len)
		r->data(r->arg, l->tag, data, len);
	return CO_OK;
}

static int request(struct co_log_reader *r, struct co_http_multi *m, struct reader_log *l)
{
	char *url = next_url(&l->id, &l->cursor);
	int rc;

	memset(&l->piece, 0, sizeof(l->piece));
	l->headed = l->streaming = false;
	l->body = l->kept_len = 0;
	if (!url)
		return co_err(r->ctx, CO_ESOFTWARE, "out of memory");
	/* A tail's window is taken from its end: it is read whole, and is
	 * no more than the text of the window with its header. */
	rc = l->cursor.tailing ? co_http_multi_get_max(m, url, l, (size_t)(3 * l->cursor.window +
								 PIECE_SLOP + HEADER_MAX))
			       : co_http_multi_get_streamed(m, url, l, log_body);
	free(url);
	return rc;
}

/* A reply kept whole may have been a big one: its buffer is not kept for the next. */
static void kept_trim(struct reader_log *l)
{
	if (l->kept_cap > 2 * HEADER_MAX) {
		free(l->kept);
		l->kept = NULL;
		l->kept_cap = l->kept_len = 0;
	}
}

/* A completed reply: the bytes it leaves to pass on in *data and *len. */
static int reply_in(struct co_ctx *ctx, struct reader_log *l, struct co_http_response *resp,
		    const char **data, size_t *len, bool *more)
{
	static char nothing[1];
	struct co_http_response kept = { .body = l->kept ? l->kept : nothing,
					 .len = l->kept_len };
	int rc;

	if (resp->body)		/* kept whole by the transfer */
		return take_reply(ctx, &l->id, &l->cursor, resp, data, len, more);
	if (!l->streaming)	/* kept whole here, or cut short in its header */
		return take_reply(ctx, &l->id, &l->cursor, &kept, data, len, more);
	/* passed on already: now check it brought what its header announced */
	l->piece.data = NULL;
	l->piece.len = l->body;
	rc = co_log_cursor_take(ctx, &l->cursor, &l->piece, l->id.webui, data, len, more);
	*len = 0;
	return rc;
}

/*
 * Ask for l's next piece, unless its worker is silenced: then l is failed
 * without a request. *outstanding counts the requests in the engine.
 */
static int ask(struct co_log_reader *r, struct co_http_multi *m, struct reader_log *l,
	       co_log_fail_fn *failed, void *arg, int *outstanding)
{
	int rc;

	if (worker_silent(r->ctx, l->id.webui)) {
		l->failed = true;
		failed(arg, l->tag, co_ctx_error(r->ctx));
		return CO_OK;
	}
	if ((rc = request(r, m, l)) == CO_OK)
		(*outstanding)++;
	return rc;
}

/*
 * Start the logs not yet asked for this run, up to max_parallel requests
 * at once: each is asked only when there is room, so a worker silenced
 * meanwhile is not asked for the rest.
 */
static int ask_more(struct co_log_reader *r, struct co_http_multi *m, size_t *next,
		    co_log_fail_fn *failed, void *arg, int *outstanding)
{
	int rc = CO_OK;

	while (rc == CO_OK && *outstanding < r->max_parallel && *next < r->n) {
		struct reader_log *l = r->logs[(*next)++];

		if (!l->failed)
			rc = ask(r, m, l, failed, arg, outstanding);
	}
	return rc;
}

CO_API int co_log_reader_run(struct co_log_reader *r, co_log_data_fn *data,
			     co_log_fail_fn *failed, void *arg)
{
	struct co_http_multi *m = r->multi ? r->multi
		: (r->multi = co_http_multi_new(r->ctx, r->max_parallel));
	struct co_http_response resp;
	int rc = m ? CO_OK : CO_ESOFTWARE, status, got = 0, outstanding = 0;
	size_t next = 0;
	void *tag;

	r->data = data;
	r->arg = arg;
	for (size_t i = 0; i < r->n; i++)
		r->logs[i]->run_end = -1;
	if (rc == CO_OK)
		rc = ask_more(r, m, &next, failed, arg, &outstanding);
	/* The pieces of one log are asked for one at a time, in order. */
	while (rc == CO_OK && (got = co_http_multi_next(m, &tag, &resp, &status)) == 1) {
		struct reader_log *l = tag;
		const char *bytes;
		size_t len;
		bool more;

		outstanding--;
		if (status == CO_OK)
			status = reply_in(r->ctx, l, &resp, &bytes, &len, &more);
		if (status != CO_OK) {
			worker_answered(r->ctx, l->id.webui, status);
			l->failed = true;
			failed(arg, l->tag, co_ctx_error(r->ctx));
		} else {
			if (len)
				data(arg, l->tag, bytes, len);
			/*
			 * A run reads a log up to the size it had at its first piece:
			 * a log that grows as fast as it is read (or a worker that
			 * says so) does not keep the run going for ever; a follower
			 * reads the rest in its next run.
			 */
			if (!l->cursor.tailing && l->run_end < 0)
				l->run_end = l->cursor.total;
			if (more && !l->cursor.tailing && l->cursor.offset >= l->run_end)
				more = false;
			if (more)
				rc = ask(r, m, l, failed, arg, &outstanding);
		}
		kept_trim(l);
		co_http_response_clear(&resp);
		if (rc == CO_OK)
			rc = ask_more(r, m, &next, failed, arg, &outstanding);
	}
	if (rc == CO_OK && got != 0)
		rc = got;	/* the transfer engine itself failed */
	if (rc != CO_OK) {	/* what it still holds is not asked for again */
		co_http_multi_free(m);
		r->multi = NULL;
	}
	return rc;
}

/* ---- one log into an archive ------------------------------------------- */

CO_API int co_worker_log_copy(struct co_ctx *ctx, const struct co_worker_log_id *id, int fd,
			      uint64_t *left, char **first_url, int64_t *size)
{
	struct co_log_cursor c;
	bool more = true;
	int64_t pad;
	int rc = CO_OK;

	*first_url = NULL;
	*size = 0;
	co_log_cursor_init(&c, -1, true);
	while (rc == CO_OK && more) {
		char *url = next_url(id, &c);
		struct co_http_response resp = { 0 };
		const char *data;
		size_t len;

		if (!url)
			return co_err(ctx, CO_ESOFTWARE, "out of memory");
		if (worker_silent(ctx, id->webui)) {
			free(url);
			return CO_ETEMPFAIL;	/* said on ctx */
		}
		rc = co_http_get(ctx, url, &resp);
		worker_answered(ctx, id->webui, rc);
		if (rc == CO_OK)
			rc = take_reply(ctx, id, &c, &resp, &data, &len, &more);
		/* what the log says it holds, before any of it is taken */
		if (rc == CO_OK && (uint64_t)c.limit > *left)
			rc = co_err(ctx, CO_EDATA, "%s: the log's %" PRId64 " bytes are more than "
				    "the %" PRIu64 " left of the limit (extract_max_size)",
				    id->webui, c.limit, *left);
		if (rc == CO_OK && !*first_url) {
			*first_url = url;
			url = NULL;
		}
		if (rc == CO_OK)
			rc = co_write_all(fd, data, len) == 0 ? CO_OK
			     : co_err(ctx, CO_EIO, "temporary file: %s", strerror(errno));
		co_http_response_clear(&resp);
		free(url);
	}
	if (rc == CO_OK)
		rc = co_log_cursor_finish(ctx, &c, id->webui, &pad);
	if (rc == CO_OK) {
		*size = c.delivered;
		*left -= (uint64_t)c.delivered;
	}
	return rc;
}

/* Workers asked for their /json/ at once: each reply is held until parsed. */
#define LOOKUP_PARALLEL 4
/*
 * The most executors of one application taken from a worker: ten times
 * the finished ones a worker keeps by default (spark.worker.ui.
 * retainedExecutors), so that a worker cannot make a reader of thousands.
 */
#define EXECUTORS_MAX 10000

/* One worker to ask, and what it answered. */
struct lookup {
	const struct co_spark_worker *w;
	char *url;
	bool dead, answered;
	bool not_asked;		/* the lookup's time was up first */
	int rc;			/* of the last try */
	char *why;		/* why it is missing, or NULL */
	int *executors;		/* the application's, as it lists them */
	size_t n_executors;
};

/* A worker's /json/ in hand: keep the application's executors, or say why not. */
static void lookup_take(struct lookup *l, const char *app_id, struct co_worker_state *ws)
{
	l->answered = true;
	/*
	 * A worker restarted on the same port answers for the dead one's
	 * address: its executors are its own, and its own entry adds them.
	 */
	if (strcmp(ws->id, l->w->id) != 0) {
		if (!l->dead)
			l->why = strdup("its address now belongs to another worker");
		return;
	}
	for (size_t e = 0; e < ws->n_executors; e++) {
		int *v;

		if (!ws->executors[e].app_id || strcmp(ws->executors[e].app_id, app_id) != 0)
			continue;
		if (l->n_executors == EXECUTORS_MAX) {
			l->why = strdup("lists more than 10000 executors of the application; "
					"the others are left out");
			return;
		}
		v = realloc(l->executors, (l->n_executors + 1) * sizeof(*v));
		if (!v) {
			l->why = strdup("out of memory");
			return;
		}
		l->executors = v;
		v[l->n_executors++] = ws->executors[e].id;
	}
}

static void lookup_failed(struct co_ctx *ctx, struct lookup *l, int rc)
{
	l->rc = rc;
	free(l->why);
	l->why = strdup(co_ctx_error(ctx));
}

/*
 * Ask the workers LOOKUP_PARALLEL at a time, for at most limit seconds in
 * all (a transfer under way then still has its own time): a master can list
 * any number of workers at addresses that never answer.
 */
static void lookup_all(struct co_ctx *ctx, struct lookup *lk, size_t n, const char *app_id,
		       double limit)
{
	/* one for every lookup of a run: -f asks the same workers each second */
	struct co_http_multi *m = ctx->workers ? ctx->workers
		: (ctx->workers = co_http_multi_new(ctx, LOOKUP_PARALLEL));
	double start = co_monotonic();
	struct co_http_response resp;
	void *tag;
	int status, r = 0;

	for (size_t i = 0; i < n; i++) {
		if (lk[i].why)
			continue;	/* its URL could not be made */
		if (!m)
			lookup_failed(ctx, &lk[i], CO_ESOFTWARE);
		else if ((r = co_http_multi_get_document(m, lk[i].url, &lk[i])) != CO_OK)
			lookup_failed(ctx, &lk[i], r);
	}
	while (m && (r = co_http_multi_next(m, &tag, &resp, &status)) == 1) {
		struct lookup *l = tag;
		struct co_worker_state *ws = NULL;

		if (status == CO_OK)
			status = co_worker_state_parse(ctx, resp.body, resp.len, l->url, &ws);
		co_http_response_clear(&resp);
		if (status == CO_OK)
			lookup_take(l, app_id, ws);
		else
			lookup_failed(ctx, l, status);
		co_worker_state_free(ws);
		if (co_monotonic() - start >= limit) {
			r = -1;
			break;
		}
	}
	if (r != 0) {	/* those not yet answered are left out */
		co_http_multi_free(m);
		ctx->workers = NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (!lk[i].answered && !lk[i].why)
			lk[i].not_asked = true;
	/*
	 * A refused or dropped connection (a restarting worker) gets the
	 * retries a single request has, while time is left; a timeout does
	 * not, it already spent its time.
	 */
	for (size_t i = 0; i < n && co_monotonic() - start < limit; i++) {
		struct co_worker_state *ws;

		if (lk[i].answered || lk[i].not_asked || lk[i].rc != CO_EUNAVAILABLE)
			continue;
		if ((r = co_worker_state_fetch(ctx, lk[i].w->webui, &ws)) != CO_OK) {
			lookup_failed(ctx, &lk[i], r);
			continue;
		}
		free(lk[i].why);
		lk[i].why = NULL;
		lookup_take(&lk[i], app_id, ws);
		co_worker_state_free(ws);
	}
}

CO_API void co_app_executors_find(struct co_ctx *ctx, const struct co_master_state *st,
				  const char *app_id, co_executor_fn *found,
				  co_missing_fn *missing, void *arg)
{
	const struct co_spark_app *app = co_master_state_app(st, app_id);
	/* a start before 1970 is the master's nonsense: taken as 0 */
	int64_t app_start_ms = app && app->start_ms > 0 ? app->start_ms : 0;
	struct lookup *lk = st->n_workers ? calloc(st->n_workers, sizeof(*lk)) : NULL;
	const char *first_not_asked = NULL;
	size_t n = 0, not_asked = 0;
	double limit;

	if (st->n_workers && !lk) {
		if (missing)
			missing(arg, "executors", "out of memory");
		return;
	}
	for (size_t i = 0; i < st->n_workers; i++) {
		const struct co_spark_worker *w = &st->workers[i];
		bool dead = w->state && strcmp(w->state, "DEAD") == 0;

		/*
		 * A worker that was dead when the application started never ran
		 * it. Heartbeats come every 15 s and a worker is declared dead
		 * after 60 s without one (Spark's defaults): only a heartbeat a
		 * full minute before the start proves it.
		 */
		if (!w->webui || (dead && w->last_heartbeat_ms < app_start_ms - 60000))
			continue;
		lk[n].w = w;
		lk[n].dead = dead;
		if (!(lk[n].url = co_url_join(w->webui, "json/"))) {
			co_err(ctx, CO_ESOFTWARE, "out of memory");
			lookup_failed(ctx, &lk[n], CO_ESOFTWARE);
		}
		n++;
	}
	limit = 3.0 * (double)co_timeout_ms(ctx) / 1000.0;
	lookup_all(ctx, lk, n, app_id, limit);
	/* In the master's order, whatever order the answers came in. */
	for (size_t i = 0; i < n; i++) {
		if (lk[i].not_asked && !not_asked++)
			first_not_asked = lk[i].w->id;
		if (lk[i].why && missing)
			missing(arg, lk[i].w->id, lk[i].why);
		for (size_t e = 0; e < lk[i].n_executors; e++)
			found(arg, lk[i].w, lk[i].executors[e]);
		free(lk[i].url);
		free(lk[i].why);
		free(lk[i].executors);
	}
	/* One line for them all: a master can list thousands. */
	if (not_asked && missing) {
		char what[512], why[128];

		if (not_asked == 1)
			snprintf(what, sizeof(what), "%s", first_not_asked);
		else
			snprintf(what, sizeof(what), "%s and %zu more workers", first_not_asked,
				 not_asked - 1);
		snprintf(why, sizeof(why), "not asked: the workers' lookup took its %.0f s", limit);
		missing(arg, what, why);
	}
	free(lk);
}
