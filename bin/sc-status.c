/* SPDX-License-Identifier: MIT */
/*
 * sc-status: show the Spark master's workers, applications and drivers, or
 * wait until the cluster is ready.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools-common.h"

#define DEFAULT_WAIT_SECONDS 120.0

struct control {
	bool all;		/* include completed applications and drivers */
	bool json;
	bool quiet;
	bool wait;
	double wait_seconds;
	long workers;		/* alive workers to wait for; 0: all known */
};

static noreturn void usage(void)
{
	printf("Usage: %s [OPTION]...\n"
	       "Show the Spark master's workers, applications and drivers.\n"
	       "\n"
	       "  -a, --all              include completed applications and drivers\n"
	       "  -J, --json             one JSON object per line\n"
	       "  -w, --wait[=SECONDS]   wait until the master is alive and the workers are\n"
	       "                         registered, at most SECONDS, requests included\n"
	       "                         (default %.0f; exit 75 when it expires)\n"
	       "  -W, --workers=N        with --wait: the number of alive workers to wait for\n"
	       "                         (default: every worker not DEAD or DECOMMISSIONED,\n"
	       "                         at least 1)\n"
	       "  -q, --quiet            print nothing; the exit status tells the result\n",
	       program_name, DEFAULT_WAIT_SECONDS);
	tool_common_usage(stdout);
	printf("\nExit status: 0 ok, 69 master unreachable, 75 --wait timed out,\n"
	       "76 malformed reply; see clusterops(7).\n");
	exit(CO_OK);
}

static void parse_options(int argc, char **argv, struct co_ctx *ctx, struct control *ctl)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'J' },
		{ "wait", optional_argument, NULL, 'w' },
		{ "workers", required_argument, NULL, 'W' },
		{ "quiet", no_argument, NULL, 'q' },
		CO_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int c;

	ctl->wait_seconds = DEFAULT_WAIT_SECONDS;
	while ((c = getopt_long(argc, argv, ":aJw::W:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			ctl->all = true;
			break;
		case 'J':
			ctl->json = true;
			break;
		case 'w':
			ctl->wait = true;
			if (optarg)
				ctl->wait_seconds = parse_seconds_or_die(optarg, "--wait");
			break;
		case 'W':
			ctl->workers = parse_long_or_die(optarg, "--workers", 1, 100000);
			break;
		case 'q':
			ctl->quiet = true;
			break;
		case 'h':
			usage();
		default:
			tool_common_option(ctx, c, optarg, argv);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (ctl->workers && !ctl->wait)
		usage_error("--workers is only meaningful with --wait");
	tool_options_done(ctx);
}

/* The masters other than the one in use, as [{master_ui, status, error}]. */
static json_t *other_masters_json(struct co_ctx *ctx)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < co_master_count(ctx); i++) {
		const char *error, *status = co_master_seen(ctx, i, &error);

		if (i == co_master_active(ctx))
			continue;
		json_array_append_new(list, json_pack("{s:s, s:s?, s:s?}", "master_ui",
						      co_master_ui(ctx, i), "status", status,
						      "error", error));
	}
	return list;
}

