"""Estimate pi by throwing darts at a unit square, spread over the cluster.

Usage: pi.py [PARTITIONS]   (default 10; 100,000 darts per partition)
"""
import random
import sys
from operator import add

from pyspark.sql import SparkSession

DARTS_PER_PARTITION = 100_000


def hit(_):
    x, y = random.random() * 2 - 1, random.random() * 2 - 1
    return 1 if x * x + y * y <= 1 else 0


def main():
    partitions = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    n = DARTS_PER_PARTITION * partitions
    spark = SparkSession.builder.appName("pi").getOrCreate()
    try:
        count = spark.sparkContext.parallelize(range(n), partitions).map(hit).reduce(add)
        print(f"Pi is roughly {4.0 * count / n:.5f}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
