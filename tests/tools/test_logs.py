"""sc-logs against a real two-executor application on the two workers."""
import io
import json
import os
import re
import subprocess
import tarfile
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from conftest import JOBS, ROOT, assert_usage, find_app, master_json, run, tool, wait_for

pytestmark = pytest.mark.cluster
LINES = 300
# One executor per worker, one task per executor.
SPREAD = ["--total-executor-cores", "2", "--executor-cores", "1"]
PLAIN = os.environ.get("SC_TEST_PLAIN_BIN")


def submit(tmp_path, *args, wait=True):
    id_file = tmp_path / f"{uuid.uuid4().hex}.id"
    cmd = [tool("sc-submit"), "-q", "-i", str(id_file), *SPREAD, str(JOBS / "chatty.py"),
           *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    app_id = wait_for(lambda: id_file.exists() and id_file.read_text().strip(), timeout=120,
                      what="the application id")
    if wait:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    return app_id, proc


@pytest.fixture(scope="module")
def finished_app(tmp_path_factory, cluster):
    app_id, _ = submit(tmp_path_factory.mktemp("chatty"), LINES)
    return app_id


def rows(stdout):
    return [line.split("\t", 3) for line in stdout.splitlines()]


def log_files(app_id, stream="std*"):
    """The executors' log files of an application, as the workers wrote them."""
    return list((Path(os.environ["SC_STATE_DIR"]) / "work").glob(f"worker*/{app_id}/*/{stream}"))


def assert_every_line(app_id, got):
    """Every line of every log, as the worker's file holds it."""
    files = log_files(app_id)
    assert len(files) >= 4
    for f in files:
        executor, stream = f.parent.name, f.name
        printed = [r[3] for r in got if r[1] == executor and r[2] == stream]
        assert printed == f.read_text(errors="replace").splitlines(), f
    return files


def test_every_executor_on_every_worker(finished_app):
    proc = run("sc-logs", "--both", finished_app)
    assert proc.returncode == 0, proc.stderr
    got = rows(proc.stdout)
    # the client-mode driver's log (sc-submit kept it), marked as such, whole
    driver = [r for r in got if r[:3] == ["-", "driver", "log"]]
    driver_file = Path(os.environ["SC_EVENTS_DIR"]).parent / "driver-logs" / \
        f"{finished_app}_driver.log"
    assert [r[3] for r in driver] == driver_file.read_text(errors="replace").splitlines()
    assert driver, "the driver's log is empty"
    got = [r for r in got if r not in driver]
    workers = {r[0] for r in got}
    assert len(workers) == 2, workers
    assert_every_line(finished_app, got)
    # and the tasks' own lines: the executor's stdout is the job's alone, while
    # its stderr also carries the executor's log, which may cut into them
    tasks = set()
    for worker in workers:
        lines = [r[3] for r in got if r[0] == worker and r[2] == "stdout"
                 and r[3].startswith("MARKER")]
        assert len(lines) == LINES, (worker, len(lines))
        task = re.match(r"MARKER out task=(\d)", lines[0]).group(1)
        assert lines == [f"MARKER out task={task} line={i}" for i in range(LINES)]
        tasks.add(task)
    assert tasks == {"0", "1"}


def test_logs_longer_than_one_piece(tmp_path):
    # 50,000 lines of about 30 bytes: each log is read in two pieces or more
    app_id, _ = submit(tmp_path, 50000)
    proc = run("sc-logs", "--both", "--no-driver-log", app_id)
    assert proc.returncode == 0, proc.stderr
    files = assert_every_line(app_id, rows(proc.stdout))
    assert max(f.stat().st_size for f in files) > 1 << 20


def peak_rss_kib(out, *args):
    """sc-logs from the build without sanitizers (AddressSanitizer's allocator
    adds its own memory to a peak) under GNU time, its output into out: the
    finished process and its peak RSS in KiB."""
    rss = out.with_suffix(".rss")
    with open(out, "wb") as f:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss),
                               os.path.join(PLAIN, "sc-logs"), *map(str, args)],
                              stdout=f, stderr=subprocess.PIPE, text=True, timeout=300)
    return proc, int(rss.read_text().split()[-1])


