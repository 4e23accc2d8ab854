"""The two primitives of the format: the metadata-key KDF and AES-128-GCM with a zero IV."""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.cmac import CMAC

from gsc.pfs.layout import GCM_IV, KEY_SIZE, NONCE_SIZE, TAG_SIZE

_LABEL = b"SGX-PROTECTED-FS-METADATA-KEY".ljust(64, b"\0")


def metadata_key(wrap_key: bytes, nonce: bytes) -> bytes:
    """SP 800-108 counter-mode KDF, AES-128-CMAC PRF, one block: the metadata GCM key."""
    if len(wrap_key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("wrap key must be 16 bytes and nonce 32 bytes")
    msg = struct.pack("<I", 1) + _LABEL + nonce + struct.pack("<I", 128)
    mac = CMAC(algorithms.AES(wrap_key))
    mac.update(msg)
    return mac.finalize()


def gcm_encrypt(key: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """(ciphertext, tag) under `key`, zero IV, no AAD."""
    out = AESGCM(key).encrypt(GCM_IV, plaintext, None)
    return out[:-TAG_SIZE], out[-TAG_SIZE:]


def gcm_decrypt(key: bytes, ciphertext: bytes, tag: bytes) -> bytes | None:
    """Plaintext, or None when the tag does not verify."""
    try:
        return AESGCM(key).decrypt(GCM_IV, ciphertext + tag, None)
    except InvalidTag:
        return None
