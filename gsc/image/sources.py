"""Opening an image by location (gsc.transport.names): the local Docker Engine
(``DaemonSource``), a registry or a file form (``DistSource``, no daemon needed).

    source = open_source("docker://registry.example/app:1")
    with source.open() as image: ...          # config + merged file system
    parts = source.parts(image)               # config bytes + verified layer blobs

``parts`` gives what a writer (gsc.shield.emit) needs to write a new image on top of
this one. Every blob is checked against its digest as it arrives, and every layer's
uncompressed digest against the config's rootfs.diff_ids when it is parsed.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import weakref
from typing import TYPE_CHECKING, Any

from gsc import engine
from gsc.errors import InputError
from gsc.image.config import parse_config
from gsc.image.fs import ImageFS
from gsc.image.layers import FSBuilder, Retain, read_layer
from gsc.image.loader import DaemonSource, Image, ImageSource, Progress, _private_store
from gsc.image.reference import ImageRef
from gsc.image.store import HashPipeline
from gsc.image.tarstream import ReaderSource
from gsc.transport import layouts
from gsc.transport.blobs import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_DOC,
    OCI_LAYER,
    Descriptor,
    LayerBlob,
    Parts,
    copy_hashing,
    diff_ids,
    manifest_layers,
    parse_json,
    pick_platform,
)
from gsc.transport.names import (
    DOCKER_ARCHIVE,
    OCI_ARCHIVE,
    OCI_DIR,
    REGISTRY,
    Location,
    parse_location,
)
from gsc.transport.registry import Access, Client, repo_ref

if TYPE_CHECKING:
    from gsc.early_export import EarlyExport


class _Workdir:
    """A private (0700) temporary directory removed when its owner is collected."""

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="gsc-blobs-")
        self._fin = weakref.finalize(self, shutil.rmtree, self.path, True)

    def close(self) -> None:
        self._fin()


# Work directories of daemon exports, kept (with their source) until process exit.
_KEEP: dict[int, tuple[ImageSource, _Workdir]] = {}


def open_source(text: str, *, pull: bool = True, client: Any | None = None,
                access: Access | None = None,
                export: EarlyExport | None = None) -> ImageSource:
    """The image at ``text`` (a transport location or a bare daemon reference);
    ``export``: a daemon image's export already requested (see DaemonSource)."""
    loc = parse_location(text)
    if loc.daemon:
        return DaemonSource(loc.value, pull=pull, client=client, export=export)
    return DistSource(loc, access)


def source_parts(source: ImageSource, image: Image | None = None, *,
                 blobs: bool = True) -> Parts:
    """The distribution parts of ``source``'s image; for a daemon image without
    ``blobs``, the layers are named (by diff_id) but only the daemon has them."""
    if isinstance(source, DistSource):
        return source.parts()
    if isinstance(source, DaemonSource):
        if not blobs and image is not None and image.config_bytes:
            ids = diff_ids(parse_json(image.config_bytes, "image config"))
            return Parts(image.config_bytes,
                         tuple(LayerBlob(Descriptor(OCI_LAYER, d, 0), d) for d in ids))
        work = _Workdir()
        parts = daemon_parts(source.client, source.id, work.path, blobs=blobs)
        _KEEP[id(source)] = (source, work)
        return parts
    raise InputError(f"{source.ref}: cannot be written out")


def daemon_parts(client: Any, image_id: str, workdir: str, *, blobs: bool) -> Parts:
    """Config bytes and (with ``blobs``) the layer tars of a daemon image, from one pass
    over its `docker save` stream; every layer checked against its diff_id."""
    stream, close = engine.export(client, image_id)
    docs: dict[str, bytes] = {}
    files: dict[str, tuple[str, str, int]] = {}
    aliases: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for m in tar:
                name = layouts._norm(m.name)
                if m.issym() or m.islnk():
                    target = m.linkname if m.islnk() else os.path.normpath(
                        os.path.join(os.path.dirname(name), m.linkname))
                    aliases[name] = layouts._norm(target)
                    continue
                if not m.isreg():
                    continue
                f = tar.extractfile(m)
                if f is None:
                    continue
                if name.endswith((".json", "repositories", "oci-layout")) or (
                        m.size <= MAX_DOC and name.startswith("blobs/") and m.size < 65536):
                    docs[name] = f.read(MAX_DOC + 1)
                elif blobs:
                    files[name] = copy_hashing(f.read, workdir)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"cannot read image {image_id}: {exc}") from None
    finally:
        close()

    def resolve(name: str) -> str:
        name = layouts._norm(name)
        for _ in range(16):
            if name not in aliases:
                break
            name = aliases[name]
        return name

    manifest = docs.get("manifest.json")
    if manifest is None:
        raise InputError(f"image {image_id}: docker save gave no manifest.json")
    entries = layouts._json_any(manifest, "manifest.json")
    want = image_id.removeprefix("sha256:")
    entry = next((e for e in entries if isinstance(e, dict)
                  and want in str(e.get("Config", ""))), None) if isinstance(
        entries, list) else None
    if entry is None or not isinstance(entry.get("Layers"), list):
        raise InputError(f"image {image_id}: malformed manifest.json from docker save")
    config = docs.get(resolve(str(entry["Config"])))
    if config is None:
        raise InputError(f"image {image_id}: docker save gave no config")
    ids = diff_ids(parse_json(config, "image config"))
    if len(ids) != len(entry["Layers"]):
        raise InputError(f"image {image_id}: layer count does not match its config")
    layers = []
    for lname, diff_id in zip(entry["Layers"], ids, strict=True):
        if not blobs:
            layers.append(LayerBlob(Descriptor(OCI_LAYER, diff_id, 0), diff_id))
            continue
        key = resolve(str(lname))
        if key in docs:  # a tiny layer kept as a document
            path, digest, size = copy_hashing(_BytesReader(docs[key]).read, workdir)
        elif key in files:
            path, digest, size = files[key]
        else:
            raise InputError(f"image {image_id}: docker save lacks layer {lname!r}")
        if digest != diff_id:
            raise InputError(f"image {image_id}: layer {lname!r} digest {digest} does not "
                             f"match the config's diff_id {diff_id}")
        layers.append(LayerBlob(Descriptor(OCI_LAYER, digest, size), diff_id, path))
    return Parts(config, tuple(layers))


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        import io

        self._f = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self._f.read(n)


