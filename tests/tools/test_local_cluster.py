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


# ---- shapes: checked without starting anything, in a state dir of their own

def shape_env(tmp_path, **shape):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SC_LOCAL_") and k != "SC_STATE_DIR"}
    env.update(SC_STATE_DIR=str(tmp_path / "state"), SC_LOCAL_PORT_OFFSET="5", **shape)
    return env


def exported(stdout):
    out = {}
    for line in stdout.splitlines():
        name, _, value = line[len("export "):].partition("=")
        out[name] = subprocess.run(["sh", "-c", f"printf %s {value}"],
                                   capture_output=True, text=True).stdout
    return out


def run_script(env, *args):
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("var, value, why", [
    ("SC_LOCAL_MASTERS", "3", "SC_LOCAL_MASTERS=3: use 1 or 2"),
    ("SC_LOCAL_MASTERS", "0", "SC_LOCAL_MASTERS=0: use 1 or 2"),
    ("SC_LOCAL_WORKERS", "9", "SC_LOCAL_WORKERS=9: not a number from 1 to 8"),
    ("SC_LOCAL_WORKERS", "0", "SC_LOCAL_WORKERS=0: not a number from 1 to 8"),
    ("SC_LOCAL_WORKERS", "two", "SC_LOCAL_WORKERS=two: not a number from 1 to 8"),
    ("SC_LOCAL_KAFKA_BROKERS", "2", "SC_LOCAL_KAFKA_BROKERS=2: use 1 or 3"),
])
def test_bad_shape_is_a_usage_error(tmp_path, var, value, why):
    for command in ("up", "env", "status"):
        proc = run_script(shape_env(tmp_path, **{var: value}), command)
        assert proc.returncode == 64, (command, proc.stderr)
        assert proc.stderr.splitlines() == [f"local-cluster: {why}",
                                            "Try 'local-cluster --help'"], proc.stderr
        assert proc.stdout == ""
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("args, why", [
    (["stop"], "stop: missing the component's name"),
    (["start"], "start: missing the component's name"),
    (["stop", "--kill"], "stop: missing the component's name"),
    (["start", "--kill", "spark-master"], "start: unknown option: --kill"),
    (["stop", "spark-master", "spark-worker1"], "stop takes one component's name"),
    (["stop", "nosuch"], "nosuch: not a component of this cluster (see 'local-cluster status')"),
    (["start", "spark-master2"], "spark-master2: not a component of this cluster"),
    (["stop", "--kill", "kafka-broker3"], "kafka-broker3: not a component of this cluster"),
    (["start", "spark-worker3"], "spark-worker3: not a component of this cluster"),
    (["status", "spark-master"], "status takes no arguments"),
])
def test_stop_and_start_usage_errors(tmp_path, args, why):
    proc = run_script(shape_env(tmp_path), *args)
    assert proc.returncode == 64, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-1] == "Try 'local-cluster --help'" and why in lines[-2], proc.stderr


def test_stop_of_what_does_not_run_is_harmless(tmp_path):
    proc = run_script(shape_env(tmp_path, SC_LOCAL_KAFKA_BROKERS="3"), "stop", "--kill",
                      "kafka-broker3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "local-cluster: kafka-broker3 is not running\n"


def test_help_documents_the_shapes():
    proc = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for text in ("SC_LOCAL_MASTERS", "SC_LOCAL_WORKERS", "SC_LOCAL_KAFKA_BROKERS",
                 "stop [--kill] NAME", "start NAME", "spark-master2   7078, web UI 8090, REST 6067",
                 "zookeeper       2181", "kafka-broker3   9096, controller 9097"):
        assert text in proc.stdout, text


def test_env_of_the_big_shape_lists_masters_and_brokers_in_order(tmp_path):
    env = shape_env(tmp_path, SC_LOCAL_MASTERS="2", SC_LOCAL_WORKERS="8",
                    SC_LOCAL_KAFKA_BROKERS="3")
    proc = run_script(env, "env")
    assert proc.returncode == 0, proc.stderr
    got = exported(proc.stdout)
    assert got["SC_MASTER"] == "spark://127.0.0.1:7082,127.0.0.1:7083"
    assert got["SC_MASTER_UI"] == "http://127.0.0.1:8085,http://127.0.0.1:8095"
    assert got["SC_REST_URL"] == "http://127.0.0.1:6071,http://127.0.0.1:6072"
    assert got["SC_BROKERS"] == "127.0.0.1:9097,127.0.0.1:9099,127.0.0.1:9101"
    proc = run_script(env, "status")
    assert proc.returncode == 3
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r[0] for r in rows] == [
        "zookeeper", "spark-master", "spark-master2", *(f"spark-worker{i}" for i in range(1, 9)),
        "spark-history", "kafka-broker", "kafka-broker2", "kafka-broker3"]
    assert {r[2] for r in rows} == {"stopped"}
    assert rows[0][3] == "127.0.0.1:2186" and rows[10][3] == "http://127.0.0.1:8093"


def test_the_shape_up_remembered_is_the_default_of_the_other_commands(tmp_path):
    env = shape_env(tmp_path)
    (tmp_path / "state" / "run").mkdir(parents=True)
    (tmp_path / "state" / "run" / "shape").write_text(
        "masters=2\nworkers=3\nkafka_brokers=3\nkafka=1\nport_offset=300\n")
    del env["SC_LOCAL_PORT_OFFSET"]
    got = exported(run_script(env, "env").stdout)
    assert got["SC_MASTER"] == "spark://127.0.0.1:7377,127.0.0.1:7378"
    assert got["SC_BROKERS"].count(",") == 2
    names = [line.split("\t")[0] for line in run_script(env, "status").stdout.splitlines()]
    assert "spark-worker3" in names and "spark-worker4" not in names
    # The environment still wins.
    got = exported(run_script(dict(env, SC_LOCAL_MASTERS="1"), "env").stdout)
    assert got["SC_MASTER"] == "spark://127.0.0.1:7377"


# ---- the big shape itself (scripts/run-tests' big stage)

def master_states():
    states = []
    for url in os.environ["SC_MASTER_UI"].split(","):
        try:
            with urllib.request.urlopen(url + "/json/", timeout=5) as r:
                j = json.load(r)
            states.append((j["status"], j["aliveworkers"]))
        except OSError:
            states.append((None, 0))
    return states


@pytest.mark.big
def test_big_shape_runs_every_component(cluster):
    # (the failover itself is test_failover.py's)
    proc = local_cluster("status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert names[:3] == ["zookeeper", "spark-master", "spark-master2"] and len(names) == 15
    assert sorted(master_states()) == [("ALIVE", 8), ("STANDBY", 0)], master_states()
