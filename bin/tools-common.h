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
 * the configuration (a bad one is reported by tool_options_done(), so
 * that --help and --version work whatever it holds). */
struct co_ctx *tool_init(const char *name);
/* The context tool_init() made, kept here so that it stays reachable to
 * the end on the paths that exit without freeing it (die()). */
extern struct co_ctx *tool_ctx;

/*
 * Handle an option from CO_COMMON_LONGOPTS. Anything else that getopt
 * returned is a misuse: it is reported, naming the argument, with exit 64.
 */
void tool_common_option(struct co_ctx *ctx, int opt, const char *arg, char **argv);

/* After option parsing: a configuration that could not be read ends the
 * run with the library's status; --show-config prints it and exits. */
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

/*
 * Allocation that cannot fail: when memory runs out these die with
 * "out of memory" and status 70, so callers have no such branch.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
/* realloc() for an array of n elements of size bytes (overflow checked). */
void *xreallocarray(void *p, size_t n, size_t size);
void *xrealloc(void *p, size_t size);
/* strdup that accepts NULL and copies it as "". */
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Number parsers that die with a usage error naming the option and the
 * value. They take decimal digits only: no blanks, no '+', no exponent, no
 * hex; a '-' only before a negative integer that min allows.
 */
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

/*
 * A file replaced atomically, never seen half written: its bytes go to a
 * temporary file created beside it (".NAME.tmp.XXXXXX" in its directory,
 * opened relative to that directory with O_CREAT | O_EXCL | O_NOFOLLOW and
 * the mode given less the umask, 0666 for atomic_write()), which is then
 * flushed to disk, renamed over NAME (a symbolic link there is replaced,
 * never followed) and the directory flushed too. Until it is committed or
 * aborted, the temporary file is removed when the process exits; one from
 * atomic_file_open() also when SIGINT, SIGTERM, SIGHUP or SIGPIPE ends the
 * process (it catches those it finds not ignored, with catch_signals()).
 */
struct atomic_file;

/* NULL with errno set when the temporary file cannot be created. */
struct atomic_file *atomic_file_open(const char *path, mode_t mode);
/* The temporary file's descriptor, open for writing; owned by af. */
int atomic_file_fd(const struct atomic_file *af);
/*
 * A nameless file in the same directory, open for reading and writing,
 * gone when closed: room for what is to go into the file, on its disk
 * rather than in a small /tmp; mode 0600. -1 with errno set.
 */
int atomic_file_scratch(const struct atomic_file *af);
/* Flush, rename into place, flush the directory; 0 or an errno value.
 * af is freed either way (the temporary file removed on failure). */
int atomic_file_commit(struct atomic_file *af);
/* Remove the temporary file and free af; accepts NULL. */
void atomic_file_abort(struct atomic_file *af);
/* A small file written whole, as above, in a moment: no signal is caught.
 * 0 or an errno value. */
int atomic_write(const char *path, const void *data, size_t len);
/* The same, dying naming path: 77 permission denied, 74 a write or flush
 * that failed, 73 otherwise. */
struct atomic_file *atomic_file_open_or_die(const char *path, mode_t mode);
void atomic_file_commit_or_die(struct atomic_file *af, const char *path);
void atomic_write_or_die(const char *path, const void *data, size_t len);

/*
 * Lines out of pieces of text: each complete line is handed to fn without
 * its newline; an unfinished last line is kept for the next piece (up to
 * max bytes, past which it is handed on as it is). Buffers that share a
 * *held count what they keep together: past held_max, the one being fed
 * hands its unfinished line on.
 */
struct line_buffer {
	char *partial;
	size_t len, max;
	size_t *held, held_max;
};
typedef void line_fn(void *arg, const char *line, size_t len);
void line_buffer_feed(struct line_buffer *lb, const char *data, size_t len, line_fn *fn,
		      void *arg);
/* Hand on the unfinished last line, if any. */
void line_buffer_flush(struct line_buffer *lb, line_fn *fn, void *arg);
void line_buffer_clear(struct line_buffer *lb);

