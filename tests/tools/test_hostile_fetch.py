"""sc-fetch against a hostile neighbour and hostile sources; no cluster needed.

datain is filled from the internet and may be shared: another user can
plant symbolic links in it, and a source can send more than it should. These
tests plant the links themselves and serve sources from file:// URLs or the
stub HTTP server, and check that nothing outside datain is ever written.
"""
import hashlib
import fcntl
import io
import itertools
import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import SANITIZER_MARKERS, assert_usage, build_shim, run, tool

WRONG = "0" * 64


def sha(data):
    return hashlib.sha256(data).hexdigest()


def fetch(*args, **kw):
    kw.setdefault("timeout", 60)
    return run("sc-fetch", *args, **kw)


@pytest.fixture
def out(no_user_config, tmp_path):
    d = tmp_path / "datain"
    d.mkdir()
    return d


@pytest.fixture
def victim(tmp_path):
    """A file outside datain that nothing may touch."""
    v = tmp_path / "victim"
    v.write_text("precious\n")
    return v


def source(tmp_path, name, data):
    src = tmp_path / "src" / name
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(data)
    return f"file://{src}"


def manifest(tmp_path, *lines):
    m = tmp_path / "manifest"
    m.write_text("".join(line + "\n" for line in lines))
    return m


# ---- item: a planted .NAME.part symlink


@pytest.mark.parametrize("digest", [True, False])
def test_planted_part_symlink_is_not_written_through(tmp_path, out, victim, digest):
    data = b"attacker-controlled bytes\n" * 100
    url = source(tmp_path, "data.csv", data)
    os.symlink(victim, out / ".data.csv.part")
    args = [f"{url} sha256={sha(data)}"] if digest else [url]
    proc = fetch("-d", out, "-m", manifest(tmp_path, *args))
    assert proc.returncode == 73, proc.stderr
    assert ".data.csv.part" in proc.stderr and "symbolic link" in proc.stderr
    assert victim.read_text() == "precious\n"
    assert not (out / "data.csv").is_symlink()
    assert not (out / "data.csv").exists()


@pytest.mark.parametrize("planted", ["hard-link", "other-user"])
def test_planted_part_file_not_ours_alone_is_not_written_to(tmp_path, out, victim, planted):
    """A .part that is a hard link to a file of ours elsewhere (anyone can
    make one where fs.protected_hardlinks is off), or another user's file
    (writable by them once renamed into place): neither is written to."""
    data = b"downloaded bytes\n" * 100
    url = source(tmp_path, "data.csv", data)
    part = out / ".data.csv.part"
    if planted == "hard-link":
        os.link(victim, part)
    else:
        if os.geteuid() != 0:
            pytest.skip("needs root to give the file to another user")
        part.write_bytes(data[:500])
        part.chmod(0o666)
        os.chown(part, 65534, 65534)
    proc = fetch("-d", out, "-m", manifest(tmp_path, f"{url} sha256={sha(data)}"))
    assert proc.returncode == 73, proc.stderr
    why = "a file with other hard links" if planted == "hard-link" else "another user's file"
    assert f".data.csv.part: {why}: refusing to write to it" in proc.stderr
    assert victim.read_text() == "precious\n"
    assert not (out / "data.csv").exists()


def test_part_file_that_is_a_fifo_is_refused(tmp_path, out):
    url = source(tmp_path, "data.csv", b"x\n")
    os.mkfifo(out / ".data.csv.part")
    proc = fetch("-d", out, url, timeout=20)
    assert proc.returncode == 73, proc.stderr
    assert "not a regular file" in proc.stderr


# ---- item: links that leave datain


