"""A job that runs until it is killed: tasks sleep for a long time."""
import sys
import time

from pyspark.sql import SparkSession

seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 600
spark = SparkSession.builder.getOrCreate()
spark.sparkContext.parallelize(range(2), 2).map(lambda _: time.sleep(seconds)).count()
spark.stop()
