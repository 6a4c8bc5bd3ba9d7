/* SPDX-License-Identifier: MIT */
/*
 * sc-kill: kill Spark applications and cluster-mode drivers, then confirm
 * from the master's /json/ that each reached a final state: the kill
 * endpoints answer 302 whatever happened.
 */
#include "config.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "tools-common.h"

#define DEFAULT_CONFIRM_SECONDS 30.0
/* Exit status when nothing failed but some target had already ended. */
#define EXIT_ALREADY_ENDED 2

enum kind { APP, DRIVER };

enum outcome {
	PENDING,
	KILLED,		/* reached a final state after our request */
	ALREADY_ENDED,	/* was final before we asked */
	NOT_FOUND,
	FAILED,		/* request failed, or no final state in time */
};

struct target {
	enum kind kind;
	char *id;
	char *name;
	char *state;	/* last state seen */
	bool unvouched;	/* last seen missing from a master that did not take the kill */
	enum outcome outcome;
	char *error;
};

struct control {
	bool dry_run;
	bool json;
	bool all;
	bool rest;		/* drivers through the REST server */
	double confirm_seconds;
	const char *name_glob;
	struct target *targets;
	size_t n_targets;
	size_t kill_master;	/* the master the kills went to */
};

static noreturn void usage(void)
{
	printf("Usage: %s [OPTION]... [APP_ID]...\n"
	       "       %s [OPTION]... --name GLOB [--all]\n"
	       "       %s [OPTION]... --driver DRIVER_ID...\n"
	       "Kill Spark applications or cluster-mode drivers and confirm they ended.\n"
	       "\n"
	       "  -N, --name=GLOB        kill the running application whose name matches GLOB\n"
	       "  -A, --all              with --name: kill every match (more than one is\n"
	       "                         refused without it)\n"
	       "  -d, --driver=ID        kill a cluster-mode driver (repeatable)\n"
	       "      --rest             kill drivers through the REST server, not the UI\n"
	       "  -w, --wait=SECONDS     how long to wait, in all, for the targets to end\n"
	       "                         (default %.0f)\n"
	       "  -n, --dry-run          list what would be killed, kill nothing\n"
	       "  -J, --json             one JSON object per target\n",
	       program_name, program_name, program_name, DEFAULT_CONFIRM_SECONDS);
	tool_common_usage(stdout);
	printf("\nExit status: 0 every target killed; 1 some target not found or not\n"
	       "confirmed ended; 2 nothing failed but some target had already ended;\n"
	       "64 usage; 69 master unreachable; 76 malformed reply; see clusterops(7).\n");
	exit(CO_OK);
}

static void add_target(struct control *ctl, enum kind kind, const char *id, const char *name)
{
	struct target *t;

	for (size_t i = 0; i < ctl->n_targets; i++)
		if (ctl->targets[i].kind == kind && strcmp(ctl->targets[i].id, id) == 0)
			return;		/* named twice: kill once */
	t = realloc(ctl->targets, (ctl->n_targets + 1) * sizeof(*t));
	if (!t)
		die(CO_ESOFTWARE, "out of memory");
	ctl->targets = t;
	t = &ctl->targets[ctl->n_targets++];
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->id = strdup(id);
	t->name = name ? strdup(name) : NULL;
	if (!t->id || (name && !t->name))
		die(CO_ESOFTWARE, "out of memory");
}

