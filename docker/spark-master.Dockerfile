# spark-master: the standalone master with its REST submission server on.
ARG SPARK_BASE=clusterops/spark-base:4.3.0
FROM ${SPARK_BASE}

ENV SPARK_MASTER_PORT=7077 \
    SPARK_MASTER_WEBUI_PORT=8080 \
    SPARK_MASTER_REST_ENABLED=true \
    SPARK_MASTER_REST_PORT=6066
EXPOSE 7077 8080 6066
ENTRYPOINT ["/opt/clusterops/entrypoint/spark-master"]
