"""sc-logs against stub workers that serve /log/ as Spark does, to inject faults.

No Spark runs here: a stub master lists stub workers, whose /log/ answers
by offset and length from bytes the test chose (pieces cut where the test
wants them), or stops answering in the middle of a log.
"""
import http.server
import io
import json
import os
import signal
import subprocess
import tarfile
import threading
import time
import urllib.parse
import zipfile

import pytest

from conftest import SANITIZER_MARKERS, read_a_line_then_leave, run, tool
from test_hostile_cluster import (APP, RecordingHandler, app, isolated,  # noqa: F401
                                  master_doc, servers, worker, worker_json)

PIECE = (1 << 20) - 4096      # what sc-logs asks for at a time (CO_LOG_PIECE)
WINDOW = 64 << 10             # the first --tail window (CO_LOG_TAIL_WINDOW)
PLAIN = os.environ.get("SC_TEST_PLAIN_BIN")


def stub_worker(servers, answer, worker_id="worker-0"):
    """A worker's /json/, and its /log/ answered by answer(h, query, n) for
    the n-th request; the queries are kept in .log_requests."""
    requests = []

    def behaviour(h):
        if h.path.startswith("/json"):
            h.send(200, json.dumps(dict(worker_json(), id=worker_id)).encode())
            return
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(h.path).query))
        requests.append(q)
        answer(h, q, len(requests))

    server = servers(behaviour)
    server.log_requests = requests
    return server


def start_worker(servers, content, number=0, die_after=None):
    """A worker's /json/ and /log/, serving content by offset and length.

    With die_after=N, the (N+1)th /log/ request and every later one get the
    connection closed without a reply, as from a worker that died.
    """
    def answer(h, q, n):
        if die_after is not None and n > die_after:
            h.close_connection = True
            return
        length = int(q["byteLength"])
        total = len(content)
        start = int(q["offset"]) if "offset" in q else max(0, total - length)
        start = min(start, total)
        end = min(total, start + length)
        head = f"==== Bytes {start}-{end} of {total} of /work/{APP}/0/stderr ====\n"
        h.send(200, head.encode() + content[start:end], "text/plain")

    server = stub_worker(servers, answer, f"worker-{number}")
    server.number = number
    return server


def cluster(servers, *workers):
    """A master listing the given worker stubs and APP, ended an hour ago."""
    docs = [dict(worker(w.url, f"worker-{w.number}"), port=1000 + w.number) for w in workers]
    doc = master_doc(workers=docs, completed=[app()])
    return servers(lambda h: h.send(200, json.dumps(doc).encode()))


def one_worker(servers, content, die_after=None):
    wk = start_worker(servers, content, die_after=die_after)
    return cluster(servers, wk), wk.log_requests


def lines_of(n, width):
    """n numbered lines of exactly width bytes, newline included."""
    return b"".join(b"%0*d\n" % (width - 1, i) for i in range(n))


def text(proc):
    return [line.split("\t", 3)[3] for line in proc.stdout.splitlines()]


