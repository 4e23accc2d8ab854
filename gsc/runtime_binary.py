"""Where the native runtime executable is: packaged, or built in a development tree."""

from __future__ import annotations

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


def runtime_bytes() -> bytes:
    """The runtime executable's bytes (see runtime_path)."""
    return runtime_path().read_bytes()
