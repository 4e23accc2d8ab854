"""Parser for glibc's /etc/ld.so.cache (the "glibc-ld.so.cache1.1" format, standalone
or after the old "ld.so-1.7.0" table). Untrusted bytes: every offset is bounds-checked
and malformed input gives an empty result."""

from __future__ import annotations

import struct
from dataclasses import dataclass

OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"

FLAG_TYPE_MASK = 0x00FF
FLAG_ELF_LIBC6 = 0x0003
FLAG_REQUIRED_MASK = 0xFF00

# arch flag for the 64-bit (or only) library flavour, by ELF (class, machine)
ARCH_FLAGS: dict[tuple[int, str], int] = {
    (64, "EM_X86_64"): 0x0300,
    (32, "EM_386"): 0x0000,
    (64, "EM_AARCH64"): 0x0A00,
    (32, "EM_X86_64"): 0x0800,  # x32
    (64, "EM_RISCV"): 0x1000,
    (64, "EM_PPC64"): 0x0500,
    (64, "EM_S390"): 0x0400,
}


@dataclass(frozen=True)
class CacheEntry:
    name: str
    path: str
    flags: int
    hwcap: int


def _cstr(data: bytes, off: int) -> str | None:
    if off < 0 or off >= len(data):
        return None
    end = data.find(b"\0", off)
    if end < 0:
        return None
    return data[off:end].decode("utf-8", "surrogateescape")


def parse_ld_cache(data: bytes) -> list[CacheEntry]:
    start = 0
    if data.startswith(OLD_MAGIC):
        if len(data) < 16:
            return []
        (nlibs,) = struct.unpack_from("<I", data, 12)
        start = 16 + nlibs * 12
        if start > len(data):
            return []
        pos = data.find(NEW_MAGIC, start, start + 64)
        if pos < 0:
            return []
        start = pos
    if not data.startswith(NEW_MAGIC, start):
        return []
    hdr = data[start:]
    if len(hdr) < 48:
        return []
    nlibs, _len_strings = struct.unpack_from("<II", hdr, 20)
    entries: list[CacheEntry] = []
    base = 48
    if nlibs > (len(hdr) - base) // 24:
        return []
    for i in range(nlibs):
        flags, key, value, _osv, hwcap = struct.unpack_from("<iIIIQ", hdr, base + 24 * i)
        name = _cstr(hdr, key)
        path = _cstr(hdr, value)
        if name is None or path is None or not path.startswith("/"):
            continue
        entries.append(CacheEntry(name, path, flags & 0xFFFFFFFF, hwcap))
    return entries


def lookup(entries: list[CacheEntry], name: str, elfclass: int, machine: str) -> list[str]:
    """Paths the cache offers for ``name`` and this ELF flavour, baseline (hwcap 0)
    entries first."""
    want = ARCH_FLAGS.get((elfclass, machine))
    hits = []
    for e in entries:
        if e.name != name:
            continue
        if (e.flags & FLAG_TYPE_MASK) not in (FLAG_ELF_LIBC6, 0x0001):
            continue
        if want is not None and (e.flags & FLAG_REQUIRED_MASK) != want:
            continue
        hits.append(e)
    hits.sort(key=lambda e: e.hwcap != 0)
    return [e.path for e in hits]
