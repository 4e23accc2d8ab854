"""Build small synthetic ELF files for tests (only the headers the measurement reads)."""

from __future__ import annotations

import struct
from dataclasses import dataclass


@dataclass
class Seg:
    vaddr: int
    memsz: int
    filesz: int
    flags: int = 4  # PF_R
    offset: int | None = None  # default: placed after the headers, same page offset
    p_type: int = 1  # PT_LOAD


def make_elf(
    segs: list[Seg],
    entry: int = 0x1000,
    e_type: int = 3,
    machine: int = 62,
    elf_class: int = 2,
    fill: int = 0x5A,
) -> bytes:
    phoff = 64
    data_start = phoff + 56 * len(segs)
    body = bytearray()
    offsets: list[int] = []
    cur = (data_start + 0xFFF) & ~0xFFF
    for s in segs:
        if s.offset is not None:
            offsets.append(s.offset)
            continue
        off = cur + (s.vaddr & 0xFFF)
        offsets.append(off)
        cur = (off + s.filesz + 0xFFF) & ~0xFFF
    # Explicit offsets are not backed by file bytes (they test bounds checks).
    size = max(
        [data_start]
        + [o + s.filesz for o, s in zip(offsets, segs, strict=True) if s.offset is None]
    )
    body = bytearray(size)
    for i in range(size):
        body[i] = (fill + i * 7) & 0xFF
    hdr = bytearray(64)
    hdr[0:4] = b"\x7fELF"
    hdr[4] = elf_class
    hdr[5] = 1
    hdr[6] = 1
    struct.pack_into(
        "<HHIQQQIHHHHHH",
        hdr,
        16,
        e_type,
        machine,
        1,
        entry,
        phoff,
        0,
        0,
        64,
        56,
        len(segs),
        64,
        0,
        0,
    )
    body[0:64] = hdr
    for i, (s, off) in enumerate(zip(segs, offsets, strict=True)):
        struct.pack_into(
            "<IIQQQQQQ",
            body,
            phoff + 56 * i,
            s.p_type,
            s.flags,
            off,
            s.vaddr,
            s.vaddr,
            s.filesz,
            s.memsz,
            0x1000,
        )
    return bytes(body)