static void print_json(struct co_ctx *ctx, const struct co_master_state *st,
		       const struct control *ctl)
{
	json_line(json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:I, s:s, s:o}",
			    "type", "master", "url", st->url, "status", st->status,
			    "aliveworkers", st->alive_workers, "cores", st->cores,
			    "coresused", st->cores_used, "memory", (json_int_t)st->memory_mb,
			    "memoryused", (json_int_t)st->memory_used_mb,
			    "master_ui", co_master_ui(ctx, co_master_active(ctx)),
			    "other_masters", other_masters_json(ctx)));
	for (size_t i = 0; i < st->n_workers; i++) {
		const struct co_spark_worker *w = &st->workers[i];

		json_line(json_pack("{s:s, s:s, s:s?, s:i, s:s?, s:s?, s:i, s:i, s:I, s:I, s:I}",
				    "type", "worker", "id", w->id, "host", w->host,
				    "port", w->port, "webuiaddress", w->webui,
				    "state", w->state, "cores", w->cores,
				    "coresused", w->cores_used, "memory", (json_int_t)w->memory_mb,
				    "memoryused", (json_int_t)w->memory_used_mb,
				    "lastheartbeat", (json_int_t)w->last_heartbeat_ms));
	}
	for (size_t i = 0; i < st->n_apps; i++) {
		const struct co_spark_app *a = &st->apps[i];

		if (!a->active && !ctl->all)
			continue;
		json_line(json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:I, s:I, s:i, s:I, s:b}",
				    "type", "app", "id", a->id, "name", a->name,
				    "user", a->user, "state", a->state,
				    "starttime", (json_int_t)a->start_ms,
				    "duration", (json_int_t)a->duration_ms, "cores", a->cores,
				    "memoryperexecutor", (json_int_t)a->memory_per_executor_mb,
				    "active", a->active));
	}
	for (size_t i = 0; i < st->n_drivers; i++) {
		const struct co_spark_driver *d = &st->drivers[i];

		if (!d->active && !ctl->all)
			continue;
		json_line(json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:I, s:i, s:I, s:b}",
				    "type", "driver", "id", d->id, "state", d->state,
				    "worker", d->worker, "mainclass", d->main_class,
				    "starttime", (json_int_t)d->start_ms, "cores", d->cores,
				    "memory", (json_int_t)d->memory_mb, "active", d->active));
	}
}

/*
 * Each section is a table. On a terminal: headers, aligned columns, memory
 * with its unit, empty sections left out. On a pipe: every row starts with
 * its kind, memory is in MiB without a unit, so that cut and awk see numbers.
 */
/* "http://h2:8080 STANDBY, http://h3:8080 no answer (reason)": the others. */
static void print_other_masters(struct co_ctx *ctx, FILE *out, const char *sep)
{
	bool first = true;

	for (size_t i = 0; i < co_master_count(ctx); i++) {
		const char *error, *status = co_master_seen(ctx, i, &error);

		if (i == co_master_active(ctx))
			continue;
		fprintf(out, "%s%s ", first ? "" : sep, co_master_ui(ctx, i));
		fputs_printable(status ? status : error ? "no answer" : "not asked", out);
		if (!status && error) {
			fputs(" (", out);
			fputs_printable(error, out);
			fputc(')', out);
		}
		first = false;
	}
}

