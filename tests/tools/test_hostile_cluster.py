"""A hostile cluster: a master, workers and an events dir that lie or are planted.

No Spark runs here: stub HTTP servers play the master and the workers, and
the events dir is a temporary one with event-log files in it.
"""
import http.server
import json
import os
import pathlib
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse

import pytest

from conftest import SANITIZER_MARKERS, StubHandler, free_port, run, tool

APP = "app-20260101000000-0001"


# ---- helpers ------------------------------------------------------------


class RecordingHandler(StubHandler):
    """The conftest stub, also keeping each request's headers."""

    def do_GET(self):
        self.server.headers.append((self.path, dict(self.headers)))
        super().do_GET()

    def do_POST(self):
        self.server.headers.append((self.path, dict(self.headers)))
        super().do_POST()


@pytest.fixture
def servers():
    """Start stub servers on demand; each records requests and headers."""
    started = []

    def start(behaviour):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
        server.daemon_threads = True
        server.requests = []
        server.headers = []
        server.behaviour = behaviour
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
        server.url = f"http://127.0.0.1:{port}"
        server.env = {"SC_MASTER": f"spark://127.0.0.1:{port}", "SC_MASTER_UI": server.url,
                      "SC_REST_URL": server.url, "SC_HISTORY_URL": server.url,
                      "SC_TIMEOUT": "2"}
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No user configuration, no token from the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in ("SC_CONFIG", "SC_TOKEN", "SC_TOKEN_FILE", "SC_TOKEN_ORIGINS"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def master_doc(status="ALIVE", workers=(), active=(), completed=()):
    return {"url": "spark://127.0.0.1:7077", "status": status, "workers": list(workers),
            "aliveworkers": len(workers), "cores": 4, "coresused": 0, "memory": 4096,
            "memoryused": 0, "activeapps": list(active), "completedapps": list(completed),
            "activedrivers": [], "completeddrivers": []}


def app(app_id=APP, name="job", user="someone", state="FINISHED", start_ms=None):
    return {"id": app_id, "name": name, "user": user, "state": state,
            "starttime": start_ms if start_ms is not None else int(time.time() * 1000) - 3600e3,
            "duration": 1000, "cores": 1, "memoryperexecutor": 512}


def worker(webui, worker_id="worker-1"):
    return {"id": worker_id, "host": "127.0.0.1", "port": 1, "webuiaddress": webui,
            "cores": 2, "coresused": 0, "memory": 1024, "memoryused": 0, "state": "ALIVE",
            "lastheartbeat": int(time.time() * 1000)}


def worker_json(app_id=APP, executors=(0,)):
    return {"id": "worker-1", "masterurl": "spark://127.0.0.1:7077", "cores": 2,
            "coresused": 0, "memory": 1024, "memoryused": 0, "executors": [],
            "finishedexecutors": [{"id": e, "appid": app_id, "appdesc": {"name": "job"}}
                                  for e in executors],
            "drivers": [], "finisheddrivers": []}


def event_log(path, app_id=APP, age_days=30, complete=False):
    """A real (small) Spark event log, as a driver writes it."""
    lines = [{"Event": "SparkListenerLogStart", "Spark Version": "3.5.1"},
             {"Event": "SparkListenerApplicationStart", "App Name": "job", "App ID": app_id,
              "Timestamp": 1767225600000, "User": "someone"}]
    if complete:
        lines.append({"Event": "SparkListenerApplicationEnd", "Timestamp": 1767225660000})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    t = time.time() - age_days * 86400
    os.utime(path, (t, t))
    return path


@pytest.fixture
def events(tmp_path):
    d = tmp_path / "events"
    d.mkdir()
    return d


def removed(proc):
    return [line.split("\t")[1] for line in proc.stdout.splitlines()]


def no_sanitizer_report(stderr):
    for marker in SANITIZER_MARKERS:
        assert marker not in stderr, stderr


# ---- sc-events-prune: in-progress logs need an ALIVE master's word ----


def test_prune_unreachable_master_keeps_in_progress_even_when_included(events, dead_master,
                                                                        isolated):
    event_log(events / f"{APP}.inprogress")
    event_log(events / "app-20260101000000-0002", "app-20260101000000-0002", complete=True)
    proc = run("sc-events-prune", "-d", events, "--all", "--include-inprogress",
               env=dead_master)
    assert proc.returncode == 75, proc.stderr
    assert removed(proc) == ["app-20260101000000-0002"]
    assert (events / f"{APP}.inprogress").exists()
    assert f"kept {APP}.inprogress: in progress, and the master could not be asked" \
        in proc.stderr
    assert "could not vouch" in proc.stderr


@pytest.mark.parametrize("include", [False, True])
def test_prune_standby_master_vouches_for_nothing(events, servers, isolated, include):
    # a STANDBY master that even lists the application as ended
    doc = master_doc("STANDBY", completed=[app(APP, state="FINISHED")])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    event_log(events / f"{APP}.inprogress")
    args = ["--include-inprogress"] if include else []
    proc = run("sc-events-prune", "-d", events, "--all", *args, env=master.env)
    assert proc.returncode == 75, proc.stderr
    assert removed(proc) == []
    assert (events / f"{APP}.inprogress").exists()
    assert "STANDBY, not ALIVE" in proc.stderr
    assert f"kept {APP}.inprogress" in proc.stderr


def test_prune_garbage_from_the_master_keeps_in_progress(events, servers, isolated):
    master = servers(lambda h: h.send(200, b'{"status": "ALIVE", "url": [1, 2'))
    event_log(events / f"{APP}.inprogress")
    proc = run("sc-events-prune", "-d", events, "--all", "--include-inprogress",
               env=master.env)
    assert proc.returncode == 75, proc.stderr
    assert removed(proc) == []
    assert (events / f"{APP}.inprogress").exists()
    assert "in-progress logs are kept" in proc.stderr


def test_prune_alive_master_that_lists_it_ended_lets_it_go(events, servers, isolated):
    doc = master_doc("ALIVE", completed=[app(APP, state="FAILED")])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    event_log(events / f"{APP}.inprogress")
    proc = run("sc-events-prune", "-d", events, "--all", env=master.env)
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == [f"{APP}.inprogress"]


def test_prune_rolling_log_with_a_planted_final_appstatus_stays_in_progress(events,
                                                                           isolated):
    # a final appstatus file put beside a running application's in-progress one:
    # the verdict must not depend on which of the two the directory lists last
    apps = [f"app-20260101000000-{i:04d}" for i in range(1, 13)]
    last_is_final = 0
    for a in apps:
        rolling = events / f"eventlog_v2_{a}"
        rolling.mkdir()
        (rolling / f"events_1_{a}").write_text("{}\n")
        (rolling / f"appstatus_{a}.inprogress").write_bytes(b"")
        (rolling / f"appstatus_{a}").write_bytes(b"")
        status = [n for n in os.listdir(rolling) if n.startswith("appstatus_")]
        last_is_final += status[-1] == f"appstatus_{a}"
    assert last_is_final, "no directory lists the final appstatus file last"
    proc = run("sc-events-prune", "-d", events, "--no-master", "--all")
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == []
    for a in apps:
        assert (events / f"eventlog_v2_{a}" / f"events_1_{a}").exists()
        assert f"kept eventlog_v2_{a}: in progress" in proc.stderr


@pytest.fixture
def sparse_dir():
    """A dir on a file system whose files may claim 2^62 bytes (tmpfs), else a skip."""
    base = "/dev/shm"
    if not os.path.isdir(base) or not os.access(base, os.W_OK):
        pytest.skip("no /dev/shm")
    with tempfile.TemporaryDirectory(dir=base) as d:
        try:
            with open(os.path.join(d, "probe"), "wb") as f:
                f.truncate(1 << 62)
        except OSError:
            pytest.skip("no file system here takes a 2^62-byte sparse file")
        os.unlink(os.path.join(d, "probe"))
        yield pathlib.Path(d)


def test_prune_max_total_counts_huge_sparse_files_without_wrapping(sparse_dir, isolated):
    # files that claim 2^62 bytes each: their total must not wrap to below
    # the limit (nothing removed) or overflow (undefined)
    events = sparse_dir / "events"
    events.mkdir()
    old = time.time() - 3 * 86400
    sparse = []
    for i in range(1, 4):
        name = f"app-20260101000000-000{i}"
        with open(events / name, "wb") as f:
            f.truncate(1 << 62)
        os.utime(events / name, (old + i, old + i))
        sparse.append(name)
    rolling_app = "app-20260101000000-0004"
    rolling = events / f"eventlog_v2_{rolling_app}"
    rolling.mkdir()
    for n in (1, 2):
        with open(rolling / f"events_{n}_{rolling_app}", "wb") as f:
            f.truncate(1 << 62)
    (rolling / f"appstatus_{rolling_app}").write_bytes(b"")
    for path in [*rolling.iterdir(), rolling]:
        os.utime(path, (old + 10, old + 10))
    sparse.append(rolling.name)
    event_log(events / "app-20260101000000-0009", "app-20260101000000-0009", age_days=0,
              complete=True)
    proc = run("sc-events-prune", "-d", events, "--no-master", "--max-total", "1M")
    assert proc.returncode == 0, proc.stderr
    assert sorted(removed(proc)) == sorted(sparse), proc.stdout
    assert sorted(os.listdir(events)) == ["app-20260101000000-0009"]


def test_prune_log_dated_past_what_milliseconds_hold_is_not_taken_as_old(sparse_dir,
                                                                        isolated):
    # a planted log dated 2^62 s ahead: its time in ms must not wrap (to the
    # epoch, which --older-than took as the oldest of all)
    events = sparse_dir / "events"
    events.mkdir()
    future = events / "app-20260101000000-0001"
    event_log(future, complete=True)
    try:
        os.utime(future, (1 << 62, 1 << 62))
    except OSError:
        pytest.skip("no file system here takes a time 2^62 s ahead")
    if os.stat(future).st_mtime < 1 << 61:
        pytest.skip("no file system here keeps a time 2^62 s ahead")
    event_log(events / "app-20260101000000-0002", "app-20260101000000-0002", complete=True)
    proc = run("sc-events-prune", "-d", events, "--no-master", "--older-than", "1d")
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == ["app-20260101000000-0002"]
    assert future.exists()
    proc = run("sc-events-prune", "-d", events, "--no-master", "--keep", "0", "-n", "-J")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["name"] for line in proc.stdout.splitlines()] == [future.name]


