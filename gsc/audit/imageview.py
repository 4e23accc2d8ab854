"""What the suggestion engine needs to know about the image's files, and nothing more.

``kind(path)`` answers for the path itself (a symlink is not followed): ``"file"``,
``"dir"``, ``"symlink"``, ``"other"`` or None when the image has no such entry.
``known`` is False for a view that knows nothing (no ``--image``): then every ``kind`` is
None and the engine says that its answers were not checked against the image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from gsc.image.fs import ImageFS


class ImageView(Protocol):
    known: bool

    def kind(self, path: str) -> str | None: ...


class NoImage:
    known = False

    def kind(self, path: str) -> str | None:
        return None


class MapView:
    """An image described by a mapping ``path -> kind`` (tests, or a listing saved
    elsewhere). Parent directories of listed paths count as directories."""

    known = True

    def __init__(self, kinds: Mapping[str, str]) -> None:
        self._kinds: dict[str, str] = {"/": "dir"}
        for path, kind in kinds.items():
            p = "/" + path.strip("/")
            self._kinds[p] = kind
            while p != "/":
                p = p.rsplit("/", 1)[0] or "/"
                self._kinds.setdefault(p, "dir")

    def kind(self, path: str) -> str | None:
        return self._kinds.get("/" + path.strip("/"))


class FuncView:
    """An image described by predicates, e.g. ``FuncView(os.path.lexists, os.path.isdir,
    os.path.isfile)`` over an unpacked root."""

    known = True

    def __init__(self, exists: Callable[[str], bool], is_dir: Callable[[str], bool],
                 is_regular: Callable[[str], bool]) -> None:
        self._exists, self._is_dir, self._is_regular = exists, is_dir, is_regular

    def kind(self, path: str) -> str | None:
        if not self._exists(path):
            return None
        if self._is_dir(path):
            return "dir"
        return "file" if self._is_regular(path) else "other"


class ImageFSView:
    """A read-only view of a loaded image (gsc.image.ImageFS)."""

    known = True

    def __init__(self, fs: ImageFS) -> None:
        self._fs = fs

    def kind(self, path: str) -> str | None:
        entry = self._fs.get(path)
        if entry is None:
            return None
        if entry.kind in ("file", "dir", "symlink"):
            return entry.kind
        return "other"