static void print_tables(struct co_ctx *ctx, const struct co_master_state *st,
			 const struct control *ctl, enum out_mode mode)
{
	const char *ui = co_master_ui(ctx, co_master_active(ctx));

	static const char *const wh[] = { "", "WORKER", "ADDRESS", "STATE", "CORES", "MEMORY", "WEB UI" };
	static const char *const ah[] = { "", "APPLICATION", "NAME", "USER", "STATE", "CORES", "MEM/EXEC", "STARTED", "DURATION" };
	static const char *const dh[] = { "", "DRIVER", "STATE", "WORKER", "MAIN CLASS", "STARTED" };
	/* The kind column only exists in TSV, where rows of all kinds mix. */
	size_t skip = mode == OUT_TSV ? 0 : 1;
	const char *unit = mode == OUT_TSV ? "" : " MiB";
	struct table *workers, *apps, *drivers;
	size_t n_apps = 0, n_drivers = 0;
	char b1[64], b2[64], b3[64], b4[32];

	if (mode == OUT_TSV) {
		struct table *masters = table_new_tsv(7, stdout);

		snprintf(b1, sizeof(b1), "%d", st->alive_workers);
		snprintf(b2, sizeof(b2), "%d/%d", st->cores_used, st->cores);
		snprintf(b3, sizeof(b3), "%" PRId64 "/%" PRId64, st->memory_used_mb, st->memory_mb);
		/* The last field, the UI of the master shown, came with failover groups. */
		table_add(masters, (const char *const[]){ "master", st->url, st->status, b1, b2,
							  b3, ui });
		table_free(masters);
		for (size_t i = 0; i < co_master_count(ctx); i++) {
			const char *error, *status = co_master_seen(ctx, i, &error);

			if (i == co_master_active(ctx))
				continue;
			printf("othermaster\t%s\t", co_master_ui(ctx, i));
			fputs_field(status ? status : "-", stdout);
			putchar('\t');
			fputs_field(error ? error : "", stdout);	/* empty: it answered */
			putchar('\n');
		}
	} else {
		char *url = printable(st->url), *status = printable(st->status);

		printf("Master %s: %s, %d alive worker%s, %d/%d cores, %" PRId64 "/%" PRId64
		       " MiB in use\n", url, status, st->alive_workers,
		       st->alive_workers == 1 ? "" : "s", st->cores_used, st->cores,
		       st->memory_used_mb, st->memory_mb);
		if (co_master_count(ctx) > 1) {
			printf("Master UI %s (%s); other masters: ", ui, status);
			print_other_masters(ctx, stdout, ", ");
			putchar('\n');
		}
		free(url);
		free(status);
	}

	workers = mode == OUT_TSV ? table_new_tsv(7, stdout) : table_new(6, wh + 1);
	for (size_t i = 0; i < st->n_workers; i++) {
		const struct co_spark_worker *w = &st->workers[i];
		const char *row[7];

		snprintf(b1, sizeof(b1), "%s:%d", w->host ? w->host : "?", w->port);
		snprintf(b2, sizeof(b2), "%d/%d", w->cores_used, w->cores);
		snprintf(b3, sizeof(b3), "%" PRId64 "/%" PRId64 "%s", w->memory_used_mb,
			 w->memory_mb, unit);
		row[0] = "worker"; row[1] = w->id; row[2] = b1; row[3] = w->state;
		row[4] = b2; row[5] = b3; row[6] = w->webui;
		table_add(workers, row + skip);
	}

	apps = mode == OUT_TSV ? table_new_tsv(9, stdout) : table_new(8, ah + 1);
	for (size_t i = 0; i < st->n_apps; i++) {
		const struct co_spark_app *a = &st->apps[i];
		const char *row[9];

		if (!a->active && !ctl->all)
			continue;
		snprintf(b1, sizeof(b1), "%d", a->cores);
		snprintf(b2, sizeof(b2), "%" PRId64 "%s", a->memory_per_executor_mb, unit);
		row[0] = "app"; row[1] = a->id; row[2] = a->name; row[3] = a->user;
		row[4] = a->state; row[5] = b1; row[6] = b2;
		row[7] = format_time_ms(a->start_ms, b3);
		row[8] = format_duration_ms(a->duration_ms, b4);
		table_add(apps, row + skip);
		n_apps++;
	}

	drivers = mode == OUT_TSV ? table_new_tsv(6, stdout) : table_new(5, dh + 1);
	for (size_t i = 0; i < st->n_drivers; i++) {
		const struct co_spark_driver *d = &st->drivers[i];
		const char *row[6];

		if (!d->active && !ctl->all)
			continue;
		row[0] = "driver"; row[1] = d->id; row[2] = d->state;
		row[3] = d->worker; row[4] = d->main_class;
		row[5] = format_time_ms(d->start_ms, b3);
		table_add(drivers, row + skip);
		n_drivers++;
	}

	/* TSV rows went out as they were added */
	if (mode != OUT_TSV) {
		if (st->n_workers) {
			putchar('\n');
			table_print(workers, stdout, mode);
		}
		putchar('\n');
		if (n_apps)
			table_print(apps, stdout, mode);
		else
			printf("No %sapplications.\n", ctl->all ? "" : "running ");
		if (n_drivers) {
			putchar('\n');
			table_print(drivers, stdout, mode);
		}
	}
	table_free(workers);
	table_free(apps);
	table_free(drivers);
}

