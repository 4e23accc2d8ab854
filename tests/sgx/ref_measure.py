"""A deliberately plain pure-Python MRENCLAVE, written straight from sgx-measurement.md
(ELF parsed with pyelftools), to cross-check the C core on inputs the vectors lack."""

from __future__ import annotations

import hashlib
import io
import struct

from elftools.elf.elffile import ELFFile

PAGE = 0x1000


def _ru(v: int) -> int:
    return (v + PAGE - 1) // PAGE * PAGE


def _rd(v: int) -> int:
    return v // PAGE * PAGE


def ref_mrenclave(manifest: bytes, pal: bytes, size: int, threads: int, edmm: bool) -> bytes:
    elf = ELFFile(io.BytesIO(pal))
    segs = [s.header for s in elf.iter_segments() if s.header.p_type == "PT_LOAD"]
    entry = elf.header.e_entry
    pal_size = _ru(max(s.p_vaddr + s.p_memsz for s in segs)) - _rd(min(s.p_vaddr for s in segs))

    areas: list[tuple[str, int]] = [
        ("manifest", _ru(len(manifest) + 1)),
        ("ssa", threads * 0x8000),
        ("tcs", threads * PAGE),
        ("tls", threads * PAGE),
    ]
    areas += [(f"stack{t}", 0x40000) for t in range(threads)]
    areas += [(f"sig{t}", 0x10000) for t in range(threads)]
    areas += [("pal", pal_size)]
    base: dict[str, int] = {}
    cur = size
    for name, sz in areas:
        cur -= sz
        if cur < 0x10000:
            raise ValueError("enclave size is not large enough")
        base[name] = cur

    h = hashlib.sha256()
    h.update(b"ECREATE\0" + struct.pack("<IQ", 4, size) + bytes(44))

    def page(addr: int, flags: int, data: bytes | None) -> None:
        h.update(b"EADD\0\0\0\0" + struct.pack("<QQ", addr, flags) + bytes(40))
        if data is not None:
            for i in range(0, PAGE, 256):
                h.update(b"EEXTEND\0" + struct.pack("<Q", addr + i) + bytes(48))
                h.update(data[i : i + 256])

    blob = manifest + b"\0"
    blob += bytes(_ru(len(blob)) - len(blob))
    for off in range(0, len(blob), PAGE):
        page(base["manifest"] + off, 0x201, blob[off : off + PAGE])
    for off in range(0, threads * 0x8000, PAGE):
        page(base["ssa"] + off, 0x203, bytes(PAGE))
    for t in range(threads):
        tcs = bytearray(PAGE)
        struct.pack_into("<Q", tcs, 0x10, base["ssa"] + 0x8000 * t)
        struct.pack_into("<I", tcs, 0x1C, 2)
        struct.pack_into("<Q", tcs, 0x20, base["pal"] + entry)
        struct.pack_into("<Q", tcs, 0x38, base["tls"] + PAGE * t)
        struct.pack_into("<II", tcs, 0x40, 0xFFF, 0xFFF)
        page(base["tcs"] + PAGE * t, 0x100, bytes(tcs))
    for t in range(threads):
        tls = bytearray(PAGE)
        ssa = base["ssa"] + 0x8000 * t
        for off, val in (
            (0x0, base["tls"] + PAGE * t),
            (0x8, 0xBADBADBADBAD),
            (0x110, size),
            (0x118, base["tcs"] + PAGE * t),
            (0x120, base[f"stack{t}"] + 0x40000),
            (0x130, base[f"sig{t}"]),
            (0x138, base[f"sig{t}"] + 0x10000),
            (0x148, ssa),
            (0x150, ssa + 0x4000 - 0xB8),
            (0x1A0, len(manifest) + 1),
            (0x1A8, 0x10000),
            (0x1B0, base["pal"]),
        ):
            struct.pack_into("<Q", tls, off, val)
        page(base["tls"] + PAGE * t, 0x203, bytes(tls))
    for t in range(threads):
        for off in range(0, 0x40000, PAGE):
            page(base[f"stack{t}"] + off, 0x203, bytes(PAGE))
    for t in range(threads):
        for off in range(0, 0x10000, PAGE):
            page(base[f"sig{t}"] + off, 0x203, bytes(PAGE))
    for s in segs:
        flags = (
            0x200
            | (1 if s.p_flags & 4 else 0)
            | (2 if s.p_flags & 2 else 0)
            | (4 if s.p_flags & 1 else 0)
        )
        start, end = _rd(s.p_vaddr), _ru(s.p_vaddr + s.p_memsz)
        mem = bytearray(end - start)
        off = s.p_vaddr - start
        mem[off : off + s.p_filesz] = pal[s.p_offset : s.p_offset + s.p_filesz]
        for a in range(start, end, PAGE):
            page(base["pal"] + a, flags, bytes(mem[a - start : a - start + PAGE]))
    if not edmm:
        for a in range(0x10000, base["pal"], PAGE):
            page(a, 0x207, None)
    return h.digest()