static void parse_options(int argc, char **argv, struct co_ctx *ctx, struct control *ctl)
{
	enum { OPT_REST = OPT_TOOL_FIRST };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'N' },
		{ "all", no_argument, NULL, 'A' },
		{ "driver", required_argument, NULL, 'd' },
		{ "rest", no_argument, NULL, OPT_REST },
		{ "wait", required_argument, NULL, 'w' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'J' },
		CO_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	int c;

	ctl->confirm_seconds = DEFAULT_CONFIRM_SECONDS;
	while ((c = getopt_long(argc, argv, ":N:Ad:w:nJhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'N':
			ctl->name_glob = optarg;
			break;
		case 'A':
			ctl->all = true;
			break;
		case 'd':
			add_target(ctl, DRIVER, optarg, NULL);
			break;
		case OPT_REST:
			ctl->rest = true;
			break;
		case 'w':
			ctl->confirm_seconds = parse_seconds_or_die(optarg, "--wait");
			break;
		case 'n':
			ctl->dry_run = true;
			break;
		case 'J':
			ctl->json = true;
			break;
		case 'h':
			usage();
		default:
			tool_common_option(ctx, c, optarg, argv);
		}
	}
	for (int i = optind; i < argc; i++)
		add_target(ctl, APP, argv[i], NULL);
	tool_options_done(ctx);
	if (ctl->all && !ctl->name_glob)
		usage_error("--all is only meaningful with --name");
	if (!ctl->name_glob && ctl->n_targets == 0)
		usage_error("nothing to kill: give an application id, --name or --driver");
	if (ctl->rest) {
		bool drivers = false;

		for (size_t i = 0; i < ctl->n_targets; i++)
			drivers |= ctl->targets[i].kind == DRIVER;
		if (!drivers)
			usage_error("--rest is only meaningful with --driver");
	}
}

static bool name_matches(const struct control *ctl, const struct co_spark_app *a)
{
	return a->active && a->name && fnmatch(ctl->name_glob, a->name, 0) == 0;
}

/*
 * Expand --name into targets from the running applications. CO_EFAIL, said
 * on stderr, when none matches, or several do without --all.
 */
static int resolve_name(struct control *ctl, const struct co_master_state *st)
{
	size_t matches = 0;

	for (size_t i = 0; i < st->n_apps; i++)
		if (name_matches(ctl, &st->apps[i]))
			matches++;
	if (matches == 0) {
		warnmsg("no running application is named '%s'", ctl->name_glob);
		return CO_EFAIL;
	}
	if (matches > 1 && !ctl->all) {
		warnmsg("%zu running applications match '%s'; use --all to kill them all:",
			matches, ctl->name_glob);
		for (size_t i = 0; i < st->n_apps; i++)
			if (name_matches(ctl, &st->apps[i]))
				list_app(&st->apps[i]);
		return CO_EFAIL;
	}
	for (size_t i = 0; i < st->n_apps; i++)
		if (name_matches(ctl, &st->apps[i]))
			add_target(ctl, APP, st->apps[i].id, st->apps[i].name);
	return CO_OK;
}

static void set_state(struct target *t, const char *state)
{
	free(t->state);
	t->state = state ? strdup(state) : NULL;
}

/* Look a target up in the master's view; returns its state or NULL if unknown. */
static const char *lookup(const struct co_master_state *st, struct target *t)
{
	if (t->kind == APP) {
		const struct co_spark_app *a = co_master_state_app(st, t->id);

		if (a && !t->name && a->name)
			t->name = strdup(a->name);
		return a ? a->state : NULL;
	}
	const struct co_spark_driver *d = co_master_state_driver(st, t->id);

	return d ? d->state : NULL;
}

static void fail(struct target *t, enum outcome o, const char *msg)
{
	t->outcome = o;
	free(t->error);
	t->error = strdup(msg);
}

/* Classify each target from the first view and send the kill requests. */
static void request_kills(struct co_ctx *ctx, struct control *ctl,
			  const struct co_master_state *st)
{
	for (size_t i = 0; i < ctl->n_targets; i++) {
		struct target *t = &ctl->targets[i];
		const char *state = lookup(st, t);
		int rc;

		set_state(t, state);
		if (!state) {
			fail(t, NOT_FOUND, t->kind == APP ? "no such application"
				    : "no such driver");
			continue;
		}
		if (co_spark_state_is_final(state)) {
			t->outcome = ALREADY_ENDED;
			continue;
		}
		if (ctl->dry_run)
			continue;
		if (t->kind == APP)
			rc = co_master_kill_app(ctx, t->id);
		else if (ctl->rest)
			rc = co_rest_kill(ctx, t->id);
		else
			rc = co_master_kill_driver(ctx, t->id);
		if (rc)
			fail(t, FAILED, co_ctx_error(ctx));
	}
}

