# shellcheck shell=bash
# Timing, statistics and report rows shared by every benchmark script.
# Sourced; defines bench_* functions and these knobs:
#   BENCH_QUICK    1 for a quick run: fewer runs and smaller inputs (each
#                  script then takes about a minute)
#   BENCH_RUNS     timed runs (rounds) of each slow command (default 5, 3 quick)
#   BENCH_FAST_RUNS timed runs of each fast command (default 20, 5 quick)
#   BENCH_REPORT   when set, a file the comparison rows are appended to
#                  (tab-separated, read by bench/run to write bench/REPORT.md)
#
# Every comparison is made round by round: in each round every command runs
# once, in an order that rotates from round to round, and the ratio of the
# peer's time to the tool's time is taken within the round. A row reports
# the median of those per-round ratios and their range (the spread).

set -euo pipefail
export LC_ALL=C

BENCH_NAME=${BENCH_NAME:-${0##*/}}
BENCH_QUICK=${BENCH_QUICK:-0}
if [[ $BENCH_QUICK == 1 ]]; then
	BENCH_RUNS=${BENCH_RUNS:-3}
	BENCH_FAST_RUNS=${BENCH_FAST_RUNS:-5}
else
	BENCH_RUNS=${BENCH_RUNS:-5}
	BENCH_FAST_RUNS=${BENCH_FAST_RUNS:-20}
fi
[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || {
	echo "$BENCH_NAME: BENCH_RUNS must be a positive integer" >&2
	exit 64
}
[[ $BENCH_FAST_RUNS =~ ^[1-9][0-9]*$ ]] || {
	echo "$BENCH_NAME: BENCH_FAST_RUNS must be a positive integer" >&2
	exit 64
}

bench_die() {
	printf '%s: %s\n' "$BENCH_NAME" "$*" >&2
	exit 1
}

bench_say() {
	printf '%s: %s\n' "$BENCH_NAME" "$*"
}

# bench_quick FULL QUICK: FULL, or QUICK when BENCH_QUICK=1.
bench_quick() {
	if [[ $BENCH_QUICK == 1 ]]; then printf '%s\n' "$2"; else printf '%s\n' "$1"; fi
}

# bench_workdir: sets BENCH_WORK, a scratch dir for this benchmark's samples
# (under BENCH_TMP when bench/run gave one, else a new dir removed on exit
# unless the caller sets its own EXIT trap and removes it there).
bench_workdir() {
	if [[ -n ${BENCH_TMP:-} ]]; then
		BENCH_WORK=$BENCH_TMP/$BENCH_NAME
		mkdir -p "$BENCH_WORK"
	else
		BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/co-bench-$BENCH_NAME.XXXXXX")
	fi
}

# bench_time OUT ERR COMMAND [ARG]...
# Runs COMMAND (a program or a shell function) with stdout to OUT and stderr
# to ERR. Sets BENCH_SECS to the wall time in seconds (microsecond
# resolution, from EPOCHREALTIME) and BENCH_RC to the exit status.
bench_time() {
	local out=$1 err=$2 t0 t1 d
	shift 2
	BENCH_RC=0
	t0=${EPOCHREALTIME//[!0-9]/}
	"$@" >"$out" 2>"$err" || BENCH_RC=$?
	t1=${EPOCHREALTIME//[!0-9]/}
	d=$((10#$t1 - 10#$t0))
	# shellcheck disable=SC2034 # read by the benchmark scripts
	printf -v BENCH_SECS '%d.%06d' $((d / 1000000)) $((d % 1000000))
}

# bench_time_rss IN OUT ERR PROGRAM [ARG]...
# Like bench_time with stdin from IN, under /usr/bin/time: also sets
# BENCH_RSS to the peak resident set in KiB of the largest process
# (PROGRAM or any child it waited for). PROGRAM must be a program, not a
# function; /usr/bin/time adds about a millisecond, so it is used only
# where runs take far longer than that.
bench_time_rss() {
	local in=$1 out=$2 err=$3 rss
	shift 3
	rss=$BENCH_WORK/.rss
	: >"$rss"
	bench_time "$out" "$err" /usr/bin/time -f %M -o "$rss" "$@" <"$in"
	BENCH_RSS=$(tail -n 1 "$rss")
	[[ $BENCH_RSS =~ ^[0-9]+$ ]] || BENCH_RSS=0
}

# bench_rss PROGRAM [ARG]...: one untimed run; prints its peak RSS in KiB.
bench_rss() {
	local rss=$BENCH_WORK/.rss
	: >"$rss"
	/usr/bin/time -f %M -o "$rss" "$@" </dev/null >/dev/null 2>"$BENCH_WORK/.rss.err" || true
	tail -n 1 "$rss"
}

# bench_order ROUND KEY...: sets BENCH_ORDER to the keys rotated by ROUND,
# so that each command goes first (and last) in turn.
bench_order() {
	local round=$1 n j
	shift
	n=$#
	BENCH_ORDER=()
	local keys=("$@")
	for ((j = 0; j < n; j++)); do
		BENCH_ORDER+=("${keys[(round - 1 + j) % n]}")
	done
}

# bench_sample KEY SECONDS [RSS_KIB]: remember one measurement of KEY; the
# samples of a key are kept in run order, one a line.
bench_sample() {
	printf '%s\n' "$2" >>"$BENCH_WORK/$1.samples"
	[[ -z ${3:-} ]] || printf '%s\n' "$3" >>"$BENCH_WORK/$1.rss"
}

# bench_stats FILE: "N MEDIAN MIN MAX" of the numbers in FILE, one a line.
bench_stats() {
	sort -g "$1" | awk '
		{ a[NR] = $1 }
		END {
			if (NR == 0) exit 1
			m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			printf "%d %.6f %.6f %.6f\n", NR, m, a[1], a[NR]
		}'
}

# bench_peak KEY: the largest RSS recorded for KEY in KiB, or 0.
bench_peak() {
	[[ -s $BENCH_WORK/$1.rss ]] || {
		echo 0
		return
	}
	sort -g "$BENCH_WORK/$1.rss" | tail -n 1
}

# bench_summary KEY LABEL: print (and record in BENCH_RESULTS, when set)
# the median, min and max of KEY. Sets BENCH_MEDIAN.
bench_summary() {
	local n med min max
	read -r n med min max < <(bench_stats "$BENCH_WORK/$1.samples")
	# shellcheck disable=SC2034 # read by the benchmark scripts
	BENCH_MEDIAN=$med
	printf '%s: %-58s median %8.4f s  min %8.4f s  max %8.4f s  (%d runs)\n' \
		"$BENCH_NAME" "$2" "$med" "$min" "$max" "$n"
	[[ -z ${BENCH_RESULTS:-} ]] ||
		printf 'row\t%s\t%s\t%d\t%.4f\t%.4f\t%.4f\n' \
			"$BENCH_NAME" "$2" "$n" "$med" "$min" "$max" >>"$BENCH_RESULTS"
}

# bench_note TEXT: print a line and record it for the report.
bench_note() {
	printf '%s\n' "$*"
	[[ -z ${BENCH_RESULTS:-} ]] ||
		printf 'note\t%s\t%s\n' "$BENCH_NAME" "$*" >>"$BENCH_RESULTS"
}

# bench_compare TOOL_KEY PEER_KEY TOOL_LABEL PEER_LABEL [NOTE]
# The comparison row: the tool's and the peer's median time, the ratio
# peer time / tool time taken round by round (how many times faster the
# tool is; under 1 when it is slower) as median, min and max, and the peak
# RSS of each (0 when not measured). The two keys need the same number of
# samples, in round order. Prints it and appends it to BENCH_REPORT.
# Sets BENCH_RATIO to the median ratio.
bench_compare() {
	local tk=$1 pk=$2 tl=$3 pl=$4 note=${5:-} n tmed pmed rmed rmin rmax trss prss
	[[ $(wc -l <"$BENCH_WORK/$tk.samples") -eq $(wc -l <"$BENCH_WORK/$pk.samples") ]] ||
		bench_die "internal: $tk and $pk have different numbers of runs"
	read -r n tmed _ _ < <(bench_stats "$BENCH_WORK/$tk.samples")
	read -r _ pmed _ _ < <(bench_stats "$BENCH_WORK/$pk.samples")
	paste "$BENCH_WORK/$tk.samples" "$BENCH_WORK/$pk.samples" |
		awk '{ t = $1 < 1e-6 ? 1e-6 : $1; printf "%.6f\n", $2 / t }' >"$BENCH_WORK/$tk-$pk.ratios"
	read -r _ rmed rmin rmax < <(bench_stats "$BENCH_WORK/$tk-$pk.ratios")
	trss=$(bench_peak "$tk")
	prss=$(bench_peak "$pk")
	# shellcheck disable=SC2034 # read by the benchmark scripts
	BENCH_RATIO=$(printf %.2f "$rmed")
	printf '%s: ratio %s vs %s: %.2fx (%.2f-%.2f over %d rounds)\n' \
		"$BENCH_NAME" "$tl" "$pl" "$rmed" "$rmin" "$rmax" "$n"
	[[ -z ${BENCH_REPORT:-} ]] ||
		printf 'ratio\t%s\t%s\t%s\t%d\t%.4f\t%.4f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\n' \
			"$BENCH_NAME" "$tl" "$pl" "$n" "$tmed" "$pmed" "$rmed" "$rmin" "$rmax" \
			"$trss" "$prss" "$note" >>"$BENCH_REPORT"
}

# bench_run_line ROUND RUNS LABEL SECONDS [RSS_KIB]: print one run.
bench_run_line() {
	if [[ -n ${5:-} ]]; then
		printf '%s: run %d/%d  %-60s %9.4f s  %7.1f MiB\n' "$BENCH_NAME" "$1" "$2" \
			"$3" "$4" "$(awk -v k="$5" 'BEGIN { print k / 1024 }')"
	else
		printf '%s: run %d/%d  %-60s %9.4f s\n' "$BENCH_NAME" "$1" "$2" "$3" "$4"
	fi
}

# bench_div A B [FORMAT]: A / B
bench_div() {
	awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { printf f, a / b }'
}

# bench_lt A B: true if A < B (decimal numbers)
bench_lt() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

# bench_fail WHAT LOG...: a measured command failed; show the end of its logs.
bench_fail() {
	local what=$1 f
	shift
	printf '%s: %s failed (exit %s)\n' "$BENCH_NAME" "$what" "${BENCH_RC:-?}" >&2
	for f; do
		[[ -s $f ]] || continue
		printf -- '--- %s (last lines)\n' "$f" >&2
		tail -n 15 "$f" >&2
	done
	exit 1
}
