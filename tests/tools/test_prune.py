"""sc-events-prune: synthetic events dirs, and the real cluster's event logs."""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (JOBS, SANITIZER_MARKERS, assert_usage, find_app, run, tool,
                      wait_for)

DAY = 86400
PLAIN = os.environ.get("SC_TEST_PLAIN_BIN")


def single(d, name, age_days=0.0, size=100):
    p = d / name
    p.write_bytes(b"x" * size)
    t = time.time() - age_days * DAY
    os.utime(p, (t, t))
    return p


def rolling(d, app, age_days=0.0, inprogress=False, extra=None):
    r = d / f"eventlog_v2_{app}"
    r.mkdir()
    status = r / (f"appstatus_{app}" + (".inprogress" if inprogress else ""))
    status.write_bytes(b"")
    (r / f"events_1_{app}.zstd").write_bytes(b"e" * 50)
    (r / f".appstatus_{app}.crc").write_bytes(b"c" * 8)
    if extra:
        (r / extra).write_bytes(b"?")
    t = time.time() - age_days * DAY
    for f in [*r.iterdir(), r]:
        os.utime(f, (t, t), follow_symlinks=False)
    return r


def prune(d, *args, **kw):
    return run("sc-events-prune", "--no-master", "-d", d, *args, **kw)


def removed(proc):
    return [line.split("\t")[1] for line in proc.stdout.splitlines()]


@pytest.fixture
def events(tmp_path):
    d = tmp_path / "events"
    d.mkdir()
    return d


def test_names_it_understands(events):
    single(events, "app-20260101000000-0001", 10)
    single(events, "app-20260101000000-0002_1.lz4", 10)
    single(events, "app-20260101000000-0003.zstd", 10)
    single(events, "local-1700000000000", 10)
    single(events, "application_1700000000000_0042_2.snappy", 10)
    rolling(events, "app-20260101000000-0004", 10)
    single(events, "notes.txt", 10)
    single(events, "app-2026", 10)
    (events / "eventlog_v2_app-20260101000000-0005").write_text("a file, not a dir")
    proc = prune(events, "--all")
    assert proc.returncode == 0, proc.stderr
    assert sorted(removed(proc)) == sorted([
        "app-20260101000000-0001", "app-20260101000000-0002_1.lz4",
        "app-20260101000000-0003.zstd", "local-1700000000000",
        "application_1700000000000_0042_2.snappy", "eventlog_v2_app-20260101000000-0004"])
    assert sorted(p.name for p in events.iterdir()) == [
        "app-2026", "eventlog_v2_app-20260101000000-0005", "notes.txt"]
    assert "skipped notes.txt: not an event log" in proc.stderr
    assert "skipped eventlog_v2_app-20260101000000-0005: not a directory" in proc.stderr


def test_dry_run_changes_nothing(events):
    for i in range(5):
        single(events, f"app-20260101000000-000{i}", 10 + i)
    before = {p.name: p.stat().st_mtime for p in events.iterdir()}
    proc = prune(events, "-n", "--all", "-J")
    assert proc.returncode == 0
    assert [json.loads(line)["action"] for line in proc.stdout.splitlines()] == ["would-remove"] * 5
    assert {p.name: p.stat().st_mtime for p in events.iterdir()} == before


def test_older_than_boundary(events):
    single(events, "app-20260101000000-0001", 2.99)
    single(events, "app-20260101000000-0002", 3.01)
    proc = prune(events, "--older-than", "3d")
    assert removed(proc) == ["app-20260101000000-0002"]
    proc = prune(events, "--older-than", f"{int(2.98 * 24)}h")
    assert removed(proc) == ["app-20260101000000-0001"]


def test_keep_newest(events):
    for i in range(6):
        single(events, f"app-20260101000000-000{i}", age_days=i)
    proc = prune(events, "--keep", "2")
    assert proc.returncode == 0
    assert sorted(p.name for p in events.iterdir()) == [
        "app-20260101000000-0000", "app-20260101000000-0001"]
    assert prune(events, "--keep", "2").stdout == ""
    assert sorted(removed(prune(events, "--keep", "0"))) == [
        "app-20260101000000-0000", "app-20260101000000-0001"]


