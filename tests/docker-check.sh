#!/usr/bin/env bash
# What can be checked of docker/ without a Docker engine:
#  - shellcheck on docker/build.sh, the entrypoint scripts and the helpers
#    the images run;
#  - docker/docker-compose.yml parses (PyYAML when python3 has it, else a
#    structural check), has the cluster's services, ports and shared volume,
#    and every file it names (build contexts, Dockerfiles, bind mounts)
#    exists;
#  - every COPY/ADD source of every Dockerfile exists in the build context
#    (the repository root) and is not left out by .dockerignore;
#  - each daemon image's ENTRYPOINT is an executable docker/entrypoint script;
#  - build.sh --dry-run builds every Dockerfile, each after its base.
# Exit status: 0 all good; 1 something is wrong (each problem on stderr);
# 77 skipped because shellcheck is missing (the other checks still ran and
# passed). DOCKER_CHECK_NO_YAML=1 forces the check without PyYAML.
set -uo pipefail
: "${top_srcdir:?set by make check}"
root=$(cd -- "$top_srcdir" && pwd -P)
docker_dir=$root/docker
compose=$docker_dir/docker-compose.yml
failures=0

fail() {
	printf 'docker-check: FAIL: %s\n' "$*" >&2
	failures=$((failures + 1))
}

# Image, and the docker/entrypoint script its ENTRYPOINT must run.
declare -A daemon_entrypoint=(
	[spark-master]=spark-master
	[spark-worker]=spark-worker
	[spark-history]=spark-history
	[kafka]=kafka-broker
	[jupyterlab]=jupyterlab
)
# Dependency order build.sh must follow: image -> its base.
declare -A base_of=(
	[spark-base]=cluster-base
	[spark-master]=spark-base
	[spark-worker]=spark-base
	[spark-history]=spark-base
	[jupyterlab]=spark-base
	[kafka]=cluster-base
)

# ---------------------------------------------------------------------------
# Shell scripts

