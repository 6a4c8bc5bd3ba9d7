# spark-history: the history server, over the event logs in the shared
# workspace. An image of its own, so that each container runs one daemon.
ARG SPARK_BASE=clusterops/spark-base:4.3.0
FROM ${SPARK_BASE}

ENV SPARK_HISTORY_LOG_DIR=file:/opt/workspace/events \
    SPARK_HISTORY_DRIVER_LOG_DIR=file:/opt/workspace/driver-logs \
    SPARK_HISTORY_UI_PORT=18080
EXPOSE 18080
ENTRYPOINT ["/opt/clusterops/entrypoint/spark-history"]
