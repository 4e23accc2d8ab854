"""Finding an image through the Docker Engine API (by name, ID or digest; pulled when
missing) and reading it with ``docker save`` into a private temporary directory."""

from __future__ import annotations

import io
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gsc.errors import InputError
from gsc.image.archive import read_saved
from gsc.image.config import parse_config
from gsc.image.fs import ImageFS
from gsc.image.model import ImageConfig
from gsc.image.store import CHUNK, ContentStore


@dataclass
class Image:
    """An image read from the engine. Use as a context manager (or call ``close()``)
    to delete its private temporary directory."""

    id: str
    ref: str
    repo_digests: list[str]
    config: ImageConfig
    fs: ImageFS
    layout: str = "docker-archive"
    warnings: list[str] = field(default_factory=list)
    _cleanup: Any = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _IterStream(io.RawIOBase):
    """A file-like view over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buf = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._buf):
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
            self._pos = 0
        n = min(len(buffer), len(self._buf) - self._pos)
        memoryview(buffer)[:n] = memoryview(self._buf)[self._pos:self._pos + n]
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return self.readall()
        if self._pos == 0 and len(self._buf) == size:
            data, self._buf = self._buf, b""
            return data
        out = bytearray()
        while len(out) < size:
            if self._pos >= len(self._buf):
                try:
                    self._buf = next(self._chunks)
                except StopIteration:
                    break
                self._pos = 0
                if not out and len(self._buf) <= size:
                    data, self._buf = self._buf, b""
                    if len(data) == size:
                        return data
                    out += data
                    continue
            take = min(size - len(out), len(self._buf) - self._pos)
            out += self._buf[self._pos:self._pos + take]
            self._pos += take
        return bytes(out)


def _prefetch(chunks: Iterator[bytes], depth: int = 32) -> Iterator[bytes]:
    """Drain the engine's stream on a helper thread so that the engine keeps writing
    while the caller parses (socket reads release the GIL)."""
    import queue
    import threading

    q: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                q.put(chunk)
            q.put(None)
        except BaseException as exc:
            q.put(exc)

    t = threading.Thread(target=pump, name="gsc-save-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.05)


def docker_client() -> Any:
    try:
        import docker

        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except Exception as exc:
        raise InputError(f"cannot reach the Docker Engine: {exc}") from None


def _find(client: Any, ref: str, pull: bool) -> Any:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise InputError(f"image {ref!r}: {exc.explanation or exc}") from None
    if not pull:
        raise InputError(f"image {ref!r} is not present locally (pulling disabled)")
    try:
        repo, tag = _split_ref(ref)
        client.images.pull(repo, tag=tag)
        return client.images.get(ref)
    except docker.errors.APIError as exc:
        msg = str(exc.explanation or exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"image {ref!r} is neither local nor pullable: {msg}") from None
    except Exception as exc:
        raise InputError(f"image {ref!r} is neither local nor pullable: {exc}") from None


def _split_ref(ref: str) -> tuple[str, str | None]:
    """repository and tag-or-digest for a pull (the SDK pulls ':latest' when None)."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, None


def load_image(ref: str, *, pull: bool = True, client: Any | None = None) -> Image:
    """Read image ``ref`` (name[:tag], name@digest, or ID) completely: config and merged
    file system with SHA-256 of every regular file. Contents live in a private temp
    dir until the Image is closed. Raises InputError when the image cannot be had."""
    if not ref or ref.startswith("-") or any(c.isspace() for c in ref):
        raise InputError(f"invalid image reference {ref!r}")
    if client is None:
        client = docker_client()
    image = _find(client, ref, pull)
    image_id = str(image.id)
    attrs = image.attrs or {}
    tmpdir = tempfile.mkdtemp(prefix="gsc-image-")
    store = ContentStore(tmpdir)

    def cleanup(store: ContentStore = store, tmpdir: str = tmpdir) -> None:
        store.close()
        shutil.rmtree(tmpdir, ignore_errors=True)

    finalizer = weakref.finalize(store, cleanup)
    try:
        try:
            chunks = client.api.get_image(image_id, chunk_size=CHUNK)
        except Exception as exc:
            raise InputError(f"cannot export image {ref!r}: {exc}") from None
        try:
            saved = read_saved(_IterStream(_prefetch(iter(chunks))), store, image_id=image_id)  # type: ignore[arg-type]
        except InputError:
            raise
        except Exception as exc:  # transport errors mid-stream
            raise InputError(f"cannot read image {ref!r}: {type(exc).__name__}: {exc}") from None
        config = parse_config(saved.config)
    except BaseException:
        finalizer()
        raise
    img = Image(
        id=image_id,
        ref=ref,
        repo_digests=list(attrs.get("RepoDigests") or []),
        config=config,
        fs=ImageFS(saved.entries, store),
        layout=saved.layout,
        warnings=saved.warnings,
    )
    img._cleanup = finalizer
    return img


def load_archive(stream: Any, *, ref: str = "", image_id: str | None = None,
                 ) -> Image:
    """Read a ``docker save`` archive (either layout) from a binary stream; for tests
    and for archives on disk."""
    tmpdir = tempfile.mkdtemp(prefix="gsc-image-")
    store = ContentStore(tmpdir)

    def cleanup(store: ContentStore = store, tmpdir: str = tmpdir) -> None:
        store.close()
        shutil.rmtree(tmpdir, ignore_errors=True)

    finalizer = weakref.finalize(store, cleanup)
    try:
        saved = read_saved(stream, store, image_id=image_id)
        config = parse_config(saved.config)
    except BaseException:
        finalizer()
        raise
    import hashlib

    img = Image(
        id=image_id or "sha256:" + hashlib.sha256(saved.config_bytes).hexdigest(),
        ref=ref, repo_digests=[], config=config, fs=ImageFS(saved.entries, store),
        layout=saved.layout, warnings=saved.warnings,
    )
    img._cleanup = finalizer
    return img
