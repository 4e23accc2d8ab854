"""Docker-free checks of the image reader's semantics: content retention, hardlinks
through symlinked directories, compressed layers, fuzzed docker-archives, and the
loader's RPATH chain compared with the host's own glibc."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
from capabilities import reason
from hypothesis import given, settings
from hypothesis import strategies as st

from gsc.analysis import analyze_program
from gsc.errors import InputError
from gsc.image import load_archive

from .test_archive import CONFIG, _classic, _layer

ELF = Path("/bin/true").read_bytes() if os.path.exists("/bin/true") else b"\x7fELF" + bytes(70000)
BIG = os.urandom(200_000)


def test_retention_keeps_what_gsc_reads() -> None:
    layer = _layer([
        ("data/big.bin", BIG, {}),
        ("data/dup.bin", ELF, {}),  # same bytes as a kept ELF file: readable via dedup
        ("data/big-exec", BIG + b"x", {"mode": 0o755}),
        ("usr/lib/libfoo.so", ELF, {"mode": 0o644}),
        ("usr/bin/script", b"#!/bin/sh\n" + BIG, {"mode": 0o644}),
        ("etc/ld.so.cache", BIG + b"c", {}),
        ("opt/ld.so.conf", BIG + b"d", {}),
        ("data/small", b"small", {}),
    ])
    with load_archive(io.BytesIO(_classic([layer], CONFIG))) as img:
        for kept in ("/data/dup.bin", "/data/big-exec", "/usr/lib/libfoo.so", "/usr/bin/script",
                     "/etc/ld.so.cache", "/opt/ld.so.conf", "/data/small"):
            entry = img.fs.get(kept)
            assert entry is not None
            assert len(img.fs.read_bytes(kept)) == entry.size, kept
        big = img.fs.get("/data/big.bin")
        assert big is not None and big.size == len(BIG)
        import hashlib

        assert big.sha256 == hashlib.sha256(BIG).hexdigest()
        with pytest.raises(InputError, match="not kept"):
            img.fs.read_bytes("/data/big.bin")
        with pytest.raises(InputError, match="not kept"):
            img.fs.open("/data/big.bin")
    with load_archive(io.BytesIO(_classic([layer], CONFIG)), retain="all") as img:
        assert img.fs.read_bytes("/data/big.bin") == BIG


def test_hardlink_through_symlinked_directory() -> None:
    low = _layer([("usr/lib/x", b"payload", {}),
                  ("lib", b"", {"type": tarfile.SYMTYPE, "linkname": "usr/lib"})])
    high = _layer([("lib/hard", b"", {"type": tarfile.LNKTYPE, "linkname": "lib/x"})])
    with load_archive(io.BytesIO(_classic([low, high], CONFIG))) as img:
        x, hard = img.fs.get("/usr/lib/x"), img.fs.get("/usr/lib/hard")
        assert x is not None and hard is not None and not img.warnings
        assert hard.inode == x.inode and x.nlink == 2
        assert img.fs.read_bytes("/lib/hard") == b"payload"


def test_hardlink_survives_deletion_of_its_target() -> None:
    low = _layer([("a/f", b"one", {}), ("a/h", b"", {"type": tarfile.LNKTYPE, "linkname": "a/f"})])
    high = _layer([("a/.wh.f", b"", {})])
    with load_archive(io.BytesIO(_classic([low, high], CONFIG))) as img:
        assert img.fs.get("/a/f") is None
        h = img.fs.get("/a/h")
        assert h is not None and h.nlink == 1 and img.fs.read_bytes("/a/h") == b"one"


def test_opaque_dir_then_whiteout_then_new_contents() -> None:
    low = _layer([("d/old", b"o", {}), ("d/sub/deep", b"x", {}), ("keep", b"k", {})])
    high = _layer([("d/new", b"n", {}), ("d/.wh..wh..opq", b"", {}), ("d/sub/again", b"a", {}),
                   (".wh.keep", b"", {}), ("keep2", b"k2", {})])
    with load_archive(io.BytesIO(_classic([low, high], CONFIG))) as img:
        assert sorted(e.path for e in img.fs) == ["/", "/d", "/d/new", "/d/sub", "/d/sub/again",
                                                  "/keep2"]


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_layers(compress: Any) -> None:
    layer = _layer([("f", b"hello" * 1000, {}), ("g", BIG, {})])
    with load_archive(io.BytesIO(_classic([compress(layer)], CONFIG)), retain="all") as img:
        assert img.fs.read_bytes("/f") == b"hello" * 1000
        assert img.fs.read_bytes("/g") == BIG


def test_truncated_compressed_layer_is_input_error() -> None:
    layer = gzip.compress(_layer([("g", BIG, {})]))
    with pytest.raises(InputError, match="layer"):
        load_archive(io.BytesIO(_classic([layer[: len(layer) // 2]], CONFIG)))


_ARCHIVE = _classic([_layer([("a/b", b"x" * 700, {}), ("a/l", b"", {"type": tarfile.SYMTYPE,
                                                                  "linkname": "b"})])], CONFIG)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_ARCHIVE) - 1), st.binary(min_size=1, max_size=8)),
                max_size=4), st.integers(0, len(_ARCHIVE)))
def test_mutated_docker_archive_is_input_error_or_image(patches: list[tuple[int, bytes]],
                                                        cut: int) -> None:
    data = bytearray(_ARCHIVE)
    for pos, patch in patches:
        data[pos:pos + len(patch)] = patch
    try:
        with load_archive(io.BytesIO(bytes(data[:cut]))) as img:
            list(img.fs)
    except InputError:
        pass


# ---------------------------------------------------------------------- RPATH chain
def _gcc(*args: str) -> None:
    subprocess.run(["gcc", "-O0", *args], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("gcc") is None, reason=reason("gcc", "no gcc"))
def test_rpath_chain_matches_host_glibc() -> None:
    """exe (RPATH r1) -> libA (r1) -> libC (r1, RUNPATH r2) -> libD (r2) -> libE (r1 only):
    glibc finds libE through the executable's RPATH although libC has a RUNPATH."""
    with tempfile.TemporaryDirectory() as d:
        r1, r2, src = f"{d}/r1", f"{d}/r2", f"{d}/src"
        for p in (r1, r2, src):
            os.mkdir(p)
        Path(f"{src}/e.c").write_text("int e(void){return 5;}\n")
        Path(f"{src}/d.c").write_text("int e(void); int dd(void){return e();}\n")
        Path(f"{src}/c.c").write_text("int dd(void); int c(void){return dd();}\n")
        Path(f"{src}/a.c").write_text("int c(void); int a(void){return c();}\n")
        Path(f"{src}/m.c").write_text("int a(void); int main(void){return a() != 5;}\n")
        _gcc("-shared", "-fPIC", "-o", f"{r1}/libE.so", f"{src}/e.c")
        _gcc("-shared", "-fPIC", "-o", f"{r2}/libD.so", f"{src}/d.c", f"-L{r1}", "-lE")
        _gcc("-shared", "-fPIC", "-o", f"{r1}/libC.so", f"{src}/c.c", f"-L{r2}", "-lD",
             "-Wl,--enable-new-dtags", f"-Wl,-rpath,{r2}", f"-Wl,-rpath-link,{r1}")
        _gcc("-shared", "-fPIC", "-o", f"{r1}/libA.so", f"{src}/a.c", f"-L{r1}", "-lC",
             f"-Wl,-rpath-link,{r1}:{r2}")
        _gcc("-o", f"{d}/exe", f"{src}/m.c", f"-L{r1}", "-lA", "-Wl,--disable-new-dtags",
             f"-Wl,-rpath,{r1}", f"-Wl,-rpath-link,{r1}:{r2}")
        host = subprocess.run([f"{d}/exe"], capture_output=True)
        assert host.returncode == 0, host.stderr  # the host's glibc resolves the chain
        members: list[tuple[str, bytes, dict[str, Any]]] = []
        for p in (f"{r1}/libE.so", f"{r2}/libD.so", f"{r1}/libC.so", f"{r1}/libA.so"):
            members.append((p, Path(p).read_bytes(), {"mode": 0o755}))
        members.append((f"{d}/exe", Path(f"{d}/exe").read_bytes(), {"mode": 0o755}))
        with load_archive(io.BytesIO(_classic([_layer(members)], CONFIG))) as img:
            result = analyze_program(img.fs, [f"{d}/exe"], {})
    found = {lib.name: lib.path for lib in result.libraries}
    assert found.get("libA.so") == f"{r1}/libA.so"
    assert found.get("libC.so") == f"{r1}/libC.so"
    assert found.get("libD.so") == f"{r2}/libD.so"
    assert found.get("libE.so") == f"{r1}/libE.so"
    assert not [m for m in result.missing if "libE" in m or "libD" in m]
