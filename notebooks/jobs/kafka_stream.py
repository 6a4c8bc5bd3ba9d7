"""Aggregate a Kafka topic with Structured Streaming; write the totals to a
dataout directory as CSV.

Usage: kafka_stream.py [--brokers HOST:PORT[,...]] [--checkpoint DIR]
                       [--continuous] TOPIC [OUTPUT]

Each message's key is a grouping key (messages without a key are grouped
under the empty string) and its value a JSON object with a numeric field
"amount", e.g.  key=alice  value={"amount": 12.5}.  For every key the job
counts the messages and sums their amounts (a value that is not JSON, or has
no numeric "amount", is counted but adds nothing).

By default the query uses trigger(availableNow=True): it reads what the
topic holds when the job starts, from the earliest offset (or from where
the checkpoint left off), writes the totals and ends. --continuous keeps it
running with a 10-second processing-time trigger instead.

OUTPUT (default $SC_DATAOUT/kafka_stream/TOPIC, else under
/opt/workspace/dataout) receives after each micro-batch the complete totals
so far, as one CSV file with the header `key,messages,amount`, replaced
through Spark's own output committer (write to OUTPUT/_temporary, move into
place, then OUTPUT/_SUCCESS). The checkpoint (default OUTPUT.checkpoint)
remembers the offsets and the running totals between runs; delete it to
start again from the beginning of the topic.

The brokers come from --brokers, else $SC_BROKERS, else kafka:9092.
The Kafka connector is not part of pyspark: submit with its jars, e.g.
  sc-submit --jars "$(scripts/spark-kafka-jars)" kafka_stream.py TOPIC
"""
import argparse
import os

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def parse_args():
    p = argparse.ArgumentParser(prog="kafka_stream.py",
                                description="Per-key message counts and amount sums of a Kafka topic.")
    p.add_argument("topic")
    p.add_argument("output", nargs="?")
    p.add_argument("--brokers", default=os.environ.get("SC_BROKERS") or "kafka:9092")
    p.add_argument("--checkpoint")
    p.add_argument("--continuous", action="store_true")
    args = p.parse_args()
    if not args.output:
        base = os.environ.get("SC_DATAOUT") or "/opt/workspace/dataout"
        args.output = os.path.join(base, "kafka_stream", args.topic)
    if not args.checkpoint:
        args.checkpoint = args.output.rstrip("/") + ".checkpoint"
    return args


def totals(messages):
    """Kafka rows (key, value as binary) -> (key, messages, amount)."""
    amount = F.get_json_object(F.col("value").cast("string"), "$.amount").cast("double")
    keyed = messages.select(F.coalesce(F.col("key").cast("string"), F.lit("")).alias("key"),
                            amount.alias("amount"))
    return keyed.groupBy("key").agg(F.count(F.lit(1)).alias("messages"),
                                    F.coalesce(F.sum("amount"), F.lit(0.0)).alias("amount"))


def main():
    args = parse_args()
    spark = SparkSession.builder.appName("kafka_stream").getOrCreate()
    try:
        messages = (spark.readStream.format("kafka")
                    .option("kafka.bootstrap.servers", args.brokers)
                    .option("subscribe", args.topic)
                    .option("startingOffsets", "earliest")
                    .load())

        def write_batch(batch, batch_id):
            (batch.orderBy("key").coalesce(1).write.mode("overwrite")
             .option("header", "true").csv(args.output))

        writer = (totals(messages).writeStream.outputMode("complete")
                  .option("checkpointLocation", args.checkpoint)
                  .foreachBatch(write_batch))
        if args.continuous:
            writer = writer.trigger(processingTime="10 seconds")
        else:
            writer = writer.trigger(availableNow=True)
        writer.start().awaitTermination()
        print(f"kafka_stream: {args.topic} -> {args.output}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
