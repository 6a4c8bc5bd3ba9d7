# shellcheck shell=bash
# Helpers shared by the entrypoints in this directory; sourced, never run.
#
# Every entrypoint takes its whole configuration from environment variables,
# writes the properties file its daemon reads, and then execs the JVM in the
# foreground, so that the process id a supervisor (Docker, or
# scripts/local-cluster) holds is the JVM itself and signals reach it.

# Name used in messages, and the entrypoint's arguments (for ep_become_user);
# each entrypoint calls ep_init NAME "$@" after sourcing.
ep_name=${0##*/}
ep_args=()

ep_init() {
	ep_name=$1
	ep_args=("${@:2}")
}

ep_log() {
	printf '%s: %s\n' "$ep_name" "$*" >&2
}

ep_die() {
	ep_log "$*"
	exit 1
}

# True for the usual spellings of "yes" in environment variables.
ep_is_true() {
	case ${1,,} in
	1 | true | yes | on) return 0 ;;
	*) return 1 ;;
	esac
}

# Port numbers come from the environment; catch typos before the JVM does,
# since its message for a bad port is far from the variable that caused it.
ep_require_port() {
	local name=$1 value=$2
	if [[ ! $value =~ ^[0-9]+$ ]] || ((value > 65535)); then
		ep_die "$name: '$value' is not a port number"
	fi
}

# Directory for generated configuration files. A container can point it at a
# volume; otherwise a private directory under TMPDIR is fine, because the
# files are rewritten at every start.
ep_conf_dir() {
	local dir=${SC_CONF_DIR:-${TMPDIR:-/tmp}/clusterops-conf}
	mkdir -p "$dir" || ep_die "cannot create $dir"
	printf '%s\n' "$dir"
}

# The Spark installation: SPARK_HOME if set, else the directory of the pyspark
# package that the Python in use can import (pip's pyspark carries the jars
# and bin/spark-class, but sets no SPARK_HOME of its own).
ep_spark_home() {
	local home=${SPARK_HOME-} python=${PYSPARK_PYTHON:-python3}
	if [[ -z $home ]]; then
		home=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null) ||
			ep_die "SPARK_HOME is not set and $python cannot import pyspark"
	fi
	[[ -x $home/bin/spark-class ]] || ep_die "$home/bin/spark-class: not found (is SPARK_HOME right?)"
	printf '%s\n' "$home"
}

# ep_write_properties FILE [EXTRA]: FILE gets the key=value lines read from
# stdin, then EXTRA (more key=value lines, for settings this script has no
# variable for; later lines win in Java properties files). Written to a
# temporary file and renamed, so a daemon never reads half a file.
ep_write_properties() {
	local file=$1 extra=${2-} tmp
	tmp=$(mktemp "$file.XXXXXX") || ep_die "cannot write $file"
	{
		printf '# Written by %s at startup from its environment; edits are lost.\n' "$ep_name"
		cat
		if [[ -n $extra ]]; then
			printf '%s\n' "$extra"
		fi
	} >"$tmp"
	mv -f -- "$tmp" "$file"
}

# The java launcher: JAVA_HOME's if set, as Spark's and Kafka's own scripts do.
ep_java() {
	if [[ -n ${JAVA_HOME-} ]]; then
		printf '%s\n' "$JAVA_HOME/bin/java"
	else
		printf 'java\n'
	fi
}

# ep_become_user [DIR]...: in a container started as root with NB_UID set
# (the images set NB_USER, NB_UID and NB_GID, as Jupyter's docker-stacks
# do), make the user NB_USER have uid NB_UID and group NB_GID, give it each
# DIR (created if missing; the directory itself, not what it holds), and
# run this entrypoint again, with its arguments, as that user. Anywhere else
# (the local cluster, a container started with --user) it returns and the
# entrypoint goes on as it is.
ep_become_user() {
	[[ $(id -u) -eq 0 && -n ${NB_UID-} && $NB_UID != 0 ]] || return 0
	local user=${NB_USER:-jovyan} uid=$NB_UID gid=${NB_GID:-100} dir home
	[[ $uid =~ ^[0-9]+$ ]] || ep_die "NB_UID: '$uid' is not a numeric user id"
	[[ $gid =~ ^[0-9]+$ ]] || ep_die "NB_GID: '$gid' is not a numeric group id"
	[[ $user =~ ^[a-z_][a-z0-9_-]*$ ]] || ep_die "NB_USER: '$user' is not a user name"
	getent group "$gid" >/dev/null || groupadd -g "$gid" "$user" ||
		ep_die "cannot create group $gid"
	if id -u "$user" >/dev/null 2>&1; then
		if [[ $(id -u "$user") != "$uid" || $(id -g "$user") != "$gid" ]]; then
			usermod -o -u "$uid" -g "$gid" "$user" || ep_die "cannot give $user uid $uid, gid $gid"
		fi
	else
		useradd -o -u "$uid" -g "$gid" -m -s /bin/bash "$user" || ep_die "cannot create user $user"
	fi
	home=$(getent passwd "$user" | cut -d: -f6)
	# chown -h: the workspace belongs to the user, who could have put a
	# symbolic link where a directory was; root must not follow it.
	for dir in "$home" "$@"; do
		if ! mkdir -p -- "$dir" || ! chown -h "$uid:$gid" -- "$dir"; then
			ep_die "cannot give $user $dir"
		fi
	done
	HOME=$home USER=$user LOGNAME=$user exec setpriv --reuid="$uid" --regid="$gid" --init-groups \
		-- "$0" "${ep_args[@]}"
}
