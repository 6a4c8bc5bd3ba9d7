"""kcat-lite's options, property files and exit statuses: no broker needed.

Every run is given an unreachable broker (127.0.0.1:1) and no property file
of the invoking user's, so that what is tested is what happens before
kcat-lite would connect.
"""
import os

import pytest

from conftest import assert_usage, run

UNREACHABLE = ["-b", "127.0.0.1:1", "-m", "1", "-q"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """No KCAT_CONFIG, no ~/.config/kcat.conf, no SC_KAFKA_PASSWORD*."""
    for name in ("KCAT_CONFIG", "KAFKACAT_CONFIG", "SC_KAFKA_PASSWORD", "SC_KAFKA_PASSWORD_FILE",
                 "SC_CONFIG", "SC_BROKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.mark.parametrize("offset, why", [
    ("-9223372036854775808", "out of range"),
    ("-9223372036854775807", "out of range"),
    ("99999999999999999999", "out of range"),
    ("-99999999999999999999", "out of range"),
    ("s@99999999999999999999", "out of range"),
    ("e@99999999999999999999", "out of range"),
    ("5x", "not a number"),
    (" 5", "not a number"),
    ("+5", "not a number"),
    ("s@", "not a number"),
    ("s@-1", "not a number"),
    ("e@ 7", "not a number"),
    ("tomorrow", "not a number"),
])
def test_offset_out_of_range_or_garbage_is_usage_error(home, offset, why):
    assert_usage(run("kcat-lite", "-C", "-t", "x", "-o", offset, *UNREACHABLE), "kcat-lite",
                 f"invalid -o '{offset}': {why}")


@pytest.mark.parametrize("offset", ["0", "-0", "-5", "9223372036854775807", "s@1",
                                    "e@9223372036854775807", "-9223372036854773807"])
def test_offsets_in_range_are_taken(home, offset):
    # Taken: the run goes on to the brokers, which are unreachable.
    proc = run("kcat-lite", "-C", "-t", "x", "-o", offset, *UNREACHABLE)
    assert proc.returncode == 69, proc.stderr
    assert "invalid -o" not in proc.stderr


@pytest.mark.parametrize("arg, why", [
    ("x:1:5abc", "the timestamp is not a number"),
    ("x:1:99999999999999999999999", "the timestamp is out of range"),
    ("x:+1: 7", "the partition is not a number"),
    ("x:1: 7", "the timestamp is not a number"),
    ("x:-1:7", "the partition is not a number"),
    ("x:2147483648:7", "the partition is out of range"),
    ("x:1:", "the timestamp is not a number"),
    ("x::7", "the partition is not a number"),
    ("x:7", "expected TOPIC:PARTITION:TIMESTAMP"),
])
def test_query_takes_topic_partition_timestamp_strictly(home, arg, why):
    assert_usage(run("kcat-lite", "-Q", "-t", arg, *UNREACHABLE), "kcat-lite",
                 f"-Q -t '{arg}': {why}")


@pytest.mark.parametrize("arg", ["x:0:1700000000000", "x:2147483647:-1"])
def test_query_in_range_is_taken(home, arg):
    proc = run("kcat-lite", "-Q", "-t", arg, *UNREACHABLE)
    assert proc.returncode == 69, proc.stderr


@pytest.mark.parametrize("option, value, expected", [
    ("-p", " 5", "an integer from -1 to 2147483647"),
    ("-p", "+5", "an integer from -1 to 2147483647"),
    ("-p", "5 ", "an integer from -1 to 2147483647"),
    ("-p", "-0", "an integer from -1 to 2147483647"),
    ("-p", "-2", "an integer from -1 to 2147483647"),
    ("-p", "0x5", "an integer from -1 to 2147483647"),
    ("-p", "", "an integer from -1 to 2147483647"),
    ("-c", " 5", "an integer from 0 to"),
    ("-c", "+5", "an integer from 0 to"),
    ("-c", "-1", "an integer from 0 to"),
    ("-m", " 1", "a number of seconds"),
    ("-m", "+1", "a number of seconds"),
    ("-m", "1e0", "a number of seconds"),
    ("-m", "0x1", "a number of seconds"),
    ("-m", "-0", "a number of seconds"),
    ("-m", "inf", "a number of seconds"),
])
def test_numeric_options_take_digits_only(home, option, value, expected):
    proc = run("kcat-lite", "-C", "-t", "x", option, value, *UNREACHABLE)
    assert_usage(proc, "kcat-lite", f"invalid {option} '{value}': expected {expected}")


