"""Entrypoint analysis: what really runs when a container of the image starts, and
every file the dynamic loader will need for it.

    analyze(image) -> Analysis;  Analysis.to_json() is the `gsc inspect --json` object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gsc.analysis.entrypoint import (
    DEFAULT_PATH,
    Program,
    docker_argv,
    follow_chain,
    search_path,
)
from gsc.analysis.libsearch import LibrarySearch
from gsc.image.fs import ImageFS
from gsc.image.loader import Image


@dataclass
class EntrypointInfo:
    path: str | None
    kind: str | None  # "elf-dynamic" | "elf-static" | "script" | None (unresolved)
    interpreters: list[str] = field(default_factory=list)
    elf_interpreter: str | None = None


@dataclass
class Library:
    name: str
    path: str


@dataclass
class Analysis:
    image_id: str
    image_ref: str
    argv: list[str]
    env: dict[str, str]
    workdir: str
    user: str
    entrypoint: EntrypointInfo
    libraries: list[Library]
    missing: list[str]
    files: dict[str, int]
    programs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_json(self) -> dict[str, Any]:
        return {
            "image": {"id": self.image_id, "ref": self.image_ref},
            "argv": list(self.argv),
            "env": dict(self.env),
            "workdir": self.workdir,
            "user": self.user,
            "entrypoint": {
                "path": self.entrypoint.path,
                "kind": self.entrypoint.kind,
                "interpreters": list(self.entrypoint.interpreters),
                "elf_interpreter": self.entrypoint.elf_interpreter,
            },
            "libraries": [{"name": lib.name, "path": lib.path} for lib in self.libraries],
            "missing": list(self.missing),
            "files": dict(self.files),
            "programs": [dict(p) for p in self.programs],
        }


def analyze(image: Image) -> Analysis:
    cfg = image.config
    argv = docker_argv(cfg.entrypoint, cfg.cmd)
    workdir = cfg.workdir  # normalised by gsc.image.config
    result = analyze_program(image.fs, argv, cfg.env, workdir)
    result.image_id = image.id
    result.image_ref = image.ref
    result.user = cfg.user
    return result


def analyze_program(fs: ImageFS, argv: list[str], env: dict[str, str], workdir: str = "/",
                    ) -> Analysis:
    """Analysis of running ``argv`` with ``env`` in ``workdir`` on the image ``fs``."""
    missing: list[str] = []
    ep = EntrypointInfo(None, None)
    libraries: list[Library] = []
    programs: list[dict[str, Any]] = []
    out = Analysis("", "", list(argv), dict(env), workdir, "", ep, libraries, missing,
                   fs.stats, programs)
    if not argv:
        missing.append("argv is empty: the image has neither Entrypoint nor Cmd")
        return out
    env_for_path = env if "PATH" in env else {**env, "PATH": DEFAULT_PATH}
    real, why = search_path(fs, argv[0], env_for_path, workdir)
    if real is None:
        missing.append(f"entrypoint {argv[0]}: {why}")
        return out
    ep.path = real
    search = LibrarySearch(fs, env)
    chain = follow_chain(fs, search, real, env_for_path, workdir)
    missing.extend(chain.missing)
    if chain.programs:
        first = chain.programs[0]
        ep.kind = first.kind
        ep.interpreters = [p.path for p in chain.programs[1:]]
    final: Program | None = chain.programs[-1] if chain.programs else None
    seen_libs: set[str] = set()
    for prog in chain.programs:
        if prog.elf is None:
            programs.append({"path": prog.path, "kind": prog.kind, "interpreter_arg":
                             prog.interp_arg})
            continue
        elf_interp = None
        if prog.elf.interp:
            elf_interp = fs.resolve(prog.elf.interp)
            entry = fs.get(elf_interp) if elf_interp else None
            if entry is None or entry.kind != "file" or search.elf_at(elf_interp or "") is None:
                missing.append(f"ELF interpreter {prog.elf.interp} (of {prog.path})")
                elf_interp = None
        closure = search.closure(prog.path, prog.elf, workdir)
        for m in closure.missing:
            if m not in missing:
                missing.append(m)
        libs = [{"name": r.name, "path": r.path} for r in closure.libraries]
        programs.append({"path": prog.path, "kind": prog.kind, "elf_interpreter": elf_interp,
                         "libraries": libs})
        if prog is final:
            ep.elf_interpreter = elf_interp
            for r in closure.libraries:
                if r.path not in seen_libs:
                    seen_libs.add(r.path)
                    libraries.append(Library(r.name, r.path))
    return out


__all__ = ["Analysis", "EntrypointInfo", "Library", "analyze", "analyze_program",
           "docker_argv"]
_ = ImageFS
