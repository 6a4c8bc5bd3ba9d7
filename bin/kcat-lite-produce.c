/* SPDX-License-Identifier: MIT */
/*
 * kcat-lite -P: read messages in large blocks, produce them, and count
 * exactly what the broker acknowledged. Success is reported only when
 * every message was delivered.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kcat-lite.h"

/*
 * Input is read in blocks of this size (a pipe hands over 64 KiB at most);
 * the buffer grows only for a record longer than half of it.
 */
#define READ_BLOCK (64u << 10)
/* The local queue's bound, instead of librdkafka's 1 GiB: enough to keep
 * every in-flight request full. */
#define PRODUCER_QUEUE_KBYTES "32768"
#define PRODUCER_QUEUE_MESSAGES "30000"
/* After SIGINT/SIGTERM, how long queued messages may still be sent. */
#define STOP_GRACE_MS 10000
/*
 * Waiting for the queue to shrink: with reports of failures only, nothing
 * wakes rd_kafka_poll() when the broker acknowledges a batch, so each wait
 * is a sleep. It starts at 1 ms, short against a request's round trip, so
 * that room is used as soon as there is some, and doubles while nothing
 * moves (a broker down), up to this.
 */
#define WAIT_MAX_MS 100

struct producer {
	struct kc_opts *o;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	uint64_t records;	/* read from the input */
	uint64_t delivered;
	uint64_t failed;	/* not delivered (including never queued) */
	uint64_t uncertain;	/* failed, but the broker may have written them */
	bool limit_reached;	/* -c COUNT records produced */
	bool whole;		/* reading a file as one message: no -T */
	bool txn;		/* transactional.id: one transaction for the run */
	bool dr_errors_only;	/* delivery.report.only.error: reports of failures only */
	char txn_error[512];	/* why the transaction was not committed */
	char first_error[512];
	int status;		/* beyond delivery: 65 malformed input, 74 I/O */
	int wait_ms;		/* the next wait for the queue (wait_for_queue), from 1 */
};

static void note_failure(struct producer *pr, uint64_t recno, const char *what)
{
	if (!pr->first_error[0])
		snprintf(pr->first_error, sizeof(pr->first_error), "record %" PRIu64 ": %s",
			 recno, what);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct producer *pr = opaque;

	(void)rk;
	if (!m->err) {
		pr->delivered++;
		return;
	}
	pr->failed++;
	if (rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED)
		pr->uncertain++;
	note_failure(pr, (uint64_t)(uintptr_t)m->_private, rd_kafka_err2str(m->err));
}

/*
 * Serve delivery reports and wait a little for the local queue to shrink:
 * 1 ms after a wait in which it shrank, twice the last wait (up to
 * WAIT_MAX_MS) after one in which it did not.
 */
static void wait_for_queue(struct producer *pr)
{
	int before = rd_kafka_outq_len(pr->rk);

	rd_kafka_poll(pr->rk, pr->wait_ms);
	if (rd_kafka_outq_len(pr->rk) < before)
		pr->wait_ms = 1;
	else
		pr->wait_ms = pr->wait_ms * 2 < WAIT_MAX_MS ? pr->wait_ms * 2 : WAIT_MAX_MS;
}

/* librdkafka's message.max.bytes, as text. */
static void message_max(struct producer *pr, char *max, size_t size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(rd_kafka_conf(pr->rk));

	if (rd_kafka_conf_get(conf, "message.max.bytes", max, &size) != RD_KAFKA_CONF_OK)
		snprintf(max, size, "?");
	rd_kafka_conf_destroy(conf);
}

static void oversized(struct producer *pr, size_t size, bool more)
{
	char what[256];
	char max[32];

	message_max(pr, max, sizeof(max));
	snprintf(what, sizeof(what),
		 "message of %s%zu bytes is larger than message.max.bytes (%s); "
		 "raise it with -X message.max.bytes=N (and the topic's max.message.bytes)",
		 more ? "more than " : "", size, max);
	note_failure(pr, pr->records, what);
}

