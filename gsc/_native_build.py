"""cffi build script for gsc._native: the C core under runtime/core/, shared with the runtime.

Every runtime/core/NAME.c is compiled in; every runtime/core/NAME.cdef is concatenated into
the cdef, so each C module declares its own Python-visible API next to its source.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent.parent
CORE = HERE / "runtime" / "core"
STAMP_SRC = HERE / "runtime" / "stamp" / "core_stamp.c"


def core_stamp(core: Path = CORE) -> str:
    """The C core's identity: SHA-256 of the `sha256sum` listing ("HEX  NAME\\n") of
    core/*.c and core/*.h sorted by name (runtime/Makefile computes the same)."""
    names = sorted(p.name for p in core.iterdir() if p.suffix in (".c", ".h") and p.is_file())
    listing = "".join(f"{hashlib.sha256((core / n).read_bytes()).hexdigest()}  {n}\n"
                      for n in names)
    return hashlib.sha256(listing.encode()).hexdigest()


def _rel(p: Path) -> str:
    # setuptools wants relative source paths; the build runs from the project root.
    try:
        return os.path.relpath(p)
    except ValueError:
        return str(p)


ffibuilder = FFI()
ffibuilder.cdef("\n".join(p.read_text() for p in sorted(CORE.glob("*.cdef")))
                + "\nconst char *gsc_core_stamp(void);\n")
ffibuilder.set_source(
    "gsc._native",
    "\n".join(f'#include "{h.name}"' for h in sorted(CORE.glob("*.h")))
    + "\nconst char *gsc_core_stamp(void);\n",
    sources=[_rel(p) for p in sorted(CORE.glob("*.c"))] + [_rel(STAMP_SRC)],
    define_macros=[("GSC_CORE_STAMP", f'"{core_stamp()}"')],
    include_dirs=[_rel(CORE)],
    libraries=["mbedcrypto"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
                        "-Wno-unused-parameter", "-D_GNU_SOURCE"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
