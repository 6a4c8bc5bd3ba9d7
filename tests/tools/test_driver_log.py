"""The driver log against the real local cluster: sc-submit keeps a
client-mode driver's stdout and stderr in <driver-log-dir>/<app-id>_driver.log,
Spark's own driver-log persistence writes the same name for sessions that
sc-submit did not start, and sc-events-prune clears both by its rules."""
import json
import os
import re
import signal
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import JOBS, SANITIZER_MARKERS, find_app, run, tool, wait_for

pytestmark = pytest.mark.cluster

FAIL_DRIVER = JOBS / "fail_driver.py"  # raises RuntimeError(argv[1]) after a stage
SLEEPER = JOBS / "sleeper.py"
TICKER = JOBS / "ticker.py"  # prints "tick N" lines while its session runs
APP_LINE = re.compile(r"^sc-submit: application (app-[0-9]+-[0-9]+): ", re.M)


@pytest.fixture(scope="module")
def driver_log_dir(cluster):
    """The driver-log dir as sc-submit resolves it: derived from the events dir."""
    proc = run("sc-submit", "--show-config", "x.py")
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.splitlines():
        key, value, source = line.split("\t")[:3]
        if key == "driver_log_dir":
            assert source == "derived"
            d = Path(value)
            assert d == Path(os.environ["SC_EVENTS_DIR"]).parent / "driver-logs"
            assert d.is_dir(), "local-cluster up makes it"
            return d
    raise AssertionError("no driver_log_dir in --show-config")