def test_prune_nothing_held_back_is_exit_0(events, dead_master, isolated):
    event_log(events / f"{APP}.inprogress")
    event_log(events / "app-20260101000000-0002", "app-20260101000000-0002", complete=True)
    # the in-progress log is not selected: nothing was held back
    proc = run("sc-events-prune", "-d", events, "--app", "app-20260101000000-0002",
               env=dead_master)
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == ["app-20260101000000-0002"]


# ---- sc-events-prune: only its own hidden dirs are emptied ------------


def test_prune_never_empties_a_planted_sc_prune_dir(events, isolated):
    planted = events / ".sc-prune.eventlog_v2_app-20260101000000-0009"
    planted.mkdir()
    (planted / "precious").write_text("not an event log")
    (planted / "events_1_app-20260101000000-0009").write_text("looks like one")
    forged = events / ".sc-prune.forged"
    forged.mkdir()
    (forged / "data").write_text("keep")
    # a marker that names another dir
    (forged / ".sc-prune-owner").write_text(f"sc-events-prune 1:2:{os.geteuid()}\n")
    linked = events / ".sc-prune.linked"
    linked.mkdir()
    (linked / "data").write_text("keep")
    os.symlink("/etc/hostname", linked / ".sc-prune-owner")
    event_log(events / "app-20260101000000-0002", "app-20260101000000-0002", complete=True)
    proc = run("sc-events-prune", "--no-master", "-d", events, "--all")
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == ["app-20260101000000-0002"]
    assert (planted / "precious").read_text() == "not an event log"
    assert (planted / "events_1_app-20260101000000-0009").exists()
    assert (forged / "data").exists() and (linked / "data").exists()


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_prune_is_not_blocked_by_a_planted_hidden_name(events, isolated, kind):
    # ".sc-prune.<name>" taken first by another user must not make that
    # log impossible to prune
    app_id = "app-20260101000000-0003"
    log = events / f"eventlog_v2_{app_id}"
    log.mkdir()
    (log / f"events_1_{app_id}").write_bytes(b"e")
    (log / f"appstatus_{app_id}").write_bytes(b"")
    old = time.time() - 30 * 86400
    for p in (log / f"events_1_{app_id}", log / f"appstatus_{app_id}", log):
        os.utime(p, (old, old))
    planted = events / f".sc-prune.eventlog_v2_{app_id}"
    if kind == "dir":
        planted.mkdir()
        (planted / "precious").write_text("keep")
    else:
        planted.write_text("keep")
    proc = run("sc-events-prune", "--no-master", "-d", events, "--older-than", "7d")
    assert proc.returncode == 0, proc.stderr
    assert removed(proc) == [f"eventlog_v2_{app_id}"]
    assert not log.exists()
    assert (planted / "precious" if kind == "dir" else planted).read_text() == "keep"
    assert sorted(p.name for p in events.iterdir() if p.name.startswith(".sc-prune.")) == \
        [planted.name] + ([".sc-prune.lock"] if (events / ".sc-prune.lock").exists() else [])


def test_prune_finishes_its_own_marked_leftover(events, isolated):
    hidden = events / ".sc-prune.eventlog_v2_app-20260101000000-0001"
    hidden.mkdir()
    (hidden / "events_1_app-20260101000000-0001").write_bytes(b"e")
    st = os.stat(hidden)
    (hidden / ".sc-prune-owner").write_text(
        f"sc-events-prune {st.st_dev}:{st.st_ino}:{os.geteuid()}\n")
    proc = run("sc-events-prune", "--no-master", "-d", events, "--all")
    assert proc.returncode == 0, proc.stderr
    assert not hidden.exists()


# ---- HTTP: http and https only; the token only to configured origins --


