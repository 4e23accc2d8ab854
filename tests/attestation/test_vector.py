"""The real DCAP quote v3 (dcap-qvl sample) through the Python API: the expected result,
and negative cases derived from it, each rejected at the right step."""

from __future__ import annotations

import datetime as dt
import json
import struct
from typing import Any

import pytest
from cryptography import x509

from gsc.attestation import (
    CollateralError,
    Policy,
    collateral_from_json,
    parse_quote,
    verify_quote,
)
from gsc.attestation.simulate import simulated_collateral_json
from gsc.attestation.trust import simulated_root

from .conftest import EXPECTED, NOW

ACCEPT = Policy(accept=frozenset({"ConfigurationAndSWHardeningNeeded"}))


def _verify(q: bytes, coll: dict[str, Any], policy: Policy = ACCEPT,
            now: dt.datetime = NOW, **kw: Any) -> dict[str, Any]:
    return verify_quote(q, collateral_from_json(coll), policy, now, **kw).to_json()


def test_expected_result(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    r = _verify(quote_bytes, collateral_json)
    assert r["accepted"] is True, r
    assert r["failed_step"] is None
    for key, value in EXPECTED.items():
        assert r[key] == value, key
    assert r["simulated"] is False


def test_status_needs_accept(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    r = _verify(quote_bytes, collateral_json, Policy())
    assert r["accepted"] is False
    assert r["failed_step"] == "tcb_status"
    assert r["status"] == EXPECTED["status"]
    # accepting another status does not help
    r = _verify(quote_bytes, collateral_json, Policy(accept=frozenset({"SWHardeningNeeded"})))
    assert r["failed_step"] == "tcb_status"


def _flip(q: bytes, off: int) -> bytes:
    b = bytearray(q)
    b[off] ^= 0x01
    return bytes(b)


# offsets in the quote: header 0..48, body 48..432, sig len 432..436, ISV sig 436..500,
# attestation key 500..564, QE report 564..948, QE report sig 948..1012
@pytest.mark.parametrize(
    ("offset", "step"),
    [
        (12, "isv_signature"),  # header: QE vendor ID
        (30, "isv_signature"),  # header: user data
        (48 + 64, "isv_signature"),  # report body: MRENCLAVE
        (48 + 320, "isv_signature"),  # report body: report data
        (436 + 5, "isv_signature"),  # ISV signature
        (500 + 7, "qe_report_data"),  # attestation key
        (564 + 64, "qe_report_signature"),  # QE report
        (564 + 320, "qe_report_signature"),  # QE report data
        (948 + 3, "qe_report_signature"),  # QE report signature
        (1014 + 1, "qe_report_data"),  # QE auth data
    ],
)
def test_flipped_byte(quote_bytes: bytes, collateral_json: dict[str, Any], offset: int,
                      step: str) -> None:
    r = _verify(_flip(quote_bytes, offset), collateral_json)
    assert r["accepted"] is False
    assert r["failed_step"] == step, r["reason"]


def test_flipped_cert_chain(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    end = quote_bytes.index(b"-----END CERTIFICATE-----")
    pos = end - 20  # inside the leaf's signature (base64)
    b = bytearray(quote_bytes)
    b[pos] = ord("A") if b[pos] != ord("A") else ord("B")
    r = _verify(bytes(b), collateral_json)
    assert r["failed_step"] == "pck_chain", r["reason"]


def test_edited_tcb_info(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    c = dict(collateral_json)
    assert '"tcbEvaluationDataNumber":17' in c["tcb_info"]
    c["tcb_info"] = c["tcb_info"].replace('"tcbEvaluationDataNumber":17',
                                          '"tcbEvaluationDataNumber":18')
    r = _verify(quote_bytes, c)
    assert r["failed_step"] == "tcb_info", r["reason"]
    assert "signature" in r["reason"]


def test_reserialised_tcb_info_fails(quote_bytes: bytes,
                                     collateral_json: dict[str, Any]) -> None:
    """Same JSON content, different bytes: the signature is over the exact bytes."""
    c = dict(collateral_json)
    c["tcb_info"] = json.dumps(json.loads(c["tcb_info"]), indent=1)
    assert _verify(quote_bytes, c)["failed_step"] == "tcb_info"


def test_edited_qe_identity(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    c = dict(collateral_json)
    c["qe_identity"] = c["qe_identity"].replace('"isvprodid":1', '"isvprodid":2')
    assert _verify(quote_bytes, c)["failed_step"] == "qe_identity"


@pytest.mark.parametrize(
    ("when", "step"),
    [
        ("2025-07-19T10:30:00+00:00", "crl"),  # PCK CRL nextUpdate 10:23:18
        ("2025-07-19T10:05:00+00:00", "qe_identity"),  # QE identity nextUpdate 10:01:18
        ("2025-06-19T10:30:00+00:00", "tcb_info"),  # TCB info issued 10:56:11
        ("2034-01-01T00:00:00+00:00", "pck_chain"),  # intermediate expired 2033
    ],
)
def test_time_rule(quote_bytes: bytes, collateral_json: dict[str, Any], when: str,
                   step: str) -> None:
    r = _verify(quote_bytes, collateral_json, now=dt.datetime.fromisoformat(when))
    assert r["failed_step"] == step, r["reason"]


def test_inside_every_window(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    # last moment before the first nextUpdate (QE identity 2025-07-19T10:01:18Z)
    when = dt.datetime(2025, 7, 19, 10, 1, 18, tzinfo=dt.UTC)
    assert _verify(quote_bytes, collateral_json, now=when)["accepted"] is True


def test_wrong_root(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    r = _verify(quote_bytes, collateral_json, root=simulated_root())
    assert r["failed_step"] == "pck_chain", r["reason"]


def test_collateral_of_another_chain(quote_bytes: bytes,
                                     collateral_json: dict[str, Any]) -> None:
    """The simulated stack's TCB info (signed by the simulated root) is not accepted for a
    quote chaining to Intel's root."""
    c = dict(collateral_json)
    sim = simulated_collateral_json()
    for k in ("tcb_info", "tcb_info_signature", "tcb_info_issuer_chain"):
        c[k] = sim[k]
    assert _verify(quote_bytes, c)["failed_step"] == "tcb_info"
    c = dict(collateral_json)
    c["pck_crl"] = sim["pck_crl"]
    assert _verify(quote_bytes, c)["failed_step"] == "crl"


@pytest.mark.parametrize("cut", [0, 1, 47, 48, 431, 432, 436, 1011, 1013, 1050, -1])
def test_truncated(quote_bytes: bytes, collateral_json: dict[str, Any], cut: int) -> None:
    r = _verify(quote_bytes[:cut], collateral_json)
    assert r["failed_step"] == "parse", r["reason"]


def test_trailing_bytes(quote_bytes: bytes, collateral_json: dict[str, Any]) -> None:
    assert _verify(quote_bytes + b"\0", collateral_json)["failed_step"] == "parse"


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "word"),
    [
        (0, "<H", 4, "version"),
        (0, "<H", 2, "version"),
        (2, "<H", 3, "key type"),
        (4, "<I", 0x81, "TEE type"),
        (1046, "<H", 1, "certification data type"),
        (1046, "<H", 6, "certification data type"),
        (432, "<I", 9999, "signature data length"),
        (1012, "<H", 5000, "QE auth data"),
    ],
)
def test_malformed_fields(quote_bytes: bytes, collateral_json: dict[str, Any], offset: int,
                          fmt: str, value: int, word: str) -> None:
    b = bytearray(quote_bytes)
    struct.pack_into(fmt, b, offset, value)
    r = _verify(bytes(b), collateral_json)
    assert r["failed_step"] == "parse"
    assert word in r["reason"]


def test_parser_fields(quote_bytes: bytes) -> None:
    q = parse_quote(quote_bytes)
    assert q.version == 3 and q.att_key_type == 2 and q.cert_data_type == 5
    assert len(q.pck_chain_pem()) == 3
    leaf = x509.load_pem_x509_certificate(q.pck_chain_pem()[0])
    assert "PCK Certificate" in leaf.subject.rfc4514_string()


@pytest.mark.parametrize(
    ("policy", "ok"),
    [
        (Policy(mrenclave=bytes.fromhex(EXPECTED["mrenclave"])), True),
        (Policy(mrenclave=bytes(32)), False),
        (Policy(mrsigner=bytes.fromhex(EXPECTED["mrsigner"])), True),
        (Policy(mrsigner=bytes(32)), False),
        (Policy(isvprodid=0), True),
        (Policy(isvprodid=1), False),
        (Policy(min_isvsvn=0), True),
        (Policy(min_isvsvn=1), False),
        (Policy(report_data=b"Hello, world!"), True),
        (Policy(report_data=b"Hello, world?"), False),
    ],
)
def test_policy(quote_bytes: bytes, collateral_json: dict[str, Any], policy: Policy,
                ok: bool) -> None:
    p = Policy(**{**policy.__dict__, "accept": ACCEPT.accept})
    r = _verify(quote_bytes, collateral_json, p)
    assert r["accepted"] is ok, r["reason"]
    if not ok:
        assert r["failed_step"] == "policy"


def test_unknown_collateral_keys_ignored(quote_bytes: bytes,
                                         collateral_json: dict[str, Any]) -> None:
    c = {**collateral_json, "pck_certificate_chain": "x", "extra": {"a": 1}}
    assert _verify(quote_bytes, c)["accepted"] is True
    c = dict(collateral_json)
    del c["pck_crl"]
    with pytest.raises(CollateralError, match="pck_crl"):
        collateral_from_json(c)
