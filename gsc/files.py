"""Small file helpers: bounded reads of user-given files and atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from gsc.errors import InputError

MAX_INPUT = 1 << 30  # 1 GiB: far above any manifest, PAL, key or signature


def read_input(path: Path, what: str, limit: int = MAX_INPUT) -> bytes:
    """Read a regular file fully; InputError with a one-line reason otherwise."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not _is_regular(st.st_mode):
                raise InputError(f"{what} {path}: not a regular file")
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputError(f"{what} {path}: larger than {limit} bytes")
    return data


def read_text_input(path: Path, what: str, limit: int = MAX_INPUT) -> str:
    """read_input, decoded as UTF-8 (InputError if it is not)."""
    try:
        return read_input(path, what, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} {path}: not UTF-8") from None


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _temp_beside(path: Path, mode: int) -> tuple[int, Path]:
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.fchmod(fd, mode)
    return fd, Path(tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file beside `path` and rename: never half-written."""
    fd, tmp = _temp_beside(path, mode)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_new_private(path: Path, data: bytes) -> None:
    """Create `path` (mode 0600) atomically; refuse to overwrite anything that exists."""
    if os.path.lexists(path):
        raise InputError(f"{path} already exists; refusing to overwrite it")
    fd, tmp = _temp_beside(path, 0o600)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if path appeared meanwhile: no clobbering
        except FileExistsError:
            raise InputError(f"{path} already exists; refusing to overwrite it") from None
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