@pytest.mark.skipif(not PLAIN, reason="SC_TEST_PLAIN_BIN is not set: no build without "
                    "sanitizers to measure memory in")
def test_pieces_are_not_held_in_memory(tmp_path, finished_app):
    # two 12 MiB logs, one on each worker, read at once in 1020 KiB pieces:
    # their bytes go straight on, so the peak is that of reading a few KiB
    id_file = tmp_path / "loud.id"
    cmd = [tool("sc-submit"), "-q", "-i", str(id_file), *SPREAD,
           "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
           "--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=120s",
           str(ROOT / "bench" / "jobs" / "loud.py"), "2", "12"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    big_app = id_file.read_text().strip()
    assert sorted(f.stat().st_size > 12 << 20 for f in log_files(big_app, "stderr")) == \
        [True, True]
    small, small_kib = peak_rss_kib(tmp_path / "small.out", "--no-driver-log", finished_app)
    big, big_kib = peak_rss_kib(tmp_path / "big.out", "--no-driver-log", big_app)
    assert small.returncode == big.returncode == 0, (small.stderr, big.stderr)
    assert (tmp_path / "big.out").stat().st_size > 24 << 20
    # held whole, the two pieces in flight would take 2 MiB more
    assert big_kib - small_kib < 1024, (small_kib, big_kib)


def test_a_reader_that_pauses_costs_no_log(tmp_path, cluster):
    # a pager that stops reading blocks sc-logs's output: the time it waits
    # on its reader is not the worker's, and does not time a piece out
    app_id, _ = submit(tmp_path, 50000)
    proc = subprocess.Popen([tool("sc-logs"), "--both", "--no-driver-log", app_id],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "SC_TIMEOUT": "2"})
    time.sleep(6)   # three timeouts' worth, with the pipe full
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert_every_line(app_id, rows(out.decode()))


def test_stream_and_executor_selection(finished_app):
    default = run("sc-logs", finished_app)
    assert default.returncode == 0, default.stderr
    assert {r[2] for r in rows(default.stdout)} == {"stderr", "log"}
    no_driver = run("sc-logs", "--no-driver-log", finished_app)
    assert no_driver.returncode == 0, no_driver.stderr
    assert {r[2] for r in rows(no_driver.stdout)} == {"stderr"}
    only_out = run("sc-logs", "--stdout", "--no-prefix", "--no-driver-log", finished_app)
    assert only_out.returncode == 0
    assert all(line.startswith("MARKER out") for line in only_out.stdout.splitlines())
    assert len(only_out.stdout.splitlines()) == 2 * LINES
    executors = {r[1] for r in rows(no_driver.stdout)}
    one = sorted(executors)[0]
    picked = run("sc-logs", "--stdout", "-e", one, finished_app)
    assert picked.returncode == 0, picked.stderr
    assert {r[1] for r in rows(picked.stdout)} == {one}
    assert len(picked.stdout.splitlines()) == LINES


def test_tail(finished_app):
    # the executors that ran the two tasks, from the workers' own files
    expected = {f.parent.name: f.read_text().splitlines()[-5:]
                for f in log_files(finished_app, "stdout") if "MARKER" in f.read_text()}
    assert len(expected) == 2, expected
    proc = run("sc-logs", "--stdout", "--tail", "5", finished_app)
    assert proc.returncode == 0, proc.stderr
    got = rows(proc.stdout)
    driver_file = Path(os.environ["SC_EVENTS_DIR"]).parent / "driver-logs" / \
        f"{finished_app}_driver.log"
    expected["driver"] = driver_file.read_text(errors="replace").splitlines()[-5:]
    assert {r[1] for r in got} == set(expected)
    for executor, last in expected.items():
        lines = [r[3] for r in got if r[1] == executor]
        assert lines == last
        if executor == "driver":
            continue
        assert lines[-1].endswith(f"line={LINES - 1}")
        assert lines[0].endswith(f"line={LINES - 5}")


