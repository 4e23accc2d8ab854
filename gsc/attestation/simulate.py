"""gsc's SIMULATED quoting stack: real-format SGX quotes v3 signed by a simulated
attestation key whose chain ends in 'gsc SIMULATED SGX Root CA - proves nothing about
hardware'. The keys are package data and PUBLIC BY DESIGN: anyone can make such a quote
for any enclave identity. Use it to test an attestation flow end to end without SGX;
verifiers refuse these quotes unless told --allow-simulated.
"""

from __future__ import annotations

import json
import struct
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gsc.attestation.collateral import Collateral, collateral_from_json
from gsc.attestation.quote import (
    ATT_KEY_TYPE_ECDSA_P256,
    CERT_DATA_PCK_CHAIN,
    QUOTE_VERSION,
    REPORT_BODY_SIZE,
)
from gsc.attestation.trust import data_bytes

# QE vendor ID of simulated quotes: "gsc-simulated-qe" (not Intel's).
SIM_QE_VENDOR_ID = b"gsc-simulated-qe"


@cache
def _quoting() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_bytes("sim_quoting.json"))
    return data


@cache
def _att_key() -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(data_bytes("sim_attestation.key.pem"), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@cache
def simulated_collateral() -> Collateral:
    """The collateral of the simulated stack (valid 2024-01-01 .. 2049-12-31)."""
    return collateral_from_json(json.loads(data_bytes("sim_collateral.json")))


def simulated_collateral_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_bytes("sim_collateral.json"))
    return data


def report_body(
    mrenclave: bytes,
    mrsigner: bytes,
    attributes: bytes,
    isvprodid: int,
    isvsvn: int,
    report_data: bytes,
    *,
    cpusvn: bytes = bytes(16),
    miscselect: int = 0,
) -> bytes:
    if len(mrenclave) != 32 or len(mrsigner) != 32:
        raise ValueError("mrenclave and mrsigner must be 32 bytes")
    if len(attributes) != 16:
        raise ValueError("attributes must be 16 bytes (flags u64 LE || xfrm u64 LE)")
    if len(report_data) > 64:
        raise ValueError("report_data is at most 64 bytes")
    if not (0 <= isvprodid <= 0xFFFF and 0 <= isvsvn <= 0xFFFF):
        raise ValueError("isvprodid and isvsvn are 16-bit")
    body = bytearray(REPORT_BODY_SIZE)
    body[0:16] = cpusvn
    struct.pack_into("<I", body, 16, miscselect)
    body[48:64] = attributes
    body[64:96] = mrenclave
    body[128:160] = mrsigner
    struct.pack_into("<HH", body, 256, isvprodid, isvsvn)
    body[320:384] = report_data.ljust(64, b"\0")
    return bytes(body)


def make_quote(
    mrenclave: bytes,
    mrsigner: bytes,
    attributes: bytes,
    isvprodid: int,
    isvsvn: int,
    report_data: bytes,
) -> bytes:
    """A SIMULATED SGX DCAP quote v3 (real format; proves nothing about hardware)."""
    q = _quoting()
    header = struct.pack("<HHIHH", QUOTE_VERSION, ATT_KEY_TYPE_ECDSA_P256, 0, q["qe_svn"],
                         q["pce_svn"]) + SIM_QE_VENDOR_ID + bytes(20)
    signed = header + report_body(mrenclave, mrsigner, attributes, isvprodid, isvsvn,
                                  report_data)
    key = _att_key()
    r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
    nums = key.public_key().public_numbers()
    auth = bytes.fromhex(str(q["qe_auth_data"]))
    chain: bytes = str(q["pck_chain"]).encode()
    sig_data = (
        r.to_bytes(32, "big") + s.to_bytes(32, "big")
        + nums.x.to_bytes(32, "big") + nums.y.to_bytes(32, "big")
        + bytes.fromhex(q["qe_report"]) + bytes.fromhex(q["qe_report_signature"])
        + struct.pack("<H", len(auth)) + auth
        + struct.pack("<HI", CERT_DATA_PCK_CHAIN, len(chain)) + chain
    )
    return signed + struct.pack("<I", len(sig_data)) + sig_data


def make_ratls_cert(
    mrenclave: bytes,
    mrsigner: bytes,
    attributes: bytes = bytes(16),
    isvprodid: int = 0,
    isvsvn: int = 0,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    bind_to: ec.EllipticCurvePublicKey | None = None,
    dice: bool = True,
    legacy: bool = True,
    legacy_oid: str = "0.6.9.42.840.113741.1337.6",
) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A Gramine-format RA-TLS certificate (DER) and its P-384 key, carrying SIMULATED
    quotes. `bind_to` makes the quotes bind another public key (a mis-bound certificate,
    for tests)."""
    import datetime as dt
    import hashlib

    import cbor2
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = key or ec.generate_private_key(ec.SECP384R1())
    bound = bind_to or key.public_key()
    spki = bound.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    pk_hash = hashlib.sha256(spki).digest()
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "RATLS"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gsc SIMULATED"),
    ])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2001, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
    )
    if legacy:
        quote = make_quote(mrenclave, mrsigner, attributes, isvprodid, isvsvn, pk_hash)
        b = b.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(legacy_oid), quote), critical=False)
    if dice:
        claims = cbor2.dumps({"pubkey-hash": cbor2.dumps([1, pk_hash])})
        quote = make_quote(mrenclave, mrsigner, attributes, isvprodid, isvsvn,
                           hashlib.sha256(claims).digest())
        evidence = cbor2.dumps(cbor2.CBORTag(60000, [quote, claims]))
        b = b.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("2.23.133.5.4.9"), evidence),
            critical=False)
    cert = b.sign(key, hashes.SHA256())
    der: bytes = cert.public_bytes(serialization.Encoding.DER)
    return der, key
