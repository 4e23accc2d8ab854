"""From image config to the program that really runs: argv as Docker builds it,
argv[0] through PATH and WorkingDir, `#!` interpreter chains, ELF kind."""

from __future__ import annotations

from dataclasses import dataclass, field

from gsc.analysis.elf import ELF_MAGIC, ElfInfo
from gsc.analysis.libsearch import LibrarySearch
from gsc.image import paths
from gsc.image.fs import ImageFS

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SHEBANG_MAX = 256  # BINPRM_BUF_SIZE on current Linux
MAX_SCRIPT_DEPTH = 4


def docker_argv(entrypoint: list[str] | None, cmd: list[str] | None) -> list[str]:
    """Entrypoint + Cmd, exactly as Docker concatenates them."""
    return [*(entrypoint or []), *(cmd or [])]


@dataclass
class Program:
    """One program of the exec chain."""

    path: str  # canonical real path
    kind: str  # "script" | "elf-dynamic" | "elf-static"
    elf: ElfInfo | None = None
    interp_arg: str | None = None  # the optional `#!` argument


@dataclass
class Chain:
    programs: list[Program] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def search_path(fs: ImageFS, name: str, env: dict[str, str], cwd: str,
                ) -> tuple[str | None, str | None]:
    """(real path, problem) for command ``name`` like execvp in the container."""
    if "/" in name:
        cand = name if name.startswith("/") else paths.join(cwd, name)
        return _check_exec(fs, cand)
    path_var = env.get("PATH", DEFAULT_PATH)
    problem: str | None = None
    for d in path_var.split(":"):
        d = d or "."
        base = d if d.startswith("/") else paths.join(cwd, d)
        real, why = _check_exec(fs, paths.join(base, name))
        if real is not None:
            return real, None
        if why and "not executable" in why and problem is None:
            problem = why
    return None, problem or f"{name!r} not found in PATH {path_var}"


def _check_exec(fs: ImageFS, cand: str) -> tuple[str | None, str | None]:
    real = fs.resolve(cand)
    if real is None:
        return None, f"{cand}: symlink loop or bad path"
    entry = fs.get(real)
    if entry is None:
        return None, f"{cand}: no such file" + (f" (resolves to {real})" if real != cand else "")
    if entry.kind != "file":
        return None, f"{cand}: not a regular file ({entry.kind})"
    if not entry.mode & 0o111:
        return None, f"{cand}: not executable (mode {entry.mode:o})"
    return real, None


def parse_shebang(head: bytes) -> tuple[str, str | None] | None:
    """(interpreter, optional argument) from the first line, as Linux splits it."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:SHEBANG_MAX].split(b"\n", 1)[0]
    line = line.strip(b" \t\r")
    if not line:
        return None
    parts = line.replace(b"\t", b" ").split(b" ", 1)
    interp = parts[0].decode("utf-8", "surrogateescape")
    arg = parts[1].strip(b" \t").decode("utf-8", "surrogateescape") if len(parts) > 1 else None
    return interp, (arg or None)


def follow_chain(fs: ImageFS, search: LibrarySearch, real: str, env: dict[str, str],
                 cwd: str) -> Chain:
    """Programs executed for ``real``: scripts' interpreters, in order, down to ELF."""
    chain = Chain()
    current = real
    for _ in range(MAX_SCRIPT_DEPTH + 2):
        head = fs.read_bytes(current, limit=SHEBANG_MAX)
        if head.startswith(ELF_MAGIC):
            info = search.elf_at(current)
            if info is None:
                chain.missing.append(f"{current}: malformed ELF file")
                return chain
            kind = "elf-dynamic" if info.interp else "elf-static"
            chain.programs.append(Program(current, kind, info))
            return chain
        shebang = parse_shebang(head)
        if shebang is None:
            chain.missing.append(f"{current}: neither an ELF program nor a #! script")
            return chain
        interp, arg = shebang
        chain.programs.append(Program(current, "script", interp_arg=arg))
        if len(chain.programs) > MAX_SCRIPT_DEPTH:
            chain.missing.append(f"{real}: too many levels of #! interpreters")
            return chain
        cand = interp if interp.startswith("/") else paths.join(cwd, interp)
        nxt, why = _check_exec(fs, cand)
        if nxt is None:
            chain.missing.append(f"interpreter {interp} (of {current}): {why}")
            return chain
        if paths.basename(interp) == "env" and arg and not arg.startswith("-"):
            # `#!/usr/bin/env NAME`: env itself runs, then NAME through PATH
            env_info = _elf_program(fs, search, nxt)
            if env_info is None:
                chain.missing.append(f"{nxt}: not an ELF program")
                return chain
            chain.programs.append(env_info)
            target, why = search_path(fs, arg.split(" ", 1)[0], env, cwd)
            if target is None:
                chain.missing.append(f"program {arg} (via {interp} in {current}): {why}")
                return chain
            current = target
            continue
        current = nxt
    chain.missing.append(f"{real}: too many levels of #! interpreters")
    return chain


def _elf_program(fs: ImageFS, search: LibrarySearch, real: str) -> Program | None:
    if not fs.read_bytes(real, limit=4).startswith(ELF_MAGIC):
        return None
    info = search.elf_at(real)
    if info is None:
        return None
    return Program(real, "elf-dynamic" if info.interp else "elf-static", info)
