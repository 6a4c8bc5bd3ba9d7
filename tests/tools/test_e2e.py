"""End to end on the local cluster, the way a user chains the tools:

sc-fetch pulls a generated text from a loopback HTTP server into datain,
sc-submit runs notebooks/jobs/wordcount.py over it, and dataout must hold
the counts the text was generated from; kcat-lite produces known events,
sc-submit runs notebooks/jobs/kafka_stream.py once over the topic
(trigger availableNow), and dataout must hold their per-key totals;
sc-logs bundles that application; sc-events-prune --keep 1 on a copy of the
events dir leaves only the newest log. Last, notebooks/jobs/Makefile.example
drives the same steps as a user's project does.

Marked `e2e`: they run on the first Spark line of scripts/run-tests only.
"""
import csv
import functools
import http.server
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from conftest import BIN, NOTEBOOK_JOBS, ROOT, find_app, run

pytestmark = pytest.mark.e2e
# One executor on each worker, one core each.
SPREAD = ["--total-executor-cores", "2", "--executor-cores", "1"]
VOCABULARY = ["alpha", "beta", "gamma", "delta", "don", "t", "spark", "kafka", "x",
              "zeta", "omega", "lorem", "ipsum"]
SEPARATORS = [" ", "  ", ", ", ".\n", "\n", "--", "'", " 42 ", "\t", "; (", ") ", "_", "é"]
EVENTS = 600
KEYS = ["k0", "k1", "k2", "k3", "k4"]


def generated_text(seed=7, words=20000):
    """A text and the word counts it was built from (not parsed back out):
    words from the vocabulary in random case, joined by non-letters."""
    rng = random.Random(seed)
    chosen = [rng.choice(VOCABULARY) for _ in range(words)]
    parts = []
    for w in chosen:
        parts.append("".join(c.upper() if rng.random() < 0.3 else c for c in w))
        parts.append(rng.choice(SEPARATORS))
    return "".join(parts), Counter(chosen)


def read_csv_output(path):
    """The rows of the single CSV part file Spark committed into path."""
    assert (path / "_SUCCESS").exists(), sorted(p.name for p in path.iterdir())
    parts = sorted(path.glob("part-*.csv"))
    assert len(parts) == 1, parts
    with parts[0].open(newline="") as f:
        return list(csv.reader(f))