/* Queue one message; waits while the local queue is full. */
static void produce_one(struct producer *pr, const struct co_kafka_msg *m)
{
	struct kc_opts *o = pr->o;
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_resp_err_t err;
	int32_t partition = o->partition;
	size_t nh = o->n_headers + m->n_headers;

	pr->records++;
	if (partition == RD_KAFKA_PARTITION_UA && m->partition >= 0)
		partition = m->partition;
	if (nh) {
		hdrs = rd_kafka_headers_new(nh);
		for (size_t i = 0; i < m->n_headers; i++)
			rd_kafka_header_add(hdrs, m->headers[i].name, -1, m->headers[i].value,
					    (ssize_t)m->headers[i].len);
		for (size_t i = 0; i < o->n_headers; i++)
			rd_kafka_header_add(hdrs, o->headers[i].name, -1, o->headers[i].value,
					    o->headers[i].value ? -1 : 0);
	}
	for (;;) {
		err = rd_kafka_producev(pr->rk, RD_KAFKA_V_RKT(pr->rkt),
					RD_KAFKA_V_PARTITION(partition),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_VALUE((void *)m->payload, m->len),
					RD_KAFKA_V_KEY(m->key, m->key_len),
					RD_KAFKA_V_TIMESTAMP(m->ts),
					RD_KAFKA_V_HEADERS(hdrs),
					RD_KAFKA_V_OPAQUE((void *)(uintptr_t)pr->records),
					RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || kc_stop)
			break;
		wait_for_queue(pr);
	}
	if (err) {
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		pr->failed++;
		if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
			oversized(pr, m->len + m->key_len, false);
		else
			note_failure(pr, pr->records, rd_kafka_err2str(err));
	}
	if ((pr->records & 1023) == 0)
		rd_kafka_poll(pr->rk, 0);
	if (o->count && pr->records >= (uint64_t)o->count)
		pr->limit_reached = true;
}

/* One delimited record from the input: key and value split as -K/-k/-Z say. */
static void produce_record(struct producer *pr, const char *rec, size_t len)
{
	struct kc_opts *o = pr->o;
	struct co_kafka_msg m = { .partition = -1 };

	/* kcat skips empty records; --send-empty produces them. */
	if (!len && !o->send_empty)
		return;
	/* kcat's -T: the record as read, without its delimiter. */
	if (o->tee && !pr->whole) {
		fwrite(rec, 1, len, stdout);
		kc_message_written(o);
	}
	m.payload = rec;
	m.len = len;
	if (o->key) {
		m.key = o->key;
		m.key_len = strlen(o->key);
	}
	/* A file without -l is one message, its bytes as they are, as in kcat:
	 * the key is -k's, and -K and -Z do not apply; with -J (which kcat
	 * does not read) it is one envelope. */
	if (pr->whole && !o->json) {
		produce_one(pr, &m);
		return;
	}
	if (o->json) {
		struct co_kafka_msg *jm;

		if (co_kafka_json_read(o->ctx, rec, len, &jm)) {
			warnmsg("record %" PRIu64 ": %s", pr->records + 1, co_ctx_error(o->ctx));
			pr->status = CO_EDATA;
			kc_stop = 1;
			return;
		}
		produce_one(pr, jm);
		co_kafka_msg_free(jm);
		return;
	}
	if (o->key_delim) {
		const char *kd = memmem(rec, len, o->key_delim, o->key_delim_len);

		if (kd) {
			m.key = rec;
			m.key_len = (size_t)(kd - rec);
			m.payload = kd + o->key_delim_len;
			m.len = len - m.key_len - o->key_delim_len;
		}
	}
	if (o->null_empty) {
		if (m.key && !m.key_len)
			m.key = NULL;
		if (!m.len)
			m.payload = NULL;
	}
	produce_one(pr, &m);
}

/*
 * The most bytes of one record held while its end is looked for: past
 * them, it cannot be a message librdkafka sends (message.max.bytes, with
 * room for a key's delimiter, and for -J's base64 and escapes).
 */