@pytest.mark.parametrize("args", [["-p", "-1"], ["-p", "0"], ["-p", "2147483647"],
                                  ["-c", "1"], ["-c", "007"], ["-m", "2.5"], ["-m", "3"]])
def test_numeric_options_in_range_are_taken(home, args):
    proc = run("kcat-lite", "-C", "-t", "x", *UNREACHABLE, *args, "-X", "dump")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("arg", ["=SEKRET", "=", ""])
def test_an_empty_header_name_is_usage_error_without_the_value(home, arg):
    proc = run("kcat-lite", "-P", "-t", "x", "-H", arg, *UNREACHABLE)
    assert "SEKRET" not in proc.stderr
    assert_usage(proc, "kcat-lite", "-H: the header name is empty")


@pytest.mark.parametrize("args, name", [
    (["-X", "schema.registry.basic.auth.user.info=alice:SEKRET", "-s", "avro"],
     "schema.registry.basic.auth.user.info"),
    (["-X", "schema.registry.basic.auth.user.info:alice:SEKRET", "-s", "avro"],
     "schema.registry.basic.auth.user.info"),
    (["-X", "sasl.password:SEKRET"], "'sasl.password'"),
    (["-X", "sasl.jaas.config SEKRET"], "'sasl.jaas.config'"),
    (["-X", "=SEKRET"], "expected property=value"),
])
def test_usage_errors_name_a_property_without_its_value(home, args, name):
    proc = run("kcat-lite", "-C", "-t", "x", *args, *UNREACHABLE)
    assert_usage(proc, "kcat-lite", name)
    assert "SEKRET" not in proc.stderr


@pytest.mark.parametrize("line, why", [
    ("ssl.truststore.location=/etc/x.jks", "property ssl.truststore.location: "),
    ("security.protocol=SASL_SSLX", "property security.protocol: "),
])
@pytest.mark.parametrize("how", ["-F", "KCAT_CONFIG", "~/.config/kcat.conf"])
def test_bad_property_in_a_file_is_bad_data_at_its_line(home, monkeypatch, line, why, how):
    path = home / ".config" / "kcat.conf"
    path.parent.mkdir()
    path.write_text(f"# client\nclient.id=me\n{line}\n")
    args = []
    if how == "-F":
        args = ["-F", str(path)]
    elif how == "KCAT_CONFIG":
        monkeypatch.setenv("KCAT_CONFIG", str(path))
    proc = run("kcat-lite", "-C", "-t", "x", *args, "-X", "dump", *UNREACHABLE)
    assert proc.returncode == 65, proc.stderr
    assert proc.stderr.startswith(f"kcat-lite: {path}:3: {why}"), proc.stderr
    assert "--help" not in proc.stderr
    assert proc.stdout == ""


# librdkafka takes these as they are set and refuses them only when the
# client is made.
REFUSED_AT_CREATION = [
    ("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=NOSUCH\n",
     "Unsupported SASL mechanism: NOSUCH"),
    ("fetch.max.bytes=1000\nmessage.max.bytes=100000\n",
     "`fetch.max.bytes` must be >= `message.max.bytes`"),
]


@pytest.mark.parametrize("text, why", REFUSED_AT_CREATION)
@pytest.mark.parametrize("how", ["-F", "KCAT_CONFIG", "~/.config/kcat.conf"])
def test_a_file_refused_at_the_clients_creation_is_named(home, monkeypatch, text, why, how):
    path = home / ".config" / "kcat.conf"
    path.parent.mkdir()
    path.write_text("client.id=me\n" + text)
    args = []
    if how == "-F":
        args = ["-F", str(path)]
    elif how == "KCAT_CONFIG":
        monkeypatch.setenv("KCAT_CONFIG", str(path))
    proc = run("kcat-lite", "-C", "-t", "x", *args, *UNREACHABLE)
    assert proc.returncode == 65, proc.stderr
    assert proc.stderr == f"kcat-lite: {path}: {why}\n"


