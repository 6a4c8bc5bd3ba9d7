# cluster-base: what every container of the cluster shares. Debian 12,
# Java 17 (Spark 4 and Kafka 4 need it), Python 3 in a virtual environment
# (Debian's own Python refuses pip installs into the system), the cluster's
# user and the shared workspace. The directories are made here so that a
# new named volume mounted at /opt/workspace starts with them (Docker copies
# an image's content into an empty volume on first use).
ARG DEBIAN_IMAGE=debian:12-slim
FROM ${DEBIAN_IMAGE}

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-17-jre-headless python3 python3-venv \
      bash ca-certificates curl procps \
 && rm -rf /var/lib/apt/lists/*

# Downloads during later builds (pip, Maven) run under with-build-ca, which
# trusts the certificates given to `build.sh --ca-cert` for that step only.
COPY docker/build/with-build-ca /usr/local/sbin/with-build-ca

# The user every Spark daemon, executor, driver and notebook runs as; the
# entrypoints give it NB_UID and NB_GID from the environment at start (as
# Jupyter's docker-stacks do), so files in the workspace and in bind mounts
# belong to the host user who set them. driver-logs/ holds what drivers
# print (it may hold secrets a job prints): that user's and its group's
# only, and its files keep the group.
ENV NB_USER=jovyan \
    NB_UID=1000 \
    NB_GID=100
RUN useradd -m -s /bin/bash -u "$NB_UID" -g "$NB_GID" "$NB_USER" \
 && python3 -m venv /opt/venv \
 && mkdir -p /opt/workspace/events /opt/workspace/driver-logs /opt/workspace/datain \
      /opt/workspace/dataout /opt/workspace/notebooks \
 && chown "$NB_UID:$NB_GID" /opt/workspace /opt/workspace/events /opt/workspace/driver-logs \
      /opt/workspace/datain /opt/workspace/dataout /opt/workspace/notebooks \
 && chmod 2770 /opt/workspace/driver-logs

ENV PATH=/opt/venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    SHARED_WORKSPACE=/opt/workspace
WORKDIR /opt/workspace
