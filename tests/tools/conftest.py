"""Shared fixtures for the black-box tests of the clusterops tools.

The tools are run as a user would run them, from SC_TEST_BIN (the build's
bin/ directory). Tests marked `cluster` need the real local cluster that
scripts/run-tests starts and describes through the SC_* environment.
"""
import http.server
import json
import os
import shlex
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SC_TEST_BIN", ROOT / "bin"))
JOBS = ROOT / "tests" / "jobs"
NOTEBOOK_JOBS = ROOT / "notebooks" / "jobs"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def tool(name):
    return str(BIN / name)


def run(name, *args, env=None, timeout=120, input=None, check_sanitizers=True):
    """Run a tool; every run is also checked for sanitizer reports."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.run([tool(name), *map(str, args)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, input=input)
    if check_sanitizers:
        for marker in SANITIZER_MARKERS:
            assert marker not in proc.stderr, f"{name} {args}: sanitizer report:\n{proc.stderr}"
    return proc


def master_json():
    with urllib.request.urlopen(os.environ["SC_MASTER_UI"] + "/json/", timeout=10) as r:
        return json.load(r)


def find_app(app_id):
    state = master_json()
    for app in state["activeapps"] + state["completedapps"]:
        if app["id"] == app_id:
            return app
    return None


def find_driver(driver_id):
    state = master_json()
    for d in state["activedrivers"] + state["completeddrivers"]:
        if d["id"] == driver_id:
            return d
    return None


def wait_for(predicate, timeout=60, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    """A loopback port where nothing listens (as for a stopped master)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_master():
    """Configuration pointing every tool at a master that is not running."""
    port = free_port()
    return {
        "SC_MASTER": f"spark://127.0.0.1:{port}",
        "SC_MASTER_UI": f"http://127.0.0.1:{port}",
        "SC_REST_URL": f"http://127.0.0.1:{port}",
        "SC_TIMEOUT": "3",
    }


class StubHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with the server's `reply(handler)` behaviour."""

    def do_GET(self):
        self.server.requests.append(("GET", self.path, b""))
        self.server.behaviour(self)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.requests.append(("POST", self.path, body))
        self.server.behaviour(self)

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def stub():
    """A fault-injecting HTTP server on loopback; set .behaviour to a callable."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    server.daemon_threads = True
    server.requests = []
    server.behaviour = lambda h: h.send(200, b"{}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    server.env = {
        "SC_MASTER": f"spark://127.0.0.1:{port}",
        "SC_MASTER_UI": f"http://127.0.0.1:{port}",
        "SC_REST_URL": f"http://127.0.0.1:{port}",
        "SC_TIMEOUT": "2",
    }
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_user_config(tmp_path, monkeypatch):
    """Keep the invoking user's configuration out of a test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SC_CONFIG", raising=False)
    return tmp_path


def require_cluster():
    if not os.environ.get("SC_MASTER_UI") or not os.environ.get("SPARK_HOME"):
        pytest.fail("no local cluster: run the suite with scripts/run-tests")


@pytest.fixture(scope="session")
def cluster():
    require_cluster()
    return {k: v for k, v in os.environ.items() if k.startswith("SC_")}


@pytest.fixture(scope="session")
def jar(tmp_path_factory):
    """The small Pi main class, compiled for cluster-mode submissions."""
    out = tmp_path_factory.mktemp("jar")
    subprocess.run(["javac", "--release", "11", "-d", str(out / "classes"), str(JOBS / "Pi.java")],
                   check=True)
    subprocess.run(["jar", "cf", str(out / "pi.jar"), "-C", str(out / "classes"), "."],
                   check=True)
    return out / "pi.jar"


def shell_split(line):
    return shlex.split(line)
