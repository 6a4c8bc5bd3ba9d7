"""scripts/local-cluster: the real cluster the other tests run against."""
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT, master_json

pytestmark = pytest.mark.cluster
SCRIPT = str(ROOT / "scripts" / "local-cluster")


def local_cluster(*args, timeout=240):
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=timeout)


def test_status_lists_every_component_running(cluster):
    proc = local_cluster("status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    names = [r[0] for r in rows]
    for name in ("spark-master", "spark-worker1", "spark-worker2", "spark-history",
                 "kafka-broker"):
        assert name in names
    assert all("running" in r for r in rows), rows


def test_env_points_at_this_cluster(cluster):
    proc = local_cluster("env")
    assert proc.returncode == 0
    exported = {}
    for line in proc.stdout.splitlines():
        assert line.startswith("export ")
        name, _, value = line[len("export "):].partition("=")
        exported[name] = subprocess.run(["sh", "-c", f"printf %s {value}"],
                                        capture_output=True, text=True).stdout
    for key in ("SC_MASTER", "SC_MASTER_UI", "SC_REST_URL", "SC_HISTORY_URL",
                "SC_EVENTS_DIR", "SC_BROKERS", "SPARK_HOME"):
        assert exported[key] == os.environ[key], key
    assert exported["SC_EVENTS_DIR"].startswith(os.environ["SC_STATE_DIR"])


def test_up_again_is_harmless(cluster):
    before = local_cluster("status").stdout
    start = time.monotonic()
    proc = local_cluster("up")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - start < 20
    assert local_cluster("status").stdout == before
    assert master_json()["aliveworkers"] == 2


def test_history_server_and_rest_server_answer(cluster):
    with urllib.request.urlopen(os.environ["SC_HISTORY_URL"] + "/api/v1/version", timeout=10) as r:
        assert "spark" in json.load(r)
    with urllib.request.urlopen(os.environ["SC_REST_URL"] + "/v1/submissions/status/none",
                                timeout=10) as r:
        reply = json.load(r)
    assert reply["action"] == "SubmissionStatusResponse" and reply["success"] is False


def test_kafka_broker_answers_metadata(cluster):
    proc = subprocess.run(["kcat", "-b", os.environ["SC_BROKERS"], "-L", "-J", "-m", "10"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(proc.stdout)
    assert [b["name"] for b in meta["brokers"]] == [os.environ["SC_BROKERS"]]
