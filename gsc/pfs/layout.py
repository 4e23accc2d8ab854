"""Geometry of Gramine's protected-files format: node size, field offsets, node numbering.

Every number here is a fact of the on-disk format (see docs/encrypted-files.md); nothing in
this module touches keys or bytes of a file.
"""

from __future__ import annotations

from dataclasses import dataclass

NODE_SIZE = 4096
FILE_ID = b"GRAFS_PF"  # u64 0x46505f5346415247, little-endian
MAJOR_V1 = 1
MAJOR_V2 = 2
MINOR_VERSION = 0

NONCE_SIZE = 32
KEY_SIZE = 16
TAG_SIZE = 16
GCM_IV = bytes(12)  # every node is encrypted under a fresh key with the all-zero IV

# The encrypted part of the metadata node (same structure in version 1 and 2).
PATH_FIELD_SIZE = 772  # NUL-terminated, so at most 771 bytes of path
MAX_PATH_BYTES = PATH_FIELD_SIZE - 1
MD_DATA_SIZE = 3072  # plaintext bytes carried by the metadata node
ENCRYPTED_PART_SIZE = PATH_FIELD_SIZE + 8 + KEY_SIZE + TAG_SIZE + MD_DATA_SIZE  # 3884

# Offsets inside the decrypted encrypted part.
EP_PATH = 0
EP_SIZE = PATH_FIELD_SIZE
EP_ROOT_KEY = EP_SIZE + 8
EP_ROOT_TAG = EP_ROOT_KEY + KEY_SIZE
EP_DATA = EP_ROOT_TAG + TAG_SIZE

# Plain header, shared by both versions.
HDR_FILE_ID = 0
HDR_MAJOR = 8
HDR_MINOR = 9
HDR_NONCE = 10
HDR_MAC = HDR_NONCE + NONCE_SIZE  # 42
V2_FLAGS = HDR_MAC + TAG_SIZE  # 58, version 2 only
FLAG_HAS_PENDING_WRITE = 0x01

# MHT nodes: 96 data-node entries then 32 child-MHT entries, 32 bytes each (key || tag).
DATA_PER_MHT = 96
CHILDREN_PER_MHT = 32
ENTRY_SIZE = KEY_SIZE + TAG_SIZE


@dataclass(frozen=True)
class HeaderLayout:
    """Where the encrypted part sits in the metadata node of one format version."""

    major: int
    encrypted_offset: int

    @property
    def encrypted_end(self) -> int:
        return self.encrypted_offset + ENCRYPTED_PART_SIZE


LAYOUTS = {
    MAJOR_V1: HeaderLayout(MAJOR_V1, V2_FLAGS),  # no feature_flags byte: part starts at 58
    MAJOR_V2: HeaderLayout(MAJOR_V2, V2_FLAGS + 1),  # 59
}


def data_node_physical(d: int) -> int:
    """Physical node number of logical data node d."""
    return d + 2 + d // DATA_PER_MHT


def mht_node_physical(m: int) -> int:
    """Physical node number of logical MHT node m (the root is m = 0 at node 1)."""
    return 1 + (DATA_PER_MHT + 1) * m


def mht_parent(m: int) -> tuple[int, int]:
    """(parent MHT node, child slot) of MHT node m >= 1."""
    return (m - 1) // CHILDREN_PER_MHT, (m - 1) % CHILDREN_PER_MHT


def data_node_count(size: int) -> int:
    """Number of data nodes for a plaintext of `size` bytes."""
    if size <= MD_DATA_SIZE:
        return 0
    return (size - MD_DATA_SIZE + NODE_SIZE - 1) // NODE_SIZE


def mht_node_count(size: int) -> int:
    d = data_node_count(size)
    return 0 if d == 0 else (d - 1) // DATA_PER_MHT + 1


def encrypted_size(size: int) -> int:
    """Bytes on disk of a freshly written file with `size` plaintext bytes."""
    return NODE_SIZE * (1 + data_node_count(size) + mht_node_count(size))
