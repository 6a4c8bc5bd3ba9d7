/* SPDX-License-Identifier: MIT */
/*
 * kcat-lite: produce to and consume from Kafka topics with kcat's options
 * and output, never reporting success for a message the broker did not
 * acknowledge. The modes live in kcat-lite-produce.c and
 * kcat-lite-consume.c; metadata and offset queries are here.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kcat-lite.h"

#define DEFAULT_METADATA_TIMEOUT_S 5

enum { OPT_SEND_EMPTY = OPT_TOOL_FIRST, OPT_NO_IDEMPOTENCE };

volatile sig_atomic_t kc_stop;
volatile sig_atomic_t kc_brokers_down;
bool kc_connected;
/* For librdkafka's log and error callbacks, whatever a mode's opaque is. */
static const struct kc_opts *cb_opts;
/* The last authentication failure librdkafka reported, for kc_metadata. */
static char auth_error[512];
static bool auth_ssl;		/* it was the TLS handshake */

static noreturn void usage(void)
{
	printf("Usage: %s [-P|-C|-G GROUP|-L|-Q] [OPTION]... [FILE|TOPIC]...\n"
	       "Produce to and consume from Kafka topics, kcat-compatible.\n"
	       "\n"
	       "Modes (without one: -C when standard input is a terminal, else -P):\n"
	       "  -P                 produce messages read from standard input or FILEs\n"
	       "  -C                 consume one topic (all partitions, or -p)\n"
	       "  -G GROUP           consume the TOPICs given as arguments in a group\n"
	       "  -L                 list brokers, topics and partitions\n"
	       "  -Q                 offsets for timestamps: -t TOPIC:PARTITION:MS ...\n"
	       "\n"
	       "Options:\n"
	       "  -b BROKERS         bootstrap brokers (SC_BROKERS; default kafka:9092)\n"
	       "  -t TOPIC           topic (the last one given)\n"
	       "  -p PARTITION       partition (default, or -1: all, or the partitioner)\n"
	       "  -o OFFSET          where to start: beginning, end, stored, N, -N (N before\n"
	       "                     the end), s@MS (a timestamp); e@MS stops at a timestamp\n"
	       "  -e                 exit at the end of the partitions (any consumer mode)\n"
	       "  -c COUNT           stop after COUNT messages, consumed or produced (0: no\n"
	       "                     limit)\n"
	       "  -D DELIM           message delimiter (default \\n; escapes \\n \\t \\xHH, and\n"
	       "                     \\r \\\\ \\NNN)\n"
	       "  -K DELIM           key delimiter\n"
	       "  -k KEY             the key of every produced message\n"
	       "  -H NAME[=VALUE]    a header on every produced message (repeatable);\n"
	       "                     without =VALUE its value is NULL\n"
	       "  -Z                 empty key or value is NULL (a tombstone)\n"
	       "      --send-empty   produce empty records too (kcat skips them)\n"
	       "      --no-idempotence  as kcat produces: without idempotence; faster with\n"
	       "                     large messages, but a retry may write a message twice\n"
	       "  -l                 the one FILE holds delimited messages, not one message\n"
	       "  -T                 with -P, echo each record read to standard output\n"
	       "  -f FORMAT          output format: %%t %%p %%o %%T %%k %%K %%s %%S %%R %%h %%%%,\n"
	       "                     escapes \\n \\r \\t \\xHH \\NNN (\\033 octal); -J wins\n"
	       "  -s [key=|value=]PACK  deserialize keys and/or values with a pack-str:\n"
	       "                     < > b B h H i I q Q c s $ and spaces; or avro: Avro\n"
	       "                     in the schema registry's framing, written as JSON\n"
	       "  -r URL             the schema registry for -s avro\n"
	       "  -O                 accepted for kcat's sake; no effect\n"
	       "  -J                 JSON envelopes, in -C/-G output and -P input\n"
	       "  -X PROP=VALUE      librdkafka property; -X list (or help), -X dump\n"
	       "  -F FILE            librdkafka properties from FILE (kcat's or Java's\n"
	       "                     format; none: no file); default $KCAT_CONFIG,\n"
	       "                     else ~/.config/kcat.conf when it exists\n"
	       "  -z CODEC           compression: none, gzip, snappy, lz4, zstd\n"
	       "  -d CONTEXTS        librdkafka debug contexts\n"
	       "  -m SECONDS         time allowed to reach the brokers (default %d)\n"
	       "  -q                 quiet: no informational messages\n"
	       "  -v                 verbose (repeat for librdkafka's log)\n"
	       "  -E                 a consumer keeps retrying when all brokers are down\n"
	       "                     (default: exit 69), and skips a message -s cannot\n"
	       "                     decode (default: exit 65)\n"
	       "  -u                 write each message out at once\n"
	       "      --show-config  print the resolved configuration and exit\n"
	       "  -h, --help         display this help and exit\n"
	       "  -V, --version      output version information and exit\n"
	       "\n"
	       "Exit status: 0 success; 1 some message not delivered, a transaction\n"
	       "not committed, an unknown topic or partition, or a partition that cannot be\n"
	       "read; 64 usage; 65 malformed input, a bad\n"
	       "line or properties librdkafka refuses in a property file, or a message\n"
	       "-s cannot decode; 69 brokers or the schema registry unreachable, or all\n"
	       "brokers lost; 74 I/O error; 76 the schema registry answered something\n"
	       "other than a schema; 77 authentication refused; see clusterops(7).\n",
	       program_name, DEFAULT_METADATA_TIMEOUT_S);
	exit(CO_OK);
}

