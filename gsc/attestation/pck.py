"""The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1): FMSPC, PCE-ID and the
TCB (16 SGX TCB component SVNs, PCESVN, CPUSVN)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from gsc.attestation import der

SGX_EXT_OID = "1.2.840.113741.1.13.1"
_TCB = SGX_EXT_OID + ".2"
_PCEID = SGX_EXT_OID + ".3"
_FMSPC = SGX_EXT_OID + ".4"


class PckExtensionError(ValueError):
    """The PCK certificate lacks a well-formed SGX extension."""


@dataclass(frozen=True)
class PckTcb:
    fmspc: bytes
    pce_id: bytes
    sgx_components: tuple[int, ...]
    pcesvn: int
    cpusvn: bytes


def _pairs(content: bytes) -> dict[str, der.Tlv]:
    """The (OID, value) entries of a SEQUENCE's content."""
    out: dict[str, der.Tlv] = {}
    for item in der.read_all(content):
        if item.tag != der.TAG_SEQUENCE:
            raise der.DerError("SGX extension entry is not a SEQUENCE")
        parts = der.read_all(item.value)
        if len(parts) != 2 or parts[0].tag != der.TAG_OID:
            raise der.DerError("SGX extension entry is not (OID, value)")
        oid = der.decode_oid(parts[0].value)
        if oid in out:
            raise der.DerError(f"duplicate SGX extension entry {oid}")
        out[oid] = parts[1]
    return out


def parse_sgx_extension(cert: x509.Certificate) -> PckTcb:
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXT_OID))
    except x509.ExtensionNotFound:
        raise PckExtensionError("PCK certificate has no SGX extension") from None
    except ValueError as exc:
        raise PckExtensionError(f"PCK certificate extensions do not parse: {exc}") from None
    value = ext.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    try:
        top = _pairs(der.read_single(raw, der.TAG_SEQUENCE))
        for need in (_TCB, _PCEID, _FMSPC):
            if need not in top:
                raise der.DerError(f"SGX extension lacks {need}")
        fmspc, pce_id = top[_FMSPC], top[_PCEID]
        if fmspc.tag != der.TAG_OCTET_STRING or len(fmspc.value) != 6:
            raise der.DerError("FMSPC must be a 6-byte OCTET STRING")
        if pce_id.tag != der.TAG_OCTET_STRING or len(pce_id.value) != 2:
            raise der.DerError("PCE-ID must be a 2-byte OCTET STRING")
        if top[_TCB].tag != der.TAG_SEQUENCE:
            raise der.DerError("TCB entry must be a SEQUENCE")
        tcb = _pairs(top[_TCB].value)
        comps: list[int] = []
        for i in range(1, 17):
            t = tcb.get(f"{_TCB}.{i}")
            if t is None or t.tag != der.TAG_INTEGER:
                raise der.DerError(f"TCB component {i} missing")
            comps.append(der.decode_uint(t.value))
        pcesvn = tcb.get(f"{_TCB}.17")
        cpusvn = tcb.get(f"{_TCB}.18")
        if pcesvn is None or pcesvn.tag != der.TAG_INTEGER:
            raise der.DerError("PCESVN missing")
        if cpusvn is None or cpusvn.tag != der.TAG_OCTET_STRING or len(cpusvn.value) != 16:
            raise der.DerError("CPUSVN missing")
    except der.DerError as exc:
        raise PckExtensionError(f"PCK certificate SGX extension: {exc}") from None
    return PckTcb(
        fmspc=fmspc.value,
        pce_id=pce_id.value,
        sgx_components=tuple(comps),
        pcesvn=der.decode_uint(pcesvn.value),
        cpusvn=cpusvn.value,
    )

