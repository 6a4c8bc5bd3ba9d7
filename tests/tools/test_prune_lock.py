"""sc-events-prune's lock: an OFD lock on .sc-prune.lock in the events dir.

Two runs at once (the second exits 75 and deletes nothing, or waits with
--lock-wait), a lock file that is a link, and dry runs in a directory the
user cannot write. No cluster is needed: the master is a stub or not asked.
"""
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import SANITIZER_MARKERS, run, tool, wait_for

LOCK = ".sc-prune.lock"


@pytest.fixture
def events(tmp_path, no_user_config):
    d = tmp_path / "events"
    d.mkdir()
    return d


def single(events, name, age_days=10):
    p = events / name
    p.write_bytes(b"x" * 100)
    t = time.time() - age_days * 86400
    os.utime(p, (t, t))
    return p


def removed(proc):
    return [line.split("\t")[1] for line in proc.stdout.splitlines()
            if line.startswith(("removed\t", "would-remove\t"))]


def prune(*args, env=None):
    return run("sc-events-prune", "--no-master", *args, env=env)


class Holder:
    """Another process holding the prune lock (a POSIX lock, which OFD locks
    meet), until released."""

    def __init__(self, path, shared=False):
        code = ("import fcntl, os, sys\n"
                f"fd = os.open({str(path)!r}, os.O_RDONLY if {shared} else os.O_RDWR | os.O_CREAT)\n"
                f"fcntl.lockf(fd, fcntl.LOCK_SH if {shared} else fcntl.LOCK_EX)\n"
                "print('locked', flush=True)\n"
                "sys.stdin.read()\n")
        self.proc = subprocess.Popen(["python3", "-c", code], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "locked\n"

    def release(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_second_run_exits_75_while_the_first_holds_the_lock(events, stub):
    """Two real runs: the first holds the lock while its master hangs."""
    for i in range(3):
        single(events, f"app-20260101000000-000{i}")
    answer = threading.Event()

    def hang(h):
        answer.wait(60)
        h.send(200, b"{}")
    stub.behaviour = hang
    env = {**os.environ, **stub.env, "SC_TIMEOUT": "60"}
    first = subprocess.Popen([tool("sc-events-prune"), "-d", str(events), "--all"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    waiter = None
    try:
        wait_for(lambda: stub.requests, timeout=30, what="the first run to ask the master")
        assert (events / LOCK).exists()
        second = run("sc-events-prune", "-d", events, "--all", env=stub.env)
        assert second.returncode == 75, second.stderr
        assert second.stderr == f"sc-events-prune: {events}: another sc-events-prune is running\n"
        assert second.stdout == ""
        assert len([p for p in events.iterdir() if p.name != LOCK]) == 3

        # a third waits, and runs once the first is done
        waiter = subprocess.Popen([tool("sc-events-prune"), "-d", str(events), "--all",
                                   "--no-master", "--lock-wait", "60"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # give it time to start waiting: it must still be waiting then
        assert waiter.poll() is None
        answer.set()
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert len(out.splitlines()) == 3
        wout, werr = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, werr
        assert wout == ""     # the first removed everything
        for marker in SANITIZER_MARKERS:
            assert marker not in err + werr
    finally:
        answer.set()
        for p in (first, waiter):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()
    assert list(events.iterdir()) == []  # the lock file went with the last run


def test_lock_wait_expires_with_75(events):
    single(events, "app-20260101000000-0001")
    holder = Holder(events / LOCK)
    try:
        start = time.monotonic()
        proc = prune("-d", events, "--all", "--lock-wait", "1.5")
        assert 1.5 <= time.monotonic() - start < 10
        assert proc.returncode == 75
        assert "another sc-events-prune is running" in proc.stderr
        assert (events / "app-20260101000000-0001").exists()
        # a dry run takes the lock too
        assert prune("-d", events, "--all", "-n").returncode == 75
    finally:
        holder.release()
    proc = prune("-d", events, "--all")
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == ["app-20260101000000-0001"]


def test_a_lock_file_left_behind_is_locked_again(events):
    """A run that was killed leaves the file; the next one uses it and removes it."""
    single(events, "app-20260101000000-0001")
    (events / LOCK).write_text("")
    proc = prune("-d", events, "--all")
    assert proc.returncode == 0, proc.stderr
    assert list(events.iterdir()) == []


def test_a_lock_name_linked_to_a_file_of_ours_leaves_its_mode(events, tmp_path):
    """A hard link to one of the pruning user's own files, planted as the
    lock file (where fs.protected_hardlinks is off, anyone can make one):
    the lock is taken on it, and the file is not made world-writable."""
    single(events, "app-20260101000000-0001")
    secret = tmp_path / "secret"
    secret.write_text("private\n")
    secret.chmod(0o600)
    os.link(secret, events / LOCK)
    proc = prune("-d", events, "--all")
    assert proc.returncode == 0, proc.stderr
    assert oct(secret.stat().st_mode & 0o7777) == oct(0o600)
    assert secret.read_text() == "private\n"


@pytest.mark.parametrize("kind", ["symlink", "dangling", "fifo", "dir", "socket"])
def test_a_lock_name_that_is_not_a_file_does_not_stop_pruning(events, tmp_path, kind):
    # anyone who can write the events dir can take the name first: it is
    # neither followed nor used, and the run goes on without the lock
    single(events, "app-20260101000000-0001")
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    lock = events / LOCK
    if kind == "symlink":
        lock.symlink_to(target)
    elif kind == "dangling":
        lock.symlink_to(tmp_path / "missing")
    elif kind == "fifo":
        os.mkfifo(lock)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(lock))
        sock.close()
    else:
        lock.mkdir()
    for args in (["--all", "-n"], ["--all"]):
        proc = prune("-d", events, *args)
        assert proc.returncode == 0, proc.stderr
        assert f"{events}/{LOCK}: " in proc.stderr and "without it" in proc.stderr
        assert removed(proc) == ["app-20260101000000-0001"]
    assert not (events / "app-20260101000000-0001").exists()
    assert target.read_text() == "keep me\n"
    assert not (tmp_path / "missing").exists()
    assert os.path.lexists(lock)


# ---- a directory the user cannot write


@pytest.fixture
def readonly_events(no_user_config):
    """An events dir another user cannot write; yields (dir, command prefix
    that runs a tool as that user)."""
    base = Path(tempfile.mkdtemp(prefix="sc-prune-ro-"))
    base.chmod(0o755)
    d = base / "events"
    d.mkdir()
    d.chmod(0o755)
    if os.geteuid() == 0:
        # with a configuration dir that user may search (root's tmp_path is not)
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                  "env", f"XDG_CONFIG_HOME={base}/xdg"]
    else:
        prefix = []
    yield d, prefix
    d.chmod(0o755)
    shutil.rmtree(base)


def run_as(prefix, *args):
    proc = subprocess.run([*prefix, tool("sc-events-prune"), "--no-master", *map(str, args)],
                          capture_output=True, text=True, timeout=60)
    for marker in SANITIZER_MARKERS:
        assert marker not in proc.stderr, proc.stderr
    return proc


def make_readonly(d, prefix):
    if not prefix:
        d.chmod(0o555)


def test_dry_run_in_a_readonly_dir_takes_no_lock_and_says_so(readonly_events):
    events, prefix = readonly_events
    single(events, "app-20260101000000-0001")
    make_readonly(events, prefix)
    proc = run_as(prefix, "-d", events, "--all", "-n")
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == ["app-20260101000000-0001"]
    assert "the dry run goes on without the lock" in proc.stderr
    assert sorted(p.name for p in events.iterdir()) == ["app-20260101000000-0001"]


def test_dry_run_in_a_readonly_dir_takes_a_shared_lock_on_an_existing_file(readonly_events):
    events, prefix = readonly_events
    single(events, "app-20260101000000-0001")
    lock = events / LOCK
    lock.write_text("")
    lock.chmod(0o644)
    make_readonly(events, prefix)
    proc = run_as(prefix, "-d", events, "--all", "-n")
    assert proc.returncode == 0, proc.stderr
    assert "the dry run takes a shared lock" in proc.stderr
    assert removed(proc) == ["app-20260101000000-0001"]
    # the shared lock is a real one: it waits for a run that deletes
    holder = Holder(lock)
    try:
        proc = run_as(prefix, "-d", events, "--all", "-n")
        assert proc.returncode == 75
        assert "another sc-events-prune is running" in proc.stderr
    finally:
        holder.release()
    # and it does not keep another dry run out
    holder = Holder(lock, shared=True)
    try:
        assert run_as(prefix, "-d", events, "--all", "-n").returncode == 0
    finally:
        holder.release()
    assert lock.exists()  # not the dry run's to remove


def test_run_in_a_readonly_dir_deletes_nothing_as_before(readonly_events):
    events, prefix = readonly_events
    single(events, "app-20260101000000-0001")
    make_readonly(events, prefix)
    proc = run_as(prefix, "-d", events, "--all")
    assert proc.returncode == 1, proc.stderr
    assert "without the lock" in proc.stderr
    assert "Permission denied" in proc.stderr
    assert removed(proc) == []
    assert (events / "app-20260101000000-0001").exists()


def test_run_goes_on_past_a_lock_file_it_cannot_write(readonly_events):
    """In a dir the user can write, another user's lock file it cannot open
    for writing is not used: the run goes on without the lock."""
    events, prefix = readonly_events
    if not prefix:
        pytest.skip("needs a second user")
    single(events, "app-20260101000000-0001")
    events.chmod(0o777)
    lock = events / LOCK
    lock.write_text("")
    lock.chmod(0o644)
    assert run_as(prefix, "-d", events, "--all", "-n").returncode == 0
    assert (events / "app-20260101000000-0001").exists()
    proc = run_as(prefix, "-d", events, "--all")
    assert proc.returncode == 0, proc.stderr
    assert f"{events}/{LOCK}: a file this user cannot write" in proc.stderr
    assert not (events / "app-20260101000000-0001").exists()
    assert lock.exists()