@pytest.mark.parametrize("text, why", REFUSED_AT_CREATION)
def test_the_same_from_the_command_line_stays_a_usage_error(home, tmp_path, text, why):
    # A property file that plays no part in it is not blamed.
    conf = tmp_path / "client.properties"
    conf.write_text("client.id=me\n")
    xs = [a for line in text.splitlines() for a in ("-X", line)]
    proc = run("kcat-lite", "-C", "-t", "x", "-F", conf, *xs, *UNREACHABLE)
    assert_usage(proc, "kcat-lite", why)
    assert str(conf) not in proc.stderr


def test_a_file_and_the_command_line_refused_together_is_a_usage_error(home, tmp_path):
    conf = tmp_path / "client.properties"
    conf.write_text("sasl.mechanism=NOSUCH\n")
    proc = run("kcat-lite", "-C", "-t", "x", "-F", conf, "-X", "security.protocol=SASL_PLAINTEXT",
               *UNREACHABLE)
    assert_usage(proc, "kcat-lite", "Unsupported SASL mechanism: NOSUCH")


def config_file_env(home, how, path):
    """The arguments, environment and name in messages that make kcat-lite
    read `path` as `how` says."""
    if how == "-F":
        return ["-F", str(path)], {}, path
    if how == "KCAT_CONFIG":
        return [], {"KCAT_CONFIG": str(path)}, path
    if how == "SC_KAFKA_PASSWORD_FILE":
        return [], {"SC_KAFKA_PASSWORD_FILE": str(path)}, path
    conf = home / ".config" / "kcat.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.symlink_to(path)
    return [], {}, conf


HOWS = ["-F", "KCAT_CONFIG", "~/.config/kcat.conf", "SC_KAFKA_PASSWORD_FILE"]


@pytest.mark.parametrize("how", HOWS)
def test_a_fifo_for_a_file_is_refused_at_once(home, tmp_path, how):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args, env, name = config_file_env(home, how, fifo)
    proc = run("kcat-lite", "-C", "-t", "x", *args, "-X", "dump", *UNREACHABLE, env=env,
               timeout=20)
    assert proc.returncode == 65, proc.stderr
    assert f"{name}: not a regular file" in proc.stderr


@pytest.mark.parametrize("how", HOWS)
def test_a_device_for_a_file_is_refused(home, how):
    args, env, name = config_file_env(home, how, "/dev/zero")
    proc = run("kcat-lite", "-C", "-t", "x", *args, "-X", "dump", *UNREACHABLE, env=env,
               timeout=20)
    assert proc.returncode == 65, proc.stderr
    assert f"{name}: not a regular file" in proc.stderr


@pytest.mark.parametrize("how", HOWS)
def test_a_file_over_1_mib_is_refused(home, tmp_path, how):
    big = tmp_path / "big.properties"
    with open(big, "w") as f:
        f.write("client.id=x\n")
        f.truncate(1024 * 1024 + 1)
    args, env, name = config_file_env(home, how, big)
    proc = run("kcat-lite", "-C", "-t", "x", *args, "-X", "dump", *UNREACHABLE, env=env,
               timeout=20)
    assert proc.returncode == 65, proc.stderr
    assert f"{name}: larger than 1 MiB" in proc.stderr


def test_a_file_of_1_mib_is_read(home, tmp_path):
    ok = tmp_path / "ok.properties"
    line = "# " + "x" * 1021 + "\n"
    ok.write_text(line * 1023 + "client.id=from-the-file\n" + "#" * (1024 - 24 - 1) + "\n")
    assert ok.stat().st_size == 1024 * 1024
    proc = run("kcat-lite", "-C", "-t", "x", "-F", ok, "-X", "dump", *UNREACHABLE)
    assert proc.returncode == 0, proc.stderr
    assert "client.id = from-the-file\n" in proc.stdout


