"""Label names gsc writes on output images (OCI base labels plus gsc's own)."""

from __future__ import annotations

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

# Where everything gsc adds lives inside the output image.
GSC_DIR = "/gsc"
RUNTIME_PATH = "/gsc/gsc-runtime"
MANIFEST_PATH = "/gsc/entrypoint.manifest.sgx"
SIG_PATH = "/gsc/entrypoint.sig"
