"""kcat-lite against the real Kafka broker of the local cluster (SC_BROKERS).

Tests that stop and restart the broker also need SC_STATE_DIR and
SC_LOCAL_PORT_OFFSET, the ones the cluster was started with.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import (ROOT, SANITIZER_MARKERS, assert_usage, kafka_topic_create,
                      read_a_line_then_leave, tool, wait_for)

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def brokers():
    b = os.environ.get("SC_BROKERS")
    if not b:
        pytest.fail("SC_BROKERS is not set: start the local cluster and use its env")
    return b


def kc(*args, input=b"", timeout=120, check=None):
    """Run kcat-lite with bytes in and out; fail on any sanitizer report."""
    argv = [a if isinstance(a, bytes) else str(a) for a in args]
    proc = subprocess.run([tool("kcat-lite"), *argv], input=input,
                          capture_output=True, timeout=timeout)
    err = proc.stderr.decode(errors="replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in err, f"kcat-lite {args}: sanitizer report:\n{err}"
    if check is not None:
        assert proc.returncode == check, f"kcat-lite {args}: exit {proc.returncode}\n{err}"
    return proc


def topic_name():
    return "t-" + uuid.uuid4().hex[:12]


def consume_json(brokers, topic, *extra):
    out = kc("-b", brokers, "-C", "-t", topic, "-e", "-J", *extra, check=0).stdout
    return [json.loads(line) for line in out.decode().splitlines()]


def kcat():
    """Debian's kcat, the reference peer, which reads what kcat-lite wrote."""
    path = shutil.which("kcat")
    if not path:
        pytest.fail("kcat (the reference peer) is not installed: run scripts/install-deps")
    return path


def end_offset(brokers, topic):
    """Partition 0's end offset as the broker gives it to kcat; -1 if it cannot."""
    proc = subprocess.run([kcat(), "-b", brokers, "-Q", "-t", f"{topic}:0:-1"],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"\[0\] offset (\d+)", proc.stdout)
    return int(m[1]) if proc.returncode == 0 and m else -1


def kcat_records(brokers, topic):
    """(partition, timestamp, key, payload, headers) of every message, read by kcat.

    Lengths lead each record, so that any byte may be in a key or payload;
    None stands for a null key or payload.
    """
    out = subprocess.run([kcat(), "-b", brokers, "-C", "-t", topic, "-e", "-q",
                          "-f", "%p %T %K %S\n%k%s\n%h\n"],
                         capture_output=True, check=True, timeout=60).stdout
    records, pos = [], 0
    while pos < len(out):
        end = out.index(b"\n", pos)
        partition, ts, klen, plen = map(int, out[pos:end].split())
        pos = end + 1
        key = out[pos:pos + klen] if klen >= 0 else None
        pos += max(klen, 0)
        payload = out[pos:pos + plen] if plen >= 0 else None
        pos += max(plen, 0)
        assert out[pos:pos + 1] == b"\n", out[pos - 40:pos + 40]
        end = out.index(b"\n", pos + 1)
        records.append((partition, ts, key, payload, out[pos + 1:end]))
        pos = end + 1
    return records


def test_help_and_version():
    proc = kc("--help", check=0)
    assert proc.stdout.startswith(b"Usage: kcat-lite ")
    assert b"--show-config" in proc.stdout and b"Exit status" in proc.stdout
    assert kc("-h", check=0).stdout == proc.stdout
    assert kc("--version", check=0).stdout.startswith(b"kcat-lite (clusterops) ")


@pytest.mark.parametrize("args, why", [
    # no mode, standard input not a terminal: kcat's rule picks -P
    ([], "-P needs a topic (-t)"), (["-P"], "-P needs a topic (-t)"),
    (["-C"], "-C needs a topic (-t)"), (["-C", "-P"], "-P needs a topic (-t)"),
    (["-C", "-t", "x", "-f", "%x"], "unsupported formatter %x"),
    (["-X", "nonsense"], "-X 'nonsense': expected property=value"),
    (["-C", "-t", "x", "-o", "soon"], "invalid -o 'soon'"),
    (["-Q", "-t", "x"], "expected TOPIC:PARTITION:TIMESTAMP"),
    (["-C", "-t", "x", "--no-such-option"], "unrecognized option '--no-such-option'"),
])
def test_usage_errors(args, why, brokers):
    assert_usage(kc("-b", brokers, *args), "kcat-lite", why)


