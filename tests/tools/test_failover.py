"""A real failover: the ALIVE master of two under ZooKeeper is killed.

Needs the local cluster's big shape (SC_LOCAL_MASTERS=2: ZooKeeper and two
masters; scripts/local-cluster). One failover serves every test here: two
applications are started, the ALIVE master is killed, then each test looks
at one consequence. The master is started again at the end, as STANDBY.
"""
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import JOBS, ROOT, run, tool, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.big]

LOCAL_CLUSTER = ROOT / "scripts" / "local-cluster"
# The new master must be ALIVE with its workers within this: ZooKeeper's
# session expiry, then Spark's recovery (workers and drivers answering).
RECOVERY_SECONDS = 120


def status():
    proc = run("sc-status", "-J", "--all")
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def app_state(app_id):
    for o in status():
        if o["type"] == "app" and o["id"] == app_id:
            return o["state"]
    return None


def component_of(ui):
    """The local-cluster component whose master UI this is."""
    uis = os.environ["SC_MASTER_UI"].split(",")
    spark = ["spark://" + h for h in os.environ["SC_MASTER"].removeprefix("spark://").split(",")]
    want = spark[uis.index(ui)]
    out = subprocess.run([str(LOCAL_CLUSTER), "status"], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        fields = line.split("\t")
        if fields[0].startswith("spark-master") and fields[-1] == want:
            return fields[0]
    raise AssertionError(f"no master component for {ui} ({want}) in:\n{out}")


def submit(tmp_path, name, *job):
    id_file = tmp_path / f"{name}.id"
    proc = subprocess.Popen([tool("sc-submit"), "-i", str(id_file), "--name", name,
                             "--conf", "spark.cores.max=2", *map(str, job)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, id_file


def running(proc, id_file):
    def check():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        if not id_file.exists():
            return None
        app_id = id_file.read_text().strip()
        return app_id if app_id and app_state(app_id) == "RUNNING" else None
    return wait_for(check, timeout=180, what="the application to run")


@pytest.fixture(scope="module")
def failover(tmp_path_factory):
    if len(os.environ.get("SC_MASTER_UI", "").split(",")) != 2:
        pytest.fail("needs the local cluster with two masters (SC_LOCAL_MASTERS=2)")
    ready = run("sc-status", f"--wait={RECOVERY_SECONDS}", "-q", timeout=RECOVERY_SECONDS + 30)
    assert ready.returncode == 0, ready.stderr
    tmp = tmp_path_factory.mktemp("failover")
    tag = uuid.uuid4().hex[:8]
    # one to kill after the failover, one that ends by itself after it
    victim, victim_id = submit(tmp, f"victim-{tag}", JOBS / "sleeper.py", 600)
    survivor, survivor_id = submit(tmp, f"survivor-{tag}", JOBS / "sleeper.py", 75)
    stopped = None
    try:
        victim_app = running(victim, victim_id)
        survivor_app = running(survivor, survivor_id)
        before = status()[0]
        assert before["status"] == "ALIVE", before
        stopped = component_of(before["master_ui"])
        subprocess.run([str(LOCAL_CLUSTER), "stop", "--kill", stopped], check=True,
                       capture_output=True)
        killed_at = time.monotonic()
        wait = run("sc-status", f"--wait={RECOVERY_SECONDS}", "-J",
                   timeout=RECOVERY_SECONDS + 30)
        seconds = time.monotonic() - killed_at
        print(f"\nfailover: {stopped} killed; sc-status --wait saw the other master "
              f"ALIVE with its workers after {seconds:.1f} s "
              f"(load average {os.getloadavg()[0]:.1f})")
        yield {"before": before, "stopped": stopped, "wait": wait, "seconds": seconds,
               "victim": (victim, victim_app), "survivor": (survivor, survivor_app),
               "tmp": tmp}
    finally:
        # an ALIVE master to kill what is left through, then the stopped one back
        run("sc-status", f"--wait={RECOVERY_SECONDS}", "-q", timeout=RECOVERY_SECONDS + 30)
        for proc, id_file in ((victim, victim_id), (survivor, survivor_id)):
            if proc.poll() is None and id_file.exists():
                run("sc-kill", id_file.read_text().strip())
            if proc.poll() is None:
                proc.terminate()    # sc-submit stops its spark-submit
            proc.communicate(timeout=120)
        if stopped:
            subprocess.run([str(LOCAL_CLUSTER), "start", stopped], capture_output=True)


def test_status_wait_reports_the_new_alive_master(failover):
    wait = failover["wait"]
    assert wait.returncode == 0, wait.stderr
    master = json.loads(wait.stdout.splitlines()[0])
    old_ui = failover["before"]["master_ui"]
    assert master["status"] == "ALIVE"
    assert master["master_ui"] != old_ui
    assert master["master_ui"] in os.environ["SC_MASTER_UI"].split(",")
    [other] = master["other_masters"]
    assert other["master_ui"] == old_ui and other["status"] is None
    assert f"{old_ui}/json/: Connection refused" in other["error"]
    assert failover["seconds"] < RECOVERY_SECONDS


def test_human_status_names_the_master_used(failover):
    master = json.loads(failover["wait"].stdout.splitlines()[0])
    tsv = run("sc-status")
    assert tsv.returncode == 0, tsv.stderr
    rows = [line.split("\t") for line in tsv.stdout.splitlines()]
    assert rows[0][0] == "master" and rows[0][2] == "ALIVE"
    assert rows[0][-1] == master["master_ui"]
    assert rows[1][:3] == ["othermaster", failover["before"]["master_ui"], "-"]


def test_running_application_is_recovered_and_protected_from_prune(failover):
    _, app_id = failover["victim"]
    wait_for(lambda: app_state(app_id) == "RUNNING", timeout=RECOVERY_SECONDS,
             what="the application to be RUNNING at the new master")
    events = Path(os.environ["SC_EVENTS_DIR"])
    copy = failover["tmp"] / "events"
    shutil.copytree(events, copy, symlinks=True)
    ours = {p.name for p in copy.iterdir() if app_id in p.name}
    assert ours, sorted(p.name for p in copy.iterdir())
    proc = run("sc-events-prune", "-d", copy, "--all")
    assert proc.returncode == 0, proc.stderr
    assert "application running" in proc.stderr
    assert ours <= {p.name for p in copy.iterdir()}


def test_job_submitted_before_the_failover_finishes_0(failover):
    proc, app_id = failover["survivor"]
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert app_state(app_id) == "FINISHED"


def test_kill_after_the_failover(failover):
    proc, app_id = failover["victim"]
    master = json.loads(failover["wait"].stdout.splitlines()[0])
    wait_for(lambda: app_state(app_id) == "RUNNING", timeout=RECOVERY_SECONDS,
             what="the application to be RUNNING at the new master")
    kill = run("sc-kill", "-J", app_id)
    assert kill.returncode == 0, kill.stderr
    out = json.loads(kill.stdout)
    assert out["outcome"] == "killed" and out["master_ui"] == master["master_ui"]
    assert out["state"] == "KILLED" and app_state(app_id) == "KILLED"
    _, err = proc.communicate(timeout=120)
    # the job's own status: a Python driver whose context was killed exits 1
    assert proc.returncode == 1, err[-3000:]
