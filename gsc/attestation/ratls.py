"""RA-TLS (Gramine's format): a self-signed certificate whose extension carries an SGX quote
bound to the certificate's public key.

What Gramine puts in the certificate (tools/sgx/ra-tls/ra_tls_attest.c):
  * legacy extension, OID bytes 06 09 2A 86 48 86 F8 4D 8A 39 06 as the OID *value* (the
    DER tag and length were included by mistake, so on the wire it decodes as
    0.6.9.42.840.113741.1337.6; the intended OID is 1.2.840.113741.1337.6): the raw quote,
    whose report data is SHA-256(DER SubjectPublicKeyInfo of the certificate key) followed
    by 32 zero bytes;
  * TCG DICE tagged evidence, OID 2.23.133.5.4.9 (Gramine >= 1.8): CBOR tag 60000 over
    [quote (bstr), claims (bstr)], claims = CBOR map {"pubkey-hash": bstr(CBOR [1, SHA-256
    of the DER SubjectPublicKeyInfo])}, and the quote's report data is SHA-256(claims
    bytes) followed by 32 zero bytes.
Both are checked when both are present. The key must be EC P-384 (Gramine's only kind).

Python ssl clients: connect with `client_context()` (no CA verification: the certificate is
self-signed), then call `verify_peer(sock, ...)` before sending anything; the TLS handshake
already proved that the peer holds the certificate's private key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gsc.attestation.collateral import Collateral
from gsc.attestation.verify import Policy, Result, StepFailed, verify_quote

LEGACY_OID = "1.2.840.113741.1337.6"
LEGACY_OID_MISENCODED = "0.6.9.42.840.113741.1337.6"
DICE_OID = "2.23.133.5.4.9"
DICE_CBOR_TAG = 60000
HASH_ALG_SHA256 = 1


@dataclass
class RatlsResult(Result):
    binding: str | None = None  # "dice", "legacy" or "dice+legacy"

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["binding"] = self.binding
        return out


class RatlsRejected(Exception):
    """Raised by `connect` when the peer's RA-TLS certificate is not accepted."""

    def __init__(self, result: RatlsResult) -> None:
        super().__init__(f"RA-TLS peer rejected at {result.failed_step}: {result.reason}")
        self.result = result


def load_cert_bytes(data: bytes) -> bytes:
    """PEM or DER certificate bytes -> DER (PEM that does not parse is returned as is and
    rejected by the verifier). Only data that *starts* with a PEM header is PEM: a DER
    RA-TLS certificate contains PEM text itself (the quote's PCK chain)."""
    if data.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"):
        try:
            return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
        except ValueError:
            return data
    return data


def spki_sha256(cert: x509.Certificate) -> bytes:
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def _ext(cert: x509.Certificate, oid: str) -> bytes | None:
    for ext in cert.extensions:
        if ext.oid.dotted_string == oid:
            val = ext.value
            return val.value if isinstance(val, x509.UnrecognizedExtension) else None
    return None


def _dice(evidence: bytes) -> tuple[bytes, bytes, bytes]:
    """(quote, claims bytes, pubkey hash) from TCG DICE tagged evidence."""
    import cbor2

    try:
        tagged = cbor2.loads(evidence)
        if not isinstance(tagged, cbor2.CBORTag) or tagged.tag != DICE_CBOR_TAG:
            raise ValueError("not CBOR tag 60000")
        arr = tagged.value
        if not isinstance(arr, list | tuple) or len(arr) != 2 or not all(
            isinstance(x, bytes) for x in arr
        ):
            raise ValueError("tag 60000 does not hold [quote, claims] byte strings")
        quote, claims_raw = arr
        claims = cbor2.loads(claims_raw)
        if not isinstance(claims, dict) or not isinstance(claims.get("pubkey-hash"), bytes):
            raise ValueError("claims lack a pubkey-hash byte string")
        entry = cbor2.loads(claims["pubkey-hash"])
        if (not isinstance(entry, list | tuple) or len(entry) != 2 or entry[0] != HASH_ALG_SHA256
                or not isinstance(entry[1], bytes) or len(entry[1]) != 32):
            raise ValueError("pubkey-hash is not [1 (SHA-256), 32-byte hash]")
    except Exception as exc:  # cbor2 raises several kinds on hostile input
        raise StepFailed("binding", f"TCG DICE evidence is malformed: {exc}") from None
    return quote, claims_raw, entry[1]


def extract_evidence(der: bytes) -> bytes | None:
    """The quote carried by an RA-TLS certificate (DICE preferred), unchecked; None when
    there is none or the certificate does not parse."""
    try:
        cert = x509.load_der_x509_certificate(der)
        dice = _ext(cert, DICE_OID)
        if dice is not None:
            return _dice(dice)[0]
        return _ext(cert, LEGACY_OID_MISENCODED) or _ext(cert, LEGACY_OID)
    except (ValueError, StepFailed):
        return None


