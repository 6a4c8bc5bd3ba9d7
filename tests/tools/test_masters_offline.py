"""Several masters (a ZooKeeper failover group), played by stub servers.

No Spark runs here: each stub is one master's UI and REST server, in the
state a test needs (dead, STANDBY, ALIVE, lying). The real failover of a
real group is in test_failover.py.
"""
import http.server
import json
import os
import re
import socket
import threading
import time

import pytest

from conftest import StubHandler, assert_usage, free_port, run, run_on_a_pty, tool

APP = "app-20260101000000-0001"
DRIVER = "driver-20260101000000-0001"


def master_doc(status="ALIVE", url="spark://127.0.0.1:7077", apps=(), workers=1,
               driver_state=None):
    alive = status == "ALIVE"
    return {"url": url, "status": status,
            "workers": [{"id": f"worker-{i}", "host": "127.0.0.1", "port": 1,
                         "webuiaddress": "http://127.0.0.1:1", "cores": 2, "coresused": 0,
                         "memory": 1024, "memoryused": 0, "state": "ALIVE",
                         "lastheartbeat": 0} for i in range(workers if alive else 0)],
            "aliveworkers": workers if alive else 0, "cores": 2, "coresused": 0,
            "memory": 1024, "memoryused": 0,
            "activeapps": [a for a in apps if a["state"] == "RUNNING"] if alive else [],
            "completedapps": [a for a in apps if a["state"] != "RUNNING"] if alive else [],
            "activedrivers": [driver(driver_state)] if alive and driver_state == "RUNNING"
            else [],
            "completeddrivers": [driver(driver_state)] if alive and driver_state
            not in (None, "RUNNING") else []}


def driver(state):
    return {"id": DRIVER, "state": state, "worker": "worker-0", "mainclass": "Main",
            "starttime": "0", "cores": 1, "memory": 512}


def app(state="RUNNING"):
    return {"id": APP, "name": "job", "user": "someone", "state": state,
            "starttime": int(time.time() * 1000), "duration": 1, "cores": 1,
            "memoryperexecutor": 512}