def test_keys_headers_and_nulls_round_trip(brokers):
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, "-K", ":", "-Z", "-H", "h1=v1", "-H", "h2=",
       input=b"k1:v1\n:tomb\nk3:\nnokey\n", check=0)
    msgs = consume_json(brokers, t)
    assert [(m["key"], m["payload"]) for m in msgs] == [
        ("k1", "v1"), (None, "tomb"), ("k3", None), (None, "nokey")]
    assert all(m["headers"] == ["h1", "v1", "h2", ""] for m in msgs)
    assert [m["offset"] for m in msgs] == [0, 1, 2, 3]
    assert all(m["tstype"] == "create" and m["broker"] >= 0 for m in msgs)
    out = kc("-b", brokers, "-C", "-t", t, "-e", "-Z", "-f", "%k|%s|%K|%S|%h\n", check=0).stdout
    assert out.splitlines() == [b"k1|v1|2|2|h1=v1,h2=", b"NULL|tomb|-1|4|h1=v1,h2=",
                                b"k3|NULL|2|-1|h1=v1,h2=", b"NULL|nokey|-1|5|h1=v1,h2="]


def test_binary_payloads_and_multibyte_delimiters(brokers):
    t = topic_name()
    records = [bytes(range(256)), b"\xff\xfe not utf-8", "snow \u2603".encode(), b"\n\r\t"]
    delim, kdelim = b"<|>", b"=>"
    data = delim.join(b"key%d" % i + kdelim + r for i, r in enumerate(records)) + delim
    kc("-b", brokers, "-P", "-t", t, "-D", "<|>", "-K", "=>", input=data, check=0)
    out = kc("-b", brokers, "-C", "-t", t, "-e", "-D", "<|>", "-K", "=>", check=0).stdout
    assert out == data
    msgs = consume_json(brokers, t)
    assert len(msgs) == len(records)
    for m, r in zip(msgs, records):
        got = base64.b64decode(m["payload_b64"]) if "payload_b64" in m else m["payload"].encode()
        assert got == r
    assert "payload_b64" in msgs[0] and "payload_b64" not in msgs[2]
    # -J output stays valid JSON: U+FFFD stands in for the invalid bytes.
    assert msgs[1]["payload"].startswith("\ufffd\ufffd not")


def test_json_copy_preserves_everything(brokers):
    src, dst = topic_name(), topic_name()
    kc("-b", brokers, "-P", "-t", src, "-K", ":", "-Z", "-H", b"bin=\xc3", "-H", "a=b",
       input=b"k:v\n:\nk2:\x00\xff\x01\n", check=0)
    dump = kc("-b", brokers, "-C", "-t", src, "-e", "-J", check=0).stdout
    kc("-b", brokers, "-P", "-t", dst, "-J", input=dump, check=0)
    # kcat reads both back: what -J dropped on both sides would compare equal
    # if kcat-lite read them too
    original, copy = kcat_records(brokers, src), kcat_records(brokers, dst)
    headers = b"bin=\xc3,a=b"
    assert [r[2:] for r in original] == [(b"k", b"v", headers), (None, None, headers),
                                         (b"k2", b"\x00\xff\x01", headers)]
    assert copy == original
    # the creation times are the source's, not the copy's
    assert all(r[0] == 0 and r[1] > 0 for r in copy)


def test_null_header_and_binary_header_copy(brokers):
    src = topic_name()
    env = ('{"key":"k","payload":"p","headers":["n",null,"b",{"b64":"/wA="}],'
           '"ts":1700000000000}\n')
    kc("-b", brokers, "-P", "-t", src, "-J", input=env.encode(), check=0)
    [m] = consume_json(brokers, src)
    assert m["headers"] == ["n", None, "b", {"b64": "/wA="}]
    assert m["ts"] == 1700000000000


