"""sc-logs on the big shape: an application with one executor on each of
eight workers."""
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import JOBS, run, tool, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.big]
WORKERS = 8
LINES = 200


def alive_workers():
    proc = run("sc-status", "-J")
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines()
            if '"type":"worker"' in line and '"state":"ALIVE"' in line]


@pytest.fixture(scope="module")
def spread_app(tmp_path_factory, cluster):
    assert len(alive_workers()) >= WORKERS, "the big shape has eight workers"
    id_file = tmp_path_factory.mktemp("big-logs") / f"{uuid.uuid4().hex}.id"
    # one 1-core executor a worker, and no task before all eight are there:
    # each task then runs on an executor of its own
    cmd = [tool("sc-submit"), "-q", "-i", str(id_file),
           "--total-executor-cores", str(WORKERS), "--executor-cores", "1",
           "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
           "--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=300s",
           str(JOBS / "chatty.py"), str(LINES), "4", str(WORKERS)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return id_file.read_text().strip()


def test_every_worker_every_line(spread_app):
    proc = run("sc-logs", "--both", "--no-driver-log", spread_app, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = [line.split("\t", 3) for line in proc.stdout.splitlines()]
    assert len({r[0] for r in got}) == WORKERS, {r[0] for r in got}
    files = list((Path(os.environ["SC_STATE_DIR"]) / "work").glob(f"worker*/{spread_app}/*/std*"))
    assert len(files) == 2 * WORKERS, files
    for f in files:
        printed = [r[3] for r in got if r[1] == f.parent.name and r[2] == f.name]
        assert printed == f.read_text(errors="replace").splitlines(), f
    # each task's lines, whole and in order, on an executor of its own
    tasks = {}
    for worker in {r[0] for r in got}:
        lines = [r[3] for r in got if r[0] == worker and r[2] == "stdout"]
        assert len(lines) == LINES, (worker, len(lines))
        task = re.match(r"MARKER out task=(\d+)", lines[0]).group(1)
        assert lines == [f"MARKER out task={task} line={i}" for i in range(LINES)]
        tasks[task] = worker
    assert sorted(tasks) == [str(t) for t in range(WORKERS)]


def test_json_lines_name_every_worker(spread_app):
    proc = run("sc-logs", "-J", "--stdout", "--no-driver-log", spread_app, timeout=300)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) == WORKERS * LINES
    assert len({r["worker"] for r in records}) == WORKERS