def test_a_nul_byte_in_the_password_file_is_refused(home, tmp_path):
    pw = tmp_path / "pw"
    pw.write_bytes(b"abc\0def\n")
    proc = run("kcat-lite", "-C", "-t", "x", "-X", "dump", *UNREACHABLE,
               env={"SC_KAFKA_PASSWORD_FILE": str(pw)})
    assert proc.returncode == 65, proc.stderr
    assert f"{pw}: a NUL byte in the password" in proc.stderr


def test_a_default_file_that_cannot_be_looked_at_is_not_passed_over(home):
    # ~/.config a link to itself: the file may be there, and is not taken
    # for missing
    (home / ".config").symlink_to(home / ".config")
    proc = run("kcat-lite", "-C", "-t", "x", "-X", "dump", *UNREACHABLE, timeout=20)
    assert proc.returncode != 0 and proc.stdout == "", proc.stderr
    assert f"{home}/.config/kcat.conf: Too many levels of symbolic links" in proc.stderr


def dump(*args, env=None):
    """-X dump's properties; no -b, so that a file's brokers are seen."""
    proc = run("kcat-lite", "-C", "-t", "x", *args, "-X", "dump", "-q", env=env)
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(" = ", 1) for line in proc.stdout.splitlines() if " = " in line)


def test_java_properties_continuations_and_escapes(home, tmp_path):
    conf = tmp_path / "client.properties"
    conf.write_text(
        "! Java client properties\n"
        "bootstrap.servers=pkc-1.example.com\\:9092\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n"
        "    username=\"alice\" \\\n"
        "    password=\"p\\\\\\\\w\";\n"
        "sasl.mechanism PLAIN\n"
        "client.id : caf\\u00e9\\tone\n"
        "client.rack=a\\\n"
        "    b\n")
    d = dump("-F", conf)
    assert d["sasl.username"] == "alice" and d["sasl.password"] == "[hidden]"
    assert d["metadata.broker.list"] == "pkc-1.example.com:9092"
    assert d["sasl.mechanisms"] == "PLAIN"
    assert d["client.id"] == "café\tone"
    assert d["client.rack"] == "ab"


def test_a_nul_byte_in_a_property_file_is_refused_at_its_line(home, tmp_path):
    conf = tmp_path / "client.properties"
    conf.write_bytes(b"client.id=x\nsasl.password=abc\0def\n")
    proc = run("kcat-lite", "-C", "-t", "x", "-F", conf, "-X", "dump", *UNREACHABLE)
    assert proc.returncode == 65, proc.stderr
    assert proc.stderr == f"kcat-lite: {conf}:2: a NUL byte in the line\n"


@pytest.mark.parametrize("verbose", [[], ["-v", "-v"]])
def test_a_refused_token_does_not_quote_the_oauthbearer_config(verbose, home):
    # librdkafka's message for an unreadable sasl.oauthbearer.config names
    # the field and gives its value: "non-integral 'lifeSeconds=': SEKRET".
    # The message now ends at the property's name; the status stays 77.
    proc = run("kcat-lite", "-L", "-b", "127.0.0.1:1", "-m", "2", *verbose,
               "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanism=OAUTHBEARER",
               "-X", "enable.sasl.oauthbearer.unsecure.jwt=true",
               "-X", "sasl.oauthbearer.config=principal=bob lifeSeconds=SEKRET", timeout=60)
    assert proc.returncode == 77, proc.stderr
    assert "SEKRET" not in proc.stderr
    assert "sasl.oauthbearer.config: (not shown" in proc.stderr