def test_output_equals_kcat(brokers):
    if not shutil.which("kcat"):
        pytest.fail("kcat (the reference peer) is not installed")
    t = topic_name()
    data = "k1:v1\nk2:\nk3:tab\tquote\"back\\slash/ctl\x01\x1f\x7f snow \u2603\n:nokey\n"
    subprocess.run(["kcat", "-b", brokers, "-P", "-t", t, "-K", ":", "-H", "h=1", "-H", "g=x,y"],
                   input=data.encode(), check=True)
    subprocess.run(["kcat", "-b", brokers, "-P", "-t", t], input=b"plain\n", check=True)
    for args in (["-J"], ["-f", "%t %p %o %T %k %K %s %S %h %R %%\\n\\x41\\t"],
                 ["-Z", "-K", "\\t", "-D", "\\r\\n--"], ["-J", "-D", "||"]):
        ours = kc("-b", brokers, "-C", "-t", t, "-e", *args, check=0).stdout
        theirs = subprocess.run(["kcat", "-b", brokers, "-C", "-t", t, "-e", "-q", *args],
                                capture_output=True, check=True).stdout
        assert ours == theirs, args
    for args in (["-L", "-t", t], ["-Q", "-t", f"{t}:0:0"]):
        ours = kc("-b", brokers, *args, check=0).stdout
        theirs = subprocess.run(["kcat", "-b", brokers, *args], capture_output=True,
                                check=True).stdout
        assert ours == theirs, args


def test_offsets(brokers):
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, input=b"".join(b"%d\n" % i for i in range(10)), check=0)
    out = lambda *a: kc("-b", brokers, "-C", "-t", t, "-e", *a, check=0).stdout.split()
    assert out("-o", "-3") == [b"7", b"8", b"9"]
    assert out("-o", "-100") == [str(i).encode() for i in range(10)]
    assert out("-o", "8") == [b"8", b"9"]
    assert out("-o", "beginning", "-c", "2") == [b"0", b"1"]
    assert out("-o", "end") == []
    every = consume_json(brokers, t, "-o", "beginning")
    m = every[5]
    # the first message whose timestamp is at least message 5's: messages
    # produced in one batch may share a millisecond
    first = min(e["offset"] for e in every if e["ts"] >= m["ts"])
    assert out("-o", f"s@{m['ts']}")[0] == str(first).encode()
    q = json.loads(kc("-b", brokers, "-Q", "-J", "-t", f"{t}:0:{m['ts'] + 10**9}",
                      check=0).stdout)
    assert q[t]["0"]["offset"] == -1


def test_end_timestamp_stops_each_partition(brokers):
    # -o e@MS: each partition stops at its first message at or after MS
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, input=b"a\nb\nc\n", check=0)
    time.sleep(0.05)
    stop_ms = int(time.time() * 1000)
    time.sleep(0.05)
    kc("-b", brokers, "-P", "-t", t, input=b"d\ne\n", check=0)
    out = kc("-b", brokers, "-C", "-t", t, "-o", "beginning", "-o", f"e@{stop_ms}",
             timeout=60, check=0).stdout
    assert out == b"a\nb\nc\n"


def test_group_exit_at_end_and_resume(brokers):
    t, g = topic_name(), "g-" + uuid.uuid4().hex[:8]
    kc("-b", brokers, "-P", "-t", t, input=b"a\nb\nc\n", check=0)
    grp = ["-b", brokers, "-G", g, "-e", "-X", "auto.offset.reset=earliest", "-X",
           "session.timeout.ms=6000"]
    assert kc(*grp, t, check=0).stdout == b"a\nb\nc\n"
    kc("-b", brokers, "-P", "-t", t, input=b"d\n", check=0)
    assert kc(*grp, t, check=0).stdout == b"d\n"