/* The last mode flag given wins, as in kcat: a wrapper's default gives way. */
static void set_mode(struct kc_opts *o, enum kc_mode mode)
{
	o->mode = mode;
}

static void add_prop(struct kc_opts *o, const char *name, const char *value)
{
	int rc = co_kafka_props_set(o->ctx, o->props, name, value);

	if (rc)
		die_ctx(o->ctx, rc);
}

static void option_X(struct kc_opts *o, const char *arg)
{
	int rc;

	if (strcmp(arg, "list") == 0 || strcmp(arg, "help") == 0) {
		rd_kafka_conf_properties_show(stdout);
		exit(CO_OK);
	}
	if (strcmp(arg, "dump") == 0) {
		o->dump_conf = true;
		return;
	}
	/* kcat's name for -r; its other schema.registry.* are libserdes's. */
	if (strncmp(arg, "schema.registry.", 16) == 0) {
		/* The name alone: basic.auth.user.info's value is a password. */
		if (strncmp(arg + 16, "url=", 4) || !arg[20])
			usage_error("-X %.*s: of the schema registry's properties only "
				    "schema.registry.url=URL is known", (int)strcspn(arg, "=:"), arg);
		o->registry = arg + 20;
		return;
	}
	rc = co_kafka_props_add_arg(o->ctx, o->props, arg);
	if (rc == CO_EUSAGE)
		usage_error("-X %s", co_ctx_error(o->ctx));
	if (rc)
		die_ctx(o->ctx, rc);
}

static char *unescape_dup(const char *arg, size_t *len)
{
	char *s = malloc(strlen(arg) + 1);

	if (!s)
		die(CO_ESOFTWARE, "out of memory");
	*len = co_kafka_unescape(arg, s);
	return s;
}

static void add_header(struct kc_opts *o, char *arg)
{
	struct kc_header *h;
	char *eq = strchr(arg, '=');

	/* Without the argument, as kcat and as -X: the value may be a secret
	 * (a token in an Authorization header). */
	if (eq == arg || !*arg)
		usage_error("-H: the header name is empty: expected NAME=VALUE or NAME");
	if (eq)
		*eq = '\0';
	h = realloc(o->headers, (o->n_headers + 1) * sizeof(*h));
	if (!h)
		die(CO_ESOFTWARE, "out of memory");
	o->headers = h;
	h[o->n_headers].name = arg;
	h[o->n_headers++].value = eq ? eq + 1 : NULL;
}

/* -s: key=PACK, value=PACK, or PACK for both. */
static void option_s(struct kc_opts *o, const char *arg)
{
	const char *pack = arg;
	int rc;
	bool key = true, value = true;

	if (strncmp(arg, "key=", 4) == 0) {
		pack = arg + 4;
		value = false;
	} else if (strncmp(arg, "value=", 6) == 0) {
		pack = arg + 6;
		key = false;
	}
	rc = strcmp(pack, "avro") ? co_kafka_pack_check(o->ctx, pack) : CO_OK;
	if (rc == CO_EUSAGE)
		usage_error("-s %s: %s", arg, co_ctx_error(o->ctx));
	if (key)
		o->pack[CO_KAFKA_FIELD_KEY] = pack;
	if (value)
		o->pack[CO_KAFKA_FIELD_VALUE] = pack;
}

static void read_props_file(struct kc_opts *o, struct co_kafka_props *props, const char *path)
{
	int rc = co_kafka_props_read_file(o->ctx, props, path);

	if (rc == CO_EUSAGE)
		usage_error("%s", co_ctx_error(o->ctx));
	if (rc)
		die_ctx(o->ctx, rc);
}

static void add_topic(struct kc_opts *o, const char *topic)
{
	const char **t = realloc(o->topics, (o->n_topics + 1) * sizeof(*t));

	if (!t)
		die(CO_ESOFTWARE, "out of memory");
	o->topics = t;
	o->topics[o->n_topics++] = topic;
}