static size_t record_max(struct producer *pr)
{
	char max[32];
	unsigned long long n;

	message_max(pr, max, sizeof(max));
	n = strtoull(max, NULL, 10);
	if (!n || n > (1ull << 30))
		n = 1ull << 30;		/* librdkafka allows no more */
	return (size_t)n * (pr->o->json ? 8 : 1) + READ_BLOCK;
}

/* A record longer than record_max(): one not sent, and its bytes dropped. */
static void record_too_large(struct producer *pr, size_t seen)
{
	pr->records++;
	pr->failed++;
	oversized(pr, seen, true);
	if (pr->o->count && pr->records >= (uint64_t)pr->o->count)
		pr->limit_reached = true;
}

static int read_fd(struct producer *pr, int fd, const char *name, bool whole)
{
	struct kc_opts *o = pr->o;
	size_t cap = READ_BLOCK, start = 0, end = 0, scan = 0, max = record_max(pr);
	char *buf = malloc(cap);
	bool eof = false;
	bool dropping = false;	/* in a record too long to send: up to its delimiter */

	if (!buf)
		die(CO_ESOFTWARE, "out of memory");
	pr->whole = whole;
	while (!kc_stop && !pr->limit_reached) {
		char *d = whole ? NULL : memmem(buf + scan, end - scan, o->delim, o->delim_len);
		ssize_t n;

		if (d) {
			if (!dropping)
				produce_record(pr, buf + start, (size_t)(d - (buf + start)));
			dropping = false;
			start = (size_t)(d - buf) + o->delim_len;
			scan = start;
			continue;
		}
		if (eof) {
			if (!dropping && (end > start || (whole && pr->o->n_files)))
				produce_record(pr, buf + start, end - start);
			break;
		}
		/* Keep a partial delimiter's bytes in view for the next search. */
		scan = end - start >= o->delim_len ? end - o->delim_len + 1 : start;
		if (!dropping && end - start > max) {
			record_too_large(pr, end - start);
			dropping = true;
		}
		if (dropping)		/* all but what may start the delimiter */
			start = scan;
		if (start > 0) {
			memmove(buf, buf + start, end - start);
			end -= start;
			scan -= start;
			start = 0;
		}
		if (cap - end < READ_BLOCK / 2) {
			char *p = realloc(buf, cap * 2);

			if (!p)
				die(CO_ESOFTWARE, "out of memory");
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + end, cap - end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			warnmsg("%s: %s", name, strerror(errno));
			pr->status = CO_EIO;
			break;
		}
		if (n == 0)
			eof = true;
		end += (size_t)n;
		rd_kafka_poll(pr->rk, 0);
	}
	free(buf);
	return pr->status;
}

static void read_input(struct producer *pr)
{
	struct kc_opts *o = pr->o;

	if (!o->n_files) {
		read_fd(pr, STDIN_FILENO, "standard input", false);
		return;
	}
	for (size_t i = 0; i < o->n_files && !kc_stop && !pr->status && !pr->limit_reached; i++) {
		int fd = strcmp(o->files[i], "-") ? open(o->files[i], O_RDONLY | O_CLOEXEC)
						  : STDIN_FILENO;

		if (fd < 0) {
			warnmsg("%s: %s", o->files[i], strerror(errno));
			pr->status = CO_EIO;
			break;
		}
		read_fd(pr, fd, o->files[i], !o->file_lines);
		if (fd != STDIN_FILENO)
			close(fd);
	}
}

/*
 * Wait for every queued message's delivery report. After a signal, or a
 * second one, the wait is bounded: what is still queued locally is purged
 * (surely not sent) and what is in flight is waited for, so that the count
 * of undelivered messages stays exact.
 */
static void drain(struct producer *pr)
{
	double deadline = 0;
	bool purged = false;

	while (rd_kafka_outq_len(pr->rk) > 0) {
		wait_for_queue(pr);
		if (kc_stop && deadline == 0)
			deadline = monotonic_now() + STOP_GRACE_MS / 1000.0;
		if (!purged && deadline > 0 && monotonic_now() > deadline) {
			if (!pr->o->quiet)
				warnmsg("giving up on the messages not yet sent");
			rd_kafka_purge(pr->rk, RD_KAFKA_PURGE_F_QUEUE);
			purged = true;
		}
	}
}

