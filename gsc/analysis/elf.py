"""Reading the few ELF facts dependency resolution needs, with pyelftools, failing
closed: malformed input yields None (never an exception)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import BinaryIO

ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ElfInfo:
    elfclass: int  # 32 or 64
    machine: str  # e_machine, e.g. "EM_X86_64"
    etype: str  # "ET_EXEC" | "ET_DYN" | ...
    interp: str | None  # PT_INTERP
    dynamic: bool  # has PT_DYNAMIC
    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    soname: str | None = None
    notes: tuple[str, ...] = field(default=())

    def compatible(self, other: ElfInfo) -> bool:
        return self.elfclass == other.elfclass and self.machine == other.machine


def _split_paths(value: object) -> tuple[str, ...]:
    if not isinstance(value, str):
        return ()
    return tuple(p for p in value.split(":"))


MAX_INTERP = 4096  # PATH_MAX


def parse_elf(data: bytes | BinaryIO) -> ElfInfo | None:
    """ElfInfo for an ELF image in ``data`` (bytes, or a seekable binary stream, read
    lazily: large libraries are never read whole), or None when it is not a usable
    ELF."""
    try:
        stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        stream.seek(0)
        if stream.read(4) != ELF_MAGIC:
            return None
        return _parse(stream)
    except Exception:  # pyelftools raises many kinds on malformed input: fail closed
        return None


def load_parser() -> None:
    """Import pyelftools now (some 30 ms), e.g. while the Engine prepares an export;
    otherwise it loads on the first parse."""
    import elftools.elf.dynamic
    import elftools.elf.elffile  # noqa: F401


def _parse(stream: BinaryIO) -> ElfInfo | None:
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(stream)
    interp: str | None = None
    dyn_seg: DynamicSegment | None = None
    for i in range(elf.num_segments()):
        seg = elf.get_segment(i)
        ptype = seg["p_type"]
        if ptype == "PT_INTERP":
            if seg["p_filesz"] > MAX_INTERP:
                return None
            raw = seg.data()
            interp = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif ptype == "PT_DYNAMIC" and isinstance(seg, DynamicSegment):
            dyn_seg = seg
    needed: list[str] = []
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    soname: str | None = None
    if dyn_seg is not None:
        count = 0
        for tag in dyn_seg.iter_tags():
            count += 1
            if count > 100_000:
                return None
            t = tag.entry.d_tag
            if t == "DT_NEEDED":
                needed.append(str(getattr(tag, "needed", "")))
            elif t == "DT_RPATH":
                rpath = _split_paths(getattr(tag, "rpath", ""))
            elif t == "DT_RUNPATH":
                runpath = _split_paths(getattr(tag, "runpath", ""))
            elif t == "DT_SONAME":
                soname = str(getattr(tag, "soname", ""))
            elif t == "DT_NULL":
                break
    return ElfInfo(
        elfclass=int(elf.elfclass),
        machine=str(elf["e_machine"]),
        etype=str(elf["e_type"]),
        interp=interp,
        dynamic=dyn_seg is not None,
        needed=tuple(needed),
        rpath=rpath,
        runpath=runpath,
        soname=soname,
    )
