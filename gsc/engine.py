"""The one owner of gsc's Docker Engine connection, with clear errors.

Everything gsc asks the Engine goes through here (but the export that ``gsc build`` asks
for before its heavy imports: gsc.early_export): finding (and pulling) an image,
streaming its ``docker save`` export, reading a directory of an image without running it,
building from an in-memory context (holding only gsc's files, never a key) and tagging.
docker-py's private calls used to stream the export straight into gsc's buffers are
isolated in ``_raw_export``; if a docker-py release drops them, the public chunk generator
is used instead.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import tarfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import docker
import docker.errors

from gsc.errors import GscError, InputError
from gsc.image.reference import ImageRef

CHUNK = 1 << 20
_MAX_DIR_FILE = 64 * 1024 * 1024


def connect() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        raise InputError(f"cannot reach the Docker Engine: {exc}") from None
    return client


def _explain(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def inspect(client: docker.DockerClient, ref: ImageRef, *, pull: bool = False) -> dict[str, Any]:
    """The Engine's inspect attributes of image ``ref``; pulled first when missing and
    ``pull`` is set. InputError when the image cannot be had."""
    try:
        return dict(client.images.get(ref.text).attrs)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise InputError(f"image {ref.text!r}: {_explain(exc)}") from None
    if not pull or ref.is_id:
        raise InputError(f"image {ref.text!r} is not present locally"
                         + (" (pulling disabled)" if not pull else ""))
    try:
        repo, tag = ref.pull_args
        client.images.pull(repo, tag=tag)
        return dict(client.images.get(ref.text).attrs)
    except Exception as exc:
        raise InputError(f"image {ref.text!r} is neither local nor pullable: {_explain(exc)}"
                         ) from None


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


def _raw_export(api: Any, image_id: str) -> tuple[Any, Callable[[], None]] | None:
    """docker-py private API: the HTTP response of GET /images/ID/get, read straight into
    our buffers (http.client de-chunks into them). None when the SDK lacks these calls."""
    try:
        res = api._get(api._url("/images/{0}/get", image_id), stream=True)
        api._raise_for_status(res)
    except AttributeError:
        return None
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


def export(client: docker.DockerClient, image_id: str) -> tuple[Any, Callable[[], None]]:
    """(stream with read (and readinto when possible) over the ``docker save`` tar of
    ``image_id``, function that closes it and unblocks a thread waiting in a read)."""
    try:
        raw = _raw_export(client.api, image_id)
        if raw is not None:
            return raw
        return _IterStream(iter(client.api.get_image(image_id, chunk_size=CHUNK))), lambda: None
    except Exception as exc:
        raise InputError(f"cannot export image {image_id}: {_explain(exc)}") from None


def read_dir(client: docker.DockerClient, image_id: str, directory: str) -> dict[str, bytes]:
    """Regular files directly inside ``directory`` of an image, by base name.

    Creates a container without starting it (works for FROM-scratch images), copies the
    directory out as a tar, reads only regular members of bounded size, removes the
    container."""
    try:
        container = client.containers.create(image_id, entrypoint=["/nonexistent"], command=[])
    except docker.errors.APIError as exc:
        raise InputError(f"cannot open image {image_id}: {_explain(exc)}") from None
    try:
        try:
            stream, _stat = container.get_archive(directory)
        except docker.errors.NotFound:
            return {}
        data = b"".join(stream)
    finally:
        container.remove(force=True)
    out: dict[str, bytes] = {}
    base = directory.strip("/").split("/")[-1]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            parts = member.name.split("/")
            if len(parts) != 2 or parts[0] != base or not member.isreg():
                continue
            if member.size > _MAX_DIR_FILE:
                raise InputError(f"{directory}/{parts[1]} in the image is implausibly large")
            f = tar.extractfile(member)
            if f is not None:
                out[parts[1]] = f.read()
    return out


def context_tar(files: Mapping[str, tuple[bytes, int]]) -> bytes:
    """A reproducible tar of {name: (data, mode)}: fixed owner, mtime 0, sorted names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    info.mtime = 0
                    tar.addfile(info)
            data, mode = files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build(
    client: docker.DockerClient,
    context: bytes,
    *,
    labels: Mapping[str, str] | None = None,
    log: Callable[[str], None] | None = None,
) -> str:
    """Build an image from a context tar; return its ID. Leaves no tag and no containers."""
    image_id: str | None = None
    last_error: str | None = None
    try:
        stream = client.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels=dict(labels or {}),
        )
        for chunk in stream:
            if "error" in chunk:
                last_error = str(chunk["error"]).strip()
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
            text = chunk.get("stream")
            if isinstance(text, str):
                m = re.match(r"Successfully built ([0-9a-f]{12,64})", text.strip())
                if m and image_id is None:
                    image_id = m.group(1)
                if log and text.strip():
                    log(text.strip())
    except docker.errors.APIError as exc:
        raise GscError(f"docker build failed: {_explain(exc)}") from None
    if last_error is not None:
        raise GscError(f"docker build failed: {last_error}")
    if image_id is None:
        raise GscError("docker build did not report an image ID")
    return str(client.images.get(image_id).id)


def tag(client: docker.DockerClient, image_id: str, repository: str, version: str) -> None:
    try:
        ok = client.api.tag(image_id, repository, version, force=True)
    except docker.errors.APIError as exc:
        raise GscError(f"cannot tag image as {repository}:{version}: {_explain(exc)}") from None
    if ok is False:
        raise GscError(f"cannot tag image as {repository}:{version}")


def load(client: docker.DockerClient, archive: Any) -> str:
    """`docker load` a `docker save` archive (a binary file object, streamed); return the
    loaded image's ID. The archive's manifest.json should carry no RepoTags (tag after
    checking the ID)."""
    loaded: str | None = None
    try:
        for chunk in client.api.load_image(archive, quiet=True):
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk:
                raise GscError(f"docker load failed: {str(chunk['error']).strip()}")
            text = str(chunk.get("stream") or "")
            m = re.search(r"Loaded image ID: (sha256:[0-9a-f]{64})", text)
            if m:
                loaded = m.group(1)
    except docker.errors.APIError as exc:
        raise GscError(f"docker load failed: {_explain(exc)}") from None
    if loaded is None:
        raise GscError("docker load did not report an image ID")
    return loaded