def hidden_files_of(directory, pid):
    return [p.name for p in directory.iterdir() if p.name.startswith(f".sc-submit.{pid}.")]


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failed_job_traceback_is_in_the_driver_log(driver_log_dir, tmp_path):
    message = f"driver failure {uuid.uuid4().hex}"
    id_file = tmp_path / "app.id"
    sub = subprocess.Popen([tool("sc-submit"), "-i", str(id_file), str(FAIL_DRIVER), message],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = (b.decode() for b in sub.communicate(timeout=600))
    for marker in SANITIZER_MARKERS:
        assert marker not in err
    assert sub.returncode == 1, err
    app_id = id_file.read_text().strip()
    log = driver_log_dir / f"{app_id}_driver.log"
    assert f"sc-submit: driver log: {log}\n" in err
    text = log.read_bytes().decode()

    # the traceback, which only the driver's output holds, with the message
    # (spark-submit relays Python's stderr to its own stdout)
    assert f"\nRuntimeError: {message}\n" in text
    assert "Traceback (most recent call last):" in text
    # still passed through to the terminal, unchanged
    assert out.startswith(f"stage done: 45 ({message})\nTraceback (most recent call last):\n")
    assert out.endswith(f"\nRuntimeError: {message}\n")

    # the file is stdout and stderr, each in its own order, and nothing else
    ours = [line for line in err.splitlines(keepends=True) if line.startswith("sc-submit: ")]
    assert len(ours) == 2
    assert len(text) == len(out) + len(err) - sum(map(len, ours))
    lines = text.splitlines(keepends=True)
    assert [line for line in lines if line in out.splitlines(keepends=True)] == \
        out.splitlines(keepends=True)
    err_lines = [line for line in err.splitlines(keepends=True) if line not in ours]
    assert [line for line in lines if line in set(err_lines)] == err_lines

    # written by sc-submit alone: Spark's own persistence, on in the local
    # cluster's spark-defaults.conf, was turned off for the run
    assert not (driver_log_dir / f".{log.name}.crc").exists()
    assert (log.stat().st_mode & 0o777) == 0o640 & ~current_umask()
    assert hidden_files_of(driver_log_dir, sub.pid) == []

    # sc-logs shows it: marked driver, in -J, in --tail, and in the bundle
    logs = run("sc-logs", app_id)
    assert logs.returncode == 0, logs.stderr
    assert f"-\tdriver\tlog\tRuntimeError: {message}" in logs.stdout.splitlines()
    as_json = run("sc-logs", "-J", app_id)
    assert {"worker": None, "executor": "driver", "stream": "log",
            "line": f"RuntimeError: {message}"} in map(json.loads, as_json.stdout.splitlines())
    lines = text.splitlines()
    n = len(lines) - lines.index(f"RuntimeError: {message}")
    tail = run("sc-logs", "--tail", str(n), app_id)
    got = [r.split("\t", 3)[3] for r in tail.stdout.splitlines() if r.startswith("-\tdriver\t")]
    assert got == lines[-n:] and got[0] == f"RuntimeError: {message}"
    assert message not in run("sc-logs", "--no-driver-log", app_id).stdout
    bundle = tmp_path / "logs.tar.gz"
    assert run("sc-logs", "-o", bundle, app_id).returncode == 0
    with tarfile.open(bundle) as t:
        kept = t.extractfile(f"{app_id}/driver.log").read()
    assert kept == log.read_bytes()


def test_follow_prints_the_driver_log_as_it_grows(driver_log_dir, tmp_path):
    id_file = tmp_path / "app.id"
    sub = subprocess.Popen([tool("sc-submit"), "-q", "-i", str(id_file), str(TICKER), "30", "0.5"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        app_id = wait_for(lambda: id_file.exists() and id_file.read_text().strip(),
                          timeout=300, what="the application id")
        log = driver_log_dir / f"{app_id}_driver.log"
        before = log.read_text() if log.exists() else ""
        assert "tick 29" not in before, "the job ended before sc-logs started"
        follow = run("sc-logs", "-f", app_id, timeout=300)
        assert follow.returncode == 0, follow.stderr
        ticks = [r.split("\t", 3)[3] for r in follow.stdout.splitlines()
                 if r.startswith("-\tdriver\tlog\ttick ")]
        assert ticks == [f"tick {i}" for i in range(30)]
        assert find_app(app_id)["state"] == "FINISHED"
    finally:
        if sub.poll() is None:
            sub.kill()
        sub.wait()


def test_run_without_an_app_id_keeps_its_output_under_a_clear_name(driver_log_dir, tmp_path):
    """spark-submit fails before any session: no id, the output is kept all
    the same, as sc-submit-<time>-<pid>_driver.log."""
    message = f"before any session {uuid.uuid4().hex}"
    job = tmp_path / "early.py"
    job.write_text(f"print('early', flush=True)\nraise RuntimeError({message!r})\n")
    sub = subprocess.Popen([tool("sc-submit"), str(job)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    out, err = sub.communicate(timeout=300)
    assert sub.returncode == 1, err
    assert f"RuntimeError: {message}" in out
    names = [n for n in os.listdir(driver_log_dir)
             if re.fullmatch(rf"sc-submit-[0-9]{{8}}T[0-9]{{6}}Z-{sub.pid}_driver\.log", n)]
    assert len(names) == 1, os.listdir(driver_log_dir)
    assert f"sc-submit: driver log: {driver_log_dir / names[0]}\n" in err
    text = (driver_log_dir / names[0]).read_text()
    assert f"RuntimeError: {message}\n" in text
    assert "early\n" in text
    assert hidden_files_of(driver_log_dir, sub.pid) == []


def test_missing_driver_log_dir_is_said_and_the_job_runs(tmp_path):
    job = tmp_path / "early.py"
    job.write_text("print('ran', flush=True)\n")
    missing = tmp_path / "no-such-dir"
    proc = run("sc-submit", f"--driver-log-dir={missing}", job, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran\n"
    assert f"sc-submit: driver log not kept: {missing}: No such file or directory" in proc.stderr
    assert not missing.exists()


def test_dry_run_turns_sparks_own_persistence_off_only_when_it_keeps_the_log(cluster):
    conf = "spark.driver.log.persistToDfs.enabled"
    assert f"{conf}=false" in run("sc-submit", "-n", FAIL_DRIVER).stdout
    for args in (["--no-driver-log"], ["--deploy-mode", "cluster"], ["--conf", f"{conf}=true"]):
        proc = run("sc-submit", "-n", *args, FAIL_DRIVER)
        assert proc.returncode == 0, proc.stderr
        assert f"{conf}=false" not in proc.stdout, args


def test_prune_keeps_a_running_drivers_log_and_clears_it_after(driver_log_dir, tmp_path):
    id_file = tmp_path / "app.id"
    sub = subprocess.Popen([tool("sc-submit"), "-i", str(id_file), str(SLEEPER)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        app_id = wait_for(lambda: id_file.exists() and id_file.read_text().strip(),
                          timeout=240, what="the application id")
        log = driver_log_dir / f"{app_id}_driver.log"
        wait_for(log.exists, timeout=30, what="the driver log's name")
        events = tmp_path / "events"  # the rules' other half, empty here
        events.mkdir()
        args = ["-d", events, f"--driver-log-dir={driver_log_dir}", "--app", app_id]

        # sc-submit holds the file's lock: kept even with no master to ask
        proc = run("sc-events-prune", "--no-master", *args)
        assert proc.returncode == 0, proc.stderr
        assert f"kept {log.name}: being written (sc-submit runs)" in proc.stderr
        assert re.search(r"removed 0 driver logs, 0\.0 MiB; kept [0-9]+ \(1 protected\)",
                         proc.stderr)
        # and the master lists the application as running
        proc = run("sc-events-prune", *args)
        assert f"kept {log.name}: application running" in proc.stderr
        assert log.exists()
    finally:
        sub.send_signal(signal.SIGTERM)
        _, err = sub.communicate(timeout=120)
    assert sub.returncode == 128 + signal.SIGTERM, err
    assert find_app(app_id)["state"] == "KILLED"
    proc = run("sc-events-prune", "-J", *args)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    assert '"kind":"driver-log"' in proc.stdout and f'"name":"{log.name}"' in proc.stdout
    assert "removed 1 driver log, " in proc.stderr
    assert "removed 0 logs, 0.0 MiB" in proc.stderr
    assert not log.exists()


def test_sparks_own_persistence_writes_the_same_name(driver_log_dir, tmp_path):
    """A session that sc-submit did not start (spark-submit itself, with the
    local cluster's spark-defaults.conf): Spark's DriverLogger keeps the
    driver JVM's log as <app-id>_driver.log, and prune clears it."""
    message = f"spark's own {uuid.uuid4().hex}"
    spark_submit = Path(os.environ["SPARK_HOME"]) / "bin" / "spark-submit"
    proc = subprocess.run([str(spark_submit), "--master", os.environ["SC_MASTER"],
                           "--conf", "spark.executor.memory=512m", str(FAIL_DRIVER), message],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr
    app_id = re.search(r"app ID (app-[0-9]+-[0-9]+)", proc.stderr).group(1)
    log = driver_log_dir / f"{app_id}_driver.log"
    text = log.read_text()
    assert app_id in text     # the JVM's log4j lines: "... app ID app-..."
    assert f"RuntimeError: {message}" not in text  # Python's stderr is not in it
    crc = driver_log_dir / f".{log.name}.crc"
    assert crc.exists()

    events = tmp_path / "events"
    events.mkdir()
    proc = run("sc-events-prune", "-d", events, f"--driver-log-dir={driver_log_dir}",
               "--app", app_id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"removed\t{log.name}\t{app_id}\t")
    assert not log.exists() and not crc.exists()
