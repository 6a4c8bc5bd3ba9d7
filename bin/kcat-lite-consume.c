/* SPDX-License-Identifier: MIT */
/*
 * kcat-lite -C and -G: consume, write each message as -f, -J or kcat's
 * default format says, and with -e stop once every assigned partition has
 * reached its end, across rebalances too.
 *
 * -C uses librdkafka's simple consumer, as kcat does: no group, the
 * wanted partitions started on one queue that is served in batches. -G
 * uses the group consumer.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kcat-lite.h"

/* The prefetch queue's bounds (see setup_conf). */
#define CONSUMER_QUEUE_MESSAGES "70000"
#define CONSUMER_QUEUE_KBYTES "32768"

struct part {
	char *topic;
	int32_t partition;
	bool eof;		/* at the end, no message since */
	bool done;		/* past the -o e@ timestamp, or -C -e at its end */
};

struct consumer {
	struct kc_opts *o;
	rd_kafka_t *rk;
	struct co_kafka_format *fmt;
	struct co_kafka_avro *avro;	/* -s avro */
	struct part *parts;	/* the current assignment */
	size_t n_parts;
	int64_t start;		/* RD_KAFKA_OFFSET_* or absolute, or tail/time below */
	int64_t tail;		/* -o -N: N */
	int64_t start_ts;	/* -o s@MS */
	int64_t end_ts;		/* -o e@MS, 0 for none */
	bool offset_given;
	bool want_headers;	/* what the output shows, looked up per message */
	bool want_ts;
	long seen;
	int status;
};

/* -o -N starts RD_KAFKA_OFFSET_TAIL(N) before the end: N must keep it an int64_t. */
#define TAIL_MAX (INT64_MAX + RD_KAFKA_OFFSET_TAIL_BASE)

static noreturn void bad_offset(const char *arg, const char *why)
{
	usage_error("invalid -o '%s': %s; expected beginning, end, stored, N, -N, s@MS or e@MS",
		    arg, why);
}

static void parse_offset(struct consumer *c)
{
	const char *arg = c->o->offset, *why;

	c->start = RD_KAFKA_OFFSET_BEGINNING;
	if (c->o->offset_end &&
	    (why = kc_parse_int64(c->o->offset_end + 2, false, &c->end_ts)))
		bad_offset(c->o->offset_end, why);
	if (!arg) {
		if (c->o->mode == MODE_GROUP)
			c->start = RD_KAFKA_OFFSET_STORED;
		return;
	}
	c->offset_given = true;
	if (strcmp(arg, "beginning") == 0)
		c->start = RD_KAFKA_OFFSET_BEGINNING;
	else if (strcmp(arg, "end") == 0)
		c->start = RD_KAFKA_OFFSET_END;
	else if (strcmp(arg, "stored") == 0)
		c->start = RD_KAFKA_OFFSET_STORED;
	else if (strncmp(arg, "s@", 2) == 0) {
		if ((why = kc_parse_int64(arg + 2, false, &c->start_ts)))
			bad_offset(arg, why);
	} else {
		int64_t v;

		if ((why = kc_parse_int64(arg, true, &v)))
			bad_offset(arg, why);
		if (v < -TAIL_MAX)
			bad_offset(arg, "out of range");
		if (v < 0)
			c->tail = -v;
		else
			c->start = v;
	}
}