static void parse_options(int argc, char **argv, struct kc_opts *o)
{
	static const struct option longopts[] = {
		{ "send-empty", no_argument, NULL, OPT_SEND_EMPTY },
		{ "no-idempotence", no_argument, NULL, OPT_NO_IDEMPOTENCE },
		{ "show-config", no_argument, NULL, OPT_SHOW_CONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int c, rc;

	while ((c = getopt_long(argc, argv, ":PCG:LQb:t:p:o:eEc:k:K:D:H:Zf:Js:r:OX:F:qvuz:d:m:TlhV",
				longopts, NULL)) != -1) {
		switch (c) {
		case 'P': set_mode(o, MODE_PRODUCE); break;
		case 'C': set_mode(o, MODE_CONSUME); break;
		case 'G': set_mode(o, MODE_GROUP); o->group = optarg; break;
		case 'L': set_mode(o, MODE_LIST); break;
		case 'Q': set_mode(o, MODE_QUERY); break;
		case 'b':
			rc = co_config_set(o->ctx, CO_KEY_BROKERS, optarg);
			if (rc)
				usage_error("-b: %s", co_ctx_error(o->ctx));
			o->brokers_arg = optarg;
			break;
		case 't': add_topic(o, optarg); break;
		case 'p':
			o->partition = (int32_t)parse_long_or_die(optarg, "-p", -1, INT32_MAX);
			if (o->partition == -1)
				o->partition = RD_KAFKA_PARTITION_UA;
			break;
		case 'o':
			if (strncmp(optarg, "e@", 2) == 0)
				o->offset_end = optarg;
			else
				o->offset = optarg;
			break;
		case 'e': o->exit_eof = true; break;
		case 'E': o->exit_on_error = false; break;
		case 'O': break;	/* kcat 1.7 accepts it and ignores it */
		/* 0 is no limit, as in kcat */
		case 'c': o->count = parse_long_or_die(optarg, "-c", 0, LONG_MAX); break;
		case 'k': o->key = optarg; break;
		case 'K':
			free(o->key_delim);
			o->key_delim_arg = optarg;
			o->key_delim = unescape_dup(optarg, &o->key_delim_len);
			if (!o->key_delim_len)
				usage_error("-K: the key delimiter is empty");
			break;
		case 'D':
			free(o->delim);
			o->delim_arg = optarg;
			o->delim = unescape_dup(optarg, &o->delim_len);
			if (!o->delim_len)
				usage_error("-D: the delimiter is empty");
			break;
		case 'H': add_header(o, optarg); break;
		case 'Z': o->null_empty = true; break;
		case OPT_SEND_EMPTY: o->send_empty = true; break;
		case OPT_NO_IDEMPOTENCE: o->no_idempotence = true; break;
		case 'f': o->format = optarg; break;
		case 'J': o->json = true; break;
		case 's': option_s(o, optarg); break;
		case 'r':
			if (!*optarg)
				usage_error("-r: the schema registry URL is empty");
			o->registry = optarg;
			break;
		case 'X': option_X(o, optarg); break;
		case 'F':
			o->conf_search = false;
			if (strcmp(optarg, "none") && strcmp(optarg, "-"))
				read_props_file(o, o->props, optarg);
			break;
		case 'q': o->quiet = true; break;
		case 'v': o->verbose++; break;
		case 'u': o->unbuffered = true; break;
		case 'z': add_prop(o, "compression.codec", optarg); break;
		case 'd': add_prop(o, "debug", optarg); break;
		case 'm':
			o->metadata_timeout_ms =
				(int)(parse_seconds_or_die(optarg, "-m") * 1000);
			if (o->metadata_timeout_ms < 1)
				usage_error("-m: the timeout must be positive");
			break;
		case 'T': o->tee = true; break;
		case 'l': o->file_lines = true; break;
		case 'h': usage();
		default: tool_common_option(o->ctx, c, optarg, argv);
		}
	}
	tool_options_done(o->ctx);
	if (o->mode == MODE_GROUP)
		for (int i = optind; i < argc; i++)
			add_topic(o, argv[i]);
	else if (o->mode == MODE_PRODUCE) {
		o->files = argv + optind;
		o->n_files = (size_t)(argc - optind);
	} else if (o->mode == MODE_NONE) {
		o->args = argv + optind;		/* files, if it turns out -P */
		o->n_args = (size_t)(argc - optind);
	} else if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

/*
 * Without -F: $KCAT_CONFIG, else ~/.config/kcat.conf (or the older
 * kafkacat.conf) when it exists, as kcat reads them. Their properties
 * give way to -X and -F, and their brokers to -b.
 */
static void read_default_conf(struct kc_opts *o)
{
	struct co_kafka_props *file = co_kafka_props_new();
	const char *path = getenv("KCAT_CONFIG"), *home = getenv("HOME");
	char buf[PATH_MAX];
	int rc;

	if (!file)
		die(CO_ESOFTWARE, "out of memory");
	if (!path || !*path)
		path = getenv("KAFKACAT_CONFIG");
	if (path && *path) {
		read_props_file(o, file, path);
	} else {
		if (!home || !*home) {
			struct passwd *pw = getpwuid(getuid());

			home = pw ? pw->pw_dir : NULL;
		}
		for (int i = 0; home && i < 2; i++) {
			snprintf(buf, sizeof(buf), "%s/.config/%s", home,
				 i ? "kafkacat.conf" : "kcat.conf");
			/* one that cannot be looked at is read, and says why */
			if (access(buf, F_OK) == 0 || (errno != ENOENT && errno != ENOTDIR)) {
				read_props_file(o, file, buf);
				path = buf;
				break;
			}
		}
	}
	if (path && o->verbose >= 1)
		warnmsg("properties read from %s", path);
	/* With the file they came from, for an error librdkafka gives later. */
	if ((rc = co_kafka_props_merge(o->ctx, o->props, file)))
		die_ctx(o->ctx, rc);
	co_kafka_props_free(file);
}

/* The largest password file read: 1 MiB. */
#define PASSWORD_FILE_MAX (1024 * 1024)

/*
 * sasl.password from $SC_KAFKA_PASSWORD, else from the first line of the
 * file $SC_KAFKA_PASSWORD_FILE names, unless -X or -F gave one: secrets
 * stay off the command line. A property file of KCAT_CONFIG gives way.
 * The file must be a regular file (a FIFO would block the open or the
 * read for ever) of at most PASSWORD_FILE_MAX bytes.
 */
static void password_from_env(struct kc_opts *o)
{
	const char *env = getenv("SC_KAFKA_PASSWORD"), *path = getenv("SC_KAFKA_PASSWORD_FILE");
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	int fd, rc;

	if (co_kafka_props_get(o->props, "sasl.password"))
		return;
	if (env && *env) {
		add_prop(o, "sasl.password", env);
		return;
	}
	if (!path || !*path)
		return;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		die(errno == EACCES ? CO_ENOPERM : CO_EIO, "SC_KAFKA_PASSWORD_FILE %s: %s", path,
		    strerror(errno));
	if ((rc = co_small_file_check(o->ctx, fd, path, PASSWORD_FILE_MAX, "password file")))
		die(rc, "SC_KAFKA_PASSWORD_FILE %s", co_ctx_error(o->ctx));
	/* The first line is all that is used: the first 4 KiB are read. */
	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(CO_EIO, "SC_KAFKA_PASSWORD_FILE %s: %s", path, strerror(errno));
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	for (size_t i = 0; i < n && buf[i] != '\r' && buf[i] != '\n'; i++)
		if (!buf[i])
			die(CO_EDATA, "SC_KAFKA_PASSWORD_FILE %s: a NUL byte in the password", path);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		die(CO_EDATA, "SC_KAFKA_PASSWORD_FILE %s: empty", path);
	add_prop(o, "sasl.password", buf);
	explicit_bzero(buf, sizeof(buf));
}

static void validate(struct kc_opts *o)
{
	password_from_env(o);
	if (o->conf_search)
		read_default_conf(o);
	/* -b wins over the brokers of a property file, as in kcat. */
	if (o->brokers_arg)
		add_prop(o, "bootstrap.servers", o->brokers_arg);
	if (o->mode == MODE_NONE && !o->dump_conf) {
		o->mode = isatty(STDIN_FILENO) ? MODE_CONSUME : MODE_PRODUCE;
		if (!o->quiet)
			fprintf(stderr, "%s: Auto-selecting %s mode (use -P or -C to override)\n",
				program_name, o->mode == MODE_CONSUME ? "Consumer" : "Producer");
		if (o->mode == MODE_PRODUCE) {
			o->files = o->args;
			o->n_files = o->n_args;
		} else if (o->n_args) {
			usage_error("unexpected argument '%s'", o->args[0]);
		}
	}
	/* -P, -C and -L take one topic: the last -t, as in kcat. */
	if ((o->mode == MODE_PRODUCE || o->mode == MODE_CONSUME || o->mode == MODE_LIST) &&
	    o->n_topics > 1) {
		o->topics[0] = o->topics[o->n_topics - 1];
		o->n_topics = 1;
	}
	/* -X dump needs no topic: it prints the configuration and exits. */
	if ((o->mode == MODE_PRODUCE || o->mode == MODE_CONSUME) && !o->n_topics && !o->dump_conf)
		usage_error("%s needs a topic (-t)", o->mode == MODE_PRODUCE ? "-P" : "-C");
	if (o->mode == MODE_GROUP && o->n_topics == 0 && !o->dump_conf)
		usage_error("-G needs at least one topic argument");
	if (o->mode == MODE_QUERY && o->n_topics == 0 && !o->dump_conf)
		usage_error("-Q needs -t TOPIC:PARTITION:TIMESTAMP");
	/* -J wins over -f, as in kcat. */
	if (o->json && o->mode != MODE_PRODUCE)
		o->format = NULL;
	/* -l reads its one file as delimited messages: without a file it
	 * changes nothing (standard input is read so), and only -P reads. */
	if (o->file_lines && o->mode == MODE_PRODUCE && o->n_files > 1)
		usage_error("-l takes one file");
	if ((o->pack[0] || o->pack[1]) && o->mode != MODE_CONSUME && o->mode != MODE_GROUP)
		usage_error("-s deserializes consumed messages: give it with -C or -G");
	/* -r and -X win over a property file's schema.registry.url. */
	if (!o->registry)
		o->registry = co_kafka_props_get(o->props, CO_KAFKA_REGISTRY_PROPERTY);
	if (kc_avro(o, CO_KAFKA_FIELD_KEY) || kc_avro(o, CO_KAFKA_FIELD_VALUE)) {
		if (!o->registry)
			usage_error("-s avro needs the schema registry: -r URL");
		/* kcat writes a decoded key, right before the value without -K. */
		if (kc_avro(o, CO_KAFKA_FIELD_KEY) && !o->key_delim_arg)
			o->key_delim_arg = "";
	}
	if (!o->delim) {
		o->delim = unescape_dup("\\n", &o->delim_len);
		o->delim_arg = "\\n";
	}
}

const char *kc_parse_int64(const char *s, bool negative_ok, int64_t *out)
{
	const char *d = negative_ok && *s == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (!isdigit((unsigned char)*d))
		return "not a number";
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end)
		return "not a number";
	if (errno == ERANGE)
		return "out of range";
	*out = (int64_t)v;
	return NULL;
}

const char *kc_brokers(const struct kc_opts *o)
{
	const char *b = co_kafka_props_get(o->props, "bootstrap.servers");

	if (!b)
		b = co_kafka_props_get(o->props, "metadata.broker.list");
	return b ? b : co_config_get(o->ctx, CO_KEY_BROKERS);
}

/*
 * A message of librdkafka's, cut before anything of a secret property
 * (co_kafka_property_secret()): it may quote a secret value whole (a
 * refused ssl.key.password as the client is made), or a piece of one (an
 * invalid sasl.oauthbearer.config names the field it could not read, and
 * its value). The message ends where the value starts, or just after the
 * property's name when a colon follows it.
 */
static char *redact(const struct kc_opts *o, char *msg, size_t size)
{
	static const char hidden[] = " (not shown: it may quote a secret)";

	for (size_t i = 0; i < co_kafka_props_count(o->props); i++) {
		const char *name = co_kafka_props_name(o->props, i);
		const char *value = co_kafka_props_value(o->props, i);
		char *at = NULL;

		if (!co_kafka_property_secret(name))
			continue;
		if (*value && (at = strstr(msg, value)))
			*at = '\0';
		else if ((at = strstr(msg, name)) && at[strlen(name)] == ':')
			at[strlen(name) + 1] = '\0';
		if (at) {
			size_t len = strlen(msg);

			snprintf(msg + len, size - len, "%s", hidden);
		}
	}
	return msg;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	const struct kc_opts *o = cb_opts;
	char msg[1024];

	(void)rk;
	if (o->verbose >= 2 || level >= 7) {
		snprintf(msg, sizeof(msg), "%s", buf);
		/* a broker's words among them: shown safe, as every message is */
		warnmsg("%s: %s", fac, redact(o, msg, sizeof(msg)));
	}
}

static void error_cb(rd_kafka_t *rk, int err, const char *why, void *opaque)
{
	const struct kc_opts *o = cb_opts;
	char reason[512];

	(void)opaque;
	snprintf(reason, sizeof(reason), "%s", why);
	redact(o, reason, sizeof(reason));
	/* A consumer would retry for ever: kcat 1.7 exits here, and -E keeps
	 * going, as in kcat. A producer's wait is bounded by message.timeout.ms
	 * and accounted for message by message. */
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && kc_connected && o->exit_on_error &&
	    rd_kafka_type(rk) == RD_KAFKA_CONSUMER && !kc_brokers_down) {
		warnmsg("brokers %s: all connections are down (%s); stopping (-E keeps going)",
			kc_brokers(o), reason);
		kc_brokers_down = 1;
		kc_stop = 1;
		return;
	}
	/* A refused login, or a broker certificate that is not trusted. */
	if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) {
		snprintf(auth_error, sizeof(auth_error), "%s", reason);
		auth_ssl = err == RD_KAFKA_RESP_ERR__SSL;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && o->quiet)
		return;
	if (o->verbose >= 1 || rd_kafka_fatal_error(rk, NULL, 0))
		warnmsg("%s", reason);
}

