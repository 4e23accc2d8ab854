"""Reading a protected file with exactly Gramine's checks, in Gramine's order.

`PfReader` opens a file the way Gramine's `pf_open` does (read mode, no recovery) and then
serves `read(offset, length)`, verifying every MHT and data node it needs on the way. Every
refusal is a `PfError` carrying Gramine's stage and status for the same input.

Deliberate differences from Gramine (both stricter, neither reachable without the wrap key
except the first): a read that spans a failing node raises instead of returning the bytes
before it; a stored path without a NUL terminator never matches a requested path.
"""

from __future__ import annotations

import os
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gsc.pfs import errors as st
from gsc.pfs.crypto import gcm_decrypt, metadata_key
from gsc.pfs.errors import PfError
from gsc.pfs.layout import (
    CHILDREN_PER_MHT,
    DATA_PER_MHT,
    ENCRYPTED_PART_SIZE,
    ENTRY_SIZE,
    EP_DATA,
    EP_PATH,
    EP_ROOT_KEY,
    EP_ROOT_TAG,
    EP_SIZE,
    FILE_ID,
    HDR_MAC,
    HDR_MAJOR,
    HDR_NONCE,
    KEY_SIZE,
    LAYOUTS,
    MAX_PATH_BYTES,
    MD_DATA_SIZE,
    NODE_SIZE,
    NONCE_SIZE,
    PATH_FIELD_SIZE,
    TAG_SIZE,
    data_node_count,
    data_node_physical,
    mht_node_count,
    mht_node_physical,
    mht_parent,
)

ReadAt = Callable[[int, int], bytes]
"""read_at(offset, length) -> at most `length` bytes of the encrypted file from `offset`."""

_MHT_CACHE = 64  # decrypted MHT nodes kept (Gramine keeps 48 nodes of any kind)


def bytes_source(data: bytes) -> ReadAt:
    view = memoryview(data)

    def read_at(offset: int, length: int) -> bytes:
        return bytes(view[offset : offset + length])

    return read_at


