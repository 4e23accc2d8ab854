"""Reading one layer tar (streamed) and merging layers into one file system the way
Docker's overlay applier does: whiteouts (``.wh.NAME``), opaque directories
(``.wh..wh..opq``), hardlinks, symlinks and special files.

Nothing here touches host paths: member names are normalised to in-image paths
(``..`` clamped at the root, leading "/" dropped) and contents go to the private
content store through the hash pipeline. ``tarfile.extract*`` is never used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from gsc.errors import InputError
from gsc.image import paths
from gsc.image.model import Blob, FileEntry, Kind
from gsc.image.store import HashPipeline
from gsc.image.tarstream import (
    BLOCK,
    DecompressSource,
    Source,
    SubSource,
    TarEntry,
    TarError,
    TarReader,
    compression,
)

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

# Which regular files' contents are kept in the content store (all are hashed):
#   "all"    everything;
#   "needed" what gsc's analysis and build can read back: ELF objects, `#!` scripts,
#            executables, files under /etc and /gsc, loader configuration (ld.so*,
#            ld-musl*), and every file up to KEEP_SMALL bytes. Reading another file's
#            contents raises InputError. Skipping the rest saves writing most bytes of
#            big images (data, media, ...).
Retain = Literal["all", "needed"]
KEEP_SMALL = 64 << 10
_KEEP_DIRS = ("/etc/", "/gsc/")
_KEEP_NAMES = ("ld.so", "ld-musl")
_KEEP_MAGIC = (b"\x7fELF", b"#!")


def _wanted(path: str, mode: int, size: int, head: bytes) -> bool:
    if size <= KEEP_SMALL or mode & 0o111 or path.startswith(_KEEP_DIRS):
        return True
    if len(head) < 4 or head.startswith(_KEEP_MAGIC):
        return True
    return path.rsplit("/", 1)[-1].startswith(_KEEP_NAMES)

_KINDS: dict[int, Kind] = {
    0x32: "symlink",  # '2'
    0x33: "char",
    0x34: "block",
    0x35: "dir",
    0x36: "fifo",
}


@dataclass(slots=True)
class Member:
    """One tar member of a layer, already normalised."""

    path: str
    kind: Kind | None  # None: a hardlink (see ``link``)
    mode: int
    uid: int
    gid: int
    size: int = 0
    blob: Blob | None = None
    target: str | None = None  # symlink target as stored
    link: str | None = None  # hardlink target, normalised
    devmajor: int = 0
    devminor: int = 0


@dataclass(slots=True)
class Layer:
    members: list[Member] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    diff_id: str = ""  # sha256 of the uncompressed tar, "sha256:HEX"


class _Hashing(Source):
    """Pass ``parent`` through, hashing every byte (a layer's diff_id)."""

    def __init__(self, parent: Source) -> None:
        super().__init__()
        self._parent = parent
        self.hash = hashlib.sha256()

    def _next_chunk(self) -> memoryview | None:
        view = self._parent.take(1 << 20)
        if not view:
            return None
        self.hash.update(view)
        return view


def _decode(name: bytes) -> str:
    return name.decode("utf-8", "surrogateescape")


def read_layer(src: Source, pipeline: HashPipeline, head: bytes | None = None, *,
               retain: Retain = "all", diff_id: str | None = None) -> Layer:
    """Parse a layer tar (plain, gzip, bzip2 or xz) from ``src``, sequentially;
    ``head`` is its first bytes when the caller has already looked at them (they must
    also be the first bytes ``src`` yields). The uncompressed tar's digest is
    ``Layer.diff_id`` and must equal ``diff_id`` when given. Raises InputError on a
    malformed archive or a digest mismatch."""
    layer = Layer()
    try:
        if head is None:
            head = src.read(BLOCK)
            src = SubSource(src, None, head)
        kind = compression(head)
        if kind == "zstd":
            raise TarError("zstd-compressed layers are not supported")
        plain = _Hashing(DecompressSource(src, kind) if kind else src)
        tar = TarReader(plain)
        while (entry := tar.next()) is not None:
            _add_member(layer, tar, entry, pipeline, retain == "all")
        plain.drain()
        src.drain()
    except TarError as exc:
        raise InputError(f"malformed layer archive: {exc}") from None
    layer.diff_id = "sha256:" + plain.hash.hexdigest()
    if diff_id is not None and layer.diff_id != diff_id:
        raise InputError(f"layer content digest {layer.diff_id} does not match the config's "
                         f"diff_id {diff_id}")
    return layer


def _add_member(layer: Layer, tar: TarReader, e: TarEntry, pipeline: HashPipeline,
                keep_all: bool) -> None:
    path = paths.normalize(_decode(e.name))
    base = path.rsplit("/", 1)[-1]
    if base.startswith(WHITEOUT):
        parent = paths.dirname(path)
        if base == OPAQUE:
            layer.opaque.append(parent)
        elif not base.startswith(WHITEOUT + WHITEOUT):  # other .wh..wh. names: metadata
            layer.whiteouts.append(paths.join(parent, base[len(WHITEOUT):]))
        return
    typ = e.type
    if path == "/" and typ != 0x35:
        return  # the root can only be a directory
    mode = e.mode & 0o7777
    uid, gid = max(0, e.uid), max(0, e.gid)
    if typ == 0x31:  # hardlink
        layer.members.append(Member(path, None, mode, uid, gid,
                                    link=paths.normalize(_decode(e.linkname))))
        return
    kind = _KINDS.get(typ)
    if kind is None:  # regular (and unknown types, as tar readers treat them)
        first = True
        for piece in tar.contents():
            if first:
                first = False
                if not keep_all and not _wanted(path, mode, e.realsize, (
                        bytes(piece[:4]) if not isinstance(piece, int) else b"\0" * 4)):
                    pipeline.discard()
            if isinstance(piece, int):
                pipeline.feed_zeros(piece)
            else:
                pipeline.feed(piece)
        layer.members.append(Member(path, "file", mode, uid, gid, size=e.realsize,
                                    blob=pipeline.end()))
    elif kind == "symlink":
        layer.members.append(Member(path, "symlink", mode, uid, gid,
                                    target=_decode(e.linkname)))
    elif kind in ("char", "block"):
        layer.members.append(Member(path, kind, mode, uid, gid, devmajor=e.devmajor,
                                    devminor=e.devminor))
    else:
        layer.members.append(Member(path, kind, mode, uid, gid))


class FSBuilder:
    """Applies layers in order to build the merged view."""

    def __init__(self) -> None:
        self.entries: dict[str, FileEntry] = {"/": FileEntry("/", "dir", 0o755, 0, 0)}
        self.children: dict[str, set[str]] = {"/": set()}
        self.warnings: list[str] = []
        self._next_inode = 2
        self.entries["/"].inode = 1

    # -- helpers -------------------------------------------------------------------
    def _inode(self) -> int:
        self._next_inode += 1
        return self._next_inode

    def _remove(self, path: str) -> None:
        if path == "/":
            self._clear_children("/")
            return
        entry = self.entries.pop(path, None)
        if entry is None:
            return
        self.children.get(paths.dirname(path), set()).discard(paths.basename(path))
        if entry.kind == "dir":
            stack = [path]
            while stack:
                d = stack.pop()
                for name in self.children.pop(d, set()):
                    child = d.rstrip("/") + "/" + name
                    gone = self.entries.pop(child, None)
                    if gone is not None and gone.kind == "dir":
                        stack.append(child)

    def _clear_children(self, directory: str) -> None:
        for name in list(self.children.get(directory, ())):
            self._remove(directory.rstrip("/") + "/" + name)

    def _ensure_dir(self, path: str) -> str:
        """Make sure directory ``path`` exists (mkdir -p semantics). A parent that is a
        symlink to a directory is followed inside the image, as the kernel would when
        Docker unpacks the layer. Returns the real directory path."""
        current = "/"
        for part in paths.split(path):
            cand = current.rstrip("/") + "/" + part
            entry = self.entries.get(cand)
            if entry is not None and entry.kind == "symlink":
                real = self.resolve(cand)
                real_entry = self.entries.get(real) if real else None
                if real is not None and real_entry is not None and real_entry.kind == "dir":
                    current = real
                    continue
                self._remove(cand)
                entry = None
            if entry is not None and entry.kind != "dir":
                self._remove(cand)
                entry = None
            if entry is None:
                self.entries[cand] = FileEntry(cand, "dir", 0o755, 0, 0, inode=self._inode())
                self.children.setdefault(current, set()).add(part)
                self.children.setdefault(cand, set())
            current = cand
        return current

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        return resolve(self.entries, path, follow_last=follow_last)

    # -- applying ------------------------------------------------------------------
    def apply(self, layer: Layer) -> None:
        for d in layer.opaque:
            if self.entries.get(d, None) is not None and self.entries[d].kind == "dir":
                self._clear_children(d)
        for w in layer.whiteouts:
            if w != "/":
                self._remove(w)
        for m in layer.members:
            self._place(m)

    def _place(self, m: Member) -> None:
        if m.path == "/":
            root = self.entries["/"]
            root.mode, root.uid, root.gid = m.mode, m.uid, m.gid
            return
        parent = self._ensure_dir(paths.dirname(m.path))
        name = paths.basename(m.path)
        path = parent.rstrip("/") + "/" + name
        existing = self.entries.get(path)
        if m.kind is None:  # hardlink
            assert m.link is not None
            # like link(2): the target's parents are followed, its last component not
            real = self.resolve(m.link, follow_last=False)
            src = self.entries.get(real) if real is not None else None
            if src is None or src.kind == "dir":
                self.warnings.append(f"hardlink {path} -> {m.link}: target missing; skipped")
                return
            if src is existing:
                return
            if existing is not None:
                self._remove(path)
            entry = FileEntry(path, src.kind, src.mode, src.uid, src.gid, size=src.size,
                              sha256=src.sha256, target=src.target, inode=src.inode,
                              devmajor=src.devmajor, devminor=src.devminor, blob=src.blob)
        else:
            if existing is not None:
                if existing.kind == "dir" and m.kind == "dir":
                    existing.mode, existing.uid, existing.gid = m.mode, m.uid, m.gid
                    return
                self._remove(path)
            entry = FileEntry(path, m.kind, m.mode, m.uid, m.gid, size=m.size,
                              target=m.target, inode=self._inode(), devmajor=m.devmajor,
                              devminor=m.devminor, blob=m.blob)
        self.entries[path] = entry
        self.children.setdefault(parent, set()).add(name)
        if entry.kind == "dir":
            self.children.setdefault(path, set())

    def finish(self) -> dict[str, FileEntry]:
        """Fill in hashes (now that the hash worker is done) and link counts."""
        counts: dict[int, int] = {}
        for e in self.entries.values():
            if e.kind == "file" and e.blob is not None:
                e.sha256 = e.blob.sha256
                e.size = e.blob.size
            counts[e.inode] = counts.get(e.inode, 0) + 1
        for e in self.entries.values():
            e.nlink = counts[e.inode]
        return self.entries


MAX_SYMLINK_HOPS = 40


class SymlinkLoop(Exception):
    pass


def resolve(entries: dict[str, FileEntry], path: str, *,
            follow_last: bool = True) -> str | None:
    """Canonical path inside the image: symlinks followed (absolute targets are relative
    to the image root), ``..`` clamped at the root. Returns None for a symlink loop (more
    than 40 hops) or when a non-final component is not a directory. The last component
    need not exist."""
    todo = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while todo:
        comp = todo.pop()
        if comp == "..":
            if resolved:
                resolved.pop()
            continue
        cand = "/" + "/".join([*resolved, comp])
        entry = entries.get(cand)
        if entry is not None and entry.kind == "symlink" and (todo or follow_last):
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None
            target = entry.target or ""
            if target.startswith("/"):
                resolved = []
            todo.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
            continue
        if entry is not None and entry.kind != "dir" and todo:
            return None
        resolved.append(comp)
    return "/" + "/".join(resolved)
