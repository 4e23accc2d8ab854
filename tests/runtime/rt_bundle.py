"""Build a runnable runtime bundle in a temp directory: <dir>/gsc/{gsc-runtime,
entrypoint.manifest.sgx, entrypoint.sig}, from a manifest dict, signed with a test key.

Trusted-file hashes are computed here with hashlib (independently of the C core under test).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from gsc.manifest import schema
from gsc.sgx.keys import load_private_key
from gsc.sgx.sigstruct import sign_enclave

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime" / "build" / "gsc-runtime"
ASAN_RUNTIME = REPO / "runtime" / "build" / "asan" / "gsc-runtime"
DATE = dt.date(2024, 1, 2)


VECTORS = REPO / "tests" / "vectors"  # test vectors copied into the repository


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def elf_closure(programs: Iterable[str]) -> list[str]:
    """Real paths of programs plus their shared libraries and ELF interpreter (via ldd,
    a host tool independent of the runtime)."""
    out: set[str] = set()
    for prog in programs:
        real = os.path.realpath(prog)
        out.add(real)
        res = subprocess.run(["ldd", real], capture_output=True, text=True, check=False)
        for line in res.stdout.splitlines():
            for tok in line.split():
                if tok.startswith("/"):
                    out.add(os.path.realpath(tok))
                    out.add(tok)  # the name the loader opens may be a symlink
    return sorted(p for p in out if os.path.isfile(os.path.realpath(p)))


def trusted_entries(paths: Iterable[str]) -> list[dict[str, str]]:
    seen: dict[str, str] = {}
    for p in paths:
        real = os.path.realpath(p)
        seen[real] = sha256_file(real)
    return [{"uri": "file:" + p, "sha256": h} for p, h in sorted(seen.items())]


@dataclass
class Bundle:
    root: Path
    manifest: dict[str, Any]
    key: rsa.RSAPrivateKey
    runtime_src: Path = RUNTIME
    extra_env: dict[str, str] = field(default_factory=dict)
    wrapper: tuple[str, ...] = ()  # a program that execs the runtime (e.g. nogetfd)
    # write gsc.executables as gsc build does (False: a manifest of an older build)
    executables: bool = True

    @property
    def gsc(self) -> Path:
        return self.root / "gsc"

    @property
    def exe(self) -> Path:
        return self.gsc / "gsc-runtime"

    def write(self) -> Bundle:
        """Pins the current symlinks of the trusted directories (as gsc build does for an
        image) unless the manifest already says which (gsc.symlinks)."""
        if "symlinks" not in self.manifest.get("gsc", {}):
            trusted = [t["uri"][5:] for t in self.manifest["sgx"].get("trusted_files", [])]
            links = pinned_symlinks(trusted)
            if links:
                self.manifest.setdefault("gsc", {})["symlinks"] = links
        if self.executables and "executables" not in self.manifest.get("gsc", {}):
            exe = executable_uris(self.manifest)
            if exe:
                self.manifest.setdefault("gsc", {})["executables"] = exe
        self.gsc.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.runtime_src, self.exe)
        os.chmod(self.exe, 0o755)
        data = manifest_bytes(self.manifest)
        (self.gsc / "entrypoint.manifest.sgx").write_bytes(data)
        (self.gsc / "entrypoint.sig").write_bytes(
            sign_enclave(data, self.exe.read_bytes(), self.key, DATE))
        return self

    def run(self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 30,
            cwd: str | None = None, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.wrapper, str(self.exe), *args], capture_output=True,
                              text=True,
                              env=dict(env) if env is not None else {"HOST_VAR": "host"},
                              timeout=timeout, cwd=cwd or str(self.root), check=False, **kw)


CONTAINER_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def trusted_dirs(paths: Iterable[str]) -> set[str]:
    """Every strict ancestor of the given absolute paths (Docker's per-container files,
    never trusted, excluded)."""
    out: set[str] = set()
    for p in paths:
        if p in CONTAINER_FILES:
            continue
        d = os.path.dirname(p)
        while d not in out:
            out.add(d)
            if d == "/":
                break
            d = os.path.dirname(d)
    return out


def pinned_symlinks(trusted: Iterable[str]) -> list[dict[str, str]]:
    """gsc.symlinks for the host tree: every symlink in a trusted directory, with its
    target (the namespace rule of docs/runtime.md)."""
    out = []
    for d in sorted(trusted_dirs(trusted)):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            path = os.path.join(d, e.name)
            if e.is_symlink() and path not in CONTAINER_FILES:
                out.append({"path": path, "target": os.readlink(path)})
    return sorted(out, key=lambda x: x["path"].encode())


def executable_uris(doc: Mapping[str, Any]) -> list[str]:
    """gsc.executables for the host tree: the trusted files with an x bit (as gsc build
    writes it from the image's modes)."""
    out = []
    for t in doc["sgx"].get("trusted_files", []):
        try:
            st = os.stat(t["uri"][5:], follow_symlinks=False)
        except OSError:
            continue
        if st.st_mode & 0o111 and os.path.isfile(t["uri"][5:]):
            out.append(t["uri"])
    return sorted(out, key=lambda u: u.encode())


def manifest_bytes(doc: Mapping[str, Any]) -> bytes:
    return schema.render(doc, "test manifest")


def dev_key() -> rsa.RSAPrivateKey:
    return load_private_key(VECTORS / "sgx" / "keys" / "key_dev.pem")


def base_manifest(entrypoint: str, trusted: Iterable[str], allowed: Iterable[str] = (),
                  argv: list[str] | None = None, env: Mapping[str, Any] | None = None,
                  start_dir: str = "/", log_level: str = "error",
                  enclave_size: str = "256M", **loader: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "libos": {"entrypoint": entrypoint},
        "loader": {"log_level": log_level, "env": dict(env or {}), **loader},
        "fs": {"start_dir": start_dir},
        "sgx": {
            "enclave_size": enclave_size,
            "max_threads": 4,
            "debug": False,
            "trusted_files": trusted_entries(trusted),
            "allowed_files": sorted({"file:" + a for a in allowed}),
        },
    }
    if argv is not None:
        doc["loader"]["argv"] = argv
    if not doc["loader"]["env"]:
        del doc["loader"]["env"]
    return doc


# make_bundle(script=None, *, trusted=..., allowed=..., tweak=..., runtime_src=..., **manifest)
MakeBundle = Callable[..., Bundle]


def with_verification(make: MakeBundle, mode: str) -> MakeBundle:
    """make_bundle whose manifests set gsc.verify_trusted_files = mode."""

    def wrapped(*args: Any, tweak: Callable[[dict[str, Any]], None] | None = None,
                **kw: Any) -> Bundle:
        def set_mode(doc: dict[str, Any]) -> None:
            doc.setdefault("gsc", {})["verify_trusted_files"] = mode
            if tweak is not None:
                tweak(doc)

        return make(*args, tweak=set_mode, **kw)

    return wrapped


def weak_mode(doc: dict[str, Any]) -> None:
    """A make_bundle tweak: gsc.insecure__allow_no_landlock (run under the `nolandlock`
    wrapper: the supervisor alone decides, phase 1 for the whole run)."""
    doc.setdefault("gsc", {})["insecure__allow_no_landlock"] = True


@contextmanager
def public_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory in /tmp that other users can traverse (pytest's temp root is
    private), with short paths (a socket's sun_path holds 108 bytes); removed
    afterwards."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        os.chmod(d, 0o755)
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def assert_refused(res: subprocess.CompletedProcess[str], needle: str) -> str:
    """The launch was refused: exit 126, one stderr line `gsc-runtime: launch refused: ...`
    that contains needle. Returns the line."""
    assert res.returncode == 126, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("gsc-runtime: launch refused: "), lines[0]
    assert needle in lines[0], lines[0]
    return lines[0]