class Master:
    """One stub master: /json/ answers its doc, /app/kill/ kills, REST answers."""

    def __init__(self, status="ALIVE", body=None):
        self.status = status
        self.body = body            # raw bytes for /json/, instead of the doc
        self.apps = [app()]
        self.rest_state = "RUNNING"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
        self.server.daemon_threads = True
        self.server.requests = []
        self.server.behaviour = self.answer
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def requests(self):
        return self.server.requests

    def answer(self, h):
        if h.path == "/json/":
            body = self.body if self.body is not None else json.dumps(
                master_doc(self.status, apps=self.apps,
                           driver_state=self.rest_state)).encode()
            return h.send(200, body)
        if h.path == "/app/kill/" and h.command == "POST":
            if self.status == "ALIVE":
                self.apps = [app("KILLED")]
            return h.send(302, b"", headers=[("Location", "/")])
        if h.path.startswith("/v1/submissions/"):
            verb = h.path.split("/")[3]
            if self.status != "ALIVE":
                what = {"kill": "kill drivers", "status": "request driver status",
                        "create": "accept driver submissions"}[verb]
                msg = (f"Current state is not alive: {self.status}. "
                       f"Can only {what} in ALIVE state.")
                return h.send(200, json.dumps({
                    "action": "KillSubmissionResponse", "success": False,
                    "message": msg, "submissionId": DRIVER,
                    "serverSparkVersion": "3.5.1"}).encode())
            if verb == "kill":
                self.rest_state = "KILLED"
                return h.send(200, json.dumps({
                    "action": "KillSubmissionResponse", "success": True,
                    "message": "Kill request submitted", "submissionId": DRIVER,
                    "serverSparkVersion": "3.5.1"}).encode())
            return h.send(200, json.dumps({
                "action": "SubmissionStatusResponse", "success": True,
                "driverState": self.rest_state, "submissionId": DRIVER,
                "serverSparkVersion": "3.5.1"}).encode())
        if h.path == "/":
            return h.send(200, b"<html>master</html>", ctype="text/html")
        return h.send(404, b"{}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def masters(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in ("SC_CONFIG", "SC_TOKEN", "SC_TOKEN_FILE", "SC_TOKEN_ORIGINS"):
        monkeypatch.delenv(var, raising=False)
    started = []

    def start(*args, **kwargs):
        m = Master(*args, **kwargs)
        started.append(m)
        return m

    yield start
    for m in started:
        m.close()


class SilentMaster:
    """A master that accepts connections and never answers (a hung JVM, say)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.held = []
        threading.Thread(target=self.hold, daemon=True).start()

    def hold(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent(masters):
    """Start SilentMasters (masters: for the same clean environment)."""
    started = []

    def start():
        started.append(SilentMaster())
        return started[-1]

    yield start
    for m in started:
        m.close()


def group_env(*members):
    """The configuration of a failover group: members are masters or dead ports."""
    uis = [f"http://127.0.0.1:{m}" if isinstance(m, int) else m.url for m in members]
    hosts = [u.removeprefix("http://") for u in uis]
    return {"SC_MASTER": "spark://" + ",".join(hosts), "SC_MASTER_UI": ",".join(uis),
            "SC_REST_URL": ",".join(uis), "SC_TIMEOUT": "2"}


def on_a_terminal(argv, env):
    """Run a tool with stdout on a pseudo-terminal: its human output."""
    status, shown, err = run_on_a_pty(argv, env)
    assert status == 0, err
    return shown.decode(errors="replace")


def status_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[0])


# ---- finding the ALIVE master ---------------------------------------------


def test_first_master_dead_second_alive(masters):
    dead = free_port()
    m2 = masters("ALIVE")
    master = status_json(run("sc-status", "-J", env=group_env(dead, m2)))
    assert master["status"] == "ALIVE"
    assert master["master_ui"] == m2.url
    [other] = master["other_masters"]
    assert other["master_ui"] == f"http://127.0.0.1:{dead}"
    assert other["status"] is None
    assert f"http://127.0.0.1:{dead}/json/: Connection refused" in other["error"]


def test_first_standby_second_alive_human_and_tsv(masters):
    m1, m2 = masters("STANDBY"), masters("ALIVE")
    env = group_env(m1, m2)
    tsv = run("sc-status", env=env)
    assert tsv.returncode == 0, tsv.stderr
    rows = [line.split("\t") for line in tsv.stdout.splitlines()]
    assert rows[0][0] == "master" and rows[0][2] == "ALIVE" and rows[0][-1] == m2.url
    assert rows[1] == ["othermaster", m1.url, "STANDBY", ""]
    # each master asked once
    assert [r[1] for r in m1.requests] == ["/json/"]
    assert [r[1] for r in m2.requests] == ["/json/"]
    human = on_a_terminal(["sc-status"], env)
    assert human.splitlines()[1] == f"Master UI {m2.url} (ALIVE); other masters: {m1.url} STANDBY"
    master = status_json(run("sc-status", "-J", env=env))
    assert master["master_ui"] == m2.url
    assert master["other_masters"] == [{"master_ui": m1.url, "status": "STANDBY",
                                        "error": None}]


def test_one_master_output_is_unchanged_but_for_the_new_fields(masters):
    m = masters("ALIVE")
    env = {"SC_MASTER": f"spark://127.0.0.1:{m.port}", "SC_MASTER_UI": m.url,
           "SC_REST_URL": m.url, "SC_TIMEOUT": "2"}
    rows = [line.split("\t") for line in run("sc-status", env=env).stdout.splitlines()]
    assert rows[0] == ["master", "spark://127.0.0.1:7077", "ALIVE", "1", "0/2", "0/1024",
                       m.url]
    assert not [r for r in rows if r[0] == "othermaster"]
    master = status_json(run("sc-status", "-J", env=env))
    assert master["master_ui"] == m.url and master["other_masters"] == []


def test_both_standby_wait_times_out_naming_each(masters):
    m1, m2 = masters("STANDBY"), masters("STANDBY")
    env = group_env(m1, m2)
    proc = run("sc-status", "--wait=1.5", env=env)
    assert proc.returncode == 75, proc.stderr
    assert proc.stderr.strip() == (f"sc-status: cluster not ready after 2 s: no master is "
                                   f"ALIVE: {m1.url} STANDBY, {m2.url} STANDBY")
    # without --wait the state is shown as it is
    master = status_json(run("sc-status", "-J", env=env))
    assert master["status"] == "STANDBY" and master["master_ui"] == m1.url


def test_wait_sees_the_second_master_become_alive(masters):
    m1, m2 = masters("STANDBY"), masters("RECOVERING")

    def promote():
        time.sleep(1.0)
        m2.status = "ALIVE"

    threading.Thread(target=promote, daemon=True).start()
    proc = run("sc-status", "--wait=20", "-J", env=group_env(m1, m2))
    master = status_json(proc)
    assert master["status"] == "ALIVE" and master["master_ui"] == m2.url


def test_none_answers_names_every_master(masters):
    p1, p2 = free_port(), free_port()
    proc = run("sc-status", env=group_env(p1, p2))
    assert proc.returncode == 69, proc.stderr
    assert proc.stderr.startswith("sc-status: no master answered: ")
    assert f"http://127.0.0.1:{p1}/json/: Connection refused" in proc.stderr
    assert f"http://127.0.0.1:{p2}/json/: Connection refused" in proc.stderr


def test_alive_but_garbage_is_passed_over(masters):
    liar = masters(body=b'{"url": "spark://x:7077", "status": "ALIVE", "workers": 7}')
    m2 = masters("ALIVE")
    master = status_json(run("sc-status", "-J", env=group_env(liar, m2)))
    assert master["master_ui"] == m2.url
    [other] = master["other_masters"]
    assert other["status"] is None and "'workers' is not an array" in other["error"]


def test_only_garbage_is_76_naming_each(masters):
    m1 = masters(body=b'{"url": "spark://x:7077", "status": ALIVE')
    m2 = masters(body=b"<html>not json</html>")
    proc = run("sc-status", env=group_env(m1, m2))
    assert proc.returncode == 76, proc.stderr
    assert f"{m1.url}/json/" in proc.stderr and f"{m2.url}/json/" in proc.stderr


def test_quiet_without_wait_only_checks_the_master(masters):
    # the man page's crontab line: `sc-status -q` every five minutes
    m = masters("ALIVE")
    proc = run("sc-status", "-q", env=group_env(m))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    dead = free_port()
    proc = run("sc-status", "-q", env=group_env(dead))
    assert proc.returncode == 69 and proc.stdout == "", proc.stderr
    assert "Connection refused" in proc.stderr
    proc = run("sc-status", "-q", env=group_env(masters(body=b"<html>not json</html>")))
    assert proc.returncode == 76 and proc.stdout == "" and "/json/" in proc.stderr


def test_a_master_cannot_send_us_elsewhere(masters):
    """Its reply names another master: nothing is asked of that one."""
    bystander = masters("ALIVE")
    liar = masters(body=json.dumps({**master_doc("STANDBY"),
                                    "url": f"spark://127.0.0.1:{bystander.port}",
                                    "activemaster": bystander.url}).encode())
    dead = free_port()
    proc = run("sc-status", "--wait=1", env=group_env(liar, dead))
    assert proc.returncode == 75, proc.stderr
    assert bystander.requests == []


# ---- kill and REST go to the ALIVE master -----------------------------------


def test_kill_goes_to_the_alive_master(masters):
    m1, m2 = masters("STANDBY"), masters("ALIVE")
    proc = run("sc-kill", "-J", APP, env=group_env(m1, m2))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outcome"] == "killed" and out["master_ui"] == m2.url
    assert not [r for r in m1.requests if r[0] == "POST"]
    assert [r[1] for r in m2.requests if r[0] == "POST"] == ["/app/kill/"]


def test_kill_with_no_alive_master_is_75(masters):
    m1, m2 = masters("STANDBY"), masters("STANDBY")
    proc = run("sc-kill", APP, env=group_env(m1, m2))
    assert proc.returncode == 75, proc.stderr
    assert f"no master is ALIVE ({m1.url}: STANDBY)" in proc.stderr
    assert not [r for m in (m1, m2) for r in m.requests if r[0] == "POST"]


@pytest.mark.parametrize("args", [[APP], ["--driver", DRIVER], ["-f", APP]])
def test_logs_with_no_alive_master_is_75(masters, args):
    # a standby knows no application yet: that is no answer, not "unknown"
    m1, m2 = masters("STANDBY"), masters("STANDBY")
    proc = run("sc-logs", *args, env=group_env(m1, m2))
    assert proc.returncode == 75, proc.stderr
    assert proc.stderr == f"sc-logs: no master is ALIVE ({m1.url}: STANDBY)\n"


def test_rest_kill_falls_over_from_a_standby(masters):
    m1, m2 = masters("STANDBY"), masters("ALIVE")
    env = group_env(m1, m2)
    # the UI list knows nothing yet: REST finds the ALIVE one by its answer
    proc = run("sc-kill", "--rest", "--driver", DRIVER, "-J",
               env={**env, "SC_MASTER_UI": m2.url})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outcome"] == "killed"
    assert [r[1] for r in m1.requests if r[0] == "POST"] == [f"/v1/submissions/kill/{DRIVER}"]
    assert [r[1] for r in m2.requests if r[0] == "POST"] == [f"/v1/submissions/kill/{DRIVER}"]


def test_rest_submit_falls_over_from_a_standby(masters, tmp_path):
    m1, m2 = masters("STANDBY"), masters("ALIVE")
    jar = tmp_path / "app.jar"
    jar.write_bytes(b"PK\x05\x06" + b"\0" * 18)

    def create(h, orig=m2.answer):
        if h.path == "/v1/submissions/create":
            return h.send(200, json.dumps({
                "action": "CreateSubmissionResponse", "success": True,
                "submissionId": DRIVER, "serverSparkVersion": "3.5.1"}).encode())
        return orig(h)

    m2.server.behaviour = create
    proc = run("sc-submit", "--rest", "--class", "Main", f"http://example.invalid/{jar.name}",
               env=group_env(m1, m2))
    assert proc.returncode == 0, proc.stderr
    assert f"submitted {DRIVER} to {m2.url}" in proc.stderr
    assert [r[1] for r in m1.requests if r[0] == "POST"] == ["/v1/submissions/create"]
    assert [r[1] for r in m2.requests if r[0] == "POST"] == ["/v1/submissions/create"]


def test_rest_with_no_alive_master_is_refused(masters, tmp_path):
    m1, m2 = masters("STANDBY"), masters("STANDBY")
    proc = run("sc-kill", "--rest", "--driver", DRIVER, env=group_env(m1, m2))
    assert proc.returncode == 75, proc.stderr


# ---- hostile and bad configuration ----------------------------------------


@pytest.mark.parametrize("key,value,why", [
    ("SC_MASTER", "spark://" + ",".join(f"h{i}:7077" for i in range(17)), "too many masters"),
    ("SC_MASTER", "spark://h1:7077,,h2:7077", "an empty master in the list"),
    ("SC_MASTER", "spark://h1:7077,", "an empty master in the list"),
    ("SC_MASTER", "spark://h1:99999,h2:7077", "a port must be a number"),
    ("SC_MASTER", "spark://h1:7077;h2:7077", "unexpected text after a host"),
    ("SC_MASTER", "spark://[:10]:7077", "no host"),    # brackets, but no IPv6 address
    ("SC_MASTER_UI", ",".join(f"http://h{i}:8080" for i in range(17)), "too many URLs"),
    ("SC_MASTER_UI", "http://h1:8080,,http://h2:8080", "an empty URL in the list"),
    ("SC_MASTER_UI", "http://h1:8080,file:///etc/passwd", "'file:///etc/passwd' is not an"),
    ("SC_REST_URL", "http://h1:6066, http://h2:6066", "' http://h2:6066' is not an"),
    ("SC_REST_URL", "http://u@h1:6066", "has a user name or password"),
    # Caught by libcurl, when the list is first used (env) or given (flag).
    ("SC_MASTER_UI", "http://h1:8080,http://h2:99999", "'http://h2:99999' is not an http"),
    ("SC_MASTER_UI", "http://[::1:8080", "'http://[::1:8080' is not an http"),
])
def test_bad_master_lists_are_usage_errors(masters, key, value, why):
    proc = run("sc-status", env={key: value})
    assert proc.returncode == 64, proc.stderr
    assert proc.stderr.startswith(f"sc-status: {key}: invalid ") and why in proc.stderr
    flag = {"SC_MASTER": "--master", "SC_MASTER_UI": "--master-ui",
            "SC_REST_URL": "--rest-url"}[key]
    proc = run("sc-status", flag, value, env={key: ""})
    assert_usage(proc, "sc-status", why)


def test_master_list_in_the_config_file_names_the_key(masters, tmp_path):
    conf = tmp_path / "conf"
    conf.write_text("master_ui = http://h1:8080,,http://h2:8080\n")
    proc = run("sc-status", env={"SC_CONFIG": str(conf), "SC_MASTER_UI": ""})
    assert proc.returncode == 65, proc.stderr     # a bad file is bad input data
    assert f"{conf}: invalid master_ui" in proc.stderr
    # One that only libcurl rejects, when sc-status first asks a master.
    conf.write_text("master_ui = http://h1:8080,http://h2:99999\n")
    proc = run("sc-status", env={"SC_CONFIG": str(conf), "SC_MASTER_UI": ""})
    assert proc.returncode == 65, proc.stderr
    assert f"{conf}: invalid master_ui" in proc.stderr and "'http://h2:99999'" in proc.stderr


def test_derived_urls_follow_the_master_list(masters):
    proc = run("sc-status", "--show-config",
               env={"SC_MASTER": "spark://h1:7077,h2:7078,[::1]:7079", "SC_MASTER_UI": "",
                    "SC_REST_URL": "", "SC_HISTORY_URL": ""})
    assert proc.returncode == 0, proc.stderr
    rows = {r.split("\t")[0]: r.split("\t")[1] for r in proc.stdout.splitlines()}
    assert rows["master_ui"] == "http://h1:8080,http://h2:8080,http://[::1]:8080"
    assert rows["rest_url"] == "http://h1:6066,http://h2:6066,http://[::1]:6066"
    assert rows["history_url"] == "http://h1:18080"


def fake_spark_home(tmp_path, script):
    """tmp_path/spark, whose spark-submit runs script; and tmp_path/events."""
    bindir = tmp_path / "spark" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "spark-submit").write_text(f"#!/bin/sh\n{script}\n")
    (bindir / "spark-submit").chmod(0o755)
    (tmp_path / "events").mkdir()


def test_submit_hands_the_whole_list_to_spark_submit(masters, tmp_path):
    fake_spark_home(tmp_path, "exit 99")
    env = {"SC_MASTER": "spark://h1:7077,h2:7077", "SC_MASTER_UI": "", "SC_REST_URL": "",
           "SPARK_HOME": str(tmp_path / "spark"), "SC_EVENTS_DIR": str(tmp_path / "events")}
    proc = run("sc-submit", "--dry-run", "--name", "x", "job.py", env=env)
    assert proc.returncode == 0, proc.stderr
    argv = proc.stdout.split()
    assert argv[argv.index("--master") + 1] == "spark://h1:7077,h2:7077"


def test_a_redirect_from_a_master_is_not_followed(masters):
    bystander = masters("ALIVE")
    mover = masters("ALIVE")
    mover.server.behaviour = lambda h: h.send(302, b"", headers=[
        ("Location", f"{bystander.url}/json/")])
    dead = free_port()
    proc = run("sc-status", env=group_env(mover, dead))
    assert proc.returncode == 76, proc.stderr
    assert bystander.requests == []


def test_the_token_goes_to_every_configured_master(masters):
    seen = []
    m1, m2 = masters("STANDBY"), masters("ALIVE")
    for m in (m1, m2):
        def answer(h, m=m):
            seen.append((m.url, h.headers.get("Authorization")))
            return Master.answer(m, h)
        m.server.behaviour = answer
    proc = run("sc-status", env={**group_env(m1, m2), "SC_TOKEN": "s3cret"})
    assert proc.returncode == 0, proc.stderr
    assert sorted(seen) == sorted([(m1.url, "Bearer s3cret"), (m2.url, "Bearer s3cret")])


def test_kill_is_not_confirmed_by_a_master_that_did_not_take_it(masters):
    # the ALIVE master takes the kill and stops answering; the other one,
    # ALIVE too (a lie, or a failover without recovery), lists nothing: its
    # silence about the application confirms nothing
    m1, m2 = masters("ALIVE"), masters("STANDBY")
    m2.apps = []
    answer = m1.answer

    def gone_after_the_kill(h):
        if h.path == "/json/" and [r for r in m1.requests if r[0] == "POST"]:
            m2.status = "ALIVE"
            return h.send(503, b"{}")
        if h.path == "/app/kill/":
            return h.send(302, b"", headers=[("Location", "/")])   # taken, not done
        return answer(h)
    m1.server.behaviour = gone_after_the_kill
    proc = run("sc-kill", "-J", "--wait", "2", APP, env=group_env(m1, m2))
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outcome"] != "killed", out
    assert "not confirmed after 2 s: the master that answers does not list it" in proc.stderr
    assert [r[1] for r in m1.requests if r[0] == "POST"] == ["/app/kill/"]


def test_a_rest_reply_larger_than_a_document_is_refused(masters):
    m = masters("ALIVE")
    answer = m.answer

    def padded(h):
        if h.path.startswith("/v1/submissions/kill/"):
            return h.send(200, json.dumps({
                "action": "KillSubmissionResponse", "success": True,
                "message": "x" * (9 << 20), "submissionId": DRIVER,
                "serverSparkVersion": "3.5.1"}).encode())
        return answer(h)
    m.server.behaviour = padded
    proc = run("sc-kill", "--rest", "--driver", DRIVER, env=group_env(m))
    assert proc.returncode == 1, proc.stderr
    assert "reply larger than 8 MiB" in proc.stderr


# ---- a wait ends at its deadline, however many masters do not answer ------
#
# The masters of a list are asked one after another, each request bounded by
# the HTTP timeout; a wait's requests are bounded by the time it has left too.


def timed(*args, env):
    t0 = time.monotonic()
    proc = run(*args, env=env, timeout=15)
    return proc, time.monotonic() - t0


def test_wait_ends_at_its_deadline_when_no_master_answers(silent):
    ms = [silent(), silent(), silent()]
    proc, took = timed("sc-status", "--wait=1", env={**group_env(*ms), "SC_TIMEOUT": "30"})
    assert proc.returncode == 75, proc.stderr
    assert took < 2, proc.stderr
    assert proc.stderr.startswith("sc-status: cluster not ready after 1 s: no master answered: ")
    assert re.search(re.escape(f"{ms[0].url}/json/: timed out after ") +
                     r"[01]\.\d s, at the deadline;", proc.stderr), proc.stderr
    for m in ms[1:]:
        assert f"{m.url}/json/: not asked: the deadline has passed" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("how", ["late", "trickling"])
def test_wait_ends_at_its_deadline_with_a_slow_master(masters, how):
    # ALIVE with its worker, but the answer would come after the deadline:
    # that is not ready in time, as a master that never answers
    m = masters("ALIVE")
    answer = m.answer

    def slow(h):
        if h.path != "/json/":
            return answer(h)
        body = json.dumps(master_doc("ALIVE")).encode()
        if how == "late":
            time.sleep(3)
            return h.send(200, body)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        try:
            for i in range(0, len(body), 16):
                h.wfile.write(body[i:i + 16])
                h.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass        # the client hung up

    m.server.behaviour = slow
    proc, took = timed("sc-status", "--wait=1", "-q", env={**group_env(m), "SC_TIMEOUT": "30"})
    assert proc.returncode == 75, proc.stderr
    assert took < 2, proc.stderr
    assert re.fullmatch(re.escape(f"sc-status: cluster not ready after 1 s: {m.url}/json/: ") +
                        r"timed out after [01]\.\d s, at the deadline\n", proc.stderr), proc.stderr
    # without --wait the same master is waited for, up to the HTTP timeout
    if how == "late":
        assert status_json(run("sc-status", "-J", env={**group_env(m), "SC_TIMEOUT": "30"}))[
            "status"] == "ALIVE"


def test_kill_confirmation_ends_at_its_deadline(masters, silent):
    # the ALIVE master takes the kill and then never answers, nor do the others
    m1 = masters("ALIVE")
    others = [silent(), silent()]
    answer = m1.answer
    hang = threading.Event()

    def mute_after_the_kill(h):
        if h.path == "/json/" and [r for r in m1.requests if r[0] == "POST"]:
            hang.wait(30)
            return None
        return answer(h)

    m1.server.behaviour = mute_after_the_kill
    try:
        proc, took = timed("sc-kill", "--wait", "1", "-J", APP,
                           env={**group_env(m1, *others), "SC_TIMEOUT": "30"})
    finally:
        hang.set()
    assert proc.returncode == 1, proc.stderr
    assert took < 3, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outcome"] == "failed" and out["state"] == "RUNNING"
    assert f"app {APP}: not confirmed after 1 s: no master answered: {m1.url}/json/: timed out" \
        in proc.stderr
    assert [r[1] for r in m1.requests if r[0] == "POST"] == ["/app/kill/"]


def test_rest_wait_ends_at_the_deadline_and_kills(masters, silent):
    # the REST server took the submission, then its status never comes: the
    # deadline still holds, and the kill at it goes out
    m1, m2 = masters("ALIVE"), silent()
    answer = m1.answer
    hang = threading.Event()

    def mute_status(h):
        if h.path == "/v1/submissions/create":
            return h.send(200, json.dumps({
                "action": "CreateSubmissionResponse", "success": True,
                "submissionId": DRIVER, "serverSparkVersion": "3.5.1"}).encode())
        if h.path.startswith("/v1/submissions/status/"):
            hang.wait(30)
            return None
        return answer(h)

    m1.server.behaviour = mute_status
    try:
        proc, took = timed("sc-submit", "--rest", "--wait", "--deadline=1", "--class", "Main",
                           "http://example.invalid/app.jar",
                           env={**group_env(m1, m2), "SC_TIMEOUT": "30"})
    finally:
        hang.set()
    assert proc.returncode == 75, proc.stderr
    assert took < 3, proc.stderr
    assert proc.stderr.splitlines()[-1] == f"sc-submit: {DRIVER}: deadline of 1s reached; killed"
    assert "status unknown" not in proc.stderr
    assert [r[1] for r in m1.requests if r[0] == "POST"] == [
        "/v1/submissions/create", f"/v1/submissions/kill/{DRIVER}"]


def test_submit_deadline_is_not_held_up_by_masters_that_do_not_answer(silent, tmp_path):
    # spark-submit says nothing, so its application is looked for on the
    # masters, which never answer
    fake_spark_home(tmp_path, "exec sleep 30")
    ms = [silent(), silent(), silent()]
    env = {**group_env(*ms), "SC_TIMEOUT": "30", "SPARK_HOME": str(tmp_path / "spark"),
           "SC_EVENTS_DIR": str(tmp_path / "events"), "SPARK_USER": "me"}
    proc, took = timed("sc-submit", "--deadline=2", "job.py", env=env)
    assert proc.returncode == 75, proc.stderr
    assert took < 4, proc.stderr
    assert proc.stderr.splitlines()[-1] == ("sc-submit: deadline of 2s reached before the "
                                            "application id was known; spark-submit stopped")
    assert sum(len(m.held) for m in ms) >= 1      # the masters were asked
