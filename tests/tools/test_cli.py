"""Command-line conventions shared by every tool, and faults no cluster is needed for."""
import ctypes.util
import json
import os
import re
import socket
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT, assert_usage, free_port, run, run_on_a_pty, shell_split, tool

TOOLS = ["sc-status", "sc-submit", "sc-kill", "sc-fetch"]


@pytest.mark.parametrize("name", TOOLS)
def test_help_goes_to_stdout_and_exits_0(name):
    proc = run(name, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"Usage: {name} ")
    assert "--show-config" in proc.stdout
    assert "Exit status" in proc.stdout
    assert proc.stderr == ""
    assert run(name, "-h").stdout == proc.stdout


@pytest.mark.parametrize("name", TOOLS)
def test_version(name):
    proc = run(name, "--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"{name} (clusterops) ")
    assert run(name, "-V").stdout == proc.stdout


@pytest.mark.parametrize("name", ["sc-status", "sc-kill"])
def test_unknown_option_is_usage_error(name):
    assert_usage(run(name, "--no-such-option"), name, "unrecognized option '--no-such-option'")


@pytest.mark.parametrize("args, why", [
    (["--timeout", "0"], "invalid timeout '0'"),
    (["--timeout", "soon"], "invalid timeout 'soon'"),
    (["--master", "localhost:7077"], "invalid master URL 'localhost:7077'"),
])
def test_bad_configuration_flag_is_usage_error(args, why):
    assert_usage(run("sc-status", *args), "sc-status", why)


@pytest.mark.parametrize("argv", [
    ["sc-status", "--workers", "+2"],
    ["sc-status", "--wait= 1"],
    ["sc-kill", "--wait", "1e1"],
    ["sc-fetch", "--jobs", "+4"],
    ["sc-fetch", "--retries", " 1"],
    ["sc-events-prune", "--keep", " 3"],
    ["sc-events-prune", "--lock-wait", "0x1"],
    ["sc-logs", "--tail", "+5"],
])
def test_numeric_flags_take_digits_only(argv):
    # strtol and strtod alone take leading blanks, a sign, an exponent, hex.
    option, _, value = argv[1].partition("=")
    value = value or argv[2]
    assert_usage(run(*argv), argv[0], f"invalid {option} '{value}'")


@pytest.mark.parametrize("value", [" 5", "+5", "1e1", "0x10", "inf", "5s"])
def test_configured_numbers_take_digits_only(value, no_user_config, tmp_path):
    # as the flags do: --timeout, SC_TIMEOUT and a configuration file's
    # extract_max_members took blanks, a sign, an exponent or hex
    assert_usage(run("sc-status", "--timeout", value, "--show-config"), "sc-status",
                 f"invalid timeout '{value}'")
    proc = run("sc-status", "--show-config", env={"SC_TIMEOUT": value})
    assert proc.returncode == 64 and f"SC_TIMEOUT: invalid timeout '{value}'" in proc.stderr
    if value == " 5":
        return  # a file's values lose their blanks
    conf = tmp_path / "clusterops.conf"
    conf.write_text(f"extract_max_members = {value}\n")
    proc = run("sc-fetch", "--show-config", env={"SC_CONFIG": str(conf)})
    assert proc.returncode == 65 and f"invalid extract_max_members '{value}'" in proc.stderr, \
        proc.stderr


@pytest.mark.parametrize("value", [".5", "2.", "007"])
def test_a_timeout_takes_what_the_flags_take(value, no_user_config):
    # --wait .5 was taken while --timeout .5 and SC_TIMEOUT=.5 were refused
    proc = run("sc-status", "--timeout", value, "--show-config")
    assert f"timeout\t{value}\tflag\n" in proc.stdout and proc.returncode == 0, proc.stderr
    proc = run("sc-status", "--show-config", env={"SC_TIMEOUT": value})
    assert f"timeout\t{value}\tenv SC_TIMEOUT\n" in proc.stdout and proc.returncode == 0, \
        proc.stderr
    assert_usage(run("sc-status", "--timeout", ".", "--show-config"), "sc-status",
                 "invalid timeout '.'")


@pytest.mark.parametrize("argv, why", [
    (["sc-kill"], "nothing to kill"),
    (["sc-kill", "--all", "app-1"], "--all is only meaningful with --name"),
    (["sc-submit"], "no application given"),
    (["sc-submit", "--wait", "x.py"], "--wait and --json are only meaningful with --rest"),
    (["sc-status", "--workers", "2"], "--workers is only meaningful with --wait"),
    (["sc-status", "extra"], "unexpected argument 'extra'"),
    (["sc-submit", "--rest", "app.jar"], "--rest needs --class"),
])
def test_usage_errors_per_tool(argv, why):
    assert_usage(run(*argv), argv[0], why)


def test_show_config_precedence(no_user_config, tmp_path):
    conf = tmp_path / "clusterops.conf"
    conf.write_text("# test\nmaster = spark://filehost:7077\nbrokers = filebroker:9092\n"
                    "events_dir = /file/events\n")
    env = {"SC_CONFIG": str(conf), "SC_BROKERS": "envbroker:9092",
           "SC_MASTER": "", "SC_MASTER_UI": "", "SC_EVENTS_DIR": "", "SC_REST_URL": ""}
    proc = run("sc-status", "--show-config", "--timeout", "7", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in proc.stdout.splitlines()}
    assert rows["master"] == ["spark://filehost:7077", f"file {conf}"]
    assert rows["master_ui"] == ["http://filehost:8080", "derived"]
    assert rows["rest_url"] == ["http://filehost:6066", "derived"]
    assert rows["brokers"] == ["envbroker:9092", "env SC_BROKERS"]
    assert rows["events_dir"] == ["/file/events", f"file {conf}"]
    assert rows["timeout"] == ["7", "flag"]
    assert rows["executor_memory"] == ["512m", "default"]


def test_bad_config_file_names_file_and_line(no_user_config, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("master = spark://h:7077\nthis is not a setting\n")
    proc = run("sc-status", "--show-config", env={"SC_CONFIG": str(conf)})
    assert proc.returncode == 65
    assert f"{conf}:2:" in proc.stderr


def test_a_config_file_that_cannot_be_looked_at_is_not_passed_over(no_user_config, tmp_path):
    # $XDG_CONFIG_HOME/clusterops a link to itself: the user's file may be
    # there; /etc/clusterops.conf, which may name another cluster, is not
    # read in its place
    (tmp_path / "xdg").mkdir()
    (tmp_path / "xdg" / "clusterops").symlink_to(tmp_path / "xdg" / "clusterops")
    proc = run("sc-status", "--show-config")
    assert proc.returncode == 74 and proc.stdout == "", proc.stderr
    assert f"{tmp_path}/xdg/clusterops/config: Too many levels of symbolic links" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="another user's view needs root")
def test_a_config_dir_the_user_may_not_search_is_an_error(tmp_path):
    top = tempfile.mkdtemp(prefix="co-conf-")
    try:
        os.chmod(top, 0o755)
        conf_dir = os.path.join(top, "clusterops")
        os.mkdir(conf_dir)
        with open(os.path.join(conf_dir, "config"), "w") as f:
            f.write("timeout = 3\n")
        os.chmod(os.path.join(conf_dir, "config"), 0o644)
        os.chown(conf_dir, 65534, 65534)
        os.chmod(conf_dir, 0o000)
        env = {k: v for k, v in os.environ.items() if k not in ("SC_CONFIG", "SC_TIMEOUT")}
        env["XDG_CONFIG_HOME"] = top
        proc = subprocess.run([tool("sc-status"), "--show-config"], capture_output=True,
                              text=True, env=env, timeout=30,
                              preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        assert proc.returncode == 74 and proc.stdout == "", proc.stderr
        assert f"{conf_dir}/config: Permission denied" in proc.stderr
    finally:
        shutil.rmtree(top)


def test_missing_explicit_config_file(no_user_config, tmp_path):
    proc = run("sc-kill", "app-1", env={"SC_CONFIG": str(tmp_path / "missing.conf")})
    assert proc.returncode == 74
    assert "missing.conf" in proc.stderr


@pytest.mark.parametrize("kind", ["fifo", "device", "nul", "huge"])
def test_config_file_that_is_not_one(no_user_config, tmp_path, kind):
    # a FIFO or /dev/zero in the config file's place would hang the tool, or
    # fill its memory, before it did anything; a NUL byte would cut a line
    conf = tmp_path / "conf"
    if kind == "fifo":
        os.mkfifo(conf)
    elif kind == "device":
        conf = "/dev/zero"
    elif kind == "nul":
        conf.write_bytes(b"master = spark://h:7077\0ignored\n")
    else:
        conf.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    proc = run("sc-status", "--show-config", env={"SC_CONFIG": str(conf)}, timeout=10)
    assert proc.returncode == 65, proc.stderr
    assert f"{conf}" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("name", TOOLS + ["sc-logs", "sc-events-prune", "kcat-lite"])
def test_help_and_version_whatever_the_configuration(no_user_config, tmp_path, name):
    # the way out of a bad configuration is read in --help: it comes first
    conf = tmp_path / "bad.conf"
    conf.write_text("this is not a setting\n")
    env = {"SC_CONFIG": str(conf)}
    for flag in ("--help", "--version"):
        proc = run(name, flag, env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout and proc.stderr == ""
    proc = run(name, "--show-config", env=env)
    assert proc.returncode == 65 and f"{conf}:1:" in proc.stderr, proc.stderr


def test_messages_never_show_a_url_password(no_user_config, tmp_path):
    # a URL's user name and password are never printed, whoever made the
    # message: the configuration's check, or a transfer that failed
    proc = run("sc-status", "--show-config",
               env={"SC_MASTER_UI": "http://alice:SEKRET@127.0.0.1:8080"})
    assert proc.returncode == 64, proc.stderr
    assert "SEKRET" not in proc.stderr and "alice" not in proc.stderr
    assert "http://***@127.0.0.1:8080" in proc.stderr
    assert "user name or password" in proc.stderr
    proc = run("sc-fetch", "-q", "-d", tmp_path, f"http://bob:PW2@127.0.0.1:{free_port()}/f",
               env={"SC_TIMEOUT": "1"}, timeout=30)
    assert proc.returncode == 69, proc.stderr
    assert "PW2" not in proc.stderr and "bob" not in proc.stderr
    assert "http://***@127.0.0.1:" in proc.stderr


# ---- sc-submit builds the spark-submit command without touching user arguments


@pytest.fixture
def fake_spark_home(tmp_path):
    """A SPARK_HOME whose spark-submit is never run: only --dry-run is used."""
    bindir = tmp_path / "spark" / "bin"
    bindir.mkdir(parents=True)
    script = bindir / "spark-submit"
    script.write_text("#!/bin/sh\nexit 99\n")
    script.chmod(0o755)
    events = tmp_path / "events"
    events.mkdir()
    return {"SPARK_HOME": str(tmp_path / "spark"), "SC_EVENTS_DIR": str(events),
            "SC_MASTER": "spark://m.example:7077", "SC_EXECUTOR_MEMORY": "",
            "SC_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def scripted_spark_home(tmp_path, body):
    """A SPARK_HOME whose spark-submit is the shell script body, and a
    master that refuses connections (nothing on the cluster is asked for)."""
    bindir = tmp_path / "spark" / "bin"
    bindir.mkdir(parents=True)
    script = bindir / "spark-submit"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    port = free_port()
    return {"SPARK_HOME": str(tmp_path / "spark"), "SC_EVENTS_DIR": str(tmp_path),
            "SC_MASTER": f"spark://127.0.0.1:{port}", "SC_MASTER_UI": f"http://127.0.0.1:{port}",
            "SC_DRIVER_LOG_DIR": "", "SC_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


@pytest.mark.skipif(os.geteuid() != 0, reason="making another user's directory needs root")
def test_driver_log_is_not_kept_in_another_users_directory_in_tmp(tmp_path):
    # events in /tmp/spark-events put the driver logs in /tmp/driver-logs,
    # which any user can make first, set-group-ID to their own group: the
    # driver's output (and its secrets) would be theirs to read
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    theirs = shared / "driver-logs"
    theirs.mkdir()
    os.chown(theirs, 4321, 4321)
    theirs.chmod(0o2777)
    env = scripted_spark_home(tmp_path, "echo password=hunter2\n")
    env["SC_DRIVER_LOG_DIR"] = str(theirs)
    proc = run("sc-submit", "job.py", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "password=hunter2" in proc.stdout
    assert "driver log not kept" in proc.stderr and "another user's" in proc.stderr
    assert list(theirs.iterdir()) == []
    # the user's own directory there is used
    os.chown(theirs, os.geteuid(), os.getegid())
    proc = run("sc-submit", "job.py", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "driver log not kept" not in proc.stderr


def test_output_reaches_a_terminal_without_its_control_characters(tmp_path):
    # Spark's log lines name the hosts and ids that workers registered with,
    # and any host can register one: an OSC 52 there would set the clipboard
    # of whoever submits. On a terminal the controls are '?' (tab, newline
    # and carriage return kept), a C1 cut between two reads too, and a
    # character cut so is whole; in a pipe, and in the driver log, the bytes
    # are as they came.
    body = ("printf 'out\\033]52;c;aGk=\\007\\ttab\\r\\n'\n"
            "printf 'INFO Executor added on worker-1 (\\033]0;x\\007h:1) \\302' >&2\n"
            "sleep 0.3\nprintf '\\2332J caf\\303' >&2\nsleep 0.3\nprintf '\\251\\n' >&2\n")
    env = scripted_spark_home(tmp_path, body)
    env["SC_DRIVER_LOG_DIR"] = str(tmp_path / "logs")
    (tmp_path / "logs").mkdir()
    status, shown, _ = run_on_a_pty(["sc-submit", "job.py"], env, stderr_too=True)
    assert status == 0, shown
    assert b"\x1b" not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown, shown
    assert b"out?]52;c;aGk=?\ttab\r\n" in shown, shown
    assert "INFO Executor added on worker-1 (?]0;x?h:1) ?2J café\n".encode() in shown, shown
    proc = subprocess.run([tool("sc-submit"), "job.py"], capture_output=True,
                          env={**os.environ, **env}, timeout=30)
    assert proc.stdout == b"out\x1b]52;c;aGk=\x07\ttab\r\n"
    assert "(\x1b]0;x\x07h:1) \x9b2J café\n".encode() in proc.stderr
    logs = [log.read_bytes() for log in (tmp_path / "logs").iterdir()]
    assert len(logs) == 2 and all(b"\x1b]0;x\x07h:1) \xc2\x9b2J" in log for log in logs)


def test_deadline_holds_while_nobody_reads_the_output(tmp_path):
    # cron's mail, a log shipper that stalls: the pipe sc-submit writes the
    # job's output to is never read; the deadline still stops the job
    env = scripted_spark_home(tmp_path, 'head -c 300000 /dev/zero | tr "\\0" x\nexec sleep 60\n')
    err = tmp_path / "stderr"
    started = time.monotonic()
    with open(err, "w") as e:
        proc = subprocess.Popen([tool("sc-submit"), "--deadline=2s", "job.py"],
                                stdout=subprocess.PIPE, stderr=e, env={**os.environ, **env})
        try:
            status = proc.wait(timeout=40)
        finally:
            proc.kill()
            proc.stdout.close()
    took = time.monotonic() - started
    assert status == 75, err.read_text()
    assert "deadline of 2s reached" in err.read_text()
    assert took < 20, took


@pytest.mark.parametrize("left, status", [
    ("sleep 30", 3),                                        # quiet
    ("while :; do echo bg >&2; sleep 0.2; done", 0),        # writing on, never quiet
])
def test_a_job_that_leaves_something_running_with_its_output_ends_when_it_does(tmp_path, left,
                                                                             status):
    # spark-submit exits at once, leaving a process that holds its stdout
    # and stderr open: sc-submit ends with spark-submit's status, within
    # seconds even when that process writes on (it ran until it ended)
    pid = tmp_path / "bg.pid"
    env = scripted_spark_home(tmp_path, f"echo done\n({left}) &\necho $! > {pid}\n"
                              f"exit {status}\n")
    started = time.monotonic()
    try:
        proc = run("sc-submit", "job.py", env=env, timeout=60)
    finally:
        if pid.exists():
            os.kill(int(pid.read_text()), 9)
    assert proc.returncode == status, proc.stderr
    assert proc.stdout == "done\n"
    assert time.monotonic() - started < 15


@pytest.mark.parametrize("redirect, status, why", [
    (">/dev/full", 0, "No space left on device"),
    (">&-", 0, "Bad file descriptor"),
    (">/dev/full", 3, "No space left on device"),
])
def test_output_that_cannot_be_written_is_said_and_is_74(tmp_path, redirect, status, why):
    # under cron onto a full disk: the job's output is lost, and a job that
    # succeeded does not end with 0 as if it had been shown
    env = scripted_spark_home(tmp_path, f"echo result\necho more\nexit {status}\n")
    proc = subprocess.run(["sh", "-c", f'exec "$@" {redirect}', "sh", tool("sc-submit"),
                           "job.py"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == (74 if status == 0 else status), proc.stderr
    assert f"sc-submit: standard output: {why}; the job's output is " in proc.stderr
    # a reader gone (a pipe into head) is the job's to meet, as without sc-submit
    proc = subprocess.run(["sh", "-c", '"$@" | head -c1 >/dev/null', "sh",
                           tool("sc-submit"), "job.py"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})
    assert "standard output" not in proc.stderr


def test_driver_log_keeps_a_line_whole_when_the_other_stream_writes_in_its_middle(tmp_path):
    # spark-submit relays a Python driver's output a kilobyte at a time: a
    # line cut there took stderr's lines into its middle in the driver log
    logs = tmp_path / "logs"
    logs.mkdir()
    env = scripted_spark_home(tmp_path, "printf 'first half, '\nsleep 0.3\n"
                              "echo 'a line on stderr' >&2\nsleep 0.3\necho 'second half'\n")
    env["SC_DRIVER_LOG_DIR"] = str(logs)
    proc = run("sc-submit", "job.py", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "first half, second half\n"
    [log] = list(logs.iterdir())
    assert sorted(log.read_text().splitlines()) == ["a line on stderr",
                                                    "first half, second half"]


def test_closed_stderr_still_gives_the_id(tmp_path):
    # under cron with 2>&-: spark-submit's stderr is still read for the id,
    # and the job is not made to meet a broken pipe
    ids = tmp_path / "app.id"
    env = scripted_spark_home(
        tmp_path, "i=0\nwhile [ $i -lt 2000 ]; do echo \"26/12/04 10:00:00 INFO Noise: $i\" >&2; "
        "i=$((i+1)); done\n"
        "echo '26/12/04 10:00:01 INFO StandaloneSchedulerBackend: Connected to Spark cluster "
        "with app ID app-20261204100001-0042' >&2\necho result\n")
    proc = subprocess.run(["sh", "-c", 'exec "$@" 2>&-', "sh", tool("sc-submit"), "-i", str(ids),
                           "job.py"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert proc.returncode == 0
    assert proc.stdout == "result\n"
    assert ids.read_text() == "app-20261204100001-0042\n"


def test_dry_run_adds_cluster_defaults(fake_spark_home):
    proc = run("sc-submit", "-n", "jobs/wordcount.py", "in.txt", env=fake_spark_home)
    assert proc.returncode == 0, proc.stderr
    argv = shell_split(proc.stdout)
    events = fake_spark_home["SC_EVENTS_DIR"]
    assert argv == [fake_spark_home["SPARK_HOME"] + "/bin/spark-submit",
                    "--master", "spark://m.example:7077", "--name", "wordcount",
                    "--executor-memory", "512m",
                    "--conf", "spark.eventLog.enabled=true",
                    "--conf", f"spark.eventLog.dir=file://{events}",
                    "--conf", "spark.driver.log.persistToDfs.enabled=false",
                    "jobs/wordcount.py", "in.txt"]


def test_dry_run_keeps_what_the_user_set(fake_spark_home):
    proc = run("sc-submit", "--dry-run", "--master", "spark://other:7077", "--name", "mine",
               "--executor-memory", "2g", "--conf", "spark.eventLog.enabled=false",
               "--conf=spark.eventLog.dir=file:///elsewhere", "job.py", "--name", "x",
               env=fake_spark_home)
    assert proc.returncode == 0, proc.stderr
    argv = shell_split(proc.stdout)
    # sc-submit's own --master is consumed (it is the configuration flag) and
    # re-added once; the user's spark-submit options pass untouched. Spark's
    # own driver-log persistence is off: sc-submit keeps the driver's output.
    assert argv[1:] == ["--master", "spark://other:7077",
                        "--conf", "spark.driver.log.persistToDfs.enabled=false",
                        "--name", "mine",
                        "--executor-memory", "2g", "--conf", "spark.eventLog.enabled=false",
                        "--conf=spark.eventLog.dir=file:///elsewhere", "job.py", "--name", "x"]


def test_dry_run_application_arguments_are_untouched(fake_spark_home):
    tricky = ["a b", "it's", '"quoted"', "$(touch /tmp/pwned)", "*", "--master", "",
              "tab\there", "new\nline", "--", "-n"]
    proc = run("sc-submit", "-n", "--", "--verbose", "job.py", *tricky, env=fake_spark_home)
    assert proc.returncode == 0, proc.stderr
    argv = shell_split(proc.stdout)
    assert argv[-len(tricky) - 2:] == ["--verbose", "job.py", *tricky]
    assert "--verbose" not in argv[1:-len(tricky) - 2]


def test_spark_submit_missing(fake_spark_home, tmp_path):
    env = dict(fake_spark_home, SPARK_HOME=str(tmp_path / "nowhere"))
    proc = run("sc-submit", "job.py", env=env)
    assert proc.returncode == 69
    assert "nowhere/bin/spark-submit" in proc.stderr


def test_missing_events_dir_is_reported_before_spark_runs(fake_spark_home, tmp_path):
    env = dict(fake_spark_home, SC_EVENTS_DIR=str(tmp_path / "no-events"))
    proc = run("sc-submit", "job.py", env=env)
    assert proc.returncode == 73
    assert "no-events" in proc.stderr


# ---- the master unreachable, or answering nonsense


def test_every_tool_fails_fast_when_master_is_down(dead_master):
    url = dead_master["SC_MASTER_UI"] + "/json/"
    for args in (["sc-status"], ["sc-status", "-J"], ["sc-kill", "app-1"],
                 ["sc-kill", "--driver", "driver-1"]):
        start = time.monotonic()
        proc = run(*args, env=dead_master)
        assert proc.returncode == 69, (args, proc.stderr)
        assert url in proc.stderr and "refused" in proc.stderr.lower(), proc.stderr
        assert time.monotonic() - start < 10
    proc = run("sc-submit", "--rest", "--class", "Pi", str(ROOT / "README.md"),
               env=dead_master)
    assert proc.returncode == 69
    assert dead_master["SC_REST_URL"] + "/v1/submissions/create" in proc.stderr


def test_wait_gives_up_with_75(dead_master):
    start = time.monotonic()
    proc = run("sc-status", "--wait=2", env=dead_master)
    assert proc.returncode == 75
    assert "not ready after 2 s" in proc.stderr
    assert time.monotonic() - start < 10


def test_malformed_json_is_76(stub):
    stub.behaviour = lambda h: h.send(200, b'{"url": "spark://x", "status": ALIVE')
    for args in (["sc-status"], ["sc-kill", "app-1"]):
        proc = run(*args, env=stub.env)
        assert proc.returncode == 76, proc.stderr
        assert "malformed JSON" in proc.stderr and "/json/" in proc.stderr


def master_json():
    return (ROOT / "tests" / "fixtures" / "master-4.3-busy.json").read_bytes()


def test_master_json_in_small_packets(stub):
    # /json/ is read as it arrives: cut anywhere by the network, a number
    # in the middle of its digits included, it reads as it does whole
    body = master_json()
    stub.behaviour = lambda h: h.send(200, body)
    whole = run("sc-status", "-a", "-J", env=stub.env)
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout.count("\n") > 5
    number = body.index(b"1795624622668") + 6

    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        cuts = sorted({0, 1, number, len(body)} | set(range(0, len(body), 211)))
        for a, b in zip(cuts, cuts[1:]):
            h.wfile.write(body[a:b])
            h.wfile.flush()
            time.sleep(0.01)

    stub.behaviour = trickle
    proc = run("sc-status", "-a", "-J", env=stub.env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == whole.stdout


def test_master_json_cut_short_is_read_again(stub):
    # a reply that breaks off halfway is asked for again, and the half that
    # came first is not counted twice
    body = master_json()
    whole = json.loads(body)
    stub.behaviour = lambda h: h.send(200, body)
    expected = run("sc-status", "-a", "-J", env=stub.env).stdout

    def cut_once(h):
        if sum(1 for r in stub.requests if r[1].startswith("/json")) > 1:
            return h.send(200, body)
        h.send_half(body)

    stub.requests.clear()
    stub.behaviour = cut_once
    proc = run("sc-status", "-a", "-J", env=stub.env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected
    apps = [json.loads(line) for line in proc.stdout.splitlines()
            if json.loads(line)["type"] == "app"]
    assert len(apps) == len(whole["activeapps"]) + len(whole["completedapps"])
    assert sum(1 for r in stub.requests if r[1].startswith("/json")) == 2


def test_tsv_rows_keep_their_fields_whatever_the_names(stub):
    # a name with tabs and newlines, and an empty user, from a hostile
    # master: each TSV row still has its kind's fields
    doc = json.loads(master_json())
    doc["activeapps"][0]["name"] = "a\tb\nc\r\rd\t"
    doc["activeapps"][0]["user"] = ""
    stub.behaviour = lambda h: h.send(200, json.dumps(doc).encode())
    proc = run("sc-status", "-a", env=stub.env)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    fields = {"master": 7, "worker": 7, "app": 9, "driver": 6}
    assert [r[0] for r in rows] == ["master", "worker", "worker", "app", "app", "driver"]
    assert all(len(r) == fields[r[0]] for r in rows), rows
    assert rows[3][2:4] == ["a b c  d ", "-"]


def test_json_of_the_wrong_shape_is_76(stub):
    stub.behaviour = lambda h: h.send(200, b'{"url": "spark://x", "status": "ALIVE", '
                                           b'"workers": {"not": "a list"}}')
    proc = run("sc-status", env=stub.env)
    assert proc.returncode == 76
    assert "'workers' is not an array" in proc.stderr
    stub.behaviour = lambda h: h.send(200, b"[1, 2]")
    assert run("sc-status", env=stub.env).returncode == 76


def test_server_errors_are_retried_then_69(stub):
    stub.behaviour = lambda h: h.send(500, b"oops", "text/plain")
    proc = run("sc-status", env=stub.env)
    assert proc.returncode == 69
    assert "HTTP 500" in proc.stderr
    assert len([r for r in stub.requests if r[1] == "/json/"]) == 3


def test_hanging_master_times_out_with_75(stub):
    stub.behaviour = lambda h: time.sleep(5)
    start = time.monotonic()
    proc = run("sc-status", "--timeout", "1", env=stub.env)
    assert proc.returncode == 75
    assert "timed out" in proc.stderr
    assert time.monotonic() - start < 4


def test_dropped_connection(stub):
    def drop(handler):
        handler.close_connection = True
        handler.connection.shutdown(2)
    stub.behaviour = drop
    proc = run("sc-status", env=stub.env)
    assert proc.returncode == 76, proc.stderr
    assert f"{stub.env['SC_MASTER_UI']}/json/: empty reply from server" in proc.stderr


def test_rest_error_reply(stub):
    body = json.dumps({"action": "ErrorResponse", "message": "Malformed request",
                       "serverSparkVersion": "4.3.0"}).encode()
    stub.behaviour = lambda h: h.send(400, body)
    proc = run("sc-submit", "--rest", "--class", "Pi", str(ROOT / "README.md"), env=stub.env)
    assert proc.returncode == 76
    assert "Malformed request" in proc.stderr


def test_rest_create_sends_a_spark_request(stub):
    reply = json.dumps({"action": "CreateSubmissionResponse", "success": True,
                        "submissionId": "driver-20260101000000-0007",
                        "serverSparkVersion": "4.3.0"}).encode()
    stub.behaviour = lambda h: h.send(200, reply)
    jar = ROOT / "README.md"
    proc = run("sc-submit", "--rest", "-J", "--class", "org.example.Main", "--conf",
               "spark.cores.max=1", "--driver-memory", "1g", str(jar), "a b", "$x",
               env=dict(stub.env, SC_EVENTS_DIR="/shared/events"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"submissionId": "driver-20260101000000-0007",
                                       "state": None}
    method, path, body = stub.requests[-1]
    assert (method, path) == ("POST", "/v1/submissions/create")
    req = json.loads(body)
    assert req["action"] == "CreateSubmissionRequest"
    assert req["mainClass"] == "org.example.Main"
    assert req["appResource"] == f"file:{jar}"
    assert req["appArgs"] == ["a b", "$x"]
    props = req["sparkProperties"]
    assert props["spark.submit.deployMode"] == "cluster"
    assert props["spark.cores.max"] == "1"
    assert props["spark.driver.memory"] == "1g"
    assert props["spark.executor.memory"] == "512m"
    assert props["spark.eventLog.dir"] == "file:///shared/events"


@pytest.mark.parametrize("message,status", [
    ("Malformed request: the main class is missing.", 1),
    # a standby master: no master is ALIVE, a later run may succeed
    ("Can only accept driver submissions in ALIVE state.", 75),
])
def test_rest_refused_submission(stub, message, status):
    reply = json.dumps({"action": "CreateSubmissionResponse", "success": False,
                        "message": message}).encode()
    stub.behaviour = lambda h: h.send(200, reply)
    proc = run("sc-submit", "--rest", "--class", "Pi", str(ROOT / "README.md"), env=stub.env)
    assert proc.returncode == status, proc.stderr
    assert message in proc.stderr


def test_kill_sends_csrf_token_and_confirms(stub):
    """The 4.3 kill form: the token from the master page goes with the kill."""
    state = {"killed": False}
    page = (b'<form action="app/kill/" method="POST"><input type="hidden" name="id" '
            b'value="app-1"/><input type="hidden" name="csrfToken" value="abc123"/></form>')

    def master(h):
        if h.command == "POST":
            state["killed"] = True
            return h.send(302, b"", headers=[("Location", "/")])
        if h.path == "/json/":
            app = {"id": "app-1", "name": "n", "state": "KILLED" if state["killed"] else "RUNNING"}
            doc = {"url": "spark://x:7077", "status": "ALIVE", "workers": [],
                   "activeapps": [] if state["killed"] else [app],
                   "completedapps": [app] if state["killed"] else []}
            return h.send(200, json.dumps(doc).encode())
        return h.send(200, page, "text/html")
    stub.behaviour = master
    proc = run("sc-kill", "app-1", env=stub.env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "app\tapp-1\tkilled\tKILLED\n"
    posts = [r for r in stub.requests if r[0] == "POST"]
    assert posts == [("POST", "/app/kill/", b"id=app-1&terminate=true&csrfToken=abc123")]


def test_kill_not_confirmed_is_1(stub):
    """A master that answers 302 but never kills: sc-kill must not say it did."""
    app = {"id": "app-2", "name": "stubborn", "state": "RUNNING"}
    doc = json.dumps({"url": "spark://x:7077", "status": "ALIVE", "workers": [],
                      "activeapps": [app], "completedapps": []}).encode()

    def master(h):
        if h.command == "POST":
            return h.send(302, b"", headers=[("Location", "/")])
        return h.send(200, doc if h.path == "/json/" else b"<html></html>")
    stub.behaviour = master
    proc = run("sc-kill", "--wait", "1", "-J", "app-2", env=stub.env)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["outcome"] == "failed" and out["state"] == "RUNNING"
    assert "still RUNNING" in proc.stderr


@pytest.mark.parametrize("master", ["spark://", "spark://:7077"])
@pytest.mark.parametrize("argv", [
    ["sc-status"], ["sc-kill", "app-20240101000000-0000"],
    ["sc-logs", "app-20240101000000-0000"], ["sc-submit", "--dry-run", "job.py"],
    ["kcat-lite", "-L"],
])
def test_master_without_host_is_usage_error(argv, master):
    """A master URL with no host is refused before any tool uses it (no crash)."""
    for env, extra in (({"SC_MASTER": master}, []), ({}, ["--master", master])):
        if extra and argv[0] == "kcat-lite":
            continue    # kcat-lite has no --master flag; SC_MASTER still reaches it
        proc = run(argv[0], *extra, *argv[1:], env={**env, "SC_TIMEOUT": "2"}, timeout=30)
        assert proc.returncode == 64, proc.stderr
        assert "no host" in proc.stderr and master in proc.stderr
        assert proc.stdout == ""


def loaded_libraries(argv, env=None):
    """The libraries a whole run of a tool loaded, as dependencies or with
    dlopen() (the dynamic loader's LD_DEBUG=files trace), and the run."""
    full_env = dict(os.environ, **(env or {}), LD_DEBUG="files")
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=full_env, timeout=60)
    return set(re.findall(r"file=(\S+) \[0\];\s+(?:needed|dynamically loaded) by", proc.stderr)), proc


def test_libraries_are_loaded_only_by_the_tools_that_use_them():
    """libcurl and libarchive (with TLS, Kerberos, LDAP, libxml2, ICU) and
    avro-c cost every process 5.5 MiB of memory when linked; they are
    loaded when first needed, and not at exit either."""
    unused = re.compile(r"lib(curl|archive|avro)\.so")
    loaded, proc = loaded_libraries(
        [tool("kcat-lite"), "-P", "-b", f"127.0.0.1:{free_port()}", "-t", "t", "-m", "1"],
        env={"SC_MASTER_UI": "http://127.0.0.1:1"})
    assert proc.returncode == 69, proc.stderr[-2000:]
    assert not [f for f in loaded if unused.match(f)], sorted(loaded)
    loaded, proc = loaded_libraries(
        [tool("sc-status"), "--master-ui", f"http://127.0.0.1:{free_port()}"])
    assert proc.returncode == 69, proc.stderr[-2000:]
    assert [f for f in loaded if f.startswith("libcurl.so")], sorted(loaded)
    assert not [f for f in loaded if re.match(r"lib(archive|avro)\.so", f)], sorted(loaded)


def library_path(soname):
    """Where the dynamic loader finds soname (from ldconfig's cache)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        if name.split(" ")[0] == soname:
            return path
    pytest.fail(f"ldconfig -p does not list {soname}")


@pytest.mark.parametrize("fake", ["garbage", "another library"])
def test_a_library_that_cannot_be_loaded_is_named_with_status_70(tmp_path, fake):
    """A broken installation is an internal error (70) that names the
    library, found when the tool first needs it."""
    soname = ctypes.util.find_library("curl")
    assert soname and soname.startswith("libcurl.so."), soname
    if fake == "garbage":
        (tmp_path / soname).write_bytes(b"not an ELF object\n")
        why = f"cannot load {soname}: "
    else:
        (tmp_path / soname).symlink_to(library_path("libz.so.1"))
        why = f"cannot load {soname}: {soname} has no curl_"
    proc = run("sc-status", "--master-ui", f"http://127.0.0.1:{free_port()}",
               env={"LD_LIBRARY_PATH": str(tmp_path)})
    assert proc.returncode == 70, proc.stderr
    assert why in proc.stderr, proc.stderr
    assert proc.stdout == ""


# ---- closed standard descriptors: nothing the tool opens takes their place ---


@pytest.mark.parametrize("name, args", [
    ("sc-status", ["--wait=20"]),
    ("kcat-lite", ["-C", "-t", "t", "-m", "20"]),
    ("kcat-lite", ["-P", "-t", "t", "-m", "20"]),
])
def test_closed_standard_descriptors_are_not_reused(name, args, tmp_path):
    # With 0, 1 and 2 closed, the next files and sockets opened took their
    # numbers: librdkafka's wake-up pipe became kcat-lite's input or output
    # (and a broker's socket could have); a master's socket sc-status's.
    # They are held by /dev/full and /dev/null, opened so that the tool's
    # own reads and writes fail as on a closed descriptor.
    (tmp_path / "empty.conf").write_text("")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    env = {**os.environ, "SC_MASTER": f"spark://127.0.0.1:{port}",
           "SC_MASTER_UI": f"http://127.0.0.1:{port}", "SC_TIMEOUT": "20",
           "SC_BROKERS": f"127.0.0.1:{port}", "HOME": str(tmp_path), "SC_CONFIG": str(tmp_path / "empty.conf")}
    proc = subprocess.Popen(["sh", "-c", 'exec "$@" <&- >&- 2>&-', "sh", tool(name), *args],
                            env=env)
    try:
        listener.settimeout(15)
        conn, _ = listener.accept()  # the tool is past its start: it connects
        fds = {fd: os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in (0, 1, 2)}
        conn.close()
    finally:
        proc.kill()
        proc.wait()
        listener.close()
    assert fds == {0: "/dev/full", 1: "/dev/null", 2: "/dev/null"}, fds


def test_closed_stdout_still_fails_the_write(tmp_path):
    # /dev/null opened for reading: the report is still lost, and said so
    proc = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", tool("sc-status"), "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 74
    assert "write error: Bad file descriptor" in proc.stderr
