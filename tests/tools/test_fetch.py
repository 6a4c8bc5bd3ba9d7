"""sc-fetch against a real nginx on loopback, and a stub where nginx cannot misbehave.

nginx (the conftest's fixture) is started once for the session with its own
configuration, pid file and logs in a temporary directory; its access log
(with the Range header) shows which requests each run made. The fault-injecting stub from conftest
drops connections, stalls, and answers 500, 403 or 429 on demand.
"""
import hashlib
import io
import json
import os
import urllib.request
import pty
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from conftest import (SANITIZER_MARKERS, assert_usage, build_shim, free_port, run, tool,
                      wait_for)


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def area(request, nginx):
    """A directory of nginx's tree for one test, and the test's own datain."""
    return request.node.name.replace("[", "_").replace("]", "").replace("/", "_")


@pytest.fixture
def out(no_user_config, tmp_path):
    d = tmp_path / "datain"
    return d


def fetch(*args, **kw):
    kw.setdefault("timeout", 60)
    return run("sc-fetch", *args, **kw)


def rows(proc):
    return [line.split("\t") for line in proc.stdout.splitlines()]


def leftovers(d):
    """Hidden files left in a directory: .part files, temporary trees."""
    return sorted(p.name for p in Path(d).iterdir() if p.name.startswith(".")) if Path(d).exists() else []


# ---- the ordinary path


def test_parallel_fetch_of_many_files(nginx, area, out):
    files = {f"f{i:02d}.bin": os.urandom(50_000 + i * 4096) for i in range(24)}
    urls = [nginx.publish(f"{area}/{n}", d) for n, d in files.items()]
    proc = fetch("-j", "8", "-d", out, *urls)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    got = rows(proc)
    assert len(got) == 24
    for (path, size, digest, outcome), (name, data) in zip(got, files.items()):
        assert path == f"{out}/{name}"
        assert (int(size), digest, outcome) == (len(data), sha(data), "fetched")
        assert (out / name).read_bytes() == data
    assert leftovers(out) == []
    assert len(nginx.requests(area)) == 24


def test_jobs_bounds_the_transfers_at_once(stub, out):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(h):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        h.send(200, h.path.encode() * 10, "text/plain")
    stub.behaviour = slow
    base = f"http://127.0.0.1:{stub.server_address[1]}"
    urls = [f"{base}/p{i}.txt" for i in range(10)]
    proc = fetch("-j", "4", "-d", out, *urls)
    assert proc.returncode == 0, proc.stderr
    assert state["max"] == 4
    state["max"] = 0
    proc = fetch("-j", "1", "--force", "-d", out, *urls[:3])
    assert proc.returncode == 0 and state["max"] == 1


def test_second_run_skips_everything_without_a_request(nginx, area, out):
    urls = [nginx.publish(f"{area}/{n}.txt", f"data {n}\n".encode() * 1000) for n in "abc"]
    assert fetch("-d", out, *urls).returncode == 0
    before = len(nginx.requests(area))
    assert before == 3
    proc = fetch("-J", "-d", out, *urls)
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["outcome"] for d in docs] == ["skipped"] * 3
    assert docs[0]["sha256"] == sha(b"data a\n" * 1000)
    assert docs[0]["bytes"] == 7000 and docs[0]["url"] == urls[0]
    assert len(nginx.requests(area)) == before
    # --force fetches again
    proc = fetch("--force", "-d", out, *urls)
    assert [r[3] for r in rows(proc)] == ["fetched"] * 3
    assert len(nginx.requests(area)) == before + 3


def test_manifest_names_checksums_and_comments(nginx, area, out, tmp_path):
    a = b"alpha\n" * 500
    b = b"beta\n" * 500
    ua = nginx.publish(f"{area}/a.txt", a)
    ub = nginx.publish(f"{area}/b.txt?ignored", b)
    nginx.publish(f"{area}/b.txt", b)
    manifest = tmp_path / "data.manifest"
    manifest.write_text(f"# sample data\n\n{ua}  sha256={sha(a).upper()}  # trailing comment\n"
                        f"{ub} name=books/beta.txt\n")
    proc = fetch("-m", manifest, "-d", out)
    assert proc.returncode == 0, proc.stderr
    assert (out / "a.txt").read_bytes() == a
    assert (out / "books" / "beta.txt").read_bytes() == b
    assert [r[2] for r in rows(proc)] == [sha(a), sha(b)]


