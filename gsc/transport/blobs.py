"""An image's distribution parts: its config bytes and its layer blobs (digest, size,
media type, diff_id, and where the verified bytes are), plus the digests and media types
the formats use. Every blob gsc reads is checked against its digest on the way in
(``copy_verified``); layer diff_ids are checked when a layer is parsed
(gsc.image.layers.read_layer)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gsc.errors import InputError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# Layer media types as written in an OCI manifest (the same bytes, OCI's name).
_AS_OCI = {DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_LAYER: OCI_LAYER}
_LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, DOCKER_LAYER, DOCKER_LAYER_GZIP)

MAX_DOC = 16 << 20  # manifests, indexes, configs
CHUNK = 1 << 20
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


def digest_hex(digest: Any, what: str = "digest") -> str:
    """The hex part of ``sha256:HEX``; InputError for anything else."""
    if not isinstance(digest, str) or not (m := _DIGEST.fullmatch(digest)):
        raise InputError(f"unsupported or malformed {what} {digest!r}")
    return m.group(1)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(doc: Any) -> bytes:
    """The one JSON form gsc writes for configs, manifests and indexes (compact, keys in
    the order given, ASCII): the same document gives the same bytes on every machine."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"malformed {what}: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"malformed {what}: not a JSON object")
    return doc


def oci_layer_type(media_type: str) -> str:
    if media_type not in _LAYER_TYPES:
        raise InputError(f"unsupported layer media type {media_type!r}")
    return _AS_OCI.get(media_type, media_type)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    @classmethod
    def from_json(cls, doc: Any, what: str) -> Descriptor:
        if not isinstance(doc, dict):
            raise InputError(f"malformed {what} descriptor")
        size = doc.get("size")
        media = doc.get("mediaType")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or not isinstance(
                media, str):
            raise InputError(f"malformed {what} descriptor")
        digest = doc.get("digest")
        digest_hex(digest, f"{what} digest")
        return cls(media, str(digest), size)


@dataclass(frozen=True)
class LayerBlob:
    """One layer as stored: ``desc`` describes the blob (compressed or not), ``diff_id``
    is the digest of its uncompressed tar. The bytes are in ``path`` (verified) or
    ``data``; neither: the layer is only in the Docker daemon the image came from."""

    desc: Descriptor
    diff_id: str
    path: str | None = None
    data: bytes | None = None

    @property
    def available(self) -> bool:
        return self.path is not None or self.data is not None

    def open(self) -> Any:
        import io

        if self.data is not None:
            return io.BytesIO(self.data)
        if self.path is None:
            raise InputError(f"layer {self.desc.digest} is not available outside the daemon")
        return open(self.path, "rb")


@dataclass(frozen=True)
class Parts:
    """What a writer needs of an image: its config bytes and its layers, in order."""

    config: bytes
    layers: tuple[LayerBlob, ...]

    @property
    def config_digest(self) -> str:
        return sha256_digest(self.config)


def diff_ids(config: dict[str, Any]) -> list[str]:
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list):
        raise InputError("image config lacks rootfs.diff_ids")
    for d in ids:
        digest_hex(d, "diff_id")
    return [str(d) for d in ids]


def copy_verified(read: Callable[[int], bytes], dest_dir: str, digest: str,
                  size: int | None, what: str) -> str:
    """Stream ``read`` into a private file in ``dest_dir`` named by the digest's hex,
    checking size and digest; returns the path. InputError on a mismatch (the partial
    file is removed)."""
    hexd = digest_hex(digest, f"{what} digest")
    final = os.path.join(dest_dir, hexd)
    if os.path.exists(final):
        return final
    tmp = final + ".part"
    h = hashlib.sha256()
    n = 0
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            while chunk := read(CHUNK):
                h.update(chunk)
                n += len(chunk)
                if size is not None and n > size:
                    raise InputError(f"{what} {digest}: more bytes than its size {size}")
                f.write(chunk)
        if size is not None and n != size:
            raise InputError(f"{what} {digest}: {n} bytes, expected {size}")
        got = "sha256:" + h.hexdigest()
        if got != digest:
            raise InputError(f"{what} {digest}: content digest is {got} (corrupt blob)")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return final


def check_bytes(data: bytes, digest: str, what: str) -> bytes:
    got = sha256_digest(data)
    if got != digest:
        raise InputError(f"{what} {digest}: content digest is {got} (corrupt blob)")
    return data


def pick_platform(index: dict[str, Any], what: str) -> Descriptor:
    """linux/amd64 from an image index (the only entry when there is one)."""
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise InputError(f"{what}: the image index lists no manifest")
    descs = [d for d in manifests if isinstance(d, dict)]
    if len(descs) == 1:
        return Descriptor.from_json(descs[0], "manifest")
    for d in descs:
        plat = d.get("platform")
        if isinstance(plat, dict) and plat.get("os") == "linux" and plat.get(
                "architecture") == "amd64":
            return Descriptor.from_json(d, "manifest")
    raise InputError(f"{what}: the image index has no linux/amd64 manifest")


def manifest_layers(manifest: dict[str, Any], config: dict[str, Any], what: str,
                    ) -> tuple[Descriptor, list[tuple[Descriptor, str]]]:
    """(config descriptor, [(layer descriptor, diff_id)]) of an image manifest, checked
    against the config's rootfs.diff_ids count."""
    cfg = Descriptor.from_json(manifest.get("config"), "config")
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise InputError(f"{what}: malformed manifest (no layers)")
    descs = [Descriptor.from_json(d, "layer") for d in layers]
    ids = diff_ids(config)
    if len(ids) != len(descs):
        raise InputError(f"{what}: manifest lists {len(descs)} layers, config {len(ids)}")
    return cfg, list(zip(descs, ids, strict=True))


def oci_manifest(parts: Parts) -> bytes:
    """The OCI image manifest of ``parts`` (canonical bytes)."""
    return canonical_json({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": Descriptor(OCI_CONFIG, parts.config_digest, len(parts.config)).to_json(),
        "layers": [Descriptor(oci_layer_type(layer.desc.media_type), layer.desc.digest,
                              layer.desc.size).to_json() for layer in parts.layers],
    })


def copy_hashing(read: Callable[[int], bytes], dest_dir: str) -> tuple[str, str, int]:
    """Stream ``read`` into ``dest_dir``; (path named by digest hex, digest, size)."""
    h = hashlib.sha256()
    n = 0
    fd, tmp = _temp(dest_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            while chunk := read(CHUNK):
                h.update(chunk)
                n += len(chunk)
                f.write(chunk)
        final = os.path.join(dest_dir, h.hexdigest())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return final, "sha256:" + h.hexdigest(), n


def _temp(dest_dir: str) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=".part-", dir=dest_dir)


def hash_file(path: str) -> tuple[str, int]:
    """(digest, size) of a regular file (not followed if a symlink)."""
    h = hashlib.sha256()
    n = 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        import stat

        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError(f"{path}: not a regular file")
        while chunk := f.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
    return "sha256:" + h.hexdigest(), n


def layer_type_of(head: bytes) -> str:
    """The OCI media type of a layer blob from its first bytes (gzip or plain tar)."""
    from gsc.image.tarstream import compression

    kind = compression(head)
    if kind is None:
        return OCI_LAYER
    if kind == "gzip":
        return OCI_LAYER_GZIP
    return f"{OCI_LAYER}+{kind}"  # readable; refused by oci_layer_type for output
