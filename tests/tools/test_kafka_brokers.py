"""kcat-lite against the three Kafka brokers of the local cluster's big shape
(SC_LOCAL_KAFKA_BROKERS=3): brokers killed and restarted mid-produce, a
quorum that lost two of its three nodes, a consumer group losing a member.

The brokers are stopped and started with `local-cluster stop --kill NAME`
and `local-cluster start NAME`, which need SC_STATE_DIR (the shape and the
port offset are remembered there).
"""
import json
import os
import re
import signal
import subprocess
import threading
import uuid
from collections import Counter, defaultdict

import pytest

from conftest import ROOT, SANITIZER_MARKERS, kafka_topic_create, tool, wait_for

pytestmark = [pytest.mark.big, pytest.mark.kafka]

SCRIPT = str(ROOT / "scripts" / "local-cluster")


@pytest.fixture(scope="module")
def brokers():
    b = os.environ.get("SC_BROKERS", "")
    if len(b.split(",")) != 3:
        pytest.fail(f"SC_BROKERS={b!r}: these tests need the three brokers of "
                    "SC_LOCAL_KAFKA_BROKERS=3 (scripts/run-tests' big stage)")
    if not os.environ.get("SC_STATE_DIR"):
        pytest.fail("SC_STATE_DIR of the local cluster is needed to stop and start brokers")
    return b


def cluster(*args, timeout=600):
    proc = subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"local-cluster {' '.join(args)}: exit {proc.returncode}\n" \
        f"{proc.stderr}"
    return proc


def broker_name(node_id):
    return "kafka-broker" if node_id == 1 else f"kafka-broker{node_id}"


def check_stderr(text):
    for marker in SANITIZER_MARKERS:
        assert marker not in text, text
    return text