rd_kafka_conf_t *kc_conf_new(struct kc_opts *o)
{
	rd_kafka_conf_t *conf;
	int rc = co_kafka_conf_new(o->ctx, o->props, &conf);

	if (rc == CO_EUSAGE)
		usage_error("%s", co_ctx_error(o->ctx));
	if (rc)
		die_ctx(o->ctx, rc);
	cb_opts = o;
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	return conf;
}

static void dump_pairs(const char *title, const char **arr, size_t n)
{
	printf("# %s\n", title);
	for (size_t i = 0; i + 1 < n; i += 2) {
		bool hide = co_kafka_property_secret(arr[i]) && arr[i + 1] && *arr[i + 1];

		printf("%s = %s\n", arr[i], hide ? "[hidden]" : arr[i + 1]);
	}
	putchar('\n');
	rd_kafka_conf_dump_free(arr, n);
}

/* -X dump: the global and the topic configuration, as kcat prints them. */
static void dump_conf(rd_kafka_conf_t *conf)
{
	const rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(conf);
	rd_kafka_topic_conf_t *dflt = tc ? NULL : rd_kafka_topic_conf_new();
	size_t n;
	const char **arr = rd_kafka_conf_dump(conf, &n);

	dump_pairs("Global config", arr, n);
	arr = rd_kafka_topic_conf_dump(tc ? (rd_kafka_topic_conf_t *)tc : dflt, &n);
	dump_pairs("Topic config", arr, n);
	if (dflt)
		rd_kafka_topic_conf_destroy(dflt);
}