def test_datain_from_configuration(nginx, area, tmp_path, no_user_config):
    url = nginx.publish(f"{area}/c.txt", b"configured\n")
    datain = tmp_path / "configured-datain"
    proc = fetch(url, env={"SC_DATAIN": str(datain)})
    assert proc.returncode == 0, proc.stderr
    assert (datain / "c.txt").read_bytes() == b"configured\n"


def test_redirect_is_followed(nginx, out):
    nginx.publish("redirected/target.txt", b"moved here\n")
    proc = fetch("-d", out, f"{nginx.url}/moved")
    assert proc.returncode == 0, proc.stderr
    assert (out / "moved").read_bytes() == b"moved here\n"


def test_https_verifies_the_certificate(nginx, area, out):
    if not nginx.tls_url:
        pytest.skip("openssl is not installed: no certificate for an https server")
    nginx.publish(f"{area}/s.txt", b"secure\n")
    url = f"{nginx.tls_url}/{area}/s.txt"
    proc = fetch("-d", out, "--retries", "0", url)
    assert proc.returncode == 69
    assert url in proc.stderr and "certificate" in proc.stderr
    assert not (out / "s.txt").exists() and leftovers(out) == []
    proc = fetch("-d", out, "--cacert", nginx.cert, url)
    assert proc.returncode == 0, proc.stderr
    assert (out / "s.txt").read_bytes() == b"secure\n"


def test_file_url(tmp_path, out):
    src = tmp_path / "src dir" / "local.csv"
    src.parent.mkdir()
    src.write_bytes(b"a,b\n1,2\n" * 1000)
    proc = fetch("-d", out, "file://" + str(src).replace(" ", "%20"))
    assert proc.returncode == 0, proc.stderr
    assert (out / "local.csv").read_bytes() == src.read_bytes()
    proc = fetch("-d", out, f"file://{tmp_path}/missing.csv")
    assert proc.returncode == 1
    assert "missing.csv" in proc.stderr
    assert not (out / "missing.csv").exists() and leftovers(out) == []


# ---- resuming


