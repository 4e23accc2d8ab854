"""Private content store: regular files' bytes, appended to one file in a private
temporary directory and addressed by (offset, size). Names from the image never become
host paths. Identical contents are stored once; all-zero chunks become holes, so large
sparse files cost no disk.

Hashing and writing run on a worker thread (hashlib and os.pwrite release the GIL), so
the tar parser on the calling thread and the hasher use both cores.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading

from gsc.image.model import Blob

CHUNK = 1 << 20
_ZERO = bytes(4 << 20)
_ZERO_VIEW = memoryview(_ZERO)
_HOLE_MIN = 64 << 10
_BATCH_BYTES = 4 << 20



class _Marker:
    pass


_DISCARD = _Marker()  # the current file's contents are hashed but not kept

# a piece of file data, a run of zeros (sparse hole), a marker, or the end of a file
_Item = bytes | memoryview | int | Blob | _Marker


class ContentStore:
    """Append-only store in ``directory`` (which the caller created private)."""

    def __init__(self, directory: str) -> None:
        path = os.path.join(directory, "content.bin")
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(path, flags, 0o600)
        self._end = 0
        self._by_sha: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    # ---- writer side (only the worker thread calls these) -----------------------
    def _append_chunk(self, data: bytes | memoryview, pos: int) -> None:
        assert self._fd is not None
        n = len(data)
        if n >= _HOLE_MIN and data[0] == 0 and data[-1] == 0 and n <= len(_ZERO) and (
                _ZERO.startswith(data)):
            return  # all zeros: leave a hole
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, pos)
            view = view[n:]
            pos += n

    def _commit(self, start: int, size: int, sha: str, blob: Blob, kept: bool = True,
                ) -> None:
        assert self._fd is not None
        with self._lock:
            known = self._by_sha.get(sha)
            if known is not None and known[1] == size and size:
                if kept:
                    os.ftruncate(self._fd, start)
                    self._end = start
                blob.offset = known[0]
            elif not kept and size:
                blob.offset = -1  # hashed, contents not kept
            else:
                self._end = start + size
                if size and not known:
                    self._by_sha[sha] = (start, size)
                blob.offset = start
            blob.size = size
            blob.sha256 = sha

    def finish(self) -> None:
        """Make trailing holes part of the file."""
        if self._fd is not None and os.fstat(self._fd).st_size < self._end:
            os.ftruncate(self._fd, self._end)

    # ---- reader side -------------------------------------------------------------
    def pread(self, blob: Blob, pos: int, n: int) -> bytes:
        if self._fd is None:
            raise ValueError("content store is closed")
        if blob.offset < 0:
            raise ValueError("contents were not kept")
        n = max(0, min(n, blob.size - pos))
        if n == 0:
            return b""
        data = os.pread(self._fd, n, blob.offset + pos)
        if len(data) < n:  # a hole at the very end of the store
            data += bytes(n - len(data))
        return data

    def open(self, blob: Blob, buffer_size: int = CHUNK) -> io.BufferedReader:
        if blob.offset < 0:
            raise ValueError("contents were not kept")
        return io.BufferedReader(_BlobReader(self, blob), buffer_size=buffer_size)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _BlobReader(io.RawIOBase):
    def __init__(self, store: ContentStore, blob: Blob) -> None:
        super().__init__()
        self._store = store
        self._blob = blob
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._blob.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._store.pread(self._blob, self._pos, len(buffer))
        n = len(data)
        memoryview(buffer)[:n] = data
        self._pos += n
        return n


class HashPipeline:
    """Feeds files' chunks to a worker thread that hashes them and stores them.

    The producer calls ``feed(chunk)`` for each chunk of the current file, then
    ``end() -> Blob``; the Blob is filled in by the worker (valid after ``close()``)."""

    def __init__(self, store: ContentStore) -> None:
        self._store = store
        self._q: queue.Queue[list[_Item] | None] = queue.Queue(maxsize=8)
        self._batch: list[_Item] = []
        self._batch_bytes = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="gsc-hash", daemon=True)
        self._thread.start()

    def feed(self, chunk: bytes | memoryview) -> None:
        """A piece of the current file. It must not change afterwards (views of
        immutable read buffers are passed on without a copy)."""
        if chunk:
            self._batch.append(chunk)
            self._batch_bytes += len(chunk)
            if self._batch_bytes >= _BATCH_BYTES:
                self._flush()

    def feed_zeros(self, n: int) -> None:
        """``n`` zero bytes of the current file (a sparse hole; stored as a hole)."""
        if n > 0:
            self._batch.append(n)
            if len(self._batch) >= 256:
                self._flush()

    def discard(self) -> None:
        """Hash the current file's contents without keeping them (call first)."""
        self._batch.append(_DISCARD)

    def end(self) -> Blob:
        blob = Blob()
        self._batch.append(blob)
        if len(self._batch) >= 256:
            self._flush()
        return blob

    def _flush(self) -> None:
        if self._error is not None:
            raise self._error
        if self._batch:
            self._q.put(self._batch)
            self._batch = []
            self._batch_bytes = 0

    def close(self) -> None:
        """Wait for every queued file; re-raise a worker failure."""
        try:
            self._flush()
        finally:
            self._q.put(None)
            self._thread.join()
        self._store.finish()
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        store = self._store
        hasher = hashlib.sha256()
        start = store._end
        pos = start
        keep = True
        while True:
            batch = self._q.get()
            if batch is None:
                return
            if self._error is not None:
                continue
            try:
                for item in batch:
                    if isinstance(item, Blob):
                        store._commit(start, pos - start, hasher.hexdigest(), item, keep)
                        hasher = hashlib.sha256()
                        start = store._end
                        pos = start
                        keep = True
                    elif item is _DISCARD:
                        keep = False
                    elif isinstance(item, int):
                        left = item
                        while left > 0:
                            k = min(left, len(_ZERO))
                            hasher.update(_ZERO_VIEW[:k])
                            left -= k
                        pos += item
                    elif isinstance(item, _Marker):
                        raise AssertionError("unknown marker")
                    else:
                        hasher.update(item)
                        if keep:
                            store._append_chunk(item, pos)
                        pos += len(item)
            except BaseException as exc:  # surfaced to the producer
                self._error = exc