void kc_message_written(const struct kc_opts *o)
{
	if (o->unbuffered)
		fflush(stdout);
}

/* For the trial clients, which warn that they have no brokers. */
static void no_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	(void)level;
	(void)fac;
	(void)buf;
}

/*
 * Some configurations librdkafka refuses only when the client is made (a
 * SASL mechanism it lacks, properties that contradict each other), in a
 * message that names no file. The property file whose properties, alone,
 * make the same client fail with the same message is the one at fault:
 * returned, for the caller to name. Otherwise (NULL) the command line
 * is, or the command line and the file together. The trial client has no
 * brokers, so it connects nowhere; it is made only after a failure.
 */
static const char *refused_file(const struct kc_opts *o, rd_kafka_type_t type,
				const char *errstr)
{
	size_t n = co_kafka_props_count(o->props);

	for (size_t i = 0; i < n; i++) {
		const char *file = co_kafka_props_origin(o->props, i), *f;
		rd_kafka_conf_t *conf;
		rd_kafka_t *rk;
		char why[512];
		size_t j;

		for (j = 0; file && j < i; j++)
			if ((f = co_kafka_props_origin(o->props, j)) && strcmp(f, file) == 0)
				break;
		if (!file || j < i)
			continue;	/* not from a file, or that file was tried */
		if (!(conf = rd_kafka_conf_new()))
			return NULL;
		rd_kafka_conf_set_log_cb(conf, no_log);
		for (j = i; j < n; j++) {
			const char *name = co_kafka_props_name(o->props, j);

			if (!(f = co_kafka_props_origin(o->props, j)) || strcmp(f, file) ||
			    strcmp(name, CO_KAFKA_REGISTRY_PROPERTY) == 0 ||
			    strcmp(name, "bootstrap.servers") == 0 ||
			    strcmp(name, "metadata.broker.list") == 0)
				continue;
			if (rd_kafka_conf_set(conf, name, co_kafka_props_value(o->props, j), why,
					      sizeof(why)) != RD_KAFKA_CONF_OK)
				break;
		}
		if (j < n) {
			rd_kafka_conf_destroy(conf);
			continue;
		}
		if ((rk = rd_kafka_new(type, conf, why, sizeof(why)))) {
			rd_kafka_destroy(rk);
			continue;
		}
		rd_kafka_conf_destroy(conf);
		if (strcmp(why, errstr) == 0)
			return file;
	}
	return NULL;
}