/* The start offsets of a new assignment, as -o asked. */
static void resolve_offsets(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	if (!c->offset_given && c->o->mode == MODE_GROUP)
		return;		/* committed offsets, else auto.offset.reset */
	for (int i = 0; i < parts->cnt; i++)
		parts->elems[i].offset = c->start;
	if (c->start_ts) {
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset = c->start_ts;
		if (rd_kafka_offsets_for_times(c->rk, parts, c->o->metadata_timeout_ms))
			warnmsg("offsets for s@%" PRId64 " not found: starting at the end",
				c->start_ts);
		for (int i = 0; i < parts->cnt; i++)
			if (parts->elems[i].err || parts->elems[i].offset < 0)
				parts->elems[i].offset = RD_KAFKA_OFFSET_END;
	}
	if (c->tail) {
		for (int i = 0; i < parts->cnt; i++) {
			int64_t lo, hi;
			rd_kafka_topic_partition_t *p = &parts->elems[i];

			if (rd_kafka_query_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi,
							     c->o->metadata_timeout_ms)) {
				p->offset = RD_KAFKA_OFFSET_TAIL(c->tail);
				continue;
			}
			p->offset = hi - c->tail < lo ? lo : hi - c->tail;
		}
	}
}

static void set_assignment(struct consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	for (size_t i = 0; i < c->n_parts; i++)
		free(c->parts[i].topic);
	free(c->parts);
	c->parts = NULL;
	c->n_parts = 0;
	if (!parts || !parts->cnt)
		return;
	c->parts = calloc((size_t)parts->cnt, sizeof(*c->parts));
	if (!c->parts)
		die(CO_ESOFTWARE, "out of memory");
	for (int i = 0; i < parts->cnt; i++) {
		c->parts[i].topic = strdup(parts->elems[i].topic);
		if (!c->parts[i].topic)
			die(CO_ESOFTWARE, "out of memory");
		c->parts[i].partition = parts->elems[i].partition;
	}
	c->n_parts = (size_t)parts->cnt;
}

static struct part *find_part(struct consumer *c, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < c->n_parts; i++)
		if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0)
			return &c->parts[i];
	return NULL;
}

/*
 * Nothing more of this partition is printed. Without a group its fetching
 * stops too; a group's partitions are the rebalance callback's to change.
 */
static void part_done(struct consumer *c, struct part *p)
{
	rd_kafka_topic_partition_list_t *one;

	if (p->done)
		return;
	p->done = true;
	if (c->o->mode == MODE_GROUP || !(one = rd_kafka_topic_partition_list_new(1)))
		return;
	rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
	rd_kafka_pause_partitions(c->rk, one);
	rd_kafka_topic_partition_list_destroy(one);
}

static bool all_finished(const struct consumer *c)
{
	if (!c->n_parts)
		return false;
	for (size_t i = 0; i < c->n_parts; i++)
		if (!c->parts[i].done && !(c->o->exit_eof && c->parts[i].eof))
			return false;
	return true;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct consumer *c = opaque;
	bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		resolve_offsets(c, parts);
		if (coop)
			rd_kafka_incremental_assign(rk, parts);
		else
			rd_kafka_assign(rk, parts);
	} else {
		if (coop)
			rd_kafka_incremental_unassign(rk, parts);
		else
			rd_kafka_assign(rk, NULL);
	}
	/* The assignment as it now is, all of it not yet at its end. */
	{
		rd_kafka_topic_partition_list_t *now = NULL;

		rd_kafka_assignment(rk, &now);
		set_assignment(c, now);
		if (now)
			rd_kafka_topic_partition_list_destroy(now);
	}
	if (c->o->verbose >= 1)
		warnmsg("group rebalanced: %zu partitions assigned", c->n_parts);
}

/* One field for -s avro, when kcat would decode it: -J a present one, -f a
 * non-empty one that the format shows. */
static int decode_field(struct consumer *c, struct co_kafka_msg *m, int field,
			struct co_kafka_decoded *dec, char **json, char *err, size_t errsize)
{
	const void *data = field ? m->payload : m->key;
	size_t len = field ? m->len : m->key_len;
	int rc;

