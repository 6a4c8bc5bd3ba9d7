/* SPDX-License-Identifier: MIT */
/*
 * The command-line side shared by every tool: messages and exit, option
 * and number parsing, the configuration options every tool takes, and
 * output as a table, TSV or JSON lines. Not installed.
 */
#ifndef CO_TOOLS_COMMON_H
#define CO_TOOLS_COMMON_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdnoreturn.h>

#include "clusterops.h"

extern const char *program_name;

/* Long-only options shared by the tools start here. */
enum {
	OPT_MASTER = 0x100,
	OPT_MASTER_UI,
	OPT_REST_URL,
	OPT_TIMEOUT,
	OPT_SHOW_CONFIG,
	OPT_TOOL_FIRST,		/* a tool's own long-only options start here */
};

#define CO_COMMON_LONGOPTS \
	{ "master", required_argument, NULL, OPT_MASTER }, \
	{ "master-ui", required_argument, NULL, OPT_MASTER_UI }, \
	{ "rest-url", required_argument, NULL, OPT_REST_URL }, \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT }, \
	{ "show-config", no_argument, NULL, OPT_SHOW_CONFIG }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, 'V' }

/* Name the program, arrange for stdout to be checked at exit, and load
 * the configuration (dies with the library's status on a bad one). */
struct co_ctx *tool_init(const char *name);

/*
 * Handle an option from CO_COMMON_LONGOPTS. Anything else that getopt
 * returned is a misuse: it is reported, naming the argument, with exit 64.
 */
void tool_common_option(struct co_ctx *ctx, int opt, const char *arg, char **argv);

/* After option parsing: --show-config prints the configuration and exits. */
void tool_options_done(struct co_ctx *ctx);

/* The help text of the common options, for each tool's usage(). */
void tool_common_usage(FILE *out);

noreturn void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "PROG: <the library's message>", exit with status. */
noreturn void die_ctx(const struct co_ctx *ctx, int status);
void warnmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line on stderr plus "Try 'PROG --help'", exit 64. */
noreturn void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void print_version(void);

/* strdup that dies when memory runs out; NULL copies as "". */
char *xstrdup(const char *s);

/* Number parsers that die with a usage error naming the option. */
double parse_seconds_or_die(const char *arg, const char *option);
/* "90", "90s", "30m", "12h", "7d": seconds (a bare number is seconds). */
double parse_duration_or_die(const char *arg, const char *option);
long parse_long_or_die(const char *arg, const char *option, long min, long max);

/*
 * Hold an exclusive flock(2) on path until the process exits, for cron jobs
 * that must not overlap; wait up to wait_seconds for another holder. The
 * file is created with mode 0644 if missing, never truncated, never opened
 * through a symbolic link, and not inherited by child processes. The
 * holder writes its pid into it (when it is empty or holds only a pid), so
 * that a run that finds it held can name the holder. Dies with 73 (a
 * symbolic link, not a regular file, cannot be created), 77 (permission
 * denied), 74 (flock failed) or 75 (still held by another process).
 */
void hold_lock_or_die(const char *path, double wait_seconds);

/* Clock and sleep for polling loops. */
double monotonic_now(void);
void sleep_seconds(double s);

/* ---- output -------------------------------------------------------- */

enum out_mode { OUT_TEXT, OUT_TSV, OUT_JSON };

/* JSON when asked, an aligned table on a terminal, TSV otherwise. */
enum out_mode out_mode_choose(bool json);

struct table;
struct table *table_new(size_t ncols, const char *const *headers);
void table_add(struct table *t, const char *const *cells);
/* TEXT: a header and aligned columns; TSV: rows only, tab-separated. */
void table_print(const struct table *t, FILE *out, enum out_mode mode);
void table_free(struct table *t);

/* Print a JSON object as one compact line on stdout; takes the reference. */
void json_line(json_t *obj);

/* "2026-01-31T12:00:00Z" for a time in ms since the epoch, "-" for 0. */
const char *format_time_ms(int64_t ms, char buf[32]);
/* "1h02m03s", "4.2s" */
const char *format_duration_ms(int64_t ms, char buf[32]);

#endif