def test_max_total_removes_oldest_first(events):
    for i in range(5):
        single(events, f"app-20260101000000-000{i}", age_days=i, size=1024)
    proc = prune(events, "--max-total", "3K")
    assert sorted(removed(proc)) == ["app-20260101000000-0003", "app-20260101000000-0004"]
    assert len(list(events.iterdir())) == 3
    assert prune(events, "--max-total", "3K").stdout == ""
    assert removed(prune(events, "--max-total", "3071")) == ["app-20260101000000-0002"]


def test_rules_combine_as_a_union(events):
    for i in range(4):
        single(events, f"app-20260101000000-000{i}", age_days=i * 10)
    proc = prune(events, "--older-than", "25d", "--keep", "3", "--app", "*-0000")
    assert sorted(removed(proc)) == ["app-20260101000000-0000", "app-20260101000000-0003"]


def test_app_selection(events):
    single(events, "app-20260101000000-0001")
    single(events, "app-20260101000000-0001_2.lz4")
    rolling(events, "app-20260101000000-0002")
    single(events, "app-20260101000000-0003")
    proc = prune(events, "--app", "app-20260101000000-0001", "--app", "app-20260101000000-0002")
    assert sorted(removed(proc)) == ["app-20260101000000-0001", "app-20260101000000-0001_2.lz4",
                                     "eventlog_v2_app-20260101000000-0002"]
    assert [p.name for p in events.iterdir()] == ["app-20260101000000-0003"]


def test_in_progress_kept_without_master_unless_asked(events):
    single(events, "app-20260101000000-0001.inprogress", 30)
    rolling(events, "app-20260101000000-0002", 30, inprogress=True)
    single(events, "app-20260101000000-0003", 30)
    proc = prune(events, "--all")
    assert removed(proc) == ["app-20260101000000-0003"]
    assert "in progress, and the master could not be asked" in proc.stderr
    proc = prune(events, "--all", "--include-inprogress")
    assert sorted(removed(proc)) == ["app-20260101000000-0001.inprogress",
                                     "eventlog_v2_app-20260101000000-0002"]


def test_rolling_dir_being_started_counts_as_in_progress(events):
    r = events / "eventlog_v2_app-20260101000000-0001"
    r.mkdir()
    (r / "events_1_app-20260101000000-0001.zstd").write_bytes(b"e")
    proc = prune(events, "--all")
    assert proc.returncode == 0 and removed(proc) == []
    assert "kept eventlog_v2_app-20260101000000-0001: in progress" in proc.stderr
    assert removed(prune(events, "--all", "--include-inprogress")) == [r.name]


def test_empty_rolling_dir_is_as_old_as_the_dir(events):
    new = events / "eventlog_v2_app-20260101000000-0001"
    old = events / "eventlog_v2_app-20260101000000-0002"
    new.mkdir()
    old.mkdir()
    t = time.time() - 10 * DAY
    os.utime(old, (t, t))
    proc = prune(events, "--older-than", "1d", "--include-inprogress", "-J")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["name"] for line in proc.stdout.splitlines()] == [old.name]
    assert new.is_dir() and not old.exists()


def test_unreachable_master_keeps_in_progress(events, dead_master):
    single(events, "app-20260101000000-0001.inprogress", 30)
    proc = run("sc-events-prune", "-d", events, "--all", env=dead_master)
    assert proc.returncode == 75    # held back: run again when the master answers
    assert removed(proc) == []
    assert "refused" in proc.stderr.lower() and "in-progress logs are kept" in proc.stderr


