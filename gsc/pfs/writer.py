"""Writing a protected file (format version 2) as Gramine writes one front to back.

Randomness comes from `randbytes(n)` (os.urandom by default) and is drawn in the order
Gramine's library draws it for a file written sequentially and closed: a 32-byte nonce at
create, then (only if the plaintext exceeds 3072 bytes) one 16-byte key per data node from
the last to the first, one per non-root MHT node from the highest to the lowest, the root
MHT key, and finally the 32-byte metadata nonce (not drawn for an empty file: the create-time
metadata is the final one). Given the same wrap key, path, plaintext and random bytes, the
output is identical to Gramine's.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from typing import BinaryIO

from gsc.pfs import errors as st
from gsc.pfs.crypto import gcm_encrypt, metadata_key
from gsc.pfs.errors import PfError
from gsc.pfs.layout import (
    DATA_PER_MHT,
    ENCRYPTED_PART_SIZE,
    ENTRY_SIZE,
    FILE_ID,
    KEY_SIZE,
    LAYOUTS,
    MAJOR_V2,
    MAX_PATH_BYTES,
    MD_DATA_SIZE,
    MINOR_VERSION,
    NODE_SIZE,
    NONCE_SIZE,
    PATH_FIELD_SIZE,
    data_node_count,
    data_node_physical,
    mht_node_count,
    mht_node_physical,
    mht_parent,
)
from gsc.pfs.reader import KeyMaterial, path_bytes

RandBytes = Callable[[int], bytes]


def _draw(randbytes: RandBytes, n: int) -> bytes:
    out = randbytes(n)
    if len(out) != n:
        raise PfError("write", st.CALLBACK_FAILED, "the random source returned too few bytes")
    return out


def _read_exact(src: BinaryIO, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = src.read(n)
        if not chunk:
            raise PfError("write", st.CALLBACK_FAILED, "input ended early (changed?)")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def encrypt_stream(
    src: BinaryIO,
    size: int,
    dst: BinaryIO,
    wrap_key: bytes,
    path: str | bytes,
    randbytes: RandBytes = os.urandom,
) -> None:
    """Encrypt exactly `size` bytes from `src` into the seekable `dst` (at offset 0)."""
    if len(wrap_key) != KEY_SIZE:
        raise PfError("write", st.INVALID_PARAMETER, "the wrap key must be 16 bytes")
    bound = path_bytes(path)
    if len(bound) > MAX_PATH_BYTES:
        raise PfError("write", st.PATH_TOO_LONG, f"path longer than {MAX_PATH_BYTES} bytes")
    if b"\0" in bound:
        raise PfError("write", st.INVALID_PARAMETER, "path contains a NUL byte")
    if size < 0:
        raise PfError("write", st.INVALID_PARAMETER, "negative size")

    nonce = _draw(randbytes, NONCE_SIZE)
    n_data = data_node_count(size)
    n_mht = mht_node_count(size)
    data_keys: list[bytes] = [b""] * n_data
    for d in reversed(range(n_data)):
        data_keys[d] = _draw(randbytes, KEY_SIZE)
    mht_keys: list[bytes] = [b""] * n_mht
    for m in reversed(range(1, n_mht)):
        mht_keys[m] = _draw(randbytes, KEY_SIZE)
    if n_mht:
        mht_keys[0] = _draw(randbytes, KEY_SIZE)
    if size > 0:
        nonce = _draw(randbytes, NONCE_SIZE)

    head = _read_exact(src, min(size, MD_DATA_SIZE))
    mhts = [bytearray(NODE_SIZE) for _ in range(n_mht)]
    for d in range(n_data):
        plain = _read_exact(src, min(NODE_SIZE, size - MD_DATA_SIZE - d * NODE_SIZE))
        ct, tag = gcm_encrypt(data_keys[d], plain.ljust(NODE_SIZE, b"\0"))
        dst.seek(data_node_physical(d) * NODE_SIZE)
        dst.write(ct)
        e = (d % DATA_PER_MHT) * ENTRY_SIZE
        mhts[d // DATA_PER_MHT][e : e + ENTRY_SIZE] = data_keys[d] + tag
    root_tag = bytes(16)
    for m in reversed(range(n_mht)):  # children (higher numbers) before their parents
        ct, tag = gcm_encrypt(mht_keys[m], bytes(mhts[m]))
        dst.seek(mht_node_physical(m) * NODE_SIZE)
        dst.write(ct)
        if m == 0:
            root_tag = tag
        else:
            parent, slot = mht_parent(m)
            e = (DATA_PER_MHT + slot) * ENTRY_SIZE
            mhts[parent][e : e + ENTRY_SIZE] = mht_keys[m] + tag

    part = (
        bound.ljust(PATH_FIELD_SIZE, b"\0")
        + struct.pack("<Q", size)
        + (mht_keys[0] if n_mht else bytes(KEY_SIZE))
        + root_tag
        + head.ljust(MD_DATA_SIZE, b"\0")
    )
    assert len(part) == ENCRYPTED_PART_SIZE
    ct, mac = gcm_encrypt(metadata_key(wrap_key, nonce), part)
    header = FILE_ID + bytes([MAJOR_V2, MINOR_VERSION]) + nonce + mac + b"\0"
    assert len(header) == LAYOUTS[MAJOR_V2].encrypted_offset
    dst.seek(0)
    dst.write((header + ct).ljust(NODE_SIZE, b"\0"))
    dst.seek(0, io.SEEK_END)


def encrypt_bytes(
    plaintext: bytes, wrap_key: bytes, path: str | bytes, randbytes: RandBytes = os.urandom
) -> bytes:
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(plaintext), len(plaintext), out, wrap_key, path, randbytes)
    return out.getvalue()


def replay_randbytes(material: KeyMaterial) -> RandBytes:
    """A random source that hands out `material` in the order the writer draws it."""
    stream = bytearray(material.nonce if not material.data_keys else bytes(NONCE_SIZE))
    for key in reversed(material.data_keys):
        stream += key
    for key in reversed(material.mht_keys[1:]):
        stream += key
    if material.mht_keys:
        stream += material.mht_keys[0]
    stream += material.nonce
    pos = 0

    def randbytes(n: int) -> bytes:
        nonlocal pos
        out = bytes(stream[pos : pos + n])
        pos += n
        return out

    return randbytes
