"""The C reader (runtime/core/pf.c, the one the runtime links) through cffi.

`CReader` mirrors `PfReader` and raises the same `PfError` (stage, Gramine status, offset),
so tests run every vector through both implementations.
"""

from __future__ import annotations

import os
from typing import Any

from gsc.pfs.errors import PfError
from gsc.pfs.layout import KEY_SIZE, NODE_SIZE
from gsc.sgx.native import core, err_text


class CReader:
    """An opened protected file read by the C core. Source: a file descriptor or bytes."""

    def __init__(
        self,
        wrap_key: bytes,
        path: str | bytes | None,
        *,
        fd: int | None = None,
        data: bytes | None = None,
    ) -> None:
        ffi, lib = core()
        self._ffi, self._lib = ffi, lib
        if len(wrap_key) != KEY_SIZE:
            raise PfError("open", -3, "the wrap key must be 16 bytes")
        err = ffi.new("char[256]")
        out = ffi.new("gsc_pf **")
        keep: list[Any] = []
        if fd is not None:
            ctx = ffi.new("int *", fd)
            cb = ffi.addressof(lib, "gsc_pf_fd_read")
            size = os.fstat(fd).st_size
        elif data is not None:
            buf = ffi.from_buffer(data)
            ctx = ffi.new("gsc_pf_mem *", {"data": buf, "len": len(data)})
            keep.append(buf)
            cb = ffi.addressof(lib, "gsc_pf_mem_read")
            size = len(data)
        else:
            raise ValueError("CReader needs fd= or data=")
        keep.append(ctx)
        cpath = ffi.NULL if path is None else ffi.new("char[]", os.fsencode(path))
        key = ffi.new("uint8_t[16]", wrap_key)
        rc = lib.gsc_pf_open(key, cpath, size, cb, ctx, out, err, len(err))
        if rc != 0:
            raise PfError("open", rc, _detail(err_text(ffi, err)))
        self._keep = keep
        self._pf = out[0]
        self._closed = False
        self.size: int = lib.gsc_pf_size(self._pf)
        self.major_version: int = lib.gsc_pf_major_version(self._pf)
        self.bound_path: bytes = ffi.string(lib.gsc_pf_bound_path(self._pf))
        self._buf = ffi.new("uint8_t[]", 64 * NODE_SIZE)
        self._err = err

    def readinto(self, offset: int, buf: Any, length: int) -> int:
        """Read into a cffi buffer; return the byte count."""
        nread = self._ffi.new("size_t *")
        rc = self._lib.gsc_pf_pread(self._pf, offset, buf, length, nread, self._err, 256)
        if rc != 0:
            raise PfError("read", rc, _detail(err_text(self._ffi, self._err)), offset)
        return int(nread[0])

    def read(self, offset: int, length: int) -> bytes:
        if length <= len(self._buf):
            buf = self._buf
        else:
            buf = self._ffi.new("uint8_t[]", length)
        n = self.readinto(offset, buf, length)
        return bytes(self._ffi.buffer(buf, n))

    def read_all(self) -> bytes:
        return self.read(0, self.size)

    def close(self) -> None:
        """Wipe and free the C handle (reads afterwards are refused)."""
        if not self._closed:
            self._closed = True
            self._lib.gsc_pf_close(self._pf)
            self._pf = self._ffi.NULL

    def __del__(self) -> None:
        if getattr(self, "_closed", True) is False:
            self.close()


def _detail(text: str) -> str:
    # "open: Callback failed (-11): why" -> "why"
    return text.split("): ", 1)[-1]
