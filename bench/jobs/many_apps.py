"""Register many small applications with a Spark standalone master.

Usage: many_apps.py COUNT PREFIX

Each application is a real SparkContext that registers with the master
given by spark-submit (its event log is written as for any other
application), asks for no executor (spark.cores.max=0), and stops: the
master then lists it as FINISHED. One JVM runs them one after another, so
that each costs a SparkContext's start and stop rather than a JVM's.
"""
import sys
import time

from pyspark import SparkConf, SparkContext

count = int(sys.argv[1])
prefix = sys.argv[2]
started = time.monotonic()
for i in range(count):
    conf = (
        SparkConf()
        .setAppName(f"{prefix}-{i:05d}")
        .set("spark.cores.max", "0")
        .set("spark.ui.enabled", "false")
        .set("spark.driver.log.persistToDfs.enabled", "false")
    )
    sc = SparkContext(conf=conf)
    sc.stop()
    if (i + 1) % 250 == 0:
        rate = (i + 1) / (time.monotonic() - started)
        print(f"many_apps: {i + 1} of {count} ({rate:.1f}/s)", file=sys.stderr, flush=True)