/*
 * Catch these signals with handler, except those ignored when the program
 * started: under nohup (SIGHUP) or a background job without job control
 * (SIGINT) the user asked for the run to outlive the terminal.
 */
void catch_signals(const int *sigs, size_t n, void (*handler)(int));

/*
 * Whether standard output's reader has gone (a pipe into head(1) that
 * ended): then SIGPIPE is raised, as the next write would have, and where
 * it is ignored "write error: Broken pipe" is said (now, or by the check of
 * standard output at exit) and true returned, for the caller to end with
 * CO_EIO. For a follower that may have nothing to write for hours, as
 * tail -f does; false at once for anything but a pipe or a socket.
 */
bool stdout_reader_gone(void);

/* Clock and sleep for polling loops. */
double monotonic_now(void);
void sleep_seconds(double s);
/* sleep_seconds(s), but no later than deadline (a monotonic_now() time). */
void sleep_within(double s, double deadline);

/* ---- output -------------------------------------------------------- */

enum out_mode { OUT_TEXT, OUT_TSV, OUT_JSON };

/* JSON when asked, an aligned table on a terminal, TSV otherwise. */
enum out_mode out_mode_choose(bool json);

/*
 * Text from a master, a worker or a file name, made safe for a terminal:
 * each control character (C0, DEL, a C1 in UTF-8) shown as '?'.
 */
void fputs_printable(const char *s, FILE *fp);
/* The same as a TSV field: a tab, newline or CR as a space. */
void fputs_field(const char *s, FILE *fp);
char *printable(const char *s);	/* a copy; free it */
/* len bytes (NULs too) to fp, controls but tabs as '?': a line of remote text for a terminal. */
void fwrite_printable(const char *data, size_t len, FILE *fp);
/* The same, newlines kept too: lines of remote text for a terminal. */
void fwrite_printable_lines(const char *data, size_t len, FILE *fp);
/*
 * Say how many workers, applications and drivers of the master's status
 * were left out because they could not be read (any host can register
 * one that cannot), if any.
 */
void master_unreadable_warn(const struct co_master_state *st);
/*
 * A piece of a stream for a terminal, as fwrite_printable shows it (the
 * controls in keep as they are), into out, which has room for len bytes:
 * its length is returned. Unless it is the last piece, a UTF-8 character
 * it cuts short is not taken: *held says how many of its last bytes (at
 * most 3) are to come first in the next piece.
 */
size_t printable_piece(const char *data, size_t len, char *out, const char *keep, bool last,
		       size_t *held);

/* "  id<TAB>name<TAB>state" on stderr: a line of a list of ambiguous matches. */
void list_app(const struct co_spark_app *a);

struct table;
struct table *table_new(size_t ncols, const char *const *headers);
/*
 * A table whose rows go to out as TSV as they are added, none kept
 * (table_print then prints nothing): TSV needs no column widths.
 */
struct table *table_new_tsv(size_t ncols, FILE *out);
void table_add(struct table *t, const char *const *cells);
/* TEXT: a header and aligned columns; TSV: rows only, tab-separated. */
void table_print(const struct table *t, FILE *out, enum out_mode mode);
void table_free(struct table *t);

/*
 * A JSON string of text that may not be UTF-8: each byte that does not
 * start a valid sequence (lib/utf8.c's strict check) becomes U+FFFD.
 */
json_t *json_string_lossy(const char *text, size_t len);
/* The same of a string, or NULL for NULL (for json_pack's "o?"). */
json_t *json_text_lossy(const char *text);

/* Print a JSON object as one compact line on stdout; takes the reference. */
void json_line(json_t *obj);

/* "2026-01-31T12:00:00Z" for a time in ms since the epoch, "-" for 0. */
const char *format_time_ms(int64_t ms, char buf[32]);
/* "1h02m03s", "4.2s" */
const char *format_duration_ms(int64_t ms, char buf[32]);

#endif
