"""The streaming tar reader (gsc.image.tarstream): agreement with Python's tarfile on
generated archives, GNU tar's sparse formats, and fuzzing (it never crashes or hangs on
mutated input: members or TarError)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from typing import Any

import pytest
from capabilities import reason
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsc.image.tarstream import (
    BLOCK,
    ReaderSource,
    Source,
    SubSource,
    TarError,
    TarReader,
    header_ok,
)

ENC = {"encoding": "utf-8", "errors": "surrogateescape"}


def parse(data: bytes, bufsize: int = 4096, threaded: bool = False,
          ) -> list[tuple[Any, ...]]:
    """(name, linkname, type, mode, uid, gid, size, devmajor, devminor, contents)."""
    src = ReaderSource(io.BytesIO(data), bufsize=bufsize, threaded=threaded)
    try:
        reader = TarReader(src)
        out = []
        while (e := reader.next()) is not None:
            body = bytearray()
            for piece in reader.contents():
                body += bytes(piece) if isinstance(piece, int) else piece
            name = e.name.decode(**ENC)
            if e.type == 0x35:
                name = name.rstrip("/") or name
            out.append((name, e.linkname.decode(**ENC), chr(e.type).encode(), e.mode, e.uid,
                        e.gid, e.realsize, e.devmajor, e.devminor, bytes(body)))
        return out
    finally:
        src.close()


def reference(data: bytes) -> list[tuple[Any, ...]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", **ENC) as tar:  # type: ignore[call-overload]
        for m in tar:
            f = tar.extractfile(m) if m.isreg() else None
            body = f.read() if f is not None else b""
            sparse_or_old = m.type in (tarfile.AREGTYPE, tarfile.GNUTYPE_SPARSE)
            typ = tarfile.REGTYPE if sparse_or_old else m.type
            dev = (m.devmajor, m.devminor) if m.ischr() or m.isblk() else (0, 0)
            out.append((m.name, m.linkname, typ, m.mode, m.uid, m.gid,
                        m.size if m.isreg() else 0, *dev, body))
    return out


def _normalise_sizes(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # header-only members carry no data whatever their size field says
    return [(*r[:6], r[6] if r[2] in (b"0", b"7") else 0, *r[7:]) for r in rows]


# ---------------------------------------------------------------------- generated
name_part = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
            min_size=1, max_size=40),
    st.binary(min_size=1, max_size=20).filter(lambda b: b"/" not in b and b"\0" not in b)
    .map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(["with space", "new\nline", "x" * 120, "ü", "a b\tc", "."]),
)
names = st.lists(name_part, min_size=1, max_size=4).map("/".join).filter(
    lambda n: n not in (".", "..") and not n.endswith("/."))

member = st.fixed_dictionaries({
    "name": names,
    "type": st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                             tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
                             tarfile.FIFOTYPE, tarfile.CONTTYPE]),
    "size": st.one_of(st.integers(0, 3000), st.sampled_from([511, 512, 513, 4095, 4096, 9000])),
    "link": st.one_of(names, st.just("t" * 300)),
    "mode": st.integers(0, 0o7777),
    "uid": st.one_of(st.integers(0, 65535), st.integers(0, 1 << 40)),
    "gid": st.integers(0, 1 << 22),
    "dev": st.tuples(st.integers(0, 4095), st.integers(0, 1 << 20)),
})


def build(members: list[dict[str, Any]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, **ENC) as tar:  # type: ignore[call-overload]
        for i, m in enumerate(members):
            info = tarfile.TarInfo(m["name"])
            info.type = m["type"]
            info.mode, info.uid, info.gid = m["mode"], m["uid"], m["gid"]
            data = None
            if m["type"] in (tarfile.REGTYPE, tarfile.CONTTYPE):
                info.size = m["size"]
                data = io.BytesIO(bytes((i + k) % 251 for k in range(m["size"])))
            elif m["type"] in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = m["link"]
            elif m["type"] in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = m["dev"]
            tar.addfile(info, data)
    return buf.getvalue()


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(member, max_size=12), st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
       st.integers(1, 40), st.booleans())
def test_agrees_with_tarfile(members: list[dict[str, Any]], fmt: int, blocks: int,
                             threaded: bool) -> None:
    data = build(members, fmt)
    bufsize = blocks * 97  # odd sizes: headers and data straddle buffer boundaries
    assert _normalise_sizes(parse(data, bufsize, threaded)) == _normalise_sizes(reference(data))


def test_ustar_prefix_and_v7_directory() -> None:
    long_dir = "d" * 90 + "/" + "e" * 60
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(long_dir + "/file")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
        v7 = tarfile.TarInfo("olddir/")
        v7.type = tarfile.AREGTYPE
        tar.addfile(v7)
    rows = parse(buf.getvalue())
    assert rows[0][0] == long_dir + "/file" and rows[0][-1] == b"abc"
    assert rows[1][0] == "olddir" and rows[1][2] == b"5"


def _pax(records: dict[str, str], typ: bytes = tarfile.XHDTYPE) -> bytes:
    body = b""
    for k, v in records.items():
        rec = f" {k}={v}\n".encode()
        n = len(rec) + 1
        while len(str(n)) + len(rec) != n:
            n += 1
        body += str(n).encode() + rec
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = typ
    info.size = len(body)
    return info.tobuf(tarfile.USTAR_FORMAT) + body + bytes(-len(body) % BLOCK)


def _file(name: str, data: bytes, size: int | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    return info.tobuf(tarfile.USTAR_FORMAT) + data + bytes(-len(data) % BLOCK)


def test_pax_overrides_and_global_headers_ignored() -> None:
    data = (_pax({"path": "ignored/global"}, tarfile.XGLTYPE)
            + _pax({"path": "real name", "size": "5", "uid": "123456789"})
            + _file("short", b"hello", size=0)
            + _file("next", b"x") + bytes(1024))
    rows = parse(data)
    assert [(r[0], r[4], r[-1]) for r in rows] == [("real name", 123456789, b"hello"),
                                                  ("next", 0, b"x")]


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"x" * 100, "truncated"),
    (b"x" * 512, "checksum"),
    (_file("a", b"abc")[:600], "end of data"),
    (_pax({"path": "p"}) + bytes(1024), "extended header"),
    (_pax({"size": "-3"}) + _file("a", b""), "size"),
    (_pax({"size": "99999999999999999999999999999999"}) + _file("a", b""), "size"),
    (_file("a", b"")[:148] + b"zzzzzzz\0" + _file("a", b"")[156:], "checksum"),
])
def test_malformed_raises_tar_error(data: bytes, message: str) -> None:
    with pytest.raises(TarError, match=message):
        parse(data)


def test_huge_meta_is_refused_without_reading_it() -> None:
    info = tarfile.TarInfo("././@LongLink")
    info.type = tarfile.GNUTYPE_LONGNAME
    info.size = 1 << 40
    with pytest.raises(TarError, match="too large"):
        parse(info.tobuf(tarfile.GNU_FORMAT))


def test_base256_size_and_negative_size() -> None:
    hdr = bytearray(tarfile.TarInfo("big").tobuf(tarfile.GNU_FORMAT))
    hdr[124:136] = b"\x80" + (5).to_bytes(11, "big")
    _fix_checksum(hdr)
    assert parse(bytes(hdr) + b"12345".ljust(512, b"\0"))[0][-1] == b"12345"
    hdr[124:136] = b"\xff" * 12  # -1
    _fix_checksum(hdr)
    with pytest.raises(TarError, match="negative"):
        parse(bytes(hdr))


def _fix_checksum(hdr: bytearray) -> None:
    hdr[148:156] = b" " * 8
    hdr[148:156] = b"%06o\0 " % sum(hdr)


# ---------------------------------------------------------------------- GNU tar sparse
@pytest.mark.skipif(shutil.which("tar") is None, reason=reason("tar", "no GNU tar"))
@pytest.mark.parametrize("flags", [["--format=gnu"], ["--format=pax", "--sparse-version=0.0"],
                                   ["--format=pax", "--sparse-version=0.1"],
                                   ["--format=pax", "--sparse-version=1.0"]])
def test_gnu_tar_sparse_files(flags: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sparse")
        with open(path, "wb") as f:
            for off in (0, 3 << 20, 9 << 20):
                f.seek(off)
                f.write(os.urandom(5000))
            f.truncate(12 << 20)
        with open(path, "rb") as f:
            want = f.read()
        proc = subprocess.run(["tar", "-C", d, "-c", "--sparse", *flags, "sparse"],
                              capture_output=True, check=True)
    rows = parse(proc.stdout, bufsize=1 << 16)
    assert len(rows) == 1 and rows[0][0] == "sparse"
    assert rows[0][6] == len(want) and rows[0][-1] == want
    assert reference(proc.stdout)[0][-1] == want


# ---------------------------------------------------------------------- fuzzing
_SEED = build([
    {"name": "dir/" + "long" * 40, "type": tarfile.REGTYPE, "size": 700, "link": "", "mode": 0o644,
     "uid": 1 << 33, "gid": 0, "dev": (0, 0)},
    {"name": "l", "type": tarfile.SYMTYPE, "size": 0, "link": "t" * 200, "mode": 0o777,
     "uid": 0, "gid": 0, "dev": (0, 0)},
    {"name": "c", "type": tarfile.CHRTYPE, "size": 0, "link": "", "mode": 0o600, "uid": 0,
     "gid": 0, "dev": (1, 3)},
], tarfile.PAX_FORMAT) + build([
    {"name": "g" * 150, "type": tarfile.REGTYPE, "size": 10, "link": "", "mode": 0o644,
     "uid": 0, "gid": 0, "dev": (0, 0)}], tarfile.GNU_FORMAT)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.binary(min_size=1, max_size=16)),
                max_size=6), st.integers(0, len(_SEED)), st.integers(1, 20))
def test_mutated_archives_never_crash(patches: list[tuple[int, bytes]], cut: int,
                                      blocks: int) -> None:
    data = bytearray(_SEED)
    for pos, patch in patches:
        data[pos:pos + len(patch)] = patch
    try:
        parse(bytes(data[:cut]), bufsize=blocks * 211)
    except TarError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        parse(data)
    except TarError:
        pass
    header_ok(data[:BLOCK])


def test_sub_source_bounds() -> None:
    src = ReaderSource(io.BytesIO(b"abcdefgh"), bufsize=3)
    sub = SubSource(src, 5, b"")
    assert sub.read(10) == b"abcde"
    assert sub.take(10).tobytes() == b""
    assert src.read(10) == b"fgh"
    short = SubSource(ReaderSource(io.BytesIO(b"ab")), 5)
    with pytest.raises(TarError):
        short.read(5)
    assert isinstance(src, Source)
