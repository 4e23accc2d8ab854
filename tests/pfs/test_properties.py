"""Property tests of the format code: round trips at node boundaries, tamper detection of every
authenticated byte, and fuzz-style inputs that may only ever raise PfError."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsc.pfs import PfError, decrypt_bytes, encrypt_bytes, open_bytes
from gsc.pfs.layout import NODE_SIZE, encrypted_size
from gsc.pfs.native import CReader

from .conftest import VECTORS, data_of

MD = 3072
LEVEL2 = MD + 96 * NODE_SIZE  # 396288: root MHT full; one more byte needs MHT node 1
BOUNDARY = sorted({
    0, 1, 2, 3071, 3072, 3073, 4095, 4096, 4097, 8191, 8192, 8193,
    MD + NODE_SIZE - 1, MD + NODE_SIZE, MD + NODE_SIZE + 1,
    *(k * NODE_SIZE for k in (2, 3, 10, 50)),
    LEVEL2 - 1, LEVEL2, LEVEL2 + 1, LEVEL2 + NODE_SIZE, LEVEL2 + NODE_SIZE + 1,
    MD + 2 * 96 * NODE_SIZE + 1,  # MHT node 2
})
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
keys = st.binary(min_size=16, max_size=16)
paths = st.text(
    alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
    min_size=1, max_size=40,
)


def _plain(size: int, seed: int) -> bytes:
    return bytes((i * 31 + seed) & 0xFF for i in range(size))


@pytest.mark.parametrize("size", BOUNDARY)
def test_round_trip_boundaries(size: int) -> None:
    key = bytes(range(16))
    pt = _plain(size, size)
    enc = encrypt_bytes(pt, key, "/b/file")
    assert len(enc) == encrypted_size(size)
    assert decrypt_bytes(enc, key, "/b/file") == pt
    c = CReader(key, "/b/file", data=enc)
    assert c.size == size and c.read_all() == pt


@SETTINGS
@given(size=st.one_of(st.sampled_from(BOUNDARY), st.integers(0, 3 * LEVEL2 // 2)),
       key=keys, path=paths, seed=st.integers(0, 255))
def test_round_trip_any(size: int, key: bytes, path: str, seed: int) -> None:
    pt = _plain(size, seed)
    enc = encrypt_bytes(pt, key, path)
    assert decrypt_bytes(enc, key, path) == pt
    assert decrypt_bytes(enc, key, None) == pt
    assert CReader(key, path, data=enc).read_all() == pt


UNAUTHENTICATED = {9, 58, *range(3943, NODE_SIZE)}  # minor_version, feature_flags, padding


@SETTINGS
@given(size=st.integers(0, 30 * NODE_SIZE), where=st.floats(0, 1, exclude_max=True),
       flip=st.integers(1, 255))
def test_tampering_any_byte_fails(size: int, where: float, flip: int) -> None:
    key = b"k" * 16
    pt = _plain(size, 7)
    enc = bytearray(encrypt_bytes(pt, key, "p"))
    i = int(where * len(enc))
    enc[i] ^= flip
    if i in UNAUTHENTICATED:
        assert decrypt_bytes(bytes(enc), key, "p") == pt
        assert CReader(key, "p", data=bytes(enc)).read_all() == pt
        return
    with pytest.raises(PfError):
        decrypt_bytes(bytes(enc), key, "p")
    with pytest.raises(PfError):
        CReader(key, "p", data=bytes(enc)).read_all()


@SETTINGS
@given(size=st.integers(MD + 1, 20 * NODE_SIZE), cut=st.integers(1, 19))
def test_truncation_by_whole_nodes_fails(size: int, cut: int) -> None:
    key = b"t" * 16
    enc = encrypt_bytes(_plain(size, 1), key, "p")
    nodes = len(enc) // NODE_SIZE
    short = enc[: NODE_SIZE * max(0, nodes - cut)]
    with pytest.raises(PfError):
        decrypt_bytes(short, key, "p")
    with pytest.raises(PfError):
        CReader(key, "p", data=short).read_all()


def _both_only_pferror(data: bytes, key: bytes, path: str | None) -> None:
    for opener in (lambda: open_bytes(data, key, path),
                   lambda: CReader(key, path, data=data)):
        try:
            r: Any = opener()
            r.read(0, r.size if r.size < 1 << 20 else 1 << 20)
        except PfError:
            pass


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3 * NODE_SIZE), key=keys)
def test_fuzz_random_bytes(data: bytes, key: bytes) -> None:
    _both_only_pferror(data, key, None)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(min_size=0, max_size=200), nodes=st.integers(1, 4),
       major=st.integers(0, 255), key=keys)
def test_fuzz_plausible_headers(body: bytes, nodes: int, major: int, key: bytes) -> None:
    data = (b"GRAFS_PF" + bytes([major]) + body).ljust(nodes * NODE_SIZE, b"\0")
    _both_only_pferror(data[: nodes * NODE_SIZE], key, "p")


BASE = next(v for v in VECTORS if v["name"] == "neg_base_20000")


@settings(max_examples=200, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 28671), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 28672)))
def test_fuzz_mutated_vector(edits: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(data_of(BASE))
    for off, val in edits:
        data[off] = val
    if cut is not None:
        del data[cut:]
    _both_only_pferror(bytes(data), bytes.fromhex(BASE["key_hex"]), None)