bool kc_client_refuses(rd_kafka_type_t type, const rd_kafka_conf_t *conf, char *errstr,
		       size_t size)
{
	rd_kafka_conf_t *trial = rd_kafka_conf_dup(conf);
	rd_kafka_t *rk;

	if (!trial)
		die(CO_ESOFTWARE, "out of memory");
	rd_kafka_conf_set_log_cb(trial, no_log);
	rd_kafka_conf_set_error_cb(trial, NULL);	/* its errors are not the run's */
	/* nothing to connect to, and no TLS or SASL to set up (no token to
	 * fetch, no key to load) */
	if (rd_kafka_conf_set(trial, "bootstrap.servers", "", errstr, size) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(trial, "security.protocol", "plaintext", errstr, size) !=
		    RD_KAFKA_CONF_OK)
		die(CO_ESOFTWARE, "trial client: %s", errstr);
	if (!(rk = rd_kafka_new(type, trial, errstr, size))) {
		rd_kafka_conf_destroy(trial);
		return true;
	}
	rd_kafka_destroy(rk);
	return false;
}

rd_kafka_t *kc_client_try(struct kc_opts *o, rd_kafka_type_t type, rd_kafka_conf_t *conf,
			  char *errstr, size_t size)
{
	if (o->dump_conf) {
		dump_conf(conf);
		rd_kafka_conf_destroy(conf);
		exit(CO_OK);
	}
	return rd_kafka_new(type, conf, errstr, size);
}

rd_kafka_t *kc_client_new(struct kc_opts *o, rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char errstr[512];
	rd_kafka_t *rk = kc_client_try(o, type, conf, errstr, sizeof(errstr));

	if (rk)
		return rk;
	kc_client_refused(o, type, conf, errstr);
}

noreturn void kc_client_refused(struct kc_opts *o, rd_kafka_type_t type, rd_kafka_conf_t *conf,
				const char *why)
{
	char errstr[512];
	const char *file;

	snprintf(errstr, sizeof(errstr), "%s", why);
	rd_kafka_conf_destroy(conf);
	file = refused_file(o, type, errstr);
	redact(o, errstr, sizeof(errstr));
	/* A file's contents are bad data, as a line librdkafka refuses as it
	 * is read; -X is a usage error. */
	if (file)
		die(CO_EDATA, "%s: %s", file, errstr);
	usage_error("%s", errstr);
}

void kc_client_destroy(rd_kafka_t *rk)
{
	rd_kafka_destroy(rk);
	rd_kafka_wait_destroyed(10000);
}

/*
 * After a request that timed out: when the brokers refused the login, or
 * their certificate was not trusted, say so (the caller exits 77).
 */
bool kc_auth_failed(struct kc_opts *o, rd_kafka_t *rk)
{
	const char *mech = co_kafka_props_get(o->props, "sasl.mechanisms");

	rd_kafka_poll(rk, 0);	/* the error callbacks */
	if (!auth_error[0])
		return false;
	if (!mech)
		mech = co_kafka_props_get(o->props, "sasl.mechanism");
	warnmsg("brokers %s: %s%s", kc_brokers(o), auth_error,
		auth_ssl ? " (the broker's certificate is checked against ssl.ca.location)" : "");
	/* Kafka 4 checks the SCRAM nonce as RFC 5802 says; librdkafka before
	 * 2.6.1 does not send it that way, and Kafka 4 refuses the login as if
	 * the password were wrong. */
	if (!auth_ssl && mech && strncasecmp(mech, "SCRAM", 5) == 0 &&
	    rd_kafka_version() < 0x020601ff)
		warnmsg("if the brokers are Kafka 4 or later: librdkafka %s cannot authenticate "
			"with SCRAM to them (2.6.1 or later can)", rd_kafka_version_str());
	return true;
}

const struct rd_kafka_metadata *kc_metadata(struct kc_opts *o, rd_kafka_t *rk,
					    const char *topic, bool all_topics)
{
	return kc_metadata_of(o, rk, topic, all_topics, false);
}

const struct rd_kafka_metadata *kc_metadata_of(struct kc_opts *o, rd_kafka_t *rk,
					       const char *topic, bool all_topics, bool listing)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = topic ? rd_kafka_topic_new(rk, topic, NULL) : NULL;
	rd_kafka_resp_err_t err;

	double deadline = monotonic_now() + o->metadata_timeout_ms / 1000.0;

	/* A producer's first request makes the broker create the topic when
	 * it creates topics automatically: ask again until -m runs out. */
	for (;;) {
		err = rd_kafka_metadata(rk, all_topics, rkt, &md, o->metadata_timeout_ms);
		if (err || !topic || listing || rd_kafka_type(rk) != RD_KAFKA_PRODUCER ||
		    md->topic_cnt != 1 ||
		    md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
		    monotonic_now() > deadline)
			break;
		rd_kafka_metadata_destroy(md);
		md = NULL;
		sleep_seconds(0.2);
	}
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	if (err && kc_auth_failed(o, rk)) {
		kc_client_destroy(rk);
		exit(CO_ENOPERM);
	}
	if (err) {
		warnmsg("brokers %s: not reachable within %g s (%s); check -b or SC_BROKERS",
			kc_brokers(o), o->metadata_timeout_ms / 1000.0, rd_kafka_err2str(err));
		kc_client_destroy(rk);
		exit(CO_EUNAVAILABLE);
	}
	if (topic && !listing && md->topic_cnt == 1 &&
	    (md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
	     md->topics[0].err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)) {
		warnmsg("topic '%s': %s (list the topics with -L)", topic,
			rd_kafka_err2str(md->topics[0].err));
		rd_kafka_metadata_destroy(md);
		kc_client_destroy(rk);
		exit(CO_EFAIL);
	}
	kc_connected = true;
	return md;
}

