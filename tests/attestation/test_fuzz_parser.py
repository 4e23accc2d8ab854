"""Property tests of the untrusted-input parsers: whatever the bytes, the quote parser raises
only QuoteFormatError, the verifier never raises, and RA-TLS verification never raises."""

from __future__ import annotations

import datetime as dt
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsc.attestation import Policy, QuoteFormatError, parse_quote, verify_quote
from gsc.attestation.ratls import verify_ratls_der
from gsc.attestation.simulate import make_quote, make_ratls_cert

from .conftest import SAMPLE

REAL = (SAMPLE / "sgx_quote.bin").read_bytes()
SIM = make_quote(bytes(32), bytes(32), bytes(16), 0, 0, b"")
RATLS, _ = make_ratls_cert(bytes(32), bytes(32))
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _parse(data: bytes) -> None:
    try:
        parse_quote(data)
    except QuoteFormatError:
        pass


@FAST
@given(st.binary(max_size=6000))
def test_random_bytes(data: bytes) -> None:
    _parse(data)


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    b = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "u16", "u32"]))
        pos = draw(st.integers(0, max(len(b) - 1, 0)))
        if kind == "flip" and b:
            b[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del b[pos : pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            b[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "u16" and pos + 2 <= len(b):
            struct.pack_into("<H", b, pos, draw(st.integers(0, 0xFFFF)))
        elif kind == "u32" and pos + 4 <= len(b):
            struct.pack_into("<I", b, pos, draw(st.integers(0, 0xFFFFFFFF)))
    return bytes(b)


@FAST
@given(mutated(REAL))
def test_mutated_real_quote(data: bytes) -> None:
    _parse(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(SIM))
def test_mutated_simulated_quote_full_verify(data: bytes) -> None:
    r = verify_quote(data, None, Policy(allow_simulated=True), NOW)
    # whatever else changed, nothing signed can change and still be accepted
    assert not r.accepted or data[:432] == SIM[:432]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(RATLS))
def test_mutated_ratls_cert(data: bytes) -> None:
    r = verify_ratls_der(data, None, Policy(allow_simulated=True), NOW)
    assert isinstance(r.accepted, bool)
    assert r.accepted or r.failed_step is not None


# ----- collateral (untrusted when it comes from a PCCS) -------------------------------------

from gsc.attestation import CollateralError, load_collateral  # noqa: E402
from gsc.attestation.collateral import parse_qe_identity, parse_tcb_info  # noqa: E402
from gsc.attestation.pccs import top_level_members  # noqa: E402

_TCB = load_collateral((SAMPLE / "sgx_quote_collateral.json").read_bytes()).tcb_info


@FAST
@given(mutated(_TCB))
def test_mutated_tcb_info(data: bytes) -> None:
    for parse in (parse_tcb_info, parse_qe_identity):
        try:
            parse(data)
        except CollateralError:
            pass


@FAST
@given(st.one_of(st.binary(max_size=300), st.just(b"[" * 100000),
                 st.just(b'{"tcb_info":' + b"[" * 100000)))
def test_collateral_file_and_pccs_body(data: bytes) -> None:
    try:
        load_collateral(data)
    except CollateralError:
        pass
    try:
        top_level_members(data.decode("utf-8", "replace"))
    except CollateralError:
        pass