def test_resume_from_a_part_file_with_a_range_request(nginx, area, out):
    data = os.urandom(300_000)
    url = nginx.publish(f"{area}/big.bin", data)
    out.mkdir()
    part = out / ".big.bin.part"
    part.write_bytes(data[:120_000])
    # As an earlier run leaves it: with the version it holds, for If-Range.
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as r:
        os.setxattr(part, "user.clusterops.validator", r.headers["ETag"].encode())
    proc = fetch("-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert (out / "big.bin").read_bytes() == data
    assert rows(proc)[0][2] == sha(data)
    # The test's own HEAD, then the one ranged request of sc-fetch.
    assert nginx.requests(area) == [(f"/{area}/big.bin", 200, "-"),
                                    (f"/{area}/big.bin", 206, "bytes=120000-")]
    assert leftovers(out) == []


def test_interrupted_run_is_resumed_by_the_next(nginx, area, out):
    data = os.urandom(600_000)
    url = nginx.publish(f"slow/{area}/s.bin", data)
    proc = subprocess.Popen([tool("sc-fetch"), "-q", "-d", str(out), url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = out / ".s.bin.part"
    wait_for(lambda: part.exists() and part.stat().st_size > 0, timeout=30, interval=0.05,
             what="the first bytes in the .part file")
    proc.kill()
    proc.wait()
    assert not (out / "s.bin").exists()
    have = part.stat().st_size
    assert 0 < have < len(data)
    proc = fetch("-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert (out / "s.bin").read_bytes() == data
    last = nginx.requests(f"slow/{area}")[-1]
    assert last[1] == 206 and last[2] == f"bytes={have}-"
    assert leftovers(out) == []


def test_a_file_changed_since_the_interrupted_run_is_fetched_whole(nginx, area, out):
    old, new = os.urandom(600_000), os.urandom(600_000)
    url = nginx.publish(f"slow/{area}/v.bin", old)
    proc = subprocess.Popen([tool("sc-fetch"), "-q", "-d", str(out), url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = out / ".v.bin.part"
    wait_for(lambda: part.exists() and part.stat().st_size > 0, timeout=30, interval=0.05,
             what="the first bytes in the .part file")
    proc.kill()
    proc.wait()
    try:
        etag = os.getxattr(part, "user.clusterops.validator").decode()
    except OSError as e:
        pytest.skip(f"no user extended attributes here: {e}")
    nginx.publish(f"slow/{area}/v.bin", new)
    # the same size: only another Last-Modified second gives nginx another ETag
    published = nginx.www / "slow" / area / "v.bin"
    then = published.stat().st_mtime - 3600
    os.utime(published, (then, then))
    proc = fetch("-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert (out / "v.bin").read_bytes() == new
    last = nginx.requests(f"slow/{area}")[-1]
    assert last[1] == 200 and last[2].startswith("bytes=")
    assert etag.startswith('"')


def test_server_ignoring_range_restarts_cleanly(nginx, area, out):
    data = os.urandom(200_000)
    url = nginx.publish(f"norange/{area}/f.bin", data)
    out.mkdir()
    part = out / ".f.bin.part"
    part.write_bytes(b"stale bytes from another version" * 100)
    # A version is known (else no Range is asked for at all).
    os.setxattr(part, "user.clusterops.validator", b'"another-version"')
    proc = fetch("-d", out, url, "--retries", "0")
    assert proc.returncode == 0, proc.stderr
    assert (out / "f.bin").read_bytes() == data
    assert nginx.requests(f"norange/{area}") == [(f"/norange/{area}/f.bin", 200, "bytes=3200-")]


def test_resume_after_the_connection_drops_mid_body(stub, out):
    data = os.urandom(400_000)
    ranges = []

    def drop_then_resume(h):
        rng = h.headers.get("Range")
        ranges.append(rng)
        if rng is None:
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("ETag", '"v1"')
            h.end_headers()
            h.wfile.write(data[:150_000])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        assert h.headers.get("If-Range") == '"v1"'
        start = int(rng.split("=")[1].rstrip("-"))
        h.send_response(206)
        h.send_header("ETag", '"v1"')
        h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        h.wfile.write(data[start:])
    stub.behaviour = drop_then_resume
    url = f"http://127.0.0.1:{stub.server_address[1]}/drop.bin"
    proc = fetch("-J", "-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert (out / "drop.bin").read_bytes() == data
    assert json.loads(proc.stdout)["sha256"] == sha(data)
    assert len(ranges) == 2 and ranges[0] is None
    assert ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0


# ---- failures


def test_404_fails_without_retry(nginx, area, out):
    ok = nginx.publish(f"{area}/ok.txt", b"ok\n")
    proc = fetch("-d", out, ok, f"{nginx.url}/{area}/missing.txt")
    assert proc.returncode == 1
    assert f"{nginx.url}/{area}/missing.txt: HTTP 404" in proc.stderr
    assert [r[3] for r in rows(proc)] == ["fetched", "failed"]
    assert not (out / "missing.txt").exists() and leftovers(out) == []
    assert sorted(r[1] for r in nginx.requests(area)) == [200, 404]


def test_500_then_success_is_retried(stub, out):
    calls = []

    def flaky(h):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return h.send(500, b"busy", "text/plain")
        h.send(200, b"finally\n", "text/plain")
    stub.behaviour = flaky
    proc = fetch("-d", out, f"http://127.0.0.1:{stub.server_address[1]}/f.txt")
    assert proc.returncode == 0, proc.stderr
    assert (out / "f.txt").read_bytes() == b"finally\n"
    assert len(calls) == 2


def test_500_every_time_gives_up_with_69(stub, out):
    stub.behaviour = lambda h: h.send(503, b"down", "text/plain")
    proc = fetch("-d", out, "--retries", "1", f"http://127.0.0.1:{stub.server_address[1]}/f.txt")
    assert proc.returncode == 69
    assert "HTTP 503" in proc.stderr and "after 2 attempts" in proc.stderr
    assert len(stub.requests) == 2
    assert not (out / "f.txt").exists()


def test_429_honours_retry_after(stub, out):
    calls = []

    def limited(h):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return h.send(429, b"slow down", "text/plain", headers=[("Retry-After", "2")])
        h.send(200, b"served\n", "text/plain")
    stub.behaviour = limited
    proc = fetch("-d", out, f"http://127.0.0.1:{stub.server_address[1]}/r.txt")
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 2 and calls[1] - calls[0] >= 1.9


def test_403_is_77_without_retry(stub, out):
    stub.behaviour = lambda h: h.send(403, b"no", "text/plain")
    proc = fetch("-d", out, f"http://127.0.0.1:{stub.server_address[1]}/secret.txt")
    assert proc.returncode == 77
    assert len(stub.requests) == 1


def test_stalled_server_times_out_with_75(stub, out):
    def stall(h):
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.wfile.write(b"x" * 1000)
        h.wfile.flush()
        time.sleep(8)
    stub.behaviour = stall
    start = time.monotonic()
    proc = fetch("-d", out, "--timeout", "1", "--retries", "0",
                 f"http://127.0.0.1:{stub.server_address[1]}/slow.bin")
    assert proc.returncode == 75, proc.stderr
    assert "slow.bin" in proc.stderr
    assert time.monotonic() - start < 6
    assert not (out / "slow.bin").exists()


def test_unreachable_server_is_69(out):
    url = f"http://127.0.0.1:{free_port()}/x.txt"
    proc = fetch("-d", out, "--retries", "0", url)
    assert proc.returncode == 69
    assert url in proc.stderr


def test_checksum_mismatch_leaves_nothing_at_the_final_path(nginx, area, out, tmp_path):
    url = nginx.publish(f"{area}/data.csv", b"the real content\n")
    manifest = tmp_path / "m"
    manifest.write_text(f"{url} sha256={sha(b'something else')}\n")
    proc = fetch("-m", manifest, "-d", out)
    assert proc.returncode == 1
    assert "checksum mismatch" in proc.stderr and sha(b"something else") in proc.stderr
    assert not (out / "data.csv").exists()
    assert leftovers(out) == []
    assert rows(proc)[0][3] == "failed"


def test_lock_file_round_trip(nginx, area, out, tmp_path):
    url = nginx.publish(f"{area}/pg.txt", b"first edition\n" * 100)
    lock = tmp_path / "datasets.lock"
    proc = fetch("--lock", lock, "-d", out, url)
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in lock.read_text().splitlines() if not l.startswith("#")]
    first = sha(b"first edition\n" * 100)
    assert lines == [f"{url} sha256={first} name=pg.txt"]
    # same content: skipped, no request, lock unchanged
    n = len(nginx.requests(area))
    before = lock.read_text()
    assert fetch("--lock", lock, "-d", out, url).returncode == 0
    assert len(nginx.requests(area)) == n and lock.read_text() == before
    # the source changed and the local copy is gone: the lock catches it
    nginx.publish(f"{area}/pg.txt", b"second edition\n" * 100)
    (out / "pg.txt").unlink()
    proc = fetch("--lock", lock, "-d", out, url)
    assert proc.returncode == 1
    assert "checksum mismatch" in proc.stderr and "lock file" in proc.stderr
    assert not (out / "pg.txt").exists() and leftovers(out) == []
    assert lock.read_text() == before
    # a lock file can serve as a manifest
    (out / "pg.txt").write_bytes(b"first edition\n" * 100)
    proc = fetch("-m", lock, "-d", out)
    assert proc.returncode == 0 and rows(proc)[0][3] == "skipped"


# Runs a command with a 1 MiB tmpfs on $1, in a mount namespace of its own,
# and lists what the command left there into $2 before the tmpfs goes.
IN_SMALL_TMPFS = """
mount -t tmpfs -o size=1m tmpfs "$1" || exit 125
dir=$1 listing=$2
shift 2
"$@"
status=$?
ls -A "$dir" >"$listing" || exit 125
exit $status
"""


def in_small_tmpfs(directory, listing, *argv):
    """A real ENOSPC, without privilege where user namespaces are allowed:
    unshare(1) maps the user to root in a new user and mount namespace,
    where a tmpfs may be mounted; as root, a mount namespace is enough."""
    why = []
    for ns in (["-Urm"], ["-m"]):
        probe = subprocess.run(["unshare", *ns, "sh", "-c", IN_SMALL_TMPFS, "sh",
                                str(directory), str(listing), "true"],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return subprocess.run(["unshare", *ns, "sh", "-c", IN_SMALL_TMPFS, "sh",
                                   str(directory), str(listing), *map(str, argv)],
                                  capture_output=True, text=True, timeout=120)
        why.append(f"unshare {ns[0]}: {probe.stderr.strip() or probe.returncode}")
    pytest.skip("cannot mount a small tmpfs in a namespace of its own: " + "; ".join(why))


def test_disk_full_leaves_no_partial_target(nginx, area, tmp_path, no_user_config):
    small = tmp_path / "small"
    small.mkdir()
    listing = tmp_path / "left-in-small"
    url = nginx.publish(f"{area}/big.bin", os.urandom(3 << 20))
    proc = in_small_tmpfs(small, listing, tool("sc-fetch"), "-d", small, url)
    for marker in SANITIZER_MARKERS:
        assert marker not in proc.stderr, proc.stderr
    assert proc.returncode == 74, proc.stderr
    assert f"{small}/.big.bin.part: No space left on device" in proc.stderr
    assert listing.read_text() == ""


def test_disk_full_while_unpacking_is_an_io_error(tmp_path, no_user_config):
    """A full disk stays status 74, not an archive's fault; nothing of the
    tree is left."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("big.bin")
        info.size = 3 << 20
        t.addfile(info, io.BytesIO(b"x" * info.size))     # not a hole: zeros may be one
    src = tmp_path / "src" / "big.tar.gz"
    src.parent.mkdir()
    src.write_bytes(buf.getvalue())
    small = tmp_path / "small"
    small.mkdir()
    listing = tmp_path / "left-in-small"
    proc = in_small_tmpfs(small, listing, tool("sc-fetch"), "-x", "-d", small, f"file://{src}")
    for marker in SANITIZER_MARKERS:
        assert marker not in proc.stderr, proc.stderr
    assert proc.returncode == 74, proc.stderr
    assert "No space left on device" in proc.stderr
    assert listing.read_text() == "big.tar.gz\n"


# ---- durability: writeback while receiving, fsync before the rename

# Interposed on sc-fetch with LD_PRELOAD: logs every sync_file_range() and
# fsync() (with the file's name), and passes them on, or fails them as
# SHIM_MODE says: "enosys" (sync_file_range not supported here), "eio"
# (writeback failed), "fsync-eio" (the fsync of a .part file failed).
IO_SHIM = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void say(const char *line)
{
	const char *log = getenv("SHIM_LOG");
	int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;

	if (fd >= 0) {
		write(fd, line, strlen(line));
		close(fd);
	}
}

static const char *mode(void)
{
	const char *m = getenv("SHIM_MODE");
	return m ? m : "";
}

int sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	char line[128];
	long rc;

	if (strcmp(mode(), "enosys") == 0) {
		errno = ENOSYS;
		rc = -1;
	} else if (strcmp(mode(), "eio") == 0 && off > 0) {
		errno = EIO;
		rc = -1;
	} else {
		rc = syscall(SYS_sync_file_range, fd, off, len, flags);
	}
	snprintf(line, sizeof(line), "sfr %lld %lld %u %ld\n", (long long)off, (long long)len,
		 flags, rc);
	say(line);
	return (int)rc;
}

int fsync(int fd)
{
	char path[64], name[512], line[600];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, name, sizeof(name) - 1);
	name[n > 0 ? n : 0] = '\0';
	snprintf(line, sizeof(line), "fsync %s\n", name);
	say(line);
	if (strcmp(mode(), "fsync-eio") == 0 && strstr(name, ".part")) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}
"""


@pytest.fixture(scope="module")
def io_shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"), "shim", IO_SHIM)


def shim_env(shim, log, mode=""):
    # the sanitizer runtime need not come first in the list of libraries
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": str(shim), "SHIM_LOG": str(log), "SHIM_MODE": mode,
            "ASAN_OPTIONS": f"{asan}:verify_asan_link_order=0".lstrip(":")}


def shim_log(log):
    return log.read_text().splitlines() if log.exists() else []


SFR_WRITE, SFR_WAIT = 2, 1 | 2 | 4   # SYNC_FILE_RANGE_WRITE; WAIT_BEFORE|WRITE|WAIT_AFTER


def test_large_file_is_written_back_while_received_then_fsynced(nginx, area, out, io_shim,
                                                                tmp_path):
    data = os.urandom(72 << 20)
    url = nginx.publish(f"{area}/big.bin", data)
    manifest = tmp_path / "m.txt"
    manifest.write_text(f"{url} sha256={sha(data)} size={len(data)}\n")
    log = tmp_path / "io.log"
    proc = fetch("-d", out, "-m", manifest, env=shim_env(io_shim, log))
    assert proc.returncode == 0, proc.stderr
    assert rows(proc) == [[f"{out}/big.bin", str(len(data)), sha(data), "fetched"]]
    assert (out / "big.bin").read_bytes() == data and leftovers(out) == []
    lines = shim_log(log)
    sfr = [tuple(int(v) for v in line.split()[1:]) for line in lines if line.startswith("sfr ")]
    assert all(rc == 0 for *_, rc in sfr), lines
    # writeback started in 8 MiB steps from the first byte to the last ...
    started = sorted((off, off + length) for off, length, flags, _ in sfr if flags == SFR_WRITE)
    assert started[0][0] == 0 and started[-1][1] == len(data), started
    assert all(a[1] == b[0] for a, b in zip(started, started[1:])), started
    assert len(started) >= 72 // 12   # 8 MiB, plus at most one merged 4 MiB range
    # ... the ranges started long before are waited for while receiving ...
    waited = [(off, off + length) for off, length, flags, _ in sfr if flags == SFR_WAIT]
    assert waited and waited[0][0] == 0 and waited[-1][1] <= len(data) - (32 << 20), waited
    # ... and the .part file is fsynced before it is renamed, then its directory
    fsyncs = [line.split(" ", 1)[1] for line in lines if line.startswith("fsync ")]
    assert f"{out}/.big.bin.part" in fsyncs and fsyncs.index(f"{out}/.big.bin.part") < \
        fsyncs.index(str(out)), fsyncs


def test_without_sync_file_range_the_file_is_still_fsynced(nginx, area, out, io_shim, tmp_path):
    data = os.urandom(20 << 20)
    url = nginx.publish(f"{area}/big.bin", data)
    log = tmp_path / "io.log"
    proc = fetch("-d", out, url, env=shim_env(io_shim, log, "enosys"))
    assert proc.returncode == 0, proc.stderr
    assert rows(proc) == [[f"{out}/big.bin", str(len(data)), sha(data), "fetched"]]
    assert (out / "big.bin").read_bytes() == data and leftovers(out) == []
    lines = shim_log(log)
    # tried once, then left to the fsync
    sfr = [line.split() for line in lines if line.startswith("sfr ")]
    assert len(sfr) == 1 and sfr[0][1] == "0" and int(sfr[0][2]) >= 8 << 20, lines
    assert sfr[0][3:] == ["2", "-1"], lines
    assert f"fsync {out}/.big.bin.part" in lines


@pytest.mark.parametrize("mode", ["eio", "fsync-eio"])
def test_failed_writeback_or_fsync_leaves_no_file(nginx, area, out, io_shim, tmp_path, mode):
    data = os.urandom(20 << 20)
    url = nginx.publish(f"{area}/big.bin", data)
    log = tmp_path / "io.log"
    proc = fetch("-d", out, url, env=shim_env(io_shim, log, mode))
    assert proc.returncode == 74, proc.stderr
    assert f"{out}/.big.bin.part: Input/output error" in proc.stderr
    assert not (out / "big.bin").exists() and leftovers(out) == []


# ---- archives


def tar_gz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def tar_file(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def tar_symlink(name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info, None


def test_extract_archives(nginx, area, out, tmp_path):
    tgz = tar_gz([tar_file("books/alice.txt", b"Alice\n"), tar_file("README", b"hi\n")])
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("cities.csv", "name\nParis\n")
    u1 = nginx.publish(f"{area}/books.tar.gz", tgz)
    u2 = nginx.publish(f"{area}/cities.zip", zbuf.getvalue())
    u3 = nginx.publish(f"{area}/plain.txt", b"not an archive\n")
    proc = fetch("-x", "-J", "-d", out, u1, u2, u3)
    assert proc.returncode == 0, proc.stderr
    assert (out / "books" / "books" / "alice.txt").read_bytes() == b"Alice\n"
    assert (out / "cities" / "cities.csv").read_text() == "name\nParis\n"
    assert (out / "books.tar.gz").exists() and (out / "plain.txt").exists()
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["extracted"] for d in docs] == [f"{out}/books", f"{out}/cities", None]
    assert leftovers(out) == []
    # present and unpacked: nothing to do; unpacked tree removed: unpacked again
    n = len(nginx.requests(area))
    shutil.rmtree(out / "cities")
    proc = fetch("-x", "-d", out, u1, u2)
    assert proc.returncode == 0 and [r[3] for r in rows(proc)] == ["skipped", "skipped"]
    assert (out / "cities" / "cities.csv").exists()
    assert len(nginx.requests(area)) == n


def test_manifest_extract_flag(nginx, area, out, tmp_path):
    url = nginx.publish(f"{area}/set.tgz", tar_gz([tar_file("a.txt", b"A\n")]))
    manifest = tmp_path / "m"
    manifest.write_text(f"{url} extract\n")
    assert fetch("-m", manifest, "-d", out).returncode == 0
    assert (out / "set" / "a.txt").read_bytes() == b"A\n"


def test_zip_slip_is_refused(nginx, area, out):
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("fine.txt", "fine\n")
        z.writestr("../escaped.txt", "escaped\n")
    url = nginx.publish(f"{area}/slip.zip", zbuf.getvalue())
    proc = fetch("-x", "-d", out, url)
    assert proc.returncode == 1
    assert "unsafe member '../escaped.txt'" in proc.stderr
    assert not (out / "slip").exists()
    assert not (out.parent / "escaped.txt").exists()
    assert leftovers(out) == []


def test_utf8_member_names_are_unpacked_as_they_are(tmp_path, out):
    # zips from Python, Java, Windows and macOS flag their names UTF-8; in
    # the C locale libarchive could not convert them, and the member had
    # no name ("unsafe member '': empty name")
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("u/café.txt", "café\n")
        z.writestr("u/日本/データ.csv", "a,b\n")
    (tmp_path / "u.zip").write_bytes(zbuf.getvalue())
    (tmp_path / "p.tar.gz").write_bytes(tar_gz([tar_file("ü.txt", b"pax\n")]))
    bad = zbuf.getvalue().replace("café".encode(), b"caf\xff")
    (tmp_path / "bad.zip").write_bytes(bad)
    env = {"LC_ALL": "", "LANG": "", "LC_CTYPE": ""}
    proc = fetch("-x", "-d", out, f"file://{tmp_path}/u.zip", f"file://{tmp_path}/p.tar.gz",
                 env=env)
    assert proc.returncode == 0, proc.stderr
    assert (out / "u" / "u" / "café.txt").read_bytes() == "café\n".encode()
    assert (out / "u" / "u" / "日本" / "データ.csv").read_bytes() == b"a,b\n"
    assert (out / "p" / "ü.txt").read_bytes() == b"pax\n"
    # a name flagged UTF-8 that is not: refused by name, nothing unpacked
    proc = fetch("-x", "-d", out, f"file://{tmp_path}/bad.zip", env=env)
    assert proc.returncode == 1
    assert f"{out}/bad.zip: a member's name is not UTF-8" in proc.stderr
    assert not (out / "bad").exists() and leftovers(out) == []


def test_escaping_symlink_is_refused(nginx, area, out):
    tgz = tar_gz([tar_symlink("link", "../.."), tar_file("link/planted.txt", b"evil\n")])
    url = nginx.publish(f"{area}/evil.tar.gz", tgz)
    proc = fetch("-x", "-d", out, url)
    assert proc.returncode == 1
    assert "leaves the archive" in proc.stderr
    assert not (out / "evil").exists()
    assert not (out.parent / "planted.txt").exists() and not (out.parent.parent / "planted.txt").exists()
    assert leftovers(out) == []


# ---- usage and bad input


def test_usage_errors(out, tmp_path):
    assert_usage(fetch(), "sc-fetch", "nothing to fetch")
    assert_usage(fetch("-d", out, "ftp://example.org/x"), "sc-fetch",
                 "ftp://example.org/x: expected an http://, https:// or file:// URL")
    assert_usage(fetch("-j", "0", "http://127.0.0.1:1/x"), "sc-fetch", "invalid --jobs '0'")
    assert_usage(fetch("--retries", "-1", "http://127.0.0.1:1/x"), "sc-fetch",
                 "invalid --retries '-1'")
    assert_usage(fetch("-d", out, "http://127.0.0.1:1/"), "sc-fetch", "no file name in the URL")
    # "." and ".." name no file: they would be datain itself or its parent
    for url in ("file:///tmp/x/..", "http://127.0.0.1:1/a/.", "http://127.0.0.1:1/..?q"):
        assert_usage(fetch("-d", out, url), "sc-fetch", "no file name in the URL")
    manifest = tmp_path / "dots.manifest"
    manifest.write_text("file:///tmp/x/..\n")
    proc = fetch("-d", out, "-m", manifest)
    assert proc.returncode == 65 and "no file name in the URL" in proc.stderr, proc.stderr
    assert_usage(fetch("--cacert", tmp_path / "none.pem", "http://127.0.0.1:1/x"), "sc-fetch",
                 f"--cacert {tmp_path / 'none.pem'}: No such file or directory")
    assert not out.exists()


@pytest.mark.parametrize("line, why", [
    ("ftp://example.org/x", "URL"),
    ("http://h/x sha256=abc", "64 hex digits"),
    ("http://h/x name=../../etc/passwd", "relative path"),
    ("http://h/x colour=blue", "unknown field"),
    ("http://h/x.txt extract", "extract"),
    ("http://h/dir/", "name="),
])
def test_bad_manifest_is_65(out, tmp_path, line, why):
    manifest = tmp_path / "bad.manifest"
    manifest.write_text(f"# fine\n{line}\n")
    proc = fetch("-m", manifest, "-d", out)
    assert proc.returncode == 65
    assert f"{manifest}:2:" in proc.stderr and why in proc.stderr
    assert not out.exists()


def test_two_sources_for_one_name_is_65(out):
    proc = fetch("-d", out, "http://127.0.0.1:1/a/x.txt", "http://127.0.0.1:1/b/x.txt")
    assert proc.returncode == 65 and "x.txt" in proc.stderr


def test_cannot_create_the_directory(tmp_path, no_user_config):
    (tmp_path / "file").write_text("")
    proc = fetch("-d", tmp_path / "file" / "sub", "http://127.0.0.1:1/x.txt")
    assert proc.returncode == 73
    assert "file" in proc.stderr


def test_progress_only_on_a_terminal(nginx, area, out):
    url = nginx.publish(f"{area}/p.bin", os.urandom(500_000))
    quiet = fetch("-d", out, url)
    assert quiet.returncode == 0 and quiet.stderr == ""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([tool("sc-fetch"), "--force", "-d", str(out), url],
                              stdout=subprocess.PIPE, stderr=slave, timeout=30)
        os.close(slave)
        slave = None
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    assert b"1/1 files" in shown or b"0/1 files" in shown
    assert b"AddressSanitizer" not in shown
    proc = fetch("-q", "--force", "-d", out, url)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_manifest_from_stdin_and_show_config(nginx, area, out):
    url = nginx.publish(f"{area}/in.txt", b"from stdin\n")
    proc = fetch("-m", "-", "-d", out, input=f"# piped\n{url}\n")
    assert proc.returncode == 0, proc.stderr
    assert (out / "in.txt").read_bytes() == b"from stdin\n"
    proc = fetch("-d", out, "--show-config")
    assert proc.returncode == 0
    assert f"datain\t{out}\tflag" in proc.stdout.splitlines()
