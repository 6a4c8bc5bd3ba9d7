# spark-base: Spark from the pyspark package (it carries the jars and
# bin/spark-class), Spark's Kafka connector on its class path, and the
# entrypoint scripts that start its daemons, the same ones
# scripts/local-cluster runs.
ARG CLUSTER_BASE=clusterops/cluster-base:latest
FROM ${CLUSTER_BASE} AS spark

ARG SPARK_VERSION=4.3.0
ARG BUILD_CA_CERTS=
RUN with-build-ca pip install --no-cache-dir --disable-pip-version-check "pyspark==${SPARK_VERSION}" \
 && ln -s "$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" /opt/spark \
 && test -x /opt/spark/bin/spark-class \
 && mkdir -p /var/log/spark /var/run/spark /var/lib/spark/work

# The Kafka connector (spark-sql-kafka-0-10) and what it needs beyond
# Spark's own jars, resolved from Maven Central by the same script a clone
# of clusterops uses (scripts/spark-kafka-jars).
FROM spark AS kafka-connector
ARG BUILD_CA_CERTS=
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends maven \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/spark-kafka-jars /build/scripts/
COPY scripts/spark-kafka-deps/pom.xml /build/scripts/spark-kafka-deps/
RUN mkdir -p /opt/spark-kafka \
 && jars=$(SPARK_HOME=/opt/spark SC_CACHE_DIR=/tmp/cache with-build-ca /build/scripts/spark-kafka-jars) \
 && test -n "$jars" \
 && echo "$jars" | tr ',' '\n' | xargs -I{} cp {} /opt/spark-kafka/

FROM spark
# Every Spark process of the cluster (drivers in JupyterLab or on a worker,
# executors) finds the connector without --jars.
COPY --from=kafka-connector /opt/spark-kafka/ /opt/spark-kafka/
RUN ln -s /opt/spark-kafka/*.jar /opt/spark/jars/

COPY docker/entrypoint/ /opt/clusterops/entrypoint/
RUN chmod 0755 /opt/clusterops/entrypoint/spark-* /opt/clusterops/entrypoint/kafka-broker \
      /opt/clusterops/entrypoint/jupyterlab

# Defaults for every application started in the cluster (master, event
# logging, a cores cap), and the same environment for login shells.
COPY docker/spark-defaults.conf /etc/spark/spark-defaults.conf
COPY docker/profile.sh /etc/profile.d/clusterops.sh

# Daemon heaps are small by default (Spark's own default is 1g each);
# override SPARK_DAEMON_MEMORY in the environment.
ENV SPARK_VERSION=${SPARK_VERSION} \
    SPARK_HOME=/opt/spark \
    SPARK_LOG_DIR=/var/log/spark \
    SPARK_PID_DIR=/var/run/spark \
    SPARK_WORKER_DIR=/var/lib/spark/work \
    SPARK_CONF_DIR=/etc/spark \
    SPARK_DAEMON_MEMORY=512m \
    SC_CONF_DIR=/tmp/clusterops-conf
