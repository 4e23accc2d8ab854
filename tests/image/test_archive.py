"""Archive layouts and hostile archives, fed straight to the parser."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gsc.analysis.elf import parse_elf
from gsc.analysis.ldcache import parse_ld_cache
from gsc.errors import InputError
from gsc.image import load_archive


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", **kw: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in kw.items():
        setattr(info, k, v)
    tar.addfile(info, io.BytesIO(data) if data else None)


def _layer(members: list[tuple[str, bytes, dict[str, Any]]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kw in members:
            _add(tar, name, data, **kw)
    return buf.getvalue()


def _plain(layer: bytes) -> bytes:
    """A layer's uncompressed bytes (what its diff_id is the digest of); a truncated or
    corrupt compressed layer: its bytes as they are."""
    import bz2
    import gzip
    import lzma

    for opener in (gzip.decompress, bz2.decompress, lzma.decompress):
        try:
            return opener(layer)
        except Exception:  # not this compression
            continue
    return layer


def _classic(layers: list[bytes], config: dict[str, Any]) -> bytes:
    if "rootfs" not in config:
        config = {**config, "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(_plain(data)).hexdigest() for data in layers]}}
    cfg = json.dumps(config).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    buf = io.BytesIO()
    names = []
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i, data in enumerate(layers):
            names.append(f"l{i}/layer.tar")
            _add(tar, names[-1], data)
        _add(tar, cfg_name, cfg)
        _add(tar, "manifest.json", json.dumps(
            [{"Config": cfg_name, "RepoTags": None, "Layers": names}]).encode())
    return buf.getvalue()


CONFIG = {"architecture": "amd64", "os": "linux",
          "config": {"Entrypoint": ["/bin/x"], "Env": ["A=1", "B=2=3"]}}


def test_hostile_member_names_stay_private(monkeypatch: pytest.MonkeyPatch) -> None:
    base = tempfile.mkdtemp()
    monkeypatch.setattr(tempfile, "tempdir", base)
    evil = _layer([
        ("../../../../tmp/gsc-evil", b"pwn", {}),
        ("/abs/file", b"abs", {}),
        ("a/../../b", b"b", {}),
        ("./ok/f", b"f", {}),
        ("link-out", b"", {"type": tarfile.SYMTYPE, "linkname": "/etc/shadow"}),
        ("hard-missing", b"", {"type": tarfile.LNKTYPE, "linkname": "nope"}),
        ("hard-ok", b"", {"type": tarfile.LNKTYPE, "linkname": "ok/f"}),
        ("ok/f/under-file", b"x", {}),
    ])
    img = load_archive(io.BytesIO(_classic([evil], CONFIG)))
    with img:
        paths = [e.path for e in img.fs]
        assert "/tmp/gsc-evil" in paths and "/abs/file" in paths and "/b" in paths
        assert all(p.startswith("/") and "/../" not in p for p in paths)
        assert img.fs.resolve("/link-out") == "/etc/shadow"
        assert img.fs.get("/hard-missing") is None and img.warnings
        assert img.config.env == {"A": "1", "B": "2=3"}
        # only our own content file was ever created
        (tmp,) = os.listdir(base)
        assert os.listdir(os.path.join(base, tmp)) == ["content.bin"]
    assert not os.path.exists("/tmp/gsc-evil")
    assert os.listdir(base) == []


def test_whiteouts_in_synthetic_layers() -> None:
    low = _layer([("d/a", b"a", {}), ("d/sub/x", b"x", {}), ("e/keep", b"k", {}),
                  ("e/drop", b"d", {})])
    high = _layer([("d/.wh..wh..opq", b"", {}), ("d/new", b"n", {}), ("e/.wh.drop", b"", {}),
                   ("e/.wh..wh.plnk", b"", {})])
    with load_archive(io.BytesIO(_classic([low, high], CONFIG))) as img:
        got = sorted(e.path for e in img.fs)
        assert got == ["/", "/d", "/d/new", "/e", "/e/keep"]


@pytest.mark.parametrize("data", [b"", b"garbage" * 100, _classic([b"not a tar" * 200], CONFIG),
                                  b"\0" * 4096])
def test_malformed_archives_are_input_errors(data: bytes) -> None:
    with pytest.raises(InputError):
        load_archive(io.BytesIO(data))


def _to_oci(classic: bytes) -> bytes:
    """Re-pack a classic docker-archive as an OCI image layout (independently of gsc)."""
    with tarfile.open(fileobj=io.BytesIO(classic)) as src:
        members = {m.name: src.extractfile(m).read() for m in src if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])[0]
    blobs: dict[str, bytes] = {}

    def put(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": f"sha256:{digest}", "size": len(data)}

    cfg = put(members[manifest["Config"]])
    layers = [dict(put(members[n]), mediaType="application/vnd.oci.image.layer.v1.tar")
              for n in manifest["Layers"]]
    man = put(json.dumps({"schemaVersion": 2, "config": cfg, "layers": layers}).encode())
    index = {"schemaVersion": 2, "manifests": [
        dict(man, mediaType="application/vnd.oci.image.manifest.v1+json")]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for digest, data in blobs.items():
            _add(tar, f"blobs/sha256/{digest}", data)
        _add(tar, "index.json", json.dumps(index).encode())
    return buf.getvalue()


@pytest.mark.docker
def test_oci_layout_matches_classic(test_image: Any) -> None:
    ref = test_image("layers")
    classic = subprocess.run(["docker", "save", ref], capture_output=True, check=True).stdout
    with load_archive(io.BytesIO(classic)) as a, load_archive(io.BytesIO(_to_oci(classic))) as b:
        assert a.layout == "docker-archive" and b.layout == "oci"
        assert a.id == b.id
        rows = [[(e.path, e.kind, e.mode, e.uid, e.gid, e.size, e.sha256, e.target, e.nlink)
                 for e in img.fs] for img in (a, b)]
        assert rows[0] == rows[1] and len(rows[0]) > 100


_ELF_SAMPLE = open("/bin/true", "rb").read() if os.path.exists("/bin/true") else b"\x7fELF"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(_ELF_SAMPLE) - 1), st.binary(min_size=1, max_size=64),
       st.integers(64, len(_ELF_SAMPLE)))
def test_malformed_elf_never_raises(pos: int, patch: bytes, cut: int) -> None:
    data = bytearray(_ELF_SAMPLE[:cut])
    data[pos:pos + len(patch)] = patch
    parse_elf(bytes(data))  # None or ElfInfo, never an exception
    parse_ld_cache(b"glibc-ld.so.cache1.1" + bytes(data[:512]))


def test_real_elf_parses() -> None:
    info = parse_elf(_ELF_SAMPLE)
    assert info is not None and "libc.so.6" in info.needed and info.interp
    assert parse_elf(_ELF_SAMPLE[:100]) is None