class DistSource(ImageSource):
    """An image in a registry (``docker://``) or a file form (``docker-archive:``,
    ``oci-archive:``, ``oci:``): read without a Docker daemon. Blobs are fetched into a
    private directory (verified) once and kept until the source is collected."""

    def __init__(self, location: Location, access: Access | None = None) -> None:
        self.location = location
        self._work = _Workdir()
        self._client: Client | None = None
        self._parts: Parts | None = None
        self._layers: list[tuple[Descriptor, str]] = []
        self.manifest_digest: str | None = None
        where = str(location)
        if location.transport == REGISTRY:
            self._open_registry(access)
        elif location.transport == DOCKER_ARCHIVE:
            self._set(layouts.read_docker_archive(location.value, self._work.path), where)
        elif location.transport == OCI_ARCHIVE:
            self._set(layouts.read_oci_archive(location.value, self._work.path), where)
        elif location.transport == OCI_DIR:
            if not os.path.isdir(location.value):
                raise InputError(f"{where}: no such directory")
            self._set(layouts.read_oci_layout(location.value, location.tag, where), where)
        else:  # pragma: no cover - parse_location knows no other
            raise InputError(f"{where}: unsupported transport")
        assert self.config_bytes
        self.id = "sha256:" + _sha(self.config_bytes)
        self.config = parse_config(parse_json(self.config_bytes, "image config"))
        if not self.ref:
            self.ref = self.id

    def _set(self, stored: layouts.Stored, where: str) -> None:
        self._parts = stored.parts
        self.config_bytes = stored.parts.config
        self.manifest_digest = stored.manifest_digest
        self.ref = ""
        self.tags: tuple[str, ...] = ()
        self.digests: tuple[str, ...] = ()
        if stored.name:
            try:
                ImageRef.parse(stored.name)
                self.ref, self.tags = stored.name, (stored.name,)
            except InputError:
                pass

    def _open_registry(self, access: Access | None) -> None:
        ref = repo_ref(self.location.value)
        client = Client(ref, access)
        self._client = client
        data, media, top = client.manifest()
        doc = parse_json(data, "manifest")
        media = doc.get("mediaType") or media
        if media in INDEX_TYPES or "manifests" in doc:
            desc = pick_platform(doc, str(self.location))
            data, media, _ = client.manifest(desc.digest)
            doc = parse_json(data, "manifest")
            media = doc.get("mediaType") or media
        if media not in MANIFEST_TYPES:
            raise InputError(f"{self.location}: unsupported manifest type {media!r}")
        self.manifest_digest = "sha256:" + _sha(data)
        cfg = Descriptor.from_json(doc.get("config"), "config")
        self.config_bytes = client.blob_bytes(cfg.digest, cfg.size)
        _, self._layers = manifest_layers(doc, parse_json(self.config_bytes, "image config"),
                                          str(self.location))
        parsed = ImageRef.parse(self.location.value)
        name = f"{parsed.registry}/{parsed.repository}" if parsed.registry else \
            parsed.repository
        self.ref = self.location.value
        self.tags = (self.location.value,) if parsed.tag and not parsed.digest else ()
        self.digests = (f"{name}@{top}",)

    def parts(self) -> Parts:
        """Config and layers with every blob local and verified (downloaded once)."""
        if self._parts is None:
            assert self._client is not None
            layers = []
            for desc, diff_id in self._layers:
                path = self._client.blob_to(desc.digest, desc.size, self._work.path)
                layers.append(LayerBlob(desc, diff_id, path))
            self._parts = Parts(self.config_bytes, tuple(layers))
        return self._parts

    def read_dir(self, directory: str) -> dict[str, bytes]:
        from gsc.image.loader import regular_files_in

        with self.open() as image:
            return regular_files_in(image, directory)

    def open(self, *, retain: Retain = "needed", progress: Progress | None = None) -> Image:
        parts = self.parts()
        total = sum(layer.desc.size for layer in parts.layers)
        store, finalizer = _private_store()
        done = 0
        try:
            builder = FSBuilder()
            pipeline = HashPipeline(store)
            try:
                for layer in parts.layers:
                    with layer.open() as f:
                        src = ReaderSource(f)
                        try:
                            parsed = read_layer(src, pipeline, retain=retain,
                                                diff_id=layer.diff_id)
                        finally:
                            src.close()
                    builder.apply(parsed)
                    done += layer.desc.size
                    if progress is not None:
                        progress(done, total)
            finally:
                pipeline.close()
            entries = builder.finish()
        except BaseException:
            finalizer()
            raise
        return Image(id=self.id, ref=self.ref, repo_digests=list(self.digests),
                     config=self.config, fs=ImageFS(entries, store),
                     layout=self.location.transport, warnings=builder.warnings,
                     repo_tags=list(self.tags), config_bytes=self.config_bytes,
                     _cleanup=finalizer)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._work.close()


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
