"""The one owner of what gsc adds to an output image: the /gsc/ files, the labels, and
the C header the runtime is compiled with (runtime/core/gsc_layout.h, generated from this
module by ``python -m gsc.shield.layout > runtime/core/gsc_layout.h`` and checked by
tests/pipeline/test_layout.py)."""

from __future__ import annotations

import sys

# Where everything gsc adds lives inside the output image.
GSC_DIR = "/gsc"
RUNTIME_NAME = "gsc-runtime"
MANIFEST_NAME = "entrypoint.manifest.sgx"
SIG_NAME = "entrypoint.sig"
RUNTIME_PATH = f"{GSC_DIR}/{RUNTIME_NAME}"
MANIFEST_PATH = f"{GSC_DIR}/{MANIFEST_NAME}"
SIG_PATH = f"{GSC_DIR}/{SIG_NAME}"
RUNTIME_MODE = 0o755
DATA_MODE = 0o644

# Labels on output images (OCI base labels plus gsc's own).
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
PREFIX = "dev.gsc."
VERSION = PREFIX + "version"
SIGNED = PREFIX + "signed"
MRENCLAVE = PREFIX + "mrenclave"
MRSIGNER = PREFIX + "mrsigner"
ISVPRODID = PREFIX + "isvprodid"
ISVSVN = PREFIX + "isvsvn"
DEBUG = PREFIX + "debug"
DATE = PREFIX + "date"
INSECURE_ARGS = PREFIX + "insecure-args"
TRUSTED_FILES = PREFIX + "trusted-files"


def c_header() -> str:
    """runtime/core/gsc_layout.h: the /gsc/ file names for the C runtime."""
    defs = [
        ("GSC_LAYOUT_DIR", GSC_DIR),
        ("GSC_LAYOUT_RUNTIME_NAME", RUNTIME_NAME),
        ("GSC_LAYOUT_MANIFEST_NAME", MANIFEST_NAME),
        ("GSC_LAYOUT_SIG_NAME", SIG_NAME),
        ("GSC_LAYOUT_RUNTIME_PATH", RUNTIME_PATH),
        ("GSC_LAYOUT_MANIFEST_PATH", MANIFEST_PATH),
        ("GSC_LAYOUT_SIG_PATH", SIG_PATH),
    ]
    lines = [
        "/* Generated from gsc/shield/layout.py (the one owner of the /gsc/ layout) by",
        "   `python -m gsc.shield.layout > runtime/core/gsc_layout.h`. Do not edit:",
        "   tests/pipeline/test_layout.py fails when this file and layout.py differ. */",
        "#ifndef GSC_LAYOUT_H",
        "#define GSC_LAYOUT_H",
        "",
        *(f'#define {name} "{value}"' for name, value in defs),
        "",
        "#endif",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(c_header())
