"""SIGSTRUCT (1808 bytes): build, sign, assemble from an external signature, parse, verify.

Layout and rules: docs/sgx-measurement.md, section 4. Signing uses RSASSA-PKCS1-v1_5
with SHA-256 (deterministic), so the same inputs give the same bytes as Gramine's signer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, fields, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gsc.errors import InputError, VerificationError
from gsc.sgx.keys import KEY_BITS, check_public_key
from gsc.sgx.measure import mrenclave as measure_mrenclave
from gsc.sgx.native import core, err_text
from gsc.sgx.params import SgxParams
from gsc.sgx.signer import Signer, as_signer
from gsc.sgx.signer import public_key as signer_public_key

SIGSTRUCT_SIZE = 1808
KEY_BYTES = KEY_BITS // 8
HEADER = bytes.fromhex("06000000E10000000000010000000000")
HEADER2 = bytes.fromhex("01010000600000006000000001000000")
MISC_MASK = 0xFFFFFFFF
ATTRIBUTE_MASK_FLAGS = 0xFFFFFFFFFFFFFFFF
JSON_KEYS = (
    "mrenclave",
    "mrsigner",
    "isv_prod_id",
    "isv_svn",
    "debug",
    "date",
    "misc_select",
    "attributes_flags",
    "attributes_xfrm",
    "attribute_mask_xfrm",
)

# (name, offset, size, kind) with kind "int" (little-endian) or "bytes".
_LAYOUT: tuple[tuple[str, int, int, str], ...] = (
    ("vendor", 16, 4, "int"),
    ("date_bcd", 20, 4, "int"),
    ("swdefined", 40, 4, "int"),
    ("reserved1", 44, 84, "bytes"),
    ("modulus", 128, 384, "int"),
    ("exponent", 512, 4, "int"),
    ("signature", 516, 384, "int"),
    ("misc_select", 900, 4, "int"),
    ("misc_mask", 904, 4, "int"),
    ("cet", 908, 4, "bytes"),
    ("isv_family_id", 912, 16, "bytes"),
    ("attributes_flags", 928, 8, "int"),
    ("attributes_xfrm", 936, 8, "int"),
    ("attribute_mask_flags", 944, 8, "int"),
    ("attribute_mask_xfrm", 952, 8, "int"),
    ("enclavehash", 960, 32, "bytes"),
    ("reserved2", 992, 16, "bytes"),
    ("isv_ext_prod_id", 1008, 16, "bytes"),
    ("isv_prod_id", 1024, 2, "int"),
    ("isv_svn", 1026, 2, "int"),
    ("reserved3", 1028, 12, "bytes"),
    ("q1", 1040, 384, "int"),
    ("q2", 1424, 384, "int"),
)


# --------------------------------------------------------------------------- dates


def date_to_bcd(date: dt.date) -> int:
    """2024-01-02 -> 0x20240102 (stored little-endian: 02 01 24 20)."""
    return (
        (int(f"{date.year:04d}", 16) << 16)
        | (int(f"{date.month:02d}", 16) << 8)
        | int(f"{date.day:02d}", 16)
    )


def bcd_text(bcd: int) -> str:
    """The BCD date field as YYYY-MM-DD (digits as stored)."""
    return f"{bcd >> 16:04x}-{(bcd >> 8) & 0xFF:02x}-{bcd & 0xFF:02x}"


def bcd_to_date(bcd: int) -> dt.date:
    try:
        return dt.date.fromisoformat(bcd_text(bcd))
    except ValueError:
        raise InputError(f"SIGSTRUCT date field 0x{bcd:08x} is not a valid BCD date") from None


def parse_date(text: str) -> dt.date:
    """`--date YYYY-MM-DD`; InputError otherwise."""
    try:
        if len(text) != 10:
            raise ValueError
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date {text!r}: expected YYYY-MM-DD") from None
    if date.year < 1000:
        raise InputError(f"--date {text!r}: year must have four digits")
    return date


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# --------------------------------------------------------------------------- structure


@dataclass
class Sigstruct:
    """All SIGSTRUCT fields; integers are plain ints, reserved areas raw bytes."""

    date_bcd: int = 0
    vendor: int = 0
    swdefined: int = 0
    reserved1: bytes = bytes(84)
    modulus: int = 0
    exponent: int = 3
    signature: int = 0
    misc_select: int = 0
    misc_mask: int = MISC_MASK
    cet: bytes = bytes(4)
    isv_family_id: bytes = bytes(16)
    attributes_flags: int = 0
    attributes_xfrm: int = 0
    attribute_mask_flags: int = ATTRIBUTE_MASK_FLAGS
    attribute_mask_xfrm: int = 0
    enclavehash: bytes = bytes(32)
    reserved2: bytes = bytes(16)
    isv_ext_prod_id: bytes = bytes(16)
    isv_prod_id: int = 0
    isv_svn: int = 0
    reserved3: bytes = bytes(12)
    q1: int = 0
    q2: int = 0

    # ------------------------------------------------------------ bytes
    def to_bytes(self) -> bytes:
        out = bytearray(SIGSTRUCT_SIZE)
        out[0:16] = HEADER
        out[24:40] = HEADER2
        for name, off, size, kind in _LAYOUT:
            value = getattr(self, name)
            if kind == "int":
                try:
                    out[off : off + size] = int(value).to_bytes(size, "little")
                except OverflowError:
                    raise InputError(
                        f"SIGSTRUCT field {name} does not fit in {size} bytes"
                    ) from None
            else:
                if len(value) != size:
                    raise InputError(f"SIGSTRUCT field {name} must be {size} bytes")
                out[off : off + size] = value
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Sigstruct:
        """Parse (no signature check). InputError on wrong length or header."""
        if len(data) != SIGSTRUCT_SIZE:
            raise InputError(
                f"SIGSTRUCT has the wrong length ({len(data)} bytes, need {SIGSTRUCT_SIZE})"
            )
        if data[0:16] != HEADER or data[24:40] != HEADER2:
            raise InputError("SIGSTRUCT has a bad header")
        values: dict[str, Any] = {}
        for name, off, size, kind in _LAYOUT:
            chunk = data[off : off + size]
            values[name] = int.from_bytes(chunk, "little") if kind == "int" else bytes(chunk)
        return cls(**values)

    def signing_data(self) -> bytes:
        """The 256 signed bytes: bytes[0:128] + bytes[900:1028]."""
        raw = self.to_bytes()
        return raw[0:128] + raw[900:1028]

    # ------------------------------------------------------------ views
    @property
    def mrenclave(self) -> bytes:
        return self.enclavehash

    @property
    def mrsigner(self) -> bytes:
        return hashlib.sha256(self.modulus.to_bytes(KEY_BYTES, "little")).digest()

    @property
    def debug(self) -> bool:
        return bool(self.attributes_flags & 0x2)

    @property
    def date(self) -> dt.date:
        return bcd_to_date(self.date_bcd)

    def to_json(self) -> dict[str, Any]:
        """Exactly the design.md keys."""
        return {
            "mrenclave": self.enclavehash.hex(),
            "mrsigner": self.mrsigner.hex(),
            "isv_prod_id": self.isv_prod_id,
            "isv_svn": self.isv_svn,
            "debug": self.debug,
            "date": bcd_text(self.date_bcd),
            "misc_select": self.misc_select,
            "attributes_flags": self.attributes_flags,
            "attributes_xfrm": self.attributes_xfrm,
            "attribute_mask_xfrm": self.attribute_mask_xfrm,
        }


# --------------------------------------------------------------------------- build / sign


def build_unsigned(mrenclave: bytes, params: SgxParams, date: dt.date) -> Sigstruct:
    """The SIGSTRUCT without modulus, signature, q1, q2 (all zero)."""
    if len(mrenclave) != 32:
        raise InputError("MRENCLAVE must be 32 bytes")
    xfrm, xfrm_mask = params.xfrm()
    return Sigstruct(
        date_bcd=date_to_bcd(date),
        misc_select=params.misc_select,
        attributes_flags=params.attributes_flags,
        attributes_xfrm=xfrm,
        attribute_mask_xfrm=xfrm_mask,
        enclavehash=bytes(mrenclave),
        isv_prod_id=params.isvprodid,
        isv_svn=params.isvsvn,
    )


def mrsigner_of(public_key: rsa.RSAPublicKey) -> bytes:
    """SHA-256 of the 384-byte little-endian modulus."""
    n = public_key.public_numbers().n
    return hashlib.sha256(n.to_bytes(KEY_BYTES, "little")).digest()


def assemble(unsigned: Sigstruct, public_key: rsa.RSAPublicKey, signature: bytes) -> bytes:
    """Insert an externally made PKCS#1 v1.5 / SHA-256 signature (big-endian, 384 bytes),
    compute q1/q2 and verify everything before returning the 1808 bytes."""
    check_public_key(public_key, "public key")
    if len(signature) != KEY_BYTES:
        raise InputError(
            f"signature must be {KEY_BYTES} bytes (raw RSA-3072), not {len(signature)}"
        )
    data = unsigned.signing_data()
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise VerificationError(
            "signature does not verify against the public key and the signing data "
            "(same manifest, PAL and --date as the export?)"
        ) from None
    n = public_key.public_numbers().n
    s = int.from_bytes(signature, "big")
    s2 = s * s
    result = replace(
        unsigned,
        modulus=n,
        exponent=3,
        signature=s,
        q1=s2 // n,
        q2=((s2 % n) * s) // n,
    )
    raw = result.to_bytes()
    verify_signature(raw)  # the C core must agree (it is what the runtime runs)
    return raw


def sign_enclave(
    manifest: bytes, pal: bytes, key: Signer | rsa.RSAPrivateKey, date: dt.date
) -> bytes:
    """One-step signing: measure the manifest bytes as-is, build, sign, assemble.

    `key` is any Signer (a PEM key, a PKCS#11 token key) or a cryptography RSA key."""
    params = SgxParams.from_manifest_bytes(manifest)
    return sign_measured(measure_mrenclave(manifest, pal, params), params, key, date)


def sign_measured(mrenclave: bytes, params: SgxParams, key: Signer | rsa.RSAPrivateKey,
                  date: dt.date) -> bytes:
    """Sign an enclave already measured (MRENCLAVE of the manifest and PAL whose [sgx]
    settings are ``params``): build, sign, assemble."""
    signer = as_signer(key)
    check_public_key(signer_public_key(signer), "key")
    unsigned = build_unsigned(mrenclave, params, date)
    signature = signer.sign_pkcs1v15_sha256(unsigned.signing_data())
    return assemble(unsigned, signer_public_key(signer), signature)


# --------------------------------------------------------------------------- verify


def verify_signature(sig: bytes) -> Sigstruct:
    """Length, headers, exponent, RSA signature and q1/q2 via the C core; no measurement.

    InputError for a malformed SIGSTRUCT, VerificationError for a bad signature."""
    parsed = Sigstruct.from_bytes(sig)
    ffi, lib = core()
    info = ffi.new("gsc_sigstruct_info *")
    err = ffi.new("char[256]")
    rc = lib.gsc_sigstruct_verify(ffi.from_buffer("uint8_t[]", sig), len(sig), info, err, 256)
    if rc == lib.GSC_SIG_E_FORMAT:
        raise InputError(err_text(ffi, err))
    if rc != 0:
        raise VerificationError(err_text(ffi, err) or f"SIGSTRUCT check failed (code {rc})")
    return parsed


def _shown(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else hex(int(value))  # type: ignore[call-overload]


def verify(sig: bytes, manifest: bytes, pal: bytes) -> Sigstruct:
    """Full check: signature, enclavehash == recomputed MRENCLAVE, and every signed
    attribute equal to what the manifest's [sgx] table asks for."""
    parsed = verify_signature(sig)
    params = SgxParams.from_manifest_bytes(manifest)
    measured = measure_mrenclave(manifest, pal, params)
    if measured != parsed.enclavehash:
        raise VerificationError(
            f"MRENCLAVE mismatch: SIGSTRUCT has {parsed.enclavehash.hex()}, "
            f"manifest and PAL measure {measured.hex()}"
        )
    expected = build_unsigned(measured, params, dt.date(2000, 1, 1))
    expected.date_bcd = parsed.date_bcd
    for f in fields(Sigstruct):
        name = f.name
        if name in ("modulus", "signature", "q1", "q2"):
            continue
        got, want = getattr(parsed, name), getattr(expected, name)
        if got != want:
            raise VerificationError(
                f"SIGSTRUCT {name} is {_shown(got)} but the manifest gives {_shown(want)}"
            )
    return parsed
