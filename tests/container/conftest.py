"""The Docker cluster, built and run for the tests: docker/build.sh builds
every image, docker/docker-compose.yml starts the cluster once for the whole
session, and the tests drive it the way its users do, through JupyterLab's
REST and terminal API and through the shell of the jupyterlab container.

The engine is Docker with its compose plugin, or podman with podman-compose
(SC_CT_ENGINE=docker|podman to choose; the first that works otherwise).
Where neither can run, every test is skipped with the reason.

Environment:
  SC_TEST_BIN        the host build's bin/ (sc-status waits for the cluster)
  SC_CT_ENGINE       docker or podman (default: detected)
  SC_CT_KEEP         1: leave the cluster running after the tests
  SC_CT_REUSE        1: test the cluster a previous SC_CT_KEEP=1 run left
                     running, without building or starting anything
  SC_CT_BUILD_LOG    where the image build's output goes
  SC_CACHE_DIR       the base image's cache (default ~/.cache/clusterops)
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SC_TEST_BIN", ROOT / "bin"))
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
PROJECT = "clusterops-test"
VOLUME = "clusterops-test-workspace"
# Not the image's default 1000:100, so that the tests see the setting work.
NB_UID, NB_GID = 4321, 4321
JUPYTER = "http://127.0.0.1:8888"
MASTER_UI = "http://127.0.0.1:8080"
HISTORY = "http://127.0.0.1:18080"
BASE_IMAGE = "debian:12-slim"
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def _works(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def detect_engine():
    """(engine, compose command, environment, reason if none)."""
    wanted = os.environ.get("SC_CT_ENGINE")
    env = dict(os.environ)
    if wanted in (None, "", "docker") and _works(["docker", "info"]) \
            and _works(["docker", "compose", "version"]):
        return "docker", ["docker", "compose"], env, None
    if wanted in (None, "", "podman") and shutil.which("podman") and shutil.which("podman-compose"):
        env["CONTAINERS_CONF"] = str(Path(__file__).with_name("containers.conf"))
        if _works_env(["podman", "info"], env):
            return "podman", ["podman-compose"], env, None
        return None, None, env, "podman is installed but `podman info` fails"
    if wanted:
        return None, None, env, f"SC_CT_ENGINE={wanted}: not usable here"
    return None, None, env, ("no container engine: neither a running Docker with "
                             "'docker compose' nor podman with podman-compose")


def _works_env(cmd, env):
    try:
        return subprocess.run(cmd, capture_output=True, timeout=60, env=env).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


ENGINE, COMPOSE, ENGINE_ENV, NO_ENGINE = detect_engine()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """The running compose project and the ways into it."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.token = secrets.token_hex(16)
        self.notebooks = workdir / "notebooks"
        self.env = dict(ENGINE_ENV)
        self.env.update({
            "COMPOSE_PROJECT_NAME": PROJECT,
            "SC_WORKSPACE_VOLUME": VOLUME,
            "SC_NOTEBOOKS_DIR": str(self.notebooks),
            "SC_PUBLISH_ADDR": "127.0.0.1",
            # A Spark driver on the host (the local cluster's tests) holds 4040.
            "SC_DRIVER_UI_PORT": str(_free_port()),
            "JUPYTER_TOKEN": self.token,
            "NB_UID": str(NB_UID),
            "NB_GID": str(NB_GID),
            "LIBRDKAFKA_VERSION": os.environ.get("LIBRDKAFKA_VERSION", "debian"),
            "DOCKER": ENGINE,
        })
        self.events = []

    # -- running things ----------------------------------------------------
    def engine(self, *args, timeout=600, check=True, input=None):
        proc = subprocess.run([ENGINE, *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, input=input,
                              stdin=subprocess.DEVNULL if input is None else None)
        if check and proc.returncode != 0:
            raise AssertionError(f"{ENGINE} {' '.join(args)}: exit {proc.returncode}\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def compose(self, *args, timeout=600, check=True):
        cmd = [*COMPOSE, "-p", PROJECT, "-f", str(COMPOSE_FILE), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=self.env,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: exit {proc.returncode}\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def sh(self, script, container="jupyterlab", user="jovyan", env=None, timeout=300,
           login=True, detach=False, input=None):
        """Run a bash script in a container, as the notebook user by default,
        in a login shell (the environment a JupyterLab terminal has)."""
        args = ["exec", "-d" if detach else "-i"]
        if user:
            args += ["-u", user]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        args += [container, "bash", "-lc" if login else "-c", script]
        return self.engine(*args, timeout=timeout, check=False, input=input)

    def http(self, method, url, body=None, token=True, timeout=30):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"token {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)

    def down(self):
        """Stop the cluster and remove its containers and volumes."""
        self.compose("down", "-v", "-t", "10", check=False)
        self.engine("volume", "rm", "-f", VOLUME, check=False)

    # -- state ----------------------------------------------------------------
    def master_json(self):
        return self.http("GET", MASTER_UI + "/json/", token=False)[1]

    def history_apps(self):
        return self.http("GET", HISTORY + "/api/v1/applications", token=False)[1]

    def wait_ready(self, timeout=240):
        """sc-status --wait, as a Makefile would, from the host's build."""
        proc = subprocess.run(
            [str(BIN / "sc-status"), f"--wait={timeout}", "--workers=2", "-q"],
            capture_output=True, text=True, timeout=timeout + 30,
            env={**os.environ, "SC_MASTER": "spark://127.0.0.1:7077",
                 "SC_MASTER_UI": MASTER_UI, "SC_REST_URL": "http://127.0.0.1:6066"})
        for marker in SANITIZER_MARKERS:
            assert marker not in proc.stderr, proc.stderr
        assert proc.returncode == 0, f"sc-status --wait: exit {proc.returncode}: {proc.stderr}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.http("GET", JUPYTER + "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                if time.monotonic() > deadline:
                    raise AssertionError(f"JupyterLab at {JUPYTER}: {e}")
                time.sleep(1)


def _base_image(cluster, log):
    """debian:12-slim: the engine's own, else one made from Debian's packages
    with debootstrap (no image registry needed), cached as a tar file."""
    if cluster.engine("image", "inspect", BASE_IMAGE, check=False).returncode == 0:
        return
    cache = Path(os.environ.get("SC_CACHE_DIR") or Path.home() / ".cache" / "clusterops")
    tarball = cache / "debian-12-minbase.tar"
    if not tarball.exists():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            root = Path(tmp) / "root"
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root),
                            "http://deb.debian.org/debian"], check=True, stdout=log,
                           stderr=subprocess.STDOUT, timeout=900)
            part = Path(tmp) / "base.tar"
            subprocess.run(["tar", "-C", str(root), "-cf", str(part), "."], check=True,
                           timeout=600)
            part.rename(tarball)
    cluster.engine("import", str(tarball), BASE_IMAGE, timeout=600)


