# spark-base: Spark from the pyspark package (it carries the jars and
# bin/spark-class), and the entrypoint scripts that start its daemons, the
# same ones scripts/local-cluster runs.
ARG CLUSTER_BASE=clusterops/cluster-base:latest
FROM ${CLUSTER_BASE}

ARG SPARK_VERSION=4.3.0
RUN pip install --no-cache-dir --disable-pip-version-check "pyspark==${SPARK_VERSION}" \
 && ln -s "$(python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" /opt/spark \
 && test -x /opt/spark/bin/spark-class \
 && mkdir -p /var/log/spark /var/run/spark /var/lib/spark/work

COPY docker/entrypoint/ /opt/clusterops/entrypoint/
RUN chmod 0755 /opt/clusterops/entrypoint/spark-* /opt/clusterops/entrypoint/kafka-broker

# Daemon heaps are small by default (Spark's own default is 1g each);
# override SPARK_DAEMON_MEMORY in the environment.
ENV SPARK_VERSION=${SPARK_VERSION} \
    SPARK_HOME=/opt/spark \
    SPARK_LOG_DIR=/var/log/spark \
    SPARK_PID_DIR=/var/run/spark \
    SPARK_WORKER_DIR=/var/lib/spark/work \
    SPARK_DAEMON_MEMORY=512m \
    SC_CONF_DIR=/tmp/clusterops-conf
