# shellcheck shell=bash
# Helpers shared by the benchmarks. Sourced by each benchmark script, which
# bench/run executes with this environment:
#   BENCH_PY       absolute path of python3
#   BENCH_BIN      directory of the sc-* binaries under test
#   BENCH_TMP      scratch directory (logs, the test JAR, samples)
#   BENCH_RESULTS  file the summary rows and ratio lines are appended to
#   BENCH_RUNS     timed runs per slow command (default 5)
#   BENCH_FAST_RUNS timed runs per fast command (default 20)
#   SC_MASTER, SC_MASTER_UI, SC_REST_URL, SC_MASTER_REST_SPARK_URL, SPARK_HOME

set -euo pipefail
export LC_ALL=C

BENCH_NAME=${BENCH_NAME:-${0##*/}}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_FAST_RUNS=${BENCH_FAST_RUNS:-20}
BENCH_SETTLE_TIMEOUT=${BENCH_SETTLE_TIMEOUT:-90}

bench_die() {
	printf '%s: %s\n' "$BENCH_NAME" "$*" >&2
	exit 1
}

bench_say() {
	printf '%s: %s\n' "$BENCH_NAME" "$*"
}

bench_need() {
	local v
	for v; do
		[[ -n ${!v:-} ]] || {
			printf '%s: %s is not set; run the benchmarks through bench/run\n' \
				"$BENCH_NAME" "$v" >&2
			exit 64
		}
	done
}

bench_need BENCH_PY BENCH_BIN BENCH_TMP BENCH_RESULTS \
	SC_MASTER SC_MASTER_UI SC_REST_URL SC_MASTER_REST_SPARK_URL SPARK_HOME
[[ $BENCH_RUNS =~ ^[1-9][0-9]*$ ]] || bench_die "BENCH_RUNS must be a positive integer"
[[ $BENCH_FAST_RUNS =~ ^[1-9][0-9]*$ ]] || bench_die "BENCH_FAST_RUNS must be a positive integer"

BENCH_WORK=$BENCH_TMP/$BENCH_NAME
mkdir -p "$BENCH_WORK"

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

# bench_sample KEY SECONDS: remember one measurement of KEY.
bench_sample() {
	printf '%s\n' "$2" >>"$BENCH_WORK/$1.samples"
}

# bench_summary KEY LABEL: print and record median, min and max of KEY.
# Sets BENCH_MEDIAN.
bench_summary() {
	local n med min max
	read -r n med min max < <(bench_stats "$BENCH_WORK/$1.samples")
	# shellcheck disable=SC2034 # read by the benchmark scripts
	BENCH_MEDIAN=$med
	printf '%s: %-58s median %8.4f s  min %8.4f s  max %8.4f s  (%d runs)\n' \
		"$BENCH_NAME" "$2" "$med" "$min" "$max" "$n"
	printf 'row\t%s\t%s\t%d\t%.4f\t%.4f\t%.4f\n' \
		"$BENCH_NAME" "$2" "$n" "$med" "$min" "$max" >>"$BENCH_RESULTS"
}

# bench_note TEXT: print a ratio or goal line and record it for the table.
bench_note() {
	printf '%s\n' "$*"
	printf 'note\t%s\t%s\n' "$BENCH_NAME" "$*" >>"$BENCH_RESULTS"
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

# The tiny JVM job the REST benchmarks submit: tests/jobs/Pi.java in a JAR.
bench_jar() {
	local dir=$BENCH_TMP/jar src
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/jobs/Pi.java
	BENCH_JAR=$dir/pi.jar
	[[ -s $BENCH_JAR ]] && return 0
	command -v javac >/dev/null || bench_die "javac not found (a JDK is needed to build the test JAR)"
	command -v jar >/dev/null || bench_die "jar not found (a JDK is needed to build the test JAR)"
	mkdir -p "$dir/classes"
	javac -d "$dir/classes" "$src"
	jar cf "$BENCH_JAR" -C "$dir/classes" Pi.class
}

# bench_driver_state ID: the driver's state from the REST server, or "?"
# shellcheck disable=SC2153 # BENCH_PY comes from bench/run (checked above)
bench_driver_state() {
	"$BENCH_PY" - "$SC_REST_URL/v1/submissions/status/$1" <<'EOF' || echo "?"
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    print(json.load(r).get("driverState") or "?")
EOF
}

# bench_wait_driver ID: wait until the driver has ended; kill it with sc-kill
# if it has not ended within BENCH_SETTLE_TIMEOUT seconds. Prints the state.
bench_wait_driver() {
	local id=$1 state deadline
	deadline=$((SECONDS + BENCH_SETTLE_TIMEOUT))
	while :; do
		state=$(bench_driver_state "$id")
		case $state in
		FINISHED | FAILED | ERROR | KILLED) break ;;
		esac
		if ((SECONDS >= deadline)); then
			printf '%s: driver %s still %s after %ss; killing it\n' \
				"$BENCH_NAME" "$id" "$state" "$BENCH_SETTLE_TIMEOUT" >&2
			"$BENCH_BIN/sc-kill" --driver "$id" >&2 || true
			state=KILLED
			break
		fi
		sleep 0.5
	done
	printf '%s\n' "$state"
}

# bench_settle: wait (at most BENCH_SETTLE_TIMEOUT seconds) until the master
# has no running application or driver and no core in use, so that one run
# does not share the machine with the leftovers of the previous one.
bench_settle() {
	local deadline state
	deadline=$((SECONDS + BENCH_SETTLE_TIMEOUT))
	while :; do
		state=$("$BENCH_PY" - "$SC_MASTER_UI/json/" <<'EOF' || echo "?"
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    m = json.load(r)
busy = m.get("coresused", 0) or m.get("activeapps") or m.get("activedrivers")
print("busy" if busy else "idle")
EOF
)
		[[ $state == idle ]] && return 0
		if ((SECONDS >= deadline)); then
			printf '%s: the master is still busy after %ss; going on\n' \
				"$BENCH_NAME" "$BENCH_SETTLE_TIMEOUT" >&2
			return 0
		fi
		sleep 0.5
	done
}