def _extra_ca_certs():
    """The CA certificates this host trusts beyond Debian's (a proxy's)."""
    d = Path(os.environ.get("SC_CT_CA_DIR", "/usr/local/share/ca-certificates"))
    return sorted(str(p) for p in d.rglob("*.crt")) if d.is_dir() else []


def _reuse(c):
    """The cluster left running: its token and notebooks dir from the
    jupyterlab container itself."""
    info = json.loads(c.engine("inspect", "jupyterlab").stdout)[0]
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    c.token = env["JUPYTER_TOKEN"]
    for m in info["Mounts"]:
        if m["Destination"] == "/opt/workspace/notebooks":
            c.notebooks = Path(m["Source"])
    c.wait_ready()
    return c


@pytest.fixture(scope="session")
def cluster():
    if NO_ENGINE:
        pytest.skip(NO_ENGINE)
    # Not under pytest's basetemp, which later runs prune while a cluster
    # kept with SC_CT_KEEP still mounts it.
    workdir = Path(tempfile.mkdtemp(prefix="clusterops-ct."))
    os.chmod(workdir, 0o755)
    c = Cluster(workdir)
    if os.environ.get("SC_CT_REUSE") == "1":
        os.rmdir(workdir)
        yield _reuse(c)
        return
    # The bind-mounted notebooks/ is a copy, owned as a user's checkout is.
    shutil.copytree(ROOT / "notebooks", c.notebooks)
    for p in [c.notebooks, *c.notebooks.rglob("*")]:
        os.chown(p, NB_UID, NB_GID)
    build_log = Path(os.environ.get("SC_CT_BUILD_LOG", workdir / "build.log"))
    # Leftovers of an interrupted run would keep the ports and names.
    c.down()
    with open(build_log, "ab") as log:
        t0 = time.monotonic()
        _base_image(c, log)
        cmd = [str(ROOT / "docker" / "build.sh")]
        for crt in _extra_ca_certs():
            cmd += ["--ca-cert", crt]
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=c.env,
                              timeout=2400)
        c.build_seconds = time.monotonic() - t0
    if proc.returncode != 0:
        tail = build_log.read_text(errors="replace")[-4000:]
        pytest.fail(f"docker/build.sh: exit {proc.returncode}; the end of {build_log}:\n{tail}")
    t0 = time.monotonic()
    try:
        c.compose("up", "-d")
        c.wait_ready()
    except BaseException:
        # what did start (a port taken stops one container, not the others)
        # does not outlive the run
        if os.environ.get("SC_CT_KEEP") != "1":
            c.down()
        raise
    c.up_seconds = time.monotonic() - t0
    yield c
    if os.environ.get("SC_CT_KEEP") != "1":
        c.down()
        shutil.rmtree(workdir, ignore_errors=True)
