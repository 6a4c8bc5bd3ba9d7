#!/usr/bin/env bash
# build.sh: builds the cluster's images, each on top of the one before it:
#   cluster-base -> spark-base -> spark-master, spark-worker, spark-history,
#                                 jupyterlab
#   cluster-base -> kafka
# The build context is the repository root, so that the jupyterlab image can
# build clusterops from this source tree and the images can copy
# docker/entrypoint/ and scripts/kafka-deps/.
set -euo pipefail

readonly PROG=${0##*/}
ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd -P)
readonly ROOT

usage() {
	cat <<EOF
Usage: $PROG [--dry-run] [--ca-cert FILE]... [IMAGE...]
       $PROG -h|--help

Builds the images of the Docker cluster: all of them in dependency order,
or only those named (still in dependency order, on top of the base images
already built): cluster-base spark-base spark-master spark-worker
spark-history jupyterlab kafka.

Options:
  -n, --dry-run       print the docker commands instead of running them
      --ca-cert=FILE  trust the CA certificates in FILE (PEM) while building,
                      for downloads through a proxy that re-signs HTTPS;
                      may be repeated. Only the steps that download (pip,
                      Maven, curl) trust them; no image keeps them in its
                      trust stores (they are visible in the image history,
                      as build arguments are)
  -h, --help          this help

Environment:
  SPARK_VERSION        pyspark release (default 4.3.0)
  KAFKA_VERSION        Kafka release (default 4.4.0)
  LIBRDKAFKA_VERSION   librdkafka release built for kcat-lite, or "debian"
                       for Debian's package (default 2.16.0)
  LIBRDKAFKA_SHA256    checked against the librdkafka tarball when set
  JUPYTERLAB_VERSION   JupyterLab release (default 4.6.6)
  IMAGE_PREFIX         prefix of the image names (default clusterops/)
  DEBIAN_IMAGE         the Debian 12 image everything is built on
                       (default debian:12-slim)
  DOCKER               the docker client, or podman (default docker)
  DOCKER_BUILD_FLAGS   more flags for every docker build, e.g. --no-cache

Images: PREFIXcluster-base:latest; PREFIXspark-base, spark-master,
spark-worker, spark-history and jupyterlab tagged SPARK_VERSION;
PREFIXkafka tagged KAFKA_VERSION. docker-compose.yml uses the same names.

Exit status: 0 built; 1 a build failed; 64 usage error; 69 no docker client.
EOF
}

usage_error() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	printf "Try '%s --help'\n" "$PROG" >&2
	exit 64
}

readonly ALL_IMAGES=(cluster-base spark-base spark-master spark-worker spark-history jupyterlab kafka)

spark_version=${SPARK_VERSION:-4.3.0}
kafka_version=${KAFKA_VERSION:-4.4.0}
librdkafka_version=${LIBRDKAFKA_VERSION:-2.16.0}
jupyterlab_version=${JUPYTERLAB_VERSION:-4.6.6}
prefix=${IMAGE_PREFIX-clusterops/}
docker=${DOCKER:-docker}
debian_image=${DEBIAN_IMAGE:-debian:12-slim}
dry_run=
ca_files=()
ca_certs=

check_versions() {
	local release='^[0-9]+\.[0-9]+\.[0-9]+$'
	[[ $spark_version =~ $release ]] ||
		usage_error "SPARK_VERSION=$spark_version: not a release number (X.Y.Z)"
	[[ $kafka_version =~ $release ]] ||
		usage_error "KAFKA_VERSION=$kafka_version: not a release number (X.Y.Z)"
	[[ $librdkafka_version =~ $release || $librdkafka_version == debian ]] ||
		usage_error "LIBRDKAFKA_VERSION=$librdkafka_version: not a release number (X.Y.Z) or 'debian'"
	[[ $jupyterlab_version =~ $release ]] ||
		usage_error "JUPYTERLAB_VERSION=$jupyterlab_version: not a release number (X.Y.Z)"
}

tag_of() {
	case $1 in
	cluster-base) printf '%scluster-base:latest\n' "$prefix" ;;
	kafka) printf '%skafka:%s\n' "$prefix" "$kafka_version" ;;
	*) printf '%s%s:%s\n' "$prefix" "$1" "$spark_version" ;;
	esac
}

