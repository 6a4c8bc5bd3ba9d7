"""Count the words of the text files in a datain directory; write the counts
to a dataout directory as CSV.

Usage: wordcount.py [INPUT [OUTPUT]]

INPUT    a directory of text files, a file, or a glob, read as text
         (default $SC_DATAIN, else /opt/workspace/datain)
OUTPUT   where the counts go (default $SC_DATAOUT/wordcount, else
         /opt/workspace/dataout/wordcount)

What a word is: the input is lowercased, then every maximal run of the
letters a-z (after lowercasing) is one word; everything else (digits,
punctuation, apostrophes, whitespace, non-ASCII letters) separates words.
So "Don't stop: 2 STOPS" counts don 1, t 1, stop 1, stops 1.

The output is one CSV file with a header, `word,count`, sorted by count
(descending) then word, written through coalesce(1) by Spark's own output
committer: Spark writes into OUTPUT/_temporary and moves the part file into
OUTPUT only when the job commits, then writes OUTPUT/_SUCCESS. A reader
should wait for _SUCCESS. An existing OUTPUT is replaced.
"""
import os
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

WORD = "[a-z]+"


def default_input():
    return os.environ.get("SC_DATAIN") or "/opt/workspace/datain"


def default_output():
    return os.path.join(os.environ.get("SC_DATAOUT") or "/opt/workspace/dataout", "wordcount")


def count_words(lines):
    """A DataFrame of text lines (column `value`) -> (word, count)."""
    words = lines.select(F.explode(F.regexp_extract_all(F.lower("value"), F.lit(WORD), 0))
                         .alias("word"))
    return words.groupBy("word").count().orderBy(F.desc("count"), "word")


def main():
    if len(sys.argv) > 3 or (len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 64)
    source = sys.argv[1] if len(sys.argv) > 1 else default_input()
    target = sys.argv[2] if len(sys.argv) > 2 else default_output()
    spark = SparkSession.builder.appName("wordcount").getOrCreate()
    try:
        lines = spark.read.option("recursiveFileLookup", "true").text(source)
        counts = count_words(lines)
        counts.coalesce(1).write.mode("overwrite").option("header", "true").csv(target)
        print(f"wordcount: {source} -> {target}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