/* ---- -L ------------------------------------------------------------- */

static void list_text(struct kc_opts *o, const struct rd_kafka_metadata *md, int32_t ctrl)
{
	/* Names the brokers give are shown with their control characters as '?'. */
	printf("Metadata for %s (from broker %" PRId32 ": ",
	       o->n_topics ? o->topics[0] : "all topics", md->orig_broker_id);
	fputs_printable(md->orig_broker_name, stdout);
	printf("):\n %d brokers:\n", md->broker_cnt);
	for (int i = 0; i < md->broker_cnt; i++) {
		printf("  broker %" PRId32 " at ", md->brokers[i].id);
		fputs_printable(md->brokers[i].host, stdout);
		printf(":%d%s\n", md->brokers[i].port,
		       md->brokers[i].id == ctrl ? " (controller)" : "");
	}
	printf(" %d topics:\n", md->topic_cnt);
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];

		fputs("  topic \"", stdout);
		fputs_printable(t->topic, stdout);
		printf("\" with %d partitions:", t->partition_cnt);
		if (t->err)
			printf(" %s%s", rd_kafka_err2str(t->err),
			       t->err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ? " (try again)" : "");
		putchar('\n');
		for (int j = 0; j < t->partition_cnt; j++) {
			const struct rd_kafka_metadata_partition *p = &t->partitions[j];

			printf("    partition %" PRId32 ", leader %" PRId32 ", replicas: ",
			       p->id, p->leader);
			for (int k = 0; k < p->replica_cnt; k++)
				printf("%s%" PRId32, k ? "," : "", p->replicas[k]);
			printf(", isrs: ");
			for (int k = 0; k < p->isr_cnt; k++)
				printf("%s%" PRId32, k ? "," : "", p->isrs[k]);
			if (p->err)
				printf(", %s", rd_kafka_err2str(p->err));
			putchar('\n');
		}
	}
}

/*
 * A JSON string of what the broker says (names and hosts: any bytes a
 * hostile broker sends), its invalid UTF-8 replaced and the rest escaped
 * by jansson.
 */
static void json_str(const char *s)
{
	size_t len;
	char *valid = co_utf8_replace_invalid(s ? s : "", s ? strlen(s) : 0, &len);
	json_t *j = valid ? json_stringn(valid, len) : NULL;
	char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	if (!text)
		die(CO_ESOFTWARE, "out of memory");
	fputs(text, stdout);
	free(text);
	json_decref(j);
	free(valid);
}

static void list_json(struct kc_opts *o, const struct rd_kafka_metadata *md, int32_t ctrl)
{
	printf("{\"originating_broker\":{\"id\":%" PRId32 ",\"name\":", md->orig_broker_id);
	json_str(md->orig_broker_name);
	printf("},\"query\":{\"topic\":");
	json_str(o->n_topics ? o->topics[0] : "*");
	printf("},\"controllerid\":%" PRId32 ",\"brokers\":[", ctrl);
	for (int i = 0; i < md->broker_cnt; i++) {
		char *name = xasprintf("%s:%d", md->brokers[i].host, md->brokers[i].port);

		printf("%s{\"id\":%" PRId32 ",\"name\":", i ? "," : "", md->brokers[i].id);
		json_str(name);
		putchar('}');
		free(name);
	}
	printf("],\"topics\":[");
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];

		printf("%s{\"topic\":", i ? "," : "");
		json_str(t->topic);
		if (t->err) {
			printf(",\"error\":");
			json_str(rd_kafka_err2str(t->err));
		}
		printf(",\"partitions\":[");
		for (int j = 0; j < t->partition_cnt; j++) {
			const struct rd_kafka_metadata_partition *p = &t->partitions[j];

			printf("%s{\"partition\":%" PRId32, j ? "," : "", p->id);
			if (p->err) {
				printf(",\"error\":");
				json_str(rd_kafka_err2str(p->err));
			}
			printf(",\"leader\":%" PRId32 ",\"replicas\":[", p->leader);
			for (int k = 0; k < p->replica_cnt; k++)
				printf("%s{\"id\":%" PRId32 "}", k ? "," : "", p->replicas[k]);
			printf("],\"isrs\":[");
			for (int k = 0; k < p->isr_cnt; k++)
				printf("%s{\"id\":%" PRId32 "}", k ? "," : "", p->isrs[k]);
			printf("]}");
		}
		printf("]}");
	}
	printf("]}\n");
}

int kc_list(struct kc_opts *o)
{
	rd_kafka_t *rk = kc_client_new(o, RD_KAFKA_PRODUCER, kc_conf_new(o));
	const struct rd_kafka_metadata *md;
	int32_t ctrl;

	/* A topic that does not exist is listed with the broker's error, and
	 * -L succeeds, as in kcat: scripts look for "Unknown topic". */
	md = kc_metadata_of(o, rk, o->n_topics ? o->topics[0] : NULL, o->n_topics == 0, true);
	ctrl = rd_kafka_controllerid(rk, o->metadata_timeout_ms);
	if (o->json)
		list_json(o, md, ctrl);
	else
		list_text(o, md, ctrl);
	rd_kafka_metadata_destroy(md);
	kc_client_destroy(rk);
	return CO_OK;
}

/* ---- -Q ------------------------------------------------------------- */

