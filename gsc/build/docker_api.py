"""The few Docker Engine operations gsc's build side needs, with clear errors.

Images are built from an in-memory context (a tar made here, holding only gsc's files and
never a key), tagged only after the build succeeded, and files are read back from an
image by creating (never starting) a container.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable, Mapping
from typing import Any

import docker
import docker.errors

from gsc.errors import GscError, InputError

_MAX_GSC_FILE = 64 * 1024 * 1024


def connect() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise GscError(f"cannot reach the Docker Engine: {exc}") from None
    return client


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


def build_image(
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
        raise GscError(f"docker build failed: {exc.explanation or exc}") from None
    if last_error is not None:
        raise GscError(f"docker build failed: {last_error}")
    if image_id is None:
        raise GscError("docker build did not report an image ID")
    return str(client.images.get(image_id).id)


def tag_image(client: docker.DockerClient, image_id: str, tag: str) -> None:
    repo, _, version = tag.rpartition(":")
    if not repo or "/" in version:
        repo, version = tag, "latest"
    try:
        ok = client.api.tag(image_id, repo, version, force=True)
    except docker.errors.APIError as exc:
        raise GscError(f"cannot tag image as {tag}: {exc.explanation or exc}") from None
    if ok is False:
        raise GscError(f"cannot tag image as {tag}")


def image_attrs(client: docker.DockerClient, ref: str) -> dict[str, Any]:
    try:
        return dict(client.images.get(ref).attrs)
    except docker.errors.ImageNotFound:
        raise InputError(f"image {ref!r} not found locally") from None
    except docker.errors.APIError as exc:
        raise InputError(f"cannot inspect image {ref!r}: {exc.explanation or exc}") from None


def read_gsc_files(client: docker.DockerClient, image_id: str, directory: str) -> dict[str, bytes]:
    """Regular files directly inside `directory` of an image, by base name.

    Creates a container without starting it (works for FROM-scratch images), copies the
    directory out as a tar, reads only regular members of bounded size, removes the container.
    """
    try:
        container = client.containers.create(image_id, entrypoint=["/nonexistent"], command=[])
    except docker.errors.APIError as exc:
        raise InputError(f"cannot open image {image_id}: {exc.explanation or exc}") from None
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
            if member.size > _MAX_GSC_FILE:
                raise InputError(f"{directory}/{parts[1]} in the image is implausibly large")
            f = tar.extractfile(member)
            if f is not None:
                out[parts[1]] = f.read()
    return out