def test_tail_looks_back_in_growing_windows(servers, isolated):
    # 1000-byte lines: the last 100 are more than the first 64 KiB window holds
    content = lines_of(3000, 1000)
    master, requests = one_worker(servers, content)
    proc = run("sc-logs", "--tail", "100", APP, env=master.env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert text(proc) == content.decode().splitlines()[-100:]
    windows = [int(q["byteLength"]) for q in requests if "offset" not in q]
    assert windows == [WINDOW, 2 * WINDOW], requests


def test_tail_of_a_log_shorter_than_asked(servers, isolated):
    content = b"one\ntwo\nthree"          # and its last line is unfinished
    master, requests = one_worker(servers, content)
    proc = run("sc-logs", "--tail", "10", APP, env=master.env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert text(proc) == ["one", "two", "three"]
    assert len(requests) == 1


def test_lines_cut_by_pieces_are_joined(servers, isolated):
    # 37-byte lines never end where a piece does; the last line has no newline
    content = lines_of(75000, 37) + b"the end, unfinished"
    assert len(content) > 2 * PIECE
    master, requests = one_worker(servers, content)
    proc = run("sc-logs", APP, env=master.env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert text(proc) == content.decode().splitlines()
    assert [int(q["offset"]) for q in requests] == [0, PIECE, 2 * PIECE]


def test_json_keeps_a_character_cut_by_a_piece_and_replaces_invalid_bytes(servers, isolated):
    # "é" (c3 a9) straddles the first piece's end; a lone \xff and a
    # surrogate's encoding are invalid
    head = b"x" * (PIECE - 1)
    content = head + b"\xc3\xa9 caf\xc3\xa9\nbad \xff and \xed\xa0\x80\n"
    master, requests = one_worker(servers, content)
    proc = run("sc-logs", "-J", APP, env=master.env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(requests) == 2
    assert lines[0]["line"] == "x" * (PIECE - 1) + "\u00e9 caf\u00e9"
    assert lines[1]["line"] == "bad \ufffd and \ufffd\ufffd\ufffd"
    assert {o["executor"] for o in lines} == {"0"}
    assert proc.stdout.encode().decode("utf-8")


def test_a_worker_that_dies_mid_stream(servers, isolated):
    content = lines_of(60000, 37)       # two pieces and more
    good = start_worker(servers, b"steady\nstream\n", 0)
    dying = start_worker(servers, content, 1, die_after=1)
    master = cluster(servers, good, dying)
    proc = run("sc-logs", APP, env=master.env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "not collected: executor 0 stderr on 127.0.0.1:1001: " in proc.stderr
    got = proc.stdout.splitlines()
    # the other worker's log whole, and the dead one's lines up to where it died
    assert [r.split("\t")[3] for r in got if r.startswith("127.0.0.1:1000\t")] == \
        ["steady", "stream"]
    dead = [r.split("\t")[3] for r in got if r.startswith("127.0.0.1:1001\t")]
    whole = content.decode().splitlines()
    # the complete lines of the first piece, then the start of the line it cut
    assert len(dead) == PIECE // 37 + 1
    assert dead[:-1] == whole[:len(dead) - 1]
    assert whole[len(dead) - 1].startswith(dead[-1]) and dead[-1] != whole[len(dead) - 1]
    assert len(dying.log_requests) == 2


def test_output_that_fails_ends_the_run_at_once(servers, isolated):
    # onto a full disk: the first failed write ends the run; the rest of a
    # 10-piece log is not read only to be thrown away
    master, requests = one_worker(servers, lines_of(200000, 50))
    with open("/dev/full", "w") as full:
        proc = subprocess.run([tool("sc-logs"), "--no-driver-log", APP], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, **master.env})
    assert proc.returncode == 74, proc.stderr
    assert proc.stderr == "sc-logs: write error: No space left on device\n"
    assert len(requests) <= 2, len(requests)


@pytest.mark.parametrize("sigpipe", ["default", "ignored"])
def test_follow_ends_when_its_reader_goes_away_while_no_line_comes(servers, isolated,
                                                                   sigpipe):
    # `sc-logs -f APP | head -1` (nohup, cron, a shell that ignores SIGPIPE):
    # the run ends once head has gone, as tail -f does, not at the
    # application's end, which may be days away
    wk = start_worker(servers, b"one line\n")
    doc = master_doc(workers=[dict(worker(wk.url, "worker-0"), port=1000)],
                     active=[app(state="RUNNING")])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    status, err = read_a_line_then_leave(
        [tool("sc-logs"), "-f", "--no-prefix", "--no-driver-log", APP], b"one line\n",
        env=master.env, ignore_sigpipe=sigpipe == "ignored")
    if sigpipe == "default":
        assert status == -signal.SIGPIPE, err
    else:
        assert status == 74 and err == "sc-logs: write error: Broken pipe\n", err


@pytest.fixture
def silent_worker_cluster(servers):
    """A master listing a worker that lists 100 executors and never answers
    for their logs (a host that died, or registered and does not answer),
    and a worker of one executor that does; the silent one's /log/ requests."""
    release = threading.Event()
    asked = []

    def silent(h):
        if h.path.startswith("/json"):
            return h.send(200, json.dumps(dict(worker_json(executors=range(100)),
                                               id="worker-1")).encode())
        asked.append(h.path)
        release.wait(60)
        h.close_connection = True
    good = start_worker(servers, b"hello\n", 0)
    bad = servers(silent)
    docs = [dict(worker(good.url, "worker-0"), port=1000),
            dict(worker(bad.url, "worker-1"), port=1001)]
    doc = master_doc(workers=docs, completed=[app()])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    yield dict(master.env, SC_TIMEOUT="1"), asked
    release.set()


def test_a_worker_that_does_not_answer_costs_one_timeout_not_one_a_log(silent_worker_cluster):
    env, asked = silent_worker_cluster
    started = time.monotonic()
    proc = run("sc-logs", "--no-driver-log", APP, env=env, timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert text(proc) == ["hello"]
    assert proc.stderr.count("not collected: executor ") == 100, proc.stderr
    assert proc.stderr.count("not asked: the worker did not answer in time for another "
                             "of its logs") >= 92, proc.stderr
    assert len(asked) <= 8, asked           # the first requests, at once
    assert took < 8, took                   # 100 / 8 timeouts before: 13 s


def test_a_bundle_of_a_worker_that_does_not_answer_costs_one_timeout(silent_worker_cluster,
                                                                     tmp_path):
    env, asked = silent_worker_cluster
    out = tmp_path / "b.tar.gz"
    started = time.monotonic()
    proc = run("sc-logs", "-o", out, APP, env=dict(env, SC_EVENTS_DIR=str(tmp_path / "none")),
               timeout=300)
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    members = bundle_members(out)
    assert members[f"{APP}/executors/worker-0/0/stderr"] == b"hello\n"
    missing = json.loads(members[f"{APP}/MANIFEST.json"])["missing"]
    assert sum("not asked: the worker did not answer in time" in m for m in missing) >= 99
    assert proc.stderr.count("not asked: the worker did not answer in time") >= 99, proc.stderr
    assert len(asked) == 1, asked
    assert took < 20, took                  # one timeout a log before: 100 s


def test_bundle_when_a_worker_dies_mid_log(servers, isolated, tmp_path):
    # the other worker's log is kept whole; the dead one's part is left out
    # and named, and nothing but the bundle is left beside it
    content = lines_of(60000, 37)       # two pieces and more
    good = start_worker(servers, b"steady\nstream\n", 0)
    dying = start_worker(servers, content, 1, die_after=1)
    master = cluster(servers, good, dying)
    out = tmp_path / "out" / "bundle.tar.gz"
    out.parent.mkdir()
    proc = run("sc-logs", "-o", out, APP, env={**master.env,
                                              "SC_EVENTS_DIR": str(tmp_path / "none")},
               timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "not collected: executor 0 stderr on 127.0.0.1:1001: " in proc.stderr
    # its first piece came, and then no more
    assert [q["offset"] for q in dying.log_requests][:2] == ["0", str(PIECE)]
    assert list(out.parent.iterdir()) == [out]
    members = bundle_members(out)
    assert members[f"{APP}/executors/worker-0/0/stderr"] == b"steady\nstream\n"
    assert not any(n.startswith(f"{APP}/executors/worker-1/") for n in members)
    manifest = json.loads(members[f"{APP}/MANIFEST.json"])
    assert [f["name"] for f in manifest["files"]] == ["executors/worker-0/0/stderr"]
    assert any(m.startswith("executor 0 stderr on 127.0.0.1:1001: ")
               for m in manifest["missing"])


def test_bundle_when_a_worker_dies_before_a_log(servers, isolated, tmp_path):
    master, requests = one_worker(servers, b"never served\n", die_after=0)
    events = tmp_path / "events"
    events.mkdir()
    (events / APP).write_text('{"Event":"SparkListenerLogStart"}\n')
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, env={**master.env, "SC_EVENTS_DIR": str(events)},
               timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "not collected: executor 0 stderr on 127.0.0.1:1000: " in proc.stderr
    with tarfile.open(out) as t:
        names = t.getnames()
        manifest = json.load(t.extractfile(f"{APP}/MANIFEST.json"))
    assert f"{APP}/eventlog/{APP}" in names
    assert not any("/executors/" in n for n in names)
    assert any(m.startswith("executor 0 stderr on 127.0.0.1:1000: ")
               for m in manifest["missing"])
    # it holds the driver's log, which may hold secrets: the owner's only
    assert oct(out.stat().st_mode & 0o777) == oct(0o600 & ~current_umask())


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("suffix", [".tgz", ".tar.bz2", ".tar.xz"])
def test_bundle_in_every_format_the_extractor_reads(servers, isolated, tmp_path, suffix):
    master, _ = one_worker(servers, b"a line\n")
    out = tmp_path / f"bundle{suffix}"
    proc = run("sc-logs", "-o", out, APP, env={**master.env,
                                              "SC_EVENTS_DIR": str(tmp_path / "none")},
               timeout=60)
    assert proc.returncode == 1, proc.stderr     # no event log, no history server
    with tarfile.open(out) as t:
        log = t.extractfile(f"{APP}/executors/worker-0/0/stderr").read()
    assert log == b"a line\n"


def test_bundle_replaces_a_link_at_its_name_and_never_follows_it(servers, isolated, tmp_path):
    master, _ = one_worker(servers, b"a line\n")
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    out = tmp_path / "out" / "bundle.tar"
    out.parent.mkdir()
    out.symlink_to(victim)
    proc = run("sc-logs", "-o", out, APP, env={**master.env,
                                              "SC_EVENTS_DIR": str(tmp_path / "none")},
               timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert victim.read_text() == "keep me\n"
    assert not out.is_symlink() and tarfile.is_tarfile(out)
    assert [p.name for p in out.parent.iterdir()] == ["bundle.tar"]


# ---- sc-logs -o: the history server's zip of the event log --------------


def history_zip(members, stored=True):
    """A zip as the history server gives it: name -> bytes."""
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def history_server(servers, body, cut_first=False):
    """A master that lists APP as ended, with no workers, and the history
    server of its event log. With cut_first, the zip's first reply breaks
    off halfway through."""
    doc = master_doc(completed=[app()])
    zips = []

    def behaviour(h):
        if h.path == f"/api/v1/applications/{APP}/logs":
            zips.append(h.path)
            if cut_first and len(zips) == 1:
                h.send_half(body, "application/zip")
            else:
                h.send(200, body, "application/zip")
        elif h.path.startswith("/api/v1/applications/"):
            h.send(200, json.dumps({"id": APP, "name": "job"}).encode())
        else:
            h.send(200, json.dumps(doc).encode())

    server = servers(behaviour)
    server.zips = zips
    return server


def bundle_members(path):
    with tarfile.open(path) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def test_bundle_takes_a_history_zip_larger_than_any_reply_kept_in_memory(servers, isolated,
                                                                          tmp_path):
    # 72 MiB that does not compress, more than the 64 MiB a reply read into
    # memory may be: the zip goes to a temporary file as it arrives
    log = os.urandom(72 << 20)
    name = f"eventlog_v2_{APP}/events_1_{APP}"
    master = history_server(servers, history_zip({name: log}))
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=120,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none"), "SC_TIMEOUT": "30"})
    assert "larger than" not in proc.stderr, proc.stderr
    members = bundle_members(out)
    assert members[f"{APP}/eventlog/{name}"] == log
    manifest = json.loads(members[f"{APP}/MANIFEST.json"])
    assert not [m for m in manifest["missing"] if "event log" in m], manifest
    # what the temporary files held is gone with them
    assert len(master.zips) == 1


@pytest.mark.skipif(not PLAIN, reason="SC_TEST_PLAIN_BIN is not set: no build without "
                    "sanitizers to measure memory in")
def test_history_zip_is_not_held_in_memory(servers, isolated, tmp_path):
    def peak(size):
        name = f"eventlog_v2_{APP}/events_1_{APP}"
        master = history_server(servers, history_zip({name: os.urandom(size)}))
        out = tmp_path / f"bundle-{size}.tar"
        rss = tmp_path / f"rss-{size}"
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss),
                               os.path.join(PLAIN, "sc-logs"), "-o", str(out), APP],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, **master.env, "SC_TIMEOUT": "30",
                                   "SC_EVENTS_DIR": str(tmp_path / "none")})
        assert f"{APP}/eventlog/{name}" in bundle_members(out), proc.stderr
        return int(rss.read_text().split()[-1])

    small, big = peak(64 << 10), peak(48 << 20)
    # 48 MiB more of zip, and not 1 MiB more of memory
    assert big - small < 1024, (small, big)


@pytest.mark.skipif(not PLAIN, reason="SC_TEST_PLAIN_BIN is not set: no build without "
                    "sanitizers to measure memory in")
def test_unfinished_lines_of_many_logs_are_not_all_held(servers, isolated, tmp_path):
    # 48 executors, each log a megabyte without a newline: each is an
    # unfinished line until its log ends, and no more than 16 MiB of them
    # are held at once (48 MiB otherwise)
    def answer(h, q, n):
        head = f"==== Bytes 0-{PIECE} of {PIECE} of /work/{APP}/0/stderr ====\n"
        h.send(200, head.encode() + b"x" * PIECE, "text/plain")

    def behaviour(h):
        if h.path.startswith("/json"):
            h.send(200, json.dumps(worker_json(executors=range(48))).encode())
        else:
            answer(h, None, 0)
    wk = servers(behaviour)
    doc = master_doc(workers=[worker(wk.url, "worker-1")], completed=[app()])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    rss, out = tmp_path / "rss", tmp_path / "out"
    with open(out, "wb") as f:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss),
                               os.path.join(PLAIN, "sc-logs"), "--no-prefix", APP],
                              stdout=f, stderr=subprocess.PIPE, text=True, timeout=120,
                              env={**os.environ, **master.env, "SC_EVENTS_DIR": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    text = out.read_bytes()
    assert text.replace(b"\n", b"") == b"x" * (48 * PIECE)
    assert text.count(b"\n") >= 48 and text.endswith(b"\n")   # cut where they had to be
    assert int(rss.read_text().split()[-1]) < 40 << 10, rss.read_text()


def workers_of_10000_executors(servers, count, log_reply):
    """count workers, each listing 10000 executors of the application, whose
    /log/ answers log_reply(handler); the stubs and the master's entries."""
    def behaviour(number):
        def answer(h):
            if h.path.startswith("/json"):
                h.send(200, json.dumps(dict(worker_json(executors=range(10000)),
                                            id=f"worker-{number}")).encode())
            else:
                log_reply(h)
        return answer
    workers = [servers(behaviour(i)) for i in range(count)]
    return workers, [dict(worker(w.url, f"worker-{i}"), port=1000 + i)
                     for i, w in enumerate(workers)]


def test_logs_reads_no_more_than_20000_logs_whatever_the_workers_list(servers, isolated):
    # three workers, each listing 10000 executors of the application
    workers, docs = workers_of_10000_executors(servers, 3, lambda h: h.send(
        200, f"==== Bytes 0-3 of 3 of /work/{APP}/0/stderr ====\nab\n".encode(), "text/plain"))
    doc = master_doc(workers=docs, completed=[app()])
    master = servers(lambda h: h.send(200, json.dumps(doc).encode()))
    proc = run("sc-logs", "--no-prefix", APP, timeout=300,
               env={**master.env, "SC_EVENTS_DIR": "/nonexistent", "SC_TIMEOUT": "60"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stdout == "ab\n" * 20000, proc.stderr[-2000:]
    assert "not collected: logs past the first 20000 the workers list: too many to read" \
        in proc.stderr
    assert sum(1 for w in workers for r in w.requests if r[1].startswith("/log")) == 20000


def test_follow_of_exactly_20000_logs_reads_them_all_and_misses_none(servers, isolated):
    # two workers list 10000 executors each, at every poll of a follower:
    # the logs already read are not counted again against the limit
    def log_reply(h):
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(h.path).query))
        start = min(int(q.get("offset", 0)), 3)
        h.send(200, f"==== Bytes {start}-3 of 3 of /work/{APP}/0/stderr ====\n".encode()
               + b"ab\n"[start:], "text/plain")
    workers, docs = workers_of_10000_executors(servers, 2, log_reply)
    polls = []

    def master(h):
        polls.append(h.path)
        running = len(polls) <= 3
        doc = master_doc(workers=docs, active=[app(state="RUNNING")] if running else [],
                         completed=[] if running else [app()])
        h.send(200, json.dumps(doc).encode())
    proc = run("sc-logs", "-f", "--no-prefix", APP, timeout=300,
               env={**servers(master).env, "SC_EVENTS_DIR": "/nonexistent", "SC_TIMEOUT": "60"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "not collected" not in proc.stderr
    assert proc.stdout == "ab\n" * 20000, proc.stderr[-2000:]
    assert len(polls) >= 4


def test_history_zip_cut_short_is_asked_for_again_and_read_once(servers, isolated, tmp_path):
    log = b"".join(b'{"Event":"SparkListenerTaskEnd","n":%d}\n' % i for i in range(20000))
    name = f"eventlog_v2_{APP}/events_1_{APP}"
    body = history_zip({name: log, "second": b"2\n"})
    master = history_server(servers, body, cut_first=True)
    out = tmp_path / "bundle.tar"
    # the half that came first counts once against the limit: not at all
    proc = run("sc-logs", "-o", out, APP, timeout=60,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none"),
                    "SC_EXTRACT_MAX_SIZE": str(len(body) * 5 // 4)})
    assert len(master.zips) == 2, proc.stderr
    members = bundle_members(out)
    assert members[f"{APP}/eventlog/{name}"] == log, proc.stderr
    assert members[f"{APP}/eventlog/second"] == b"2\n"


def test_history_zip_over_extract_max_size_is_named_not_collected(servers, isolated, tmp_path):
    name = f"eventlog_v2_{APP}/events_1_{APP}"
    master = history_server(servers, history_zip({name: os.urandom(1 << 20)}))
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=60,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none"),
                    "SC_EXTRACT_MAX_SIZE": "512K"})
    assert proc.returncode == 1, proc.stderr
    assert "(extract_max_size)" in proc.stderr
    members = bundle_members(out)
    assert not any("/eventlog/" in n for n in members)
    manifest = json.loads(members[f"{APP}/MANIFEST.json"])
    assert any(m.startswith("event log") for m in manifest["missing"]), manifest


@pytest.mark.parametrize("limit, message", [
    ({"SC_EXTRACT_MAX_SIZE": "1M"}, "the archive unpacks to more than the limit of 1048576 "
                                     "bytes (extract_max_size)"),
    ({"SC_EXTRACT_MAX_MEMBERS": "10"}, "more than 10 members (extract_max_members)")])
def test_history_zip_limits_count_all_its_members(servers, isolated, tmp_path, limit, message):
    # 40 members of 64 KiB or more, a small zip: each under both limits,
    # together over them
    members = {f"eventlog_v2_{APP}/events_{i}_{APP}": b"%d\n" % i * (64 << 9)
               for i in range(40)}
    master = history_server(servers, history_zip(members, stored=False))
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=60,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none"), **limit})
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr
    manifest = json.loads(bundle_members(out)[f"{APP}/MANIFEST.json"])
    assert any(m.startswith("event log") and message in m for m in manifest["missing"]), \
        manifest


def test_bundle_never_names_a_member_after_a_hostile_worker_id(servers, isolated, tmp_path):
    # any host can register as a worker, under any id: its logs are left
    # out rather than put where unpacking the bundle would leave its dir
    bad = "../../../../tmp/planted"
    master, _ = lying_worker(servers, lambda n, q: (
        f"==== Bytes 0-8 of 8 of /work/{APP}/0/stderr ====\nplanted\n").encode(), bad)
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=60,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none")})
    assert proc.returncode == 1, proc.stderr
    assert "not a plain relative member name" in proc.stderr
    names = list(bundle_members(out))
    assert names and not any(".." in n.split("/") for n in names), names
def lying_worker(servers, replies, worker_id="worker-0"):
    """A worker whose /log/ answers the n-th request with replies(n, query),
    and a master that lists it under worker_id."""
    wk = stub_worker(servers, lambda h, q, n: h.send(200, replies(n, q), "text/plain"),
                     worker_id)
    docs = [dict(worker(wk.url, worker_id), port=1000)]
    return servers(lambda h: h.send(200, json.dumps(master_doc(
        workers=docs, completed=[app()])).encode())), wk.log_requests


def test_bundle_of_a_log_that_grows_while_it_is_read_takes_its_size_at_first(servers, isolated,
                                                                            tmp_path):
    # a running executor's log of three pieces grows between any two
    # replies: the bundle holds it as it was at the first, and no byte more
    # is asked for (a last piece past that size was refused as a lie)
    content = lines_of(100000, 37)
    first = 2 * PIECE + 5000

    def answer(h, q, n):
        total = first + 100000 * (n - 1)
        start = int(q["offset"])
        end = min(total, start + int(q["byteLength"]))
        head = f"==== Bytes {start}-{end} of {total} of /work/{APP}/0/stderr ====\n"
        h.send(200, head.encode() + content[start:end], "text/plain")
    wk = stub_worker(servers, answer)
    wk.number = 0
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=60,
               env={**cluster(servers, wk).env, "SC_EVENTS_DIR": str(tmp_path / "none")})
    assert "executor 0" not in proc.stderr, proc.stderr
    assert bundle_members(out)[f"{APP}/executors/worker-0/0/stderr"] == content[:first]
    assert [int(q["byteLength"]) for q in wk.log_requests] == [PIECE, PIECE, 5000]


def test_bundle_ends_a_log_that_says_it_ends_a_byte_further_each_time(servers, isolated,
                                                                      tmp_path):
    # the first piece says the log holds 1 GB; each later one, a byte,
    # and that the log ends after it: read a byte a reply, a gigabyte
    # would take a billion requests
    def replies(n, q):
        start = int(q["offset"])
        if start == 0:
            return (f"==== Bytes 0-{PIECE} of {10**9} of /work/{APP}/0/stderr ====\n"
                    ).encode() + b"x" * PIECE
        return f"==== Bytes {start}-{start + 1} of {start + 1} of /work/{APP}/0/stderr ====\nx" \
            .encode()
    master, requests = lying_worker(servers, replies)
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=30,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none")})
    assert proc.returncode == 1, proc.stderr
    assert "does not advance" in proc.stderr
    assert len(requests) == 2, len(requests)
    assert list(bundle_members(out)) == [f"{APP}/MANIFEST.json"]


def test_follow_takes_no_bytes_but_those_asked_for(servers, isolated):
    # a worker that answers every request with the log's first bytes, as if
    # they were new: following, they are not printed again at each poll
    def replies(n, q):
        return f"==== Bytes 0-6 of 6 of /work/{APP}/0/stderr ====\nhello\n".encode()
    master, requests = lying_worker(servers, replies)
    proc = run("sc-logs", "-f", "--no-prefix", APP, env=master.env, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "hello\n"
    assert "not of the bytes asked for (bytes 0-6 of 6, asked from 6)" in proc.stderr
    assert len(requests) == 2, requests


def test_follow_of_a_log_the_worker_no_longer_has_says_so(servers, isolated):
    # read once; then the worker answers as Spark does for a log it cannot read
    def replies(n, q):
        if n == 1:
            return f"==== Bytes 0-6 of 6 of /work/{APP}/0/stderr ====\nhello\n".encode()
        return (f"==== Bytes 0-0 of 0 of /work/{APP}/0/stderr ====\n"
                "Error: Could not read the log file").encode()
    master, requests = lying_worker(servers, replies)
    proc = run("sc-logs", "-f", "--no-prefix", APP, env=master.env, timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "hello\n"
    assert "the worker no longer has this log" in proc.stderr
    assert [q.get("offset") for q in requests] == ["0", "6"]


def test_tail_window_stops_growing_whatever_the_worker_claims(servers, isolated):
    # a reply that always claims a tiny range short of the start, with too
    # few lines: the window doubles only while the worker gives all of it
    master, requests = lying_worker(
        servers, lambda n, q: f"==== Bytes 1-2 of 3 of /work/{APP}/0/stderr ====\nx".encode())
    proc = run("sc-logs", "--tail", "5", APP, env=master.env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert len(requests) == 1, requests


def test_tail_window_grows_to_its_limit_and_no_further(servers, isolated):
    # a worker that gives every window asked for, each a single line
    def whole_window(n, q):
        length = int(q["byteLength"])
        total = 1 << 40
        return (f"==== Bytes {total - length}-{total} of {total} of /work/{APP}/0/stderr "
                "====\n").encode() + b"x" * (length - 1) + b"\n"
    master, requests = lying_worker(servers, whole_window)
    proc = run("sc-logs", "--tail", "5", APP, env=master.env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    windows = [int(q["byteLength"]) for q in requests]
    assert windows == [WINDOW << i for i in range(9)], windows     # 64 KiB to 16 MiB


def test_bundle_leaves_out_a_log_that_stops_short_of_its_first_size(servers, isolated,
                                                                    tmp_path):
    # the first piece says the log has 1000 bytes more than it, every later
    # one that it ends there: no piece moves on, so the log ends, short,
    # and is left out of the bundle, named
    piece = (1 << 20) - 4096      # what sc-logs asks for at a time

    def shrinking(n, q):
        if n == 1:
            return (f"==== Bytes 0-{piece} of {piece + 1000} of /work/{APP}/0/stderr "
                    "====\n").encode() + b"x" * piece
        return f"==== Bytes {piece}-{piece} of {piece} of /work/{APP}/0/stderr ====\n".encode()
    master, requests = lying_worker(servers, shrinking)
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=30,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none")})
    assert len(requests) == 2, requests
    assert proc.returncode == 1, proc.stderr
    assert "fewer bytes than it announced" in proc.stderr
    assert list(out.parent.iterdir()) == [out]
    members = bundle_members(out)
    assert list(members) == [f"{APP}/MANIFEST.json"]
    assert "fewer bytes than it announced" in \
        json.loads(members[f"{APP}/MANIFEST.json"])["missing"][0]


def test_bundle_takes_no_more_worker_logs_than_allowed(servers, isolated, tmp_path):
    # a worker that says its log is 9 EB is left out at its first piece,
    # before any of it is taken; of two real logs of 1000 bytes, the one
    # that would go past the 1500 bytes allowed is left out
    def endless(n, q):
        return (f"==== Bytes 0-100 of 9000000000000000000 of /work/{APP}/0/stderr "
                "====\n").encode() + b"x" * 100
    huge = stub_worker(servers, lambda h, q, n: h.send(200, endless(n, q), "text/plain"),
                       "worker-0")
    huge.number = 0
    first = start_worker(servers, lines_of(100, 10), 1)
    second = start_worker(servers, lines_of(100, 10), 2)
    master = cluster(servers, huge, first, second)
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=30,
               env={**master.env, "SC_EVENTS_DIR": str(tmp_path / "none"),
                    "SC_EXTRACT_MAX_SIZE": "1500"})
    assert proc.returncode == 1, proc.stderr
    assert len(huge.log_requests) == 1
    assert "executor 0 stderr on 127.0.0.1:1000: " in proc.stderr
    assert "executor 0 stderr on 127.0.0.1:1002: " in proc.stderr
    assert "left of the limit (extract_max_size)" in proc.stderr
    members = bundle_members(out)
    assert members[f"{APP}/executors/worker-1/0/stderr"] == lines_of(100, 10)
    assert sorted(n for n in members if "/executors/" in n) == \
        [f"{APP}/executors/worker-1/0/stderr"]


def test_bundle_leaves_out_a_planted_event_log_larger_than_allowed(servers, isolated, tmp_path):
    # anyone can put a file in the shared events dir under an application's
    # name: a sparse one costs its planter nothing and would be read whole
    events = tmp_path / "events"
    events.mkdir()
    with open(events / APP, "wb") as f:
        f.truncate(2 << 30)
    name = f"eventlog_v2_{APP}/events_1_{APP}"
    master = history_server(servers, history_zip({name: b'{"Event":"x"}\n'}))
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=60,
               env={**master.env, "SC_EVENTS_DIR": str(events), "SC_EXTRACT_MAX_SIZE": "1M"})
    assert out.stat().st_size < 1 << 20, proc.stderr
    members = bundle_members(out)
    assert f"{APP}/eventlog/{APP}" not in members
    assert members[f"{APP}/eventlog/{name}"] == b'{"Event":"x"}\n'    # the history server's


def test_bundle_leaves_out_a_planted_driver_log_larger_than_allowed(servers, isolated, tmp_path):
    # the driver-log dir is everyone's too: a sparse file under the
    # application's driver-log name is not copied whole into the bundle
    dl = tmp_path / "driver-logs"
    dl.mkdir()
    name = f"eventlog_v2_{APP}/events_1_{APP}"
    master = history_server(servers, history_zip({name: b'{"Event":"x"}\n'}))
    env = {**master.env, "SC_EVENTS_DIR": str(tmp_path / "none"),
           "SC_DRIVER_LOG_DIR": str(dl), "SC_EXTRACT_MAX_SIZE": "1M"}
    (dl / f"{APP}_driver.log").write_bytes(b"Traceback\n")
    out = tmp_path / "small.tar"
    run("sc-logs", "-o", out, APP, timeout=60, env=env)
    assert bundle_members(out)[f"{APP}/driver.log"] == b"Traceback\n"
    with open(dl / f"{APP}_driver.log", "wb") as f:
        f.truncate(2 << 30)
    out = tmp_path / "bundle.tar"
    proc = run("sc-logs", "-o", out, APP, timeout=60, env=env)
    assert proc.returncode == 1, proc.stderr
    assert out.stat().st_size < 1 << 20, proc.stderr
    assert "not collected: driver log: the file's 2147483648 bytes are more than the " \
        "1048576 left of the limit (extract_max_size)" in proc.stderr
    members = bundle_members(out)
    assert f"{APP}/driver.log" not in members
    assert members[f"{APP}/eventlog/{name}"] == b'{"Event":"x"}\n'
    manifest = json.loads(members[f"{APP}/MANIFEST.json"])
    assert [m for m in manifest["missing"] if m.startswith("driver log: ")], manifest


def test_tail_of_a_driver_log_looks_back_no_further_than_a_workers(servers, isolated, tmp_path):
    # a sparse file of 64 MiB with three lines: the last 3 lines are looked
    # for in its last 16 MiB only, which are printed, not the whole file
    dl = tmp_path / "driver-logs"
    dl.mkdir()
    with open(dl / f"{APP}_driver.log", "wb") as f:
        f.write(b"first\n")
        f.seek((64 << 20) - 6)
        f.write(b"\nlast\n")
    master = history_server(servers, b"")
    env = {**master.env, "SC_EVENTS_DIR": str(tmp_path / "none"), "SC_DRIVER_LOG_DIR": str(dl)}
    proc = run("sc-logs", "--tail", "1", "--no-prefix", APP, env=env, timeout=60)
    assert proc.stdout == "last\n", proc.stderr
    proc = run("sc-logs", "--tail", "3", "--no-prefix", APP, env=env, timeout=60)
    assert proc.stdout.endswith("\nlast\n"), proc.stderr
    assert "first" not in proc.stdout
    assert len(proc.stdout) < (17 << 20), len(proc.stdout)  # long lines are cut in pieces


@pytest.mark.parametrize("follow", [[], ["-f"]])
def test_a_log_that_grows_as_fast_as_it_is_read_is_read_to_its_size_at_first(servers, isolated,
                                                                              follow):
    # each reply says the log has grown by another 1000 bytes: a read is of
    # the log as it was at its first piece, and ends; following, the master
    # is asked between reads, and says the application has ended
    def answer(h, q, n):
        start = int(q.get("offset", 0))
        head = f"==== Bytes {start}-{start + 1000} of {start + 2000} of /work/{APP}/0/stderr ====\n"
        h.send(200, head.encode() + b"x" * 999 + b"\n", "text/plain")
    wk = stub_worker(servers, answer)
    wk.number = 0
    master = cluster(servers, wk)
    proc = run("sc-logs", "--no-prefix", *follow, APP, env=master.env, timeout=20)
    assert proc.returncode == 0, proc.stderr
    pieces = 2 if not follow else 4     # following: once more after the master's answer
    assert proc.stdout == ("x" * 999 + "\n") * pieces
    assert len(wk.log_requests) == pieces


def test_follow_of_a_driver_the_master_forgets_reads_its_log_once_more(servers, isolated):
    # a driver no longer listed has ended: its log is read once more, its
    # last line (without a newline) printed, and sc-logs exits 0
    driver = "driver-20260101000000-0000"
    log = b"line one\nline two without end"

    def answer(h, q, n):
        start = int(q.get("offset", 0))
        end = len(log) if start == 0 else start
        head = f"==== Bytes {start}-{end} of {len(log)} of /work/{driver}/stderr ====\n"
        h.send(200, head.encode() + log[start:end], "text/plain")
    wk = stub_worker(servers, answer)
    calls = []

    def master(h):
        calls.append(h.path)
        doc = master_doc(workers=[dict(worker(wk.url, "worker-0"), port=1000)])
        if len(calls) == 1:
            doc["activedrivers"] = [{"id": driver, "state": "RUNNING", "worker": "worker-0"}]
        h.send(200, json.dumps(doc).encode())
    proc = run("sc-logs", "-f", "--no-prefix", "--driver", driver, env=servers(master).env,
               timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "line one\nline two without end\n"
    assert len(wk.log_requests) == 2


def test_log_lines_reach_a_terminal_without_their_control_characters(servers, isolated):
    # anyone can register a worker, and its log is what it says: on a
    # terminal its escapes are shown as '?', tabs kept; on a pipe, as they are
    from test_masters_offline import on_a_terminal
    # (and a CSI byte on its own, outside any UTF-8 sequence: a terminal not
    # in UTF-8 takes it as one)
    log = "x\x1b]52;c;b3duZWQ=\x07\x1b[2J\u009b2J\tend\x00\r é".encode() + b"\x9b2J\xff\n"
    master, _ = one_worker(servers, log)
    env = {**master.env, "SC_EVENTS_DIR": "/nonexistent"}
    shown = on_a_terminal(["sc-logs", "--no-prefix", APP], env)
    assert shown == "x?]52;c;b3duZWQ=??[2J?2J\tend?? é?2J\ufffd\n", repr(shown)
    proc = subprocess.run([tool("sc-logs"), "--no-prefix", APP], capture_output=True,
                          env={**os.environ, **env}, timeout=60)
    assert proc.stdout == log, repr(proc.stdout)
    assert not [m for m in SANITIZER_MARKERS if m in proc.stderr.decode()], proc.stderr


def worker_stating(servers, state):
    """A master listing APP and one worker whose /json/ is the bytes state."""
    wk = servers(lambda h: h.send(200, state))
    docs = [dict(worker(wk.url, "worker-0"), port=1000)]
    return servers(lambda h: h.send(200, json.dumps(master_doc(
        workers=docs, completed=[app()])).encode()))


def test_a_worker_state_larger_than_a_document_is_refused(servers, isolated):
    # a worker's /json/ is parsed whole, and its tree takes some twenty
    # times its text: more than 8 MiB of it is not read
    doc = dict(worker_json(), id="worker-0",
               finishedexecutors=[{"id": i, "appid": "app-x", "appdesc": {"name": "j"}}
                                  for i in range(150000)])
    master = worker_stating(servers, json.dumps(doc).encode())
    proc = run("sc-logs", APP, env=master.env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "reply larger than 8 MiB" in proc.stderr


class KeepAliveHandler(RecordingHandler):
    """A stub that keeps its connections open between requests, as Jetty does."""
    protocol_version = "HTTP/1.1"


def test_follow_keeps_its_connections_to_the_workers(isolated):
    # -f asks every worker for its state and its logs each second: over the
    # same connections, not a new one per request
    clients = {"/json": set(), "/log": set()}
    master_asked = []

    def worker_behaviour(h):
        kind = "/json" if h.path.startswith("/json") else "/log"
        clients[kind].add(h.client_address[1])
        if kind == "/json":
            h.send(200, json.dumps(dict(worker_json(), id="worker-0")).encode())
            return
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(h.path).query))
        start = int(q.get("offset", 0))
        head = f"==== Bytes {min(start, 5)}-5 of 5 of /work/{APP}/0/stderr ====\n"
        h.send(200, head.encode() + b"line\n"[min(start, 5):], "text/plain")

    started = []

    def start(behaviour):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveHandler)
        server.daemon_threads = True
        server.requests, server.headers, server.behaviour = [], [], behaviour
        threading.Thread(target=server.serve_forever, daemon=True).start()
        server.url = f"http://127.0.0.1:{server.server_address[1]}"
        started.append(server)
        return server

    def master_behaviour(h):
        master_asked.append(h.path)
        running = len(master_asked) < 6
        a = dict(app(), state="RUNNING" if running else "FINISHED")
        doc = master_doc(workers=[dict(worker(wk.url, "worker-0"), port=1000)],
                         active=[a] if running else [], completed=[] if running else [a])
        h.send(200, json.dumps(doc).encode())

    try:
        wk = start(worker_behaviour)
        master = start(master_behaviour)
        proc = run("sc-logs", "-f", APP, timeout=60,
                   env={"SC_MASTER": "spark://127.0.0.1:1", "SC_MASTER_UI": master.url,
                        "SC_TIMEOUT": "5"})
    finally:
        for server in started:
            server.shutdown()
            server.server_close()
    assert proc.returncode == 0, proc.stderr
    assert text(proc) == ["line"]
    json_asked = sum(1 for r in wk.requests if r[1].startswith("/json"))
    log_asked = sum(1 for r in wk.requests if r[1].startswith("/log"))
    assert json_asked >= 4 and log_asked >= 4, wk.requests
    assert len(clients["/json"]) == 1 and len(clients["/log"]) == 1, clients


def test_a_tail_reply_of_more_than_its_window_is_refused_and_not_held(servers, isolated):
    # a worker answers a 64 KiB window with its header and 8 MiB: the reply
    # is cut off at what the window's text can be, and the run fails
    master, requests = lying_worker(servers, lambda n, q: (
        f"==== Bytes 0-{WINDOW} of {WINDOW} of /work/{APP}/0/stderr ====\n").encode()
        + b"x\n" * (4 << 20))
    proc = run("sc-logs", "--tail", "1", APP, env=master.env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert f"byteLength={WINDOW}: reply larger than {3 * WINDOW + 8 + 8192} bytes" \
        in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_a_tail_reply_of_more_bytes_than_its_range_is_refused(servers, isolated):
    # within the window's size, but three times the bytes its header names, and more
    master, _ = lying_worker(servers, lambda n, q: (
        f"==== Bytes 0-100 of 100 of /work/{APP}/0/stderr ====\n").encode() + b"y\n" * 500)
    proc = run("sc-logs", "--tail", "1", APP, env=master.env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "holds other than the bytes 0-100 it announces" in proc.stderr
    assert proc.stdout == ""


def test_a_reply_of_no_bytes_holds_no_more_than_an_error_text(servers, isolated):
    # the end of a log, with megabytes after its header: not kept whole
    master, _ = lying_worker(servers, lambda n, q: (
        f"==== Bytes 0-0 of 0 of /work/{APP}/0/stderr ====\n").encode() + b"z" * (8 << 20))
    proc = run("sc-logs", APP, env=master.env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "the worker's reply for no bytes holds more than 64 KiB" in proc.stderr


def test_a_worker_state_of_too_many_values_is_refused_before_it_is_parsed(servers, isolated):
    # 3 bytes of text a value, some 230 bytes of tree: under the 8 MiB of a
    # document, 300,000 empty objects took 637 MiB to parse
    master = worker_stating(
        servers, b'{"id": "worker-0", "executors": [' + b"{}," * 300000 + b'{}]}')
    proc = run("sc-logs", APP, env=master.env, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "more than 250000 values or 50000 objects and arrays" in proc.stderr, proc.stderr


def test_a_driver_id_that_is_not_sparks_is_a_usage_error_before_the_master(servers, isolated):
    master = servers(lambda h: h.send(200, json.dumps(master_doc()).encode()))
    proc = run("sc-logs", "--driver", "../../etc", env=master.env, timeout=30)
    assert proc.returncode == 64, proc.stderr
    assert "'../../etc': not a Spark driver id" in proc.stderr
    assert master.requests == []
