"""The merged, read-only view of an image's file system."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from gsc.errors import InputError
from gsc.image import paths
from gsc.image.layers import resolve as _resolve
from gsc.image.model import FileEntry
from gsc.image.store import ContentStore


class ImageFS:
    """Entries by normalised absolute path; contents come from the private store."""

    def __init__(self, entries: dict[str, FileEntry], store: ContentStore | None) -> None:
        self._entries = entries
        self._store = store
        self._sorted: list[str] | None = None

    def entries(self) -> Iterator[FileEntry]:
        """Every entry in sorted path order."""
        if self._sorted is None:
            self._sorted = sorted(self._entries)
        for p in self._sorted:
            yield self._entries[p]

    def __iter__(self) -> Iterator[FileEntry]:
        return self.entries()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and paths.normalize(path) in self._entries

    def get(self, path: str) -> FileEntry | None:
        """The entry at ``path`` itself (no symlink is followed)."""
        return self._entries.get(paths.normalize(path))

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """Canonical real path inside the image; None on a symlink loop or when a
        non-final component is not a directory. The final component need not exist."""
        return _resolve(self._entries, path, follow_last=follow_last)

    def lookup(self, path: str) -> FileEntry | None:
        """The entry ``path`` leads to, symlinks followed; None if there is none."""
        real = self.resolve(path)
        return None if real is None else self._entries.get(real)

    def listdir(self, path: str) -> list[str]:
        """Names in directory ``path`` (symlinks followed), sorted; [] if not a dir."""
        real = self.resolve(path)
        if real is None or real not in self._entries or self._entries[real].kind != "dir":
            return []
        prefix = real.rstrip("/") + "/"
        if self._sorted is None:
            self._sorted = sorted(self._entries)
        import bisect

        i = bisect.bisect_right(self._sorted, prefix)
        out: list[str] = []
        while i < len(self._sorted) and self._sorted[i].startswith(prefix):
            rest = self._sorted[i][len(prefix):]
            if "/" not in rest:
                out.append(rest)
            i += 1
        return out

    def _regular(self, path: str) -> FileEntry:
        entry = self.lookup(path)
        if entry is None:
            raise InputError(f"no such file in image: {path!r}")
        if entry.kind != "file" or entry.blob is None:
            raise InputError(f"not a regular file in image: {path!r}")
        if entry.blob.offset < 0:
            raise InputError(f"contents of {path!r} were not kept (load the image with "
                             "retain='all')")
        if self._store is None:
            raise InputError("image contents are not available (closed)")
        return entry

    def open(self, path: str, buffer_size: int = 1 << 20) -> BinaryIO:
        """A read-only, seekable binary stream over a regular file (symlinks followed)."""
        entry = self._regular(path)
        assert self._store is not None and entry.blob is not None
        return self._store.open(entry.blob, buffer_size)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        entry = self._regular(path)
        assert self._store is not None and entry.blob is not None
        n = entry.blob.size if limit is None else min(limit, entry.blob.size)
        if n <= (16 << 20):
            return self._store.pread(entry.blob, 0, n)
        buf = io.BytesIO()
        pos = 0
        while pos < n:
            data = self._store.pread(entry.blob, pos, min(1 << 20, n - pos))
            if not data:
                break
            buf.write(data)
            pos += len(data)
        return buf.getvalue()

    @property
    def stats(self) -> dict[str, int]:
        """Counts: regular, symlink, dir, other, and bytes (regular files, each inode
        counted once)."""
        out = {"regular": 0, "symlink": 0, "dir": 0, "other": 0, "bytes": 0}
        seen: set[int] = set()
        for e in self._entries.values():
            if e.kind == "file":
                out["regular"] += 1
                if e.inode not in seen:
                    seen.add(e.inode)
                    out["bytes"] += e.size
            elif e.kind in ("symlink", "dir"):
                out[e.kind] += 1
            else:
                out["other"] += 1
        return out