@pytest.mark.parametrize("how", [[], ["--keep", "100000000"]], ids=["as-read", "listed"])
def test_in_progress_goes_only_when_the_master_lists_it_ended(events, stub, how):
    """A driver that died leaves .inprogress behind; one the master does not know stays.
    The same whether each log is decided as it is read, or the whole list is
    read while the master is asked and decided once it has answered."""
    drivers = events.parent / "driver-logs"
    drivers.mkdir()
    for i in (1, 2, 3):
        single(events, f"app-20260101000000-000{i}.inprogress", 30)
        single(drivers, f"app-20260101000000-000{i}_driver.log", 30)
    # 1 ended per the master, 2 unknown to it, 3 running
    ended = {"id": "app-20260101000000-0001", "name": "a", "state": "FINISHED"}
    running = {"id": "app-20260101000000-0003", "name": "c", "state": "RUNNING"}
    doc = {"url": "spark://x:7077", "status": "ALIVE", "workers": [],
           "activeapps": [running], "completedapps": [ended]}
    stub.behaviour = lambda h: h.send(200, json.dumps(doc).encode())
    proc = run("sc-events-prune", "-d", events, f"--driver-log-dir={drivers}", "--all", *how,
               env=stub.env)
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == ["app-20260101000000-0001.inprogress",
                             "app-20260101000000-0001_driver.log"]
    assert "kept app-20260101000000-0002.inprogress: in progress, and the master does not " \
        "list it as ended" in proc.stderr
    assert "kept app-20260101000000-0003.inprogress: application running" in proc.stderr
    assert "kept app-20260101000000-0002_driver.log: its event log is kept as in progress" \
        in proc.stderr
    assert "kept app-20260101000000-0003_driver.log: application running" in proc.stderr
    assert sorted(p.name for p in events.iterdir() if not p.name.startswith(".")) == [
        "app-20260101000000-0002.inprogress", "app-20260101000000-0003.inprogress"]


@pytest.mark.parametrize("how", [[], ["--keep", "0"]], ids=["as-read", "listed"])
def test_a_master_that_is_not_alive_holds_in_progress_logs_back(events, stub, how):
    single(events, "app-20260101000000-0001.inprogress", 30)
    single(events, "app-20260101000000-0002", 30)
    ended = {"id": "app-20260101000000-0001", "name": "a", "state": "FINISHED"}
    doc = {"url": "spark://x:7077", "status": "STANDBY", "workers": [],
           "activeapps": [], "completedapps": [ended]}
    stub.behaviour = lambda h: h.send(200, json.dumps(doc).encode())
    proc = run("sc-events-prune", "-d", events, "--all", *how, env=stub.env)
    assert proc.returncode == 75, proc.stderr
    assert removed(proc) == ["app-20260101000000-0002"]
    assert "the master is STANDBY, not ALIVE" in proc.stderr
    assert "kept app-20260101000000-0001.inprogress: in progress, and the master is not " \
        "ALIVE to vouch that it ended" in proc.stderr