int kc_query(struct kc_opts *o)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)o->n_topics);
	rd_kafka_t *rk;
	rd_kafka_resp_err_t err;
	bool unreachable;
	int status = CO_OK;

	for (size_t i = 0; i < o->n_topics; i++) {
		char *topic = strdup(o->topics[i]), *c2, *c1;
		const char *why = NULL, *what = "";
		int64_t p = 0, ts = 0;

		if (!topic)
			die(CO_ESOFTWARE, "out of memory");
		c2 = strrchr(topic, ':');
		c1 = c2 ? memrchr(topic, ':', (size_t)(c2 - topic)) : NULL;
		if (c1 && c1 != topic) {
			*c1 = *c2 = '\0';
			what = "the partition is ";
			why = kc_parse_int64(c1 + 1, false, &p);
			if (!why && p > INT32_MAX)
				why = "out of range";
			if (!why) {
				what = "the timestamp is ";
				why = kc_parse_int64(c2 + 1, true, &ts);
			}
		}
		if (!c1 || c1 == topic || why) {
			free(topic);
			rd_kafka_topic_partition_list_destroy(parts);
			usage_error("-Q -t '%s': %s%s%sexpected TOPIC:PARTITION:TIMESTAMP",
				    o->topics[i], why ? what : "", why ? why : "", why ? "; " : "");
		}
		rd_kafka_topic_partition_list_add(parts, topic, (int32_t)p)->offset = ts;
		free(topic);
	}
	rk = kc_client_new(o, RD_KAFKA_CONSUMER, kc_conf_new(o));
	err = rd_kafka_offsets_for_times(rk, parts, o->metadata_timeout_ms);
	/* kcat's order: by topic, then partition, one JSON key per topic. */
	rd_kafka_topic_partition_list_sort(parts, NULL, NULL);
	unreachable = err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
		      err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
	if ((unreachable || err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
	     err == RD_KAFKA_RESP_ERR__SSL) && kc_auth_failed(o, rk)) {
		status = CO_ENOPERM;
	} else if (err) {
		warnmsg("brokers %s: offsets for times: %s", kc_brokers(o), rd_kafka_err2str(err));
		status = unreachable ? CO_EUNAVAILABLE : CO_EFAIL;
	} else if (o->json) {
		const char *last = "";

		putchar('{');
		for (int i = 0; i < parts->cnt; i++) {
			const rd_kafka_topic_partition_t *p = &parts->elems[i];

			if (strcmp(last, p->topic)) {
				printf("%s", *last ? "}," : "");
				json_str(p->topic);
				printf(":{\"topic\":");
				json_str(p->topic);
				last = p->topic;
			}
			printf(",\"%" PRId32 "\":{\"partition\":%" PRId32 ",\"offset\":%" PRId64,
			       p->partition, p->partition, p->offset);
			if (p->err) {
				printf(",\"error\":");
				json_str(rd_kafka_err2str(p->err));
			}
			putchar('}');
		}
		printf("%s}\n", *last ? "}" : "");
	} else {
		for (int i = 0; i < parts->cnt; i++) {
			const rd_kafka_topic_partition_t *p = &parts->elems[i];

			printf("%s [%" PRId32 "] offset %" PRId64, p->topic, p->partition, p->offset);
			if (p->err)
				printf(": %s", rd_kafka_err2str(p->err));
			putchar('\n');
		}
	}
	for (int i = 0; !err && i < parts->cnt; i++)
		if (parts->elems[i].err)
			status = CO_EFAIL;
	rd_kafka_topic_partition_list_destroy(parts);
	kc_client_destroy(rk);
	return status;
}

/* ---- main ----------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	kc_stop = 1;
}

static void setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: a blocked read returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Standard output's buffer when it is not a terminal: 64 KiB per write. */
static char out_buf[1 << 16];

int main(int argc, char **argv)
{
	struct kc_opts o = {
		.partition = RD_KAFKA_PARTITION_UA,
		.exit_on_error = true,
		.conf_search = true,
		.metadata_timeout_ms = DEFAULT_METADATA_TIMEOUT_S * 1000,
	};
	int status = CO_OK;

	o.ctx = tool_init("kcat-lite");
	o.props = co_kafka_props_new();
	if (!o.props)
		die(CO_ESOFTWARE, "out of memory");
	/* Some kcat images take the program's name as their first argument:
	 * kcat drops it, and so does kcat-lite, when options follow it (a
	 * file named kcat before them is still a file). */
	if (argc > 1 && (strcmp(argv[1], "kcat") == 0 || strcmp(argv[1], "kafkacat") == 0) &&
	    (argc == 2 || argv[2][0] == '-')) {
		memmove(&argv[1], &argv[2], sizeof(*argv) * (size_t)(argc - 1));
		argc--;
	}
	parse_options(argc, argv, &o);
	validate(&o);
	setup_signals();
	/* glibc ignores the size unless it is given the buffer too; -u
	 * flushes after each message, whatever its delimiter. */
	o.terminal = isatty(STDOUT_FILENO);
	if (o.terminal && !o.unbuffered)
		setvbuf(stdout, NULL, _IOLBF, 0);
	else
		setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));

	switch (o.mode) {
	case MODE_PRODUCE: status = kc_produce(&o); break;
	case MODE_CONSUME:
	case MODE_GROUP: status = kc_consume(&o); break;
	case MODE_LIST: status = kc_list(&o); break;
	case MODE_QUERY: status = kc_query(&o); break;
	case MODE_NONE:
		kc_client_destroy(kc_client_new(&o, RD_KAFKA_PRODUCER, kc_conf_new(&o)));
		break;
	}
	co_kafka_props_free(o.props);
	free(o.topics);
	free(o.headers);
	free(o.delim);
	free(o.key_delim);
	co_ctx_free(o.ctx);
	if (kc_brokers_down && (status == CO_OK || status == CO_EFAIL))
		status = CO_EUNAVAILABLE;
	return status;
}
