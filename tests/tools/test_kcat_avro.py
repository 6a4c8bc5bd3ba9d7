"""kcat-lite -s avro -r URL: Avro in a schema registry's framing, as JSON.

The records are written to the local cluster's Kafka (SC_BROKERS) by
kcat-lite -P -J from bytes framed here with the `avro` package (magic byte
0, the schema id in 4 big-endian bytes, the Avro binary datum), with
schemas registered in a real schema registry: SC_SCHEMA_REGISTRY_URL when
set, else the one scripts/schema-registry builds and starts. A stub server
stands in for the registry only to inject its faults.
"""
import base64
import io
import json
import os
import struct
import subprocess
import uuid

import pytest

from conftest import ROOT, assert_usage, free_port
from test_kcat import brokers, kc, topic_name  # noqa: F401 (fixtures)

try:
    import avro.io
    import avro.schema
except ImportError:  # a missing package must fail the tests, not skip them
    pytest.fail("the avro package is missing: scripts/install-deps installs it",
                pytrace=False)

pytestmark = pytest.mark.kafka

USER = {
    "type": "record", "name": "User", "namespace": "t",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "age", "type": "int"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "score", "type": ["null", "double"]},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "ok", "type": "boolean"},
    ],
}
NODE = {
    "type": "record", "name": "Node",
    "fields": [{"name": "v", "type": "long"}, {"name": "next", "type": ["null", "Node"]}],
}


def frame(schema_id, schema, datum):
    """The registry serializers' framing of datum under schema."""
    parsed = avro.schema.parse(json.dumps(schema))
    buf = io.BytesIO()
    buf.write(b"\0" + struct.pack(">I", schema_id))
    if parsed.type == "bytes":
        buf.write(datum)  # written bare, without a length
    else:
        avro.io.DatumWriter(parsed).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def produce(brokers, topic, records):
    """records: (key bytes or None, value bytes or None), in order, partition 0."""
    lines = []
    for key, value in records:
        env = {"partition": 0}
        env["key_b64" if key is not None else "key"] = \
            base64.b64encode(key).decode() if key is not None else None
        env["payload_b64" if value is not None else "payload"] = \
            base64.b64encode(value).decode() if value is not None else None
        lines.append(json.dumps(env))
    kc("-b", brokers, "-P", "-J", "-t", topic, input="\n".join(lines).encode() + b"\n",
       check=0)


# ---- the registry ------------------------------------------------------------

