#!/bin/sh
# The familiar wrapper: submit a job to the cluster with its defaults.
#   notebooks/jobs/spark-submit.sh pi.py 20
# Everything is passed to sc-submit, which adds the master, event logging
# and executor memory unless they are given here.
exec sc-submit "$@"
