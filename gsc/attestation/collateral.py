"""Quote collateral: what `--collateral FILE` holds (the keys of Intel's / dcap-qvl's
sgx_quote_collateral.json) and the parsed TCB info and QE identity.

The TCB info and QE identity are kept as the exact text that was signed: their signatures
are checked over those bytes, never over a re-serialisation.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from gsc.attestation.errors import CollateralError

_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")

KEYS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)


@dataclass(frozen=True)
class Collateral:
    pck_crl_issuer_chain: bytes  # PEM, issuer first
    root_ca_crl: bytes  # DER
    pck_crl: bytes  # DER
    tcb_info_issuer_chain: bytes  # PEM
    tcb_info: bytes  # exact signed JSON text
    tcb_info_signature: bytes  # r||s
    qe_identity_issuer_chain: bytes
    qe_identity: bytes
    qe_identity_signature: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "pck_crl_issuer_chain": self.pck_crl_issuer_chain.decode(),
            "root_ca_crl": self.root_ca_crl.hex(),
            "pck_crl": self.pck_crl.hex(),
            "tcb_info_issuer_chain": self.tcb_info_issuer_chain.decode(),
            "tcb_info": self.tcb_info.decode(),
            "tcb_info_signature": self.tcb_info_signature.hex(),
            "qe_identity_issuer_chain": self.qe_identity_issuer_chain.decode(),
            "qe_identity": self.qe_identity.decode(),
            "qe_identity_signature": self.qe_identity_signature.hex(),
        }


def _hex(obj: dict[str, Any], key: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str) or not _HEX.match(value):
        raise CollateralError(f"collateral field {key!r} must be a hexadecimal string")
    return bytes.fromhex(value)


def _text(obj: dict[str, Any], key: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise CollateralError(f"collateral field {key!r} must be a non-empty string")
    return value.encode("utf-8")


def collateral_from_json(obj: object) -> Collateral:
    """Build the collateral from the decoded JSON object (unknown keys are ignored)."""
    if not isinstance(obj, dict):
        raise CollateralError("collateral must be a JSON object")
    missing = [k for k in KEYS if k not in obj]
    if missing:
        raise CollateralError(f"collateral lacks {', '.join(missing)}")
    sigs = (_hex(obj, "tcb_info_signature"), _hex(obj, "qe_identity_signature"))
    for name, sig in zip(("tcb_info_signature", "qe_identity_signature"), sigs, strict=True):
        if len(sig) != 64:
            raise CollateralError(f"collateral field {name!r} must be 64 bytes (r||s)")
    return Collateral(
        pck_crl_issuer_chain=_text(obj, "pck_crl_issuer_chain"),
        root_ca_crl=_hex(obj, "root_ca_crl"),
        pck_crl=_hex(obj, "pck_crl"),
        tcb_info_issuer_chain=_text(obj, "tcb_info_issuer_chain"),
        tcb_info=_text(obj, "tcb_info"),
        tcb_info_signature=sigs[0],
        qe_identity_issuer_chain=_text(obj, "qe_identity_issuer_chain"),
        qe_identity=_text(obj, "qe_identity"),
        qe_identity_signature=sigs[1],
    )


def load_collateral(data: bytes) -> Collateral:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CollateralError(f"collateral is not JSON: {type(exc).__name__}") from None
    return collateral_from_json(obj)


# ----- TCB info and QE identity -------------------------------------------------------------


def parse_time(value: object, what: str) -> dt.datetime:
    if not isinstance(value, str):
        raise CollateralError(f"{what} must be an ISO 8601 time string")
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CollateralError(f"{what} {value!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t


def _obj(text: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CollateralError(f"{what} is not JSON") from None
    if not isinstance(obj, dict):
        raise CollateralError(f"{what} is not a JSON object")
    return obj


def _int(obj: dict[str, Any], key: str, what: str) -> int:
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise CollateralError(f"{what}: {key} must be a non-negative integer")
    return v


def _hexfield(obj: dict[str, Any], key: str, size: int, what: str) -> bytes:
    v = obj.get(key)
    if not isinstance(v, str) or not _HEX.match(v) or len(v) != 2 * size:
        raise CollateralError(f"{what}: {key} must be {size} bytes of hex")
    return bytes.fromhex(v)


def _advisories(level: dict[str, Any], what: str) -> list[str]:
    adv = level.get("advisoryIDs", [])
    if not isinstance(adv, list) or not all(isinstance(a, str) for a in adv):
        raise CollateralError(f"{what}: advisoryIDs must be a list of strings")
    return list(adv)


def _status(level: dict[str, Any], what: str) -> str:
    s = level.get("tcbStatus")
    if not isinstance(s, str) or not s:
        raise CollateralError(f"{what}: tcbStatus missing")
    return s


@dataclass(frozen=True)
class TcbLevel:
    sgx_components: tuple[int, ...]
    pcesvn: int
    status: str
    advisories: tuple[str, ...]


@dataclass(frozen=True)
class TcbInfo:
    version: int
    issue_date: dt.datetime
    next_update: dt.datetime
    fmspc: bytes
    pce_id: bytes
    levels: tuple[TcbLevel, ...]


def parse_tcb_info(text: bytes) -> TcbInfo:
    what = "TCB info"
    o = _obj(text, what)
    if o.get("id", "SGX") != "SGX":
        raise CollateralError(f"{what}: id {o.get('id')!r} is not SGX")
    version = _int(o, "version", what)
    if version not in (2, 3):
        raise CollateralError(f"{what}: version {version} is not supported (2 or 3)")
    levels_raw = o.get("tcbLevels")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise CollateralError(f"{what}: tcbLevels missing")
    levels: list[TcbLevel] = []
    for lv in levels_raw:
        if not isinstance(lv, dict) or not isinstance(lv.get("tcb"), dict):
            raise CollateralError(f"{what}: malformed tcbLevels entry")
        tcb = lv["tcb"]
        if version >= 3:
            comps_raw = tcb.get("sgxtcbcomponents")
            if not isinstance(comps_raw, list) or len(comps_raw) != 16:
                raise CollateralError(f"{what}: sgxtcbcomponents must have 16 entries")
            comps = tuple(
                _int(c, "svn", what) if isinstance(c, dict) else -1 for c in comps_raw
            )
            if min(comps) < 0:
                raise CollateralError(f"{what}: malformed sgxtcbcomponents entry")
        else:
            comps = tuple(_int(tcb, f"sgxtcbcomp{i:02d}svn", what) for i in range(1, 17))
        levels.append(
            TcbLevel(
                sgx_components=comps,
                pcesvn=_int(tcb, "pcesvn", what),
                status=_status(lv, what),
                advisories=tuple(_advisories(lv, what)),
            )
        )
    return TcbInfo(
        version=version,
        issue_date=parse_time(o.get("issueDate"), f"{what} issueDate"),
        next_update=parse_time(o.get("nextUpdate"), f"{what} nextUpdate"),
        fmspc=_hexfield(o, "fmspc", 6, what),
        pce_id=_hexfield(o, "pceId", 2, what),
        levels=tuple(levels),
    )


@dataclass(frozen=True)
class QeTcbLevel:
    isvsvn: int
    status: str
    advisories: tuple[str, ...]


@dataclass(frozen=True)
class QeIdentity:
    issue_date: dt.datetime
    next_update: dt.datetime
    miscselect: bytes
    miscselect_mask: bytes
    attributes: bytes
    attributes_mask: bytes
    mrsigner: bytes
    isvprodid: int
    levels: tuple[QeTcbLevel, ...]


def parse_qe_identity(text: bytes) -> QeIdentity:
    what = "QE identity"
    o = _obj(text, what)
    if o.get("id", "QE") != "QE":
        raise CollateralError(f"{what}: id {o.get('id')!r} is not QE")
    if _int(o, "version", what) != 2:
        raise CollateralError(f"{what}: only version 2 is supported")
    levels_raw = o.get("tcbLevels")
    if not isinstance(levels_raw, list) or not levels_raw:
        raise CollateralError(f"{what}: tcbLevels missing")
    levels: list[QeTcbLevel] = []
    for lv in levels_raw:
        if not isinstance(lv, dict) or not isinstance(lv.get("tcb"), dict):
            raise CollateralError(f"{what}: malformed tcbLevels entry")
        levels.append(
            QeTcbLevel(
                isvsvn=_int(lv["tcb"], "isvsvn", what),
                status=_status(lv, what),
                advisories=tuple(_advisories(lv, what)),
            )
        )
    return QeIdentity(
        issue_date=parse_time(o.get("issueDate"), f"{what} issueDate"),
        next_update=parse_time(o.get("nextUpdate"), f"{what} nextUpdate"),
        miscselect=_hexfield(o, "miscselect", 4, what),
        miscselect_mask=_hexfield(o, "miscselectMask", 4, what),
        attributes=_hexfield(o, "attributes", 16, what),
        attributes_mask=_hexfield(o, "attributesMask", 16, what),
        mrsigner=_hexfield(o, "mrsigner", 32, what),
        isvprodid=_int(o, "isvprodid", what),
        levels=tuple(levels),
    )