def test_exit_at_end_stops_each_partition_at_its_first_end(brokers):
    # kcat's -C -e: a partition is done at its first end, and what is
    # written to it later is not read, so that a topic written all the time
    # still ends. Partition 0 is empty, partition 1 holds 500,000 messages;
    # once partition 0's end is reported, the consumer's output is left
    # unread (it blocks), messages are written to partition 0, then the
    # output is read to the end.
    t, n = topic_name(), 500_000
    kafka_topic_create(brokers, t, 2, "--replication-factor", "1")
    kc("-b", brokers, "-P", "-t", t, "-p", "1",
       input=b"".join(b"%06d\n" % i for i in range(n)), timeout=240, check=0)
    proc = subprocess.Popen([tool("kcat-lite"), "-b", brokers, "-C", "-e", "-v", "-t", t,
                             "-f", "%p %s\n"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err, ended = [], threading.Event()

    def read_stderr():
        for line in proc.stderr:
            err.append(line.decode(errors="replace"))
            if f"reached the end of {t} [0]" in err[-1]:
                ended.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    out = b""
    while not ended.is_set() and proc.poll() is None:
        out += os.read(proc.stdout.fileno(), 4096)
    assert ended.is_set() and proc.poll() is None, "".join(err)
    kc("-b", brokers, "-P", "-t", t, "-p", "0", input=b"late-1\nlate-2\n", check=0)
    time.sleep(2)     # fetched meanwhile, while the consumer is blocked
    out += proc.stdout.read()
    assert proc.wait(timeout=120) == 0, "".join(err)
    reader.join(timeout=10)
    lines = out.splitlines()
    assert not [line for line in lines if b"late" in line], lines[-5:]
    assert lines == [b"1 %06d" % i for i in range(n)]
    for marker in SANITIZER_MARKERS:
        assert marker not in "".join(err), "".join(err)


def test_one_million_messages_none_lost(brokers):
    t = topic_name()
    n = 1_000_000
    data = b"".join(b"%010d" % i + b"x" * 89 + b"\n" for i in range(n))
    start = time.monotonic()
    proc = kc("-b", brokers, "-P", "-t", t, input=data, timeout=240, check=0)
    assert proc.stderr == b""
    out = kc("-b", brokers, "-C", "-t", t, "-e", "-f", "%s\\n", timeout=240, check=0).stdout
    seqs = [int(line[:10]) for line in out.splitlines()]
    assert len(seqs) == n and sorted(seqs) == list(range(n))
    assert time.monotonic() - start < 200


def test_broker_unreachable_exits_69_naming_brokers():
    start = time.monotonic()
    for mode in (["-P", "-t", "x"], ["-C", "-t", "x"], ["-G", "g", "x"], ["-L"]):
        proc = kc("-b", "127.0.0.1:1", "-m", "2", *mode, input=b"a\n")
        assert proc.returncode == 69, mode
        assert b"127.0.0.1:1" in proc.stderr
    assert time.monotonic() - start < 20


def test_unknown_topic(brokers):
    proc = kc("-b", brokers, "-C", "-t", "no-such-" + uuid.uuid4().hex, "-e")
    assert proc.returncode == 1
    assert b"Unknown topic" in proc.stderr


def test_oversized_message_names_its_record(brokers):
    t = topic_name()
    big = b"y" * 2_000_000
    proc = kc("-b", brokers, "-P", "-t", t, input=b"ok\n" + big + b"\nok\n")
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "2 of 3 messages delivered, 1 not delivered" in err
    assert "record 2:" in err and "message.max.bytes" in err
    assert [m["payload"] for m in consume_json(brokers, t)] == ["ok", "ok"]


def test_a_record_longer_than_any_message_is_not_held_in_memory(brokers, tmp_path):
    # 300 MB without a newline, then one that fits: the long one is counted
    # as not delivered as soon as it passes message.max.bytes, and its bytes
    # are dropped as they come, not gathered
    plain = os.environ.get("SC_TEST_PLAIN_BIN")
    if not plain:
        pytest.skip("SC_TEST_PLAIN_BIN is not set: the sanitized build's memory says nothing")
    t = topic_name()
    data = tmp_path / "input"
    with open(data, "wb") as f:
        for _ in range(300):
            f.write(b"y" * 1_000_000)
        f.write(b"\nok\n")
    measure = ("import resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[2:], stdin=open(sys.argv[1], 'rb'),"
               " capture_output=True, text=True)\n"
               "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.stderr.write(p.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", measure, data, os.path.join(plain, "kcat-lite"),
                           "-b", brokers, "-P", "-t", t],
                          capture_output=True, text=True, timeout=300)
    status, max_rss_kib = map(int, proc.stdout.split())
    assert status == 1, proc.stderr
    assert max_rss_kib < 64 << 10, f"{max_rss_kib} KiB"
    assert "1 of 2 messages delivered, 1 not delivered" in proc.stderr
    assert "record 1: message of more than" in proc.stderr
    assert "message.max.bytes" in proc.stderr
    assert [m["payload"] for m in consume_json(brokers, t)] == ["ok"]


def test_messages_reach_a_terminal_without_their_control_characters(brokers):
    # anyone who may produce writes what a consumer's terminal shows: an
    # OSC 52 sequence would set its clipboard; in a pipe the bytes stay
    from test_masters_offline import on_a_terminal
    t = topic_name()
    hostile = b"\x1b]52;c;aGVsbG8=\x07title\x9b31m\xc2\x9bred\tcol"
    kc("-b", brokers, "-P", "-t", t, input=hostile + b"\nplain\n", check=0)
    shown = on_a_terminal(["kcat-lite", "-b", brokers, "-C", "-t", t, "-e", "-q",
                           "-f", "%k:%s\n"], {})
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown, repr(shown)
    assert shown == ":?]52;c;aGVsbG8=?title?31m?red\tcol\n:plain\n", repr(shown)
    raw = kc("-b", brokers, "-C", "-t", t, "-e", "-q", "-f", "%k:%s\n", check=0).stdout
    assert raw == b":" + hostile + b"\n:plain\n"


def test_malformed_json_line(brokers):
    t = topic_name()
    proc = kc("-b", brokers, "-P", "-t", t, "-J",
              input=b'{"payload":"a"}\n{"payload":\n{"payload":"c"}\n')
    assert proc.returncode == 65
    err = proc.stderr.decode()
    assert "record 2:" in err and "1 of 1 messages delivered" in err
    assert [m["payload"] for m in consume_json(brokers, t)] == ["a"]


def test_sigterm_stops_reading_and_reports(brokers):
    t = topic_name()
    p = subprocess.Popen([tool("kcat-lite"), "-b", brokers, "-P", "-t", t],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"".join(b"%d\n" % i for i in range(1000)))
    p.stdin.flush()
    wait_for(lambda: end_offset(brokers, t) == 1000, timeout=60,
             what="the 1000 messages to reach the broker")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    p.stdin.close()
    assert p.returncode == 0, err
    assert b"1000 of 1000 messages delivered, 0 not delivered; interrupted" in err
    assert len(consume_json(brokers, t)) == 1000


@pytest.mark.parametrize("mode", ["-C", "-G"])
@pytest.mark.parametrize("sigpipe", ["default", "ignored"])
def test_consumer_ends_when_its_reader_goes_away_while_no_message_comes(brokers, mode,
                                                                        sigpipe):
    # `kcat-lite -C -t T | head -1`: once head has gone, the consumer ends,
    # as tail -f does, not at the next message, which may be days away
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, input=b"one\n", check=0)
    how = ["-C", "-t", t] if mode == "-C" else ["-o", "beginning", "-G", "g-" + t, t]
    status, err = read_a_line_then_leave([tool("kcat-lite"), "-u", "-b", brokers, *how],
                                         b"one\n", ignore_sigpipe=sigpipe == "ignored")
    if sigpipe == "default":
        assert status == -signal.SIGPIPE, err
    else:
        assert status == 74 and "kcat-lite: write error: Broken pipe" in err, (status, err)


