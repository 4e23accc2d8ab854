"""File-level operations of `gsc pf-crypt`: keys, one file, whole trees, atomic outputs.

Outputs are written to a temporary file in the destination directory and renamed into place
only when complete, so a failed decryption never leaves plaintext (partial or whole) at the
output path. Plaintext files are created with mode 0600. Keys are never printed.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gsc.errors import InputError
from gsc.pfs.errors import PfError
from gsc.pfs.layout import KEY_SIZE, NODE_SIZE
from gsc.pfs.reader import PfReader, fd_source
from gsc.pfs.writer import RandBytes, encrypt_stream

CHUNK = 256 * NODE_SIZE  # 1 MiB of plaintext per read


def normalise(path: str) -> str:
    """Lexical normalisation as Gramine applies to bound paths: '.', '..', '//' collapsed."""
    if not path:
        raise InputError("empty path")
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


def read_key(keyfile: Path) -> bytes:
    try:
        with open(keyfile, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise InputError(f"key file {keyfile}: not a regular file")
            key = f.read(KEY_SIZE + 1)
    except OSError as exc:
        raise InputError(f"cannot read key file {keyfile}: {exc.strerror or exc}") from None
    if len(key) != KEY_SIZE:
        raise InputError(f"key file {keyfile}: must hold exactly 16 raw bytes")
    return key


def gen_key(keyfile: Path, randbytes: RandBytes = os.urandom) -> None:
    """Write 16 random bytes to a new file, mode 0600; never overwrite."""
    if keyfile.exists() or keyfile.is_symlink():
        raise InputError(f"{keyfile} exists; not overwriting a key")
    key = randbytes(KEY_SIZE)
    fd, tmp = _temp_beside(keyfile, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, keyfile)  # atomic and refuses an existing name
        except FileExistsError:
            raise InputError(f"{keyfile} exists; not overwriting a key") from None
        except OSError as exc:
            raise InputError(f"cannot write {keyfile}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _temp_beside(path: Path, mode: int) -> tuple[int, Path]:
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
        os.fchmod(fd, mode)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return fd, Path(tmp)


@contextlib.contextmanager
def _atomic_output(path: Path, mode: int) -> Iterator[int]:
    fd, tmp = _temp_beside(path, mode)
    ok = False
    try:
        yield fd
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
        ok = True
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _open_regular(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{path}: not a regular file")
    return fd


@dataclass(frozen=True)
class Done:
    input: str
    output: str
    path: str
    size: int


def encrypt_file(
    src: Path, dst: Path, key: bytes, bound: str, randbytes: RandBytes = os.urandom
) -> Done:
    fd = _open_regular(src)
    try:
        size = os.fstat(fd).st_size
        with os.fdopen(os.dup(fd), "rb") as fin, _atomic_output(dst, 0o644) as out_fd, \
                os.fdopen(os.dup(out_fd), "r+b") as fout:
            encrypt_stream(fin, size, fout, key, bound, randbytes)
            fout.flush()
    except PfError as exc:
        raise InputError(f"{src}: {exc.message}") from None
    finally:
        os.close(fd)
    return Done(str(src), str(dst), bound, size)


def decrypt_file(src: Path, dst: Path, key: bytes, check_path: str | None) -> Done:
    fd = _open_regular(src)
    try:
        reader = PfReader(fd_source(fd), os.fstat(fd).st_size, key, check_path)
        bound = (reader.bound_path or b"").decode("utf-8", "surrogateescape")
        with _atomic_output(dst, 0o600) as out_fd:
            offset = 0
            while offset < reader.size:
                chunk = reader.read(offset, CHUNK)
                _write_all(out_fd, chunk)
                offset += len(chunk)
    except PfError as exc:
        raise PfError(exc.stage, exc.status, exc.detail, exc.offset, str(src)) from None
    except OSError as exc:
        raise InputError(f"cannot read {src}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return Done(str(src), str(dst), bound, reader.size)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def plan(src: Path, dst: Path) -> list[tuple[Path, Path, str]]:
    """(input, output, relative name) for a file or every regular file below a directory.

    The list is made before anything is written, so an output inside the input tree is not
    picked up again. Symbolic links and special files in a tree are refused.
    """
    try:
        st = os.lstat(src)
    except OSError as exc:
        raise InputError(f"cannot read {src}: {exc.strerror or exc}") from None
    if stat.S_ISREG(st.st_mode):
        return [(src, dst, "")]
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{src}: not a regular file or directory")
    out: list[tuple[Path, Path, str]] = []
    for root, dirs, files in os.walk(src, onerror=_walk_error):
        dirs.sort()
        for name in sorted(dirs + files):
            full = Path(root) / name
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode) or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise InputError(f"{full}: symbolic links and special files are not supported")
        for name in sorted(files):
            full = Path(root) / name
            rel = full.relative_to(src)
            out.append((full, dst / rel, rel.as_posix()))
    return out


def _walk_error(exc: OSError) -> None:
    raise InputError(f"cannot read {exc.filename}: {exc.strerror or exc}")


def ensure_parent(path: Path, mode: int) -> None:
    """Create the missing directories above `path`, each with `mode` (subject to umask)."""
    missing = []
    parent = path.parent
    while str(parent) not in ("", ".", "/") and not parent.is_dir():
        missing.append(parent)
        parent = parent.parent
    try:
        for d in reversed(missing):
            d.mkdir(mode=mode, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {path.parent}: {exc.strerror or exc}") from None


def join_bound(base: str, rel: str) -> str:
    return normalise(base if not rel else posixpath.join(base, rel))
