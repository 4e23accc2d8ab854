"""Complete verification of an SGX DCAP ECDSA quote v3 against its collateral, then the
relying party's policy.

Steps, in order (a failure names its step in `Result.failed_step`):

    parse                the quote's layout (quote.py)
    simulated            the PCK chain ends in gsc's SIMULATED root: refused unless allowed
    pck_chain            PCK leaf -> intermediate -> pinned root, validity at `now`
    crl                  root CA CRL and PCK CRL: signatures, nextUpdate, revocation
    tcb_info             issuer chain, signature over the exact JSON bytes, window, FMSPC
    qe_identity          issuer chain, signature, window; later the QE report against it
    qe_report_signature  the QE report signed by the PCK leaf key
    qe_report_data       QE report data = SHA-256(attestation key || QE auth data) || 0*32
    isv_signature        header || ISV report body signed by the attestation key
    tcb_level            the PCK certificate's TCB matched against the TCB info levels
    tcb_status           the resulting status is UpToDate or explicitly accepted
    policy               MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN, report data, debug
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from gsc.attestation import trust
from gsc.attestation.collateral import (
    Collateral,
    QeIdentity,
    TcbInfo,
    parse_qe_identity,
    parse_tcb_info,
)
from gsc.attestation.errors import CollateralError, QuoteFormatError
from gsc.attestation.pck import PckExtensionError, PckTcb, parse_sgx_extension
from gsc.attestation.quote import Quote, parse_quote

STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
)
ACCEPTABLE = frozenset(STATUSES) - {"Revoked"}
SIMULATED_NOTICE = "SIMULATED quote: proves nothing about hardware"


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


@dataclass(frozen=True)
class Policy:
    """What the relying party requires beyond a valid quote."""

    mrenclave: bytes | None = None
    mrsigner: bytes | None = None
    isvprodid: int | None = None
    min_isvsvn: int | None = None
    report_data: bytes | None = None  # compared with all 64 bytes (zero-padded)
    allow_debug: bool = False
    accept: frozenset[str] = frozenset()
    allow_simulated: bool = False


@dataclass
class Result:
    accepted: bool = False
    status: str | None = None
    qe_status: str | None = None
    advisories: list[str] = field(default_factory=list)
    mrenclave: str | None = None
    mrsigner: str | None = None
    isvprodid: int | None = None
    isvsvn: int | None = None
    debug: bool | None = None
    report_data: str | None = None
    fmspc: str | None = None
    failed_step: str | None = None
    reason: str = ""
    simulated: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "status": self.status,
            "qe_status": self.qe_status,
            "advisories": list(self.advisories),
            "mrenclave": self.mrenclave,
            "mrsigner": self.mrsigner,
            "isvprodid": self.isvprodid,
            "isvsvn": self.isvsvn,
            "debug": self.debug,
            "report_data": self.report_data,
            "fmspc": self.fmspc,
            "failed_step": self.failed_step,
            "reason": self.reason,
            "simulated": self.simulated,
        }
        if self.simulated:
            out["notice"] = SIMULATED_NOTICE
        return out


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def _ec_key(cert: x509.Certificate, what: str, step: str) -> ec.EllipticCurvePublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise StepFailed(step, f"{what} key does not parse") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise StepFailed(step, f"{what} key is not an EC key")
    return key


def _ecdsa_ok(key: ec.EllipticCurvePublicKey, sig_rs: bytes, message: bytes) -> bool:
    if len(sig_rs) != 64:
        return False
    r = int.from_bytes(sig_rs[:32], "big")
    s = int.from_bytes(sig_rs[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_pem_chain(data: bytes, what: str, step: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise StepFailed(step, f"{what} is not a PEM certificate chain") from None
    if not certs:
        raise StepFailed(step, f"{what} is empty")
    return certs


def _within(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def verify_chain(
    chain: Sequence[x509.Certificate],
    anchor: x509.Certificate,
    now: dt.datetime,
    what: str,
    step: str,
) -> None:
    """`chain` is leaf first and may end with a copy of the anchor; every link is verified
    up to `anchor`, and every certificate (anchor included) must be valid at `now`."""
    certs = list(chain)
    if certs and _der(certs[-1]) == _der(anchor):
        certs.pop()
    elif certs and certs[-1].subject == certs[-1].issuer:
        raise StepFailed(step, f"{what} ends in a root that is not the trusted root")
    if not certs:
        raise StepFailed(step, f"{what} holds no certificate below the root")
    full = [*certs, anchor]
    for i, cert in enumerate(full):
        if not _within(cert, now):
            raise StepFailed(
                step,
                f"{what}: certificate {cert.subject.rfc4514_string()} is not valid at "
                f"{now.isoformat()} ({cert.not_valid_before_utc.isoformat()} .. "
                f"{cert.not_valid_after_utc.isoformat()})",
            )
        if i == 0:
            continue
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        except ValueError:
            raise StepFailed(step, f"{what}: certificate extensions do not parse") from None
        if bc is None or not bc.ca:
            raise StepFailed(step, f"{what}: issuer {cert.subject.rfc4514_string()} is not a CA")
    for child, parent in itertools.pairwise(full):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            raise StepFailed(
                step,
                f"{what}: {child.subject.rfc4514_string()} is not signed by "
                f"{parent.subject.rfc4514_string()}",
            ) from None


def _load_crl(der: bytes, what: str) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(der)
    except ValueError:
        raise StepFailed("crl", f"{what} is not a DER CRL") from None


def _check_crl(
    crl: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    now: dt.datetime,
    what: str,
) -> None:
    if crl.issuer != issuer.subject:
        raise StepFailed("crl", f"{what} is issued by {crl.issuer.rfc4514_string()}, "
                         f"not {issuer.subject.rfc4514_string()}")
    pub = _ec_key(issuer, f"{what} issuer", "crl")
    try:
        valid = crl.is_signature_valid(pub)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise StepFailed("crl", f"{what} signature does not verify")
    nxt = crl.next_update_utc
    if nxt is None or now > nxt:
        raise StepFailed("crl", f"{what} expired (nextUpdate {nxt}) at {now.isoformat()}")


def _not_revoked(
    crl: x509.CertificateRevocationList, certs: Iterable[x509.Certificate], what: str
) -> None:
    for cert in certs:
        if cert.issuer != crl.issuer:
            continue
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            raise StepFailed(
                "crl", f"{cert.subject.rfc4514_string()} is revoked by the {what}"
            )


def _signed_json(
    chain_pem: bytes,
    body: bytes,
    sig: bytes,
    anchor: x509.Certificate,
    root_crl: x509.CertificateRevocationList,
    now: dt.datetime,
    step: str,
    what: str,
) -> None:
    chain = load_pem_chain(chain_pem, f"{what} issuer chain", step)
    verify_chain(chain, anchor, now, f"{what} issuer chain", step)
    _not_revoked(root_crl, chain, "root CA CRL")
    if not _ecdsa_ok(_ec_key(chain[0], f"{what} signer", step), sig, body):
        raise StepFailed(step, f"{what} signature does not verify over its JSON bytes")


def _window(issue: dt.datetime, nxt: dt.datetime, now: dt.datetime, what: str, step: str) -> None:
    if not issue <= now <= nxt:
        raise StepFailed(
            step,
            f"{what} is not current at {now.isoformat()} (issued {issue.isoformat()}, "
            f"nextUpdate {nxt.isoformat()})",
        )


def _tcb_level(tcb: TcbInfo, pck: PckTcb) -> tuple[str, list[str]]:
    for level in tcb.levels:
        if level.pcesvn <= pck.pcesvn and all(
            a <= b for a, b in zip(level.sgx_components, pck.sgx_components, strict=True)
        ):
            return level.status, list(level.advisories)
    raise StepFailed("tcb_level", "the platform's TCB is below every level of the TCB info")


def _qe_match(qe: QeIdentity, quote: Quote) -> tuple[str, list[str]]:
    rep = quote.qe_report
    if rep.mrsigner != qe.mrsigner:
        raise StepFailed("qe_identity", "QE MRSIGNER does not match the QE identity")
    if rep.isvprodid != qe.isvprodid:
        raise StepFailed("qe_identity", "QE ISVPRODID does not match the QE identity")
    misc = rep.miscselect.to_bytes(4, "little")
    if bytes(a & m for a, m in zip(misc, qe.miscselect_mask, strict=True)) != bytes(
        a & m for a, m in zip(qe.miscselect, qe.miscselect_mask, strict=True)
    ):
        raise StepFailed("qe_identity", "QE MISCSELECT does not match the QE identity")
    if bytes(a & m for a, m in zip(rep.attributes, qe.attributes_mask, strict=True)) != bytes(
        a & m for a, m in zip(qe.attributes, qe.attributes_mask, strict=True)
    ):
        raise StepFailed("qe_identity", "QE ATTRIBUTES do not match the QE identity")
    for level in qe.levels:
        if rep.isvsvn >= level.isvsvn:
            return level.status, list(level.advisories)
    raise StepFailed("qe_identity", f"QE ISVSVN {rep.isvsvn} is below every QE TCB level")


def _converge(platform: str, qe: str) -> str:
    """Combine the platform's and the QE's TCB status (Intel QVL's rules)."""
    if qe == "Revoked" or platform == "Revoked":
        return "Revoked"
    if qe == "OutOfDate":
        if platform in ("UpToDate", "SWHardeningNeeded", "OutOfDate"):
            return "OutOfDate"
        return "OutOfDateConfigurationNeeded"
    return platform


def _policy(policy: Policy, quote: Quote) -> None:
    rep = quote.report
    if policy.mrenclave is not None and rep.mrenclave != policy.mrenclave:
        raise StepFailed("policy", f"MRENCLAVE {rep.mrenclave.hex()} is not the expected "
                         f"{policy.mrenclave.hex()}")
    if policy.mrsigner is not None and rep.mrsigner != policy.mrsigner:
        raise StepFailed("policy", f"MRSIGNER {rep.mrsigner.hex()} is not the expected "
                         f"{policy.mrsigner.hex()}")
    if policy.isvprodid is not None and rep.isvprodid != policy.isvprodid:
        raise StepFailed("policy", f"ISVPRODID {rep.isvprodid} is not the expected "
                         f"{policy.isvprodid}")
    if policy.min_isvsvn is not None and rep.isvsvn < policy.min_isvsvn:
        raise StepFailed("policy", f"ISVSVN {rep.isvsvn} is below the minimum "
                         f"{policy.min_isvsvn}")
    if policy.report_data is not None:
        want = policy.report_data.ljust(64, b"\0")
        if len(want) != 64 or rep.report_data != want:
            raise StepFailed("policy", "report data is not the expected value")
    if rep.debug and not policy.allow_debug:
        raise StepFailed("policy", "the enclave is a DEBUG enclave (--allow-debug to accept)")


def verify_quote(
    quote_bytes: bytes,
    collateral: Collateral | None,
    policy: Policy | None = None,
    now: dt.datetime | None = None,
    *,
    root: x509.Certificate | None = None,
) -> Result:
    """Verify a quote completely; never raises for bad quotes or collateral (the result says
    which step failed). `collateral` None means: use gsc's simulated collateral, which is
    only possible for a simulated quote with `policy.allow_simulated`."""
    policy = policy or Policy()
    res = Result()
    try:
        _verify(quote_bytes, collateral, policy, _now(now), root, res)
    except StepFailed as exc:
        res.failed_step = exc.step
        res.reason = exc.reason
        res.accepted = False
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # Fail closed on anything malformed that a step did not name (none known).
        res.failed_step = "malformed"
        res.reason = f"malformed input: {type(exc).__name__}: {exc}"
        res.accepted = False
    if res.simulated:
        res.reason = f"SIMULATED (proves nothing about hardware): {res.reason}"
    return res


def _verify(
    quote_bytes: bytes,
    collateral: Collateral | None,
    policy: Policy,
    now: dt.datetime,
    root: x509.Certificate | None,
    res: Result,
) -> None:
    try:
        quote = parse_quote(quote_bytes)
    except QuoteFormatError as exc:
        raise StepFailed("parse", str(exc)) from None
    rep = quote.report
    res.mrenclave = rep.mrenclave.hex()
    res.mrsigner = rep.mrsigner.hex()
    res.isvprodid = rep.isvprodid
    res.isvsvn = rep.isvsvn
    res.debug = rep.debug
    res.report_data = rep.report_data.hex()

    try:
        chain = [x509.load_pem_x509_certificate(p) for p in quote.pck_chain_pem()]
    except ValueError:
        raise StepFailed("pck_chain", "the quote's PCK certificate chain does not parse") from None
    top = chain[-1]
    if trust.is_simulated(top):
        res.simulated = True
        if not policy.allow_simulated:
            raise StepFailed(
                "simulated",
                f"the quote chains to '{trust.SIMULATED_ROOT_CN}'; it proves nothing about "
                "hardware (use --allow-simulated to accept it for testing)",
            )
        anchor = trust.simulated_root()
        if collateral is None:
            from gsc.attestation.simulate import simulated_collateral

            collateral = simulated_collateral()
    else:
        anchor = root if root is not None else trust.intel_root()

    # PCK chain
    verify_chain(chain, anchor, now, "PCK certificate chain", "pck_chain")
    leaf = chain[0]
    try:
        pck = parse_sgx_extension(leaf)
    except PckExtensionError as exc:
        raise StepFailed("pck_chain", str(exc)) from None
    res.fmspc = pck.fmspc.hex()
    pck_issuer = chain[1]
    if collateral is None:
        raise StepFailed("collateral", "no collateral (use --collateral FILE or --pccs URL)")

    # CRLs
    root_crl = _load_crl(collateral.root_ca_crl, "root CA CRL")
    _check_crl(root_crl, anchor, now, "root CA CRL")
    pck_crl = _load_crl(collateral.pck_crl, "PCK CRL")
    crl_chain = load_pem_chain(collateral.pck_crl_issuer_chain, "PCK CRL issuer chain", "crl")
    verify_chain(crl_chain, anchor, now, "PCK CRL issuer chain", "crl")
    _check_crl(pck_crl, pck_issuer, now, "PCK CRL")
    _not_revoked(root_crl, [*chain[1:], *crl_chain], "root CA CRL")
    _not_revoked(pck_crl, [leaf], "PCK CRL")

    # TCB info
    _signed_json(collateral.tcb_info_issuer_chain, collateral.tcb_info,
                 collateral.tcb_info_signature, anchor, root_crl, now, "tcb_info", "TCB info")
    try:
        tcb = parse_tcb_info(collateral.tcb_info)
    except CollateralError as exc:
        raise StepFailed("tcb_info", str(exc)) from None
    _window(tcb.issue_date, tcb.next_update, now, "TCB info", "tcb_info")
    if tcb.fmspc != pck.fmspc or tcb.pce_id != pck.pce_id:
        raise StepFailed("tcb_info", f"TCB info is for FMSPC {tcb.fmspc.hex()} / PCE-ID "
                         f"{tcb.pce_id.hex()}, the PCK certificate says {pck.fmspc.hex()} / "
                         f"{pck.pce_id.hex()}")

    # QE identity
    _signed_json(collateral.qe_identity_issuer_chain, collateral.qe_identity,
                 collateral.qe_identity_signature, anchor, root_crl, now, "qe_identity",
                 "QE identity")
    try:
        qe = parse_qe_identity(collateral.qe_identity)
    except CollateralError as exc:
        raise StepFailed("qe_identity", str(exc)) from None
    _window(qe.issue_date, qe.next_update, now, "QE identity", "qe_identity")

    # The quote's signatures
    if not _ecdsa_ok(_ec_key(leaf, "PCK", "pck_chain"), quote.qe_report_signature,
                     quote.qe_report.raw):
        raise StepFailed("qe_report_signature", "QE report signature by the PCK key does not "
                         "verify")
    expect = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest() + bytes(32)
    if quote.qe_report.report_data != expect:
        raise StepFailed("qe_report_data", "QE report data is not SHA-256(attestation key || "
                         "QE auth data) || zeros: the attestation key is not the QE's")
    try:
        att_key = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b"\x04" + quote.attestation_key)
    except ValueError:
        raise StepFailed("isv_signature", "attestation key is not a P-256 point") from None
    if not _ecdsa_ok(att_key, quote.isv_signature, quote.signed_part):
        raise StepFailed("isv_signature", "ISV report signature by the attestation key does not "
                         "verify")

    # TCB evaluation
    qe_status, qe_adv = _qe_match(qe, quote)
    res.qe_status = qe_status
    platform, adv = _tcb_level(tcb, pck)
    res.status = _converge(platform, qe_status)
    res.advisories = list(dict.fromkeys([*adv, *qe_adv]))
    if res.status != "UpToDate" and res.status not in policy.accept:
        raise StepFailed("tcb_status", f"TCB status {res.status} is not accepted (advisories: "
                         f"{', '.join(res.advisories) or 'none'}; --accept {res.status} to "
                         "accept it)")
    if res.status == "Revoked":
        raise StepFailed("tcb_status", "the platform's TCB is revoked")
    _policy(policy, quote)
    res.accepted = True
    res.reason = f"accepted: TCB status {res.status}"


def collateral_hints(quote_bytes: bytes) -> tuple[bytes, str] | None:
    """(FMSPC, "platform" | "processor") from the quote's PCK certificate, to fetch the
    matching collateral; None when the quote or its PCK certificate does not parse."""
    try:
        quote = parse_quote(quote_bytes)
        chain = [x509.load_pem_x509_certificate(p) for p in quote.pck_chain_pem()]
        pck = parse_sgx_extension(chain[0])
    except (QuoteFormatError, PckExtensionError, ValueError):
        return None
    cn = chain[0].issuer.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    name = str(cn[0].value) if cn else ""
    return pck.fmspc, "processor" if "Processor" in name else "platform"