/* Ready: the master is ALIVE and enough of its workers are. */
static bool cluster_ready(const struct co_master_state *st, long want)
{
	long known = (long)st->n_workers, alive = 0;

	for (size_t i = 0; i < st->n_workers; i++)
		if (st->workers[i].state && strcmp(st->workers[i].state, "ALIVE") == 0)
			alive++;
	if (!st->status || strcmp(st->status, "ALIVE") != 0)
		return false;
	if (want > 0)
		return alive >= want;
	/* Workers that died or left stay listed: "all known" means the others. */
	for (size_t i = 0; i < st->n_workers; i++)
		if (st->workers[i].state && (strcmp(st->workers[i].state, "DEAD") == 0 ||
					     strcmp(st->workers[i].state, "DECOMMISSIONED") == 0))
			known--;
	return alive >= 1 && alive >= known;
}

/* "no master is ALIVE: http://h1:8080 STANDBY, http://h2:8080 RECOVERING" */
static void last_masters(struct co_ctx *ctx, char *buf, size_t len)
{
	FILE *fp = fmemopen(buf, len, "w");

	if (!fp) {
		snprintf(buf, len, "no master is ALIVE");
		return;
	}
	fputs("no master is ALIVE: ", fp);
	for (size_t i = 0; i < co_master_count(ctx); i++) {
		const char *error, *status = co_master_seen(ctx, i, &error);

		fprintf(fp, "%s%s %s", i ? ", " : "", co_master_ui(ctx, i),
			status ? status : "no answer");
	}
	fclose(fp);
	buf[len - 1] = '\0';
}

/*
 * Poll until ready; connection failures are expected while the master
 * starts. No request outlasts the wait: the masters of a list, asked one
 * after another, would each add their timeout to it. A request the
 * deadline cuts short is one more "not ready". --wait=0 is one attempt,
 * each request with its timeout, as without --wait.
 */
static int wait_ready(struct co_ctx *ctx, const struct control *ctl,
		      struct co_master_state **out)
{
	double deadline = monotonic_now() + ctl->wait_seconds;
	char last[1024] = "no answer yet";
	int rc;

	if (ctl->wait_seconds > 0)
		co_ctx_set_deadline(ctx, deadline);
	do {
		struct co_master_state *st = NULL;

		rc = co_master_state_fetch_all(ctx, &st);
		if (rc == CO_OK && cluster_ready(st, ctl->workers)) {
			co_ctx_set_deadline(ctx, 0);
			*out = st;
			return CO_OK;
		}
		if (rc == CO_OK && co_master_count(ctx) > 1 && strcmp(st->status, "ALIVE") != 0)
			last_masters(ctx, last, sizeof(last));
		else if (rc == CO_OK)
			snprintf(last, sizeof(last), "master %s, %d alive worker(s)",
				 st->status, st->alive_workers);
		else if (rc != CO_EUNAVAILABLE && rc != CO_ETEMPFAIL && rc != CO_EPROTOCOL)
			die_ctx(ctx, rc);	/* waiting will not fix these */
		else
			snprintf(last, sizeof(last), "%s", co_ctx_error(ctx));
		co_master_state_free(st);
		/* no attempt starts at the deadline, when it would have no time */
		sleep_within(0.5, deadline);
	} while (monotonic_now() < deadline);
	die(CO_ETEMPFAIL, "cluster not ready after %.0f s: %s", ctl->wait_seconds, last);
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct co_master_state *st = NULL;
	struct co_ctx *ctx = tool_init("sc-status");
	int rc;

	parse_options(argc, argv, ctx, &ctl);
	if (ctl.wait)
		rc = wait_ready(ctx, &ctl, &st);
	else
		rc = co_master_state_fetch_all(ctx, &st);
	if (rc)
		die_ctx(ctx, rc);
	if (!ctl.quiet) {
		enum out_mode mode = out_mode_choose(ctl.json);

		if (mode == OUT_JSON)
			print_json(ctx, st, &ctl);
		else
			print_tables(ctx, st, &ctl, mode);
	}
	/* Any host can register one: said, and the rest shown, status 0. */
	if (!ctl.quiet)
		master_unreadable_warn(st);
	co_master_state_free(st);
	co_ctx_free(ctx);
	return CO_OK;
}
