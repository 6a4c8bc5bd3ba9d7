/* SPDX-License-Identifier: MIT */
/*
 * The master's /json/ view (co_master_state_parse), then every lookup on
 * it. The parse walks the document member by member and hands each key and
 * value to jansson; jansson reading the whole document must agree with it:
 * what it accepts without leaving an element out is one JSON object with as
 * many applications and drivers (a NUL as \u0000 allowed), and a document
 * jansson reads whole, without a duplicate key, is never called malformed
 * unless it holds a NUL byte. An element jansson refuses is left out and
 * counted. Fed in pieces (their size taken from the input's length), as
 * the network may cut it, it reads the same as whole, the elements left
 * out too.
 */
#include "config.h"

#include <jansson.h>

#include "clusterops.h"
#include "fuzz.h"
#include "internal.h"

/* The input fed in pieces of one size: the status, and the state when CO_OK. */
static int parse_in_pieces(struct co_ctx *ctx, const uint8_t *data, size_t size,
			   struct co_master_state **out)
{
	struct co_master_walk *w = co_master_walk_new(ctx, "fuzz");
	size_t piece = 1 + size % 61;
	int rc = CO_OK;

	*out = NULL;
	if (!w)
		abort();
	for (size_t at = 0; at < size && rc == CO_OK; at += piece)
		rc = co_master_walk_feed(w, (const char *)data + at,
					 at + piece < size ? piece : size - at);
	if (rc == CO_OK)
		rc = co_master_walk_end(w, out);
	co_master_walk_free(w);
	return rc;
}

static size_t list_size(const json_t *root, const char *key)
{
	return json_array_size(json_object_get(root, key));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct co_ctx *ctx = co_ctx_new();
	struct co_master_state *st = NULL, *pieces;
	json_t *whole = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL);
	json_t *strict = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

	int rc, rc_pieces;

	if (!ctx)
		abort();
	rc_pieces = parse_in_pieces(ctx, data, size, &pieces);
	rc = co_master_state_parse(ctx, (const char *)data, size, "fuzz", &st);
	FUZZ_ASSERT(rc == rc_pieces);
	if (rc == CO_OK) {
		FUZZ_ASSERT(pieces->n_workers == st->n_workers && pieces->n_apps == st->n_apps &&
			    pieces->n_drivers == st->n_drivers && pieces->cores == st->cores &&
			    pieces->memory_mb == st->memory_mb &&
			    pieces->n_unreadable == st->n_unreadable);
		for (size_t i = 0; i < st->n_apps; i++)
			FUZZ_ASSERT(strcmp(pieces->apps[i].id, st->apps[i].id) == 0 &&
				    pieces->apps[i].start_ms == st->apps[i].start_ms);
	}
	co_master_state_free(pieces);
	if (rc == CO_OK && st->n_unreadable) {
		/* one element jansson refuses makes the whole document unreadable to it */
		FUZZ_ASSERT(!whole);
	} else if (rc == CO_OK) {
		FUZZ_ASSERT(st && st->url && st->status);
		FUZZ_ASSERT(json_is_object(whole));
		FUZZ_ASSERT(st->n_workers == list_size(whole, "workers"));
		FUZZ_ASSERT(st->n_apps == list_size(whole, "activeapps") +
			    list_size(whole, "completedapps"));
		FUZZ_ASSERT(st->n_drivers == list_size(whole, "activedrivers") +
			    list_size(whole, "completeddrivers"));
		for (size_t i = 0; i < st->n_workers; i++)
			FUZZ_ASSERT(st->workers[i].id);
		for (size_t i = 0; i < st->n_apps; i++)
			FUZZ_ASSERT(co_master_state_app(st, st->apps[i].id));
		for (size_t i = 0; i < st->n_drivers; i++) {
			FUZZ_ASSERT(co_master_state_driver(st, st->drivers[i].id));
			(void)co_spark_state_is_final(st->drivers[i].state);
		}
		(void)co_master_state_app(st, "app-none");
	} else {
		FUZZ_ASSERT(!st && *co_ctx_error(ctx));
		/* (a NUL byte jansson may pass over is refused) */
		FUZZ_ASSERT(!strict || memchr(data, '\0', size) ||
			    !strstr(co_ctx_error(ctx), "malformed JSON"));
	}
	json_decref(whole);
	json_decref(strict);
	co_master_state_free(st);
	co_ctx_free(ctx);
	return 0;
}
