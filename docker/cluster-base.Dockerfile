# cluster-base: what every container of the cluster shares. Debian 12,
# Java 17 (Spark 4 and Kafka 4 need it), Python 3 in a virtual environment
# (Debian's own Python refuses pip installs into the system), and the shared
# workspace. The directories are made here so that a new named volume mounted
# at /opt/workspace starts with them (Docker copies an image's content into
# an empty volume on first use).
ARG DEBIAN_IMAGE=debian:12-slim
FROM ${DEBIAN_IMAGE}

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      openjdk-17-jre-headless python3 python3-venv \
      bash ca-certificates curl procps \
 && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/venv \
 && mkdir -p /opt/workspace/events /opt/workspace/datain /opt/workspace/dataout \
      /opt/workspace/notebooks

ENV PATH=/opt/venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    SHARED_WORKSPACE=/opt/workspace
WORKDIR /opt/workspace