	if (!c->avro || !kc_avro(c->o, field) || !data ||
	    (!c->o->json && (!len || !co_kafka_format_uses(c->fmt, field ? 's' : 'k'))))
		return CO_OK;
	rc = co_kafka_avro_decode(c->avro, data, len, json, &dec->schema_id);
	dec->json = *json;
	dec->error = err;
	if (rc)
		snprintf(err, errsize, "%s", co_ctx_error(c->o->ctx));
	m->decoded[field] = dec;
	if (rc && c->o->json)
		warnmsg("Failed to deserialize %s in message in %s [%" PRId32 "] at offset %"
			PRId64 ": %s%s", field ? "value" : "key", m->topic, m->partition,
			m->offset, err, c->o->exit_on_error ? ": terminating" : "");
	return rc;
}

/*
 * One message by -f. Anyone who may produce writes what a terminal shows:
 * there, its control characters (but tab and newline) are shown as '?',
 * as sc-logs(1) shows a worker's lines, so that no escape sequence in a
 * message sets the window title or the clipboard. Elsewhere, as it is.
 */
static int format_message(struct consumer *c, const struct co_kafka_msg *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	if (!c->o->terminal)
		return co_kafka_format_write(c->fmt, m, stdout);
	if (!(mem = open_memstream(&buf, &len)))
		die(CO_ESOFTWARE, "out of memory");
	rc = co_kafka_format_write(c->fmt, m, mem);
	if (fclose(mem) != 0 && rc == CO_OK)
		die(CO_ESOFTWARE, "out of memory");
	if (rc == CO_OK)
		fwrite_printable_lines(buf, len, stdout);
	free(buf);
	return rc == CO_OK && ferror(stdout) ? CO_EIO : rc;
}

static void write_msg(struct consumer *c, const rd_kafka_message_t *rm)
{
	struct co_kafka_decoded dec[2];
	char *json[2] = { NULL, NULL }, err[2][1024];
	int drc[2] = { CO_OK, CO_OK };
	struct co_kafka_header hbuf[64], *hs = hbuf;
	rd_kafka_timestamp_type_t tstype;
	rd_kafka_headers_t *hdrs;
	struct co_kafka_msg m = {
		.topic = rd_kafka_topic_name(rm->rkt),
		.partition = rm->partition,
		.offset = rm->offset,
		.broker = c->o->json ? rd_kafka_message_broker_id(rm) : -1,
		.key = rm->key,
		.key_len = rm->key_len,
		.payload = rm->payload,
		.len = rm->len,
	};

	if (c->want_ts) {
		m.ts = rd_kafka_message_timestamp(rm, &tstype);
		m.tstype = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME ? CO_KAFKA_TS_CREATE
			   : tstype == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? CO_KAFKA_TS_LOGAPPEND
			   : CO_KAFKA_TS_NONE;
	}
	/* librdkafka allocates a header list per message when asked for it. */
	if (c->want_headers && !rd_kafka_message_headers(rm, &hdrs)) {
		size_t n = rd_kafka_header_cnt(hdrs);

		if (n > 64 && !(hs = calloc(n, sizeof(*hs))))
			die(CO_ESOFTWARE, "out of memory");
		for (size_t i = 0; i < n; i++)
			rd_kafka_header_get_all(hdrs, i, &hs[i].name, &hs[i].value, &hs[i].len);
		m.headers = hs;
		m.n_headers = n;
	}
	/* -s avro: with -J kcat decodes the key, and stops there when it
	 * fails; -f decodes fields in the format's order, as they come. */
	for (int i = 0; i < 2; i++)
		if ((drc[i] = decode_field(c, &m, i, &dec[i], &json[i], err[i], sizeof(err[i]))) &&
		    c->o->exit_on_error && c->o->json)
			break;
	if (c->o->json) {
		if ((drc[0] || drc[1]) && c->o->exit_on_error) {
			c->status = drc[0] ? drc[0] : drc[1];
			kc_stop = 1;
		} else {
			co_kafka_json_write(&m, stdout);
			fwrite(c->o->delim, 1, c->o->delim_len, stdout);
		}
	} else if (format_message(c, &m) == CO_EDATA) {
		/* A -s pack-str that does not fit, or Avro that does not decode:
		 * kcat's message and rule. */
		warnmsg("Failed to format message in %s [%" PRId32 "] at offset %" PRId64 ": %s%s",
			m.topic, m.partition, m.offset, co_kafka_format_error(c->fmt),
			c->o->exit_on_error ? ": terminating" : "");
		if (c->o->exit_on_error) {
			c->status = drc[0] ? drc[0] : drc[1] ? drc[1] : CO_EDATA;
			kc_stop = 1;
		}
	}
	free(json[0]);
	free(json[1]);
	kc_message_written(c->o);
	if (hs != hbuf)
		free(hs);
}

