"""cffi build script for gsc._native: the C core under runtime/core/, shared with the runtime.

Every runtime/core/NAME.c is compiled in; every runtime/core/NAME.cdef is concatenated into
the cdef, so each C module declares its own Python-visible API next to its source.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent.parent
CORE = HERE / "runtime" / "core"


def _rel(p: Path) -> str:
    # setuptools wants relative source paths; the build runs from the project root.
    try:
        return os.path.relpath(p)
    except ValueError:
        return str(p)


ffibuilder = FFI()
ffibuilder.cdef("\n".join(p.read_text() for p in sorted(CORE.glob("*.cdef"))))
ffibuilder.set_source(
    "gsc._native",
    "\n".join(f'#include "{h.name}"' for h in sorted(CORE.glob("*.h"))),
    sources=[_rel(p) for p in sorted(CORE.glob("*.c"))],
    include_dirs=[_rel(CORE)],
    libraries=["mbedcrypto"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
                        "-Wno-unused-parameter", "-D_GNU_SOURCE"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