/*
 * Poll /json/ until every requested target is final or time runs out. If
 * the master stops answering, the targets not yet confirmed fail with its
 * error and its status is returned, so that the report still comes out.
 * With a failover group, a master going away or a new one recovering is
 * waited out until the time runs out. No read of the master outlasts the
 * wait (a group's masters, asked one after another, would each add their
 * timeout to it): one that the deadline cuts short is no answer yet, and
 * the targets are not confirmed in time. With --wait=0 the master is read
 * once, each request with its timeout.
 */
static int confirm(struct co_ctx *ctx, struct control *ctl)
{
	double deadline = monotonic_now() + ctl->confirm_seconds;
	char between[1024], late[1024] = "";
	const char *why = NULL;
	int rc;

	if (ctl->confirm_seconds > 0)
		co_ctx_set_deadline(ctx, deadline);
	do {
		struct co_master_state *st = NULL;
		size_t pending = 0;

		rc = co_master_state_fetch(ctx, &st);
		why = co_ctx_error(ctx);
		if (rc == CO_ETEMPFAIL && ctl->confirm_seconds > 0 && monotonic_now() >= deadline) {
			snprintf(late, sizeof(late), "%s", why);	/* cut short by the deadline */
			rc = CO_OK;
			break;
		}
		if (rc == CO_OK && strcmp(st->status, "ALIVE") != 0 && co_master_count(ctx) > 1) {
			/* Between two masters of a failover group: not an answer yet. */
			snprintf(between, sizeof(between), "no master is ALIVE (%s: %s)",
				 co_master_ui(ctx, co_master_active(ctx)), st->status);
			co_master_state_free(st);
			st = NULL;
			rc = CO_ETEMPFAIL;
			why = between;
		}
		if (rc && co_master_count(ctx) > 1 &&
		    (rc == CO_EUNAVAILABLE || rc == CO_ETEMPFAIL)) {
			sleep_within(0.3, deadline);
			if (monotonic_now() < deadline)
				continue;
		}
		if (rc)
			break;
		for (size_t i = 0; i < ctl->n_targets; i++) {
			struct target *t = &ctl->targets[i];
			const char *state;

			if (t->outcome != PENDING)
				continue;
			state = lookup(st, t);
			/*
			 * Gone from the lists of the master that took the kill, ALIVE: it
			 * ended and was forgotten. Another master's lists (after a
			 * failover, or from one that lies) say nothing of it.
			 */
			t->unvouched = !state && (co_master_active(ctx) != ctl->kill_master ||
						  strcmp(st->status, "ALIVE") != 0);
			if (t->unvouched) {
				pending++;
				continue;
			}
			set_state(t, state ? state : "GONE");
			if (!state || co_spark_state_is_final(state))
				t->outcome = KILLED;
			else
				pending++;
		}
		co_master_state_free(st);
		if (pending == 0)
			break;
		sleep_within(0.3, deadline);
	} while (monotonic_now() < deadline);
	co_ctx_set_deadline(ctx, 0);
	if (rc) {
		for (size_t i = 0; i < ctl->n_targets; i++)
			if (ctl->targets[i].outcome == PENDING)
				fail(&ctl->targets[i], FAILED, why);
		return rc;
	}
	for (size_t i = 0; i < ctl->n_targets; i++) {
		struct target *t = &ctl->targets[i];
		char msg[sizeof(late) + 64];

		if (t->outcome == PENDING && t->unvouched) {
			snprintf(msg, sizeof(msg), "not confirmed after %.0f s: the master that "
				 "answers does not list it, and did not take the kill",
				 ctl->confirm_seconds);
			fail(t, FAILED, msg);
		} else if (t->outcome == PENDING && late[0]) {
			snprintf(msg, sizeof(msg), "not confirmed after %.0f s: %s",
				 ctl->confirm_seconds, late);
			fail(t, FAILED, msg);
		} else if (t->outcome == PENDING) {
			snprintf(msg, sizeof(msg), "still %s after %.0f s",
				 t->state ? t->state : "running", ctl->confirm_seconds);
			fail(t, FAILED, msg);
		}
	}
	return CO_OK;
}