class Listener:
    """A raw TCP listener that counts connections (a gopher "worker")."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("scheme", ["gopher", "file", "dict"])
def test_logs_refuse_a_worker_address_that_is_not_http(servers, isolated, scheme):
    listener = Listener()
    try:
        webui = (f"file:///etc/passwd?" if scheme == "file"
                 else f"{scheme}://127.0.0.1:{listener.port}/_GET%20x")
        doc = master_doc(workers=[worker(webui)], completed=[app()])
        master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
        proc = run("sc-logs", APP, env={**master.env, "SC_TOKEN": "s3cret"})
        time.sleep(0.3)
        assert listener.connections == 0
    finally:
        listener.close()
    assert proc.returncode == 1, proc.stderr
    assert "only http and https" in proc.stderr
    assert webui.split("?")[0] in proc.stderr
    assert "root:" not in proc.stdout


def test_token_goes_to_the_master_and_not_to_a_worker(servers, isolated):
    master, wk = logs_cluster(servers, says_hello)
    proc = run("sc-logs", APP, env={**master.env, "SC_TOKEN": "s3cret"})
    assert proc.returncode == 0, proc.stderr
    assert "hello" in proc.stdout
    assert master.headers and all(h.get("Authorization") == "Bearer s3cret"
                                  for _, h in master.headers)
    assert wk.headers
    assert all("Authorization" not in h for _, h in wk.headers), wk.headers
    # a configured extra origin gets it
    wk.headers.clear()
    proc = run("sc-logs", APP, env={**master.env, "SC_TOKEN": "s3cret",
                                    "SC_TOKEN_ORIGINS": f"http://example.invalid,{wk.url}"})
    assert proc.returncode == 0, proc.stderr
    assert wk.headers and all(h.get("Authorization") == "Bearer s3cret"
                              for _, h in wk.headers)


def test_netrc_credentials_go_to_the_master_and_not_to_a_worker(servers, isolated, tmp_path):
    # a worker's address comes from the master: ~/.netrc's default entry
    # must not send the user's password to whatever host registered
    master, wk = logs_cluster(servers, says_hello)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("default login alice password s3cret\n")
    (home / ".netrc").chmod(0o600)
    basic = "Basic YWxpY2U6czNjcmV0"
    env = {**master.env, "HOME": str(home), "SC_EVENTS_DIR": str(tmp_path / "none")}
    proc = run("sc-logs", APP, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "hello" in proc.stdout
    assert master.headers and all(h.get("Authorization") == basic for _, h in master.headers)
    assert wk.headers
    assert all("Authorization" not in h for _, h in wk.headers), wk.headers
    # nor when the logs go into a bundle
    wk.headers.clear()
    run("sc-logs", "-o", str(tmp_path / "b.tar.gz"), APP, env=env)
    assert any(p.startswith("/log") for p, _ in wk.headers), wk.headers
    assert all("Authorization" not in h for _, h in wk.headers), wk.headers


# ---- sc-logs: a worker's log replies are not trusted -------------------


def logs_cluster(servers, log_reply, app_id=APP, start_ms=None, **worker_fields):
    """A master with one worker whose /log/ answers log_reply(handler, query);
    the application's id and start, and the worker's fields, as given."""
    def worker_behaviour(h):
        if h.path.startswith("/json"):
            h.send(200, json.dumps(worker_json(app_id=app_id)).encode())
        else:
            log_reply(h)

    wk = servers(worker_behaviour)
    doc = master_doc(workers=[dict(worker(wk.url), **worker_fields)],
                     completed=[app(app_id=app_id, start_ms=start_ms)])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    return master, wk


def says_hello(h):
    h.send(200, b"==== Bytes 0-6 of 6 of /x/stderr ====\nhello\n", "text/plain")


def claims_more_than_it_sends(h):
    h.send(200, b"==== Bytes 0-0 of 5000000000 of /x/stderr ====\n", "text/plain")


def never_advances(h):
    h.send(200, b"==== Bytes 0-10 of 100 of /x/stderr ====\n0123456789", "text/plain")


def a_byte_at_a_time(h):
    """Each piece of a huge log one byte long, where it was asked for."""
    q = urllib.parse.parse_qs(urllib.parse.urlparse(h.path).query)
    n = int(q.get("offset", ["0"])[0])
    h.send(200, f"==== Bytes {n}-{n + 1} of {9 * 10**18} of /x/stderr ====\nx".encode(),
           "text/plain")


PIECE = (1 << 20) - 4096      # what sc-logs asks for at a time (CO_LOG_PIECE)


def a_smaller_log_at_each_reply(h):
    """A huge log in its first piece; then, in each piece, one byte of a
    log two bytes longer than where it was asked for."""
    q = urllib.parse.parse_qs(urllib.parse.urlparse(h.path).query)
    n = int(q.get("offset", ["0"])[0])
    if n == 0:
        h.send(200, f"==== Bytes 0-{PIECE} of {9 * 10**18} of /x/stderr ====\n".encode() +
               b"x" * PIECE, "text/plain")
    else:
        h.send(200, f"==== Bytes {n}-{n + 1} of {n + 2} of /x/stderr ====\nx".encode(),
               "text/plain")


def whole_piece_again(h):
    """The first piece of a longer log, whole, again and again."""
    h.send(200, f"==== Bytes 0-{PIECE} of {3 * PIECE} of /x/stderr ====\n".encode() +
           b"x" * PIECE, "text/plain")


def claims_a_range_of_4_exabytes(h):
    """A range whose size times three is past any 64-bit integer."""
    h.send(200, f"==== Bytes 0-{4 * 10**18} of {4 * 10**18} of /x/stderr ====\n".encode() +
           b"x" * 10, "text/plain")


@pytest.mark.parametrize("reply", [claims_more_than_it_sends, never_advances, a_byte_at_a_time,
                                   a_smaller_log_at_each_reply, claims_a_range_of_4_exabytes])
def test_logs_stream_ends_a_log_that_does_not_advance(servers, isolated, reply):
    master, wk = logs_cluster(servers, reply)
    proc = run("sc-logs", APP, env=master.env, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert "does not advance" in proc.stderr
    assert len(proc.stdout) < 200 + 2 * PIECE
    assert sum(1 for r in wk.requests if r[1].startswith("/log")) < 10


def test_logs_of_an_application_the_master_says_began_before_1970(servers, isolated):
    # a start time at the smallest 64-bit integer, and a dead worker whose
    # heartbeat is compared with it: the worker is asked all the same
    master, _ = logs_cluster(servers, says_hello, start_ms=-2**63, state="DEAD",
                             lastheartbeat=0)
    proc = run("sc-logs", APP, env=master.env)
    assert proc.returncode == 0, proc.stderr
    assert "hello" in proc.stdout


def test_logs_by_name_refuses_an_application_id_that_is_not_spark_s(servers, isolated):
    # the id goes into each worker's URL: one with query syntax in it is
    # the master's invention, and no worker is asked anything with it
    hostile = f"{APP}&logType=../../../../etc/passwd"
    master, wk = logs_cluster(servers, says_hello, app_id=hostile)
    proc = run("sc-logs", "--name", "job", env=master.env)
    assert proc.returncode == 76, proc.stderr
    assert "not a Spark application id" in proc.stderr
    assert not any(r[1].startswith("/log") for r in wk.requests)


def test_logs_worker_lookup_is_bounded_whatever_the_master_lists(servers, isolated):
    # A master listing many "workers" at an address that takes connections
    # and never answers: the lookup of the workers ends within its bound
    # (three times the request timeout), the real worker's log comes, and
    # each worker not asked is named.
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)            # never accepted: every request hangs
    hole_url = f"http://127.0.0.1:{hole.getsockname()[1]}"
    master, wk = logs_cluster(servers, says_hello)
    doc = master_doc(workers=[worker(wk.url)] + [worker(hole_url, f"worker-hole-{i}")
                                                 for i in range(40)],
                     completed=[app()])
    master.behaviour = lambda h: h.send(200, json.dumps(doc).encode())
    started = time.monotonic()
    try:
        proc = run("sc-logs", "--no-prefix", APP, env=dict(master.env, SC_TIMEOUT="1"),
                   timeout=60)
    finally:
        hole.close()
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "hello\n"
    assert took < 10, took      # asked one by one, 40 s at least
    # those that timed out one by one, the rest on one line
    timed_out = [line for line in proc.stderr.splitlines() if "timed out after 1.0 s" in line]
    not_asked = [line for line in proc.stderr.splitlines() if "not asked" in line]
    assert 4 <= len(timed_out) < 40 and len(not_asked) == 1, proc.stderr
    assert not_asked[0].endswith(f"and {39 - len(timed_out)} more workers: not asked: "
                                 "the workers' lookup took its 3 s"), proc.stderr


def test_logs_takes_at_most_10000_executors_from_a_worker(servers, isolated):
    def worker_behaviour(h):
        if h.path.startswith("/json"):
            h.send(200, json.dumps(worker_json(executors=range(10001))).encode())
        else:
            says_hello(h)

    wk = servers(worker_behaviour)
    doc = master_doc(workers=[worker(wk.url)], completed=[app()])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    proc = run("sc-logs", "-e", "0", "-e", "9999", "-e", "10000", "--no-prefix", APP,
               env=master.env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "hello\nhello\n"
    assert "worker-1: lists more than 10000 executors of the application" in proc.stderr


def test_logs_piece_short_of_its_bytes_is_printed_as_far_as_it_came(servers, isolated):
    # a piece's bytes go on as they arrive: those that came are printed, and
    # the log ends with an error, as the rest never came
    came = b"".join(b"line %03d\n" % i for i in range(20))
    master, wk = logs_cluster(servers, lambda h: h.send(
        200, b"==== Bytes 0-4000 of 4000 of /x/stderr ====\n" + came, "text/plain"))
    proc = run("sc-logs", "--no-prefix", APP, env=master.env, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert "lacks its bytes (bytes 0-4000 of 4000, 180 sent)" in proc.stderr
    assert proc.stdout == came.decode()


def test_logs_reply_in_small_packets(servers, isolated):
    # a header and lines cut anywhere by the network read the same
    body = b"==== Bytes 0-18 of 18 of /x/stderr ====\nfirst\nsecond line\n"

    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        cuts = (0, 1, 7, 20, 38, 39, 41, 50, len(body))
        for a, b in zip(cuts, cuts[1:]):
            h.wfile.write(body[a:b])
            h.wfile.flush()
            time.sleep(0.05)

    master, wk = logs_cluster(servers, trickle)
    proc = run("sc-logs", "--no-prefix", APP, env=master.env, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "first\nsecond line\n"


def test_logs_reply_with_an_endless_header_line(servers, isolated):
    # a header line is bounded (a path is shorter than PATH_MAX): a reply
    # whose header runs on past that is refused, with nothing printed
    master, wk = logs_cluster(servers, lambda h: h.send(
        200, b"==== Bytes 0-10 of 10 of /" + b"x" * 20000 + b"/stderr ====\n0123456789",
        "text/plain"))
    proc = run("sc-logs", APP, env=master.env, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert "not a worker log reply" in proc.stderr
    assert proc.stdout == ""


# A log that stops advancing, before or after its first piece, is left out
# of the bundle and named missing (1); the rest of the bundle is written.
@pytest.mark.parametrize("reply", [claims_more_than_it_sends, never_advances,
                                   whole_piece_again])
def test_logs_bundle_bounded_and_no_temporary_file_left(servers, isolated, tmp_path, reply):
    master, wk = logs_cluster(servers, reply)
    out = tmp_path / "out" / "bundle.tar"
    out.parent.mkdir()
    proc = run("sc-logs", APP, "-o", out, env=master.env, timeout=20)
    assert proc.returncode == 1, proc.stderr
    assert "does not advance" in proc.stderr
    assert sum(1 for r in wk.requests if r[1].startswith("/log")) < 10
    assert [p.name for p in out.parent.iterdir()] == ["bundle.tar"]
    assert out.stat().st_size < 1 << 20
    with tarfile.open(out) as t:
        assert not any("/executors/" in n for n in t.getnames())


def test_logs_bundle_removes_its_temporary_file_when_killed(servers, isolated, tmp_path):
    def hang(h):
        time.sleep(30)

    master, wk = logs_cluster(servers, hang)
    out = tmp_path / "out" / "bundle.tar"
    out.parent.mkdir()
    proc = subprocess.Popen([tool("sc-logs"), APP, "-o", str(out)],
                            env={**os.environ, **master.env, "SC_TIMEOUT": "20"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not any(".tmp." in p.name for p in out.parent.iterdir()):
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert list(out.parent.iterdir()) == []


# ---- sc-logs -J: invalid UTF-8 is replaced, never "out of memory" -------


@pytest.mark.parametrize("raw", [
    b"surrogate \xed\xa0\x80 here",
    b"overlong \xc0\xaf and \xe0\x80\xaf and \xf0\x80\x80\xaf",
    b"beyond \xf4\x90\x80\x80",
    b"cesu \xed\xa0\xbd\xed\xb8\x80",
])
def test_logs_json_replaces_invalid_utf8(servers, isolated, raw):
    body = raw + b"\nok \xc3\xa9\n"

    def reply(h):
        h.send(200, b"==== Bytes 0-%d of %d of /x/stderr ====\n" % (len(body), len(body))
               + body, "text/plain")

    master, wk = logs_cluster(servers, reply)
    proc = subprocess.run([tool("sc-logs"), "-J", APP], capture_output=True,
                          env={**os.environ, **master.env}, timeout=20)
    stderr = proc.stderr.decode("utf-8", "replace")
    no_sanitizer_report(stderr)
    assert proc.returncode == 0, stderr
    assert "out of memory" not in stderr
    lines = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    assert len(lines) == 2
    assert "\ufffd" in lines[0]["line"]
    assert lines[0]["line"].encode("utf-8")  # valid: no lone surrogate survives
    assert lines[1]["line"] == "ok \u00e9"


# ---- sc-submit: never adopts another's application; SIG_IGN is kept ---


def fake_spark_submit(tmp_path, script):
    bindir = tmp_path / "spark" / "bin"
    bindir.mkdir(parents=True)
    path = bindir / "spark-submit"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    events = tmp_path / "events"
    events.mkdir()
    return {"SPARK_HOME": str(tmp_path / "spark"), "SC_EVENTS_DIR": str(events),
            "SPARK_USER": "me"}


# spark-submit's INFO line with the application's id, as a shell command
APP_ID_LINE = (f"echo '26/01/01 00:00:00 INFO StandaloneSchedulerBackend: Connected to Spark "
               f"cluster with app ID {APP}' >&2\n")


def job_master(servers):
    """A master running APP for user me under the name job; kills redirect."""
    doc = master_doc(active=[app(APP, name="job", user="me", state="RUNNING")])
    return servers(lambda h: h.send(200, json.dumps(doc).encode()) if h.path.startswith(
        "/json") else h.send(302, b"", headers=[("Location", "/")]))


def kills(server):
    return [r for r in server.requests if r[0] == "POST" and "kill" in r[1]]


def test_submit_asks_the_master_nothing_when_the_log_gives_the_id(servers, isolated, tmp_path):
    # a spark-submit that logs at INFO names the application itself: its
    # output is relayed as it comes, not held behind a request to a master
    # that may be slow or gone, and the master is not asked at all
    master = job_master(servers)
    env = fake_spark_submit(tmp_path, APP_ID_LINE + "echo 'Pi is roughly 3.14'\n")
    proc = run("sc-submit", "job.py", env={**master.env, **env,
                                           "SC_DRIVER_LOG_DIR": str(tmp_path / "events")},
               timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Pi is roughly 3.14\n"
    assert f"application {APP}" in proc.stderr
    assert [r for r in master.requests if r[1].startswith("/json")] == []


def test_submit_does_not_adopt_another_name_or_user(servers, isolated, tmp_path):
    now = int(time.time() * 1000)
    calls = []

    def master_behaviour(h):
        if h.path.startswith("/json"):
            calls.append(1)
            apps = [] if len(calls) == 1 else [
                app("app-other-name", name="not-mine", user="me", state="RUNNING",
                    start_ms=now + 500),
                app("app-other-user", name="job", user="someone", state="RUNNING",
                    start_ms=now + 500),
                app("app-too-old", name="job", user="me", state="RUNNING",
                    start_ms=now - 3600e3),
            ]
            h.send(200, json.dumps(master_doc(active=[{**a, "state": "RUNNING"}
                                                      for a in apps])).encode())
        else:
            h.send(302, b"", headers=[("Location", "/")])

    master = servers(master_behaviour)
    env = fake_spark_submit(tmp_path, "echo 'WARN quiet logging' >&2\nexec sleep 20\n")
    proc = subprocess.Popen([tool("sc-submit"), "job.py"],
                            env={**os.environ, **master.env, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while len(calls) < 3:
            assert time.monotonic() < deadline, "the master was not asked"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    no_sanitizer_report(stderr)
    assert kills(master) == [], stderr
    assert "app-other" not in stderr and "app-too-old" not in stderr
    assert "nothing is killed on the cluster" in stderr


def test_submit_adopts_only_its_own_named_application(servers, isolated, tmp_path):
    now = int(time.time() * 1000)
    calls = []

    def master_behaviour(h):
        if h.path.startswith("/json"):
            calls.append(1)
            apps = [] if len(calls) == 1 else [
                app("app-other-name", name="not-mine", user="me", state="RUNNING",
                    start_ms=now + 500),
                app("app-mine", name="job", user="me", state="RUNNING", start_ms=now + 500),
            ]
            h.send(200, json.dumps(master_doc(active=apps)).encode())
        else:
            h.send(302, b"", headers=[("Location", "/")])

    master = servers(master_behaviour)
    env = fake_spark_submit(tmp_path, "echo 'WARN quiet logging' >&2\nexec sleep 20\n")
    proc = subprocess.Popen([tool("sc-submit"), "job.py"],
                            env={**os.environ, **master.env, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        # stopped once it has said which application it adopted
        deadline = time.monotonic() + 15
        while not any("application app-mine" in line for line in lines):
            assert time.monotonic() < deadline, f"no application adopted: {lines}"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        reader.join(timeout=10)
        stderr = "".join(lines)
    finally:
        proc.kill()
    no_sanitizer_report(stderr)
    assert "application app-mine" in stderr
    killed = kills(master)
    assert killed and all(b"app-other" not in body for _, _, body in killed)
    assert any(b"app-mine" in body for _, _, body in killed)


def test_submit_adopts_no_application_whose_id_is_not_one(servers, isolated, tmp_path):
    # the id would go to the terminal, the id file (read back by a script:
    # "sc-kill $(cat id)"), the driver log's name and the kill
    now = int(time.time() * 1000)
    calls = []
    hostile = f"{APP}\n\x1b]0;owned\x07 --all app-20260101000000-0002"

    def master_behaviour(h):
        if h.path.startswith("/json"):
            calls.append(1)
            apps = [] if len(calls) == 1 else [
                app(hostile, name="job", user="me", state="RUNNING", start_ms=now + 500)]
            h.send(200, json.dumps(master_doc(active=apps)).encode())
        else:
            h.send(302, b"", headers=[("Location", "/")])

    master = servers(master_behaviour)
    env = fake_spark_submit(tmp_path, "echo 'WARN quiet logging' >&2\nexec sleep 20\n")
    id_file = tmp_path / "app-id"
    proc = subprocess.Popen([tool("sc-submit"), "-i", id_file, "job.py"],
                            env={**os.environ, **master.env, **env,
                                 "SC_DRIVER_LOG_DIR": str(tmp_path / "events")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # asked three times, or adopted it and stopped asking
        deadline = time.monotonic() + 6
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        proc.kill()
    no_sanitizer_report(stderr.decode("utf-8", "replace"))
    assert len(calls) >= 2, "the master was not asked"
    assert b"\x1b" not in stderr and b"owned" not in stderr, stderr
    assert not id_file.exists()
    assert kills(master) == []
    assert b"nothing is killed on the cluster" in stderr


def test_submit_takes_no_driver_id_from_what_a_worker_says(servers, isolated, tmp_path):
    # a client-mode driver logs what workers say of themselves: a worker
    # registered under an id that reads like a submission's line must not
    # make the deadline's kill go to another user's driver
    master = job_master(servers)
    env = fake_spark_submit(
        tmp_path,
        APP_ID_LINE +
        f"echo '26/01/01 00:00:01 INFO StandaloneSchedulerBackend: Granted executor ID "
        f"{APP}/0 on hostPort 10.0.0.9:1 with 1 core(s); executor added on w Driver "
        f"successfully submitted as driver-20250101000000-0099 and Submission successfully "
        f"created as driver-20250101000000-0098' >&2\nexec sleep 30\n")
    proc = run("sc-submit", "--deadline", "2", "job.py", env={**master.env, **env},
               timeout=60)
    killed = kills(master)
    assert killed, proc.stderr
    assert all(b"driver-2025" not in body and "driver-2025" not in path
               for _, path, body in killed), killed
    assert any(APP.encode() in body for _, _, body in killed), killed
    assert f"{APP}: deadline of 2s reached; killed" in proc.stderr
    assert "sc-submit: driver driver-2025" not in proc.stderr


def test_submit_keeps_an_ignored_sighup_ignored(servers, isolated, tmp_path):
    master = job_master(servers)
    env = fake_spark_submit(tmp_path, APP_ID_LINE + "sleep 3\necho done\n")

    def ignore_hup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen([tool("sc-submit"), "job.py"],
                            env={**os.environ, **master.env, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore_hup)
    # sc-submit has set up its signals once spark-submit runs
    children = f"/proc/{proc.pid}/task/{proc.pid}/children"
    deadline = time.monotonic() + 15
    while not open(children).read().strip():
        assert time.monotonic() < deadline and proc.poll() is None, "no spark-submit started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGHUP)
    out, stderr = proc.communicate(timeout=20)
    no_sanitizer_report(stderr)
    assert proc.returncode == 0, stderr
    assert "done" in out
    assert kills(master) == []
    assert "stopping" not in stderr


def test_submit_executor_timeout_takes_no_verdict_from_a_standby(servers, isolated, tmp_path):
    # a master that is not ALIVE lists nothing: the job is not killed on it
    doc = master_doc(status="STANDBY")
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()) if h.path.startswith(
        "/json") else h.send(302, b"", headers=[("Location", "/")]))
    env = fake_spark_submit(tmp_path, APP_ID_LINE + "sleep 4\necho done\n")
    proc = run("sc-submit", "--executor-timeout=1s", "job.py", env={**master.env, **env},
               timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout
    assert kills(master) == [] and "killed" not in proc.stderr


def test_submit_output_waits_no_more_than_a_second_for_a_slow_master(servers, isolated,
                                                                     tmp_path):
    # the executor watch asks the master while the job's output waits: a
    # master that takes 8 s to say STANDBY held each line 8 s; a request
    # now gets a second, and three in a row without an answer end the watch
    release = threading.Event()

    def slow(h):
        if h.path.startswith("/json"):
            release.wait(8)
            return h.send(200, json.dumps(master_doc(status="STANDBY")).encode())
        h.send(302, b"", headers=[("Location", "/")])
    master = servers(slow)
    env = fake_spark_submit(tmp_path, APP_ID_LINE + "i=0\nwhile [ $i -lt 40 ]; do "
                            "date +%s.%N; sleep 0.2; i=$((i+1)); done\n")
    proc = subprocess.Popen([tool("sc-submit"), "--executor-timeout=60", "job.py"],
                            env={**os.environ, **master.env, **env, "SC_TIMEOUT": "10"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    delays = []
    try:
        for line in proc.stdout:
            delays.append(time.time() - float(line))
        status = proc.wait(timeout=60)
    finally:
        release.set()
        proc.kill()
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    no_sanitizer_report(stderr)
    assert status == 0, stderr
    assert len(delays) == 40
    assert max(delays) < 3, (max(delays), stderr)     # 8 s before; a second now, and load
    assert f"{APP}: --executor-timeout no longer applied: " in stderr
    assert kills(master) == [] and "killed" not in stderr


# ---- sc-logs -o: the event log's sources are not trusted ----------------


def history_cluster(servers, zip_bytes):
    """One stub as master (the application ended, no workers) and history server."""
    doc = master_doc(completed=[app()])

    def behaviour(h):
        if h.path == f"/api/v1/applications/{APP}/logs":
            h.send(200, zip_bytes, "application/zip")
        elif h.path.startswith("/api/v1/applications/"):
            h.send(200, json.dumps({"id": APP, "name": "job"}).encode())
        else:
            h.send(200, json.dumps(doc).encode())

    return servers(behaviour)


@pytest.mark.parametrize("bad", ["../../x", "/etc/x", "a//b", "a/./b", "a/../../x"])
def test_logs_bundle_refuses_unsafe_member_names_from_history(servers, isolated, tmp_path, bad):
    import io
    import tarfile
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(bad, b"planted\n")
        z.writestr(f"eventlog_v2_{APP}/events_1_{APP}", b"{}\n")
    master = history_cluster(servers, buf.getvalue())
    events = tmp_path / "events"
    events.mkdir()
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", APP, "-o", out, timeout=30,
               env={**master.env, "SC_EVENTS_DIR": str(events)})
    assert out.exists(), proc.stderr
    with tarfile.open(out) as t:
        names = t.getnames()
    assert f"{APP}/eventlog/eventlog_v2_{APP}/events_1_{APP}" in names, names
    for n in names:
        parts = n.split("/")
        assert not n.startswith("/") and ".." not in parts and "" not in parts \
            and "." not in parts, names


def test_logs_bundle_does_not_hang_on_a_fifo_in_the_events_dir(servers, isolated, tmp_path):
    master = history_cluster(servers, b"not a zip")
    events = tmp_path / "events"
    events.mkdir()
    os.mkfifo(events / APP)
    rolling = events / f"eventlog_v2_{APP}"
    rolling.mkdir()
    os.mkfifo(rolling / f"events_1_{APP}")
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", APP, "-o", out, timeout=30,
               env={**master.env, "SC_EVENTS_DIR": str(events)})
    assert out.exists(), proc.stderr


# ---- sc-kill: the master page's CSRF token cannot add form fields -------


def test_kill_sends_a_hostile_csrf_token_as_one_field(servers, isolated):
    token = "t0k&id=app-other&terminate=false+x%41"
    killed = []

    def master_behaviour(h):
        if h.path.startswith("/json"):
            state = "KILLED" if killed else "RUNNING"
            h.send(200, json.dumps(master_doc(active=[] if killed else [
                app(APP, state=state)], completed=[app(APP, state=state)] if killed
                else [])).encode())
        elif h.command == "POST":
            killed.append(1)
            h.send(302, b"", headers=[("Location", "/")])
        else:
            page = (f'<form action="app/kill/" method="POST"><input type="hidden" '
                    f'name="csrfToken" value="{token}"/></form>').encode()
            h.send(200, page, ctype="text/html")

    master = servers(master_behaviour)
    r = run("sc-kill", APP, env=master.env)
    assert r.returncode == 0, r.stderr
    posts = kills(master)
    assert len(posts) == 1, posts
    form = urllib.parse.parse_qs(posts[0][2].decode(), strict_parsing=True)
    assert form == {"id": [APP], "terminate": ["true"], "csrfToken": [token]}


# ---- what the cluster names never drives the terminal ----------------------

# An OSC title, a screen clear, the C1 CSI of UTF-8, a newline, a tab.
HOSTILE = "x\x1b]0;owned\x07\x1b[2J\u009b2J\nfake\tcell"
SEEN = "x?]0;owned??[2J?2J fake cell"         # as a TSV field
PRINTED = "x?]0;owned??[2J?2J?fake?cell"      # in a message or a prefix


def assert_no_controls(text):
    """Nothing a terminal acts on: only newline and tab, and no C1 control."""
    bad = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f]
    assert not bad, repr(text)


def on_tty(name, *args, env):
    """Run a tool with stdout on a pseudo-terminal; (status, stdout, stderr)."""
    import pty
    master_fd, slave_fd = pty.openpty()
    proc = subprocess.Popen([tool(name), *args], stdout=slave_fd, stderr=subprocess.PIPE,
                            env=dict(os.environ, **env))
    os.close(slave_fd)
    out = b""
    while True:
        try:
            chunk = os.read(master_fd, 65536)
        except OSError:     # EIO: the tool closed its end
            break
        if not chunk:
            break
        out += chunk
    os.close(master_fd)
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.wait(timeout=20), out.decode(), err.decode()


def hostile_master(servers):
    doc = master_doc(workers=[dict(worker("http://127.0.0.1:1"), host=HOSTILE, id=HOSTILE)],
                     active=[app(APP, name=HOSTILE, user=HOSTILE, state="RUNNING")],
                     completed=[app("app-20260101000000-0002", name=HOSTILE)])
    doc["url"] = HOSTILE
    return servers(lambda h: h.send(200, json.dumps(doc).encode()))


def test_status_shows_control_characters_as_question_marks(servers, isolated):
    master = hostile_master(servers)
    status, out, err = on_tty("sc-status", "-a", env=master.env)
    assert status == 0, err
    assert_no_controls(out.replace("\r", ""))
    assert SEEN in out, out
    # on a pipe: one line a row, as many fields as the kind has
    proc = run("sc-status", "-a", env=master.env)
    assert proc.returncode == 0, proc.stderr
    assert_no_controls(proc.stdout)
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r[0] for r in rows] == ["master", "worker", "app", "app"], rows
    assert [len(r) for r in rows] == [7, 7, 9, 9], rows
    assert rows[0][1] == SEEN and rows[2][2] == SEEN, rows


def test_kill_lists_ambiguous_names_without_control_characters(servers, isolated):
    doc = master_doc(active=[app(APP, name=HOSTILE, state="RUNNING"),
                             app("app-20260101000000-0002", name=HOSTILE, state="RUNNING")])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    proc = run("sc-kill", "--name", "x*", env=master.env)
    assert proc.returncode == 1, proc.stderr
    assert_no_controls(proc.stderr)
    assert f"  {APP}\t{SEEN}\tRUNNING" in proc.stderr.splitlines(), proc.stderr
    assert not kills(master)


def test_logs_prefix_names_a_hostile_worker_host_safely(servers, isolated):
    master, wk = logs_cluster(servers, says_hello)
    doc = master_doc(workers=[dict(worker(wk.url), host=HOSTILE)], completed=[app()])
    master.behaviour = lambda h: h.send(200, json.dumps(doc).encode())
    proc = run("sc-logs", APP, env=master.env)
    assert proc.returncode == 0, proc.stderr
    assert_no_controls(proc.stdout + proc.stderr)
    assert proc.stdout.splitlines() == [f"{PRINTED}:1\t0\tstderr\thello"], proc.stdout


@pytest.mark.parametrize("field,value,why", [
    ("submissionId", "driver-1\x1b]0;owned\x07", "the submissionId is not an id"),
    ("submissionId", "../../x", "the submissionId is not an id"),
    ("message", HOSTILE, "submission refused: " + PRINTED),
    # Spark sends true or false: a driver may have been made, it was not refused
    ("success", "true", "the reply's 'success' is not true or false"),
    ("success", 1, "the reply's 'success' is not true or false"),
    ("success", None, "the reply's 'success' is not true or false"),
])
def test_rest_submit_refuses_or_cleans_what_the_server_says(servers, isolated, tmp_path, field,
                                                           value, why):
    reply = {"action": "CreateSubmissionResponse", "success": field != "message",
             "submissionId": "driver-20260101000000-0007", "serverSparkVersion": "4.3.0"}
    reply[field] = value
    master = servers(lambda h: h.send(200, json.dumps(reply).encode()))
    jar = tmp_path / "app.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    ids = tmp_path / "id"
    proc = run("sc-submit", "--rest", "--app-id-file", ids, "--class", "Main", jar,
               env=master.env)
    assert proc.returncode == (1 if field == "message" else 76), proc.stderr
    assert why in proc.stderr, proc.stderr
    assert_no_controls(proc.stderr)
    assert proc.stdout == "" and not ids.exists()


@pytest.mark.parametrize("state", ["FINISHED\x1b[2J", ["FINISHED"], {"state": "FINISHED"},
                                   None, "missing"])
def test_rest_wait_refuses_a_driver_state_that_is_not_one(servers, isolated, tmp_path,
                                                          state):
    # a status that says the submission was found owes its state: none, or
    # one of the wrong type, is malformed (76), not "no such submission" (1)
    status = {"action": "SubmissionStatusResponse", "success": True}
    if state != "missing":
        status["driverState"] = state

    def behaviour(h):
        if h.path == "/v1/submissions/create":
            h.send(200, json.dumps({"action": "CreateSubmissionResponse", "success": True,
                                    "submissionId": "driver-20260101000000-0007"}).encode())
        else:
            h.send(200, json.dumps(status).encode())

    master = servers(behaviour)
    jar = tmp_path / "app.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    proc = run("sc-submit", "--rest", "--wait", "--class", "Main", jar, env=master.env)
    assert proc.returncode == 76, proc.stderr
    assert "the driverState is not a state" in proc.stderr
    assert_no_controls(proc.stdout + proc.stderr)


# ---- sc-submit --rest --wait: a REST server that goes away ------------------

DRIVER_ID = "driver-20260101000000-0007"


def rest_server(servers, status_replies, create_delay=0.0):
    """A REST server: create answers DRIVER_ID (after create_delay s), status
    answers status_replies in turn (an int is that HTTP status, a str that
    driverState, a dict that reply; the last one repeats), kill succeeds."""
    replies = list(status_replies)

    def behaviour(h):
        if h.path == "/v1/submissions/create":
            time.sleep(create_delay)
            h.send(200, json.dumps({"action": "CreateSubmissionResponse", "success": True,
                                    "submissionId": DRIVER_ID}).encode())
        elif h.path.startswith("/v1/submissions/kill/"):
            h.send(200, json.dumps({"action": "KillSubmissionResponse", "success": True,
                                    "submissionId": DRIVER_ID}).encode())
        else:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
            if isinstance(reply, int):
                h.send(reply, b"busy", "text/plain")
            elif isinstance(reply, dict):
                h.send(200, json.dumps(reply).encode())
            else:
                h.send(200, json.dumps({"action": "SubmissionStatusResponse", "success": True,
                                        "driverState": reply}).encode())

    return servers(behaviour)


@pytest.mark.parametrize("pad", range(4))
def test_kill_reports_a_long_error_in_any_script_as_json(servers, isolated, pad):
    # the REST server's message is cut to fit a message: never inside a
    # character, and -J still reports the kill, with the error
    message = "x" * pad + "\u00e9" * 1200

    def behaviour(h):
        if h.path.startswith("/json"):
            doc = master_doc()
            doc["activedrivers"] = [{"id": DRIVER_ID, "state": "RUNNING"}]
            h.send(200, json.dumps(doc).encode())
        else:
            h.send(200, json.dumps({"action": "ErrorResponse", "success": False,
                                    "message": message}).encode())
    proc = run("sc-kill", "--rest", "-J", "--driver", DRIVER_ID, env=servers(behaviour).env)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stderr
    doc = json.loads(lines[0])
    assert doc["id"] == DRIVER_ID and doc["outcome"] == "failed"
    assert "\u00e9" * 100 in doc["error"] and "\ufffd" not in doc["error"]


def rest_jar(tmp_path):
    jar = tmp_path / "app.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return jar


STANDBY_REPLY = {"action": "SubmissionStatusResponse", "success": False,
                 "message": "Current state is not alive: RECOVERING. Can only request "
                            "driver status in ALIVE state."}


@pytest.mark.parametrize("unknown", [503, STANDBY_REPLY], ids=["503", "standby"])
def test_rest_wait_asks_again_while_the_status_is_unknown(servers, isolated, tmp_path,
                                                          unknown):
    rest = rest_server(servers, ["RUNNING", unknown, unknown, "FINISHED"])
    proc = run("sc-submit", "--rest", "--wait", "--class", "Main", rest_jar(tmp_path),
               env=rest.env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{DRIVER_ID}\tFINISHED\n"
    assert f"driver {DRIVER_ID}: status unknown" in proc.stderr
    assert proc.stderr.count("status unknown") == 1, proc.stderr
    assert not kills(rest)


def test_rest_wait_keeps_the_deadline_while_the_status_is_unknown(servers, isolated, tmp_path):
    rest = rest_server(servers, ["RUNNING", 503])
    proc = run("sc-submit", "--rest", "--wait", "--deadline", "3", "--class", "Main",
               rest_jar(tmp_path), env=rest.env, timeout=60)
    assert proc.returncode == 75, proc.stderr
    assert "deadline of 3s reached; killed" in proc.stderr, proc.stderr
    assert [r[1] for r in kills(rest)] == [f"/v1/submissions/kill/{DRIVER_ID}"]


def test_rest_wait_keeps_the_deadline_when_stderr_is_a_broken_pipe(servers, isolated, tmp_path):
    # cron's pipe to a logger that died: the status lines are lost, the
    # driver is still followed and killed at the deadline
    rest = rest_server(servers, ["RUNNING"])
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([tool("sc-submit"), "--rest", "--wait", "--deadline", "3",
                               "--class", "Main", str(rest_jar(tmp_path))],
                              stdout=subprocess.PIPE, stderr=write_end, timeout=60,
                              env={**os.environ, **rest.env})
    finally:
        os.close(write_end)
    assert proc.returncode == 75
    assert [r[1] for r in kills(rest)] == [f"/v1/submissions/kill/{DRIVER_ID}"]


@pytest.mark.parametrize("wait", [True, False])
def test_rest_signal_during_the_submission_kills_the_driver_created(servers, isolated, tmp_path,
                                                                    wait):
    rest = rest_server(servers, ["RUNNING"], create_delay=1.5)
    ids = tmp_path / "id"
    args = ["--rest", *(["--wait"] if wait else []), "--app-id-file", str(ids), "--class",
            "Main", str(rest_jar(tmp_path))]
    proc = subprocess.Popen([tool("sc-submit"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, **rest.env))
    deadline = time.time() + 10
    while not any(r[1] == "/v1/submissions/create" for r in rest.requests):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert f"killing driver {DRIVER_ID}" in err
    assert [r[1] for r in kills(rest)] == [f"/v1/submissions/kill/{DRIVER_ID}"]
    assert out == ""
    no_sanitizer_report(err)


def test_status_shows_numbers_out_of_range_as_not_known(servers, isolated):
    # a registered "worker" with a port past 65535 and 2^40 cores, an app
    # that ran for 2^63 ms: no count wraps round to a negative one
    big = dict(worker("http://127.0.0.1:1"), port=99999999999, cores=1 << 40,
               coresused=(1 << 32) + 1)
    long_app = dict(app(APP, state="RUNNING"), duration=(1 << 63) - 1, cores=1 << 40)
    doc = master_doc(workers=[big], active=[long_app])
    doc["cores"] = 1 << 40
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    proc = run("sc-status", "-a", env=master.env)
    assert proc.returncode == 0, proc.stderr
    rows = {r.split("\t")[0]: r.split("\t") for r in proc.stdout.splitlines()}
    assert not any(f.startswith("-") and f != "-" for r in rows.values() for f in r), rows
    assert "1215752191" not in proc.stdout, rows
    assert rows["app"][8] == "2562047788015h12m55s", rows


# ---- entries the parser refuses ---------------------------------------------


def unreadable_entries_doc(running):
    """A master whose lists hold what any registering host can send: a NUL
    in a name (Spark writes it as \\u0000), a NUL in a worker's resource
    name (a key, which jansson refuses), 2 MiB of name."""
    bad_worker = dict(worker("http://127.0.0.1:1", "worker-bad"),
                      resources={"gpu\u0000x": {"name": "gpu", "addresses": []}})
    doc = master_doc(workers=[bad_worker, worker("http://127.0.0.1:1", "worker-good")],
                     active=[app(running, name="real", state="RUNNING")],
                     completed=[app("app-20260101000000-0002", name="nul\u0000name"),
                                app("app-20260101000000-0003", name="x" * (2 << 20))])
    return json.dumps(doc).encode()


def test_an_entry_the_parser_refuses_leaves_out_only_itself(servers, isolated):
    running = "app-20260101000000-0001"
    body = unreadable_entries_doc(running)
    master = servers(lambda h: h.send(200, body))
    proc = run("sc-status", "-a", env=master.env)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r[1] for r in rows if r[0] == "worker"] == ["worker-good"]
    assert [(r[1], r[2]) for r in rows if r[0] == "app"] == [
        (running, "real"), ("app-20260101000000-0002", "nul?name")]
    assert "2 entries of the master's status could not be read and are left out" in proc.stderr
    # the other tools go on too: a kill of the running application is sent
    proc = run("sc-kill", "-n", running, env=master.env)
    assert proc.returncode == 0, proc.stderr
    assert "would-kill" in proc.stdout
    assert "2 entries of the master's status could not be read" in proc.stderr


def test_a_lone_surrogate_in_an_application_leaves_it_out(servers, isolated):
    running = "app-20260101000000-0001"
    body = json.dumps(master_doc(active=[app(running, name="real", state="RUNNING")],
                                 completed=[app("app-20260101000000-0002")])).encode()
    body = body.replace(b'"name": "real"', b'"name": "\\ud800"')
    master = servers(lambda h: h.send(200, body))
    proc = run("sc-status", "-a", env=master.env)
    assert proc.returncode == 0, proc.stderr
    assert running not in proc.stdout and "app-20260101000000-0002" in proc.stdout
    assert "1 entry of the master's status could not be read and is left out" in proc.stderr


def test_json_on_a_terminal_escapes_what_is_past_ascii(servers, isolated):
    # a name's C1 controls (CSI, OSC, ST) reach a terminal as text; a pipe
    # gets the value as it is
    from test_masters_offline import on_a_terminal
    name = "evil\u009b2J\u009d0;title\u009c é"
    master = servers(lambda h: h.send(200, json.dumps(master_doc(
        active=[app(name=name, state="RUNNING")])).encode()))
    shown = on_a_terminal(["sc-status", "-J"], master.env)
    assert "\u009b" not in shown and "\u009d" not in shown, repr(shown)
    assert '"name":"evil\\u009B2J\\u009D0;title\\u009C \\u00E9"' in shown, shown
    proc = run("sc-status", "-J", env=master.env)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x)["name"] for x in proc.stdout.splitlines()
            if json.loads(x)["type"] == "app"] == [name]
