# shellcheck shell=bash
# Helpers shared by the benchmarks of a Spark cluster (submit-rest, status,
# submit-overhead), on top of common.sh. Sourced by each of them; bench/run
# executes them with this environment:
#   BENCH_PY       absolute path of python3
#   BENCH_BIN      directory of the sc-* binaries under test
#   BENCH_TMP      scratch directory (logs, the test JAR, samples)
#   BENCH_RESULTS  file the summary rows and ratio lines are appended to
#   BENCH_REPORT   file the comparison rows are appended to
#   BENCH_RUNS, BENCH_FAST_RUNS, BENCH_QUICK (see common.sh)
#   SC_MASTER, SC_MASTER_UI, SC_REST_URL, SC_MASTER_REST_SPARK_URL, SPARK_HOME

# shellcheck source-path=SCRIPTDIR
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/common.sh"

BENCH_SETTLE_TIMEOUT=${BENCH_SETTLE_TIMEOUT:-90}

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
bench_workdir

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