def test_dump_shows_the_idempotence_the_producer_is_made_with(home):
    # -X dump printed enable.idempotence=true for a producer that acks=1
    # makes without it
    def producer_dump(*args):
        proc = run("kcat-lite", "-P", "-t", "x", *UNREACHABLE, *args, "-X", "dump")
        assert proc.returncode == 0, proc.stderr
        return dict(line.split(" = ", 1) for line in proc.stdout.splitlines() if " = " in line)
    assert producer_dump()["enable.idempotence"] == "true"
    d = producer_dump("-X", "acks=1")
    assert d["enable.idempotence"] == "false" and d["request.required.acks"] == "1"
    assert producer_dump("-X", "max.in.flight=6")["enable.idempotence"] == "false"
    assert producer_dump("--no-idempotence")["enable.idempotence"] == "false"
    # found without TLS set up: a CA that cannot be read does not hide it
    d = producer_dump("-X", "acks=1", "-X", "security.protocol=SSL",
                      "-X", "ssl.ca.location=/nonexistent")
    assert d["enable.idempotence"] == "false" and d["security.protocol"] == "ssl"


def test_acks_1_drops_the_default_idempotence_not_a_transactional_ones(home):
    # acks=1 cannot go with idempotence: kcat-lite's default gives way (and
    # says so), but a transactional producer is idempotent whatever is said
    proc = run("kcat-lite", "-P", "-t", "t", *UNREACHABLE[:-1], "-X", "acks=1", input="a\n")
    assert proc.returncode == 69, proc.stderr
    assert "producing without idempotence" in proc.stderr
    proc = run("kcat-lite", "-P", "-t", "t", *UNREACHABLE[:-1], "-X", "acks=1",
               "-X", "transactional.id=x", input="a\n")
    assert_usage(proc, "kcat-lite", "`acks` must be set to `all`")
    assert "producing without idempotence" not in proc.stderr


# ---- kcat's own readings of the command line ---------------------------------


@pytest.mark.parametrize("args", [
    ["-C", "-X", "dump"],                       # -X dump needs no topic, as in kcat
    ["-G", "g", "-X", "dump"],
    ["-X", "dump", "-C", "-t", "x", "-J", "-f", "%s\n"],    # -J wins over -f
    ["-P", "-t", "x", "-l", "-X", "dump"],      # -l without a file: stdin, as before
    ["-C", "-t", "x", "-l", "-X", "dump"],      # -l means nothing to a consumer
    ["-C", "-t", "x", "-c", "0", "-X", "dump"],  # -c 0: no limit
    ["-P", "-C", "-t", "x", "-X", "dump"],      # the last mode flag wins
    ["kcat", "-C", "-t", "x", "-X", "dump"],    # an image's leading program name
])
def test_what_kcat_takes_is_taken(home, args):
    proc = run("kcat-lite", *args, *UNREACHABLE)
    assert proc.returncode == 0, proc.stderr
    assert "# Global config" in proc.stdout, proc.stdout


def test_dump_shows_the_mode_the_last_flag_chose(home):
    def dump(*args):
        proc = run("kcat-lite", *args, "-t", "x", *UNREACHABLE, "-X", "dump")
        assert proc.returncode == 0, proc.stderr
        return dict(line.split(" = ", 1) for line in proc.stdout.splitlines() if " = " in line)
    # a producer's defaults (idempotence) only when -P came last
    assert dump("-C", "-P").get("enable.idempotence") == "true"
    assert dump("-P", "-C").get("enable.idempotence") == "false"


def test_x_help_lists_the_properties(home):
    proc = run("kcat-lite", "-X", "help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == run("kcat-lite", "-X", "list").stdout
    assert "bootstrap.servers" in proc.stdout


def test_l_with_two_files_is_a_usage_error(home, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).write_text("x\n")
    assert_usage(run("kcat-lite", "-P", "-t", "x", "-l", tmp_path / "a", tmp_path / "b",
                     *UNREACHABLE), "kcat-lite", "-l takes one file")


def test_a_leading_kcat_is_dropped_only_before_options(home):
    # an image's leading program name goes; a first argument kcat followed
    # by another argument is an argument (a file, for a producer)
    assert_usage(run("kcat-lite", "kcat", "stray", "-C", "-t", "x", *UNREACHABLE), "kcat-lite",
                 "unexpected argument 'kcat'")
    proc = run("kcat-lite", "kcat", "-C", "-t", "x", "-X", "dump", *UNREACHABLE)
    assert proc.returncode == 0 and "# Global config" in proc.stdout, proc.stderr
