"""Fill executor logs for the sc-logs benchmark.

Usage: loud.py TASKS MEGABYTES: each of TASKS tasks appends MEGABYTES MiB of
numbered lines to its executor's stderr log (the file "stderr" in the
executor's directory, which is the Python worker's working directory).
"""
import os
import sys

from pyspark.sql import SparkSession

tasks = int(sys.argv[1])
megabytes = int(sys.argv[2])


def fill(task):
    line = f"task={task} " + "x" * 90 + "\n"
    block = "".join(f"{i:08d} {line}" for i in range(1000))
    with open(os.path.join(os.getcwd(), "stderr"), "a") as log:
        for _ in range(megabytes * 1024 * 1024 // len(block) + 1):
            log.write(block)
    return task


spark = SparkSession.builder.getOrCreate()
spark.sparkContext.parallelize(range(tasks), tasks).map(fill).collect()
spark.stop()
