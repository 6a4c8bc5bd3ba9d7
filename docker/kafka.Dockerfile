# kafka: a single-node Kafka broker in KRaft mode (broker and controller in
# one process, no ZooKeeper), started by docker/entrypoint/kafka-broker like
# the local cluster's. The jars come from Maven Central, resolved by
# scripts/kafka-deps/pom.xml in a build stage; nothing is compiled.
ARG CLUSTER_BASE=clusterops/cluster-base:latest

FROM ${CLUSTER_BASE} AS jars
ARG KAFKA_VERSION=4.4.0
ARG BUILD_CA_CERTS=
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends maven \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/kafka-deps/pom.xml scripts/kafka-deps/log4j-version /build/
RUN with-build-ca mvn -q -B -f /build/pom.xml dependency:copy-dependencies \
      -DoutputDirectory=/opt/kafka/libs \
      "-Dkafka.version=${KAFKA_VERSION}" \
      "-Dlog4j.version=$(/build/log4j-version "${KAFKA_VERSION}")" \
 && test -f "/opt/kafka/libs/kafka_2.13-${KAFKA_VERSION}.jar"

FROM ${CLUSTER_BASE}
ARG KAFKA_VERSION=4.4.0
COPY --from=jars /opt/kafka/libs/ /opt/kafka/libs/
COPY docker/entrypoint/ /opt/clusterops/entrypoint/
RUN chmod 0755 /opt/clusterops/entrypoint/kafka-broker \
 && mkdir -p /var/lib/kafka/data /var/lib/kafka/logs

# A small heap by default; override KAFKA_HEAP_OPTS in the environment.
ENV KAFKA_VERSION=${KAFKA_VERSION} \
    KAFKA_LIBS=/opt/kafka/libs \
    KAFKA_PORT=9092 \
    KAFKA_CONTROLLER_PORT=9093 \
    KAFKA_DATA_DIR=/var/lib/kafka/data \
    KAFKA_LOG_DIR=/var/lib/kafka/logs \
    KAFKA_HEAP_OPTS="-Xmx512m -Xms256m" \
    SC_CONF_DIR=/tmp/clusterops-conf
EXPOSE 9092 9093
ENTRYPOINT ["/opt/clusterops/entrypoint/kafka-broker"]