@pytest.fixture(scope="module")
def registry():
    """A real Confluent-compatible registry: its base URL."""
    url = os.environ.get("SC_SCHEMA_REGISTRY_URL")
    if url:
        yield url.rstrip("/")
        return
    script = ROOT / "scripts" / "schema-registry"
    proc = subprocess.run([str(script), "start"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"scripts/schema-registry start: exit {proc.returncode}\n{proc.stderr}")
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([str(script), "stop"], capture_output=True, timeout=120)


def register(registry, schema, subject=None):
    """Register schema (a JSON-able value) under a new subject: its id."""
    import urllib.request
    subject = subject or "s-" + uuid.uuid4().hex[:12]
    req = urllib.request.Request(
        f"{registry}/subjects/{subject}/versions", method="POST",
        data=json.dumps({"schema": json.dumps(schema)}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)["id"]


def unused_id(registry):
    """An id that the registry does not know."""
    import urllib.error
    import urllib.request
    for candidate in range(900000, 900100):
        try:
            urllib.request.urlopen(f"{registry}/schemas/ids/{candidate}", timeout=10).close()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return candidate
    pytest.fail("no unused schema id found")


def consume(brokers, topic, registry, *args, check=0):
    return kc("-b", brokers, "-C", "-t", topic, "-e", "-q", "-r", registry, *args,
              check=check)


# ---- decoding, against the real registry -------------------------------------

def test_value_and_key_as_kcat_writes_them(brokers, registry):
    uid = register(registry, USER)
    sid = register(registry, "string")
    t = topic_name()
    user = {"name": "zo\u00eb \"q\"", "age": -3, "tags": ["a", "b"], "score": 1.5,
            "kind": "B", "attrs": {"k": 1}, "ok": True}
    produce(brokers, t, [(frame(sid, "string", "key-1"), frame(uid, USER, user))])
    # avro-c's one-line JSON, byte for byte: ", " and ": ", \u escapes in upper
    # case, a union's non-null branch as {"type": value}.
    value = ('{"name": "zo\\u00EB \\"q\\"", "age": -3, "tags": ["a", "b"], '
             '"score": {"double": 1.5}, "kind": "B", "attrs": {"k": 1}, "ok": true}')
    out = consume(brokers, t, registry, "-s", "avro").stdout
    assert out == b'"key-1"' + value.encode() + b"\n"   # no -K: key right before value
    out = consume(brokers, t, registry, "-s", "avro", "-K", "\\t").stdout
    assert out == b'"key-1"\t' + value.encode() + b"\n"
    out = consume(brokers, t, registry, "-s", "value=avro", "-f", "%k|%s|%K|%S\n").stdout
    raw = frame(uid, USER, user)
    key = frame(sid, "string", "key-1")
    assert out == key + b"|" + value.encode() + f"|{len(key)}|{len(raw)}\n".encode()
    out = consume(brokers, t, registry, "-s", "key=avro", "-f", "%k\n").stdout
    assert out == b'"key-1"\n'


def test_the_registry_of_a_property_file(brokers, registry, tmp_path):
    # kcat takes -r from schema.registry.url in a -F file (or kcat.conf)
    sid = register(registry, "string")
    t = topic_name()
    produce(brokers, t, [(None, frame(sid, "string", "from-file"))])
    props = tmp_path / "client.properties"
    props.write_text(f"schema.registry.url={registry}\n")
    out = kc("-F", props, "-b", brokers, "-C", "-t", t, "-e", "-q", "-s", "value=avro",
             check=0).stdout
    assert out == b'"from-file"\n'
    # -r wins over the file
    proc = kc("-F", props, "-b", brokers, "-C", "-t", t, "-e", "-q", "-s", "value=avro",
              "-r", "http://127.0.0.1:1")
    assert proc.returncode == 69, proc.stderr


def test_format_order(brokers, registry):
    """-f decodes in its own order, and stops at the first field that fails;
    nothing of that message is written (kcat writes the fields before it)."""
    sid = register(registry, "string")
    t = topic_name()
    produce(brokers, t, [(b"plain-key", frame(sid, "string", "v"))])
    proc = consume(brokers, t, registry, "-s", "avro", "-f", "%s|%k\n", check=65)
    assert proc.stdout == b""
    assert b"Avro/Schema-registry key deserialization: Invalid CP1 magic byte 112" \
        in proc.stderr


def test_json_envelope(brokers, registry):
    uid = register(registry, NODE)
    t = topic_name()
    chain = {"v": 1, "next": {"v": 2, "next": None}}
    produce(brokers, t, [(None, frame(uid, NODE, chain)), (b"plain", None)])
    lines = consume(brokers, t, registry, "-s", "value=avro", "-J").stdout.splitlines()
    first = lines[0].decode()
    assert first.endswith(',"key":null,"payload":{"v": 1, "next": {"Node": {"v": 2, '
                          '"next": null}}},"value_schema_id":%d}' % uid), first
    second = json.loads(lines[1])
    assert second["key"] == "plain" and second["payload"] is None
    assert "value_schema_id" not in second and len(lines) == 2


def test_types_round_trip(brokers, registry):
    schema = {
        "type": "record", "name": "All",
        "fields": [
            {"name": "n", "type": "null"}, {"name": "l", "type": "long"},
            {"name": "f", "type": "float"}, {"name": "d", "type": "double"},
            {"name": "b", "type": "bytes"},
            {"name": "x", "type": {"type": "fixed", "name": "F", "size": 2}},
            {"name": "u", "type": ["null", "string", "long"]},
            {"name": "a", "type": {"type": "array", "items": {"type": "map", "values": "int"}}},
        ],
    }
    sid = register(registry, schema)
    bid = register(registry, "bytes")
    t = topic_name()
    data = [
        {"n": None, "l": -(2 ** 62), "f": 0.5, "d": 1e-3, "b": b"ab\x01", "x": b"yz",
         "u": None, "a": []},
        {"n": None, "l": 7, "f": -2.0, "d": 12.25, "b": b"", "x": b"\x7f!", "u": "s",
         "a": [{"k": 1}, {}]},
        {"n": None, "l": 0, "f": 3.0, "d": 0.0, "b": b"z", "x": b"ab", "u": 99, "a": [{}]},
    ]
    produce(brokers, t, [(frame(bid, "bytes", b"\x01raw"), frame(sid, schema, d))
                         for d in data])
    lines = consume(brokers, t, registry, "-s", "avro", "-J").stdout.splitlines()
    assert len(lines) == 3
    for line, d in zip(lines, data):
        env = json.loads(line)
        assert env["key"] == "\x01raw" and env["key_schema_id"] == bid
        assert env["value_schema_id"] == sid
        u = d["u"]
        want = dict(d, b=d["b"].decode("latin-1"), x=d["x"].decode("latin-1"),
                    u=None if u is None else {"string" if isinstance(u, str) else "long": u})
        assert env["payload"] == want


def test_undecodable_messages(brokers, registry):
    uid = register(registry, USER)
    missing = unused_id(registry)
    t = topic_name()
    good = frame(uid, USER, {"name": "n", "age": 1, "tags": [], "score": None,
                             "kind": "A", "attrs": {}, "ok": False})
    produce(brokers, t, [(None, good), (None, b"not avro"), (None, frame(missing, "int", 5)),
                         (None, good[:-3]), (None, b"\0\0"), (None, good)])
    proc = consume(brokers, t, registry, "-s", "value=avro", check=65)
    assert proc.stdout.count(b"\n") == 1
    assert (b"Failed to format message in %s [0] at offset 1: Avro/Schema-registry message "
            b"deserialization: Invalid CP1 magic byte 110, expected 0: message not produced "
            b"with Schema-Registry Avro framing: terminating" % t.encode()) in proc.stderr
    proc = consume(brokers, t, registry, "-s", "value=avro", "-E")
    assert proc.stdout.count(b"\n") == 2, proc.stdout
    err = proc.stderr.decode()
    assert f"/schemas/ids/{missing}: REST request failed (code 404)" in err
    assert "offset 3: Avro/Schema-registry message deserialization: Failed to read avro value" \
        in err
    assert "offset 4: Avro/Schema-registry message deserialization: Payload is smaller (2) " \
        "than framing (5)" in err
    lines = consume(brokers, t, registry, "-s", "value=avro", "-J", "-E").stdout.splitlines()
    envs = [json.loads(x) for x in lines]
    assert len(envs) == 6 and envs[0]["value_schema_id"] == uid
    assert envs[1]["payload"] is None and "magic byte 110" in envs[1]["payload_error"]
    proc = consume(brokers, t, registry, "-s", "value=avro", "-J", check=65)
    assert len(proc.stdout.splitlines()) == 1
    assert b"Failed to deserialize value in message in %s [0] at offset 1" % t.encode() \
        in proc.stderr


def test_same_name_in_two_namespaces(brokers, registry):
    schema = {"type": "record", "name": "R", "namespace": "a", "fields": [
        {"name": "x", "type": {"type": "fixed", "name": "F", "size": 1}},
        {"name": "y", "type": {"type": "fixed", "name": "b.F", "size": 2}},
        {"name": "z", "type": {"type": "enum", "name": "F", "namespace": "c",
                               "symbols": ["Q"]}},
        {"name": "w", "type": "a.F"}]}
    sid = register(registry, schema)
    t = topic_name()
    produce(brokers, t, [(None, frame(sid, schema, {"x": b"A", "y": b"BC", "z": "Q",
                                                     "w": b"D"}))])
    out = consume(brokers, t, registry, "-s", "value=avro").stdout
    assert out == b'{"x": "A", "y": "BC", "z": "Q", "w": "D"}\n'


def test_bounds(brokers, registry):
    nid = register(registry, {"type": "array", "items": "null"})
    sid = register(registry, "string")
    t = topic_name()
    huge = bytes([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])  # 2**62 - 1
    # 4096 values and 16 per byte: an array in 3 bytes (its block count and
    # its end) may hold 4143 nulls (4144 values with itself), not 4144.
    fits = b"\0" + struct.pack(">I", nid) + bytes([0xde, 0x40, 0x00])  # 4143
    over = b"\0" + struct.pack(">I", nid) + bytes([0xe0, 0x40, 0x00])  # 4144
    produce(brokers, t, [(None, b"\0" + struct.pack(">I", nid) + huge),
                         (None, b"\0" + struct.pack(">I", sid) + huge + b"abc"),
                         (None, frame(nid, {"type": "array", "items": "null"}, [None] * 3)),
                         (None, fits), (None, over)])
    proc = consume(brokers, t, registry, "-s", "value=avro", "-E")
    lines = proc.stdout.splitlines()
    assert lines[0] == b"[null, null, null]"
    assert lines[1] == b"[" + b", ".join([b"null"] * 4143) + b"]" and len(lines) == 2
    assert b"more than 4240 values in 9 bytes" in proc.stderr
    assert b"more than 4144 values in 3 bytes" in proc.stderr
    assert b"string of 4611686018427387903 bytes, with 3 left" in proc.stderr


# ---- usage -------------------------------------------------------------------

def test_usage(brokers):
    name = "kcat-lite"
    assert_usage(kc("-b", brokers, "-C", "-t", "x", "-s", "avro"), name,
                 "-s avro needs the schema registry: -r URL")
    assert_usage(kc("-b", brokers, "-C", "-t", "x", "-s", "avro", "-r", ""), name,
                 "-r: the schema registry URL is empty")
    assert_usage(kc("-b", brokers, "-C", "-t", "x", "-s", "avro", "-r", "///"), name,
                 "the schema registry URL is empty")
    assert_usage(kc("-b", brokers, "-C", "-t", "x", "-s", "avro", "-r", "ftp://h/"), name,
                 "expected http:// or https://")
    assert_usage(kc("-b", brokers, "-C", "-t", "x", "-X", "schema.registry.basic.auth=a"),
                 name, "only schema.registry.url=URL is known")
    assert_usage(kc("-b", brokers, "-P", "-t", "x", "-s", "avro", "-r", "http://h"), name,
                 "-s deserializes consumed messages")


# ---- the registry's faults, from a stub --------------------------------------

@pytest.fixture(scope="module")
def framed_topic(brokers):
    """One value framed with schema id 7."""
    t = topic_name()
    produce(brokers, t, [(None, frame(7, "long", 42))])
    return t


def stub_registry(stub, status, body, ctype="application/json"):
    stub.behaviour = lambda h: h.send(status, body if isinstance(body, bytes)
                                      else json.dumps(body).encode(), ctype)
    return f"http://127.0.0.1:{stub.server_address[1]}"


def test_schema_fetched_once_and_kept(brokers, stub):
    url = stub_registry(stub, 200, {"schema": '"long"'})
    t = topic_name()
    produce(brokers, t, [(frame(7, "long", i), frame(7, "long", -i)) for i in range(50)])
    out = consume(brokers, t, url + "//", "-s", "avro", "-K", ":").stdout
    assert out.splitlines() == [b"%d:%d" % (i, -i) for i in range(50)]
    assert [r[1] for r in stub.requests] == ["/schemas/ids/7"]
    # -X schema.registry.url is -r's other name, as in kcat.
    out = kc("-b", brokers, "-C", "-t", t, "-e", "-q", "-s", "value=avro",
             "-X", f"schema.registry.url={url}", "-c", "1", check=0).stdout
    assert out == b"0\n"


@pytest.mark.parametrize("status,body,ctype,code,why", [
    (500, b"boom", "text/plain", 69, "REST request failed (code 500): boom"),
    (401, b"", "text/plain", 77, "REST request failed (code 401)"),
    (200, b"<html>", "text/html", 76, "Failed to read schema envelope"),
    (200, b'{"id": 7}', "application/json", 76, 'No "schema" string field in schema 7'),
    (200, b"{\"schema\": \"" + b" " * (1 << 20) + b"\"}", "application/json", 76,
     "reply larger than 1024 KiB"),
    (200, b'{"schema": "syntax = \\"proto3\\";", "schemaType": "PROTOBUF"}',
     "application/json", 65, "schema 7 is of type PROTOBUF, not Avro"),
    (200, b'{"schema": "{\\"type\\": \\"nonsense\\"}"}', "application/json", 65, "schema 7: "),
    # A named type defined twice, the second time through the record's namespace.
    (200, json.dumps({"schema": json.dumps(
        {"type": "record", "name": "R", "namespace": "a", "fields": [
            {"name": "x", "type": {"type": "fixed", "name": "a.F", "size": 1}},
            {"name": "y", "type": {"type": "enum", "name": "F", "symbols": ["Z"]}}]})}).encode(),
     "application/json", 65, "schema 7: a.F is defined twice"),
    # A record that holds itself in a plain field: no value of it could end.
    (200, json.dumps({"schema": json.dumps(
        {"type": "record", "name": "N", "fields": [
            {"name": "v", "type": "long"}, {"name": "next", "type": "N"}]})}).encode(),
     "application/json", 65, "schema 7: record N holds itself"),
    (200, json.dumps({"schema": json.dumps(
        {"type": "fixed", "name": "F", "namespace": "n", "size": -3})}).encode(),
     "application/json", 65, "schema 7: fixed n.F has a size of -3 bytes, not 0 to 1048576"),
])
def test_registry_faults(brokers, framed_topic, stub, status, body, ctype, code, why):
    url = stub_registry(stub, status, body, ctype)
    proc = consume(brokers, framed_topic, url, "-s", "value=avro", check=code)
    assert why.encode() in proc.stderr, proc.stderr
    assert proc.stdout == b""


def test_registry_unreachable(brokers, framed_topic):
    proc = consume(brokers, framed_topic, f"http://127.0.0.1:{free_port()}", "-s",
                   "value=avro", check=69)
    assert b"Connection refused" in proc.stderr, proc.stderr
