"""Prints its arguments as JSON on stdout, one list, so a test can compare them."""
import json
import sys

from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
print("ARGV " + json.dumps(sys.argv[1:]))
print("CONF " + json.dumps({k: v for k, v in spark.sparkContext.getConf().getAll()
                            if k in ("spark.app.name", "spark.executor.memory",
                                     "spark.eventLog.enabled", "spark.eventLog.dir",
                                     "spark.master")}))
spark.stop()
