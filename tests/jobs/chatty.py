"""Executors write numbered marker lines to their stdout and stderr logs.

Usage: chatty.py LINES [SECONDS [TASKS]]: each of TASKS tasks (default 2)
writes LINES lines to both logs, spread over SECONDS (default 0), then the
job ends.

A Python worker's own stdout is its pipe to the executor, and what it
prints lands in the executor's stderr log; the executor's stdout log is the
file "stdout" in the executor's directory, the working directory of the
executor process, an ancestor of this one.
"""
import os
import sys
import time

from pyspark.sql import SparkSession

lines = int(sys.argv[1]) if len(sys.argv) > 1 else 100
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 2


def executor_dir():
    """The working directory of the nearest ancestor that has the logs."""
    pid = os.getpid()
    for _ in range(8):
        cwd = os.readlink(f"/proc/{pid}/cwd")
        if all(os.path.isfile(os.path.join(cwd, f)) for f in ("stdout", "stderr")):
            return cwd
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no executor directory among this process's ancestors")


def chat(task):
    with open(os.path.join(executor_dir(), "stdout"), "a", buffering=1) as out:
        for i in range(lines):
            out.write(f"MARKER out task={task} line={i}\n")
            print(f"MARKER err task={task} line={i}", file=sys.stderr, flush=True)
            if seconds:
                time.sleep(seconds / lines)
    return task


spark = SparkSession.builder.getOrCreate()
spark.sparkContext.parallelize(range(tasks), tasks).map(chat).collect()
spark.stop()
