"""kcat-lite where a kcat user switches to it: kcat 1.7's options and bytes,
checked against the real broker of the local cluster (SC_BROKERS) and,
where kcat is right, against kcat itself (Debian's kcat 1.7.1).

The test that stops and restarts the broker also needs SC_STATE_DIR and
SC_LOCAL_PORT_OFFSET, the ones the cluster was started with.
"""
import glob
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, SANITIZER_MARKERS, tool, wait_for

pytestmark = pytest.mark.kafka
HOME = os.environ.get("HOME", "")    # the cluster's caches are under it


@pytest.fixture(scope="module")
def brokers():
    b = os.environ.get("SC_BROKERS")
    if not b:
        pytest.fail("SC_BROKERS is not set: start the local cluster and use its env")
    return b


@pytest.fixture(scope="module")
def kcat():
    if not shutil.which("kcat"):
        pytest.fail("kcat (the reference peer) is not installed")
    return "kcat"


@pytest.fixture(autouse=True)
def no_kcat_config(tmp_path, monkeypatch):
    """No kcat property file of the invoking user reaches a test."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KCAT_CONFIG", raising=False)
    monkeypatch.delenv("KAFKACAT_CONFIG", raising=False)


def check_sanitizers(args, err):
    text = err.decode(errors="replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in text, f"kcat-lite {args}: sanitizer report:\n{text}"


def kc(*args, input=b"", timeout=120, check=None, env=None):
    """Run kcat-lite with bytes in and out; fail on any sanitizer report."""
    proc = subprocess.run([tool("kcat-lite"), *map(str, args)], input=input,
                          capture_output=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))
    check_sanitizers(args, proc.stderr)
    if check is not None:
        assert proc.returncode == check, \
            f"kcat-lite {args}: exit {proc.returncode}\n{proc.stderr.decode()}"
    return proc


def kcat_run(*args, input=b""):
    return subprocess.run(["kcat", *map(str, args)], input=input, capture_output=True,
                          timeout=120, check=True)


def on_terminal(*args, timeout=60):
    """kcat-lite with a terminal on standard input (script(1)), as a user runs it."""
    cmd = " ".join(subprocess.list2cmdline([a]) for a in [tool("kcat-lite"), *map(str, args)])
    proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)
    check_sanitizers(args, proc.stdout + proc.stderr)
    return proc


def topic_name():
    return "c-" + uuid.uuid4().hex[:12]


def consume_json(brokers, topic, *extra):
    out = kc("-b", brokers, "-C", "-t", topic, "-e", "-J", *extra, check=0).stdout
    return [json.loads(line) for line in out.decode().splitlines()]


def test_mode_follows_standard_input_as_in_kcat(brokers):
    t = topic_name()
    proc = kc("-b", brokers, "-t", t, input=b"one\ntwo\n", check=0)
    assert proc.stderr == \
        b"kcat-lite: Auto-selecting Producer mode (use -P or -C to override)\n"
    assert kc("-b", brokers, "-t", t, "-q", input=b"three\n", check=0).stderr == b""
    proc = on_terminal("-b", brokers, "-t", t, "-e")
    assert proc.returncode == 0, proc.stdout
    out = proc.stdout.replace(b"\r\n", b"\n")
    assert b"Auto-selecting Consumer mode (use -P or -C to override)" in out
    assert out.endswith(b"one\ntwo\nthree\n")
    # a file argument goes with the producer it selects
    proc = kc("-b", brokers, "-t", t, "-q", "/dev/null", check=0)
    assert proc.returncode == 0


def test_E_O_and_p_minus_one_accepted(brokers):
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, "-p", "-1", "-E", input=b"a\nb\n", check=0)
    out = kc("-b", brokers, "-C", "-t", t, "-p", "-1", "-e", "-O", "-E", "-K", ":",
             check=0).stdout
    assert out == b":a\n:b\n"


def test_header_without_value_is_null(brokers, kcat):
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, "-H", "nul", "-H", "k=v", "-H", "e=",
       input=b"x\n", check=0)
    [m] = consume_json(brokers, t)
    assert m["headers"] == ["nul", None, "k", "v", "e", ""]
    fmt = ["-f", "%h\\n"]
    assert kc("-b", brokers, "-C", "-t", t, "-e", *fmt, check=0).stdout == b"nul=NULL,k=v,e=\n"
    assert kcat_run("-b", brokers, "-C", "-t", t, "-e", "-q", *fmt).stdout == \
        b"nul=NULL,k=v,e=\n"
    assert kc("-b", brokers, "-P", "-t", t, "-H", "=v").returncode == 64


def test_count_limits_the_producer(brokers):
    t = topic_name()
    proc = kc("-b", brokers, "-P", "-t", t, "-c", "2", input=b"1\n2\n3\n4\n", check=0)
    assert proc.stderr == b""
    assert [m["payload"] for m in consume_json(brokers, t)] == ["1", "2"]
    # empty records do not count, as in kcat
    u = topic_name()
    kc("-b", brokers, "-P", "-t", u, "-c", "2", input=b"\n\n1\n\n2\n3\n", check=0)
    assert [m["payload"] for m in consume_json(brokers, u)] == ["1", "2"]


def test_empty_records_skipped_as_kcat_does(brokers, kcat, tmp_path):
    data = b"a\n\nk:\n:\n\nb\n"
    ours, theirs = topic_name(), topic_name()
    kc("-b", brokers, "-P", "-t", ours, "-K", ":", "-Z", input=data, check=0)
    kcat_run("-b", brokers, "-P", "-t", theirs, "-K", ":", "-Z", input=data)
    strip = lambda msgs: [(m["key"], m["payload"]) for m in msgs]
    assert strip(consume_json(brokers, ours)) == strip(consume_json(brokers, theirs)) == [
        (None, "a"), ("k", None), (None, None), (None, "b")]
    sent = topic_name()
    kc("-b", brokers, "-P", "-t", sent, "--send-empty", input=b"a\n\nb\n", check=0)
    assert [m["payload"] for m in consume_json(brokers, sent)] == ["a", "", "b"]
    null = topic_name()
    kc("-b", brokers, "-P", "-t", null, "--send-empty", "-Z", input=b"a\n\n", check=0)
    assert [m["payload"] for m in consume_json(brokers, null)] == ["a", None]
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    files = topic_name()
    kc("-b", brokers, "-P", "-t", files, empty, empty, input=b"", check=0)
    kc("-b", brokers, "-P", "-t", files, "--send-empty", empty, check=0)
    assert [m["payload"] for m in consume_json(brokers, files)] == [""]


def test_tee_writes_the_bytes_kcat_writes(brokers, kcat):
    data = b"k1:v1\n\nplain\n:v3\nk4:\nlast-no-newline"
    for args in (["-K", ":"], ["-D", "\\n"], ["-K", ":", "-Z", "-c", "3"]):
        ours = kc("-b", brokers, "-P", "-t", topic_name(), "-T", *args, input=data,
                  check=0).stdout
        theirs = kcat_run("-b", brokers, "-P", "-t", topic_name(), "-T", *args,
                          input=data).stdout
        assert ours == theirs, args
        assert ours


def test_unbuffered_writes_each_message_at_once(brokers):
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, input=b"first\n", check=0)
    p = subprocess.Popen([tool("kcat-lite"), "-b", brokers, "-C", "-t", t, "-u", "-D", "|",
                          "-f", "%s|"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = b""
    try:
        def read_some():
            nonlocal got
            if select.select([p.stdout], [], [], 0.2)[0]:
                got += os.read(p.stdout.fileno(), 4096)
            return got
        wait_for(lambda: read_some() == b"first|", timeout=30, what="the first message")
        kc("-b", brokers, "-P", "-t", t, input=b"second\n", check=0)
        wait_for(lambda: read_some() == b"first|second|", timeout=30,
                 what="the second message")
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    check_sanitizers("-u", err)
    assert p.returncode == 0, err


def test_query_output_equals_kcat(brokers, kcat):
    a, b = sorted([topic_name(), topic_name()])
    for t in (a, b):
        kc("-b", brokers, "-P", "-t", t, input=b"x\ny\n", check=0)
    args = ["-Q", "-t", f"{b}:0:0", "-t", f"{a}:0:0", "-t", f"{b}:0:99999999999999"]
    assert kc("-b", brokers, *args, check=0).stdout == kcat_run("-b", brokers, *args).stdout
    ours = kc("-b", brokers, "-J", *args, check=0).stdout
    theirs = kcat_run("-b", brokers, "-J", *args).stdout
    assert ours == theirs + b"\n"   # kcat-lite ends its JSON with a newline
    assert list(json.loads(ours)) == [a, b]


def test_dump_has_global_and_topic_config(kcat):
    args = ["-F", "none", "-X", "dump", "-X", "topic.acks=1", "-X", "linger.ms=7"]
    out = kc(*args, check=0).stdout.decode()
    glob, topic = out.split("# Topic config\n")
    assert glob.startswith("# Global config\n") and "queue.buffering.max.ms = 7\n" in glob
    assert "request.required.acks = 1\n" in topic and out.endswith("\n\n")
    theirs = kcat_run("-b", "x:1", *args).stdout.decode()
    names = lambda text: [line.split(" = ")[0] for line in text.splitlines()
                          if " = " in line and not line.endswith("_cb = 0") and "0x" not in line]
    assert set(names(theirs)) <= set(names(out))


def test_producer_settings_by_default_and_as_kcat_has_them(brokers):
    d = dump("-b", brokers, "-P", "-t", "x")
    assert d["enable.idempotence"] == "true" and d["queue.buffering.max.ms"] == "5"
    assert d["delivery.report.only.error"] == "true"
    assert d["queue.buffering.max.kbytes"] == "32768"
    assert d["socket.nagle.disable"] == "true"
    d = dump("-b", brokers, "-P", "-t", "x", "-X", "socket.nagle.disable=false")
    assert d["socket.nagle.disable"] == "false"
    d = dump("-b", brokers, "-P", "-t", "x", "--no-idempotence")
    assert d["enable.idempotence"] == "false" and d["queue.buffering.max.ms"] == "5"
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, "--no-idempotence", input=b"a\nb\n", check=0)
    assert [m["payload"] for m in consume_json(brokers, t)] == ["a", "b"]


def test_consumer_prefetch_bounds_by_default_and_as_given(brokers):
    d = dump("-b", brokers, "-C", "-t", "x")
    assert d["queued.min.messages"] == "70000"
    assert d["queued.max.messages.kbytes"] == "32768"
    assert d["socket.nagle.disable"] == "true"
    d = dump("-b", brokers, "-G", "g", "x", "-X", "queued.min.messages=100000",
             "-X", "queued.max.messages.kbytes=65536")
    assert d["queued.min.messages"] == "100000"
    assert d["queued.max.messages.kbytes"] == "65536"


CONFLUENT_CLOUD = """\
# Required connection configs for Kafka producer, consumer, and admin
bootstrap.servers={brokers}
security.protocol=PLAINTEXT
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule   required \
username='KEY123'   password='se=cret';
sasl.mechanism=PLAIN
# Required for correctness in Apache Kafka clients prior to 2.6
client.dns.lookup=use_all_dns_ips
# Best practice for higher availability in Apache Kafka clients prior to 3.0
session.timeout.ms=45000
# Best practice for Kafka producer to prevent data loss
acks=all
# Required connection configs for Confluent Cloud Schema Registry
schema.registry.url=https://psrc-00000.us-east-2.aws.confluent.cloud
basic.auth.credentials.source=USER_INFO
basic.auth.user.info={{{{ SR_API_KEY }}}}:{{{{ SR_API_SECRET }}}}
ssl.endpoint.identification.algorithm=
"""


def dump(*args, env=None):
    out = kc(*args, "-X", "dump", env=env, check=0).stdout.decode()
    return dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)


def test_property_files_as_kcat_reads_them(brokers, tmp_path):
    # PLAINTEXT here, so that the file's brokers answer; the SASL settings
    # are converted all the same.
    cc = tmp_path / "client.properties"
    cc.write_text(CONFLUENT_CLOUD.format(brokers=brokers.replace(":", "\\:")))
    d = dump("-F", cc)
    # the password is converted (the SCRAM tests log in with one) but not shown
    assert d["sasl.username"] == "KEY123" and d["sasl.password"] == "[hidden]"
    assert d["sasl.mechanisms"] == "PLAIN" and d["session.timeout.ms"] == "45000"
    assert d["request.required.acks"] == "-1"
    assert d["ssl.endpoint.identification.algorithm"] == "none"
    assert d["metadata.broker.list"] == brokers
    # the file's brokers win over the toolkit's, -b over the file's
    t = topic_name()
    env = {"SC_BROKERS": "127.0.0.1:1"}
    kc("-F", cc, "-P", "-t", t, input=b"via-file\n", env=env, check=0)
    assert dump("-F", cc, "-b", "h:1")["metadata.broker.list"] == "h:1"
    # KCAT_CONFIG, then ~/.config/kcat.conf; -X and -F win over them
    out = kc("-C", "-t", t, "-e", env=dict(env, KCAT_CONFIG=str(cc)), check=0).stdout
    assert out == b"via-file\n"
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".config" / "kcat.conf").write_text("linger.ms=11\nclient.id=from-home\n")
    d = dump("-X", "linger.ms=12")
    assert d["queue.buffering.max.ms"] == "12" and d["client.id"] == "from-home"
    assert dump("-F", "none")["client.id"] == "rdkafka"
    d = dump(env={"KCAT_CONFIG": str(cc)})
    assert d["client.id"] == "rdkafka" and d["sasl.username"] == "KEY123"
    # what cannot be converted is named
    bad = tmp_path / "bad.properties"
    bad.write_text("sasl.jaas.config=org.apache.kafka.common.security.oauthbearer."
                   "OAuthBearerLoginModule required;\n")
    proc = kc("-F", bad, "-X", "dump")
    assert proc.returncode == 65 and b"bad.properties:1: sasl.jaas.config" in proc.stderr
    assert kc("-F", tmp_path / "missing", "-L").returncode == 74


def test_transactions_commit_or_abort(brokers):
    t = topic_name()
    txn = ["-X", f"transactional.id=tx-{uuid.uuid4().hex[:8]}"]
    committed = lambda: kc("-b", brokers, "-C", "-t", t, "-e", "-X",
                           "isolation.level=read_committed", check=0).stdout.split()
    kc("-b", brokers, "-P", "-t", t, *txn, input=b"a\nb\n", check=0)
    assert committed() == [b"a", b"b"]
    # one message too large: nothing of the transaction is committed
    proc = kc("-b", brokers, "-P", "-t", t, *txn, input=b"c\n" + b"y" * 2_000_000 + b"\nd\n")
    assert proc.returncode == 1
    assert b"transaction aborted" in proc.stderr
    assert committed() == [b"a", b"b"]
    # a malformed -J line stops the input: aborted, status 65
    proc = kc("-b", brokers, "-P", "-t", t, "-J", *txn,
              input=b'{"payload":"e"}\n{"payload":\n')
    assert proc.returncode == 65 and b"transaction aborted" in proc.stderr
    assert committed() == [b"a", b"b"]


def test_pack_str_deserializers(brokers, kcat):
    t = topic_name()
    key = struct.pack(">q", -5)
    payload = struct.pack(">iHb", 70000, 65535, -2) + b"rest"
    line = json.dumps({"key_b64": __import__("base64").b64encode(key).decode(),
                       "payload_b64": __import__("base64").b64encode(payload).decode()})
    kc("-b", brokers, "-P", "-t", t, "-J", input=line.encode() + b"\n", check=0)
    args = ["-C", "-t", t, "-e", "-K", "\\t", "-s", "key=>q", "-s", "value=i H b s"]
    ours = kc("-b", brokers, *args, check=0).stdout
    assert ours == b"-5\t70000 65535 -2 rest\n"
    assert ours == kcat_run("-b", brokers, *args, "-q").stdout
    # '<' is little-endian (kcat 1.7.1 reads it big-endian on this machine)
    out = kc("-b", brokers, "-C", "-t", t, "-e", "-s", "value=<I", check=0).stdout
    assert out == b"%d\n" % struct.unpack("<I", payload[:4])[0]
    # a message that does not fit: 65, or reported and skipped with -E
    proc = kc("-b", brokers, "-C", "-t", t, "-e", "-s", "value=q$")
    assert proc.returncode == 65 and b"expected value end-of-input" in proc.stderr
    assert kc("-b", brokers, "-C", "-t", t, "-e", "-E", "-s", "value=q$").returncode == 0
    for bad in ("value=x", "key=", "avro"):
        assert kc("-b", brokers, "-C", "-t", t, "-s", bad).returncode == 64
    assert kc("-b", brokers, "-P", "-t", t, "-s", "i").returncode == 64


def cluster_cmd(*args):
    state, offset = os.environ.get("SC_STATE_DIR"), os.environ.get("SC_LOCAL_PORT_OFFSET")
    if not state or offset is None:
        pytest.fail("SC_STATE_DIR and SC_LOCAL_PORT_OFFSET of the local cluster are needed")
    env = dict(os.environ, SC_STATE_DIR=state, SC_LOCAL_PORT_OFFSET=offset, HOME=HOME)
    subprocess.run([str(ROOT / "scripts" / "local-cluster"), *args], env=env, check=True,
                   capture_output=True, timeout=180)
    return state


def test_consumer_stops_when_all_brokers_are_lost(brokers):
    t = topic_name()
    state = cluster_cmd("status")
    kc("-b", brokers, "-P", "-t", t, input=b"before\n", check=0)
    start = lambda *a: subprocess.Popen([tool("kcat-lite"), "-b", brokers, *a, "-u"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    simple, group = start("-C", "-t", t), start("-G", "g-" + t, "-o", "beginning", t)
    keeps = start("-C", "-t", t, "-E")
    procs = (simple, group, keeps)
    try:
        for p in procs:
            assert p.stdout.readline() == b"before\n"
        with open(os.path.join(state, "run", "kafka-broker.pid")) as f:
            os.kill(int(f.read().strip()), signal.SIGKILL)
        for p in (simple, group):
            assert p.wait(timeout=60) == 69
            err = p.stderr.read()
            check_sanitizers("brokers down", err)
            assert b"all connections are down" in err and brokers.encode() in err
        assert keeps.poll() is None
        cluster_cmd("up")
        kc("-b", brokers, "-P", "-t", t, input=b"after\n", check=0)
        assert keeps.stdout.readline() == b"after\n"
        keeps.send_signal(signal.SIGTERM)
        assert keeps.wait(timeout=30) == 0
        check_sanitizers("-E", keeps.stderr.read())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        cluster_cmd("up")


# ---- secured brokers: SSL and SASL_SSL (SCRAM-SHA-512) with a test-made CA ----

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(d):
    """A CA, and a certificate for 127.0.0.1 and localhost that it signed."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "broker.key", "-out", "broker.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "broker.crt", cwd=d)
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.p8", cwd=d)
    (d / "broker.pem").write_text((d / "broker.p8").read_text() + (d / "broker.crt").read_text())
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other-ca",
            "-keyout", "other.key", "-out", "other.pem", cwd=d)


