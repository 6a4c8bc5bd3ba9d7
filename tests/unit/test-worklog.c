/* SPDX-License-Identifier: MIT */
/*
 * Worker logs read in pieces: the /log/ reply parser, and the cursor that
 * decides what to ask for next and whether a piece is believable.
 */
#include "config.h"

#include <stdlib.h>

#include "check.h"
#include "clusterops.h"

static struct co_ctx *ctx;

static int parse(const char *reply, struct co_log_chunk *c)
{
	return co_worker_log_parse(ctx, reply, strlen(reply), "w", c);
}

static void test_parse(void)
{
	static const char *const bad[] = {
		"",
		"hello\n",
		"==== Bytes 0-5 of 5 of /x/stderr ====",		/* no newline */
		"==== Bytes 0-5 of 5 of /x/stderr\nhello",		/* no closing ==== */
		"==== Bytes 5-0 of 5 of /x/stderr ====\n",		/* end before start */
		"==== Bytes 0-9 of 5 of /x/stderr ====\n",		/* end past the file */
		"==== Bytes -1-5 of 5 of /x/stderr ====\n",
		"==== Bytes a-5 of 5 of /x/stderr ====\n",
		"==== Bytes 0-5 of /x/stderr ====\n",
		"<html>==== Bytes 0-5 of 5 of /x ====\n",
	};
	struct co_log_chunk c;

	CHECK_INT(parse("==== Bytes 0-6 of 6 of /w/app/0/stderr ====\nhello\n", &c), CO_OK);
	CHECK_INT(c.start, 0);
	CHECK_INT(c.end, 6);
	CHECK_INT(c.total, 6);
	CHECK_INT(c.len, 6);
	CHECK(memcmp(c.data, "hello\n", 6) == 0);
	CHECK(c.error == NULL);
	/* a piece of a longer file, with no newline of its own at the end */
	CHECK_INT(parse("==== Bytes 100-103 of 4000 of /p ====\nabc", &c), CO_OK);
	CHECK_INT(c.start, 100);
	CHECK_INT(c.total, 4000);
	CHECK_INT(c.len, 3);
	/* the worker's errors come with HTTP 200 and a file of 0 bytes */
	CHECK_INT(parse("==== Bytes 0-0 of 0 of /p ====\nError: invalid log directory", &c),
		  CO_OK);
	CHECK(c.error != NULL);
	CHECK_INT(c.len, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], &c);

		if (rc != CO_EPROTOCOL) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			check_failures++;
		}
	}
	CHECK(strstr(co_ctx_error(ctx), "not a worker log reply") != NULL);
}

static struct co_log_chunk piece(int64_t start, int64_t end, int64_t total, const char *data)
{
	return (struct co_log_chunk){ .start = start, .end = end, .total = total, .data = data,
				      .len = strlen(data) };
}

static int take(struct co_log_cursor *c, struct co_log_chunk p, const char **data, size_t *len,
		bool *more)
{
	return co_log_cursor_take(ctx, c, &p, "w", data, len, more);
}

/* A whole piece: what a worker gives short of the end of a log. */
static const char *whole_piece(void)
{
	static char text[CO_LOG_PIECE + 1];

	if (!text[0])
		memset(text, 'x', CO_LOG_PIECE);
	return text;
}

static void test_cursor_reads_forward(void)
{
	struct co_log_cursor c;
	const char *data;
	int64_t offset, length;
	size_t len;
	bool more;

	co_log_cursor_init(&c, -1, false);
	co_log_cursor_next(&c, &offset, &length);
	CHECK_INT(offset, 0);
	CHECK_INT(length, CO_LOG_PIECE);
	CHECK_INT(take(&c, piece(0, CO_LOG_PIECE, CO_LOG_PIECE + 6, whole_piece()), &data, &len,
		       &more), CO_OK);
	CHECK_INT(len, CO_LOG_PIECE);
	CHECK(more);
	co_log_cursor_next(&c, &offset, &length);
	CHECK_INT(offset, CO_LOG_PIECE);
	/* a character cut by the piece came back re-encoded a little short */
	CHECK_INT(take(&c, piece(CO_LOG_PIECE, CO_LOG_PIECE + 6, CO_LOG_PIECE + 6, "efgh"), &data,
		       &len, &more), CO_OK);
	CHECK_INT(len, 4);
	CHECK(!more);
	/* at the end, nothing new is fine (following) */
	CHECK_INT(take(&c, piece(CO_LOG_PIECE + 6, CO_LOG_PIECE + 6, CO_LOG_PIECE + 6, ""), &data,
		       &len, &more), CO_OK);
	CHECK_INT(len, 0);
	CHECK(!more);
	/* the file grew */
	CHECK_INT(take(&c, piece(CO_LOG_PIECE + 6, CO_LOG_PIECE + 8, CO_LOG_PIECE + 8, "ij"),
		       &data, &len, &more), CO_OK);
	CHECK_INT(len, 2);
	CHECK(memcmp(data, "ij", 2) == 0);
}