def test_target_below_a_symlink_is_refused(tmp_path, out, victim):
    """datain/X/h -> outside (as a hard link to an in-tree symlink left it)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / "X").mkdir()
    os.symlink(outside, out / "X" / "h")
    url = source(tmp_path, "file", b"written outside\n")
    proc = fetch("-d", out, "-m", manifest(tmp_path, f"{url} name=X/h/file"))
    assert proc.returncode == 73, proc.stderr
    assert "X/h" in proc.stderr and "symbolic link" in proc.stderr
    assert list(outside.iterdir()) == []


def test_target_below_a_symlink_to_a_missing_dir_creates_nothing(tmp_path, out):
    gone = tmp_path / "gone"
    os.symlink(gone, out / "d")
    url = source(tmp_path, "file", b"x\n")
    proc = fetch("-d", out, "-m", manifest(tmp_path, f"{url} name=d/sub/file"))
    assert proc.returncode == 73, proc.stderr
    assert not gone.exists()


def test_target_symlink_is_replaced_not_followed(tmp_path, out, victim):
    os.symlink(victim, out / "data.csv")
    data = b"new data\n"
    proc = fetch("-d", out, "--force", source(tmp_path, "data.csv", data))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text() == "precious\n"
    assert not (out / "data.csv").is_symlink()
    assert (out / "data.csv").read_bytes() == data


# ---- item: what is present is read only when it is a regular file


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_present_target_that_never_ends_is_not_read(tmp_path, out, kind):
    """datain/src.csv -> /dev/zero, or a FIFO: read, it would hang the run
    before any request; it is not read but replaced by the file fetched."""
    data = b"a,b\n1,2\n"
    url = source(tmp_path, "src.csv", data)
    if kind == "fifo":
        os.mkfifo(out / "src.csv")
    else:
        os.symlink("/dev/zero", out / "src.csv")
    proc = fetch("-q", "-d", out, url, timeout=20)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "src.csv").is_symlink()
    assert stat.S_ISREG((out / "src.csv").lstat().st_mode)
    assert (out / "src.csv").read_bytes() == data


def test_present_target_symlink_is_not_hashed_into_the_lock(tmp_path, out, victim):
    """datain/src.csv -> victim: the victim's digest is neither reported nor
    recorded; the link is replaced by the file fetched."""
    data = b"the real source\n"
    url = source(tmp_path, "src.csv", data)
    os.symlink(victim, out / "src.csv")
    lock = tmp_path / "sc-fetch.lock"
    proc = fetch("-J", "-d", out, "--lock", lock, url)
    assert proc.returncode == 0, proc.stderr
    assert "symbolic link" in proc.stderr
    line = json.loads(proc.stdout.splitlines()[0])
    assert line["outcome"] == "fetched" and line["sha256"] == sha(data)
    text = lock.read_text()
    assert sha(data) in text and sha(victim.read_bytes()) not in text
    assert victim.read_text() == "precious\n"
    assert not (out / "src.csv").is_symlink()
    assert (out / "src.csv").read_bytes() == data


def test_present_target_below_a_symlinked_directory_is_not_read(tmp_path, out, victim):
    """datain/sub -> a directory outside: sub/victim is neither skipped as
    present nor written; the run refuses the link on the way."""
    os.symlink(victim.parent, out / "sub")
    url = source(tmp_path, "victim", b"precious\n")
    proc = fetch("-d", out, "--lock", tmp_path / "lock",
                 "-m", manifest(tmp_path, f"{url} name=sub/victim"))
    assert proc.returncode == 73, proc.stderr
    assert "symbolic link" in proc.stderr
    lock = tmp_path / "lock"
    assert not lock.exists() or url not in lock.read_text()


def test_unpacked_directory_that_is_a_symlink_is_replaced(tmp_path, out):
    """datain/books -> elsewhere: the archive counts as not yet unpacked; the
    link is replaced by the tree, and what it pointed to is left alone."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("alice.txt")
        info.size = 6
        t.addfile(info, io.BytesIO(b"alice\n"))
    url = source(tmp_path, "books.tar.gz", buf.getvalue())
    proc = fetch("-q", "-d", out, url)
    assert proc.returncode == 0, proc.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mine").write_text("mine\n")
    os.symlink(elsewhere, out / "books")
    proc = fetch("-q", "-x", "-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "books").is_symlink()
    assert (out / "books" / "alice.txt").read_bytes() == b"alice\n"
    assert [p.name for p in elsewhere.iterdir()] == ["mine"]
    assert not any(p.name.startswith(".books") for p in out.iterdir())


def test_subdirectories_are_still_created(tmp_path, out):
    data = b"deep\n"
    proc = fetch("-d", out, "-m", manifest(tmp_path, f"{source(tmp_path, 'f', data)} name=a/b/c/f"))
    assert proc.returncode == 0, proc.stderr
    assert (out / "a" / "b" / "c" / "f").read_bytes() == data


def hardlink_to_symlink_tar():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name in ("a", "a/b"):
            d = tarfile.TarInfo(name)
            d.type = tarfile.DIRTYPE
            d.mode = 0o755
            t.addfile(d)
        s = tarfile.TarInfo("a/b/s")
        s.type = tarfile.SYMTYPE
        s.linkname = "../.."
        t.addfile(s)
        h = tarfile.TarInfo("h")
        h.type = tarfile.LNKTYPE
        h.linkname = "a/b/s"
        t.addfile(h)
    return buf.getvalue()


def test_hardlink_to_a_symlink_is_refused(tmp_path, out):
    url = source(tmp_path, "X.tar", hardlink_to_symlink_tar())
    proc = fetch("-x", "-d", out, url)
    assert proc.returncode == 1, proc.stderr
    assert "hard link" in proc.stderr
    assert not (out / "X").exists()
    assert sorted(p.name for p in out.iterdir()) == ["X.tar"]


def tar_of(members):
    """A tar of (name, kind) members: kind "d" a directory, else a small file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "d":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            else:
                info.size = 2
                t.addfile(info, io.BytesIO(b"x\n"))
    return buf.getvalue()


@pytest.mark.parametrize("members,why", [
    ([("a", "f"), ("a/b", "f")], "Not a directory"),
    ([("a/", "d"), ("a/b", "f"), ("a", "f")], "Can't replace existing directory"),
    ([("x" * 300, "f")], "File name too long"),
], ids=["file-then-below-it", "dir-then-file", "name-too-long"])
def test_archive_that_cannot_be_unpacked_is_corrupt_not_an_io_error(tmp_path, out, members,
                                                                    why):
    """Members that contradict each other, or a name no file system takes,
    are the archive's fault: status 1, as for any corrupt archive, not 74."""
    url = source(tmp_path, "bad.tar", tar_of(members))
    proc = fetch("-x", "-d", out, url)
    assert proc.returncode == 1, proc.stderr
    assert "bad.tar" in proc.stderr and why in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["bad.tar"]


def tar_gz(*members):
    """A .tar.gz of the (name, data) members, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def one_file_tar_gz(name, data):
    return tar_gz((name, data))


def books_tar_gz():
    return one_file_tar_gz("carroll.txt", b"carroll\n")


@pytest.mark.parametrize("lines", [
    ["{src}/pg11.txt name=books/alice.txt", "{src}/books.tar.gz extract"],
    ["{src}/books.tar.gz extract", "{src}/pg11.txt name=books"],
    ["{src}/books.tar.gz extract", "{src}/books.tar.gz name=books/inner.tar.gz extract"],
    ["{src}/books.tar.gz extract", "{src}/books.zip extract"],
    ["{src}/books.tar.gz name=data.tar.gz extract", "{src}/books.zip name=data.zip"],
], ids=["file-inside", "file-is-the-dir", "archive-inside", "two-archives-one-dir",
        "with-x"])
def test_a_target_inside_an_unpacked_directory_is_refused(tmp_path, out, lines):
    """Unpacking replaces the archive's directory whole: another target in
    it would be deleted by the same run that reports it fetched."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "pg11.txt").write_bytes(b"Alice\n")
    (src / "books.tar.gz").write_bytes(books_tar_gz())
    (src / "books.zip").write_bytes(b"")
    args = ["-x"] if "data.zip" in lines[1] else []
    proc = fetch(*args, "-d", out, "-m",
                 manifest(tmp_path, *(line.format(src=f"file://{src}") for line in lines)))
    assert proc.returncode == 65, proc.stderr
    assert "two URLs have the same target" in proc.stderr
    assert list(out.iterdir()) == []


def test_archives_unpacked_side_by_side_are_fine(tmp_path, out):
    src = tmp_path / "src"
    src.mkdir()
    (src / "pg11.txt").write_bytes(b"Alice\n")
    (src / "books.tar.gz").write_bytes(books_tar_gz())
    proc = fetch("-q", "-d", out, "-m", manifest(
        tmp_path, f"file://{src}/pg11.txt name=books-more/alice.txt",
        f"file://{src}/pg11.txt name=books.txt", f"file://{src}/books.tar.gz extract"))
    assert proc.returncode == 0, proc.stderr
    assert (out / "books-more" / "alice.txt").read_bytes() == b"Alice\n"
    assert (out / "books" / "carroll.txt").read_bytes() == b"carroll\n"


# ---- item: bounded sizes


def test_size_field_accepts_the_exact_size(tmp_path, out):
    data = b"0123456789" * 10
    url = source(tmp_path, "exact.bin", data)
    proc = fetch("-d", out, "-m", manifest(tmp_path, f"{url} size=100"))
    assert proc.returncode == 0, proc.stderr
    assert (out / "exact.bin").read_bytes() == data


@pytest.mark.parametrize("size,why", [("99", "more than the expected 99 bytes"),
                                      ("101", "100 bytes, expected 101")])
def test_size_field_refuses_another_size(tmp_path, out, size, why):
    url = source(tmp_path, "sized.bin", b"0123456789" * 10)
    proc = fetch("-d", out, "-m", manifest(tmp_path, f"{url} size={size}"))
    assert proc.returncode == 1, proc.stderr
    assert why in proc.stderr
    assert list(out.iterdir()) == []


def test_size_field_stops_an_endless_source(tmp_path, out):
    proc = fetch("-d", out, "-m", manifest(tmp_path, f"file:///dev/zero size=4096 name=z"),
                 timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert "more than the expected 4096 bytes" in proc.stderr
    assert list(out.iterdir()) == []


def test_dev_zero_with_a_wrong_digest_stops_at_the_cap(tmp_path, out):
    proc = fetch("-d", out, "--max-size", "2M", "-m",
                 manifest(tmp_path, f"file:///dev/zero sha256={WRONG} name=zero"), timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert "larger than the limit of 2097152 bytes" in proc.stderr
    assert list(out.iterdir()) == []


def test_cap_from_the_environment_and_the_config_file(tmp_path, out):
    url = source(tmp_path, "big.bin", b"x" * 5000)
    proc = fetch("-d", out, url, env={"SC_FETCH_MAX_SIZE": "4K"})
    assert proc.returncode == 1, proc.stderr
    assert "larger than the limit of 4096 bytes" in proc.stderr
    conf = tmp_path / "conf"
    conf.write_text("fetch_max_size = 1K\n")
    proc = fetch("-d", out, url, env={"SC_CONFIG": str(conf)})
    assert proc.returncode == 1 and "limit of 1024 bytes" in proc.stderr
    proc = fetch("-d", out, "--max-size", "1M", url, env={"SC_CONFIG": str(conf)})
    assert proc.returncode == 0, proc.stderr


def test_content_length_over_the_cap_fails_at_once(stub, out):
    body = b"y" * 100_000
    stub.behaviour = lambda h: h.send(200, body, "application/octet-stream")
    url = f"http://127.0.0.1:{stub.server_address[1]}/big.bin"
    proc = fetch("-d", out, "--max-size", "10K", url)
    assert proc.returncode == 1, proc.stderr
    assert "larger than the limit of 10240 bytes" in proc.stderr
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "ten", "5Q", "-1"])
def test_bad_cap_is_a_usage_error(out, value):
    proc = fetch("-d", out, "--max-size", value, "file:///dev/null/x")
    assert_usage(proc, "sc-fetch", f"invalid fetch_max_size '{value}'")


def bomb(members, size):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for i in range(members):
            info = tarfile.TarInfo(f"m{i}")
            info.size = size
            t.addfile(info, io.BytesIO(bytes(size)))
    return buf.getvalue()


def test_archive_bomb_stops_at_the_extraction_limit(tmp_path, out):
    url = source(tmp_path, "bomb.tar.gz", bomb(1, 20 << 20))
    proc = fetch("-x", "-d", out, url, env={"SC_EXTRACT_MAX_SIZE": "1M"})
    assert proc.returncode == 1, proc.stderr
    assert "more than the limit of 1048576 bytes" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["bomb.tar.gz"]


def test_sparse_member_counts_its_holes_against_the_extraction_limit(tmp_path, out):
    # GNU tar stores a sparse file as its few data blocks and a map of holes:
    # a tar.gz of a few hundred bytes that unpacks to 4 GiB
    sparse = tmp_path / "build" / "big.csv"
    sparse.parent.mkdir()
    with open(sparse, "wb") as f:
        f.truncate(4 << 30)
        f.seek((4 << 30) - 1)
        f.write(b"\n")
    archive = tmp_path / "src" / "sparse.tar.gz"
    archive.parent.mkdir()
    subprocess.run(["tar", "-C", sparse.parent, "-S", "-czf", archive, "big.csv"], check=True)
    assert archive.stat().st_size < 64 << 10
    proc = fetch("-x", "-d", out, f"file://{archive}", env={"SC_EXTRACT_MAX_SIZE": "1M"})
    assert proc.returncode == 1, proc.stderr
    assert "big.csv: unpacks to more than the limit of 1048576 bytes" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["sparse.tar.gz"]


def test_archive_with_too_many_members_is_refused(tmp_path, out):
    url = source(tmp_path, "many.tar.gz", bomb(30, 1))
    proc = fetch("-x", "-d", out, url, env={"SC_EXTRACT_MAX_MEMBERS": "10"})
    assert proc.returncode == 1, proc.stderr
    assert "more than 10 members" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["many.tar.gz"]


# ---- item: the extracted tree is readable by others


def test_extracted_root_follows_the_umask(tmp_path, out):
    url = source(tmp_path, "pub.tar.gz", bomb(2, 10))
    old = os.umask(0o022)
    try:
        proc = fetch("-x", "-d", out, url)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE((out / "pub").stat().st_mode) == 0o755


def modes_tar():
    """Directories a tar may well hold: 0555, 0644 (python's default for a
    TarInfo), 0000; and files of mode 0000."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, mode in (("ro", 0o555), ("ro/in", 0o555), ("noexec", 0o644), ("none", 0)):
            d = tarfile.TarInfo(name)
            d.type = tarfile.DIRTYPE
            d.mode = mode
            t.addfile(d)
            f = tarfile.TarInfo(f"{name}/f")
            f.size = 2
            f.mode = 0
            t.addfile(f, io.BytesIO(b"x\n"))
    return buf.getvalue()


def test_unpacked_directories_are_the_owners_to_change(tmp_path, out):
    """Every directory unpacked is u+rwx (a later run must be able to remove
    the tree it replaces), searchable by whoever may list it, and every file
    readable by its owner."""
    url = source(tmp_path, "modes.tar.gz", modes_tar())
    old = os.umask(0o022)
    try:
        proc = fetch("-q", "-x", "-d", out, url)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    tree = out / "modes"
    mode = lambda p: stat.S_IMODE(p.lstat().st_mode)
    assert mode(tree / "ro") == 0o755 and mode(tree / "ro" / "in") == 0o755
    assert mode(tree / "noexec") == 0o755
    assert mode(tree / "none") == 0o700
    for d in ("ro", "ro/in", "noexec", "none"):
        assert mode(tree / d / "f") == 0o400, d
        assert (tree / d / "f").read_bytes() == b"x\n"


@pytest.fixture
def nobody_area():
    """A directory of the user nobody's, and a way to run sc-fetch as that
    user when the suite runs as root (who may remove anything, read-only
    directories too)."""
    if os.geteuid() != 0:
        base = Path(tempfile.mkdtemp())
        yield base, []
    else:
        if not shutil.which("runuser"):
            pytest.skip("running as root, and no runuser(1) to run as nobody")
        base = Path(tempfile.mkdtemp(dir="/tmp"))
        os.chmod(base, 0o755)
        yield base, ["runuser", "-u", "nobody", "--"]
    subprocess.run(["chmod", "-R", "u+rwx", base], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def test_a_tree_with_read_only_directories_is_replaced_whole(nobody_area):
    """A tree unpacked earlier (by an older version, or by hand) holds
    directories of mode 0555 and 0644: unpacking again replaces it and
    removes it whole, leaving no hidden .NAME.tmp-XXXXXX behind."""
    base, prefix = nobody_area
    (base / "src").mkdir()
    (base / "src" / "modes.tar.gz").write_bytes(modes_tar())
    out = base / "datain"
    old = out / "modes"
    (old / "ro" / "in").mkdir(parents=True)
    (old / "ro" / "in" / "f").write_text("old\n")
    (old / "noexec").mkdir()
    (old / "noexec" / "f").write_text("old\n")
    if prefix:
        subprocess.run(["chown", "-R", "nobody", base], check=True)
    for d, m in (("ro/in", 0o555), ("ro", 0o555), ("noexec", 0o644)):
        os.chmod(old / d, m)
    proc = subprocess.run([*prefix, tool("sc-fetch"), "-q", "-x", "-f", "-d", out,
                           f"file://{base}/src/modes.tar.gz"],
                          capture_output=True, text=True, timeout=60)
    for marker in SANITIZER_MARKERS:
        assert marker not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["modes", "modes.tar.gz"]
    assert (out / "modes" / "ro" / "in" / "f").read_bytes() == b"x\n"
    # and once more: the tree this version unpacked goes as well
    proc = subprocess.run([*prefix, tool("sc-fetch"), "-q", "-x", "-f", "-d", out,
                           f"file://{base}/src/modes.tar.gz"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["modes", "modes.tar.gz"]


class Repeated(io.RawIOBase):
    """n bytes of b"x", without holding them."""

    def __init__(self, n):
        self.n = n

    def readable(self):
        return True

    def readinto(self, b):
        k = min(len(b), self.n)
        b[:k] = b"x" * k
        self.n -= k
        return k


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory):
    """A tar.gz of a few MiB that takes a while to unpack: 1 GiB of data."""
    path = tmp_path_factory.mktemp("big") / "big.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as t:
        for i in range(8):
            info = tarfile.TarInfo(f"part{i}.csv")
            info.size = 128 << 20
            t.addfile(info, io.BufferedReader(Repeated(info.size)))
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_while_unpacking_removes_the_temporary_tree(tmp_path, out, big_archive, sig):
    """Killed while unpacking, sc-fetch removes the hidden tree it was
    writing before it dies of the signal."""
    def default_dispositions():
        # under nohup (as the test command may run) SIGHUP comes ignored,
        # and an ignored signal stays ignored in sc-fetch, rightly
        for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_DFL)

    proc = subprocess.Popen([tool("sc-fetch"), "-q", "-x", "-d", str(out),
                             f"file://{big_archive}"], preexec_fn=default_dispositions,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".big.tmp-") for p in out.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the unpacking never started"
        time.sleep(0.002)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err
    assert proc.returncode == -sig, err
    assert sorted(p.name for p in out.iterdir()) == ["big.tar.gz"]


# ---- item: temporary trees left by a run killed outright


MARK = ".sc-fetch-tree"     # what makes a tree so named the extractor's


def leftover_names(d, stem):
    return sorted(p.name for p in d.iterdir() if p.name.startswith(f".{stem}.tmp-"))


def planted_leftover(tree):
    """A tree as a killed run leaves it: made, and marked as the extractor's."""
    tree.mkdir(parents=True, exist_ok=True)
    (tree / MARK).write_text("")
    return tree


def unpacking(d, stem):
    """A member is in a temporary tree: its run has it locked by now."""
    for name in leftover_names(d, stem):
        try:
            if any(p.name != MARK for p in (d / name).iterdir()):
                return True
        except FileNotFoundError:
            pass    # renamed into place meanwhile
    return False


def test_a_tree_left_by_sigkill_is_removed_by_the_next_run(tmp_path, out, big_archive):
    """SIGKILL (or a crash, a power cut) while unpacking leaves the hidden
    tree; the next run for the same target removes it, then unpacks."""
    proc = subprocess.Popen([tool("sc-fetch"), "-q", "-x", "-d", str(out),
                             f"file://{big_archive}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not unpacking(out, "big"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the unpacking never started"
        time.sleep(0.002)
    proc.kill()
    proc.communicate(timeout=60)
    left = leftover_names(out, "big")
    assert len(left) == 1 and any((out / left[0]).iterdir())
    proc = fetch("-x", "-d", out, f"file://{big_archive}")
    assert proc.returncode == 0, proc.stderr
    assert f"{out}/{left[0]}: left by an interrupted run: removed" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["big", "big.tar.gz"]
    assert len(list((out / "big").iterdir())) == 8


def test_leftovers_go_even_when_nothing_is_unpacked(tmp_path, out):
    """The archive is present and unpacked, so nothing is done with it; the
    trees killed runs left for it go all the same, read-only ones too, and
    in a subdirectory; names that are not exactly the extractor's stay, and
    so does a directory of the user's that holds no mark (one renamed to a
    leftover's name by whoever else may write datain)."""
    url = source(tmp_path, "books.tar.gz", books_tar_gz())
    lines = [f"{url} extract", f"{url} name=sub/books.tar.gz extract"]
    proc = fetch("-q", "-d", out, "-m", manifest(tmp_path, *lines))
    assert proc.returncode == 0, proc.stderr
    for d in (out, out / "sub"):
        tree = planted_leftover(d / ".books.tmp-Xy12Z9")
        (tree / "part" / "ro").mkdir(parents=True)
        (tree / "part" / "ro" / "f").write_text("x\n")
        os.symlink("/etc", tree / "part" / "etc")
        os.chmod(tree / "part" / "ro", 0o555)
        os.chmod(tree, 0o700)
    kept = [".books.tmp-abc12", ".books.tmp-abc1234", ".books.tmp-ab_123", "books.tmp-abc123",
            ".books.tmp.abc123", ".books2.tmp-abc123", ".pg11.tmp-abc123",
            ".books.tmp-NoMrk1"]
    for name in kept:
        (out / name).mkdir()
        (out / name / "f").write_text("kept\n")
    proc = fetch("-d", out, "-m", manifest(tmp_path, *lines))
    assert proc.returncode == 0, proc.stderr
    assert [r.split("\t")[3] for r in proc.stdout.splitlines()] == ["skipped", "skipped"]
    for d in (out, out / "sub"):
        assert f"{d}/.books.tmp-Xy12Z9: left by an interrupted run: removed" in proc.stderr
        assert leftover_names(d, "books") == sorted(
            n for n in kept if n.startswith(".books.tmp-") and d == out)
    for name in kept:
        assert (out / name / "f").read_text() == "kept\n"
    assert os.path.isdir("/etc") and os.listdir("/etc")
    # quiet: removed without a word
    planted_leftover(out / ".books.tmp-Xy12Z9")
    proc = fetch("-q", "-d", out, "-m", manifest(tmp_path, *lines))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert not (out / ".books.tmp-Xy12Z9").exists()


def test_a_tree_still_in_use_is_not_removed(tmp_path, out):
    """A tree whose lock is held belongs to a run still unpacking: kept
    while it is held, removed once it is not."""
    url = source(tmp_path, "books.tar.gz", books_tar_gz())
    tree = planted_leftover(out / ".books.tmp-InUse0")
    (tree / "half.csv").write_text("a,b\n")
    fd = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        proc = fetch("-x", "-d", out, url)
        assert proc.returncode == 0, proc.stderr
        assert "left by an interrupted run" not in proc.stderr
        assert (tree / "half.csv").read_text() == "a,b\n"
        assert (out / "books" / "carroll.txt").read_bytes() == b"carroll\n"
    finally:
        os.close(fd)
    proc = fetch("-x", "-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert not tree.exists()


def test_a_concurrent_run_keeps_its_tree(tmp_path, out, big_archive):
    """A run stopped half-way through unpacking holds its tree: a second run
    for the same target, started meanwhile, unpacks beside it, and the first
    one then finishes and replaces the second one's tree."""
    first = subprocess.Popen([tool("sc-fetch"), "-q", "-x", "-d", str(out),
                              f"file://{big_archive}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not unpacking(out, "big"):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the unpacking never started"
            time.sleep(0.002)
        first.send_signal(signal.SIGSTOP)
        tree = leftover_names(out, "big")[0]
        second = fetch("-x", "-d", out, f"file://{big_archive}")
        assert second.returncode == 0, second.stderr
        assert "left by an interrupted run" not in second.stderr
        assert (out / tree).is_dir()
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=60)
    for marker in SANITIZER_MARKERS:
        assert marker not in err, err
    assert first.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["big", "big.tar.gz"]
    assert len(list((out / "big").iterdir())) == 8


def test_a_link_named_like_a_leftover_leads_nowhere(tmp_path, out, victim):
    """A planted link (or file) named as the extractor names its trees is
    not the extractor's: left alone, and what it points to untouched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "mine").write_text("mine\n")
    os.symlink(outside, out / ".books.tmp-LnK001")
    os.symlink(victim, out / ".books.tmp-LnK002")
    (out / ".books.tmp-File01").write_text("a file\n")
    proc = fetch("-x", "-d", out, source(tmp_path, "books.tar.gz", books_tar_gz()))
    assert proc.returncode == 0, proc.stderr
    assert "left by an interrupted run" not in proc.stderr
    assert (out / ".books.tmp-LnK001").is_symlink() and (out / ".books.tmp-LnK002").is_symlink()
    assert (out / ".books.tmp-File01").read_text() == "a file\n"
    assert (outside / "mine").read_text() == "mine\n"
    assert victim.read_text() == "precious\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="making another user's tree needs root")
def test_another_users_tree_is_not_touched(tmp_path, out):
    """Root may remove anything, so ownership decides: another user's tree
    named like a leftover is kept whole, and so is another user's
    directory planted inside a leftover of ours, which is then reported."""
    theirs = out / ".books.tmp-Theirs"
    (theirs / "sub").mkdir(parents=True)
    (theirs / "sub" / "f").write_text("theirs\n")
    ours = planted_leftover(out / ".books.tmp-Ours01")
    (ours / "planted").mkdir(parents=True)
    (ours / "planted" / "f").write_text("theirs\n")
    (ours / "mine").write_text("mine\n")
    subprocess.run(["chown", "-R", "nobody", theirs, ours / "planted"], check=True)
    proc = fetch("-q", "-x", "-d", out, source(tmp_path, "books.tar.gz", books_tar_gz()))
    assert proc.returncode == 0, proc.stderr
    assert (theirs / "sub" / "f").read_text() == "theirs\n"
    assert (ours / "planted" / "f").read_text() == "theirs\n"
    assert not (ours / "mine").exists()
    assert (f"{ours}: left by an interrupted run, cannot be removed: "
            "Operation not permitted") in proc.stderr
    assert (out / "books" / "carroll.txt").read_bytes() == b"carroll\n"


# ---- item: the archive unpacked is the one checked


def evil_tar_gz():
    return one_file_tar_gz("evil.txt", b"evil\n")


@pytest.mark.parametrize("outcome,swap", [("skipped", "symlink"), ("skipped", "other-file"),
                                          ("fetched", "symlink")])
def test_an_archive_swapped_after_its_check_is_not_unpacked(stub, tmp_path, out, outcome, swap):
    """Between the check of books.tar.gz (its digest, or its fetch) and its
    unpacking, the other transfer gives a neighbour time to swap it for a
    link to an archive elsewhere, or for another file: neither is read."""
    good = books_tar_gz()
    url = source(tmp_path, "books.tar.gz", good)
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(evil_tar_gz())
    if outcome == "skipped":
        (out / "books.tar.gz").write_bytes(good)
    target = out / "books.tar.gz"

    def swap_then_answer(h):
        deadline = time.monotonic() + 10
        while not (target.is_file() and not target.is_symlink()):   # in place, fetched
            assert time.monotonic() < deadline
            time.sleep(0.01)
        if swap == "symlink":
            os.symlink(evil, out / ".swap")
        else:
            (out / ".swap").write_bytes(evil.read_bytes())
        os.replace(out / ".swap", target)
        h.send(200, b"a,b\n", ctype="text/csv")
    stub.behaviour = swap_then_answer
    other = f"http://127.0.0.1:{stub.server_address[1]}/other.csv"
    proc = fetch("-j", "1", "-d", out, "-m",
                 manifest(tmp_path, f"{url} sha256={sha(good)} extract", other))
    assert not (out / "books").exists(), sorted(p.name for p in (out / "books").iterdir())
    assert proc.returncode == 75, proc.stderr
    why = "replaced since its digest was checked" if swap == "other-file" else "symbolic link"
    assert f"{out}/books.tar.gz: " in proc.stderr and why in proc.stderr
    assert "not unpacked" in proc.stderr
    assert (out / "other.csv").read_bytes() == b"a,b\n"


# Interposed on sc-fetch with LD_PRELOAD: at the first mkdtemp(), as the
# unpacking makes its temporary tree, a neighbour swaps the directory
# SWAP_DIR for a symbolic link to SWAP_TO (the directory moved aside to
# SWAP_DIR.moved, as renameat2(RENAME_EXCHANGE) would leave it).
SWAP_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char *mkdtemp(char *template)
{
	static int swapped;
	char *(*real)(char *) = (char *(*)(char *))dlsym(RTLD_NEXT, "mkdtemp");
	const char *dir = getenv("SWAP_DIR"), *to = getenv("SWAP_TO");
	char moved[4096];

	if (!swapped && dir && to) {
		swapped = 1;
		snprintf(moved, sizeof(moved), "%s.moved", dir);
		if (rename(dir, moved) != 0 || symlink(to, dir) != 0)
			abort();
	}
	return real(template);
}
"""


@pytest.fixture(scope="module")
def swap_shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"), "swap", SWAP_SHIM)


def test_a_directory_swapped_for_a_link_while_unpacking_takes_nothing_elsewhere(
        out, tmp_path, swap_shim):
    """shelf/books.tar.gz is opened beneath datain, and then, as its tree is
    made, shelf becomes a link to a directory of the neighbour's choosing:
    the tree is made, swapped in and removed in the directory that was
    opened, and nothing is written where the link points."""
    good = books_tar_gz()
    url = source(tmp_path, "books.tar.gz", good)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "books").mkdir(parents=True)
    (elsewhere / "books" / "keep.txt").write_text("precious\n")
    asan = os.environ.get("ASAN_OPTIONS", "")
    proc = fetch("-d", out, "-m",
                 manifest(tmp_path, f"{url} sha256={sha(good)} name=shelf/books.tar.gz extract"),
                 env={"LD_PRELOAD": str(swap_shim), "SWAP_DIR": str(out / "shelf"),
                      "SWAP_TO": str(elsewhere),
                      "ASAN_OPTIONS": f"{asan}:verify_asan_link_order=0".lstrip(":")})
    assert (out / "shelf").is_symlink(), proc.stderr      # the swap happened
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["books", "keep.txt"], proc.stderr
    assert (elsewhere / "books" / "keep.txt").read_text() == "precious\n"
    assert proc.returncode == 0, proc.stderr
    assert (out / "shelf.moved" / "books" / "carroll.txt").read_bytes() == b"carroll\n"


EXCHANGE_SHIM = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The neighbour's move: the temporary tree's name and that of EXCHANGE_WITH
 * (both in EXCHANGE_DIR) are swapped, once, at EXCHANGE_AT: "open", as the
 * first member (carroll.txt) is created (libarchive open(2)s each file),
 * or "mkdtemp", as soon as the tree is made. */
static void exchange(const char *at, const char *path)
{
	static int swapped;
	const char *dir = getenv("EXCHANGE_DIR"), *with = getenv("EXCHANGE_WITH");
	const char *when = getenv("EXCHANGE_AT");
	size_t n = strlen(path);
	DIR *d;
	struct dirent *e;

	if (swapped || !dir || !with || !when || strcmp(when, at) != 0 ||
	    (strcmp(at, "open") == 0 && (n < 11 || strcmp(path + n - 11, "carroll.txt") != 0)) ||
	    !(d = opendir(dir)))
		return;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, ".books.tmp-", 11) == 0) {
			if (renameat2(dirfd(d), e->d_name, dirfd(d), with, RENAME_EXCHANGE) != 0)
				abort();
			swapped = 1;
			break;
		}
	closedir(d);
}

#define OPEN(name)							\
int name(const char *path, int flags, ...)				\
{									\
	int (*real)(const char *, int, ...) =				\
		(int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
	va_list ap;							\
	int mode;							\
									\
	va_start(ap, flags);						\
	mode = va_arg(ap, int);						\
	va_end(ap);							\
	exchange("open", path);						\
	return real(path, flags, mode);					\
}
OPEN(open)
OPEN(open64)

char *mkdtemp(char *template)
{
	char *(*real)(char *) = (char *(*)(char *))dlsym(RTLD_NEXT, "mkdtemp");
	char *made = real(template);

	if (made)
		exchange("mkdtemp", made);
	return made;
}
"""


@pytest.fixture(scope="module")
def exchange_shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"), "exchange", EXCHANGE_SHIM)


@pytest.mark.parametrize("at", ["mkdtemp", "open"])
def test_a_tree_swapped_with_a_neighbour_directory_while_unpacking_leaves_it_alone(
        out, tmp_path, exchange_shim, at):
    """Whoever may write datain/shelf swaps the temporary tree's name with
    shelf/models as soon as the tree is made (before it is locked), or as
    the unpacking starts, and the archive fails half-way (an unsafe member
    after a good one): a directory that is not the empty one just made is
    not taken for the tree, the members go into the tree, and the failed
    tree is removed through its descriptor, so models keeps what it holds,
    under whatever name it now has."""
    bad = tar_gz(("carroll.txt", b"carroll\n"), ("../evil.txt", b"evil\n"))
    url = source(tmp_path, "books.tar.gz", bad)
    models = out / "shelf" / "models"
    models.mkdir(parents=True)
    (models / "keep.txt").write_text("precious\n")
    asan = os.environ.get("ASAN_OPTIONS", "")
    proc = fetch("-d", out, "-m",
                 manifest(tmp_path, f"{url} sha256={sha(bad)} name=shelf/books.tar.gz extract"),
                 env={"LD_PRELOAD": str(exchange_shim), "EXCHANGE_DIR": str(out / "shelf"),
                      "EXCHANGE_WITH": "models", "EXCHANGE_AT": at,
                      "ASAN_OPTIONS": f"{asan}:verify_asan_link_order=0".lstrip(":")})
    assert proc.returncode != 0, proc.stderr
    assert "evil.txt" in proc.stderr
    kept = [p for p in (out / "shelf").rglob("keep.txt")]
    assert len(kept) == 1 and kept[0].read_text() == "precious\n", proc.stderr
    assert kept[0].parent.name != "models", "the swap did not happen"
    assert not (kept[0].parent / "carroll.txt").exists()


def send_whole(h, body, cut=False, headers=()):
    """A 200 with all of body; with cut, the connection drops after its
    first 100,000 bytes."""
    h.send_response(200)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if cut:
        h.wfile.write(body[:100_000])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)
        return
    h.wfile.write(body)


def test_no_resume_without_a_validator_or_a_digest(stub, tmp_path):
    """A .part whose version is unknown is not continued: the file may have
    changed, and its old head would be spliced onto the new tail."""
    old, new = os.urandom(300_000), os.urandom(300_000)
    ranges = []

    def drop_then_change(h):
        rng = h.headers.get("Range")
        ranges.append(rng)
        body = old if len(ranges) == 1 else new
        if rng is not None:
            start = int(rng.split("=")[1].rstrip("-"))
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            h.send_header("Content-Length", str(len(body) - start))
            h.end_headers()
            h.wfile.write(body[start:])
            return
        send_whole(h, body, cut=len(ranges) == 1)
    stub.behaviour = drop_then_change
    out = tmp_path / "out"
    url = f"http://127.0.0.1:{stub.server_address[1]}/changing.bin"
    proc = run("sc-fetch", "-q", "-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert (out / "changing.bin").read_bytes() == new
    assert ranges == [None, None]


def test_a_wrong_content_range_is_not_spliced_onto_the_part(stub, tmp_path):
    """A reply cut short leaves a .part; the range request that follows gets
    a wrong Content-Range, and the whole file is asked for again: it must
    replace the part, not follow it."""
    body = os.urandom(300_000)
    ranges = []

    def cut_then_wrong_range(h):
        rng = h.headers.get("Range")
        ranges.append(rng)
        if rng is not None:     # always the wrong part: from the start
            h.send_response(206)
            h.send_header("ETag", '"v1"')
            h.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(body)}")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        send_whole(h, body, cut=len(ranges) == 1, headers=[("ETag", '"v1"')])
    stub.behaviour = cut_then_wrong_range
    out = tmp_path / "out"
    url = f"http://127.0.0.1:{stub.server_address[1]}/data.bin"
    proc = run("sc-fetch", "-d", out, url)
    assert proc.returncode == 0, proc.stderr
    assert (out / "data.bin").read_bytes() == body
    assert ranges == [None, "bytes=100000-", None]


def test_a_part_of_the_file_asked_for_by_no_one_is_refused(stub, tmp_path):
    body = b"the whole file\n" * 1000

    def partial_always(h):
        h.send_response(206)
        h.send_header("Content-Range", f"bytes 5-{len(body) - 1}/{len(body)}")
        h.send_header("Content-Length", str(len(body) - 5))
        h.end_headers()
        h.wfile.write(body[5:])
    stub.behaviour = partial_always
    out = tmp_path / "out"
    url = f"http://127.0.0.1:{stub.server_address[1]}/data.bin"
    proc = run("sc-fetch", "-d", out, url)
    assert proc.returncode == 76, proc.stderr
    assert "a part of the file (206) in reply to a request for all of it" in proc.stderr
    assert not (out / "data.bin").exists()


def test_a_redirect_to_the_local_disk_is_refused(stub, tmp_path, victim):
    stub.behaviour = lambda h: h.send(302, b"", headers=[("Location", f"file://{victim}")])
    out = tmp_path / "out"
    proc = run("sc-fetch", "-d", out, f"http://127.0.0.1:{stub.server_address[1]}/data.csv")
    assert proc.returncode == 76, proc.stderr
    assert not (out / "data.csv").exists()
    assert victim.read_text() == "precious\n"


def send_pieces(h, status, headers, pieces, pause=0.0):
    """Answer status and headers, then each of pieces, until the client hangs up."""
    h.send_response(status)
    for k, v in headers:
        h.send_header(k, v)
    h.end_headers()
    try:
        for piece in pieces:
            h.wfile.write(piece)
            h.wfile.flush()
            time.sleep(pause)
    except OSError:
        pass
    h.close_connection = True


def test_an_endless_error_page_ends_with_its_status(stub, tmp_path):
    def endless_404(h):
        send_pieces(h, 404, [("Transfer-Encoding", "chunked")],
                    itertools.repeat(b"4000\r\n" + b"x" * 0x4000 + b"\r\n"))
    stub.behaviour = endless_404
    out = tmp_path / "out"
    started = time.monotonic()
    proc = run("sc-fetch", "-d", out, f"http://127.0.0.1:{stub.server_address[1]}/data.csv",
               timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "HTTP 404" in proc.stderr
    assert time.monotonic() - started < 20
    assert not (out / "data.csv").exists()


def test_a_trickle_counts_as_a_stall(stub, tmp_path):
    # a byte every 0.2 s never leaves 1 s without data, yet would take
    # hours for a real file: less than 1 KiB in a whole --timeout is a stall
    def trickle(h):
        send_pieces(h, 200, [("Content-Length", "100000")], itertools.repeat(b"x", 100), 0.2)
    stub.behaviour = trickle
    out = tmp_path / "out"
    proc = run("sc-fetch", "--timeout", "1", "--retries", "0", "-d", out,
               f"http://127.0.0.1:{stub.server_address[1]}/data.bin", timeout=60)
    assert proc.returncode == 75, proc.stderr
    assert "less than 1024 bytes received in 1 s" in proc.stderr
    assert not (out / "data.bin").exists()


@pytest.mark.parametrize("kind", ["many", "one-long"])
def test_endless_response_headers_fail_at_once_with_76(stub, tmp_path, kind):
    """Headers without end: libcurl stops reading them; asking again would
    get the same, so it is the server's malformed answer (76), at once."""
    def endless_headers(h):
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\n")
            if kind == "many":
                for i in itertools.count():
                    h.wfile.write(b"X-Pad-%d: %s\r\n" % (i, b"v" * 100))
            else:
                h.wfile.write(b"X-Pad: ")
                while True:
                    h.wfile.write(b"v" * 4096)
        except OSError:
            pass
        h.close_connection = True
    stub.behaviour = endless_headers
    out = tmp_path / "out"
    started = time.monotonic()
    proc = run("sc-fetch", "--retries", "3", "-d", out,
               f"http://127.0.0.1:{stub.server_address[1]}/data.bin", timeout=60)
    assert proc.returncode == 76, proc.stderr
    assert "response headers" in proc.stderr.lower() and "attempts" not in proc.stderr
    assert len(stub.requests) == 1
    assert time.monotonic() - started < 10
    assert list(out.iterdir()) == []


def many_empty_zip(path, n, declared, honest=True):
    """A zip of n empty stored entries whose end record declares `declared`,
    written without zipfile (which would take minutes for a million); not
    honest, the end record says the directory is empty and starts at 0
    (libarchive looks for it from there)."""
    local, central, off = [], [], 0
    for i in range(n):
        name = b"%x" % i
        lh = struct.pack("<IHHHHHIIIHH", 0x04034b50, 10, 0, 0, 0, 0, 0, 0, 0, len(name), 0)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 0x031e, 10, 0, 0, 0, 0,
                                   0, 0, 0, len(name), 0, 0, 0, 0, 0o100644 << 16, off) + name)
        local.append(lh + name)
        off += len(lh) + len(name)
    cd = b"".join(central)
    with open(path, "wb") as f:
        f.write(b"".join(local))
        f.write(cd)
        f.write(struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, declared, declared,
                            len(cd) if honest else 0, off if honest else 0, 0))