def kafka_cache():
    return os.environ.get("SC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(HOME, ".cache"), "clusterops")


def kafka_libs():
    """The jars of the local cluster's Kafka (4.x)."""
    version = os.environ.get("KAFKA_VERSION")
    if not version:
        for line in (ROOT / "scripts" / "local-cluster").read_text().splitlines():
            if line.startswith("readonly DEFAULT_KAFKA_VERSION="):
                version = line.split("=", 1)[1]
    libs = os.path.join(kafka_cache(), f"kafka-{version}", "libs")
    if not os.path.isfile(os.path.join(libs, f"kafka_2.13-{version}.jar")):
        pytest.fail(f"{libs}: no Kafka jars (scripts/local-cluster up downloads them)")
    return libs


# Kafka 3.9 for SCRAM: Kafka 4 checks the SCRAM nonce as RFC 5802 says, and
# librdkafka before 2.6.1 (Debian's is 2.0.2) cannot log in to it.
SCRAM_KAFKA_VERSIONS = ("3.9.1", "3.9.0")


def fetch_kafka_libs(version):
    """Kafka VERSION's jars in the cache where scripts/local-cluster keeps
    them (KAFKA_VERSION=VERSION uses the same ones), resolved from Maven
    Central with scripts/kafka-deps/pom.xml once, under the cache's lock.
    Returns (libs, None), or (None, mvn's messages)."""
    import fcntl
    import tempfile
    libs = os.path.join(kafka_cache(), f"kafka-{version}", "libs")
    done = lambda: os.path.isfile(os.path.join(libs, f"kafka_2.13-{version}.jar"))
    if done():
        return libs, None
    if not shutil.which("mvn"):
        pytest.fail("mvn is needed to fetch Kafka's jars (Debian package maven)")
    os.makedirs(os.path.dirname(libs), exist_ok=True)
    with open(os.path.join(kafka_cache(), ".install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done():
            return libs, None
        log4j = subprocess.run([str(ROOT / "scripts" / "kafka-deps" / "log4j-version"), version],
                               capture_output=True, check=True, text=True).stdout.strip()
        tmp = tempfile.mkdtemp(prefix="libs.tmp.", dir=os.path.dirname(libs))
        proc = subprocess.run(["mvn", "-q", "-B", "-f", str(ROOT / "scripts" / "kafka-deps" / "pom.xml"),
                               "dependency:copy-dependencies", f"-DoutputDirectory={tmp}",
                               f"-Dkafka.version={version}", f"-Dlog4j.version={log4j}"],
                              capture_output=True, timeout=1200, env=dict(os.environ, HOME=HOME))
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            return None, (proc.stdout + proc.stderr).decode(errors="replace")[-2000:]
        shutil.rmtree(libs, ignore_errors=True)
        os.rename(tmp, libs)
    return libs, None


def scram_kafka_libs():
    errors = []
    for version in SCRAM_KAFKA_VERSIONS:
        libs, error = fetch_kafka_libs(version)
        if libs:
            return libs
        errors.append(f"Kafka {version}: {error}")
    pytest.fail("no Kafka 3.9 jars for the SCRAM broker:\n" + "\n".join(errors))


def free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def secured_broker(d, libs):
    """A real Kafka from LIBS, with PLAINTEXT (for the test's own setup),
    SSL and SASL_SSL listeners, and the SCRAM-SHA-512 user alice. A
    generator: yields the addresses, stops the broker when closed."""
    make_certificates(d)
    plain, ssl, sasl, ctl = free_ports(4)
    listeners = (f"PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{ssl},"
                 f"SASL_SSL://127.0.0.1:{sasl},CONTROLLER://127.0.0.1:{ctl}")
    extra = "\n".join([
        f"listeners={listeners}",
        f"advertised.listeners={listeners}",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SSL:SSL,SASL_SSL:SASL_SSL",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={d}/broker.pem",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={d}/ca.pem",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ])
    env = dict(os.environ, HOME=HOME, KAFKA_LIBS=libs, KAFKA_NODE_ID="1",
               KAFKA_LISTEN_HOST="127.0.0.1", KAFKA_ADVERTISED_HOST="127.0.0.1",
               KAFKA_PORT=str(plain), KAFKA_CONTROLLER_PORT=str(ctl),
               KAFKA_DATA_DIR=str(d / "data"), KAFKA_LOG_DIR=str(d / "logs"),
               SC_CONF_DIR=str(d / "conf"), KAFKA_HEAP_OPTS="-Xmx384m -Xms128m",
               KAFKA_EXTRA_CONF=extra)
    log = open(d / "broker.out", "wb")
    broker = subprocess.Popen([str(ROOT / "docker" / "entrypoint" / "kafka-broker")], env=env,
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            assert broker.poll() is None, (d / "broker.out").read_text()[-3000:]
            return kc("-b", f"127.0.0.1:{plain}", "-L", "-m", "2").returncode == 0
        wait_for(up, timeout=120, what="the secured broker")
        # ConfigCommand moved from kafka.admin to org.apache.kafka.tools in 4.0
        tool_class = ("kafka.admin.ConfigCommand" if glob.glob(os.path.join(libs, "kafka_2.13-3.*"))
                      else "org.apache.kafka.tools.ConfigCommand")
        proc = subprocess.run(["java", "-cp", os.path.join(libs, "*"), tool_class,
                               "--bootstrap-server", f"127.0.0.1:{plain}", "--alter", "--add-config",
                               "SCRAM-SHA-512=[password=alice-secret]", "--entity-type", "users",
                               "--entity-name", "alice"], capture_output=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield {"dir": d, "plain": f"127.0.0.1:{plain}", "ssl": f"127.0.0.1:{ssl}",
               "sasl": f"127.0.0.1:{sasl}"}
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()
        log.close()


def timed(*args, **kw):
    start = time.monotonic()
    proc = kc(*args, **kw)
    return proc, time.monotonic() - start


SCRAM_FILE = """\
bootstrap.servers={brokers}
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
username="alice" password="{password}";
ssl.ca.location={ca}
ssl.endpoint.identification.algorithm=https
client.dns.lookup=use_all_dns_ips
acks=all
"""


def librdkafka_version():
    import ctypes
    lib = ctypes.CDLL("librdkafka.so.1")
    lib.rd_kafka_version.restype = ctypes.c_int
    return lib.rd_kafka_version()


# Class-scoped, so that the two brokers do not run at the same time.
@pytest.fixture(scope="class")
def secured(tmp_path_factory):
    yield from secured_broker(tmp_path_factory.mktemp("secured"), kafka_libs())


@pytest.fixture(scope="class")
def scram(tmp_path_factory):
    yield from secured_broker(tmp_path_factory.mktemp("scram"), scram_kafka_libs())


class TestKafka4Secured:
    """The local cluster's Kafka (4.x), with SSL and SASL_SSL listeners."""

    def test_ssl_with_a_test_made_ca(self, secured):
        d, t = secured["dir"], topic_name()
        tls = ["-b", secured["ssl"], "-X", "security.protocol=SSL",
               "-X", f"ssl.ca.location={d}/ca.pem"]
        kc(*tls, "-P", "-t", t, input=b"over-tls\n", check=0)
        assert kc(*tls, "-C", "-t", t, "-e", check=0).stdout == b"over-tls\n"
        # a broker whose certificate the CA did not sign is not trusted: 77
        # within -m, whatever the mode
        wrong = ["-b", secured["ssl"], "-X", "security.protocol=SSL",
                 "-X", f"ssl.ca.location={d}/other.pem", "-m", "3"]
        for mode in (["-L"], ["-C", "-t", t, "-e"], ["-P", "-t", t]):
            proc, secs = timed(*wrong, *mode, input=b"x\n")
            assert proc.returncode == 77, (mode, proc.stderr)
            assert secs < 3 + 10, (mode, secs)
            assert secured["ssl"].encode() in proc.stderr
            assert b"certificate verify failed" in proc.stderr
            assert b"ssl.ca.location" in proc.stderr

    def test_scram_to_kafka_4_names_the_librdkafka_needed(self, secured, tmp_path):
        if librdkafka_version() >= 0x020601ff:
            pytest.skip("librdkafka 2.6.1 or later logs in to Kafka 4 with SCRAM")
        good = tmp_path / "client.properties"
        good.write_text(SCRAM_FILE.format(brokers=secured["sasl"], password="alice-secret",
                                          ca=secured["dir"] / "ca.pem"))
        proc = kc("-F", good, "-L", "-m", "5")
        assert proc.returncode == 77, proc.stderr
        assert b"cannot authenticate with SCRAM to them (2.6.1 or later can)" in proc.stderr


class TestScram:
    """SASL_SSL with SCRAM-SHA-512 against a Kafka 3.9 broker, which
    librdkafka 2.0.2 can log in to."""

    @pytest.fixture
    def files(self, scram, tmp_path):
        ca = scram["dir"] / "ca.pem"
        good, bad = tmp_path / "client.properties", tmp_path / "bad.properties"
        good.write_text(SCRAM_FILE.format(brokers=scram["sasl"], password="alice-secret", ca=ca))
        bad.write_text(SCRAM_FILE.format(brokers=scram["sasl"], password="wrong", ca=ca))
        return good, bad

    def test_round_trip_through_a_java_properties_file(self, scram, files):
        good, _ = files
        t = topic_name()
        kc("-F", good, "-P", "-t", t, "-K", ":", input=b"k1:one\nk2:two\n", check=0)
        assert kc("-F", good, "-C", "-t", t, "-e", check=0).stdout == b"one\ntwo\n"
        out = kc("-F", good, "-G", "g-" + t, "-o", "beginning", "-e", t, check=0).stdout
        assert out == b"one\ntwo\n"
        listing = kc("-F", good, "-L", "-t", t, check=0).stdout
        assert f'topic "{t}" with 1 partitions:'.encode() in listing
        assert kc("-F", good, "-Q", "-t", f"{t}:0:0", check=0).stdout == \
            f"{t} [0] offset 0\n".encode()

    def test_round_trip_through_X_with_the_password_from_the_environment(self, scram, tmp_path):
        t = topic_name()
        x = ["-b", scram["sasl"], "-X", "security.protocol=SASL_SSL",
             "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice",
             "-X", f"ssl.ca.location={scram['dir']}/ca.pem"]
        env = {"SC_KAFKA_PASSWORD": "alice-secret"}
        kc(*x, "-P", "-t", t, input=b"via-x\n", env=env, check=0)
        assert kc(*x, "-C", "-t", t, "-e", env=env, check=0).stdout == b"via-x\n"
        pw = tmp_path / "password"
        pw.write_text("alice-secret\n")
        env = {"SC_KAFKA_PASSWORD_FILE": str(pw)}
        assert kc(*x, "-G", "g-" + t, "-o", "beginning", "-e", t, env=env,
                  check=0).stdout == b"via-x\n"
        assert b"broker 1 at" in kc(*x, "-L", env=env, check=0).stdout
        assert kc(*x, "-Q", "-t", f"{t}:0:0", env=env, check=0).stdout == \
            f"{t} [0] offset 0\n".encode()
        # -X wins over the environment; an empty or missing file is named
        proc = kc(*x, "-X", "sasl.password=wrong", "-L", "-m", "3", env=env)
        assert proc.returncode == 77, proc.stderr
        pw.write_text("\n")
        proc = kc(*x, "-L", env=env)
        assert proc.returncode == 65 and str(pw).encode() in proc.stderr
        proc = kc(*x, "-L", env={"SC_KAFKA_PASSWORD_FILE": str(tmp_path / "missing")})
        assert proc.returncode == 74 and b"missing" in proc.stderr

    def test_wrong_password_and_untrusted_certificate(self, scram, files):
        _, bad = files
        for mode in (["-L"], ["-P", "-t", topic_name()], ["-C", "-t", "x", "-e"],
                     ["-G", "g-x", "x"], ["-Q", "-t", "x:0:0"]):
            proc, secs = timed("-F", bad, "-m", "4", *mode, input=b"x\n")
            assert proc.returncode == 77, (mode, proc.stderr)
            assert secs < 4 + 10, (mode, secs)
            assert scram["sasl"].encode() in proc.stderr and b"invalid credentials" in proc.stderr
        # the SASL_SSL listener with a CA that did not sign its certificate
        proc, secs = timed("-F", files[0], "-X", f"ssl.ca.location={scram['dir']}/other.pem",
                           "-L", "-m", "4")
        assert proc.returncode == 77, proc.stderr
        assert secs < 4 + 10
        assert b"certificate verify failed" in proc.stderr

    def test_passwords_are_not_shown(self, scram, files, tmp_path):
        good, _ = files
        for env in ({}, {"SC_KAFKA_PASSWORD": "alice-secret"}):
            args = ["-X", "dump"] if env else ["-F", good, "-X", "dump"]
            out = kc(*args, env=env, check=0).stdout
            assert b"alice-secret" not in out and b"sasl.password = [hidden]\n" in out
            out = kc(*args[:-2], "--show-config", env=env, check=0).stdout
            assert b"alice-secret" not in out and b"brokers" in out


# ---- what a kcat script meets ------------------------------------------------


def test_list_of_a_topic_that_cannot_exist_names_it_and_succeeds(brokers, kcat):
    # kcat lists a topic the broker has not (and, with a name it refuses,
    # will not create) with the broker's error, and exits 0: scripts test
    # for a topic so. kcat-lite waited for it until -m ran out, then exit 1.
    t = "no/such-" + uuid.uuid4().hex[:12]
    ours = kc("-b", brokers, "-L", "-t", t, "-m", "10", check=0).stdout
    assert ours == kcat_run("-b", brokers, "-L", "-t", t).stdout
    assert f' 1 topics:\n  topic "{t}" with 0 partitions: Broker: '.encode() in ours, ours
    doc = json.loads(kc("-b", brokers, "-L", "-J", "-t", t, check=0).stdout)
    assert doc["topics"][0]["topic"] == t and doc["topics"][0]["error"].startswith("Broker: ")


def test_the_last_topic_given_is_the_one(brokers):
    first, last = topic_name(), topic_name()
    kc("-b", brokers, "-P", "-t", first, "-t", last, input=b"here\n", check=0)
    assert [m["payload"] for m in consume_json(brokers, last)] == ["here"]
    out = kc("-b", brokers, "-L", "-t", first, "-t", last, check=0).stdout
    assert f'topic "{last}"'.encode() in out and first.encode() not in out


def test_a_file_is_one_message_whatever_the_delimiters(brokers, kcat, tmp_path):
    # kcat produces a file argument whole: -K, -Z (and -J) are for delimited input
    f = tmp_path / "record"
    f.write_bytes(b"k:v\nsecond:line\n")
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, "-K", ":", "-Z", "-k", "fixed", f, check=0)
    theirs = topic_name()
    kcat_run("-b", brokers, "-P", "-t", theirs, "-K", ":", "-Z", "-k", "fixed", f)
    ours = [(m["key"], m["payload"]) for m in consume_json(brokers, t)]
    assert ours == [("fixed", "k:v\nsecond:line\n")]
    assert ours == [(m["key"], m["payload"]) for m in consume_json(brokers, theirs)]


def test_format_numbers_are_read_as_kcat_reads_them(brokers, kcat):
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, input=b"x\n", check=0)
    fmt = ["-f", "\\033[1m%s\\033[0m\\012"]
    ours = kc("-b", brokers, "-C", "-t", t, "-e", *fmt, check=0).stdout
    assert ours == kcat_run("-b", brokers, "-C", "-t", t, "-e", "-q", *fmt).stdout
    assert ours == b"\x1b[1mx\x1b[0m\n"


def test_a_partition_that_cannot_be_read_ends_the_consumer(brokers):
    # an offset past the end with auto.offset.reset=error: kcat exits 1; a
    # consumer that went on would never reach the end that -e waits for
    t = topic_name()
    kc("-b", brokers, "-P", "-t", t, input=b"a\nb\n", check=0)
    proc = kc("-b", brokers, "-C", "-t", t, "-e", "-o", "100",
              "-X", "auto.offset.reset=error", timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert b"[0]:" in proc.stderr and b"ffset" in proc.stderr, proc.stderr