def test_json_lines(finished_app):
    proc = run("sc-logs", "-J", "--stdout", "--no-driver-log", finished_app)
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objs) == 2 * LINES
    assert set(objs[0]) == {"worker", "executor", "stream", "line"}
    assert {o["stream"] for o in objs} == {"stdout"}


def test_by_name_and_unknown(finished_app, cluster):
    name = [a for a in master_json()["completedapps"] if a["id"] == finished_app][0]["name"]
    assert name == "chatty"
    unknown = run("sc-logs", "app-19700101000000-0000")
    assert unknown.returncode == 1
    assert "does not know" in unknown.stderr
    assert_usage(run("sc-logs"), "sc-logs", "name one application id")


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip", ".tar.zst"])
def test_bundle(finished_app, tmp_path, suffix, cluster):
    out = tmp_path / f"logs{suffix}"
    proc = run("sc-logs", "--both", "-o", out, finished_app)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert [p.name for p in tmp_path.iterdir()] == [out.name]   # no temporary left
    if suffix == ".zip":
        with zipfile.ZipFile(out) as z:
            files = {n: z.read(n) for n in z.namelist()}
    else:
        data = out.read_bytes()
        if suffix == ".tar.zst":
            data = subprocess.run(["zstd", "-dc"], input=data, capture_output=True,
                                  check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            files = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    prefix = finished_app + "/"
    assert all(n.startswith(prefix) for n in files)
    manifest = json.loads(files[prefix + "MANIFEST.json"])
    assert manifest["missing"] == []
    assert {f["name"] for f in manifest["files"]} | {"MANIFEST.json"} == \
        {n[len(prefix):] for n in files}
    logs = [n for n in files if "/executors/" in n]
    # two executors ran the tasks, each with two streams; a busy cluster may
    # have started a spare executor too, whose (task-less) logs come along
    assert len(logs) >= 4 and len(logs) % 2 == 0
    chatty = {n: files[n].decode() for n in logs if "MARKER" in files[n].decode()}
    assert len(chatty) == 4
    for n, text in chatty.items():
        word = "out" if n.endswith("stdout") else "err"
        assert text.count(f"MARKER {word} ") == LINES
    events = [n for n in files if "/eventlog/" in n]
    assert events and any(len(files[n]) > 1000 for n in events)
    assert json.loads(files[prefix + "application.json"])["id"] == finished_app
    driver_file = Path(os.environ["SC_EVENTS_DIR"]).parent / "driver-logs" / \
        f"{finished_app}_driver.log"
    assert files[prefix + "driver.log"] == driver_file.read_bytes()


def event_log_files(events, app_id):
    """An application's event log as Spark wrote it: path under the events
    dir -> bytes (a rolling log's files, without the hidden checksums)."""
    found = {}
    for entry in events.glob(f"*{app_id}*"):
        for f in [entry] if entry.is_file() else sorted(entry.iterdir()):
            if not f.name.startswith("."):
                found[str(f.relative_to(events))] = f.read_bytes()
    return found


def test_bundle_takes_the_event_log_from_the_history_server(finished_app, tmp_path, cluster):
    # a machine that does not see the events dir: the event log comes from
    # the real history server's zip, file for file what Spark wrote
    events = Path(os.environ["SC_EVENTS_DIR"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "logs.tar"
    proc = run("sc-logs", "-o", out, finished_app,
               env={"SC_EVENTS_DIR": str(elsewhere),
                    "SC_DRIVER_LOG_DIR": str(events.parent / "driver-logs")})
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(out) as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers()}
    prefix = f"{finished_app}/eventlog/"
    got = {n[len(prefix):]: data for n, data in files.items() if n.startswith(prefix)}
    wrote = event_log_files(events, finished_app)
    assert wrote and got == wrote, (sorted(got), sorted(wrote))
    manifest = json.loads(files[f"{finished_app}/MANIFEST.json"])
    assert manifest["missing"] == []
    assert {f["from"] for f in manifest["files"] if f["name"].startswith("eventlog/")} == \
        {os.environ["SC_HISTORY_URL"]}


def test_bundle_refuses_unknown_format(finished_app, tmp_path):
    proc = run("sc-logs", "-o", tmp_path / "logs.rar", finished_app)
    assert_usage(proc, "sc-logs",
                 "the name must end in .tar.gz, .tgz, .tar.zst, .tar.bz2, .tar.xz, .tar or .zip")
    assert list(tmp_path.iterdir()) == []


def test_follow_until_the_application_ends(tmp_path, cluster):
    app_id, submitter = submit(tmp_path, 40, 8, wait=False)
    try:
        wait_for(lambda: (find_app(app_id) or {}).get("state") == "RUNNING", timeout=60,
                 what="the app to run")
        start = time.monotonic()
        proc = run("sc-logs", "-f", "--stdout", "--no-prefix", app_id, timeout=180)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        # everything, though it was written after sc-logs started
        for task in ("0", "1"):
            got = [line for line in lines if f"task={task} " in line]
            assert got == [f"MARKER out task={task} line={i}" for i in range(40)]
        assert time.monotonic() - start < 120
        assert find_app(app_id)["state"] == "FINISHED"
    finally:
        submitter.communicate(timeout=120)


def test_a_worker_that_answers_garbage_or_nothing(finished_app, stub, cluster):
    """The others are still collected; the missing one is named; exit 1."""
    real = master_json()
    broken = dict(real)
    workers = [dict(w) for w in real["workers"] if w["state"] == "ALIVE"]
    assert len(workers) == 2
    # the stub answers the worker's /json/ with the master's document: garbage to a worker
    workers[0]["webuiaddress"] = stub.env["SC_MASTER_UI"]
    # a third worker where nothing listens; the second stays the real one
    workers.append(dict(workers[1], id="worker-19700101000000-127.0.0.1-9", port=9,
                        webuiaddress="http://127.0.0.1:9"))
    broken["workers"] = workers
    body = json.dumps(broken).encode()

    def master_or_garbage(h):
        h.send(200, body if h.path == "/json/" else b"<html>not json</html>")
    stub.behaviour = master_or_garbage
    proc = run("sc-logs", "--stdout", "--no-driver-log", finished_app,
               env={"SC_MASTER_UI": stub.env["SC_MASTER_UI"]})
    assert proc.returncode == 1, proc.stderr
    garbage, good, nothing = workers
    assert f"not collected: {garbage['id']}: " in proc.stderr
    assert "not a Spark worker status" in proc.stderr
    assert f"not collected: {nothing['id']}: " in proc.stderr
    assert "refused" in proc.stderr.lower()
    assert good["id"] not in proc.stderr
    # the real worker's executor, every line of it
    got = rows(proc.stdout)
    assert {r[0] for r in got} == {f"{good['host']}:{good['port']}"}
    lines = [r[3] for r in got]
    task = re.match(r"MARKER out task=(\d)", lines[0]).group(1)
    assert lines == [f"MARKER out task={task} line={i}" for i in range(LINES)]


def test_one_worker_stopped(finished_app, cluster):
    """A really stopped worker: its logs are named missing, the other's are there."""
    state = Path(os.environ["SC_STATE_DIR"])
    pid = int((state / "run" / "spark-worker2.pid").read_text())
    webui2 = os.environ["SC_MASTER_UI"].rsplit(":", 1)[0] + ":" + str(
        8082 + int(os.environ.get("SC_LOCAL_PORT_OFFSET", "0")))
    os.kill(pid, 15)
    try:
        wait_for(lambda: subprocess.run(["curl", "-s", "-o", "/dev/null", webui2]).returncode != 0,
                 timeout=60, what="worker 2 to stop")
        proc = run("sc-logs", "--stdout", "--no-driver-log", finished_app)
        assert proc.returncode == 1
        assert "not collected: worker-" in proc.stderr
        assert len(rows(proc.stdout)) == LINES       # the other worker's executor
    finally:
        up = subprocess.run([str(ROOT / "scripts" / "local-cluster"), "up"], capture_output=True,
                            text=True, timeout=240)
        assert up.returncode == 0, up.stderr
        wait_for(lambda: master_json()["aliveworkers"] == 2, timeout=120,
                 what="both workers alive again")