def cluster_cmd(*args):
    state, offset = os.environ.get("SC_STATE_DIR"), os.environ.get("SC_LOCAL_PORT_OFFSET")
    if not state or offset is None:
        pytest.fail("SC_STATE_DIR and SC_LOCAL_PORT_OFFSET of the local cluster are needed")
    env = dict(os.environ, SC_STATE_DIR=state, SC_LOCAL_PORT_OFFSET=offset)
    subprocess.run([str(ROOT / "scripts" / "local-cluster"), *args], env=env, check=True,
                   capture_output=True, timeout=180)
    return state


def broker_listening(brokers):
    host, port = brokers.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def kill_broker(state, brokers):
    """SIGKILL the local broker; return once its port refuses connections."""
    with open(os.path.join(state, "run", "kafka-broker.pid")) as f:
        os.kill(int(f.read().strip()), signal.SIGKILL)
    wait_for(lambda: not broker_listening(brokers), timeout=30,
             what="the killed broker's port to close")


def producer(brokers, topic, err_path, *extra):
    """kcat-lite -P fed through a pipe; its stderr goes to a file, which cannot fill."""
    with open(err_path, "wb") as err:
        return subprocess.Popen([tool("kcat-lite"), "-b", brokers, "-P", "-t", topic, *extra],
                                stdin=subprocess.PIPE, stderr=err)


