#!/usr/bin/env bash
# kcat's own tests, 0001-exit_eof.sh and 0002-delim.sh from kcat 1.7.1's
# source, run with kcat-lite in kcat's place: under a terminal (script(1)),
# since kcat picks consumer or producer mode from standard input, and
# against a broker whose automatically created topics get 3 partitions.
#
# Usage: tests/kcat-upstream.sh [PROGRAM]
#   PROGRAM  what to test (default $SC_TEST_BIN/kcat-lite, else the build's
#            bin/kcat-lite); `kcat` runs the suite against kcat itself
#
# Environment:
#   BROKERS       such a broker; without it a private single-node broker is
#                 started from the Kafka jars scripts/local-cluster keeps in
#                 the cache (num.partitions=3), and stopped at exit
#   SC_CACHE_DIR  the cache (default ${XDG_CACHE_HOME:-~/.cache}/clusterops):
#                 kcat's source tarball is kept in kcat-1.7.1/ there
#   KAFKA_VERSION the Kafka release of the private broker (default: the one
#                 scripts/local-cluster uses)
#
# The tarball is Debian's kafkacat_1.7.1.orig.tar.gz, fetched once with
# apt-get source through a private apt configuration (the deb-src twins of
# the machine's Debian entries), and checked against its SHA-256.
#
# Exit status: 0 both tests pass; 1 one failed; 77 skipped, with the reason
# on stderr (the tarball, the Kafka jars or a required program cannot be
# had).
set -euo pipefail

readonly PROG=kcat-upstream
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly TARBALL=kafkacat_1.7.1.orig.tar.gz
readonly TARBALL_SHA256=4b957b7ffc728a88e163bc4e581aa371e56c7e74c8b84b1fe0583d0302ef8d58
readonly TESTS=(0001-exit_eof.sh 0002-delim.sh)
readonly CACHE=${SC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterops}

log() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

skip() {
	log "skipped: $*"
	exit 77
}

work=$(mktemp -d "${TMPDIR:-/tmp}/kcat-upstream.XXXXXX")
broker_pid=

cleanup() {
	if [[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -TERM "$broker_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$broker_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$broker_pid" 2>/dev/null || true
	fi
	rm -rf -- "$work"
}
trap cleanup EXIT

program=${1:-}
if [[ -z $program ]]; then
	program=${SC_TEST_BIN:-$ROOT/bin}/kcat-lite
fi
if [[ $program == */* ]]; then
	[[ -x $program ]] || skip "$program: not built"
	program=$(cd -- "$(dirname -- "$program")" && pwd)/${program##*/}
else
	command -v -- "$program" >/dev/null || skip "$program: not installed"
fi
for need in script jq timeout sha256sum; do
	command -v "$need" >/dev/null || skip "$need: not installed"
done

# ---------------------------------------------------------------------------
# The tarball, once, into the cache.

tarball_ok() {
	[[ -f $1 ]] && printf '%s  %s\n' "$TARBALL_SHA256" "$1" | sha256sum -c --status
}

fetch_tarball() {
	local dir=$1 apt=$work/apt f
	local -a opts
	command -v apt-get >/dev/null || skip "apt-get: not installed, so $TARBALL cannot be fetched"
	mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/dl"
	: >"$apt/sources.list"
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt/parts/${f##*/}"
	done
	if [[ -f /etc/apt/sources.list ]]; then
		sed -n 's/^deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$apt/sources.list"
	fi
	opts=(-q -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o APT::Get::List-Cleanup=0
		-o APT::Sandbox::User=root)
	log "fetching $TARBALL (once) into $dir"
	apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 ||
		skip "apt-get update with deb-src entries failed (see below)
$(tail -5 "$apt/update.log")"
	# The Debian tarball of the package may answer 404 while the orig
	# tarball arrives, which is all the tests need: the status is not used.
	(cd "$apt/dl" && apt-get "${opts[@]}" source --download-only kcat) >"$apt/source.log" 2>&1 || true
	tarball_ok "$apt/dl/$TARBALL" ||
		skip "$TARBALL could not be fetched, or its SHA-256 differs
$(tail -5 "$apt/source.log")"
	mkdir -p "$dir"
	mv -f -- "$apt/dl/$TARBALL" "$dir/$TARBALL.tmp.$$"
	mv -f -- "$dir/$TARBALL.tmp.$$" "$dir/$TARBALL"
}

tarball=$CACHE/kcat-1.7.1/$TARBALL
tarball_ok "$tarball" || fetch_tarball "${tarball%/*}"
tar -xzf "$tarball" -C "$work" kafkacat-1.7.1/tests
src=$work/kafkacat-1.7.1
# The tests run ../kcat from their directory.
printf '#!/bin/sh\nexec %q "$@"\n' "$program" >"$src/kcat"
chmod +x "$src/kcat"

# ---------------------------------------------------------------------------
# A broker whose new topics get 3 partitions.

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_broker() {
	local version libs port ctl deadline
	version=${KAFKA_VERSION:-$(sed -n 's/^readonly DEFAULT_KAFKA_VERSION=//p' "$ROOT/scripts/local-cluster")}
	libs=$CACHE/kafka-$version/libs
	compgen -G "$libs/kafka_2.13-*.jar" >/dev/null ||
		skip "$libs: no Kafka jars (scripts/local-cluster up downloads them)"
	command -v python3 >/dev/null || skip "python3: not installed"
	port=$(free_port)
	ctl=$(free_port)
	mkdir -p "$work/kafka" "$work/logs" "$work/conf"
	env KAFKA_LIBS="$libs" KAFKA_NODE_ID=1 KAFKA_LISTEN_HOST=127.0.0.1 \
		KAFKA_ADVERTISED_HOST=127.0.0.1 KAFKA_PORT="$port" KAFKA_CONTROLLER_PORT="$ctl" \
		KAFKA_DATA_DIR="$work/kafka" KAFKA_LOG_DIR="$work/logs" SC_CONF_DIR="$work/conf" \
		KAFKA_HEAP_OPTS="-Xmx384m -Xms128m" KAFKA_EXTRA_CONF=num.partitions=3 \
		"$ROOT/docker/entrypoint/kafka-broker" >"$work/logs/broker.out" 2>&1 </dev/null &
	broker_pid=$!
	BROKERS=127.0.0.1:$port
	deadline=$((SECONDS + 120))
	until kcat_probe "$BROKERS"; do
		if ! kill -0 "$broker_pid" 2>/dev/null || ((SECONDS > deadline)); then
			tail -20 "$work/logs/broker.out" >&2
			log "the private broker on $BROKERS did not start"
			exit 1
		fi
		sleep 1
	done
	log "private broker on $BROKERS (num.partitions=3)"
}

# Whether a broker answers, asked with the program under test.
kcat_probe() {
	"$src/kcat" -b "$1" -L -m 2 -q >/dev/null 2>&1 </dev/null
}

if [[ -z ${BROKERS:-} ]]; then
	start_broker
fi
export BROKERS

# ---------------------------------------------------------------------------

passed=0
failed=0
for t in "${TESTS[@]}"; do
	out=$work/$t.log
	# script gives the test a terminal on standard input, as kcat's own
	# runs have; -e returns the test's status.
	if (cd "$src/tests" && timeout 300 script -qec "bash ./$t" /dev/null) >"$out" 2>&1 </dev/null; then
		passed=$((passed + 1))
		log "$t: passed"
	else
		failed=$((failed + 1))
		log "$t: FAILED; its output:"
		sed 's/^/    /' "$out" >&2
	fi
done
printf '%s: %d passed, %d failed\n' "$PROG" "$passed" "$failed"
((failed == 0))