static void test_cursor_refuses_what_does_not_advance(void)
{
	struct co_log_cursor c;
	const char *data;
	size_t len;
	bool more;

	co_log_cursor_init(&c, -1, false);
	/* claims a huge file and sends nothing */
	CHECK_INT(take(&c, piece(0, 0, 5000000000LL, ""), &data, &len, &more), CO_EPROTOCOL);
	CHECK(strstr(co_ctx_error(ctx), "does not advance") != NULL);
	/* the same piece again and again */
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, CO_LOG_PIECE, 3 * CO_LOG_PIECE, whole_piece()), &data, &len,
		       &more), CO_OK);
	CHECK_INT(take(&c, piece(0, CO_LOG_PIECE, 3 * CO_LOG_PIECE, whole_piece()), &data, &len,
		       &more), CO_EPROTOCOL);
	/* a byte a reply, of a huge file: it would go on for ever */
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, 1, 5000000000LL, "x"), &data, &len, &more), CO_EPROTOCOL);
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, CO_LOG_PIECE / 2 - 1, 2 * CO_LOG_PIECE, whole_piece() +
			    CO_LOG_PIECE / 2 + 1), &data, &len, &more), CO_EPROTOCOL);
	/* backwards */
	CHECK_INT(take(&c, piece(0, 5, 100, "01234"), &data, &len, &more), CO_EPROTOCOL);
	/* a range without its bytes */
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, 1000, 2000, "short"), &data, &len, &more), CO_EPROTOCOL);
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, 1, 2000, ""), &data, &len, &more), CO_EPROTOCOL);
	/* a log that says it is smaller at each reply, short of what it first said */
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, CO_LOG_PIECE, 5000000000LL, whole_piece()), &data, &len,
		       &more), CO_OK);
	CHECK(more);
	CHECK_INT(take(&c, piece(CO_LOG_PIECE, CO_LOG_PIECE + 1, CO_LOG_PIECE + 2, "x"), &data,
		       &len, &more), CO_EPROTOCOL);
	CHECK_INT(take(&c, piece(CO_LOG_PIECE, CO_LOG_PIECE + 1, CO_LOG_PIECE + 1, "x"), &data,
		       &len, &more), CO_EPROTOCOL);
	/* bytes other than those asked for */
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(5, 10, 10, "56789"), &data, &len, &more), CO_EPROTOCOL);
	CHECK_INT(take(&c, piece(0, 10, 10, "0123456789"), &data, &len, &more), CO_OK);
	CHECK_INT(take(&c, piece(0, 10, 10, "0123456789"), &data, &len, &more), CO_EPROTOCOL);
	/* nothing new, with bytes all the same: the same lines again at every poll */
	CHECK_INT(take(&c, piece(10, 10, 10, "0123456789"), &data, &len, &more), CO_EPROTOCOL);
	CHECK_INT(take(&c, piece(10, 10, 10, ""), &data, &len, &more), CO_OK);
	CHECK_INT(len, 0);
	/* more bytes than the range can come back as */
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, 2, 2, "0123456789abcdef"), &data, &len, &more), CO_EPROTOCOL);
	co_log_cursor_init(&c, -1, false);
	CHECK_INT(take(&c, piece(0, 2, 2, "\xef\xbf\xbd\xef\xbf\xbd"), &data, &len, &more),
		  CO_OK);	/* two bytes that were not UTF-8 */
	/* the worker no longer has the log */
	co_log_cursor_init(&c, -1, false);
	{
		struct co_log_chunk p = piece(0, 0, 0, "");

		p.error = "Error: gone";
		CHECK_INT(co_log_cursor_take(ctx, &c, &p, "w", &data, &len, &more), CO_EFAIL);
		CHECK(strstr(co_ctx_error(ctx), "no longer has this log") != NULL);
	}
}

