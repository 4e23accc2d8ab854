"""Image sources: where gsc reads an image from. One interface, two implementations.

``ImageSource`` gives an image's ID, the reference it was asked for, its repository
digests and tags, its config (cheap, no content read), a directory's regular files
(``read_dir``, cheap) and the complete merged file system (``open``: reads and hashes every
layer into a private temporary store).

- ``DaemonSource``: an image in the local Docker Engine (found by name, ID or digest,
  pulled when missing and allowed), read with ``docker save`` through gsc.engine.
- ``ArchiveSource``: a ``docker save`` archive (either layout) from a binary stream.

Every command (inspect, build, sign-image, info-image, verify-image) reads through this.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gsc import engine
from gsc.errors import InputError
from gsc.image import paths
from gsc.image.archive import OtherImage, SavedImage, read_saved
from gsc.image.config import parse_config
from gsc.image.fs import ImageFS
from gsc.image.layers import Retain
from gsc.image.model import ImageConfig
from gsc.image.reference import ImageRef
from gsc.image.store import ContentStore
from gsc.image.tarstream import ReaderSource

if TYPE_CHECKING:
    from gsc.early_export import EarlyExport

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Image:
    """An image read completely: config and merged file system. Use as a context manager
    (or call ``close()``) to delete its private temporary directory."""

    id: str
    ref: str
    repo_digests: list[str]
    config: ImageConfig
    fs: ImageFS
    layout: str = "docker-archive"
    warnings: list[str] = field(default_factory=list)
    repo_tags: list[str] = field(default_factory=list)
    config_bytes: bytes = field(default=b"", repr=False, compare=False)
    _cleanup: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageSource(ABC):
    """Where an image comes from (see the module docstring)."""

    id: str
    ref: str
    digests: tuple[str, ...]
    tags: tuple[str, ...]
    config: ImageConfig

    @abstractmethod
    def read_dir(self, directory: str) -> dict[str, bytes]:
        """Regular files directly inside ``directory``, by base name ({} if none)."""

    @abstractmethod
    def open(self, *, retain: Retain = "needed", progress: Progress | None = None) -> Image:
        """The complete image (config and merged file system with SHA-256 of every
        regular file). The caller closes it."""


class _Counting:
    """Pass reads through to a stream, reporting the running byte count."""

    def __init__(self, stream: Any, report: Callable[[int], None]) -> None:
        self._stream = stream
        self._report = report
        self._done = 0

    def _count(self, n: int) -> None:
        self._done += n
        self._report(self._done)

    def readinto(self, buf: Any) -> int:
        n = int(self._stream.readinto(buf) or 0)
        self._count(n)
        return n

    def read(self, size: int) -> bytes:
        data: bytes = self._stream.read(size)
        self._count(len(data))
        return data


def _private_store() -> tuple[ContentStore, weakref.finalize]:  # type: ignore[type-arg]
    """A content store in a fresh private (0700) temp dir, and the finalizer that closes
    it and removes the directory (called on error, on Image.close, or at exit)."""
    tmpdir = tempfile.mkdtemp(prefix="gsc-image-")
    store = ContentStore(tmpdir)

    def cleanup(store: ContentStore = store, tmpdir: str = tmpdir) -> None:
        store.close()
        shutil.rmtree(tmpdir, ignore_errors=True)

    return store, weakref.finalize(store, cleanup)


class DaemonSource(ImageSource):
    """An image of the local Docker Engine. ``export``: its ``docker save`` already asked
    for by name (gsc.early_export), read instead of a new export when the Engine answered
    it and when it holds the image found here."""

    def __init__(self, ref: str, *, pull: bool = True, client: Any | None = None,
                 export: EarlyExport | None = None) -> None:
        self._early = export
        self.reference = ImageRef.parse(ref)
        self.client = client if client is not None else engine.connect()
        attrs = engine.inspect(self.client, self.reference, pull=pull)
        self.id = str(attrs["Id"])
        self.ref = ref
        self.digests = tuple(attrs.get("RepoDigests") or ())
        self.tags = tuple(attrs.get("RepoTags") or ())
        self.size = int(attrs.get("Size") or 0)
        self.config = parse_config({"config": attrs.get("Config"),
                                    "architecture": attrs.get("Architecture"),
                                    "os": attrs.get("Os")})

    def read_dir(self, directory: str) -> dict[str, bytes]:
        return engine.read_dir(self.client, self.id, directory)

    def open(self, *, retain: Retain = "needed", progress: Progress | None = None) -> Image:
        early, self._early = self._early, None
        store, finalizer = _private_store()
        try:
            taken = early.take() if early is not None else None
            try:
                saved = self._read(taken or engine.export(self.client, self.id), store,
                                   retain, progress)
            except OtherImage:
                if taken is None:
                    raise
                # The name moved to another image between the early request and the
                # lookup: read the image found, by ID.
                finalizer()
                store, finalizer = _private_store()
                saved = self._read(engine.export(self.client, self.id), store, retain,
                                   progress)
            config = parse_config(saved.config)
        except BaseException:
            finalizer()
            raise
        return Image(id=self.id, ref=self.ref, repo_digests=list(self.digests), config=config,
                     fs=ImageFS(saved.entries, store), layout=saved.layout,
                     warnings=saved.warnings, repo_tags=list(self.tags),
                     config_bytes=saved.config_bytes, _cleanup=finalizer)

    def _read(self, export: tuple[Any, Callable[[], None]], store: ContentStore,
              retain: Retain, progress: Progress | None) -> SavedImage:
        stream, close_stream = export
        if progress is not None:
            total = self.size
            report = progress
            stream = _Counting(stream, lambda done: report(done, total))
        src = ReaderSource(stream, threaded=True)
        try:
            return read_saved(src, store, image_id=self.id, retain=retain)
        except InputError:
            raise
        except Exception as exc:  # transport errors mid-stream
            raise InputError(
                f"cannot read image {self.ref!r}: {type(exc).__name__}: {exc}") from None
        finally:
            close_stream()
            src.close()


class ArchiveSource(ImageSource):
    """A ``docker save`` archive, read completely when constructed."""

    def __init__(self, stream: Any, *, ref: str = "", image_id: str | None = None,
                 retain: Retain = "all") -> None:
        store, finalizer = _private_store()
        try:
            saved = read_saved(stream, store, image_id=image_id, retain=retain)
            config = parse_config(saved.config)
        except BaseException:
            finalizer()
            raise
        self.id = image_id or "sha256:" + hashlib.sha256(saved.config_bytes).hexdigest()
        self.ref = ref
        self.digests = ()
        self.tags = ()
        self.config = config
        self.image = Image(id=self.id, ref=ref, repo_digests=[], config=config,
                           fs=ImageFS(saved.entries, store), layout=saved.layout,
                           warnings=saved.warnings, config_bytes=saved.config_bytes,
                           _cleanup=finalizer)

    def read_dir(self, directory: str) -> dict[str, bytes]:
        return regular_files_in(self.image, directory)

    def open(self, *, retain: Retain = "needed", progress: Progress | None = None) -> Image:
        return self.image


def regular_files_in(image: Image, directory: str) -> dict[str, bytes]:
    """{name: bytes} of the regular files directly in `directory` of the image (through
    the image's own symlinks; nothing if it does not exist)."""
    fs = image.fs
    real = fs.resolve(directory)
    out: dict[str, bytes] = {}
    if real is None:
        return out
    for name in fs.listdir(real):
        entry = fs.get(paths.normalize(real + "/" + name))
        if entry is not None and entry.kind == "file":
            out[name] = fs.read_bytes(entry.path)
    return out


def load_image(ref: str, *, pull: bool = True, client: Any | None = None,
               retain: Retain = "needed", progress: Progress | None = None) -> Image:
    """Read image ``ref`` (name[:tag], name@digest, or ID) of the local Engine completely
    (see ``DaemonSource``). By default only the contents gsc can need are kept (ELF
    objects, scripts, executables, /etc, /gsc, small files: see
    ``gsc.image.layers.Retain``); ``retain="all"`` keeps all. ``progress(done, total)`` is
    called (from a reader thread) as bytes of the export arrive. Raises InputError when
    the image cannot be had."""
    return DaemonSource(ref, pull=pull, client=client).open(retain=retain, progress=progress)


def load_archive(stream: Any, *, ref: str = "", image_id: str | None = None,
                 retain: Retain = "needed") -> Image:
    """Read a ``docker save`` archive (either layout) from a binary stream."""
    return ArchiveSource(stream, ref=ref, image_id=image_id, retain=retain).image