def _certificate(der: bytes, now: dt.datetime) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = cert.extensions
    except ValueError as exc:
        raise StepFailed("certificate", f"not an X.509 certificate: {exc}") from None
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise StepFailed("certificate", "RA-TLS certificate key does not parse") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise StepFailed("certificate", "RA-TLS certificate key is not EC P-384")
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        raise StepFailed("certificate", "RA-TLS certificate is not validly self-signed") from None
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise StepFailed("certificate", f"RA-TLS certificate is not valid at {now.isoformat()}")
    return cert


def verify_ratls_der(
    der: bytes,
    collateral: Collateral | None,
    policy: Policy | None = None,
    now: dt.datetime | None = None,
    *,
    root: x509.Certificate | None = None,
) -> RatlsResult:
    """Verify an RA-TLS certificate (DER): binding, then every quote it carries."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    res = RatlsResult()
    try:
        cert = _certificate(der, now)
        pk_hash = spki_sha256(cert)
        quotes: list[tuple[str, bytes]] = []
        expect_rd = b""
        dice = _ext(cert, DICE_OID)
        if dice is not None:
            quote, claims, claimed = _dice(dice)
            if claimed != pk_hash:
                raise StepFailed("binding", "DICE pubkey-hash claim is not the hash of the "
                                 "certificate's public key")
            quotes.append(("dice", quote))
            expect_rd = hashlib.sha256(claims).digest() + bytes(32)
        legacy = _ext(cert, LEGACY_OID_MISENCODED)
        if legacy is None:
            legacy = _ext(cert, LEGACY_OID)
        if legacy is not None:
            quotes.append(("legacy", legacy))
        if not quotes:
            raise StepFailed("binding", "certificate carries no SGX quote extension")
        res.binding = "+".join(kind for kind, _ in quotes)
        first: Result | None = None
        for kind, quote in quotes:
            want = expect_rd if kind == "dice" else pk_hash + bytes(32)
            r = verify_quote(quote, collateral, policy, now, root=root)
            if first is None:
                first = r
            if r.report_data is not None and r.report_data != want.hex():
                _copy(r, res)
                raise StepFailed("binding", f"the {kind} quote's report data does not bind "
                                 "the certificate's public key")
            if not r.accepted:
                _copy(r, res)
                res.reason = f"{kind} quote: {r.reason}"
                return res
        assert first is not None
        _copy(first, res)
    except StepFailed as exc:
        res.accepted = False
        res.failed_step = exc.step
        res.reason = exc.reason
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        res.accepted = False
        res.failed_step = "malformed"
        res.reason = f"malformed input: {type(exc).__name__}: {exc}"
    if not res.accepted:
        if res.simulated and not res.reason.startswith("SIMULATED"):
            res.reason = f"SIMULATED (proves nothing about hardware): {res.reason}"
    return res


def _copy(src: Result, dst: RatlsResult) -> None:
    for name in Result.__dataclass_fields__:
        setattr(dst, name, getattr(src, name))


# ----- Python ssl clients ----------------------------------------------------------------


def client_context() -> ssl.SSLContext:
    """A TLS client context for RA-TLS servers: no CA check (the certificate is
    self-signed and verified by `verify_peer` after the handshake), TLS 1.2 or newer."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def verify_peer(
    sock: ssl.SSLSocket,
    collateral: Collateral | None,
    policy: Policy | None = None,
    now: dt.datetime | None = None,
    *,
    root: x509.Certificate | None = None,
) -> RatlsResult:
    """Verify the RA-TLS certificate the peer presented in the completed handshake."""
    der = sock.getpeercert(binary_form=True)
    if not der:
        res = RatlsResult(failed_step="certificate", reason="the peer sent no certificate")
        return res
    return verify_ratls_der(der, collateral, policy, now, root=root)


def connect(
    host: str,
    port: int,
    policy: Policy,
    collateral: Collateral | None = None,
    *,
    timeout: float = 30.0,
    now: dt.datetime | None = None,
) -> tuple[ssl.SSLSocket, RatlsResult]:
    """Connect, handshake, verify the peer; raise RatlsRejected (socket closed) unless it is
    accepted. Example:

        sock, result = connect("127.0.0.1", 4433, Policy(mrenclave=..., mrsigner=...),
                               load_collateral(open("collateral.json", "rb").read()))
        sock.sendall(b"secret only for that enclave")
    """
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        sock = client_context().wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    result = verify_peer(sock, collateral, policy, now)
    if not result.accepted:
        sock.close()
        raise RatlsRejected(result)
    return sock, result
