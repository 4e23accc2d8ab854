"""The C SHA-256 (portable and SHA-NI paths) against hashlib."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from capabilities import need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsc.sgx.native import core

ffi, lib = core()


@pytest.fixture(params=["portable", "accelerated"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    was = lib.gsc_sha256_accelerated()
    got = lib.gsc_sha256_set_accelerated(1 if request.param == "accelerated" else 0)
    if request.param == "accelerated" and not got:
        lib.gsc_sha256_set_accelerated(was)
        need("sha-ni", False, "CPU has no SHA-NI")
    yield request.param
    lib.gsc_sha256_set_accelerated(1)


def c_sha256(pieces: list[bytes]) -> bytes:
    ctx = ffi.new("gsc_sha256_ctx *")
    lib.gsc_sha256_init(ctx)
    for p in pieces:
        lib.gsc_sha256_update(ctx, ffi.from_buffer("uint8_t[]", p), len(p))
    out = ffi.new("uint8_t[32]")
    lib.gsc_sha256_final(ctx, out)
    return bytes(out)


def test_known_answers(path: str) -> None:
    assert c_sha256([b"abc"]).hex() == hashlib.sha256(b"abc").hexdigest()
    assert c_sha256([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # lengths around the padding boundaries
    for n in (55, 56, 57, 63, 64, 65, 119, 120, 128):
        data = bytes(range(256)) * 2
        assert c_sha256([data[:n]]) == hashlib.sha256(data[:n]).digest()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=6))
def test_split_updates_match_hashlib(path: str, data: bytes, cuts: list[int]) -> None:
    points = sorted({min(c, len(data)) for c in cuts})
    pieces, prev = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[prev:p])
        prev = p
    assert c_sha256(pieces) == hashlib.sha256(data).digest()


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    prefix=st.binary(max_size=200).map(lambda b: b[: len(b) // 64 * 64]),
    blocks=st.binary(max_size=1024),
)
def test_blocks_api(path: str, prefix: bytes, blocks: bytes) -> None:
    blocks = blocks[: len(blocks) // 64 * 64]
    ctx = ffi.new("gsc_sha256_ctx *")
    lib.gsc_sha256_init(ctx)
    lib.gsc_sha256_update(ctx, ffi.from_buffer("uint8_t[]", prefix), len(prefix))
    lib.gsc_sha256_blocks(ctx, ffi.from_buffer("uint8_t[]", blocks), len(blocks) // 64)
    lib.gsc_sha256_update(ctx, b"tail", 4)
    out = ffi.new("uint8_t[32]")
    lib.gsc_sha256_final(ctx, out)
    assert bytes(out) == hashlib.sha256(prefix + blocks + b"tail").digest()


def test_large_buffer_both_paths() -> None:
    data = bytes(range(256)) * 40000  # ~10 MB
    want = hashlib.sha256(data).digest()
    out = ffi.new("uint8_t[32]")
    for accel in (0, 1):
        lib.gsc_sha256_set_accelerated(accel)
        lib.gsc_sha256(ffi.from_buffer("uint8_t[]", data), len(data), out)
        assert bytes(out) == want
    lib.gsc_sha256_set_accelerated(1)
