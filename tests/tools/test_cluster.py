"""sc-status, sc-submit and sc-kill against the real local cluster."""
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import (JOBS, NOTEBOOK_JOBS, find_app, find_driver, master_json, run, tool,
                      wait_for)

pytestmark = pytest.mark.cluster


def history_app(app_id):
    url = f"{os.environ['SC_HISTORY_URL']}/api/v1/applications/{app_id}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError:
        return None


def start_submit(*args, id_file):
    """sc-submit in the background, as a pipeline would start it."""
    return subprocess.Popen([tool("sc-submit"), "-i", str(id_file), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_running(proc, id_file):
    def app_running():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        if not id_file.exists():
            return None
        app_id = id_file.read_text().strip()
        app = find_app(app_id)
        return app_id if app and app["state"] == "RUNNING" else None
    return wait_for(app_running, timeout=90, what="the application to run")


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    return proc.communicate(timeout=60)


# ---- sc-status


def test_status_shows_both_workers(cluster):
    proc = run("sc-status")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    # stdout is a pipe here: TSV, every row led by its kind
    assert rows[0][0] == "master" and rows[0][1] == cluster["SC_MASTER"]
    assert rows[0][2] == "ALIVE"
    workers = [r for r in rows if r[0] == "worker"]
    # a worker restarted by another test is listed DEAD for a while too
    listed = master_json()["workers"]
    assert {(r[1], r[3], r[6]) for r in workers} == \
        {(w["id"], w["state"], w["webuiaddress"]) for w in listed}
    assert sum(r[3] == "ALIVE" for r in workers) == 2


def test_status_json_lines(cluster):
    proc = run("sc-status", "-J", "--all")
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert objs[0]["type"] == "master" and objs[0]["aliveworkers"] == 2
    workers = [o for o in objs if o["type"] == "worker"]
    assert {(o["id"], o["state"]) for o in workers} == \
        {(w["id"], w["state"]) for w in master_json()["workers"]}
    assert sum(o["state"] == "ALIVE" for o in workers) == 2


def test_status_text_table_on_a_terminal(cluster):
    # script(1) gives the tool a terminal for stdout
    proc = subprocess.run(["script", "-qec", f"{tool('sc-status')}", "/dev/null"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "WORKER" in proc.stdout
    assert "APPLICATION" in proc.stdout or "No running applications." in proc.stdout
    assert "\t" not in proc.stdout


def test_wait_returns_when_ready(cluster):
    proc = run("sc-status", "--wait=30", "-q")
    assert proc.returncode == 0 and proc.stdout == ""
    proc = run("sc-status", "--wait=30", "--workers", "2", "-J")
    assert proc.returncode == 0
    assert json.loads(proc.stdout.splitlines()[0])["aliveworkers"] == 2


def test_wait_for_more_workers_than_exist_times_out(cluster):
    start = time.monotonic()
    proc = run("sc-status", "--wait=3", "--workers", "3")
    assert proc.returncode == 75
    assert "2 alive worker(s)" in proc.stderr
    assert time.monotonic() - start < 15


# ---- sc-submit


def test_pi_runs_and_reaches_the_history_server(cluster, tmp_path):
    id_file = tmp_path / "app.id"
    proc = run("sc-submit", "-i", id_file, NOTEBOOK_JOBS / "pi.py", "4", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Pi is roughly 3.1" in proc.stdout
    app_id = id_file.read_text().strip()
    assert app_id.startswith("app-")
    assert f"sc-submit: application {app_id}: " in proc.stderr
    app = wait_for(lambda: find_app(app_id), timeout=30, what="the master to list the app")
    assert app["state"] == "FINISHED" and app["name"] == "pi"
    logs = list(Path(cluster["SC_EVENTS_DIR"]).glob(f"*{app_id}*"))
    assert logs, "no event log in the events dir"
    # the history server lists it while the log is in progress, then completed
    hist = wait_for(lambda: (h := history_app(app_id)) and h["attempts"][0]["completed"] and h,
                    timeout=60, what="the history server to list the app as completed")
    assert hist["name"] == "pi"


QUIET_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


def test_app_id_found_when_the_log_is_quieter_than_info(cluster, tmp_path):
    # A log4j2 configuration at WARN hides spark-submit's line with the
    # application id: sc-submit asks the master for the one new application.
    conf = tmp_path / "log4j2.properties"
    conf.write_text(QUIET_LOG4J2)
    id_file = tmp_path / "app.id"
    proc = run("sc-submit", "-i", id_file, "--driver-java-options",
               f"-Dlog4j2.configurationFile=file:{conf}", NOTEBOOK_JOBS / "pi.py", "2",
               timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert " INFO " not in proc.stderr and "with app ID" not in proc.stderr, proc.stderr[-3000:]
    app_id = id_file.read_text().strip()
    assert f"sc-submit: application {app_id}: " in proc.stderr
    app = wait_for(lambda: find_app(app_id), timeout=30, what="the master to list the app")
    assert app["name"] == "pi" and app["state"] == "FINISHED"


def test_arguments_and_defaults_reach_the_job(cluster):
    tricky = ["a b", "it's", '"q"', "$(echo hi)", "*", "--name", "", "ü"]
    proc = run("sc-submit", JOBS / "argv.py", *tricky, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines()
                 if line.startswith(("ARGV ", "CONF ")))
    assert json.loads(lines["ARGV"]) == tricky
    conf = json.loads(lines["CONF"])
    assert conf["spark.app.name"] == "argv"
    assert conf["spark.executor.memory"] == "512m"
    assert conf["spark.eventLog.enabled"] == "true"
    assert conf["spark.eventLog.dir"] == "file://" + cluster["SC_EVENTS_DIR"]
    assert conf["spark.master"] == cluster["SC_MASTER"]


def test_failing_job_exits_1(cluster):
    proc = run("sc-submit", JOBS / "fail.py", timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "deliberate failure" in proc.stderr


def test_sigterm_stops_the_application_on_the_cluster(cluster, tmp_path):
    id_file = tmp_path / "app.id"
    proc = start_submit("--name", f"sleeper-{uuid.uuid4().hex[:8]}", JOBS / "sleeper.py",
                        id_file=id_file)
    try:
        app_id = wait_running(proc, id_file)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
    finally:
        stop(proc)
    assert proc.returncode == 128 + signal.SIGTERM
    assert f"stopping application {app_id}" in err
    app = wait_for(lambda: (a := find_app(app_id)) and not (a["state"] == "RUNNING") and a,
                   timeout=60, what="the application to end")
    # killed through the master: a SIGTERM merely passed on to spark-submit
    # would have let the driver stop its context and end FINISHED
    assert app["state"] == "KILLED"


# ---- sc-kill


def test_kill_by_id_then_again(cluster, tmp_path):
    id_file = tmp_path / "app.id"
    proc = start_submit(JOBS / "sleeper.py", id_file=id_file)
    try:
        app_id = wait_running(proc, id_file)
        k = run("sc-kill", app_id)
        assert k.returncode == 0, k.stderr
        assert k.stdout == f"app\t{app_id}\tkilled\tKILLED\n"
        assert find_app(app_id)["state"] == "KILLED"
        again = run("sc-kill", "-J", app_id)
        assert again.returncode == 2
        assert json.loads(again.stdout)["outcome"] == "already-ended"
        assert "already ended (KILLED)" in again.stderr
        _, err = proc.communicate(timeout=90)
        # the job's own status: a Python driver whose context was killed exits 1
        assert proc.returncode == 1, err[-3000:]
    finally:
        stop(proc)


def test_kill_by_name(cluster, tmp_path):
    name = f"sleeper-{uuid.uuid4().hex[:8]}"
    id_file = tmp_path / "app.id"
    proc = start_submit("--name", name, JOBS / "sleeper.py", id_file=id_file)
    try:
        app_id = wait_running(proc, id_file)
        dry = run("sc-kill", "-n", "--name", name[:10] + "*")
        assert dry.returncode == 0
        assert dry.stdout == f"app\t{app_id}\twould-kill\tRUNNING\n"
        assert find_app(app_id)["state"] == "RUNNING"
        k = run("sc-kill", "--name", name[:10] + "*")
        assert k.returncode == 0, k.stderr
        assert find_app(app_id)["state"] == "KILLED"
    finally:
        stop(proc)


def test_kill_by_name_refuses_several_without_all(cluster, tmp_path):
    name = f"twin-{uuid.uuid4().hex[:8]}"
    procs, ids = [], []
    try:
        for i in range(2):
            id_file = tmp_path / f"app{i}.id"
            procs.append(start_submit("--name", name, "--total-executor-cores", "1",
                                      JOBS / "sleeper.py", id_file=id_file))
            ids.append(wait_running(procs[-1], id_file))
        refused = run("sc-kill", "--name", name)
        assert refused.returncode == 1
        assert all(app_id in refused.stderr for app_id in ids)
        assert "--all" in refused.stderr
        assert all(find_app(a)["state"] == "RUNNING" for a in ids)
        k = run("sc-kill", "--name", name, "--all", "-J")
        assert k.returncode == 0, k.stderr
        assert sorted(json.loads(line)["id"] for line in k.stdout.splitlines()) == sorted(ids)
        assert all(find_app(a)["state"] == "KILLED" for a in ids)
    finally:
        # a failure above must not leave them holding cores for the next tests
        for app_id in ids:
            if (find_app(app_id) or {}).get("state") == "RUNNING":
                run("sc-kill", app_id, check_sanitizers=False)
        for p in procs:
            stop(p)


def test_kill_unknown_application(cluster):
    proc = run("sc-kill", "app-19700101000000-9999")
    assert proc.returncode == 1
    assert "no such application" in proc.stderr


# ---- sc-submit --rest and cluster-mode drivers


def test_rest_submission_runs_to_finished(cluster, jar):
    proc = run("sc-submit", "--rest", "--wait", "--class", "Pi", jar, "200000", timeout=300)
    assert proc.returncode == 0, proc.stderr
    driver_id, state = proc.stdout.strip().split("\t")
    assert driver_id.startswith("driver-") and state == "FINISHED"
    assert "RUNNING" in proc.stderr or "SUBMITTED" in proc.stderr
    assert find_driver(driver_id)["state"] == "FINISHED"


def test_rest_failed_driver_exits_1(cluster, jar):
    proc = run("sc-submit", "--rest", "--wait", "--class", "Pi", jar, "fail", timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip().endswith("\tFAILED")


@pytest.mark.parametrize("via", ["ui", "rest"])
def test_kill_driver(cluster, jar, via):
    sub = run("sc-submit", "--rest", "--class", "Pi", jar, "sleep", "600")
    assert sub.returncode == 0, sub.stderr
    driver_id = sub.stdout.strip()
    wait_for(lambda: (find_driver(driver_id) or {}).get("state") == "RUNNING",
             timeout=60, what="the driver to run")
    args = ["--rest"] if via == "rest" else []
    k = run("sc-kill", *args, "--driver", driver_id)
    assert k.returncode == 0, k.stderr
    assert k.stdout == f"driver\t{driver_id}\tkilled\tKILLED\n"
    again = run("sc-kill", "--driver", driver_id)
    assert again.returncode == 2