def fd_source(fd: int) -> ReadAt:
    def read_at(offset: int, length: int) -> bytes:
        chunks = []
        while length > 0:
            chunk = os.pread(fd, length, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
            length -= len(chunk)
        return b"".join(chunks)

    return read_at


def path_bytes(path: str | bytes) -> bytes:
    return os.fsencode(path)


@dataclass(frozen=True)
class KeyMaterial:
    """The randomness a file was written with: metadata nonce and every node key."""

    nonce: bytes
    data_keys: tuple[bytes, ...]
    mht_keys: tuple[bytes, ...]  # index = logical MHT node; [0] is the root's key


class PfReader:
    """An opened protected file (read only)."""

    def __init__(
        self,
        read_at: ReadAt,
        underlying_size: int,
        wrap_key: bytes,
        path: str | bytes | None = None,
    ) -> None:
        if len(wrap_key) != KEY_SIZE:
            raise PfError("open", st.INVALID_PARAMETER, "the wrap key must be 16 bytes")
        want = None if path is None else path_bytes(path)
        if want is not None and len(want) > MAX_PATH_BYTES:
            raise PfError("open", st.PATH_TOO_LONG, f"path longer than {MAX_PATH_BYTES} bytes")
        if underlying_size % NODE_SIZE != 0:
            raise PfError("open", st.INVALID_HEADER, "size on disk is not a multiple of 4096")
        self._read_at = read_at
        node0 = self._node(0)
        if node0 is None:
            raise PfError("open", st.CALLBACK_FAILED, "metadata node missing (short read)")
        if node0[:8] != FILE_ID:
            raise PfError("open", st.INVALID_HEADER, "file_id is not GRAFS_PF")
        major = node0[HDR_MAJOR]
        layout = LAYOUTS.get(major)
        if layout is None:
            raise PfError("open", st.INVALID_VERSION, f"unknown major_version {major}")
        self.major_version = major
        # HAS_PENDING_WRITE is ignored: no recovery is asked for (as gramine-sgx-pf-crypt).
        self._nonce = node0[HDR_NONCE : HDR_NONCE + NONCE_SIZE]
        tag = node0[HDR_MAC : HDR_MAC + TAG_SIZE]
        part = gcm_decrypt(
            metadata_key(wrap_key, self._nonce),
            node0[layout.encrypted_offset : layout.encrypted_end],
            tag,
        )
        if part is None:
            raise PfError("open", st.CALLBACK_FAILED, "metadata GCM tag check failed")
        assert len(part) == ENCRYPTED_PART_SIZE
        field = part[EP_PATH : EP_PATH + PATH_FIELD_SIZE]
        nul = field.find(b"\0")
        self.bound_path: bytes | None = field[:nul] if nul >= 0 else None
        if want is not None and self.bound_path != want:
            raise PfError("open", st.INVALID_PATH, "the bound path differs from the opened path")
        (self.size,) = struct.unpack_from("<Q", part, EP_SIZE)
        self._root_key = part[EP_ROOT_KEY : EP_ROOT_KEY + KEY_SIZE]
        root_tag = part[EP_ROOT_TAG : EP_ROOT_TAG + TAG_SIZE]
        self._md_data = part[EP_DATA : EP_DATA + MD_DATA_SIZE]
        self._mht: OrderedDict[int, bytes] = OrderedDict()
        if self.size > MD_DATA_SIZE:
            ct = self._node(1)
            root = None if ct is None else gcm_decrypt(self._root_key, ct, root_tag)
            if root is None:
                what = "missing (short read)" if ct is None else "GCM tag check failed"
                raise PfError("open", st.CALLBACK_FAILED, f"root MHT node {what}")
            self._root = root

    # -- nodes ---------------------------------------------------------------------------

    def _node(self, physical: int) -> bytes | None:
        data = self._read_at(physical * NODE_SIZE, NODE_SIZE)
        return data if len(data) == NODE_SIZE else None

    def _mht_node(self, m: int, offset: int) -> bytes:
        if m == 0:
            return self._root
        cached = self._mht.get(m)
        if cached is not None:
            self._mht.move_to_end(m)
            return cached
        parent_m, slot = mht_parent(m)
        parent = self._mht_node(parent_m, offset)
        entry = DATA_PER_MHT * ENTRY_SIZE + slot * ENTRY_SIZE
        ct = self._node(mht_node_physical(m))
        plain = None if ct is None else gcm_decrypt(
            parent[entry : entry + KEY_SIZE], ct, parent[entry + KEY_SIZE : entry + ENTRY_SIZE]
        )
        if plain is None:
            what = "missing (short read)" if ct is None else "GCM tag check failed"
            raise PfError(
                "read", st.CALLBACK_FAILED,
                f"MHT node {m} (node {mht_node_physical(m)}) {what}", offset,
            )
        self._mht[m] = plain
        if len(self._mht) > _MHT_CACHE:
            self._mht.popitem(last=False)
        return plain

    def _data_node(self, d: int, offset: int) -> bytes:
        mht = self._mht_node(d // DATA_PER_MHT, offset)
        entry = (d % DATA_PER_MHT) * ENTRY_SIZE
        physical = data_node_physical(d)
        ct = self._node(physical)
        plain = None if ct is None else gcm_decrypt(
            mht[entry : entry + KEY_SIZE], ct, mht[entry + KEY_SIZE : entry + ENTRY_SIZE]
        )
        if plain is None:
            what = "missing (short read)" if ct is None else "GCM tag check failed"
            raise PfError(
                "read", st.CALLBACK_FAILED, f"data node {d} (node {physical}) {what}", offset
            )
        return plain

    # -- public --------------------------------------------------------------------------

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` plaintext bytes from `offset` (fewer only at the end of the file)."""
        if length < 0 or offset < 0:
            raise PfError("read", st.INVALID_PARAMETER, "negative offset or length", offset)
        if length == 0:
            return b""
        if offset > self.size:
            raise PfError("read", st.INVALID_PARAMETER, "offset beyond the end", offset)
        end = min(self.size, offset + length)
        out = []
        pos = offset
        if pos < MD_DATA_SIZE and pos < end:
            stop = min(end, MD_DATA_SIZE)
            out.append(self._md_data[pos:stop])
            pos = stop
        while pos < end:
            d, within = divmod(pos - MD_DATA_SIZE, NODE_SIZE)
            node = self._data_node(d, offset)
            stop = min(end, pos + NODE_SIZE - within)
            out.append(node[within : within + stop - pos])
            pos = stop
        return b"".join(out)

    def read_all(self) -> bytes:
        return self.read(0, self.size)

    def key_material(self) -> KeyMaterial:
        """Recover the nonce and every node key (for re-encrypting byte for byte)."""
        data_keys = []
        for d in range(data_node_count(self.size)):
            mht = self._mht_node(d // DATA_PER_MHT, 0)
            e = (d % DATA_PER_MHT) * ENTRY_SIZE
            data_keys.append(mht[e : e + KEY_SIZE])
        mht_keys = []
        for m in range(mht_node_count(self.size)):
            if m == 0:
                mht_keys.append(self._root_key)
                continue
            parent_m, slot = mht_parent(m)
            parent = self._mht_node(parent_m, 0)
            e = (DATA_PER_MHT + slot) * ENTRY_SIZE
            mht_keys.append(parent[e : e + KEY_SIZE])
        return KeyMaterial(self._nonce, tuple(data_keys), tuple(mht_keys))


def open_bytes(data: bytes, wrap_key: bytes, path: str | bytes | None = None) -> PfReader:
    return PfReader(bytes_source(data), len(data), wrap_key, path)


def decrypt_bytes(data: bytes, wrap_key: bytes, path: str | bytes | None = None) -> bytes:
    return open_bytes(data, wrap_key, path).read_all()


assert CHILDREN_PER_MHT * ENTRY_SIZE + DATA_PER_MHT * ENTRY_SIZE == NODE_SIZE
