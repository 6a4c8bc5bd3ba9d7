"""sc-submit's limits for cron jobs against the real local cluster:
--deadline, --executor-timeout, --lock and --lock-wait (all exit 75)."""
import signal
import subprocess
import time
import uuid

import pytest

from conftest import (JOBS, SANITIZER_MARKERS, find_app, find_driver, master_json, run, tool,
                      wait_for)

pytestmark = pytest.mark.cluster

SLEEPER = JOBS / "sleeper.py"  # runs for 600 s unless given a number of seconds
# For runs that must not start anything: should one start all the same, it
# fails at once instead of holding the cluster's cores.
NEVER_RUN = JOBS / "never-run.py"


def start_submit(*args):
    """sc-submit in the background, as cron would start it."""
    return subprocess.Popen([tool("sc-submit"), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=300):
    """The stderr of a background sc-submit once it has exited, checked for sanitizer reports."""
    _, err = proc.communicate(timeout=timeout)
    for marker in SANITIZER_MARKERS:
        assert marker not in err, f"sanitizer report:\n{err}"
    return err


def last_line(err):
    return err.strip().splitlines()[-1]


def app_ended(app_id):
    app = find_app(app_id)
    return app if app and app["state"] not in ("RUNNING", "WAITING") else None


def read_id(id_file):
    return id_file.read_text().strip() if id_file.exists() else None


def cleanup(proc, id_file=None):
    """Stop a background sc-submit (SIGTERM kills its job on the cluster), and
    make sure that nothing it started is left running."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=30)
    app_id = read_id(id_file) if id_file else None
    if app_id and (find_app(app_id) or {}).get("state") in ("RUNNING", "WAITING"):
        run("sc-kill", app_id)


def wait_running(proc, id_file):
    def running():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        app_id = read_id(id_file)
        return app_id if app_id and (find_app(app_id) or {}).get("state") == "RUNNING" else None
    return wait_for(running, timeout=180, what="the application to run")


# ---- --deadline


def test_deadline_kills_the_application_on_the_cluster(cluster, tmp_path):
    id_file = tmp_path / "app.id"
    start = time.monotonic()
    try:
        # long enough for a loaded machine's JVM to register the application
        proc = run("sc-submit", "-i", id_file, "--deadline=40s", SLEEPER, timeout=300)
        took = time.monotonic() - start
    finally:
        cleanup(None, id_file)
    assert proc.returncode == 75, proc.stderr[-3000:]
    app_id = read_id(id_file)
    assert app_id and app_id.startswith("app-")
    assert id_file.read_text() == app_id + "\n"
    # the sleeper would have run for ten minutes
    assert 40 <= took < 150, took
    assert last_line(proc.stderr) == f"sc-submit: {app_id}: deadline of 40s reached; killed"
    app = wait_for(lambda: app_ended(app_id), timeout=60, what="the application to end")
    assert app["state"] == "KILLED"


def test_deadline_with_rest_kills_the_driver(cluster, jar, tmp_path):
    id_file = tmp_path / "driver.id"
    try:
        proc = run("sc-submit", "--rest", "--wait", "--deadline=20", "-i", id_file,
                   "--class", "Pi", jar, "sleep", "600", timeout=300)
        assert proc.returncode == 75, proc.stderr
        driver_id = read_id(id_file)
        assert driver_id.startswith("driver-") and proc.stdout == driver_id + "\n"
        assert last_line(proc.stderr) == f"sc-submit: {driver_id}: deadline of 20s reached; killed"
        driver = wait_for(lambda: (d := find_driver(driver_id)) and d["state"] != "RUNNING" and d,
                          timeout=60, what="the driver to end")
        assert driver["state"] == "KILLED"
    finally:
        driver_id = read_id(id_file)
        if driver_id and (find_driver(driver_id) or {}).get("state") in ("SUBMITTED", "RUNNING"):
            run("sc-kill", "--driver", driver_id)


# ---- --executor-timeout


@pytest.fixture
def every_core_taken(tmp_path):
    """One application holding every core of the cluster; killed afterwards."""
    id_file = tmp_path / "hog.id"
    cores = master_json()["cores"]
    proc = start_submit("-q", "-i", id_file, "--name", f"hog-{uuid.uuid4().hex[:8]}",
                        "--total-executor-cores", cores, SLEEPER)
    try:
        app_id = wait_running(proc, id_file)

        def all_taken():
            state = master_json()
            return state["coresused"] == state["cores"] == find_app(app_id)["cores"]
        wait_for(all_taken, timeout=120, what="the application to hold every core")
        yield app_id
    finally:
        cleanup(proc, id_file)


def test_executor_timeout_kills_an_application_granted_no_core(cluster, tmp_path,
                                                                 every_core_taken):
    id_file = tmp_path / "app.id"
    proc = start_submit("-i", id_file, "--executor-timeout=10s", SLEEPER)
    try:
        err = finish(proc)
        ended = time.time()
    finally:
        cleanup(proc, id_file)
    assert proc.returncode == 75, err[-3000:]
    app_id = read_id(id_file)
    assert app_id and app_id != every_core_taken
    cores = master_json()["cores"]
    assert last_line(err) == (
        f"sc-submit: {app_id}: no executor granted within 10s (the cluster's 2 alive workers "
        f"have {cores} of {cores} cores in use); killed")
    app = wait_for(lambda: app_ended(app_id), timeout=60, what="the application to end")
    assert app["state"] == "KILLED" and app["cores"] == 0
    # given up 10 s after the master registered it, not sooner, not much later
    waited = ended - app["starttime"] / 1000
    assert 9.5 <= waited <= 60, waited
    # the application that holds the cores is not the one killed
    assert find_app(every_core_taken)["state"] == "RUNNING"


def test_executor_timeout_lets_an_application_with_executors_run(cluster, tmp_path):
    id_file = tmp_path / "app.id"
    try:
        proc = run("sc-submit", "-i", id_file, "--executor-timeout=5s", SLEEPER, "15",
                   timeout=300)
    finally:
        cleanup(None, id_file)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no executor granted" not in proc.stderr
    assert find_app(read_id(id_file))["state"] == "FINISHED"


# ---- --lock and --lock-wait


def test_lock_held_by_another_run(cluster, tmp_path):
    lock = tmp_path / "nightly.lock"
    first_id, second_id = tmp_path / "first.id", tmp_path / "second.id"
    first = start_submit("-q", "--lock", lock, "-i", first_id, SLEEPER)
    try:
        # the holder writes its pid once it has the lock
        wait_for(lambda: lock.exists() and lock.read_text() == f"{first.pid}\n", timeout=30,
                 what="the first run to take the lock")
        start = time.monotonic()
        second = run("sc-submit", "--lock", lock, "-i", second_id, NEVER_RUN, timeout=60)
        assert time.monotonic() - start < 10
        assert second.returncode == 75
        assert second.stderr == f"sc-submit: {lock}: held by another run (pid {first.pid})\n"
        assert not second_id.exists()

        start = time.monotonic()
        waited = run("sc-submit", f"--lock={lock}", "--lock-wait=3s", "-i", second_id,
                     NEVER_RUN, timeout=60)
        assert 3 <= time.monotonic() - start < 20
        assert waited.returncode == 75
        assert waited.stderr == (
            f"sc-submit: {lock}: still held by another run (pid {first.pid}) after 3.0s\n")
        assert not second_id.exists()
        assert first.poll() is None
        assert lock.read_text() == f"{first.pid}\n"
    finally:
        cleanup(first, first_id)


def test_lock_wait_runs_once_the_first_run_ends(cluster, tmp_path):
    lock = tmp_path / "nightly.lock"
    first_id, second_id = tmp_path / "first.id", tmp_path / "second.id"
    first = start_submit("-q", "--lock", lock, "-i", first_id, SLEEPER)
    second = None
    try:
        first_app = wait_running(first, first_id)
        second = start_submit("-q", "--lock", lock, "--lock-wait=5m", "-i", second_id,
                              SLEEPER, "1")
        assert lock.read_text() == f"{first.pid}\n"
        first.send_signal(signal.SIGTERM)
        finish(first, timeout=120)
        first_ended = time.time()
        assert first.returncode == 128 + signal.SIGTERM
        finish(second)
        assert second.returncode == 0
        second_app = find_app(read_id(second_id))
        # the second application started only once the first run had ended
        assert second_app["starttime"] / 1000 >= first_ended - 1
        assert find_app(first_app)["state"] == "KILLED"
        assert second_app["state"] == "FINISHED"
        assert lock.read_text() == f"{second.pid}\n"
    finally:
        cleanup(first, first_id)
        if second is not None:
            cleanup(second, second_id)


def test_lock_refuses_a_symbolic_link(cluster, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    link = tmp_path / "nightly.lock"
    link.symlink_to(target)
    proc = run("sc-submit", "--lock", link, NEVER_RUN, timeout=60)
    assert proc.returncode == 73
    assert proc.stderr == (
        f"sc-submit: {link}: is a symbolic link; refusing to use it as a lock file\n")
    assert target.read_text() == "keep me\n"

    dangling = tmp_path / "dangling.lock"
    dangling.symlink_to(tmp_path / "missing")
    proc = run("sc-submit", f"--lock={dangling}", NEVER_RUN, timeout=60)
    assert proc.returncode == 73
    assert not (tmp_path / "missing").exists()


def test_dry_run_takes_no_lock(cluster, tmp_path):
    lock = tmp_path / "nightly.lock"
    proc = run("sc-submit", "-n", "--lock", lock, "--lock-wait=1m", "--deadline=1s",
               "--executor-timeout=1s", SLEEPER)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith(str(SLEEPER))
    assert not lock.exists()


# ---- usage errors


@pytest.mark.parametrize("args, option, value", [
    (["--deadline=soon"], "--deadline", "soon"),
    (["--deadline=0"], "--deadline", "0"),
    (["--deadline=-5m"], "--deadline", "-5m"),
    (["--deadline", "2 h"], "--deadline", "2 h"),
    (["--executor-timeout=10x"], "--executor-timeout", "10x"),
    (["--executor-timeout=1e3"], "--executor-timeout", "1e3"),
    (["--lock", "x.lock", "--lock-wait=forever"], "--lock-wait", "forever"),
])
def test_bad_duration_is_a_usage_error(tmp_path, args, option, value):
    proc = run("sc-submit", *args, SLEEPER)
    assert proc.returncode == 64
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"sc-submit: invalid {option} '{value}': ")
    assert "Try 'sc-submit --help'" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("args, words", [
    (["--lock-wait=10s"], "--lock-wait is only meaningful with --lock"),
    (["--rest", "--executor-timeout=1m", "--class", "Pi"], "--executor-timeout"),
    (["--rest", "--deadline=1m", "--class", "Pi"], "--deadline with --rest needs --wait"),
    (["--executor-timeout=1m", "--deploy-mode", "cluster"], "--executor-timeout needs client"),
])
def test_limits_in_the_wrong_mode_are_usage_errors(tmp_path, args, words):
    proc = run("sc-submit", *args, tmp_path / "app.jar")
    assert proc.returncode == 64
    assert words in proc.stderr.splitlines()[0]
