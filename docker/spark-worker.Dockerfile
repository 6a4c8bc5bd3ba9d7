# spark-worker: a standalone worker; what it offers to applications is set
# by SPARK_WORKER_CORES and SPARK_WORKER_MEMORY.
ARG SPARK_BASE=clusterops/spark-base:4.3.0
FROM ${SPARK_BASE}

ENV SPARK_MASTER_URL=spark://spark-master:7077 \
    SPARK_WORKER_WEBUI_PORT=8081 \
    SPARK_WORKER_CORES=1 \
    SPARK_WORKER_MEMORY=1g
EXPOSE 8081
ENTRYPOINT ["/opt/clusterops/entrypoint/spark-worker"]
