"""Every tool once under valgrind's memcheck, for real against the local cluster.

The tools come from a build without sanitizers, whose bin/ directory is
SC_TEST_PLAIN_BIN (valgrind cannot run a program built with
AddressSanitizer). Each run must end with its documented status, and
valgrind must find no error in it: no invalid read or write, no jump on
uninitialised memory, no definite or indirect leak.
"""
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest

from conftest import JOBS, find_app, master_json, run, tool, wait_for

PLAIN = os.environ.get("SC_TEST_PLAIN_BIN")
pytestmark = [
    pytest.mark.valgrind,
    pytest.mark.skipif(not PLAIN, reason="SC_TEST_PLAIN_BIN is not set: no build without "
                       "sanitizers to run under valgrind"),
]
VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--track-fds=no",
            "--num-callers=40"]
LINES = 20
SPREAD = ["--total-executor-cores", "2", "--executor-cores", "1"]


def vg(logdir, name, *args, status=0, timeout=300, input=None):
    """Run one tool under valgrind; assert its documented status and a clean report."""
    if not shutil.which("valgrind"):
        pytest.fail("valgrind is not installed: run scripts/install-deps")
    program = Path(PLAIN) / name
    logs = Path(logdir) / f"valgrind-{name}-{uuid.uuid4().hex[:8]}"
    logs.mkdir()
    cmd = [*VALGRIND, f"--log-file={logs}/%p.log", str(program), *map(str, args)]
    libtool = Path(PLAIN).parent / "libtool"
    with open(program, "rb") as f:
        wrapper = f.read(2) == b"#!"
    if wrapper:
        # libtool's wrapper script of a program linked to the uninstalled
        # library: valgrind must run the program, not the shell
        if not libtool.exists():
            pytest.fail(f"{program} is a wrapper script and there is no {libtool}")
        cmd = [str(libtool), "--mode=execute", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    report = "\n".join(p.read_text(errors="replace") for p in sorted(logs.glob("*.log")))
    what = f"{name} {' '.join(map(str, args))}"
    assert re.search(rf"^==\d+== Command: \S*/(lt-)?{re.escape(name)}\b", report, re.M), \
        f"{what}: valgrind did not run the program itself:\n{report[-3000:]}"
    errors = [int(n) for n in re.findall(r"ERROR SUMMARY: (\d+) errors", report)]
    assert errors and not any(errors), f"{what}: valgrind found errors:\n{report[-30000:]}"
    assert proc.returncode == status, \
        f"{what}: exit {proc.returncode}, not {status}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def submitted(cluster, tmp_path_factory):
    """A short job submitted by sc-submit under valgrind: the run and its app id."""
    tmp = tmp_path_factory.mktemp("vg-submit")
    id_file = tmp / "app.id"
    proc = vg(tmp, "sc-submit", "-i", id_file, *SPREAD, JOBS / "chatty.py", LINES,
              timeout=600)
    return proc, id_file.read_text().strip()


def test_sc_status(cluster, tmp_path):
    proc = vg(tmp_path, "sc-status")
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert rows[0][:3] == ["master", cluster["SC_MASTER"], "ALIVE"]
    # the master's own list, which may still hold a DEAD worker restarted by another test
    workers = master_json()["workers"]
    assert sum(w["state"] == "ALIVE" for w in workers) == 2
    assert sum(r[0] == "worker" for r in rows) == len(workers)
    proc = vg(tmp_path, "sc-status", "-J")
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert objs[0]["type"] == "master" and objs[0]["aliveworkers"] == 2


def test_sc_submit(submitted):
    proc, app_id = submitted
    assert f"sc-submit: application {app_id}: " in proc.stderr
    assert find_app(app_id)["state"] == "FINISHED"


def test_sc_kill(cluster, tmp_path):
    id_file = tmp_path / "app.id"
    submitter = subprocess.Popen([tool("sc-submit"), "-i", str(id_file), JOBS / "sleeper.py"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def running():
            assert submitter.poll() is None, submitter.communicate()[1][-3000:]
            app_id = id_file.exists() and id_file.read_text().strip()
            return app_id if app_id and (find_app(app_id) or {}).get("state") == "RUNNING" \
                else None
        app_id = wait_for(running, timeout=120, what="the sleeper to run")
        proc = vg(tmp_path, "sc-kill", app_id)
        assert proc.stdout == f"app\t{app_id}\tkilled\tKILLED\n"
        proc = vg(tmp_path, "sc-kill", "-J", app_id, status=2)
        assert json.loads(proc.stdout)["outcome"] == "already-ended"
        _, err = submitter.communicate(timeout=120)
        assert submitter.returncode == 1, err[-3000:]
    finally:
        if submitter.poll() is None:
            submitter.kill()
            submitter.communicate()


def test_sc_logs(submitted, tmp_path):
    _, app_id = submitted
    proc = vg(tmp_path, "sc-logs", "--both", app_id)
    lines = [line.split("\t", 3)[3] for line in proc.stdout.splitlines()]
    assert sum(line.startswith("MARKER out ") for line in lines) == 2 * LINES
    assert sum(line.startswith("MARKER err ") for line in lines) == 2 * LINES
    for suffix in (".tar.gz", ".zip"):
        out = tmp_path / f"logs{suffix}"
        vg(tmp_path, "sc-logs", "--both", "-o", out, app_id)
        if suffix == ".zip":
            with zipfile.ZipFile(out) as z:
                files = {n: z.read(n) for n in z.namelist()}
        else:
            with tarfile.open(fileobj=io.BytesIO(out.read_bytes())) as t:
                files = {m.name: t.extractfile(m).read() for m in t.getmembers()}
        manifest = json.loads(files[f"{app_id}/MANIFEST.json"])
        assert manifest["missing"] == []
        text = b"".join(data for n, data in files.items() if "/executors/" in n)
        assert text.count(b"MARKER out ") == 2 * LINES


def test_sc_events_prune(submitted, cluster, tmp_path):
    _, app_id = submitted
    copy = tmp_path / "events"
    shutil.copytree(cluster["SC_EVENTS_DIR"], copy, symlinks=True)
    before = {p.name: p.stat().st_mtime for p in copy.iterdir()}
    proc = vg(tmp_path, "sc-events-prune", "-d", copy, "--all", "--dry-run", "-J")
    would = {json.loads(line)["name"] for line in proc.stdout.splitlines()}
    assert any(app_id in name for name in would), (app_id, would)
    assert {p.name: p.stat().st_mtime for p in copy.iterdir()} == before
    proc = vg(tmp_path, "sc-events-prune", "-d", copy, "--all")
    assert {line.split("\t")[1] for line in proc.stdout.splitlines()} == would
    assert {p.name for p in copy.iterdir() if not p.name.startswith(".")} == \
        {n for n in before if not n.startswith(".")} - would


def test_sc_fetch(nginx, tmp_path):
    area = f"vg-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in (("set/a.csv", b"a,b\n1,2\n"), ("set/README", b"sample\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    archive = nginx.publish(f"{area}/set.tar.gz", buf.getvalue())
    plain = nginx.publish(f"{area}/small.txt", b"small file\n" * 10)
    out = tmp_path / "datain"
    proc = vg(tmp_path, "sc-fetch", "-x", "-J", "-d", out, archive, plain)
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["outcome"] for d in docs] == ["fetched", "fetched"]
    assert (out / "set" / "set" / "a.csv").read_bytes() == b"a,b\n1,2\n"
    assert (out / "small.txt").read_bytes() == b"small file\n" * 10


@pytest.mark.kafka
def test_kcat_lite(tmp_path):
    brokers = os.environ.get("SC_BROKERS")
    if not brokers:
        pytest.fail("SC_BROKERS is not set: start the local cluster and use its env")
    topic = f"vg-{uuid.uuid4().hex[:12]}"
    vg(tmp_path, "kcat-lite", "-b", brokers, "-P", "-t", topic, "-K", ":", "-H", "h=v",
       input="k1:one\nk2:two\n:three\n")
    proc = vg(tmp_path, "kcat-lite", "-b", brokers, "-C", "-t", topic, "-e", "-J")
    msgs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(m["key"], m["payload"], m["headers"]) for m in msgs] == [
        ("k1", "one", ["h", "v"]), ("k2", "two", ["h", "v"]), ("", "three", ["h", "v"])]
    # and the sanitized build reads the same
    assert run("kcat-lite", "-b", brokers, "-C", "-t", topic, "-e").stdout == "one\ntwo\nthree\n"
