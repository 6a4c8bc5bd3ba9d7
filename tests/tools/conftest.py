"""Shared fixtures for the black-box tests of the clusterops tools.

The tools are run as a user would run them, from SC_TEST_BIN (the build's
bin/ directory). Tests marked `cluster` need the real local cluster that
scripts/run-tests starts and describes through the SC_* environment.
"""
import http.server
import json
import os
import pty
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A shell starts a background job (`make check &`) with SIGINT ignored, and
# a tool keeps an ignored signal ignored (as under nohup): the tools run
# here get SIGINT's default, as from a terminal, for the tests that send it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
BIN = Path(os.environ.get("SC_TEST_BIN", ROOT / "bin"))
JOBS = ROOT / "tests" / "jobs"
NOTEBOOK_JOBS = ROOT / "notebooks" / "jobs"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "valgrind: a tool under valgrind, from the build without sanitizers "
        "(SC_TEST_PLAIN_BIN); first Spark line only")


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


def read_a_line_then_leave(argv, first, env=None, ignore_sigpipe=False):
    """Run a follower with stdout on a pipe, read its first line (which must
    be `first`), then close the pipe as head(1) does; its status (negative:
    the signal) and stderr, sanitizer reports refused. A line that never
    comes fails the test after a minute instead of hanging it."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})},
                            preexec_fn=(lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
                            if ignore_sigpipe else None)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout.readline() == first
        proc.stdout.close()
        status = proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        proc.kill()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err
    return status, err


def build_shim(directory, name, source):
    """A shared object for LD_PRELOAD, compiled from C source into
    directory/NAME.so; the test is skipped where there is no C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler for the LD_PRELOAD shim")
    (directory / f"{name}.c").write_text(source)
    subprocess.run([cc, "-shared", "-fPIC", "-O", "-o", str(directory / f"{name}.so"),
                    str(directory / f"{name}.c"), "-ldl"], check=True, capture_output=True,
                   text=True)
    return directory / f"{name}.so"


def assert_usage(proc, name, why):
    """Exit 64 for the reason expected: an unknown option also gives 64.

    The one line that names the misuse must contain `why`, followed by
    the "Try 'NAME --help'" line; nothing goes to stdout.
    """
    err, out = proc.stderr, proc.stdout
    if isinstance(err, bytes):
        err, out = err.decode(errors="replace"), out.decode(errors="replace")
    assert proc.returncode == 64, f"{name}: exit {proc.returncode}, not 64:\n{err}"
    lines = err.splitlines()
    assert len(lines) >= 2 and lines[-1] == f"Try '{name} --help' for more information.", err
    assert lines[-2].startswith(f"{name}: ") and why in lines[-2], \
        f"{name}: expected {why!r} in the usage line:\n{err}"
    assert out == "", out


def master_json():
    """The /json/ of the ALIVE master (of a failover group: the first that is)."""
    last = None
    for ui in os.environ["SC_MASTER_UI"].split(","):
        try:
            with urllib.request.urlopen(ui + "/json/", timeout=10) as r:
                doc = json.load(r)
        except OSError as e:
            last = last or e
            continue
        if doc.get("status") == "ALIVE":
            return doc
        if not isinstance(last, dict):
            last = doc
    if isinstance(last, dict):
        return last
    raise last


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


def kafka_libs():
    """The jars of the running broker: the KAFKA_LIBS it was started with."""
    with open(os.path.join(os.environ["SC_STATE_DIR"], "run", "kafka-broker.pid")) as f:
        pid = f.read().strip()
    with open(f"/proc/{pid}/environ", "rb") as f:
        for var in f.read().split(b"\0"):
            if var.startswith(b"KAFKA_LIBS="):
                return var[len(b"KAFKA_LIBS="):].decode()
    pytest.fail("the broker's environment names no KAFKA_LIBS")


def kafka_topic_create(brokers, topic, n_partitions, *options):
    """Create a topic with Kafka's own tool (the local cluster's jars, SC_STATE_DIR)."""
    subprocess.run(["java", "-Xmx128m", "-cp", os.path.join(kafka_libs(), "*"),
                    "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", brokers,
                    "--create", "--topic", topic, "--partitions", str(n_partitions),
                    *options], check=True, capture_output=True, timeout=180)


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


def run_on_a_pty(argv, env, stderr_too=False, timeout=30):
    """Run a tool with standard output (and error, with stderr_too) on a
    pseudo-terminal: (exit status, what the terminal got, stderr's bytes)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([tool(argv[0]), *argv[1:]], stdin=subprocess.DEVNULL,
                            stdout=follower,
                            stderr=follower if stderr_too else subprocess.PIPE,
                            env={**os.environ, **env})
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    status = proc.wait(timeout=timeout)
    err = b"" if stderr_too else proc.stderr.read()
    if not stderr_too:
        proc.stderr.close()
    return status, shown.replace(b"\r\n", b"\n"), err


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

    def send_half(self, body, ctype="application/json"):
        """A 200 reply that announces all of body, sends half and hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True


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


# ---- nginx on loopback, for sc-fetch

LOG_FORMAT = "$request_uri $status [$http_range] $body_bytes_sent"


class Nginx:
    def __init__(self, base, url):
        self.base = base
        self.www = base / "www"
        self.url = url
        self.log = base / "access.log"

    def publish(self, rel, data):
        path = self.www / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return f"{self.url}/{rel}"

    def requests(self, prefix):
        """(uri, status, range) of every request under /prefix so far."""
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            uri, status, rng, _ = line.split(" ", 3)
            if uri.startswith(f"/{prefix}/"):
                out.append((uri, int(status), rng.strip("[]")))
        return out


@pytest.fixture(scope="session")
def nginx(tmp_path_factory):
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        pytest.fail("nginx is not installed: run scripts/install-deps")
    base = tmp_path_factory.mktemp("nginx")
    (base / "www").mkdir()
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    tls_port, tls_server, cert = None, "", None
    if shutil.which("openssl"):
        cert, key = base / "cert.pem", base / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        tls_port = free_port()
        tls_server = (f"server {{ listen 127.0.0.1:{tls_port} ssl; ssl_certificate {cert}; "
                      f"ssl_certificate_key {key}; root {base}/www; }}")
    temps = "\n".join(f"{k}_temp_path {base}/{k};"
                      for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (base / "nginx.conf").write_text(f"""
daemon off;
{user}
worker_processes 2;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    log_format t '{LOG_FORMAT}';
    access_log {base}/access.log t;
    {temps}
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {base}/www;
        location /norange/ {{ max_ranges 0; }}
        location /slow/ {{ limit_rate 200k; }}
        location = /moved {{ return 302 /redirected/target.txt; }}
    }}
    {tls_server}
}}
""")
    proc = subprocess.Popen([binary, "-p", str(base), "-c", str(base / "nginx.conf"),
                             "-e", str(base / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"nginx did not start: {proc.stderr.read().decode()}"
                            f"{(base / 'error.log').read_text() if (base / 'error.log').exists() else ''}")
            time.sleep(0.05)
    server = Nginx(base, f"http://127.0.0.1:{port}")
    server.tls_url = f"https://127.0.0.1:{tls_port}" if tls_port else None
    server.cert = cert
    yield server
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
