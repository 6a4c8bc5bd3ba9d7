"""A driver that prints numbered lines while its session runs: "tick 0" to
"tick N-1" on stdout, one each INTERVAL seconds, after a first stage.

Usage: ticker.py [N [INTERVAL]] (default 20 lines, 0.5 s apart)."""
import sys
import time

from pyspark.sql import SparkSession

n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
spark = SparkSession.builder.getOrCreate()
spark.sparkContext.parallelize(range(2), 2).count()
for i in range(n):
    print(f"tick {i}", flush=True)
    time.sleep(interval)
spark.stop()