static const char *outcome_name(const struct control *ctl, enum outcome o)
{
	switch (o) {
	case PENDING:
		return ctl->dry_run ? "would-kill" : "pending";
	case KILLED:
		return "killed";
	case ALREADY_ENDED:
		return "already-ended";
	case NOT_FOUND:
		return "not-found";
	default:
		return "failed";
	}
}

/* master_ui: the master that was used, named in the JSON lines. */
static int report(const struct control *ctl, const char *master_ui)
{
	static const char *const headers[] = { "KIND", "ID", "OUTCOME", "STATE" };
	enum out_mode mode = out_mode_choose(ctl->json);
	struct table *table = table_new(4, headers);
	bool failed = false, ended = false;

	for (size_t i = 0; i < ctl->n_targets; i++) {
		const struct target *t = &ctl->targets[i];
		const char *kind = t->kind == APP ? "app" : "driver";
		const char *outcome = outcome_name(ctl, t->outcome);

		if (mode == OUT_JSON)
			json_line(json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:o?, s:s?}", "type", kind,
					    "id", t->id, "name", t->name, "state", t->state,
					    "outcome", outcome, "error", json_text_lossy(t->error),
					    "master_ui", master_ui));
		else
			table_add(table, (const char *const[]){ kind, t->id, outcome, t->state });
		if (t->outcome == NOT_FOUND || t->outcome == FAILED) {
			warnmsg("%s %s: %s", kind, t->id, t->error);
			failed = true;
		} else if (t->outcome == ALREADY_ENDED) {
			warnmsg("%s %s: already ended (%s)", kind, t->id, t->state);
			ended = true;
		}
	}
	if (mode != OUT_JSON)
		table_print(table, stdout, mode);
	table_free(table);
	if (failed)
		return CO_EFAIL;
	return ended ? EXIT_ALREADY_ENDED : CO_OK;
}

int main(int argc, char **argv)
{
	struct control ctl = { 0 };
	struct co_master_state *st = NULL;
	struct co_ctx *ctx = tool_init("sc-kill");
	int rc, confirm_rc;

	parse_options(argc, argv, ctx, &ctl);
	rc = co_master_state_fetch(ctx, &st);
	if (rc)
		die_ctx(ctx, rc);
	master_unreadable_warn(st);
	if (co_master_count(ctx) > 1 && strcmp(st->status, "ALIVE") != 0) {
		char *msg = xasprintf("no master is ALIVE (%s: %s)",
				      co_master_ui(ctx, co_master_active(ctx)), st->status);

		co_master_state_free(st);
		die(CO_ETEMPFAIL, "%s", msg);
	}
	rc = ctl.name_glob ? resolve_name(&ctl, st) : CO_OK;
	if (rc == CO_OK) {
		request_kills(ctx, &ctl, st);
		ctl.kill_master = co_master_active(ctx);
		co_master_state_free(st);
		confirm_rc = ctl.dry_run ? CO_OK : confirm(ctx, &ctl);
		rc = report(&ctl, co_master_ui(ctx, co_master_active(ctx)));
		if (confirm_rc)
			rc = confirm_rc;	/* the master went away: say so in the status */
	} else {
		co_master_state_free(st);
	}
	for (size_t i = 0; i < ctl.n_targets; i++) {
		free(ctl.targets[i].id);
		free(ctl.targets[i].name);
		free(ctl.targets[i].state);
		free(ctl.targets[i].error);
	}
	free(ctl.targets);
	co_ctx_free(ctx);
	return rc;
}