def metadata(brokers, topic):
    proc = subprocess.run(["kcat", "-b", brokers, "-L", "-J", "-t", topic, "-m", "10"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def partitions(brokers, topic):
    meta = metadata(brokers, topic)
    if not meta or not meta["topics"] or meta["topics"][0].get("error"):
        return None
    return meta["topics"][0]["partitions"]


def fully_replicated(brokers, topic, n_partitions):
    parts = partitions(brokers, topic)
    return parts is not None and len(parts) == n_partitions and all(
        sorted(r["id"] for r in p["isrs"]) == [1, 2, 3] for p in parts)


def create_topic(brokers, n_partitions):
    """A topic with 3 replicas and min.insync.replicas=2, by Kafka's own tool."""
    topic = "t-" + uuid.uuid4().hex[:12]
    kafka_topic_create(brokers, topic, n_partitions, "--replication-factor", "3",
                       "--config", "min.insync.replicas=2")
    wait_for(lambda: fully_replicated(brokers, topic, n_partitions), timeout=60,
             what=f"{topic}'s replicas to be in sync")
    return topic


def leader_of(brokers, topic, partition=0):
    return next(p["leader"] for p in partitions(brokers, topic) if p["partition"] == partition)


def end_offset(brokers, topic):
    """Partition 0's end offset; -1 when no broker gives it."""
    proc = subprocess.run(["kcat", "-b", brokers, "-Q", "-t", f"{topic}:0:-1"],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"\[0\] offset (\d+)", proc.stdout)
    return int(m[1]) if proc.returncode == 0 and m else -1


def numbers(lo, hi):
    return b"".join(b"%d\n" % i for i in range(lo, hi))


def topic_numbers(brokers, topic):
    proc = subprocess.run([tool("kcat-lite"), "-b", brokers, "-C", "-t", topic, "-e"],
                          capture_output=True, timeout=300)
    check_stderr(proc.stderr.decode(errors="replace"))
    assert proc.returncode == 0, proc.stderr
    return [int(x) for x in proc.stdout.split()]


class Producer:
    """kcat-lite -P fed through a pipe by a thread (it stops reading while its
    queue is full); stderr goes to a file, which cannot fill."""

    def __init__(self, brokers, topic, err_path, *extra):
        self.err_path = err_path
        self._err = open(err_path, "wb")
        self.proc = subprocess.Popen([tool("kcat-lite"), "-b", brokers, "-P", "-t", topic,
                                      *extra], stdin=subprocess.PIPE, stderr=self._err)
        self.writer = None

    def feed(self, data, close=False):
        if self.writer:
            self.writer.join()

        def write():
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
                if close:
                    self.proc.stdin.close()
            except BrokenPipeError:
                pass    # kcat-lite is gone: its status tells why
        self.writer = threading.Thread(target=write, daemon=True)
        self.writer.start()

    def wait(self, timeout):
        rc = self.proc.wait(timeout=timeout)
        if self.writer:
            self.writer.join(timeout=10)
        self._err.close()
        return rc, check_stderr(self.err_path.read_text(errors="replace"))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def delivery_count(err):
    m = re.search(r"(\d+) of (\d+) messages delivered, (\d+) not delivered"
                  r"(?: \((\d+) of them possibly written by the broker\))?", err)
    assert m, err
    return int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0)


@pytest.fixture
def all_brokers_back(brokers):
    """Whatever a test did to the brokers, all three run after it."""
    yield
    for node in (1, 2, 3):
        cluster("start", broker_name(node))


def test_a_million_messages_while_the_leader_is_killed_and_restarted(
        brokers, tmp_path, all_brokers_back):
    """min.insync.replicas=2 of 3: with the leader SIGKILLed the other two take
    over, with it back the run goes on; idempotence: no loss, no duplicate, and
    the order kept."""
    n = 1_000_000
    topic = create_topic(brokers, 1)
    leader = leader_of(brokers, topic)
    p = Producer(brokers, topic, tmp_path / "stderr")
    try:
        p.feed(numbers(0, 300_000))
        wait_for(lambda: end_offset(brokers, topic) > 0, timeout=120,
                 what="the first messages to be delivered")
        cluster("stop", "--kill", broker_name(leader))
        p.feed(numbers(300_000, 600_000))
        cluster("start", broker_name(leader))
        p.feed(numbers(600_000, n), close=True)
        rc, err = p.wait(timeout=600)
    finally:
        p.kill()
    assert rc == 0, err
    assert "not delivered" not in err, err
    got = topic_numbers(brokers, topic)
    assert len(got) == n and len(set(got)) == n, \
        f"{len(got)} messages, {len(set(got))} distinct, {n} produced"
    assert got == list(range(n)), "the order was not kept"
    assert leader_of(brokers, topic) != -1
    wait_for(lambda: fully_replicated(brokers, topic, 1), timeout=120,
             what="the restarted broker to be back in sync")


def test_two_brokers_down_the_undelivered_count_is_exact(brokers, tmp_path, all_brokers_back):
    """Two of three down: no in-sync quorum (min.insync.replicas=2) and no
    controller majority, so nothing fed after the kill can be acknowledged.
    kcat-lite exits 1 once message.timeout.ms passes, counts the first
    messages delivered and the rest not, and what the topic holds once the
    brokers are back is the delivered messages once each, in order, followed
    by no more distinct messages than it named as possibly written.

    Those may be there twice: the leader appends what it is sent while it
    waits for its followers, and once a message times out librdkafka starts
    a new producer epoch and sends again, under it, what it was retrying
    (kcat-lite(1), under the producer's accounting)."""
    first, total = 10_000, 20_000
    topic = create_topic(brokers, 1)
    p = Producer(brokers, topic, tmp_path / "stderr", "-X", "message.timeout.ms=10000")
    try:
        p.feed(numbers(0, first))
        wait_for(lambda: end_offset(brokers, topic) == first, timeout=120,
                 what="the first messages to be delivered")
        cluster("stop", "--kill", "kafka-broker2")
        cluster("stop", "--kill", "kafka-broker3")
        p.feed(numbers(first, total), close=True)
        rc, err = p.wait(timeout=300)
    finally:
        p.kill()
    # Back side by side: neither can be ready without the other (quorum).
    starts = [subprocess.Popen([SCRIPT, "start", name], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
              for name in ("kafka-broker2", "kafka-broker3")]
    for s in starts:
        _, start_err = s.communicate(timeout=600)
        assert s.returncode == 0, start_err
    wait_for(lambda: fully_replicated(brokers, topic, 1), timeout=120,
             what="the brokers to be back in sync")
    assert rc == 1, err
    delivered, counted, failed, uncertain = delivery_count(err)
    assert (delivered, counted, failed) == (first, total, total - first), err
    got = topic_numbers(brokers, topic)
    assert got[:first] == list(range(first)), \
        f"the delivered messages are not the topic's first {first}, once each: {err}"
    rest = Counter(got[first:])
    strays = sorted(n for n in rest if not first <= n < total)
    assert not strays, f"numbers kcat-lite was not given or had delivered: {strays[:5]}"
    assert len(rest) <= uncertain, (
        f"{len(rest)} undelivered messages are in the topic, kcat-lite named "
        f"{uncertain} as possibly written: {err}")


class Member:
    """One kcat-lite -G process; prints partition, offset and payload, and
    (-v) each rebalance on stderr."""

    def __init__(self, brokers, group, topic, base):
        self.out_path, self.err_path = base.with_suffix(".out"), base.with_suffix(".err")
        self._out, self._err = open(self.out_path, "wb"), open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [tool("kcat-lite"), "-b", brokers, "-G", group, "-v", "-u", "-f", "%p %o %s\n",
             "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=1000",
             # A member killed before its first commit leaves its partitions
             # with no committed offset: the others then start at the first.
             "-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=1000",
             topic],
            stdout=self._out, stderr=self._err)

    def assigned(self):
        """Partitions assigned after the last rebalance, or None before any."""
        found = re.findall(r"group rebalanced: (\d+) partitions assigned",
                           self.err_path.read_text(errors="replace"))
        return int(found[-1]) if found else None

    def records(self):
        """(partition, offset, number) of every whole line printed so far."""
        data = self.out_path.read_bytes()
        data = data[:data.rfind(b"\n") + 1]
        return [tuple(map(int, line.split())) for line in data.splitlines()]

    def stop(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._out.close()
            self._err.close()
        return rc


def test_group_member_killed_its_partitions_go_to_the_others(brokers, tmp_path):
    """Three members split six partitions; one is SIGKILLed and the two others
    take its partitions over. Nothing produced goes unprinted; the others
    print nothing twice; what is printed twice is only a tail the killed
    member printed after its last commit, which the group reads again."""
    topic = create_topic(brokers, 6)
    group = "g-" + uuid.uuid4().hex[:12]
    # The member is killed while it prints the middle phase, about a second at
    # most after its last commit (auto.commit.interval.ms is 1 s): the group
    # usually reads part of what it printed again.
    phase1, middle, phase2 = (0, 30_000), (30_000, 40_000), (40_000, 60_000)
    members = [Member(brokers, group, topic, tmp_path / f"m{i}") for i in range(3)]
    killed, survivors = members[0], members[1:]

    def produce(lo, hi):
        data = b"".join(b"k%d:%d\n" % (i, i) for i in range(lo, hi))
        return subprocess.Popen([tool("kcat-lite"), "-b", brokers, "-P", "-t", topic, "-K", ":"],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE), data

    def produced(proc_data):
        proc, data = proc_data
        _, err = proc.communicate(data, timeout=300)
        assert proc.returncode == 0, check_stderr(err.decode(errors="replace"))

    def printed(who):
        return {r[2] for m in who for r in m.records()}

    try:
        wait_for(lambda: [m.assigned() for m in members] == [2, 2, 2], timeout=120,
                 what="the three members to get two partitions each")
        produced(produce(*phase1))
        wait_for(lambda: printed(members) >= set(range(*phase1)), timeout=120,
                 what="the first messages to be printed")
        split = [{r[0] for r in m.records()} for m in members]
        assert all(len(s) == 2 for s in split) and set.union(*split) == set(range(6)), split
        producer = produce(*middle)
        producer[0].stdin.write(producer[1])
        producer[0].stdin.flush()
        wait_for(lambda: max(printed([killed])) >= middle[0], timeout=120, interval=0.05,
                 what="the killed member to print the middle phase")
        assert killed.stop(signal.SIGKILL) == -signal.SIGKILL
        producer[0].stdin.close()
        assert producer[0].wait(timeout=300) == 0, producer[0].stderr.read()
        produced(produce(*phase2))
        wait_for(lambda: [m.assigned() for m in survivors] == [3, 3], timeout=120,
                 what="the two others to take the killed member's partitions")
        wait_for(lambda: printed(survivors) | printed([killed]) >= set(range(*phase2)),
                 timeout=120, what="every message to be printed")
        rcs = [m.stop(signal.SIGTERM) for m in survivors]
    finally:
        for m in members:
            m.stop(signal.SIGKILL)
    errs = [check_stderr(m.err_path.read_text(errors="replace")) for m in members]
    assert rcs == [0, 0], errs
    assert {r[0] for m in survivors for r in m.records()} == set(range(6))

    everything = set(range(phase1[0], phase2[1]))
    by_killed = killed.records()
    by_survivors = [r for m in survivors for r in m.records()]
    assert printed(members) == everything, "messages lost"
    dup = [r for r, c in Counter(by_survivors).items() if c > 1]
    assert not dup, f"printed twice by the members that stayed: {dup[:5]}"
    # Per partition of the killed member: the survivors start where its last
    # commit was, at or before the end of what it printed; they repeat only
    # what it printed from there on, and miss nothing.
    killed_offsets, survivor_offsets = defaultdict(set), defaultdict(set)
    for p, o, _ in by_killed:
        killed_offsets[p].add(o)
    for p, o, _ in by_survivors:
        survivor_offsets[p].add(o)
    for p in split[0]:
        k, s = killed_offsets[p], survivor_offsets[p]
        start = min(s)
        assert start <= max(k) + 1, f"partition {p}: offsets {max(k) + 1}..{start - 1} lost"
        assert s == set(range(start, max(s) + 1)), f"partition {p}: gaps after the takeover"
        assert k & s == {o for o in k if o >= start}, f"partition {p}: repeated before the commit"
        assert k == set(range(min(k), max(k) + 1))
