"""`gsc build --encrypt` without Docker: options, key files, the deterministic random source,
and the layer rewriter on layers made here (plaintext gone, everything else byte for byte)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from gsc.errors import InputError, VerificationError
from gsc.pfs import decrypt_bytes
from gsc.shield import encrypt
from gsc.transport.blobs import OCI_LAYER, Descriptor, LayerBlob

KEY = bytes(range(16))


def _layer(members: list[tuple[str, bytes | None, str | None]], *, gz: bool = False,
           pax: bool = False) -> LayerBlob:
    """A layer blob: (name, data or None for a directory, hardlink target or None)."""
    buf = io.BytesIO()
    fmt = tarfile.PAX_FORMAT if pax else tarfile.GNU_FORMAT
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1
            if link is not None:
                info.type, info.linkname = tarfile.LNKTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    plain = buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(plain).hexdigest()
    blob = gzip.compress(plain, mtime=0) if gz else plain
    return LayerBlob(Descriptor(OCI_LAYER, "sha256:" + hashlib.sha256(blob).hexdigest(),
                                len(blob)), diff_id, data=blob)


def _tree(files: dict[str, bytes], root: str = "/models", name: str = "m"
          ) -> encrypt.EncryptedTree:
    return encrypt.EncryptedTree(
        (encrypt.Mount(root, name, root),),
        tuple(encrypt.EncryptedFile(p, name, len(d), hashlib.sha256(d).hexdigest(), 0o644, 0, 0)
              for p, d in sorted(files.items())),
        ((root, 0o755, 0, 0),))


def _names(layer: LayerBlob) -> list[str]:
    with layer.open() as f, tarfile.open(fileobj=f) as tar:
        return [m.name for m in tar]


def _plain_bytes(layer: LayerBlob) -> bytes:
    with layer.open() as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def _without(plain: bytes, drop: set[str]) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        members = tar.getmembers()
        end = tar.offset
    out = bytearray()
    pos = 0
    for i, m in enumerate(members):
        stop = members[i + 1].offset if i + 1 < len(members) else end
        if "/" + m.name in drop:
            out += plain[pos:m.offset]
            pos = stop
    return bytes(out + plain[pos:])


def test_parse_spec_and_named() -> None:
    assert encrypt.parse_spec("/models:model") == encrypt.EncryptSpec("/models", "model")
    assert encrypt.parse_spec("/models/") == encrypt.EncryptSpec("/models", "default")
    assert encrypt.parse_spec("/a:b/c") == encrypt.EncryptSpec("/a:b/c", "default")
    assert encrypt.parse_named("model=/k", "x") == ("model", "/k")
    assert encrypt.parse_named("/k", "x") == ("default", "/k")
    for bad in ("models", "/m:_sgx_mrenclave", "/m:bad name"):
        with pytest.raises(InputError):
            encrypt.parse_spec(bad)


def test_key_file_checks(tmp_path: Path) -> None:
    k = tmp_path / "k"
    k.write_bytes(KEY)
    k.chmod(0o600)
    assert encrypt.read_wrap_key(k) == KEY
    k.chmod(0o640)
    with pytest.raises(InputError, match="group or others"):
        encrypt.read_wrap_key(k)
    k.chmod(0o600)
    k.write_bytes(KEY + b"\n")
    with pytest.raises(InputError, match="exactly 16"):
        encrypt.read_wrap_key(k)
    with pytest.raises(InputError, match="not a regular file"):
        encrypt.read_wrap_key(tmp_path)
    with pytest.raises(InputError, match="give --encryption-key m=FILE"):
        encrypt.check_keys([encrypt.EncryptSpec("/x", "m")], {})
    with pytest.raises(InputError, match="no --encrypt path uses"):
        encrypt.check_keys([], {"m": KEY})


def test_random_source_is_deterministic_and_per_content() -> None:
    a = encrypt.file_randbytes(KEY, "/m/a", "00" * 32)
    b = encrypt.file_randbytes(KEY, "/m/a", "00" * 32)
    first = a(32) + a(16) + a(16)
    assert first == b(64)
    assert len(set(first[i:i + 16] for i in range(0, 64, 16))) == 4
    other_content = encrypt.file_randbytes(KEY, "/m/a", "01" + "00" * 31)(64)
    other_path = encrypt.file_randbytes(KEY, "/m/b", "00" * 32)(64)
    other_key = encrypt.file_randbytes(bytes(16), "/m/a", "00" * 32)(64)
    assert len({first, other_content, other_path, other_key}) == 4


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("pax", [False, True])
def test_rewrite_removes_plaintext_and_keeps_the_rest(tmp_path: Path, gz: bool,
                                                      pax: bool) -> None:
    secret = os.urandom(200_000)
    old = os.urandom(200_000)
    small = b"tiny secret"
    long_name = "models/" + "d" * 120 + "/deep.bin"
    l1 = _layer([("etc", None, None), ("etc/passwd", b"root:x:0:0\n", None)], gz=gz)
    l2 = _layer([("models", None, None), ("models/model.bin", old, None),
                 ("models/small.txt", small, None), ("etc/x", b"keep me", None)], gz=gz, pax=pax)
    l3 = _layer([("models/model.bin", secret, None), (long_name, b"deep", None),
                 ("app/run.py", b"print(1)\n", None)], gz=gz, pax=pax)
    files = {"/models/model.bin": secret, "/models/small.txt": small,
             "/" + long_name: b"deep"}
    tree = _tree(files)
    rw = encrypt.rewrite([l1, l2, l3], tree, {"m": KEY}, lambda p: p, str(tmp_path))
    assert rw.changed == [1, 2]
    assert rw.layers[0] is l1                       # untouched: the very same blob
    assert _names(rw.layers[1]) == ["models", "etc/x"]
    assert _names(rw.layers[2]) == ["app/run.py"]
    for layer in rw.layers[1:]:
        data = _plain_bytes(layer)
        assert layer.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
        for plain in (secret[1000:1064], old[1000:1064], small):
            assert plain not in data
    # Everything else is byte-identical: the old tar minus the dropped members' spans
    # (headers, extended headers, data, padding), as Python's tarfile sees them.
    for old_layer, new_layer in ((l2, rw.layers[1]), (l3, rw.layers[2])):
        assert _plain_bytes(new_layer) == _without(_plain_bytes(old_layer), set(files))
    for path, plain in files.items():
        ct = Path(rw.ciphertexts[path]).read_bytes()
        assert plain[:64] not in ct
        assert decrypt_bytes(ct, KEY, path) == plain
    # Deterministic: the same inputs give the same ciphertexts.
    again = encrypt.rewrite([l1, l2, l3], tree, {"m": KEY}, lambda p: p, str(tmp_path))
    for path in files:
        assert Path(again.ciphertexts[path]).read_bytes() == Path(
            rw.ciphertexts[path]).read_bytes()
        assert again.ciphertexts[path] != rw.ciphertexts[path]


def test_rewrite_refuses_a_copy_elsewhere(tmp_path: Path) -> None:
    secret = os.urandom(5000)
    l1 = _layer([("srv/copy.bin", secret, None)])
    l2 = _layer([("models/model.bin", secret, None)])
    with pytest.raises(InputError, match=r"copy of /models/model\.bin"):
        encrypt.rewrite([l1, l2], _tree({"/models/model.bin": secret}), {"m": KEY},
                        lambda p: p, str(tmp_path))


def test_rewrite_refuses_hard_links(tmp_path: Path) -> None:
    secret = os.urandom(5000)
    l1 = _layer([("models/model.bin", secret, None), ("srv/link", None, "models/model.bin")])
    with pytest.raises(InputError, match="hard link"):
        encrypt.rewrite([l1], _tree({"/models/model.bin": secret}), {"m": KEY},
                        lambda p: p, str(tmp_path))


def test_rewrite_follows_the_final_paths(tmp_path: Path) -> None:
    """A member written through a symlinked parent (/data -> /models) is found."""
    secret = os.urandom(5000)
    l1 = _layer([("data/model.bin", secret, None)])
    rw = encrypt.rewrite([l1], _tree({"/models/model.bin": secret}), {"m": KEY},
                         lambda p: p.replace("/data/", "/models/"), str(tmp_path))
    assert rw.changed == [0] and _names(rw.layers[0]) == []


def test_rewrite_fails_closed_when_contents_are_missing(tmp_path: Path) -> None:
    l1 = _layer([("models/model.bin", b"other bytes", None)])
    with pytest.raises(VerificationError, match="not found"):
        encrypt.rewrite([l1], _tree({"/models/model.bin": b"the planned one"}), {"m": KEY},
                        lambda p: p, str(tmp_path))


def test_rewrite_checks_the_diff_id(tmp_path: Path) -> None:
    l1 = _layer([("models/model.bin", b"x", None)])
    bad = LayerBlob(l1.desc, "sha256:" + "0" * 64, data=l1.data)
    with pytest.raises(InputError, match="diff_id"):
        encrypt.rewrite([bad], _tree({"/models/model.bin": b"x"}), {"m": KEY},
                        lambda p: p, str(tmp_path))
