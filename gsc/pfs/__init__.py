"""Gramine's encrypted files ("protected files"): format version 2 read and write, version 1 read.

Bit-compatible with Gramine's `common/src/protected_files` and `gramine-sgx-pf-crypt`: see
docs/encrypted-files.md for the format, the checks and their order.
"""

from __future__ import annotations

from gsc.pfs.errors import PfError
from gsc.pfs.reader import (
    KeyMaterial,
    PfReader,
    bytes_source,
    decrypt_bytes,
    fd_source,
    open_bytes,
)
from gsc.pfs.writer import encrypt_bytes, encrypt_stream, replay_randbytes

__all__ = [
    "KeyMaterial",
    "PfError",
    "PfReader",
    "bytes_source",
    "decrypt_bytes",
    "encrypt_bytes",
    "encrypt_stream",
    "fd_source",
    "open_bytes",
    "replay_randbytes",
]