static void report(struct producer *pr, bool interrupted)
{
	bool txn_failed = pr->txn && pr->txn_error[0];

	if (!pr->failed && !interrupted && !pr->status && !txn_failed && pr->o->verbose < 1)
		return;
	if (pr->o->quiet && !pr->failed && !interrupted && !txn_failed)
		return;
	fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " messages delivered, %" PRIu64
		" not delivered", program_name, pr->delivered, pr->records, pr->failed);
	if (pr->uncertain)
		fprintf(stderr, " (%" PRIu64 " of them possibly written by the broker)",
			pr->uncertain);
	if (interrupted || pr->status)
		fprintf(stderr, "; %s: the rest of the input was not read",
			interrupted ? "interrupted" : "stopped at the error above");
	if (pr->first_error[0])
		fprintf(stderr, "; first failure: %s", pr->first_error);
	if (txn_failed)
		fprintf(stderr, "; transaction aborted (%s): no message of it is committed",
			pr->txn_error);
	else if (pr->txn)
		fprintf(stderr, "; transaction committed");
	fputc('\n', stderr);
}

/* rd_kafka_error_t to pr->txn_error; true when there was one. */
static bool txn_failed(struct producer *pr, const char *what, rd_kafka_error_t *error)
{
	if (!error)
		return false;
	if (!pr->txn_error[0])
		snprintf(pr->txn_error, sizeof(pr->txn_error), "%s: %s", what,
			 rd_kafka_error_string(error));
	rd_kafka_error_destroy(error);
	return true;
}

/* -X transactional.id: every message of the run in one transaction. */
static void txn_begin(struct producer *pr)
{
	int ms = pr->o->metadata_timeout_ms;

	if (txn_failed(pr, "init_transactions", rd_kafka_init_transactions(pr->rk, ms)) ||
	    txn_failed(pr, "begin_transaction", rd_kafka_begin_transaction(pr->rk))) {
		warnmsg("brokers %s: %s", kc_brokers(pr->o), pr->txn_error);
		rd_kafka_topic_destroy(pr->rkt);
		kc_client_destroy(pr->rk);
		exit(CO_EFAIL);
	}
}

/* Commit when every message was delivered and the input read to its end;
 * else, or when the commit fails, abort. */
static void txn_end(struct producer *pr, bool interrupted)
{
	int ms = pr->o->metadata_timeout_ms;
	rd_kafka_error_t *error;

	if (pr->failed || pr->status || interrupted) {
		if (!pr->txn_error[0])
			snprintf(pr->txn_error, sizeof(pr->txn_error), "%s",
				 interrupted ? "interrupted" : pr->failed ? "a message was not delivered"
				 : "the input was not read to its end");
	} else {
		error = rd_kafka_commit_transaction(pr->rk, ms);
		if (!txn_failed(pr, "commit_transaction", error))
			return;
	}
	error = rd_kafka_abort_transaction(pr->rk, ms);
	if (error) {
		if (!pr->o->quiet)
			warnmsg("abort_transaction: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
}

/*
 * The producer, idempotent unless told otherwise. Idempotence is
 * kcat-lite's default, not the user's choice: when what the user set
 * cannot go with it (acks=1, retries=0, more than 5 requests in flight,
 * which librdkafka refuses as it makes the client), the producer is made
 * without it, as the Java client does, and says so; the user's settings
 * are not refused for a default they never asked for.
 * --no-idempotence leaves librdkafka's (and so kcat's) settings.
 */
static rd_kafka_t *producer_new(struct kc_opts *o, rd_kafka_conf_t *conf)
{
	rd_kafka_conf_t *without;
	char errstr[512];
	rd_kafka_t *rk;

	/* a transactional producer is idempotent whatever is said */
	if (co_kafka_props_get(o->props, "enable.idempotence") || o->no_idempotence ||
	    co_kafka_props_get(o->props, "transactional.id"))
		return kc_client_new(o, RD_KAFKA_PRODUCER, conf);
	without = rd_kafka_conf_dup(conf);
	if (!without)
		die(CO_ESOFTWARE, "out of memory");
	if (rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)))
		die(CO_ESOFTWARE, "enable.idempotence: %s", errstr);
	/* -X dump shows the configuration the producer would be made with */
	if (o->dump_conf && kc_client_refuses(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)) &&
	    strstr(errstr, "enable.idempotence")) {
		rd_kafka_conf_destroy(conf);
		return kc_client_new(o, RD_KAFKA_PRODUCER, without);
	}
	rk = kc_client_try(o, RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk) {
		rd_kafka_conf_destroy(without);
		return rk;
	}
	if (!strstr(errstr, "enable.idempotence")) {
		rd_kafka_conf_destroy(without);
		kc_client_refused(o, RD_KAFKA_PRODUCER, conf, errstr);
	}
	rd_kafka_conf_destroy(conf);
	if (!o->quiet)
		warnmsg("producing without idempotence: %s", errstr);
	return kc_client_new(o, RD_KAFKA_PRODUCER, without);
}

