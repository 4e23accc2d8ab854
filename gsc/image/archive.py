"""Parsing the stream that ``docker save`` emits, in both layouts:

- classic docker-archive: ``manifest.json`` + ``<id>.json`` config + ``<dir>/layer.tar``
  (identical layers may be symlinks to one another);
- OCI image layout: ``oci-layout``, ``index.json``, ``blobs/sha256/<hex>`` (Docker 25+
  also writes a ``manifest.json`` that points into ``blobs/``).

The outer archive is read once, sequentially. Layer order is only known once the
manifest has been seen, which may come last, so each layer is parsed on arrival into a
list of members (contents hashed and stored on the fly) and the layers are merged
afterwards in manifest order. Small JSON documents are kept in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from typing import IO, Any

from gsc.errors import InputError
from gsc.image import paths
from gsc.image.layers import FSBuilder, Layer, Retain, read_layer
from gsc.image.model import FileEntry
from gsc.image.store import ContentStore, HashPipeline
from gsc.image.tarstream import (
    BLOCK,
    ReaderSource,
    Source,
    TarError,
    TarReader,
    compression,
    header_ok,
)

MAX_JSON = 64 << 20
MAX_DOCS = 256 << 20  # all small JSON documents together
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_INDEX_TYPES = {
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}


@dataclass
class SavedImage:
    config_bytes: bytes
    config: dict[str, Any]
    entries: dict[str, FileEntry]
    layout: str  # "docker-archive" | "oci"
    layer_count: int
    warnings: list[str] = field(default_factory=list)


class OtherImage(InputError):
    """The archive holds another image than the one asked for (its config digest differs
    from the expected image ID)."""


def _looks_like_json(head: bytes) -> bool:
    return head.lstrip()[:1] in (b"{", b"[")


def _looks_like_tar(head: bytes) -> bool:
    return compression(head) is not None or (len(head) == BLOCK and header_ok(head))


def read_saved(stream: IO[bytes] | Source, store: ContentStore, *, image_id: str | None = None,
               retain: Retain = "needed") -> SavedImage:
    """Read a ``docker save`` archive from ``stream`` into ``store``.

    ``image_id`` ("sha256:<hex>"), when given, selects the image in a multi-image archive
    and is checked against the config's digest. ``retain`` says which contents are kept
    (see ``gsc.image.layers``). Raises InputError on malformed input."""
    layers: dict[str, Layer] = {}
    layer_errors: dict[str, str] = {}
    docs: dict[str, bytes] = {}
    docs_bytes = 0
    aliases: dict[str, str] = {}
    pipeline = HashPipeline(store)
    src = stream if isinstance(stream, Source) else ReaderSource(stream)
    try:
        try:
            outer = TarReader(src)
            while (info := outer.next()) is not None:
                name = paths.normalize(info.name.decode("utf-8", "surrogateescape"))
                if info.type in (0x31, 0x32):  # hardlink / symlink: identical layers
                    link = info.linkname.decode("utf-8", "surrogateescape")
                    target = link if info.type == 0x31 else paths.join(
                        paths.dirname(name), link)
                    aliases[name] = paths.normalize(target)
                    continue
                if not info.has_data or info.sparse is not None:
                    continue
                head, member = outer.open_data()
                if info.size <= MAX_JSON and not _looks_like_tar(head) and (
                        _looks_like_json(head) or info.size < BLOCK):
                    docs_bytes += info.size
                    if docs_bytes > MAX_DOCS:
                        raise InputError("image archive holds too many documents")
                    docs[name] = member.read(info.size)
                    continue
                try:
                    layers[name] = read_layer(member, pipeline, head, retain=retain)
                except InputError as exc:
                    layer_errors[name] = exc.message
                    member.drain()
        except TarError as exc:
            raise InputError(f"malformed image archive: {exc}") from None
        finally:
            if isinstance(src, ReaderSource):
                src.close()
    finally:
        pipeline.close()

    def lookup(name: str) -> str:
        seen = 0
        name = paths.normalize(name)
        while name in aliases and seen < 16:
            name = aliases[name]
            seen += 1
        return name

    def doc(name: str, what: str) -> bytes:
        data = docs.get(lookup(name))
        if data is None:
            raise InputError(f"image archive lacks {what} {name!r}")
        return data

    def layer(name: str) -> Layer:
        key = lookup(name)
        if key in layers:
            return layers[key]
        if key in layer_errors:
            raise InputError(f"image archive layer {name!r}: {layer_errors[key]}")
        if key in docs:  # a small layer kept as a document after all
            late = HashPipeline(store)
            try:
                result = read_layer(ReaderSource(io.BytesIO(docs[key])), late, retain=retain)
            finally:
                late.close()
            layers[key] = result
            return result
        raise InputError(f"image archive lacks layer {name!r}")

    config_name, layer_names, layout = _locate(docs, lookup, image_id)
    config_bytes = doc(config_name, "config")
    digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    if image_id is not None and digest != image_id:
        raise OtherImage(f"image archive config digest {digest} does not match {image_id}")
    config = _json(config_bytes, "image config")
    if not isinstance(config, dict):
        raise InputError("image config is not a JSON object")

    ids = _diff_ids(config, len(layer_names))
    builder = FSBuilder()
    for name, diff_id in zip(layer_names, ids, strict=True):
        parsed = layer(name)
        if parsed.diff_id != diff_id:
            raise InputError(f"image archive layer {name!r}: content digest {parsed.diff_id} "
                             f"does not match the config's diff_id {diff_id}")
        builder.apply(parsed)
    entries = builder.finish()
    return SavedImage(config_bytes, config, entries, layout, len(layer_names), builder.warnings)


def _diff_ids(config: dict[str, Any], count: int) -> list[str]:
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(d, str) for d in ids):
        raise InputError("image config lacks rootfs.diff_ids")
    if len(ids) != count:
        raise InputError(f"image archive lists {count} layers, its config {len(ids)} diff_ids")
    return ids


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"malformed {what}: {exc}") from None


def _blob_name(digest: Any) -> str:
    if not isinstance(digest, str) or not (m := _DIGEST.fullmatch(digest)):
        raise InputError(f"unsupported or malformed digest {digest!r} in image archive")
    return f"/blobs/sha256/{m.group(1)}"


def _str_list(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"malformed {what} in image archive")
    return value


def _locate(docs: dict[str, bytes], lookup: Any, image_id: str | None,
            ) -> tuple[str, list[str], str]:
    """(config member, layer members in order, layout name)."""
    want = image_id.split(":", 1)[1] if image_id else None
    if lookup("/manifest.json") in docs:
        manifest = _json(docs[lookup("/manifest.json")], "manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise InputError("malformed manifest.json in image archive")
        chosen = manifest[0]
        for item in manifest:
            if want and isinstance(item, dict) and want in str(item.get("Config", "")):
                chosen = item
                break
        if not isinstance(chosen, dict) or not isinstance(chosen.get("Config"), str):
            raise InputError("malformed manifest.json in image archive")
        layout = "oci" if lookup("/index.json") in docs else "docker-archive"
        return chosen["Config"], _str_list(chosen.get("Layers", []), "layer list"), layout
    if lookup("/index.json") in docs:
        index = _json(docs[lookup("/index.json")], "index.json")
        manifest = _pick_oci_manifest(docs, lookup, index, want, depth=0)
        if not isinstance(manifest.get("config"), dict):
            raise InputError("malformed OCI manifest in image archive")
        layer_descs = manifest.get("layers", [])
        if not isinstance(layer_descs, list) or not all(isinstance(d, dict) for d in layer_descs):
            raise InputError("malformed OCI manifest layers in image archive")
        return (_blob_name(manifest["config"].get("digest")),
                [_blob_name(d.get("digest")) for d in layer_descs], "oci")
    raise InputError("image archive has neither manifest.json nor index.json")


def _pick_oci_manifest(docs: dict[str, bytes], lookup: Any, index: Any, want: str | None,
                       depth: int) -> dict[str, Any]:
    if depth > 4 or not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InputError("malformed OCI index in image archive")
    descs = [d for d in index["manifests"] if isinstance(d, dict)]
    if not descs:
        raise InputError("OCI index in image archive lists no manifest")
    for desc in descs:
        data = docs.get(lookup(_blob_name(desc.get("digest"))))
        if data is None:
            continue
        doc = _json(data, "OCI manifest")
        if not isinstance(doc, dict):
            continue
        media = doc.get("mediaType") or desc.get("mediaType")
        if media in _INDEX_TYPES or "manifests" in doc:
            try:
                return _pick_oci_manifest(docs, lookup, doc, want, depth + 1)
            except InputError:
                continue
        config = doc.get("config")
        if want is None or (isinstance(config, dict) and config.get("digest") == f"sha256:{want}"):
            return doc
    raise InputError("no usable manifest for the image in the OCI index")