def submit(job, *args, tmp_path, extra=()):
    id_file = tmp_path / f"{uuid.uuid4().hex}.id"
    proc = run("sc-submit", "-q", "-i", id_file, *SPREAD, *extra, NOTEBOOK_JOBS / job,
               *args, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    app_id = id_file.read_text().strip()
    assert (find_app(app_id) or {}).get("state") == "FINISHED", app_id
    return app_id


@pytest.fixture(scope="module")
def run_dirs(cluster):
    """Fresh subdirectories of the cluster's datain and dataout."""
    name = f"e2e-{uuid.uuid4().hex[:12]}"
    datain = Path(cluster["SC_DATAIN"]) / name
    dataout = Path(cluster["SC_DATAOUT"]) / name
    yield datain, dataout
    shutil.rmtree(datain, ignore_errors=True)
    shutil.rmtree(dataout, ignore_errors=True)


@pytest.fixture(scope="module")
def text_server(tmp_path_factory):
    """A plain HTTP server on loopback serving one generated text."""
    www = tmp_path_factory.mktemp("www")
    text, counts = generated_text()
    (www / "book.txt").write_text(text, encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/book.txt", text, counts
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def wordcount_app(run_dirs, text_server, tmp_path_factory):
    url, text, counts = text_server
    datain, dataout = run_dirs
    fetched = run("sc-fetch", "-q", "-d", datain, url)
    assert fetched.returncode == 0, fetched.stderr
    assert (datain / "book.txt").read_text(encoding="utf-8") == text
    app_id = submit("wordcount.py", datain, dataout / "wordcount",
                    tmp_path=tmp_path_factory.mktemp("wc"))
    return app_id, counts, dataout / "wordcount"


@pytest.fixture(scope="module")
def stream_app(run_dirs, tmp_path_factory, wordcount_app):
    """kafka_stream.py run once over a new topic of EVENTS known messages."""
    _, dataout = run_dirs
    topic = f"e2e-{uuid.uuid4().hex[:12]}"
    rng = random.Random(11)
    lines, expected = [], {k: [0, 0] for k in KEYS}
    for i in range(EVENTS):
        key = rng.choice(KEYS)
        expected[key][0] += 1
        if i % 10 == 9:     # counted, but adds nothing to the sum
            lines.append(f"{key}:not json {i}")
        else:
            amount = rng.randint(1, 1000)
            expected[key][1] += amount
            lines.append(f'{key}:{{"id": {i}, "amount": {amount}}}')
    produced = run("kcat-lite", "-P", "-t", topic, "-K", ":", input="\n".join(lines) + "\n")
    assert produced.returncode == 0, produced.stderr
    jars = subprocess.run([str(ROOT / "scripts" / "spark-kafka-jars")], capture_output=True,
                          text=True, timeout=900)
    assert jars.returncode == 0, jars.stderr
    assert "spark-sql-kafka-0-10" in jars.stdout, jars.stdout
    work = tmp_path_factory.mktemp("stream")
    app_id = submit("kafka_stream.py", topic, dataout / "stream",
                    "--checkpoint", work / "checkpoint", tmp_path=work,
                    extra=["--jars", jars.stdout.strip()])
    return app_id, topic, expected, dataout / "stream"


def test_wordcount_counts_the_fetched_text(wordcount_app):
    _, counts, out = wordcount_app
    rows = read_csv_output(out)
    assert rows[0] == ["word", "count"]
    got = {w: int(n) for w, n in rows[1:]}
    assert len(got) == len(rows) - 1, "a word appears twice"
    assert got == dict(counts)
    # sorted by count, most frequent first
    assert [int(n) for _, n in rows[1:]] == sorted((int(n) for _, n in rows[1:]), reverse=True)


@pytest.mark.kafka
def test_kafka_stream_totals(stream_app):
    _, _, expected, out = stream_app
    rows = read_csv_output(out)
    assert rows[0] == ["key", "messages", "amount"]
    got = {k: [int(n), float(a)] for k, n, a in rows[1:]}
    assert got == {k: [n, float(a)] for k, (n, a) in expected.items()}
    assert sum(n for n, _ in got.values()) == EVENTS


@pytest.mark.kafka
def test_logs_bundle_of_the_stream(stream_app, tmp_path):
    app_id, topic, _, _ = stream_app
    bundle = tmp_path / "bundle.tar.gz"
    proc = run("sc-logs", "--both", "-o", bundle, app_id)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(bundle) as t:
        files = {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}
    prefix = f"{app_id}/"
    assert files and all(n.startswith(prefix) for n in files), sorted(files)
    manifest = json.loads(files[prefix + "MANIFEST.json"])
    assert manifest["missing"] == []
    logs = sorted(n for n in files if "/executors/" in n)
    # executors/WORKER/EXECUTOR/STREAM: one executor per worker, both streams
    executors = {tuple(n.split("/")[2:4]) for n in logs}
    assert len({w for w, _ in executors}) == 2, logs
    assert len(logs) == 2 * len(executors) == 4, logs
    assert {n.rsplit("/", 1)[1] for n in logs} == {"stdout", "stderr"}
    # the executors read the topic
    assert any(topic.encode() in files[n] for n in logs if n.endswith("stderr")), \
        "no executor log mentions the topic"
    assert any("/eventlog/" in n for n in files)


@pytest.mark.kafka
def test_prune_keep_one_on_a_copy(stream_app, wordcount_app, cluster, tmp_path):
    real = Path(cluster["SC_EVENTS_DIR"])
    copy = tmp_path / "events"
    shutil.copytree(real, copy, symlinks=True)
    before = {p.name for p in copy.iterdir() if not p.name.startswith(".")}
    stream_id, wc_id = stream_app[0], wordcount_app[0]
    assert any(stream_id in n for n in before) and any(wc_id in n for n in before), before
    proc = run("sc-events-prune", "-d", copy, "--keep", "1", "-J")
    assert proc.returncode == 0, proc.stderr
    removed = {json.loads(line)["name"] for line in proc.stdout.splitlines()}
    after = {p.name for p in copy.iterdir() if not p.name.startswith(".")}
    assert after == before - removed
    # the newest application's log is the one left; the real dir is untouched
    assert [n for n in after if stream_id in n] and not [n for n in after if wc_id in n], after
    assert len(after) == 1, after
    assert {p.name for p in real.iterdir() if not p.name.startswith(".")} >= before


def test_makefile_example(text_server, cluster, tmp_path):
    """make data submit logs prune in a project laid out as the example says."""
    url, _, counts = text_server
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(NOTEBOOK_JOBS / "Makefile.example", project / "Makefile")
    shutil.copy(NOTEBOOK_JOBS / "wordcount.py", project)
    (project / "datasets.manifest").write_text(f"{url} name=book.txt\n")
    name = f"make-{uuid.uuid4().hex[:12]}"
    datain, dataout = Path(cluster["SC_DATAIN"]) / name, Path(cluster["SC_DATAOUT"]) / name
    env = dict(os.environ, SC_DATAIN=str(datain), SC_DATAOUT=str(dataout),
               PATH=f"{BIN}:{os.environ['PATH']}")

    def make(target, **extra):
        proc = subprocess.run(["make", "-s", target], cwd=project, env={**env, **extra},
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (target, proc.stdout[-2000:], proc.stderr[-4000:])

    try:
        make("data")
        lock = (project / "datasets.lock").read_text()
        assert "book.txt" in lock, lock
        make("submit")
        rows = read_csv_output(dataout / "wordcount")
        assert {w: int(n) for w, n in rows[1:]} == dict(counts)
        app_id = (project / "app.id").read_text().strip()
        assert (find_app(app_id) or {}).get("state") == "FINISHED", app_id
        # straight after the job, as a user's make would: the history
        # server may not have read its event log yet
        make("logs")
        with tarfile.open(project / f"logs-{app_id}.tar.gz") as t:
            names = t.getnames()
        assert {f"{app_id}/MANIFEST.json", f"{app_id}/application.json"} <= set(names), names
        assert any("/executors/" in n for n in names), names
        # make prune works on a copy of the history: the 50 newest stay
        events = tmp_path / "events"
        shutil.copytree(cluster["SC_EVENTS_DIR"], events, symlinks=True)
        before = sorted(p.name for p in events.iterdir() if p.name.startswith(("app-", "eventlog")))
        make("prune", SC_EVENTS_DIR=str(events))
        after = sorted(p.name for p in events.iterdir() if p.name.startswith(("app-", "eventlog")))
        assert len(after) == min(len(before), 50), (before, after)
        assert any(app_id in n for n in after), after
    finally:
        shutil.rmtree(datain, ignore_errors=True)
        shutil.rmtree(dataout, ignore_errors=True)