int kc_produce(struct kc_opts *o)
{
	struct producer pr = { .o = o, .wait_ms = 1 };
	rd_kafka_conf_t *conf = kc_conf_new(o);
	const struct rd_kafka_metadata *md;
	char errstr[256];
	bool interrupted;

	if (!co_kafka_props_get(o->props, "queue.buffering.max.kbytes") &&
	    rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", PRODUCER_QUEUE_KBYTES, errstr,
			      sizeof(errstr)))
		die(CO_ESOFTWARE, "queue.buffering.max.kbytes: %s", errstr);
	/* Small messages: librdkafka's 100000 took 43 MiB for 100-byte ones,
	 * 30000 take 23 MiB at the same speed; 10000 (one batch) halved it. */
	if (!co_kafka_props_get(o->props, "queue.buffering.max.messages") &&
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", PRODUCER_QUEUE_MESSAGES, errstr,
			      sizeof(errstr)))
		die(CO_ESOFTWARE, "queue.buffering.max.messages: %s", errstr);
	/* linger.ms stays librdkafka's 5 ms, as in kcat: with a fast input the
	 * batches fill before it runs out, and with a slow one a request
	 * carries more than one message. */
	/* A delivery report for each failed message only: the acknowledged
	 * ones are freed by librdkafka's broker thread, and counted at the
	 * end as those queued less those that failed. */
	if (!co_kafka_props_get(o->props, "delivery.report.only.error") &&
	    rd_kafka_conf_set(conf, "delivery.report.only.error", "true", errstr, sizeof(errstr)))
		die(CO_ESOFTWARE, "delivery.report.only.error: %s", errstr);
	{
		char v[16] = "";
		size_t len = sizeof(v);

		rd_kafka_conf_get(conf, "delivery.report.only.error", v, &len);
		pr.dr_errors_only = strcmp(v, "true") == 0;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, &pr);
	pr.rk = producer_new(o, conf);
	md = kc_metadata(o, pr.rk, o->topics[0], false);
	rd_kafka_metadata_destroy(md);
	pr.rkt = rd_kafka_topic_new(pr.rk, o->topics[0], NULL);
	pr.txn = co_kafka_props_get(o->props, "transactional.id") &&
		 *co_kafka_props_get(o->props, "transactional.id");
	if (pr.txn)
		txn_begin(&pr);
	read_input(&pr);
	interrupted = kc_stop && !pr.status;
	drain(&pr);
	/* Every message queued has had its outcome once the queue is empty:
	 * with reports of failures only, the others were acknowledged. */
	if (pr.dr_errors_only && rd_kafka_outq_len(pr.rk) == 0)
		pr.delivered = pr.records - pr.failed;
	/* Anything still unaccounted for was never acknowledged. */
	if (pr.delivered + pr.failed < pr.records)
		pr.failed = pr.records - pr.delivered;
	if (pr.txn)
		txn_end(&pr, interrupted);
	report(&pr, interrupted);
	rd_kafka_topic_destroy(pr.rkt);
	kc_client_destroy(pr.rk);
	if (pr.status)
		return pr.status;
	return pr.failed || pr.txn_error[0] ? CO_EFAIL : CO_OK;
}
