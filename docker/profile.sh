# shellcheck shell=sh
# /etc/profile.d/clusterops.sh: login shells (JupyterLab's terminals, `bash
# -l`, su -) get the PATH and Spark settings the image's environment has;
# /etc/profile resets PATH before it reads this.
case ":$PATH:" in
*:/opt/venv/bin:*) ;;
*) PATH=/opt/venv/bin:$PATH ;;
esac
export PATH
export SPARK_HOME="${SPARK_HOME:-/opt/spark}"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-/etc/spark}"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-/opt/venv/bin/python}"