have_shellcheck=1
check_shell() {
	local -a scripts=("$docker_dir/build.sh" "$docker_dir/build/with-build-ca"
		"$docker_dir/profile.sh" "$root/scripts/kafka-deps/log4j-version")
	local f
	for f in "$docker_dir"/entrypoint/*; do
		case $f in
		*.sh) scripts+=("$f") ;;
		*) head -n 1 -- "$f" | grep -q '^#!.*sh' && scripts+=("$f") ;;
		esac
	done
	if ! command -v shellcheck >/dev/null 2>&1; then
		have_shellcheck=
		echo "docker-check: shellcheck not found: scripts not checked" >&2
		return
	fi
	shellcheck -x "${scripts[@]}" >&2 || fail "shellcheck found problems in the scripts above"
}

# ---------------------------------------------------------------------------
# The compose file

# Relative paths in a compose file are relative to its directory; ${VAR:-x}
# and ${VAR-x} stand for their defaults here.
compose_path() {
	local p=$1
	p=$(sed -E 's/\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}/\1/g' <<<"$p")
	case $p in
	/*) printf '%s\n' "$p" ;;
	*) printf '%s\n' "$docker_dir/$p" ;;
	esac
}

# Prints "kind<TAB>path" for every file the compose file names, and checks
# the structure; problems go to stderr prefixed "problem: ".
compose_refs_yaml() {
	python3 - "$compose" <<'PY'
import re, sys, yaml

path = sys.argv[1]
try:
    with open(path) as f:
        doc = yaml.safe_load(f)
except (OSError, yaml.YAMLError) as e:
    print(f"problem: {path}: does not parse: {e}", file=sys.stderr)
    sys.exit(0)

def problem(msg):
    print(f"problem: {path}: {msg}", file=sys.stderr)

services = doc.get("services") if isinstance(doc, dict) else None
if not isinstance(services, dict):
    problem("no services")
    sys.exit(0)

want = {
    "spark-master": {"8080", "7077", "6066"},
    "spark-worker-1": {"8081"},
    "spark-worker-2": {"8082"},
    "spark-history": {"18080"},
    "jupyterlab": {"8888"},
    "kafka": {"9092"},
}
for name, ports in want.items():
    svc = services.get(name)
    if not isinstance(svc, dict):
        problem(f"service {name} is missing")
        continue
    published = set()
    for p in svc.get("ports", []):
        text = str(p.get("target") if isinstance(p, dict) else p)
        published.add(text.rsplit(":", 1)[-1].split("/")[0])
    for port in sorted(ports - published):
        problem(f"service {name} does not publish port {port}")
    vols = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
            for v in svc.get("volumes", [])]
    if "hadoop-distributed-file-system:/opt/workspace" not in vols:
        problem(f"service {name} does not mount hadoop-distributed-file-system at /opt/workspace")
    if not svc.get("image") and not svc.get("build"):
        problem(f"service {name} has neither image nor build")

def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return env

# The host names and ports libclusterops expects by default.
expect_env = {
    "spark-master": {"SPARK_MASTER_HOST": "spark-master", "SPARK_MASTER_PORT": "7077",
                     "SPARK_MASTER_WEBUI_PORT": "8080", "SPARK_MASTER_REST_PORT": "6066",
                     "SPARK_MASTER_REST_ENABLED": "true"},
    "spark-worker-1": {"SPARK_MASTER_URL": "spark://spark-master:7077",
                       "SPARK_WORKER_WEBUI_PORT": "8081"},
    "spark-worker-2": {"SPARK_MASTER_URL": "spark://spark-master:7077",
                       "SPARK_WORKER_WEBUI_PORT": "8082"},
    "spark-history": {"SPARK_HISTORY_UI_PORT": "18080"},
    "kafka": {"KAFKA_ADVERTISED_HOST": "kafka", "KAFKA_PORT": "9092"},
}
for name, env in expect_env.items():
    svc = services.get(name)
    if not isinstance(svc, dict):
        continue
    have = env_of(svc)
    for k, v in env.items():
        if str(have.get(k)) != v:
            problem(f"service {name}: {k} is {have.get(k)!r}, expected {v!r}")

vols = doc.get("volumes") or {}
if "hadoop-distributed-file-system" not in vols:
    problem("volume hadoop-distributed-file-system is not declared")

for name, svc in services.items():
    if not isinstance(svc, dict):
        problem(f"service {name} is not a mapping")
        continue
    build = svc.get("build")
    if isinstance(build, str):
        print(f"build context\t{build}")
    elif isinstance(build, dict):
        ctx = build.get("context", ".")
        print(f"build context\t{ctx}")
        if "dockerfile" in build:
            print(f"dockerfile\t{ctx.rstrip('/')}/{build['dockerfile']}")
    for v in svc.get("volumes", []):
        if isinstance(v, str):
            # "${VAR:-default}:/target" stands for its default here.
            v = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", v)
        src = v.split(":", 1)[0] if isinstance(v, str) else (v.get("source") if v.get("type") == "bind" else None)
        if src and (src.startswith(".") or src.startswith("/") or src.startswith("~")):
            print(f"bind mount\t{src}")
    env_file = svc.get("env_file")
    for ef in ([env_file] if isinstance(env_file, str) else env_file or []):
        print(f"env_file\t{ef if isinstance(ef, str) else ef.get('path')}")
PY
}

# Without PyYAML: the file is spaces-only YAML with the expected top-level
# keys and services; the paths are taken from context:, dockerfile:, env_file:
# and "- ./x:/y" volume lines.
compose_refs_awk() {
	awk -v file="$compose" '
	function problem(m) { printf "problem: %s: %s\n", file, m > "/dev/stderr" }
	/^\t/ || /^ *\t/ { problem("line " NR ": tab in indentation") }
	/^[a-z][a-z-]*:/ { top = $1; sub(":.*", "", top); tops[top] = 1; ctx = ""; next }
	top == "services" && /^  [a-z0-9][a-z0-9_-]*:[ \t]*$/ {
		s = $1; sub(":$", "", s); services[s] = 1; ctx = "."; next
	}
	top == "services" && /^ +context:/ { ctx = $2; print "build context\t" ctx; next }
	top == "services" && /^ +dockerfile:/ { print "dockerfile\t" ctx "/" $2; next }
	top == "services" && /^ +env_file:/ && NF > 1 { print "env_file\t" $2; next }
	top == "services" && /^ +- +[.\/~][^:]*:/ {
		p = $2; sub(":.*", "", p); print "bind mount\t" p; next
	}
	top == "services" && /hadoop-distributed-file-system:\/opt\/workspace/ { shared++ }
	END {
		if (!("services" in tops)) problem("no services")
		if (!("volumes" in tops)) problem("no top-level volumes")
		n = split("spark-master spark-worker-1 spark-worker-2 spark-history jupyterlab kafka", want, " ")
		for (i = 1; i <= n; i++)
			if (!(want[i] in services)) problem("service " want[i] " is missing")
		if (shared < n) problem("not every service mounts hadoop-distributed-file-system at /opt/workspace")
	}' "$compose"
}

check_compose() {
	local refs problems kind path
	[[ -f $compose ]] || {
		fail "$compose: missing"
		return
	}
	local tmp
	tmp=$(mktemp) || {
		fail "mktemp failed"
		return
	}
	if [[ -z ${DOCKER_CHECK_NO_YAML-} ]] && python3 -c 'import yaml' 2>/dev/null; then
		refs=$(compose_refs_yaml 2>"$tmp")
	else
		echo "docker-check: python3 with PyYAML not found: structural check of the compose file only" >&2
		refs=$(compose_refs_awk 2>"$tmp")
	fi
	problems=$(sed -n 's/^problem: //p' "$tmp")
	rm -f -- "$tmp"
	while IFS= read -r line; do
		[[ -n $line ]] && fail "$line"
	done <<<"$problems"
	while IFS=$'\t' read -r kind path; do
		[[ -n $kind ]] || continue
		[[ -e $(compose_path "$path") ]] ||
			fail "$compose: $kind $path: $(compose_path "$path") does not exist"
	done <<<"$refs"
}

# Docker Compose v2 (the plugin, or the binary scripts/install-deps builds
# into the cache) and docker-compose 1.29 (Debian 12's, an older schema)
# both read the file with `config`, which needs no engine: check it with
# each one that is there.
check_compose_v2() {
	local cache=${SC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clusterops} out
	local -a cmd
	if docker compose version >/dev/null 2>&1; then
		cmd=(docker compose)
	else
		cmd=("$(compgen -G "$cache/docker-compose-v2.*/docker-compose" | sort -V | tail -n 1)")
		[[ -x ${cmd[0]} ]] || {
			echo "docker-check: Docker Compose v2 not found: the file is not checked against its schema" >&2
			return 0
		}
	fi
	out=$(cd -- "$docker_dir" && "${cmd[@]}" -f "$compose" -p check config -q 2>&1) ||
		fail "Docker Compose v2 (${cmd[*]}) rejects $compose: $out"
}

