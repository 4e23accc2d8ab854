"""Parser for SGX DCAP ECDSA quotes, version 3 (ECDSA-256 with P-256, QE vendor any,
certification data type 5 = PCK certificate chain as PEM inside the quote).

Layout (all integers little-endian):
    header        48   version u16, attestation key type u16, TEE type u32, QE SVN u16,
                       PCE SVN u16, QE vendor ID 16, user data 20
    report body  384   the ISV enclave's REPORTBODY
    sig data len   4
    ISV signature 64   ECDSA r||s over header || report body, by the attestation key
    attest. key   64   P-256 point x||y
    QE report    384   the quoting enclave's REPORTBODY
    QE report sig 64   ECDSA r||s over the QE report, by the PCK key
    QE auth data   2 + n
    cert data      2 (type) + 4 (size) + size

The parser checks bounds and the fixed fields only; every signature is checked in
verify.py. It raises QuoteFormatError and nothing else for any input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gsc.attestation.errors import QuoteFormatError

HEADER_SIZE = 48
REPORT_BODY_SIZE = 384
SIGNED_SIZE = HEADER_SIZE + REPORT_BODY_SIZE
QUOTE_VERSION = 3
ATT_KEY_TYPE_ECDSA_P256 = 2
TEE_TYPE_SGX = 0
CERT_DATA_PCK_CHAIN = 5
MAX_QUOTE_SIZE = 1 << 20
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")

FLAG_DEBUG = 0x2


@dataclass(frozen=True)
class ReportBody:
    """An SGX REPORTBODY (384 bytes)."""

    raw: bytes
    cpusvn: bytes
    miscselect: int
    attributes: bytes  # 16 bytes: flags u64 || xfrm u64
    mrenclave: bytes
    mrsigner: bytes
    isvprodid: int
    isvsvn: int
    report_data: bytes

    @property
    def flags(self) -> int:
        return int.from_bytes(self.attributes[:8], "little")

    @property
    def xfrm(self) -> int:
        return int.from_bytes(self.attributes[8:], "little")

    @property
    def debug(self) -> bool:
        return bool(self.flags & FLAG_DEBUG)


def parse_report_body(raw: bytes) -> ReportBody:
    if len(raw) != REPORT_BODY_SIZE:
        raise QuoteFormatError(f"report body is {len(raw)} bytes, not {REPORT_BODY_SIZE}")
    (miscselect,) = struct.unpack_from("<I", raw, 16)
    (isvprodid, isvsvn) = struct.unpack_from("<HH", raw, 256)
    return ReportBody(
        raw=bytes(raw),
        cpusvn=bytes(raw[0:16]),
        miscselect=miscselect,
        attributes=bytes(raw[48:64]),
        mrenclave=bytes(raw[64:96]),
        mrsigner=bytes(raw[128:160]),
        isvprodid=isvprodid,
        isvsvn=isvsvn,
        report_data=bytes(raw[320:384]),
    )


@dataclass(frozen=True)
class Quote:
    raw: bytes
    version: int
    att_key_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes
    report: ReportBody
    isv_signature: bytes  # r||s
    attestation_key: bytes  # x||y
    qe_report: ReportBody
    qe_report_signature: bytes  # r||s
    qe_auth_data: bytes
    cert_data_type: int
    cert_data: bytes

    @property
    def signed_part(self) -> bytes:
        """What the ISV signature covers: header || report body."""
        return self.raw[:SIGNED_SIZE]

    def pck_chain_pem(self) -> list[bytes]:
        """The PEM certificates of the certification data, leaf first."""
        return split_pem_chain(self.cert_data)


def split_pem_chain(data: bytes) -> list[bytes]:
    begin, end = b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"
    out: list[bytes] = []
    pos = 0
    while True:
        start = data.find(begin, pos)
        if start < 0:
            break
        stop = data.find(end, start)
        if stop < 0:
            raise QuoteFormatError("unterminated PEM certificate in the certification data")
        stop += len(end)
        out.append(data[start:stop] + b"\n")
        pos = stop
    rest = data[pos:].strip(b"\x00\r\n\t ")
    if rest:
        raise QuoteFormatError("unexpected bytes after the PEM certificate chain")
    return out


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise QuoteFormatError(
                f"quote truncated: {what} needs {n} bytes at offset {self.pos}, "
                f"{max(len(self.data) - self.pos, 0)} left"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self, what: str) -> int:
        return int(struct.unpack("<H", self.take(2, what))[0])

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.take(4, what))[0])


def parse_quote(data: bytes) -> Quote:
    """Parse an SGX DCAP ECDSA quote v3; raise QuoteFormatError for anything else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise QuoteFormatError("quote must be bytes")
    data = bytes(data)
    if len(data) > MAX_QUOTE_SIZE:
        raise QuoteFormatError(f"quote is {len(data)} bytes, larger than {MAX_QUOTE_SIZE}")
    r = _Reader(data)
    version = r.u16("version")
    if version != QUOTE_VERSION:
        raise QuoteFormatError(f"quote version {version} is not supported (only 3)")
    att_key_type = r.u16("attestation key type")
    if att_key_type != ATT_KEY_TYPE_ECDSA_P256:
        raise QuoteFormatError(
            f"attestation key type {att_key_type} is not supported (only 2, ECDSA-256 P-256)"
        )
    tee_type = r.u32("TEE type")
    if tee_type != TEE_TYPE_SGX:
        raise QuoteFormatError(f"TEE type {tee_type:#x} is not SGX")
    qe_svn = r.u16("QE SVN")
    pce_svn = r.u16("PCE SVN")
    qe_vendor_id = r.take(16, "QE vendor ID")
    user_data = r.take(20, "user data")
    report = parse_report_body(r.take(REPORT_BODY_SIZE, "report body"))
    sig_len = r.u32("signature data length")
    if sig_len != len(data) - r.pos:
        raise QuoteFormatError(
            f"signature data length {sig_len} does not match the {len(data) - r.pos} "
            "bytes that follow"
        )
    isv_sig = r.take(64, "ISV signature")
    att_key = r.take(64, "attestation key")
    qe_report = parse_report_body(r.take(REPORT_BODY_SIZE, "QE report"))
    qe_sig = r.take(64, "QE report signature")
    auth_len = r.u16("QE auth data length")
    auth = r.take(auth_len, "QE auth data")
    cert_type = r.u16("certification data type")
    if cert_type != CERT_DATA_PCK_CHAIN:
        raise QuoteFormatError(
            f"certification data type {cert_type} is not supported "
            "(only 5, PCK certificate chain in the quote)"
        )
    cert_size = r.u32("certification data size")
    cert_data = r.take(cert_size, "certification data")
    if r.pos != len(data):
        raise QuoteFormatError(f"{len(data) - r.pos} unexpected bytes after the quote")
    quote = Quote(
        raw=data,
        version=version,
        att_key_type=att_key_type,
        qe_svn=qe_svn,
        pce_svn=pce_svn,
        qe_vendor_id=qe_vendor_id,
        user_data=user_data,
        report=report,
        isv_signature=isv_sig,
        attestation_key=att_key,
        qe_report=qe_report,
        qe_report_signature=qe_sig,
        qe_auth_data=auth,
        cert_data_type=cert_type,
        cert_data=cert_data,
    )
    chain = quote.pck_chain_pem()
    if len(chain) < 2:
        raise QuoteFormatError(
            f"certification data holds {len(chain)} PEM certificates; a PCK chain has 3"
        )
    return quote
