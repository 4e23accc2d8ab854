"""Shared-library closure of an ELF program inside an image, the way the image's own
dynamic loader would search (glibc ld.so or musl), using only the image's files."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from gsc.analysis.elf import ElfInfo, parse_elf
from gsc.analysis.ldcache import CacheEntry, lookup, parse_ld_cache
from gsc.image import paths
from gsc.image.fs import ImageFS

MAX_LIBS = 4096

MULTIARCH: dict[tuple[int, str], str] = {
    (64, "EM_X86_64"): "x86_64-linux-gnu",
    (32, "EM_386"): "i386-linux-gnu",
    (64, "EM_AARCH64"): "aarch64-linux-gnu",
    (32, "EM_ARM"): "arm-linux-gnueabihf",
    (64, "EM_RISCV"): "riscv64-linux-gnu",
    (64, "EM_PPC64"): "powerpc64le-linux-gnu",
    (64, "EM_S390"): "s390x-linux-gnu",
}
MUSL_ARCH: dict[tuple[int, str], str] = {
    (64, "EM_X86_64"): "x86_64",
    (32, "EM_386"): "i386",
    (64, "EM_AARCH64"): "aarch64",
    (32, "EM_ARM"): "arm",
    (64, "EM_RISCV"): "riscv64",
}
MUSL_RESERVED = re.compile(r"lib(c|pthread|rt|m|dl|util|xnet)\.so(\..*)?")


@dataclass
class Resolved:
    name: str
    path: str  # canonical real path in the image
    found_as: str  # the path the loader opened (before symlinks), for $ORIGIN
    info: ElfInfo


@dataclass
class Closure:
    libraries: list[Resolved] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def is_musl_interp(interp: str | None) -> bool:
    return bool(interp) and paths.basename(interp or "").startswith("ld-musl-")


class LibrarySearch:
    """Per-image loader knowledge: ld.so.cache, ld.so.conf, musl path file."""

    def __init__(self, fs: ImageFS, env: dict[str, str]) -> None:
        self.fs = fs
        self.env = env
        self._cache: list[CacheEntry] | None = None
        self._conf_dirs: list[str] | None = None
        self._elf: dict[str, ElfInfo | None] = {}

    # ---- reading image files ------------------------------------------------------
    def elf_at(self, real: str) -> ElfInfo | None:
        if real not in self._elf:
            entry = self.fs.get(real)
            info = None
            if entry is not None and entry.kind == "file":
                try:
                    with self.fs.open(real, buffer_size=64 << 10) as stream:
                        info = parse_elf(stream)
                except Exception:
                    info = None
            self._elf[real] = info
        return self._elf[real]

    def ld_cache(self) -> list[CacheEntry] | None:
        """Entries of /etc/ld.so.cache, or None when the image has none."""
        if self._cache is None:
            entry = self.fs.lookup("/etc/ld.so.cache")
            if entry is None or entry.kind != "file" or entry.size > (64 << 20):
                return None
            self._cache = parse_ld_cache(self.fs.read_bytes("/etc/ld.so.cache"))
        return self._cache

    def conf_dirs(self) -> list[str]:
        """Directories named by /etc/ld.so.conf (with `include` globs)."""
        if self._conf_dirs is None:
            out: list[str] = []
            self._read_conf("/etc/ld.so.conf", out, depth=0)
            self._conf_dirs = out
        return self._conf_dirs

    def _read_conf(self, path: str, out: list[str], depth: int) -> None:
        entry = self.fs.lookup(path)
        if depth > 8 or entry is None or entry.kind != "file" or entry.size > (1 << 20):
            return
        text = self.fs.read_bytes(path).decode("utf-8", "replace")
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include") and line[7:8].isspace():
                for pattern in line[8:].split():
                    if not pattern.startswith("/"):
                        pattern = paths.join(paths.dirname(path), pattern)
                    for match in self._glob(pattern):
                        self._read_conf(match, out, depth + 1)
            elif line.startswith("hwcap"):
                continue
            else:
                for d in re.split(r"[:\s,]+", line):
                    if d.startswith("/") and d not in out:
                        out.append(paths.normalize(d))

    def _glob(self, pattern: str) -> list[str]:
        directory, name = paths.dirname(pattern), paths.basename(pattern)
        return [paths.join(directory, n) for n in self.fs.listdir(directory)
                if fnmatch.fnmatchcase(n, name)]

    def musl_path(self, machine: tuple[int, str]) -> list[str]:
        arch = MUSL_ARCH.get(machine, "x86_64")
        f = f"/etc/ld-musl-{arch}.path"
        entry = self.fs.lookup(f)
        if entry is None or entry.kind != "file" or entry.size > (1 << 20):
            return ["/lib", "/usr/local/lib", "/usr/lib"]
        text = self.fs.read_bytes(f).decode("utf-8", "replace")
        return [d for d in re.split(r"[:\n]+", text) if d.strip()]

    # ---- searching ----------------------------------------------------------------
    def _try(self, candidate: str, want: ElfInfo) -> tuple[str, ElfInfo] | None:
        real = self.fs.resolve(candidate)
        if real is None:
            return None
        info = self.elf_at(real)
        if info is None or not info.compatible(want):
            return None
        return real, info

    @staticmethod
    def _expand(d: str, origin: str, machine: tuple[int, str]) -> str:
        lib = "lib/" + MULTIARCH.get(machine, "x86_64-linux-gnu")
        plat = machine[1].removeprefix("EM_").lower()
        for token, value in (("ORIGIN", origin), ("LIB", lib), ("PLATFORM", plat)):
            d = d.replace("${" + token + "}", value).replace("$" + token, value)
        return d

    def closure(self, exe_real: str, exe: ElfInfo, cwd: str) -> Closure:
        """Breadth-first DT_NEEDED closure of the executable at ``exe_real``."""
        result = Closure()
        machine = (exe.elfclass, exe.machine)
        musl = is_musl_interp(exe.interp)
        interp_real = self.fs.resolve(exe.interp) if exe.interp else None
        ld_library_path = [d for d in self.env.get("LD_LIBRARY_PATH", "").split(":")]
        loaded: dict[str, Resolved] = {}
        by_name: dict[str, Resolved] = {}
        # queue of (object path found-as, ElfInfo, loader chain rpaths)
        queue: list[tuple[str, ElfInfo, list[tuple[str, ...]]]] = [(exe_real, exe, [])]
        while queue and len(loaded) < MAX_LIBS:
            obj_path, obj, chain = queue.pop(0)
            origin = paths.dirname(obj_path)
            # glibc: an object's RPATH is ignored when it has a RUNPATH, and the RPATHs
            # of its loaders (up to the executable) follow its own; musl: RUNPATH, else
            # RPATH, of the object and then of each object that needed it
            if musl:
                own = obj.runpath or obj.rpath
            else:
                own = () if obj.runpath else obj.rpath
            chain_here = [*chain, tuple(self._expand(d, origin, machine) for d in own)]
            for name in obj.needed:
                if name in by_name:
                    continue
                found = self._find(name, obj, origin, chain_here, ld_library_path, musl,
                                   interp_real, machine, cwd)
                if found is None:
                    result.missing.append(f"library {name} (needed by {obj_path})")
                    by_name[name] = Resolved(name, "", "", obj)  # report once
                    continue
                real, info, found_as = found
                res = Resolved(name, real, found_as, info)
                by_name[name] = res
                if real in loaded:
                    continue
                loaded[real] = res
                result.libraries.append(res)
                queue.append((found_as, info, chain_here))
        return result

    def _find(self, name: str, obj: ElfInfo, origin: str, chain: list[tuple[str, ...]],
              ld_library_path: list[str], musl: bool, interp_real: str | None,
              machine: tuple[int, str], cwd: str) -> tuple[str, ElfInfo, str] | None:
        if "/" in name:
            cand = name if name.startswith("/") else paths.join(cwd, name)
            hit = self._try(cand, obj)
            return (hit[0], hit[1], cand) if hit else None
        if musl:
            if MUSL_RESERVED.fullmatch(name) and interp_real:
                info = self.elf_at(interp_real)
                if info is not None:
                    return interp_real, info, interp_real
            dirs: list[str] = [*ld_library_path, *(d for rp in reversed(chain) for d in rp),
                               *self.musl_path(machine)]
            return self._search_dirs(name, dirs, obj)
        dirs = []
        if not obj.runpath:
            for rp in reversed(chain):
                dirs.extend(rp)
        dirs.extend(ld_library_path)
        dirs.extend(self._expand(d, origin, machine) for d in obj.runpath)
        found = self._search_dirs(name, dirs, obj)
        if found:
            return found
        cache = self.ld_cache()
        if cache:
            for cand in lookup(cache, name, *machine):
                got = self._try(cand, obj)
                if got:
                    return got[0], got[1], cand
        elif cache is None:
            found = self._search_dirs(name, self.conf_dirs(), obj)
            if found:
                return found
        triplet = MULTIARCH.get(machine, "x86_64-linux-gnu")
        defaults = [f"/lib/{triplet}", f"/usr/lib/{triplet}"]
        defaults += ["/lib64", "/usr/lib64"] if machine[0] == 64 else ["/lib32", "/usr/lib32"]
        defaults += ["/lib", "/usr/lib"]
        return self._search_dirs(name, defaults, obj)

    def _search_dirs(self, name: str, dirs: list[str], want: ElfInfo,
                     ) -> tuple[str, ElfInfo, str] | None:
        for d in dirs:
            if not d.startswith("/"):
                continue  # relative entries depend on the process cwd; ignore
            cand = paths.join(d, name)
            hit = self._try(cand, want)
            if hit:
                return hit[0], hit[1], cand
        return None
