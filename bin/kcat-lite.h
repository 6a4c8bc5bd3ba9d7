/* SPDX-License-Identifier: MIT */
/* Private to kcat-lite: its options and the modes' entry points. */
#ifndef KCAT_LITE_H
#define KCAT_LITE_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <string.h>

#include "tools-common.h"

enum kc_mode { MODE_NONE, MODE_PRODUCE, MODE_CONSUME, MODE_GROUP, MODE_LIST, MODE_QUERY };

struct kc_header {
	const char *name;
	const char *value;		/* NULL: -H NAME, a header without a value */
};

struct kc_opts {
	struct co_ctx *ctx;
	enum kc_mode mode;
	const char *group;
	const char **topics;		/* -t, or the arguments of -G */
	size_t n_topics;
	int32_t partition;		/* -p, RD_KAFKA_PARTITION_UA when absent or -1 */
	const char *offset;		/* -o: where to start */
	const char *offset_end;		/* -o e@MS: where to stop */
	bool exit_eof;			/* -e */
	long count;			/* -c, 0 for no limit */
	const char *key;		/* -k */
	char *key_delim;		/* -K, unescaped */
	size_t key_delim_len;
	char *delim;			/* -D, unescaped; default "\n" */
	size_t delim_len;
	const char *delim_arg;		/* -D as given, for formats */
	const char *key_delim_arg;
	bool null_empty;		/* -Z */
	bool send_empty;		/* --send-empty: empty records are produced */
	bool no_idempotence;		/* --no-idempotence: kcat's producer settings */
	bool exit_on_error;		/* not -E: all brokers down ends the run */
	const char *pack[2];		/* -s key=, -s value=: pack-str deserializers */
	const char *registry;		/* -r: the schema registry for -s avro */
	const char *brokers_arg;	/* -b, which wins over a property file */
	bool conf_search;		/* no -F: KCAT_CONFIG or ~/.config/kcat.conf */
	const char *format;		/* -f */
	bool json;			/* -J */
	struct kc_header *headers;	/* -H */
	size_t n_headers;
	struct co_kafka_props *props;	/* -X, -F, -z, -d */
	bool quiet;			/* -q */
	int verbose;			/* -v */
	bool unbuffered;		/* -u */
	bool terminal;			/* standard output is a terminal */
	int metadata_timeout_ms;	/* -m */
	bool tee;			/* -T */
	bool file_lines;		/* -l */
	bool dump_conf;			/* -X dump */
	char **files;
	size_t n_files;
	char **args;			/* without a mode: files, if it turns out -P */
	size_t n_args;
};

extern volatile sig_atomic_t kc_stop;	/* SIGINT or SIGTERM seen */
/* A consumer lost all brokers after it had reached them, and -E was not
 * given: it stops as for a signal, and exits 69. */
extern volatile sig_atomic_t kc_brokers_down;
/* Set once the brokers have answered, so that only a loss mid-run counts. */
extern bool kc_connected;

/* Flush standard output after a message when -u asks for it. */
void kc_message_written(const struct kc_opts *o);
/* Create the client; dies with a message on failure. */
rd_kafka_t *kc_client_new(struct kc_opts *o, rd_kafka_type_t type, rd_kafka_conf_t *conf);
/* The same, but a refusal is left to the caller: NULL, the reason in
 * errstr and conf still the caller's (for kc_client_refused()). */
rd_kafka_t *kc_client_try(struct kc_opts *o, rd_kafka_type_t type, rd_kafka_conf_t *conf,
			  char *errstr, size_t size);
/* Whether librdkafka would refuse to make this client for what does not
 * depend on the connection (idempotence, for one), and why, in errstr:
 * found with a trial client that has no broker, TLS or SASL; conf stays
 * the caller's. */
bool kc_client_refuses(rd_kafka_type_t type, const rd_kafka_conf_t *conf, char *errstr,
		       size_t size);
/* Report why librdkafka refused the client (naming the file it came
 * from when it did), free conf and exit: 65 for a file, else 64. */
noreturn void kc_client_refused(struct kc_opts *o, rd_kafka_type_t type, rd_kafka_conf_t *conf,
				const char *why);
/* The configuration every mode starts from: toolkit + -X/-F, callbacks. */
rd_kafka_conf_t *kc_conf_new(struct kc_opts *o);
/* Destroy the client and wait for librdkafka's threads to end. */
void kc_client_destroy(rd_kafka_t *rk);
/* Metadata for one topic (or none), or die: 69 when no broker answers
 * within -m, 1 when the topic does not exist. */
const struct rd_kafka_metadata *kc_metadata(struct kc_opts *o, rd_kafka_t *rk,
					    const char *topic, bool all_topics);
/* The same; listing (-L): the topic is asked once, and one that does not
 * exist comes back with its error rather than ending the run. */
const struct rd_kafka_metadata *kc_metadata_of(struct kc_opts *o, rd_kafka_t *rk,
					       const char *topic, bool all_topics, bool listing);
/* After a request that timed out: true, with a message, when the brokers
 * refused the login or their certificate was not trusted (exit 77). */
bool kc_auth_failed(struct kc_opts *o, rd_kafka_t *rk);
/* The broker list in use, for messages. */
const char *kc_brokers(const struct kc_opts *o);
/* A decimal integer, all of s: digits after an optional '-' (when
 * negative_ok), nothing else, within int64_t. NULL when it is one, else why
 * it is not ("not a number", "out of range"). */
const char *kc_parse_int64(const char *s, bool negative_ok, int64_t *out);

/* Whether -s asked for Avro for the key (0) or the value (1). */
static inline bool kc_avro(const struct kc_opts *o, int field)
{
	return o->pack[field] && strcmp(o->pack[field], "avro") == 0;
}

int kc_produce(struct kc_opts *o);
int kc_consume(struct kc_opts *o);
int kc_list(struct kc_opts *o);
int kc_query(struct kc_opts *o);

#endif