static void handle(struct consumer *c, rd_kafka_message_t *rm)
{
	struct part *p;

	if (rm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		p = find_part(c, rd_kafka_topic_name(rm->rkt), rm->partition);
		/*
		 * As kcat: -C -e stops a partition at its first end, so that
		 * partitions written all the time still end; -G -e waits until
		 * every partition is at its end at once, as its offsets are
		 * committed and a message skipped here would be lost to the group.
		 */
		if (p) {
			p->eof = true;
			if (c->o->exit_eof && c->o->mode != MODE_GROUP)
				part_done(c, p);
		}
		if (!c->o->quiet && c->o->exit_eof && c->o->verbose >= 1)
			warnmsg("reached the end of %s [%" PRId32 "] at offset %" PRId64,
				rd_kafka_topic_name(rm->rkt), rm->partition, rm->offset);
		return;
	}
	if (rm->err) {
		const char *topic = rm->rkt ? rd_kafka_topic_name(rm->rkt) : NULL;

		if (rm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
		    rm->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
			warnmsg("topic '%s': %s (list the topics with -L)", topic ? topic : "?",
				rd_kafka_err2str(rm->err));
			c->status = rm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
				    ? CO_EFAIL : CO_ENOPERM;
			kc_stop = 1;
		} else if (rm->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED) {
			warnmsg("group: %s", rd_kafka_message_errstr(rm));
			c->status = CO_ENOPERM;
			kc_stop = 1;
		} else if (rm->err == RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED) {
			/* a slow reader: the group takes the member back at its next poll */
			if (!c->o->quiet)
				warnmsg("%s", rd_kafka_message_errstr(rm));
		} else {
			/* As kcat: an offset out of range with auto.offset.reset=error,
			 * a partition gone; a partition that cannot be read would
			 * otherwise never reach its end for -e. */
			if (topic)
				warnmsg("%s [%" PRId32 "]: %s", topic, rm->partition,
					rd_kafka_message_errstr(rm));
			else
				warnmsg("%s", rd_kafka_message_errstr(rm));
			c->status = CO_EFAIL;
			kc_stop = 1;
		}
		return;
	}
	p = find_part(c, rd_kafka_topic_name(rm->rkt), rm->partition);
	if (p) {
		p->eof = false;
		if (p->done)
			return;
		if (c->end_ts) {
			rd_kafka_timestamp_type_t tt;

			if (rd_kafka_message_timestamp(rm, &tt) >= c->end_ts) {
				part_done(c, p);
				return;
			}
		}
	}
	write_msg(c, rm);
	c->seen++;
	if (c->o->count && c->seen >= c->o->count)
		kc_stop = 1;
}

static char *default_format(const struct kc_opts *o)
{
	size_t cap = 8 + 2 * (strlen(o->delim_arg) + (o->key_delim_arg ? strlen(o->key_delim_arg) : 0));
	char *f = malloc(cap), *d = f;

	if (!f)
		die(CO_ESOFTWARE, "out of memory");
	/* kcat's default: [%k<key delimiter>]%s<delimiter>, '%' kept literal. */
	if (o->key_delim_arg) {
		d = stpcpy(d, "%k");
		for (const char *s = o->key_delim_arg; *s; s++)
			d = *s == '%' ? stpcpy(d, "%%") : (*d = *s, d + 1);
	}
	d = stpcpy(d, "%s");
	for (const char *s = o->delim_arg; *s; s++)
		d = *s == '%' ? stpcpy(d, "%%") : (*d = *s, d + 1);
	*d = '\0';
	return f;
}