static void test_cursor_tail(void)
{
	static const char text[] = "one\ntwo\nthree\nfour\nfive\n";
	const int64_t T = 1 << 30, W = CO_LOG_TAIL_WINDOW;	/* a log's size, the first window */
	struct co_log_cursor c;
	int64_t offset, length;
	const char *data;
	size_t len;
	bool more;

	co_log_cursor_init(&c, 2, false);
	co_log_cursor_next(&c, &offset, &length);
	CHECK_INT(offset, -1);
	CHECK_INT(length, CO_LOG_TAIL_WINDOW);
	/* a whole window that does not reach the start, with too few lines: look further */
	CHECK_INT(take(&c, piece(T - W, T, T, "five\n"), &data, &len, &more), CO_OK);
	CHECK(more);
	CHECK_INT(len, 0);
	co_log_cursor_next(&c, &offset, &length);
	CHECK_INT(offset, -1);
	CHECK_INT(length, 2 * W);
	CHECK_INT(take(&c, piece(T - 2 * W, T, T, text), &data, &len, &more), CO_OK);
	CHECK(!more);
	CHECK_INT(len, strlen("four\nfive\n"));
	CHECK(memcmp(data, "four\nfive\n", len) == 0);
	/* following goes on from the end of the tail */
	co_log_cursor_next(&c, &offset, &length);
	CHECK_INT(offset, T);
	CHECK_INT(length, CO_LOG_PIECE);
	/* less than the window asked for, short of the start: taken as it is */
	co_log_cursor_init(&c, 5, false);
	CHECK_INT(take(&c, piece(1000, 1005, 1005, "five\n"), &data, &len, &more), CO_OK);
	CHECK(!more);
	CHECK_INT(len, 5);

	/* the start of the file: whatever there is */
	co_log_cursor_init(&c, 10, false);
	CHECK_INT(take(&c, piece(0, 24, 24, text), &data, &len, &more), CO_OK);
	CHECK_INT(len, 24);
	/* a last line without its newline counts as a line */
	co_log_cursor_init(&c, 1, false);
	CHECK_INT(take(&c, piece(0, 8, 8, "one\ntwo"), &data, &len, &more), CO_OK);
	CHECK_INT(len, 3);
	CHECK(memcmp(data, "two", 3) == 0);
	/* --tail 0: nothing but what comes later */
	co_log_cursor_init(&c, 0, false);
	CHECK_INT(take(&c, piece(0, 24, 24, text), &data, &len, &more), CO_OK);
	CHECK_INT(len, 0);
	co_log_cursor_next(&c, &offset, &length);
	CHECK_INT(offset, 24);
	/* no further back than CO_LOG_TAIL_MAX, however few lines */
	co_log_cursor_init(&c, 5, false);
	for (int64_t w = W; w < CO_LOG_TAIL_MAX; w *= 2) {
		co_log_cursor_next(&c, &offset, &length);
		CHECK_INT(length, w);
		CHECK_INT(take(&c, piece(T - w, T, T, "x\n"), &data, &len, &more), CO_OK);
		CHECK(more);
	}
	co_log_cursor_next(&c, &offset, &length);
	CHECK_INT(length, CO_LOG_TAIL_MAX);
	CHECK_INT(take(&c, piece(T - CO_LOG_TAIL_MAX, T, T, "x\n"), &data, &len, &more), CO_OK);
	CHECK(!more);
}

static void test_cursor_fixed(void)
{
	struct co_log_cursor c;
	const char *data;
	int64_t pad, offset, length;
	size_t len;
	bool more;

	/* the size at the first piece is the size: growth is left out */
	co_log_cursor_init(&c, -1, true);
	CHECK_INT(take(&c, piece(0, 4, 6, "abcd"), &data, &len, &more), CO_OK);
	CHECK_INT(c.limit, 6);
	CHECK(more);
	co_log_cursor_next(&c, &offset, &length);	/* no byte past the size */
	CHECK_INT(offset, 4);
	CHECK_INT(length, 2);
	CHECK_INT(take(&c, piece(4, 9, 9, "efghi"), &data, &len, &more), CO_OK);
	CHECK_INT(len, 2);
	CHECK(!more);
	CHECK_INT(co_log_cursor_finish(ctx, &c, "w", &pad), CO_OK);
	CHECK_INT(pad, 0);
	/* a piece far past the size of the first one is a lie */
	co_log_cursor_init(&c, -1, true);
	CHECK_INT(take(&c, piece(0, 4, 6, "abcd"), &data, &len, &more), CO_OK);
	CHECK_INT(take(&c, piece(4, 100, 100, "e"), &data, &len, &more), CO_EPROTOCOL);
	/* a few bytes short is filled up, many bytes short is refused */
	co_log_cursor_init(&c, -1, true);
	CHECK_INT(take(&c, piece(0, 10, 10, "abcdefg"), &data, &len, &more), CO_OK);
	CHECK_INT(co_log_cursor_finish(ctx, &c, "w", &pad), CO_OK);
	CHECK_INT(pad, 3);
	c.delivered -= 20;
	CHECK_INT(co_log_cursor_finish(ctx, &c, "w", &pad), CO_EPROTOCOL);
	/* a piece that moves nothing ends the reading, short of the size */
	co_log_cursor_init(&c, -1, true);
	CHECK_INT(take(&c, piece(0, CO_LOG_PIECE, CO_LOG_PIECE + 1000, whole_piece()), &data, &len,
		       &more), CO_OK);
	CHECK(more);
	CHECK_INT(take(&c, piece(CO_LOG_PIECE, CO_LOG_PIECE, CO_LOG_PIECE, ""), &data, &len,
		       &more), CO_OK);
	CHECK(!more);
	CHECK_INT(co_log_cursor_finish(ctx, &c, "w", &pad), CO_EPROTOCOL);
}

int main(void)
{
	ctx = co_ctx_new();
	test_parse();
	test_cursor_reads_forward();
	test_cursor_refuses_what_does_not_advance();
	test_cursor_tail();
	test_cursor_fixed();
	co_ctx_free(ctx);
	return CHECK_DONE();
}
