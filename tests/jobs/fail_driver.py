"""A job whose driver fails after a stage ran: a RuntimeError with the
message given as the first argument (its traceback is in the driver's
output only), after a line on stdout naming it too."""
import sys

from pyspark.sql import SparkSession

message = sys.argv[1] if len(sys.argv) > 1 else "driver failure"
spark = SparkSession.builder.getOrCreate()
try:
    total = spark.sparkContext.parallelize(range(10), 2).sum()
    print(f"stage done: {total} ({message})")
    raise RuntimeError(message)
finally:
    spark.stop()
