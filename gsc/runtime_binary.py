"""Where the native runtime executable is (packaged, or built in a development tree), and
the check that it was built from the same C core as gsc._native (the identity stamp)."""

from __future__ import annotations

import re
from pathlib import Path

from gsc.errors import InputError

_PACKAGE = Path(__file__).resolve().parent
PACKAGED = _PACKAGE / "_bin" / "gsc-runtime"
DEVELOPMENT = _PACKAGE.parent / "runtime" / "build" / "gsc-runtime"


def runtime_path() -> Path:
    """The gsc-runtime executable: gsc/_bin/gsc-runtime in an installed package, else
    runtime/build/gsc-runtime of the source tree this module lives in (never the cwd)."""
    for candidate in (PACKAGED, DEVELOPMENT):
        if candidate.is_file():
            return candidate
    raise InputError(
        f"the gsc runtime executable is missing: neither {PACKAGED} (installed package) nor "
        f"{DEVELOPMENT} (source tree; build it with `make -C runtime runtime`) exists"
    )


# runtime/stamp/core_stamp.c: "gsc-core-stamp:" + 64 hex digits in the runtime's .rodata.
_MARKER = re.compile(rb"gsc-core-stamp:([0-9a-f]{64})")
_FIX = ("reinstall gsc so that both are built from the same sources (`pip install .`; in a "
        "source tree: `make -C runtime runtime` and `python setup.py build_ext --inplace`)")


def native_stamp() -> str:
    """The C core identity compiled into gsc._native."""
    from gsc.sgx.native import core

    ffi, lib = core()
    return str(ffi.string(lib.gsc_core_stamp()).decode("ascii"))


def runtime_stamp(data: bytes) -> str | None:
    """The C core identity compiled into a runtime executable (None: it carries none)."""
    found = {m.group(1).decode() for m in _MARKER.finditer(data)}
    return found.pop() if len(found) == 1 else None


def check_stamp(data: bytes, where: str, fix: str = _FIX) -> None:
    """InputError unless the runtime ``data`` was built from gsc._native's C core: they
    measure, parse and verify with that code, so a mismatch would make every launch refuse
    with no hint."""
    have, want = runtime_stamp(data), native_stamp()
    if have != want:
        what = f"C core {have[:16]}" if have else "no C core identity stamp"
        raise InputError(f"the gsc runtime {where} was built from another C core than this "
                         f"gsc ({what}, gsc._native has {want[:16]}): {fix}")


def runtime_bytes() -> bytes:
    """The runtime executable's bytes (see runtime_path), checked against gsc._native."""
    path = runtime_path()
    data = path.read_bytes()
    check_stamp(data, f"at {path}")
    return data
