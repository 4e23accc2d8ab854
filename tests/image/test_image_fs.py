"""Reading images: the merged file system compared with what a real container shows."""

from __future__ import annotations

import hashlib
import subprocess
from typing import Any

import pytest

from gsc.errors import InputError
from gsc.image import Image, load_image

pytestmark = pytest.mark.docker


def _run(image: str, *cmd: str) -> str:
    proc = subprocess.run(["docker", "run", "--rm", "--entrypoint", cmd[0], image, *cmd[1:]],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_layers_match_container_view(loaded: Any, test_image: Any) -> None:
    img: Image = loaded("layers")
    ref = test_image("layers")
    # independent source: the container's own view of /data
    stat_out = _run(ref, "find", "/data", "-exec", "stat", "-c", "%n|%F|%a|%u|%g|%h|%s", "{}", "+")
    sums = _run(ref, "find", "/data", "-type", "f", "-exec", "sha256sum", "{}", "+")
    want_sha = {line.split()[1]: line.split()[0] for line in sums.splitlines()}
    kinds = {"directory": "dir", "regular file": "file", "symbolic link": "symlink",
             "fifo": "fifo", "regular empty file": "file"}
    want = {}
    for line in stat_out.splitlines():
        name, ftype, mode, uid, gid, nlink, _size = line.split("|")
        kind = kinds[ftype]
        want[name] = (kind, int(mode, 8), int(uid), int(gid),
                      int(nlink) if kind == "file" else 0)
    got = {e.path: (e.kind, e.mode & 0o7777, e.uid, e.gid, e.nlink if e.kind == "file" else 0)
           for e in img.fs if e.path == "/data" or e.path.startswith("/data/")}
    assert got == want
    for path, sha in want_sha.items():
        assert img.fs.get(path).sha256 == sha  # type: ignore[union-attr]
    # whiteouts, opaque dir, hardlinks, metadata changes
    assert img.fs.get("/data/gone") is None and img.fs.get("/data/keep/doomed") is None
    assert img.fs.get("/data/opq/old") is None and img.fs.get("/data/opq/sub") is None
    a, hard = img.fs.get("/data/keep/a"), img.fs.get("/data/keep/a-hard")
    assert a is not None and hard is not None and a.inode == hard.inode and a.nlink == 3
    assert img.fs.read_bytes("/data/keep/a-hard") == b"one\n"
    assert img.fs.read_bytes("/data/link-a") == b"one\n"  # symlinks followed in-image
    assert img.fs.resolve("/data/link-a") == "/data/keep/a"
    assert img.fs.resolve("/data/link-a", follow_last=False) == "/data/link-a"


def test_entries_sorted_and_stats(loaded: Any) -> None:
    img: Image = loaded("layers")
    listed = [e.path for e in img.fs]
    assert listed == sorted(listed)
    stats = img.fs.stats
    assert stats["regular"] == sum(1 for e in img.fs if e.kind == "file")
    assert stats["symlink"] == sum(1 for e in img.fs if e.kind == "symlink")
    assert stats["other"] == 1  # the fifo


def test_hostile_image(loaded: Any, test_image: Any) -> None:
    img: Image = loaded("hostile")
    fs = img.fs
    # symlinks aimed at host paths stay inside the image root
    assert fs.resolve("/etc/x") == "/root/secret"
    assert fs.resolve("/data/up") == "/root/secret"
    assert fs.lookup("/etc/x") is None
    with pytest.raises(InputError):
        fs.read_bytes("/etc/x")
    with pytest.raises(InputError):
        fs.open("/data/up")
    assert fs.resolve("/../../../etc/x/..") == "/root"
    # loops are detected
    assert fs.resolve("/data/loop-a") is None
    assert fs.resolve("/app/loop") is None
    assert fs.resolve("/data/loop-a", follow_last=False) == "/data/loop-a"
    # odd names
    for name, content in [("/data/with space", b"spaced\n"), ("/data/quo\"te's", b"quoted\n"),
                          ("/data/new\nline", b"nl\n"),
                          (b"/data/bad-\xff-utf8".decode("utf-8", "surrogateescape"),
                           b"bytes\n"), ("/data/empty", b"")]:
        e = fs.get(name)
        assert e is not None and e.kind == "file", name
        assert e.sha256 == hashlib.sha256(content).hexdigest()
        assert fs.read_bytes(name) == content
    # special files recorded, never hashed
    dev = fs.get("/data/null-dev")
    assert dev is not None and dev.kind == "char" and dev.sha256 is None
    assert (dev.devmajor, dev.devminor) == (1, 3)
    fifo = fs.get("/data/fifo")
    assert fifo is not None and fifo.kind == "fifo" and fifo.sha256 is None
    # the large sparse file: size and hash agree with the container's sha256sum
    sparse = fs.get("/data/sparse")
    assert sparse is not None and sparse.size == 200 * 1024 * 1024 + 4
    want = _run(test_image("hostile"), "sha256sum", "/data/sparse").split()[0]
    assert sparse.sha256 == want
    # a big data file: hashed, but by default its contents are not kept
    with pytest.raises(InputError, match="not kept"):
        fs.read_bytes("/data/sparse", limit=10)
    with load_image(test_image("hostile"), pull=False, retain="all") as full:
        h = hashlib.sha256()
        with full.fs.open("/data/sparse") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        assert h.hexdigest() == want
        assert full.fs.read_bytes("/data/sparse", limit=10) == bytes(10)
        assert full.fs.get("/data/sparse") == sparse


def test_private_tempdir_removed_on_close(test_image: Any) -> None:
    import os

    with load_image(test_image("static-busybox"), pull=False) as img:
        store_dir = os.path.dirname(img.fs._store._fd and f"/proc/self/fd/{img.fs._store._fd}")
        real = os.readlink(f"/proc/self/fd/{img.fs._store._fd}")  # type: ignore[union-attr]
        tmpdir = os.path.dirname(real)
        assert os.stat(tmpdir).st_mode & 0o777 == 0o700
        assert os.listdir(tmpdir) == ["content.bin"]
        assert os.stat(real).st_mode & 0o777 == 0o600
        assert store_dir
    assert not os.path.exists(tmpdir)


def test_config(loaded: Any) -> None:
    img: Image = loaded("userapp")
    assert img.config.entrypoint == ["/app/server", "--port"]
    assert img.config.cmd == ["8080"]
    assert img.config.user == "1000:1000"
    assert img.config.workdir == "/app"
    assert list(img.config.env) == ["PATH", "GREETING"]
    assert img.config.env["GREETING"] == "hi there"
    server = img.fs.get("/app/server")
    assert server is not None and (server.uid, server.gid, server.mode) == (1000, 1000, 0o755)


def test_by_id_and_digest_reference(test_image: Any) -> None:
    ref = test_image("static-busybox")
    with load_image(ref, pull=False) as img:
        by_name = img.id
    with load_image(by_name, pull=False) as img2:
        assert img2.id == by_name
        assert img2.fs.get("/bin/busybox") is not None


def test_missing_image_is_input_error() -> None:
    with pytest.raises(InputError) as exc:
        load_image("gsc-test/does-not-exist:nope", pull=False)
    assert "\n" not in exc.value.message
    with pytest.raises(InputError):
        load_image("-bad ref")
