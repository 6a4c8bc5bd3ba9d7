"""A job that fails on the cluster: a task raises."""
from pyspark.sql import SparkSession


def boom(x):
    raise ValueError(f"deliberate failure on element {x}")


spark = SparkSession.builder.getOrCreate()
try:
    spark.sparkContext.parallelize(range(4), 2).map(boom).count()
finally:
    spark.stop()
