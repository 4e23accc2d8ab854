"""A small strict DER reader: just enough for the SGX extension of a PCK certificate and
for walking certificate extensions. Every malformed input raises DerError."""

from __future__ import annotations

from dataclasses import dataclass

TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_ENUMERATED = 0x0A
TAG_SEQUENCE = 0x30


class DerError(ValueError):
    """Malformed DER."""


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes


def read_tlv(data: bytes, pos: int) -> tuple[Tlv, int]:
    """One TLV at `pos`; returns it and the position after it."""
    if pos + 2 > len(data):
        raise DerError("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte DER tags are not supported")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise DerError("unsupported DER length form")
        if pos + n > len(data):
            raise DerError("truncated DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        if length < 0x80 or data[pos] == 0:
            raise DerError("non-minimal DER length")
        pos += n
    end = pos + length
    if end > len(data):
        raise DerError("DER element runs past its container")
    return Tlv(tag, data[pos:end]), end


def read_all(data: bytes) -> list[Tlv]:
    """Every TLV in `data`, which must be consumed exactly."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        tlv, pos = read_tlv(data, pos)
        out.append(tlv)
    return out


def read_single(data: bytes, tag: int) -> bytes:
    tlv, end = read_tlv(data, 0)
    if end != len(data):
        raise DerError("trailing bytes after DER element")
    if tlv.tag != tag:
        raise DerError(f"expected DER tag {tag:#x}, got {tlv.tag:#x}")
    return tlv.value


def decode_oid(value: bytes) -> str:
    if not value or value[-1] & 0x80:
        raise DerError("malformed OID")
    arcs: list[int] = []
    acc = 0
    fresh = True
    for b in value:
        if fresh and b == 0x80:
            raise DerError("non-minimal OID arc")
        acc = (acc << 7) | (b & 0x7F)
        fresh = not b & 0x80
        if fresh:
            if not arcs:
                first = min(acc // 40, 2)
                arcs.extend([first, acc - 40 * first])
            else:
                arcs.append(acc)
            acc = 0
    return ".".join(str(a) for a in arcs)


def decode_uint(value: bytes) -> int:
    if not value:
        raise DerError("empty INTEGER")
    if value[0] & 0x80:
        raise DerError("negative INTEGER where an unsigned one is expected")
    if len(value) > 1 and value[0] == 0 and not value[1] & 0x80:
        raise DerError("non-minimal INTEGER")
    return int.from_bytes(value, "big")