def numbers(lo, hi):
    return b"".join(b"%d\n" % i for i in range(lo, hi))


def feed_and_close(stdin, data):
    """Write in the background: kcat-lite stops reading while its queue is full."""
    def write():
        try:
            stdin.write(data)
            stdin.close()
        except BrokenPipeError:
            pass        # kcat-lite is gone: its status tells why
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def produced_numbers(brokers, topic):
    """The numbers in the topic, in order, less the warm-up message."""
    out = kc("-b", brokers, "-C", "-t", topic, "-e", check=0).stdout.split()
    assert out[:1] == [b"warm"], out[:3]
    return [int(x) for x in out[1:]]


def finish(p, brokers):
    """After a broker test: no producer left behind, the broker up again."""
    if p.poll() is None:
        p.kill()
        p.wait()
    if not broker_listening(brokers):
        cluster_cmd("up")


def stderr_of(path):
    err = path.read_text(errors="replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err
    return err


def delivery_count(err):
    m = re.search(r"(\d+) of (\d+) messages delivered, (\d+) not delivered"
                  r"(?: \((\d+) of them possibly written by the broker\))?", err)
    assert m, err
    return int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0)


def test_broker_restarted_mid_produce_delivers_exactly_once(brokers, tmp_path):
    """Killed mid-run and back well within message.timeout.ms (5 minutes by
    default): the run succeeds, every message is in the topic exactly once."""
    t = topic_name()
    n = 200_000
    state = cluster_cmd("status")
    kc("-b", brokers, "-P", "-t", t, input=b"warm\n", check=0)
    err_path = tmp_path / "stderr"
    p = producer(brokers, t, err_path)
    try:
        p.stdin.write(numbers(0, n // 2))
        p.stdin.flush()
        wait_for(lambda: end_offset(brokers, t) > 1, timeout=60,
                 what="the first messages to be delivered")
        kill_broker(state, brokers)
        writer = feed_and_close(p.stdin, numbers(n // 2, n))
        cluster_cmd("up")
        rc = p.wait(timeout=240)
        writer.join(timeout=10)
    finally:
        finish(p, brokers)
    err = stderr_of(err_path)
    assert rc == 0, err
    assert "not delivered" not in err, err
    assert sorted(produced_numbers(brokers, t)) == list(range(n)), "lost or duplicated messages"


def test_broker_back_after_the_message_timeout_counts_honestly(brokers, tmp_path):
    """Messages that time out while the broker is down are counted as not
    delivered, those read once it is back are delivered: the run ends 1 and its
    count is exactly what the topic holds."""
    t = topic_name()
    timeout_ms = 4000
    before, during, after = (0, 5000), (5000, 10000), (10000, 15000)
    state = cluster_cmd("status")
    kc("-b", brokers, "-P", "-t", t, input=b"warm\n", check=0)
    err_path = tmp_path / "stderr"
    p = producer(brokers, t, err_path, "-X", f"message.timeout.ms={timeout_ms}")
    try:
        p.stdin.write(numbers(*before))
        p.stdin.flush()
        wait_for(lambda: end_offset(brokers, t) == 1 + before[1], timeout=60,
                 what="the first messages to be delivered")
        kill_broker(state, brokers)
        p.stdin.write(numbers(*during))
        p.stdin.flush()
        # The condition here is time itself: the broker stays down until the
        # message timeout of everything written during the outage has passed.
        expired = time.monotonic() + timeout_ms / 1000 + 2
        wait_for(lambda: time.monotonic() > expired, timeout=30, interval=0.2,
                 what="the message timeout to pass")
        cluster_cmd("up")
        p.stdin.write(numbers(*after))
        p.stdin.close()
        rc = p.wait(timeout=240)
    finally:
        finish(p, brokers)
    err = stderr_of(err_path)
    assert rc == 1, err
    delivered, total, failed, uncertain = delivery_count(err)
    assert (total, failed, uncertain) == (after[1], during[1] - during[0], 0), err
    assert delivered + failed == total
    got = produced_numbers(brokers, t)
    assert sorted(got) == [*range(*before), *range(*after)], "lost or duplicated messages"
    assert len(got) == delivered


def test_broker_down_not_restarted_counts_undelivered(brokers, tmp_path):
    t = topic_name()
    n = 20_000
    state = cluster_cmd("status")
    kc("-b", brokers, "-P", "-t", t, input=b"warm\n", check=0)
    err_path = tmp_path / "stderr"
    p = producer(brokers, t, err_path, "-X", "message.timeout.ms=8000")
    try:
        p.stdin.write(numbers(0, n // 2))
        p.stdin.flush()
        wait_for(lambda: end_offset(brokers, t) > 1, timeout=60,
                 what="the first messages to be delivered")
        kill_broker(state, brokers)
        p.stdin.write(numbers(n // 2, n))
        p.stdin.close()
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
        cluster_cmd("up")
    err = stderr_of(err_path)
    assert rc == 1, err
    delivered, total, failed, uncertain = delivery_count(err)
    assert total == n and delivered + failed == n and failed > 0
    seqs = produced_numbers(brokers, t)
    assert len(seqs) == len(set(seqs)), "duplicated messages"
    assert delivered <= len(seqs) <= delivered + uncertain


def test_closed_stdin_is_an_input_error_not_a_pipe(brokers):
    # With standard input closed, librdkafka's wake-up pipe took descriptor
    # 0 and the producer read it as its input: bytes meant for librdkafka,
    # or "Resource temporarily unavailable" from a pipe it never opened. A
    # closed input is now what it is, a read error.
    topic = topic_name()
    kafka_topic_create(brokers, topic, 1)
    proc = subprocess.run(["sh", "-c", 'exec "$@" <&-', "sh", tool("kcat-lite"),
                           "-b", brokers, "-P", "-t", topic],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 74, proc.stderr
    assert "standard input: Bad file descriptor" in proc.stderr
    assert end_offset(brokers, topic) == 0


@pytest.mark.parametrize("mode", [["-C", "-e"], ["-G", "g-" + uuid.uuid4().hex[:8], "-e"]])
def test_a_closed_pipe_with_sigpipe_ignored_is_one_write_error(brokers, mode):
    # Under a shell or service that ignores SIGPIPE, a reader that goes
    # away made the consumer say so twice ("standard output: write error",
    # then "write error: Broken pipe"). One line, with the reason, and 74.
    topic = topic_name()
    kc("-b", brokers, "-P", "-t", topic,
       input=b"".join(b"%06d" % i + b"x" * 200 + b"\n" for i in range(20000)), check=0)
    args = [*mode, topic] if mode[0] == "-G" else [*mode, "-t", topic]
    p = subprocess.Popen([tool("kcat-lite"), "-b", brokers, "-o", "beginning", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
    assert p.stdout.read(10) == b"000000xxxx"
    p.stdout.close()
    err = p.stderr.read().decode(errors="replace")
    assert p.wait(timeout=60) == 74, err
    assert err == "kcat-lite: write error: Broken pipe\n", err


def test_settings_that_exclude_idempotence_produce_without_it(brokers, tmp_path):
    # Idempotence is kcat-lite's default, not the user's choice: a file
    # written for kcat or a Java client with acks=1 (or retries=0) was
    # refused, "acks must be set to all when enable.idempotence is true".
    # The producer is now made without it, as the Java client does, and
    # says so; asked for in so many words, the clash is still an error.
    topic = topic_name()
    props = tmp_path / "client.properties"
    props.write_text("acks=1\n")
    proc = kc("-b", brokers, "-P", "-t", topic, "-F", props, input=b"a\nb\n", check=0)
    err = proc.stderr.decode()
    assert "producing without idempotence" in err and "acks" in err, err
    assert [m["payload"] for m in consume_json(brokers, topic)] == ["a", "b"]
    proc = kc("-b", brokers, "-P", "-t", topic, "-q", "-X", "retries=0", input=b"c\n", check=0)
    assert proc.stderr == b""
    assert [m["payload"] for m in consume_json(brokers, topic)] == ["a", "b", "c"]
    proc = kc("-b", brokers, "-P", "-t", topic, "-X", "enable.idempotence=true",
              "-X", "acks=1", input=b"d\n")
    assert_usage(proc, "kcat-lite", "acks")
    assert len(consume_json(brokers, topic)) == 3
