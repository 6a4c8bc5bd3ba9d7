# jupyterlab: where the cluster's users work. JupyterLab (with numpy,
# pandas and matplotlib), the Spark client (spark-submit, pyspark) from
# spark-base, and the clusterops tools built from this source tree, on PATH
# and with their man pages, configured for the cluster by
# /etc/clusterops.conf; cron, make, jq and an editor (for crontab -e) for the
# users' own jobs. JupyterLab,
# its terminals and cron jobs run as the notebook user (NB_UID), not root.
#
# LIBRDKAFKA_VERSION: the librdkafka release built from source for
# kcat-lite, or "debian" for Debian's package (2.0.2 in Debian 12).
# LIBRDKAFKA_SHA256, when given, is checked against the downloaded tarball.
ARG DEBIAN_IMAGE=debian:12-slim
ARG SPARK_BASE=clusterops/spark-base:4.3.0

FROM ${DEBIAN_IMAGE} AS builder
ARG LIBRDKAFKA_VERSION=2.16.0
ARG LIBRDKAFKA_SHA256=
ARG BUILD_CA_CERTS=
COPY docker/build/with-build-ca /usr/local/sbin/with-build-ca
RUN apt-get update \
 && if [ "$LIBRDKAFKA_VERSION" = debian ]; then rdkafka=librdkafka-dev; \
    else rdkafka="zlib1g-dev libzstd-dev liblz4-dev"; fi \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential autoconf automake libtool pkg-config ca-certificates curl \
      libcurl4-openssl-dev libjansson-dev libarchive-dev libssl-dev libavro-dev mandoc $rdkafka \
 && rm -rf /var/lib/apt/lists/*

# librdkafka from its release source, into /usr/local like clusterops.
RUN set -e; \
    if [ "$LIBRDKAFKA_VERSION" != debian ]; then \
      mkdir -p /build/librdkafka; cd /build; \
      with-build-ca curl -fsSL -o librdkafka.tar.gz \
        "https://github.com/confluentinc/librdkafka/archive/refs/tags/v${LIBRDKAFKA_VERSION}.tar.gz"; \
      if [ -n "$LIBRDKAFKA_SHA256" ]; then \
        echo "$LIBRDKAFKA_SHA256  librdkafka.tar.gz" | sha256sum -c -; fi; \
      tar -xzf librdkafka.tar.gz -C librdkafka --strip-components=1; \
      cd librdkafka; \
      ./configure --prefix=/usr/local --disable-gssapi; \
      make -j"$(nproc)" libs; \
      make install; \
      ldconfig; \
    fi

# clusterops from this source tree (the build context is the repository root;
# .dockerignore keeps build output and .git out of it).
COPY . /build/clusterops
WORKDIR /build/clusterops
RUN autoreconf -fi \
 && PKG_CONFIG_PATH=/usr/local/lib/pkgconfig ./configure --prefix=/usr/local \
 && make -j"$(nproc)" \
 && make install \
 && rm -f /usr/local/lib/*.a /usr/local/lib/*.la \
 && ldconfig

FROM ${SPARK_BASE}
ARG LIBRDKAFKA_VERSION=2.16.0
RUN apt-get update \
 && if [ "$LIBRDKAFKA_VERSION" = debian ]; then rdkafka=librdkafka1; \
    else rdkafka="zlib1g libzstd1 liblz4-1"; fi \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libjansson4 libarchive13 libssl3 libavro23 $rdkafka man-db less \
      cron make jq nano \
 && rm -rf /var/lib/apt/lists/* \
 && sed -i 's/^session[[:space:]]*required[[:space:]]*pam_loginuid.so/# &/' /etc/pam.d/cron
# (pam_loginuid needs CAP_AUDIT_CONTROL, which containers lack: with it
# required, cron would run no job at all.)

# Everything both builds installed under /usr/local: the tools, the library,
# its header and pkg-config file, the man pages (and librdkafka when built).
COPY --from=builder /usr/local/ /usr/local/
COPY docker/clusterops.conf /etc/clusterops.conf
RUN ldconfig && (mandb -q || true)
# Fail the build here, not in a user's shell, if a library is missing.
RUN sc-submit --version && sc-status --version && kcat-lite --version

ARG JUPYTERLAB_VERSION=4.6.6
ARG BUILD_CA_CERTS=
RUN with-build-ca pip install --no-cache-dir --disable-pip-version-check \
      "jupyterlab==${JUPYTERLAB_VERSION}" numpy pandas matplotlib

# Drivers started here (client mode) get a small heap unless told otherwise.
# Without JUPYTER_TOKEN in the environment, JupyterLab makes a token and
# prints the URL that carries it in the container's log.
ENV SPARK_DRIVER_MEMORY=512m \
    SHELL=/bin/bash
EXPOSE 8888 4040
WORKDIR /opt/workspace
ENTRYPOINT ["/opt/clusterops/entrypoint/jupyterlab"]