/* Set a property unless -X or -F did. */
static void conf_default(struct consumer *c, rd_kafka_conf_t *conf, const char *name,
			 const char *value)
{
	char errstr[256];

	if (!co_kafka_props_get(c->o->props, name) &&
	    rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)))
		die(CO_ESOFTWARE, "%s: %s", name, errstr);
}

static void setup_conf(struct consumer *c, rd_kafka_conf_t *conf)
{
	struct kc_opts *o = c->o;
	char errstr[256];

	if (o->mode == MODE_GROUP) {
		rd_kafka_conf_set(conf, "group.id", o->group, errstr, sizeof(errstr));
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	} else {
		/* Offsets are read (-o stored) but never written. */
		if (c->start == RD_KAFKA_OFFSET_STORED)
			conf_default(c, conf, "group.id", "kcat-lite");
		conf_default(c, conf, "auto.commit.enable", "false");
	}
	/* A smaller prefetch queue than librdkafka's 100000 messages or 64 MiB
	 * a partition, which kept a consumer's RSS above kcat's: each queued
	 * message costs its share of the fetch buffer, about 380 bytes for a
	 * 100-byte one. Not much smaller, though: once the queue is full,
	 * librdkafka 2.0 fetches again only on its next one-second tick, and a
	 * queue of 20000 small messages, drained in a few milliseconds,
	 * stalled a consumer on each tick when the broker was busy (1000000 x
	 * 100 B after a large produce: 1.4-2.7 s, against 0.9-1.1 s with 70000
	 * messages or more; 50000 stalled now and then). The bytes bound the
	 * queue for large messages: with 16 MiB, 3 of 8 reads of 50000 x 10 KiB
	 * into wc -l stalled (1.8-2.8 s against 0.8-0.9 s), with 32 MiB none
	 * did; a reader that waits 3 s then finds 42 MiB of RSS (16 MiB: 26,
	 * kcat: 77-87). */
	conf_default(c, conf, "queued.min.messages", CONSUMER_QUEUE_MESSAGES);
	conf_default(c, conf, "queued.max.messages.kbytes", CONSUMER_QUEUE_KBYTES);
	if (o->exit_eof)
		rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr));
	rd_kafka_conf_set_opaque(conf, c);
}

/* The simple consumer's callback, for each message and event in a batch. */
static void consume_cb(rd_kafka_message_t *rm, void *opaque)
{
	struct consumer *c = opaque;

	if (!kc_stop && !c->status)
		handle(c, rm);
}

/* -C: start the wanted partitions on one queue and serve it. */
static void consume_partitions(struct consumer *c)
{
	struct kc_opts *o = c->o;
	const struct rd_kafka_metadata *md = kc_metadata(o, c->rk, o->topics[0], false);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	const struct rd_kafka_metadata_topic *t = md->topic_cnt ? &md->topics[0] : NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, o->topics[0], NULL);
	rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
	int started = 0;

	for (int i = 0; t && i < t->partition_cnt; i++)
		if (o->partition == RD_KAFKA_PARTITION_UA || o->partition == t->partitions[i].id)
			rd_kafka_topic_partition_list_add(parts, o->topics[0], t->partitions[i].id);
	rd_kafka_metadata_destroy(md);
	if (!rkt || !q)
		die(CO_ESOFTWARE, "out of memory");
	if (!parts->cnt) {
		warnmsg("topic '%s' has no partition %" PRId32, o->topics[0], o->partition);
		c->status = CO_EFAIL;
	} else {
		resolve_offsets(c, parts);
		set_assignment(c, parts);
	}
	for (; started < parts->cnt && !c->status; started++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[started];

		if (rd_kafka_consume_start_queue(rkt, p->partition, p->offset, q) == -1) {
			warnmsg("topic '%s' [%" PRId32 "]: %s", p->topic, p->partition,
				rd_kafka_err2str(rd_kafka_last_error()));
			c->status = CO_EFAIL;
			break;
		}
	}
	while (!kc_stop && !c->status && !all_finished(c)) {
		rd_kafka_consume_callback_queue(q, 100, consume_cb, c);
		rd_kafka_poll(c->rk, 0);	/* errors and logs */
		if (ferror(stdout) || stdout_reader_gone())
			c->status = CO_EIO;	/* reported once, at exit */
	}
	for (int i = 0; i < started; i++)
		rd_kafka_consume_stop(rkt, parts->elems[i].partition);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_destroy(rkt);
}