# The build arguments each image takes: its base image and the versions.
build_args_of() {
	case $1 in
	spark-base | jupyterlab | kafka)
		[[ -z $ca_certs ]] || printf '%s\n' "BUILD_CA_CERTS=$ca_certs"
		;;
	esac
	case $1 in
	cluster-base)
		printf '%s\n' "DEBIAN_IMAGE=$debian_image"
		;;
	spark-base)
		printf '%s\n' "CLUSTER_BASE=$(tag_of cluster-base)" "SPARK_VERSION=$spark_version"
		;;
	spark-master | spark-worker | spark-history)
		printf '%s\n' "SPARK_BASE=$(tag_of spark-base)"
		;;
	jupyterlab)
		printf '%s\n' "DEBIAN_IMAGE=$debian_image" "SPARK_BASE=$(tag_of spark-base)" \
			"LIBRDKAFKA_VERSION=$librdkafka_version" \
			"LIBRDKAFKA_SHA256=${LIBRDKAFKA_SHA256-}" \
			"JUPYTERLAB_VERSION=$jupyterlab_version"
		;;
	kafka)
		printf '%s\n' "CLUSTER_BASE=$(tag_of cluster-base)" "KAFKA_VERSION=$kafka_version"
		;;
	esac
}

# POSIX-shell quoting for the dry run, so that its lines can be pasted.
shquote() {
	if [[ $1 =~ ^[A-Za-z0-9_./:=+,@-]+$ ]]; then
		printf '%s' "$1"
	else
		printf "'%s'" "${1//\'/\'\\\'\'}"
	fi
}

print_command() {
	local arg line=
	for arg; do
		line+=${line:+ }$(shquote "$arg")
	done
	printf '%s\n' "$line"
}

build_image() {
	local image=$1 arg
	local -a cmd=("$docker" build -f "$ROOT/docker/$image.Dockerfile" -t "$(tag_of "$image")")
	while read -r arg; do
		cmd+=(--build-arg "$arg")
	done < <(build_args_of "$image")
	cmd+=("${extra_flags[@]}" "$ROOT")
	if [[ -n $dry_run ]]; then
		print_command "${cmd[@]}"
		return
	fi
	printf '%s: building %s\n' "$PROG" "$(tag_of "$image")" >&2
	"${cmd[@]}" || {
		printf '%s: building %s failed\n' "$PROG" "$(tag_of "$image")" >&2
		exit 1
	}
}

# The --ca-cert files, as one base64 line for the BUILD_CA_CERTS build
# argument that docker/build/with-build-ca reads.
read_ca_certs() {
	local f
	((${#ca_files[@]})) || return 0
	for f in "${ca_files[@]}"; do
		[[ -r $f ]] || usage_error "--ca-cert $f: cannot read it"
		grep -q 'BEGIN CERTIFICATE' -- "$f" || usage_error "--ca-cert $f: no PEM certificate in it"
	done
	ca_certs=$(cat -- "${ca_files[@]}" | base64 -w0)
}

main() {
	local arg image
	local -a wanted=()
	while (($# > 0)); do
		case $1 in
		-h | --help)
			usage
			exit 0
			;;
		-n | --dry-run) dry_run=1 ;;
		--ca-cert=*) ca_files+=("${1#--ca-cert=}") ;;
		--ca-cert)
			(($# > 1)) || usage_error "option '--ca-cert' needs a file"
			ca_files+=("$2")
			shift
			;;
		--)
			shift
			break
			;;
		-*) usage_error "unknown option: $1" ;;
		*) break ;;
		esac
		shift
	done
	for arg; do
		[[ " ${ALL_IMAGES[*]} " == *" $arg "* ]] || usage_error "unknown image: $arg"
	done
	check_versions
	read_ca_certs
	# Dependency order, whatever order the images were named in.
	for image in "${ALL_IMAGES[@]}"; do
		if (($# == 0)) || [[ " $* " == *" $image "* ]]; then
			wanted+=("$image")
		fi
	done
	read -ra extra_flags <<<"${DOCKER_BUILD_FLAGS-}"
	if [[ -z $dry_run ]] && ! command -v "$docker" >/dev/null 2>&1; then
		printf '%s: %s: not found; it is needed to build the images\n' "$PROG" "$docker" >&2
		exit 69
	fi
	for image in "${wanted[@]}"; do
		build_image "$image"
	done
}

main "$@"