def test_symlinks_are_never_followed(events, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "app-20260101000000-0009"
    precious.write_text("keep me")
    (events / "app-20260101000000-0009").symlink_to(precious)
    (events / "eventlog_v2_app-20260101000000-0008").symlink_to(outside, target_is_directory=True)
    r = rolling(events, "app-20260101000000-0007")
    (r / "events_2_app-20260101000000-0007").symlink_to(precious)
    proc = prune(events, "--all")
    assert proc.returncode == 0
    assert removed(proc) == []
    assert precious.read_text() == "keep me"
    assert "symbolic link, not followed" in proc.stderr
    assert "holds something that is not a file" in proc.stderr
    assert (events / "app-20260101000000-0009").is_symlink()


def test_rolling_dir_with_foreign_content_is_kept_whole(events):
    r = rolling(events, "app-20260101000000-0001", extra="my-notes.txt")
    proc = prune(events, "--all")
    assert removed(proc) == []
    assert sorted(p.name for p in r.iterdir()) == sorted([
        "appstatus_app-20260101000000-0001", "events_1_app-20260101000000-0001.zstd",
        ".appstatus_app-20260101000000-0001.crc", "my-notes.txt"])


def test_checksum_companion_goes_with_its_log(events):
    single(events, "app-20260101000000-0001", 10)
    (events / ".app-20260101000000-0001.crc").write_bytes(b"c")
    assert removed(prune(events, "--all")) == ["app-20260101000000-0001"]
    assert list(events.iterdir()) == []


def test_leftover_of_an_interrupted_run_is_finished(events):
    hidden = events / ".sc-prune.eventlog_v2_app-20260101000000-0001"
    hidden.mkdir()
    (hidden / "events_1_app-20260101000000-0001").write_bytes(b"e")
    # the mark an interrupted run leaves: only a dir so marked is emptied
    st = os.stat(hidden)
    (hidden / ".sc-prune-owner").write_text(
        f"sc-events-prune {st.st_dev}:{st.st_ino}:{os.geteuid()}\n")
    single(events, "app-20260101000000-0002")
    proc = prune(events, "--older-than", "1d")
    assert proc.returncode == 0
    assert sorted(p.name for p in events.iterdir()) == ["app-20260101000000-0002"]


def lock_held(d):
    """Whether another process holds the prune lock (.sc-prune.lock, a POSIX lock)."""
    try:
        fd = os.open(d / ".sc-prune.lock", os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def has_open(pid, path):
    """Whether the process has path open (false once it has exited)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                return True
        except FileNotFoundError:
            pass
    return False


def test_concurrent_runs_do_not_race(events):
    for i in range(3):
        single(events, f"app-20260101000000-000{i}", 10)
    # hold the lock as another run would (a POSIX lock, which sc-events-prune's
    # OFD lock meets, on the lock file in the events dir), until stdin closes
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys\n"
         "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)\n"
         "fcntl.lockf(fd, fcntl.LOCK_EX)\nsys.stdin.read()\n",
         str(events / ".sc-prune.lock")], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    lock_file = events / ".sc-prune.lock"
    waiter = None

    def logs():
        return [p for p in events.iterdir() if p != lock_file]

    try:
        wait_for(lambda: lock_held(events), timeout=30, interval=0.05,
                 what="the holder to hold the lock")
        proc = prune(events, "--all")
        assert proc.returncode == 75
        assert "another sc-events-prune is running" in proc.stderr
        assert len(logs()) == 3
        waiter = subprocess.Popen([tool("sc-events-prune"), "--no-master", "-d", str(events),
                                   "--all", "--lock-wait", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # it opens the lock file to lock it: from then on it waits for the lock
        wait_for(lambda: has_open(waiter.pid, lock_file) or waiter.poll() is not None,
                 timeout=30, interval=0.05, what="the second run to open the lock file")
        assert waiter.poll() is None, waiter.communicate()
        assert len(logs()) == 3
        holder.stdin.close()
        out, err = waiter.communicate(timeout=60)
        for marker in SANITIZER_MARKERS:
            assert marker not in err, err
        assert waiter.returncode == 0, err
        assert sorted(line.split("\t")[1] for line in out.splitlines()) == \
            [f"app-20260101000000-000{i}" for i in range(3)]
        assert list(events.iterdir()) == []
    finally:
        for p in (waiter, holder):
            if p and p.poll() is None:
                p.kill()
        holder.wait()


def test_usage_and_dir_errors(events, tmp_path):
    assert_usage(prune(events), "sc-events-prune", "no rule given")
    assert_usage(prune(events, "--older-than", "7"), "sc-events-prune",
                 "invalid --older-than '7': give a unit")
    assert_usage(prune(events, "--max-total", "3Q"), "sc-events-prune",
                 "invalid --max-total '3Q'")
    proc = prune(tmp_path / "missing", "--all")
    assert proc.returncode == 74
    assert "missing" in proc.stderr
    # spark.eventLog.dir copied as it is: a bad value, not a directory to open
    proc = prune("hdfs://namenode:8020/spark-events", "--all")
    assert proc.returncode == 64, proc.stderr
    assert "hdfs://namenode:8020/spark-events: not a local directory" in proc.stderr


# ---- the real cluster's event logs


@pytest.mark.cluster
def test_real_event_logs_and_a_running_application(cluster, tmp_path):
    real = Path(cluster["SC_EVENTS_DIR"])
    id_file = tmp_path / "app.id"
    proc = subprocess.Popen([tool("sc-submit"), "-i", str(id_file), str(JOBS / "sleeper.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        app_id = wait_for(lambda: id_file.exists() and id_file.read_text().strip(),
                          timeout=90, what="the sleeper's id")
        wait_for(lambda: (find_app(app_id) or {}).get("state") == "RUNNING", timeout=60,
                 what="the sleeper to run")
        # the driver registers first and opens its event log just after
        wait_for(lambda: any(app_id in p.name for p in real.iterdir()), timeout=30,
                 what="the sleeper's event log")
        copy = tmp_path / "events"
        shutil.copytree(real, copy, symlinks=True)
        names = {p.name for p in copy.iterdir() if not p.name.startswith(".")}
        assert any(app_id in n for n in names), (app_id, sorted(names))
        listed = run("sc-events-prune", "-d", copy, "--all", "-n", "-J")
        assert listed.returncode == 0, listed.stderr
        would = {json.loads(line)["name"] for line in listed.stdout.splitlines()}
        # every real log is understood; only the running one is kept
        assert "skipped " not in listed.stderr and "0 skipped" in listed.stderr, listed.stderr
        assert would == {n for n in names if app_id not in n}
        assert "application running" in listed.stderr
        done = run("sc-events-prune", "-d", copy, "--all")
        assert done.returncode == 0
        assert {p.name for p in copy.iterdir() if not p.name.startswith(".")} == \
            {n for n in names if app_id in n}
    finally:
        subprocess.run([tool("sc-kill"), app_id], capture_output=True) if id_file.exists() else None
        proc.kill()
        proc.communicate()


# ---- the two ways through: logs taken as the scan reads them (--older-than,
# --app, --all alone), and the whole list first (--keep, --max-total)


def mixed_events(d, n=120):
    """A dir of every kind of entry; returns {name: bytes} of what
    --older-than 5d takes (in-progress logs are kept without a master)."""
    taken = {}
    for i in range(n):
        app = f"app-20260101{i:06d}-{i % 10000:04d}"
        old = i % 4 != 0
        age = 10 if old else 1
        if i % 10 == 1:
            rolling(d, app, age)
            if old:
                taken[f"eventlog_v2_{app}"] = 50 + 8
        elif i % 10 == 2:
            rolling(d, app, age, inprogress=True)
        elif i % 10 == 3:
            single(d, f"{app}.inprogress", age, size=7)
        else:
            name = f"{app}.lz4" if i % 10 == 4 else app
            single(d, name, age, size=100 + i)
            size = 100 + i
            if i % 5 == 0:      # a checksum beside it, wherever the dir puts it
                crc = d / f".{name}.crc"
                crc.write_bytes(b"c" * 9)
                size += 9
            if old:
                taken[name] = size
    single(d, "notes.txt", 10)
    (d / "app-20260101999999-0001").symlink_to(d / "notes.txt")
    (d / "eventlog_v2_app-20260101999999-0002").write_text("a file, not a dir")
    os.mkfifo(d / "app-20260101999999-0003")
    return taken


def lines(proc):
    """The lines of the report, but for the time (two dirs made a moment apart)."""
    return sorted(re.sub(r'\t[-0-9T:Z]+$|"mtime":"[-0-9T:Z]+"', "", line)
                  for line in proc.stdout.splitlines())


def test_logs_taken_as_read_match_the_whole_list(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    taken = mixed_events(a)
    assert mixed_events(b) == taken
    streamed = prune(a, "--older-than", "5d")
    listed = prune(b, "--older-than", "5d", "--keep", "100000000")
    assert streamed.returncode == listed.returncode == 0, (streamed.stderr, listed.stderr)
    assert {line.split("\t")[1]: int(line.split("\t")[3]) for line in
            streamed.stdout.splitlines()} == taken
    assert lines(streamed) == lines(listed)
    assert sorted(streamed.stderr.splitlines()) == sorted(listed.stderr.splitlines())
    # the exact report: what went, its bytes with its checksum, what was kept and skipped
    assert f"removed {len(taken)} logs" in streamed.stderr
    assert f"kept {120 - len(taken)} (24 protected); 4 skipped" in streamed.stderr
    assert "kept eventlog_v2_app-20260101000012-0012" not in streamed.stderr    # too new
    assert "kept eventlog_v2_app-20260101000002-0002: in progress" in streamed.stderr
    assert "kept app-20260101000013-0013.inprogress: in progress" in streamed.stderr
    for name in ("notes.txt", "app-20260101999999-0001", "eventlog_v2_app-20260101999999-0002",
                 "app-20260101999999-0003"):
        assert os.path.lexists(a / name), name
    left_a = sorted(p.name for p in a.iterdir())
    assert left_a == sorted(p.name for p in b.iterdir())
    assert not set(taken) & set(left_a)
    assert not any(n.endswith(".crc") and n[1:-4] in taken for n in left_a)


def test_json_lines_as_read_match_the_whole_list(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    mixed_events(a, 40)
    mixed_events(b, 40)
    streamed = prune(a, "-n", "-J", "--all", "--include-inprogress")
    listed = prune(b, "-n", "-J", "--all", "--include-inprogress", "--max-total", "1T")
    assert streamed.returncode == listed.returncode == 0
    assert lines(streamed) == lines(listed)
    objs = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert len(objs) == 40
    assert {o["name"] for o in objs if o["rolling"] and o["inprogress"]} == {
        f"eventlog_v2_app-20260101{i:06d}-{i:04d}" for i in (2, 12, 22, 32)}


def peak_rss_kib(tmp_path, *args):
    """Run sc-events-prune from the build without sanitizers under GNU time:
    its exit status and peak RSS (KiB). AddressSanitizer's allocator keeps
    some memory for each allocation a run makes, so a sanitized build's peak
    grows with the logs even where the tool's own memory does not. Not from
    Python's wait4: the child's peak counts Python's own pages from before
    the exec."""
    out = tmp_path / "rss"
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(out),
                           os.path.join(PLAIN, "sc-events-prune"), *map(str, args)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc.returncode, int(out.read_text().split()[-1])


def many(d, n):
    d.mkdir()
    t = time.time() - 10 * DAY
    for i in range(n):
        p = d / f"app-20260101{i // 10000:06d}-{i % 10000:04d}"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.utime(fd, (t, t))
        os.close(fd)


@pytest.fixture
def shm_path(tmp_path):
    """A scratch dir on a tmpfs where there is one (making hundreds of
    thousands of files there takes seconds, not minutes), else tmp_path."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    d = Path(tempfile.mkdtemp(prefix="co-test-prune.", dir="/dev/shm"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(not PLAIN, reason="SC_TEST_PLAIN_BIN is not set: no build without "
                    "sanitizers to measure memory in")
def test_memory_taken_as_read_does_not_grow_with_the_logs(tmp_path, shm_path):
    # The dir is read in batches of 131,072 entries (lib/eventlog.c), which
    # take memory as they fill: both dirs here are bigger than one batch.
    few, lots = shm_path / "few", shm_path / "lots"
    many(few, 140000)
    many(lots, 280000)
    rc_few, rss_few = peak_rss_kib(tmp_path, "--no-master", "-q", "-d", few, "--older-than", "5d")
    rc_lots, rss_lots = peak_rss_kib(tmp_path, "--no-master", "-q", "-d", lots,
                                     "--older-than", "5d")
    assert rc_few == rc_lots == 0
    assert list(few.iterdir()) == [] and list(lots.iterdir()) == []
    # 140,000 more logs: not even 5 bytes each (the whole list takes more than 60)
    assert rss_lots - rss_few < 600, (rss_few, rss_lots)


def test_driver_logs_taken_as_read_and_listed(tmp_path):
    for how in ([], ["--keep", "100000000"]):
        base = tmp_path / ("listed" if how else "streamed")
        events, drivers = base / "events", base / "driver-logs"
        events.mkdir(parents=True)
        drivers.mkdir()
        single(events, "app-20260101000000-0001.inprogress", 10)
        for i in range(1, 5):
            single(drivers, f"app-20260101000000-000{i}_driver.log", 10, size=10 * i)
        (drivers / ".app-20260101000000-0002_driver.log.crc").write_bytes(b"c" * 5)
        single(drivers, "app-20260101000000-0005_driver.log", 1)
        single(drivers, "README", 10)
        # sc-submit still writes this one: it holds the file's lock
        holder = subprocess.Popen(
            [sys.executable, "-c", "import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "fcntl.lockf(fd, fcntl.LOCK_EX)\nprint(flush=True)\nsys.stdin.read()\n",
             str(drivers / "app-20260101000000-0003_driver.log")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline() == "\n"
            proc = run("sc-events-prune", "--no-master", "-d", events,
                       f"--driver-log-dir={drivers}", "--older-than", "5d", *how)
        finally:
            holder.stdin.close()
            holder.wait()
        assert proc.returncode == 0, proc.stderr
        assert lines(proc) == [
            "removed\tapp-20260101000000-0002_driver.log\tapp-20260101000000-0002\t25",
            "removed\tapp-20260101000000-0004_driver.log\tapp-20260101000000-0004\t40"]
        assert "kept app-20260101000000-0001_driver.log: its event log is kept as in " \
            "progress" in proc.stderr
        assert "kept app-20260101000000-0003_driver.log: being written (sc-submit runs)" \
            in proc.stderr
        assert "removed 2 driver logs, 0.0 MiB; kept 3 (2 protected); 1 skipped" in proc.stderr
        assert sorted(p.name for p in drivers.iterdir()) == [
            "README", "app-20260101000000-0001_driver.log",
            "app-20260101000000-0003_driver.log", "app-20260101000000-0005_driver.log"]
