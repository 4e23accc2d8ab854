"""Every development vector through the Python reader/writer and the C reader (cffi).

Positives and accepted mutations decrypt to the recorded SHA-256; negatives are refused at
Gramine's stage, with Gramine's status and read offset; every format-2 positive is re-created
byte for byte from its recovered nonce and node keys, and the seeded ones from the seed alone.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gsc.pfs import PfError, PfReader, encrypt_bytes, open_bytes, replay_randbytes
from gsc.pfs.layout import encrypted_size
from gsc.pfs.native import CReader

from .conftest import IDS, VECTORS, data_of, plaintext_of, read_like_gramine


def _open(impl: str, v: dict[str, Any], data: bytes) -> Any:
    key = bytes.fromhex(v["key_hex"])
    if impl == "python":
        return open_bytes(data, key, v["open_path"])
    return CReader(key, v["open_path"], data=data)


@pytest.mark.parametrize("impl", ["python", "c"])
@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_vector(impl: str, v: dict[str, Any]) -> None:
    data = data_of(v)
    exp = v["expected"]
    if exp["result"] == "ok":
        r = _open(impl, v, data)
        assert r.size == v["size"]
        assert r.major_version == v["format_major_version"]
        pt = read_like_gramine(r)
        assert hashlib.sha256(pt).hexdigest() == v["plaintext_sha256"]
        assert v["kind"] in ("positive", "accepted_mutation")
        return
    assert v["kind"] == "negative"
    with pytest.raises(PfError) as info:
        r = _open(impl, v, data)
        read_like_gramine(r)
    err = info.value
    assert err.stage == exp["stage"]
    assert err.status == exp["status"]
    assert err.status_name == exp["status_name"]
    assert err.status_message == exp["message"]
    assert err.offset == exp["read_offset"]


def test_vector_set_is_complete() -> None:
    kinds = [v["kind"] for v in VECTORS]
    assert kinds.count("negative") == 19
    assert kinds.count("accepted_mutation") == 5
    assert any(v["size"] > 396288 for v in VECTORS if v["kind"] == "positive")


POS_V2 = [v for v in VECTORS if v["kind"] == "positive" and v["format_major_version"] == 2]


@pytest.mark.parametrize("v", POS_V2, ids=[v["name"] for v in POS_V2])
def test_rewrite_byte_for_byte(v: dict[str, Any]) -> None:
    data = data_of(v)
    key = bytes.fromhex(v["key_hex"])
    r = open_bytes(data, key, v["path"])
    pt = plaintext_of(v)
    assert r.read_all() == pt
    again = encrypt_bytes(pt, key, v["path"], replay_randbytes(r.key_material()))
    assert len(again) == encrypted_size(len(pt)) == v["encrypted_size"]
    assert again == data


def _seed_stream(seed: str) -> Any:
    buf = bytearray()
    counter = 0

    def randbytes(n: int) -> bytes:
        nonlocal counter
        while len(buf) < n:
            buf.extend(hashlib.sha256(seed.encode() + counter.to_bytes(8, "little")).digest())
            counter += 1
        out = bytes(buf[:n])
        del buf[:n]
        return out

    return randbytes


SEEDED = [
    v for v in POS_V2
    if v["deterministic_rng_seed"] is not None and v["size"] <= 3072 + 48 * 4096
]


@pytest.mark.parametrize("v", SEEDED, ids=[v["name"] for v in SEEDED])
def test_replay_from_seed(v: dict[str, Any]) -> None:
    drawn = 0
    calls = 0
    inner = _seed_stream(v["deterministic_rng_seed"])

    def counting(n: int) -> bytes:
        nonlocal drawn, calls
        drawn += n
        calls += 1
        return inner(n)

    out = encrypt_bytes(plaintext_of(v), bytes.fromhex(v["key_hex"]), v["path"], counting)
    assert out == data_of(v)
    assert (calls, drawn) == (v["rng_usage"]["rng_calls"], v["rng_usage"]["rng_bytes"])


def test_v1_is_read_only_and_v2_is_written() -> None:
    v = next(v for v in VECTORS if v["format_major_version"] == 1)
    r = open_bytes(data_of(v), bytes.fromhex(v["key_hex"]), v["path"])
    assert r.major_version == 1
    fresh = encrypt_bytes(b"x" * 10, bytes(16), "p")
    assert fresh[8] == 2 and open_bytes(fresh, bytes(16), "p").major_version == 2


def test_random_default_differs_each_time() -> None:
    a = encrypt_bytes(b"same", bytes(16), "p")
    b = encrypt_bytes(b"same", bytes(16), "p")
    assert a != b
    assert open_bytes(a, bytes(16), "p").read_all() == open_bytes(b, bytes(16), "p").read_all()


@pytest.mark.parametrize("impl", ["python", "c"])
def test_reads_at_any_offset(impl: str) -> None:
    v = next(v for v in VECTORS if v["name"] == "size_396289_mht_level2")
    data, pt = data_of(v), plaintext_of(v)
    r = _open(impl, v, data)
    for off, ln in [(0, 1), (3071, 2), (3072, 4096), (5000, 9000), (396287, 10), (396288, 1),
                    (396288, 100), (100, 396289), (396289, 5)]:
        assert r.read(off, ln) == pt[off : off + ln]
    with pytest.raises(PfError) as info:
        r.read(396290, 1)
    assert (info.value.stage, info.value.status) == ("read", -3)


@pytest.mark.parametrize("impl", ["python", "c"])
def test_path_too_long_refused_at_open(impl: str) -> None:
    v = next(v for v in VECTORS if v["name"] == "size_1")
    v = dict(v, open_path="/" + "x" * 771)
    with pytest.raises(PfError) as info:
        _open(impl, v, data_of(v))
    assert (info.value.stage, info.value.status) == ("open", -12)


def test_writer_refuses_long_path() -> None:
    encrypt_bytes(b"", bytes(16), "/" + "d" * 770)
    with pytest.raises(PfError) as info:
        encrypt_bytes(b"", bytes(16), "/" + "d" * 771)
    assert info.value.status == -12


def test_c_reader_from_fd(tmp_path: Any) -> None:
    import os

    v = next(v for v in VECTORS if v["name"] == "size_1MiB_plus_5")
    f = tmp_path / "x.pf"
    f.write_bytes(data_of(v))
    fd = os.open(f, os.O_RDONLY)
    try:
        r = CReader(bytes.fromhex(v["key_hex"]), v["path"], fd=fd)
        assert hashlib.sha256(r.read_all()).hexdigest() == v["plaintext_sha256"]
        assert r.bound_path == v["path"].encode()
        r.close()
    finally:
        os.close(fd)
    assert isinstance(PfReader, type)