static void subscribe(struct consumer *c)
{
	struct kc_opts *o = c->o;
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)o->n_topics);
	rd_kafka_resp_err_t err;

	/* Fail early, and within -m, when no broker answers. */
	rd_kafka_metadata_destroy(kc_metadata(o, c->rk, NULL, false));
	for (size_t i = 0; i < o->n_topics; i++)
		rd_kafka_topic_partition_list_add(topics, o->topics[i], RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(c->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (err) {
		warnmsg("subscribe: %s", rd_kafka_err2str(err));
		c->status = CO_EFAIL;
	}
}

/* -G: subscribe, and follow the group's assignments. */
static void consume_group(struct consumer *c)
{
	rd_kafka_poll_set_consumer(c->rk);
	subscribe(c);
	while (!kc_stop && !c->status) {
		rd_kafka_message_t *rm = rd_kafka_consumer_poll(c->rk, 100);

		if (rm) {
			handle(c, rm);
			rd_kafka_message_destroy(rm);
		}
		if (ferror(stdout) || stdout_reader_gone())
			c->status = CO_EIO;	/* reported once, at exit */
		if (all_finished(c))
			break;
	}
	rd_kafka_consumer_close(c->rk);
}

int kc_consume(struct kc_opts *o)
{
	struct consumer c = { .o = o };
	rd_kafka_conf_t *conf;
	int rc;

	parse_offset(&c);
	if (!o->json) {
		char *dflt = o->format ? NULL : default_format(o);

		rc = co_kafka_format_parse(o->ctx, o->format ? o->format : dflt,
					   o->null_empty ? "NULL" : NULL, &c.fmt);
		free(dflt);
		if (rc == CO_EUSAGE)
			usage_error("-f: %s", co_ctx_error(o->ctx));
		if (rc)
			die_ctx(o->ctx, rc);
		for (int i = 0; i < 2; i++)
			if (o->pack[i] && !kc_avro(o, i) &&
			    (rc = co_kafka_format_set_pack(o->ctx, c.fmt, i, o->pack[i])))
				die_ctx(o->ctx, rc);
	}
	if ((kc_avro(o, 0) || kc_avro(o, 1)) &&
	    (rc = co_kafka_avro_new(o->ctx, o->registry, &c.avro))) {
		if (rc == CO_EUSAGE)
			usage_error("-r: %s", co_ctx_error(o->ctx));
		die_ctx(o->ctx, rc);
	}
	c.want_headers = o->json || co_kafka_format_uses(c.fmt, 'h');
	c.want_ts = o->json || co_kafka_format_uses(c.fmt, 'T');
	conf = kc_conf_new(o);
	setup_conf(&c, conf);
	c.rk = kc_client_new(o, RD_KAFKA_CONSUMER, conf);
	if (o->mode == MODE_GROUP)
		consume_group(&c);
	else
		consume_partitions(&c);
	fflush(stdout);
	set_assignment(&c, NULL);
	kc_client_destroy(c.rk);
	co_kafka_format_free(c.fmt);
	co_kafka_avro_free(c.avro);
	return c.status;
}