check_compose_v1() {
	command -v docker-compose >/dev/null 2>&1 || {
		echo "docker-check: docker-compose not found: the file is not checked against its schema" >&2
		return 0
	}
	local out
	out=$(cd -- "$docker_dir" && docker-compose -f "$compose" -p check config -q 2>&1) ||
		fail "docker-compose $(docker-compose version --short 2>/dev/null) rejects $compose: $out"
}

# ---------------------------------------------------------------------------
# Dockerfiles

# Instructions one per line, continuation lines joined, comments dropped.
instructions() {
	awk '
	/^[ \t]*#/ && cont == "" { next }
	{
		line = $0
		if (sub(/\\[ \t]*$/, "", line)) { cont = cont line " "; next }
		print cont line; cont = ""
	}' "$1"
}

# .dockerignore patterns without wildcards, as plain paths.
ignored_paths() {
	[[ -f $root/.dockerignore ]] || return 0
	grep -vE '^[[:space:]]*(#|$)|[*?[]|^!' "$root/.dockerignore" | sed 's|^/||; s|/$||'
}

check_copy_sources() {
	local df=$1 line word src ign
	local -a words srcs
	local -a ignored
	mapfile -t ignored < <(ignored_paths)
	while IFS= read -r line; do
		read -ra words <<<"$line"
		((${#words[@]} > 0)) || continue
		case ${words[0]^^} in
		COPY | ADD) ;;
		*) continue ;;
		esac
		srcs=()
		local from=
		for word in "${words[@]:1}"; do
			case $word in
			--from=*) from=1 ;;
			--*) ;;
			*) srcs+=("$word") ;;
			esac
		done
		[[ -z $from ]] || continue # copies from another stage
		if [[ ${srcs[0]-} == \[* ]]; then
			fail "$df: JSON-form $line: not checked, use the plain form"
			continue
		fi
		unset 'srcs[-1]' # the destination
		((${#srcs[@]} > 0)) || fail "$df: $line: no source"
		for src in "${srcs[@]}"; do
			[[ $src == http://* || $src == https://* ]] && continue
			src=${src#./}
			src=${src%/}
			if [[ $src == . || -z $src ]]; then
				continue
			fi
			if ! compgen -G "$root/$src" >/dev/null; then
				fail "$df: $line: $src does not exist in the build context $root"
				continue
			fi
			for ign in "${ignored[@]}"; do
				if [[ $src == "$ign" || $src == "$ign"/* ]]; then
					fail "$df: $line: $src is left out of the build context by .dockerignore"
				fi
			done
		done
	done < <(instructions "$df")
}

check_entrypoint() {
	local df=$1 image=$2 want=${daemon_entrypoint[$2]-} line path
	[[ -n $want ]] || return 0
	line=$(instructions "$df" | grep -iE '^[[:space:]]*ENTRYPOINT' | tail -n 1)
	if [[ -z $line ]]; then
		fail "$df: no ENTRYPOINT; the $image image must run docker/entrypoint/$want"
		return
	fi
	path=$(sed -nE 's/^[[:space:]]*ENTRYPOINT[[:space:]]*\[[[:space:]]*"([^"]*)".*/\1/Ip' <<<"$line")
	if [[ -z $path ]]; then
		fail "$df: $line: use the exec form, [\"/opt/clusterops/entrypoint/$want\"]"
	elif [[ $path != /opt/clusterops/entrypoint/* ]]; then
		fail "$df: ENTRYPOINT $path is not one of the scripts copied to /opt/clusterops/entrypoint"
	elif [[ ${path##*/} != "$want" ]]; then
		fail "$df: ENTRYPOINT runs ${path##*/}, expected $want"
	elif [[ ! -f $docker_dir/entrypoint/$want ]]; then
		fail "$df: ENTRYPOINT $path: docker/entrypoint/$want does not exist"
	elif [[ ! -x $docker_dir/entrypoint/$want ]]; then
		fail "$df: ENTRYPOINT $path: docker/entrypoint/$want is not executable"
	fi
}

check_dockerfiles() {
	local df image n=0
	for df in "$docker_dir"/*.Dockerfile; do
		[[ -f $df ]] || continue
		n=$((n + 1))
		image=${df##*/}
		image=${image%.Dockerfile}
		check_copy_sources "$df"
		check_entrypoint "$df" "$image"
	done
	((n > 0)) || fail "$docker_dir: no Dockerfiles"
	for image in cluster-base "${!base_of[@]}"; do
		[[ -f $docker_dir/$image.Dockerfile ]] || fail "docker/$image.Dockerfile: missing"
	done
	for image in "${!daemon_entrypoint[@]}"; do
		grep -qE '^[[:space:]]*COPY[[:space:]]+docker/entrypoint/?[[:space:]]+/opt/clusterops/entrypoint/' \
			"$docker_dir/$image.Dockerfile" "$docker_dir/spark-base.Dockerfile" 2>/dev/null ||
			fail "no COPY of docker/entrypoint/ to /opt/clusterops/entrypoint/ for the $image image"
	done
}

# build.sh --dry-run: every Dockerfile is built from the repository root,
# each after the image it is built on.
check_build_order() {
	local out line df image
	local -A seen=()
	if ! out=$(DOCKER=docker "$docker_dir/build.sh" --dry-run 2>&1); then
		fail "docker/build.sh --dry-run failed: $out"
		return
	fi
	while IFS= read -r line; do
		df=$(sed -nE 's/.* -f ([^ ]+) .*/\1/p' <<<"$line")
		[[ -n $df ]] || {
			fail "docker/build.sh --dry-run: no -f in: $line"
			continue
		}
		[[ -f $df ]] || fail "docker/build.sh --dry-run: $df does not exist"
		[[ $line == *" $root" ]] || fail "docker/build.sh --dry-run: context is not the repository root: $line"
		image=${df##*/}
		image=${image%.Dockerfile}
		if [[ -n ${base_of[$image]-} && -z ${seen[${base_of[$image]}]-} ]]; then
			fail "docker/build.sh builds $image before its base ${base_of[$image]}"
		fi
		seen[$image]=1
	done <<<"$out"
	for df in "$docker_dir"/*.Dockerfile; do
		image=${df##*/}
		image=${image%.Dockerfile}
		[[ -n ${seen[$image]-} ]] || fail "docker/build.sh does not build $image ($df)"
	done
}

check_shell
check_compose
check_compose_v2
check_compose_v1
check_dockerfiles
check_build_order

if ((failures > 0)); then
	printf 'docker-check: %d problem(s) in docker/ (see above)\n' "$failures" >&2
	exit 1
fi
if [[ -z $have_shellcheck ]]; then
	exit 77
fi
echo "docker-check: docker/ is consistent"
exit 0