@pytest.mark.parametrize("honest", [True, False], ids=["honest", "lying-offsets"])
def test_a_zip_of_countless_empty_entries_is_refused_before_it_is_read(tmp_path, out, honest):
    """The central directory is counted before libarchive takes it into
    memory whole: 400,000 entries (the end record says 5) are refused at
    the member limit in a few MiB, not the 77 MiB libarchive would take,
    whatever the end record says of where the directory is."""
    plain = os.environ.get("SC_TEST_PLAIN_BIN")
    if not plain:
        pytest.skip("SC_TEST_PLAIN_BIN is not set: the sanitized build's memory says nothing")
    src = tmp_path / "src" / "many.zip"
    src.parent.mkdir()
    many_empty_zip(src, 400_000, 5, honest)
    measure = ("import resource, subprocess, sys\n"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
               "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
               "sys.stderr.write(p.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", measure, os.path.join(plain, "sc-fetch"),
                           "-q", "-x", "-d", out, f"file://{src}"],
                          capture_output=True, text=True, timeout=120)
    status, max_rss_kib = map(int, proc.stdout.split())
    assert status == 1, proc.stderr
    assert "more than 100000 members (extract_max_members)" in proc.stderr
    assert max_rss_kib < 40 << 10, f"{max_rss_kib} KiB"
    assert sorted(p.name for p in out.iterdir()) == ["many.zip"]


@pytest.mark.parametrize("n", [50, 70_000], ids=["zip", "zip64"])
def test_a_zip_declaring_too_many_entries_is_refused_at_once(tmp_path, out, n):
    src = tmp_path / "src" / "decl.zip"
    src.parent.mkdir()
    with zipfile.ZipFile(src, "w") as z:
        for i in range(n):
            z.writestr(f"{i:x}", b"")
    proc = fetch("-x", "-d", out, f"file://{src}",
                 env={"SC_EXTRACT_MAX_MEMBERS": str(n - 10)})
    assert proc.returncode == 1, proc.stderr
    assert f"more than {n - 10} members (extract_max_members)" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["decl.zip"]
    if n < 1000:    # and at the limit it is unpacked
        proc = fetch("-q", "-x", "-d", out, f"file://{src}",
                     env={"SC_EXTRACT_MAX_MEMBERS": str(n)})
        assert proc.returncode == 0, proc.stderr
        assert len(list((out / "decl").iterdir())) == n
