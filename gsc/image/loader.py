"""Finding an image through the Docker Engine API (by name, ID or digest; pulled when
missing) and reading it with ``docker save`` into a private temporary directory."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gsc.errors import InputError
from gsc.image.archive import read_saved
from gsc.image.config import parse_config
from gsc.image.fs import ImageFS
from gsc.image.layers import Retain
from gsc.image.model import ImageConfig
from gsc.image.store import CHUNK, ContentStore
from gsc.image.tarstream import ReaderSource


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


class _IterStream:
    """A ``read(n)`` view over an iterator of byte chunks (the SDK's generator)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, size: int) -> bytes:
        if not self._buf:
            self._buf = next(self._chunks, b"")
        data, self._buf = self._buf[:size], self._buf[size:]
        return data


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


def _export(client: Any, image_id: str) -> tuple[Any, Callable[[], None]]:
    """(stream with readinto/read over the ``docker save`` tar, function to close it;
    that also unblocks a thread waiting in a read).

    Reads the HTTP body straight into our buffers (http.client de-chunks into them)
    when the SDK's response allows it, else falls back to the SDK's chunk generator."""
    api = client.api
    try:
        res = api._get(api._url("/images/{0}/get", image_id), stream=True)
        api._raise_for_status(res)
    except AttributeError:
        return _IterStream(iter(api.get_image(image_id, chunk_size=CHUNK))), lambda: None
    sock = None
    with contextlib.suppress(Exception):
        sock = api._get_raw_response_socket(res)
        # as the SDK does for raw streams: exporting a big image may take a while
        api._disable_socket_timeout(sock)

    def close() -> None:
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            res.close()

    fp = getattr(res.raw, "_fp", None)
    if fp is not None and callable(getattr(fp, "readinto", None)) and not res.headers.get(
            "Content-Encoding"):
        return fp, close
    return _IterStream(res.iter_content(CHUNK, False)), close


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


def _private_store() -> tuple[ContentStore, weakref.finalize]:  # type: ignore[type-arg]
    """A content store in a fresh private (0700) temp dir, and the finalizer that closes
    it and removes the directory (called on error, on Image.close, or at exit)."""
    tmpdir = tempfile.mkdtemp(prefix="gsc-image-")
    store = ContentStore(tmpdir)

    def cleanup(store: ContentStore = store, tmpdir: str = tmpdir) -> None:
        store.close()
        shutil.rmtree(tmpdir, ignore_errors=True)

    return store, weakref.finalize(store, cleanup)


def load_image(ref: str, *, pull: bool = True, client: Any | None = None,
               retain: Retain = "needed",
               progress: Callable[[int, int], None] | None = None) -> Image:
    """Read image ``ref`` (name[:tag], name@digest, or ID) completely: config and merged
    file system with SHA-256 of every regular file. Contents live in a private temp
    dir until the Image is closed; by default only the contents gsc can need are kept
    (ELF objects, scripts, executables, /etc, /gsc, small files: see
    ``gsc.image.layers.Retain``), ``retain="all"`` keeps all. ``progress(done, total)`` is
    called (from a reader thread) as bytes of the export arrive; total is the image's
    size as the Engine reports it (0 if unknown). Raises InputError when the image
    cannot be had."""
    if not ref or ref.startswith("-") or any(c.isspace() for c in ref):
        raise InputError(f"invalid image reference {ref!r}")
    if client is None:
        client = docker_client()
    image = _find(client, ref, pull)
    image_id = str(image.id)
    attrs = image.attrs or {}
    store, finalizer = _private_store()
    try:
        try:
            stream, close_stream = _export(client, image_id)
        except Exception as exc:
            raise InputError(f"cannot export image {ref!r}: {exc}") from None
        if progress is not None:
            total = int(attrs.get("Size") or 0)
            stream = _Counting(stream, lambda done: progress(done, total))
        src = ReaderSource(stream, threaded=True)
        try:
            saved = read_saved(src, store, image_id=image_id, retain=retain)
        except InputError:
            raise
        except Exception as exc:  # transport errors mid-stream
            raise InputError(f"cannot read image {ref!r}: {type(exc).__name__}: {exc}") from None
        finally:
            close_stream()
            src.close()
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
                 retain: Retain = "needed") -> Image:
    """Read a ``docker save`` archive (either layout) from a binary stream; for tests
    and for archives on disk."""
    store, finalizer = _private_store()
    try:
        saved = read_saved(stream, store, image_id=image_id, retain=retain)
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
