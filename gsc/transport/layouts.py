"""The file forms of an image, read and written: ``docker-archive`` (a `docker save`
tar), ``oci`` (an OCI image layout directory) and ``oci-archive`` (a tar of one).

Reading copies every blob into a private directory, checking its digest as it goes (a
docker-archive layer is named by path, so its digest is computed). Archive member names
only select members: nothing is ever extracted to a name taken from the archive.
Writing is deterministic (sorted, fixed owner, mode and mtime, no PAX headers) and
atomic: a temporary file or directory beside the destination, renamed into place.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gsc.errors import InputError
from gsc.transport.blobs import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_DOC,
    OCI_INDEX,
    Descriptor,
    LayerBlob,
    Parts,
    canonical_json,
    check_bytes,
    copy_hashing,
    copy_verified,
    diff_ids,
    digest_hex,
    hash_file,
    layer_type_of,
    manifest_layers,
    parse_json,
    pick_platform,
    sha256_digest,
)

REF_NAME = "org.opencontainers.image.ref.name"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class Stored:
    """An image read from a file form: its parts (blobs verified, in private files), a
    reference name when the form records one, and its manifest digest when it has one."""

    parts: Parts
    name: str | None
    manifest_digest: str | None


def _norm(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, what: str) -> bytes:
    if member.size > MAX_DOC:
        raise InputError(f"{what} is too large")
    f = tar.extractfile(member)
    if f is None:
        raise InputError(f"{what} is not a file")
    return f.read(MAX_DOC + 1)


def _open_tar(path: str, what: str, stream: bool = False) -> tarfile.TarFile:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise InputError(f"{what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {path}: not a regular file")
    try:
        return tarfile.open(path, "r|*") if stream else tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{what} {path}: not a readable tar archive ({exc})") from None


def read_docker_archive(path: str, workdir: str) -> Stored:
    what = "docker-archive"
    with _open_tar(path, what) as tar:
        try:
            members = {_norm(m.name): m for m in tar.getmembers()}
            man = members.get("manifest.json")
            if man is None:
                raise InputError(f"{what} {path}: no manifest.json")
            doc = _json_any(_read_member(tar, man, f"{what} manifest.json"), "manifest.json")
            if not isinstance(doc, list) or not doc or not isinstance(doc[0], dict):
                raise InputError(f"{what} {path}: malformed manifest.json")
            entry = doc[0]
            config_name, layer_names = entry.get("Config"), entry.get("Layers")
            if not isinstance(config_name, str) or not isinstance(layer_names, list) or not all(
                    isinstance(n, str) for n in layer_names):
                raise InputError(f"{what} {path}: malformed manifest.json")

            def member(name: str) -> tarfile.TarInfo:
                m = members.get(_norm(name))
                if m is None:
                    raise InputError(f"{what} {path}: lacks {name!r}")
                return m

            config = _read_member(tar, member(config_name), f"{what} config")
            _check_named(config, config_name, "config")
            cfg = parse_json(config, "image config")
            ids = diff_ids(cfg)
            if len(ids) != len(layer_names):
                raise InputError(f"{what} {path}: {len(layer_names)} layers for "
                                 f"{len(ids)} diff_ids")
            layers = []
            for name, diff_id in zip(layer_names, ids, strict=True):
                f = tar.extractfile(member(name))
                if f is None:
                    raise InputError(f"{what} {path}: layer {name!r} is not a file")
                blob, digest, size = copy_hashing(f.read, workdir)
                _check_named_digest(digest, name, "layer")
                with open(blob, "rb") as b:
                    media = layer_type_of(b.read(512))
                layers.append(LayerBlob(Descriptor(media, digest, size), diff_id, blob))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(f"{what} {path}: {exc}") from None
    tags = entry.get("RepoTags")
    name = tags[0] if isinstance(tags, list) and tags and isinstance(tags[0], str) else None
    return Stored(Parts(config, tuple(layers)), name, None)


def _check_named(data: bytes, name: str, what: str) -> None:
    _check_named_digest(sha256_digest(data), name, what)


def _check_named_digest(digest: str, name: str, what: str) -> None:
    """Members named by their digest (``blobs/sha256/HEX``, ``HEX.json``) must match."""
    base = name.rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".tar")
    if len(base) == 64 and all(c in "0123456789abcdef" for c in base) and (
            "/blobs/sha256/" in "/" + name or name.endswith(".json")):
        if digest != "sha256:" + base:
            raise InputError(f"{what} {name}: content digest is {digest} (corrupt blob)")


def _json_any(data: bytes, what: str) -> Any:
    import json

    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"malformed {what}: {exc}") from None


class _BlobDir:
    """``DIR/blobs/sha256/HEX`` of a layout; ``verified``: already checked on copy-in."""

    def __init__(self, root: str, verified: bool) -> None:
        self.root = root
        self.verified = verified

    def path(self, digest: str) -> str:
        return os.path.join(self.root, "blobs", "sha256", digest_hex(digest))

    def doc(self, desc: Descriptor, what: str) -> bytes:
        if desc.size > MAX_DOC:
            raise InputError(f"{what} {desc.digest} is too large")
        p = self.path(desc.digest)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise InputError(f"{what} {desc.digest}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_DOC + 1)
        return check_bytes(data, desc.digest, what)

    def layer(self, desc: Descriptor) -> str:
        p = self.path(desc.digest)
        if not self.verified:
            digest, size = hash_file(p)
            if digest != desc.digest:
                raise InputError(f"layer {desc.digest}: content digest is {digest} "
                                 "(corrupt blob)")
            if size != desc.size:
                raise InputError(f"layer {desc.digest}: {size} bytes, expected {desc.size}")
        elif not os.path.isfile(p):
            raise InputError(f"layer {desc.digest} is missing")
        return p


def read_oci_layout(root: str, tag: str | None, what: str, *, verified: bool = False
                    ) -> Stored:
    if not os.path.isfile(os.path.join(root, "oci-layout")):
        raise InputError(f"{what}: not an OCI image layout (no oci-layout file)")
    try:
        with open(os.path.join(root, "index.json"), "rb") as f:
            index = parse_json(f.read(MAX_DOC + 1), "index.json")
    except OSError as exc:
        raise InputError(f"{what}: index.json: {exc.strerror or exc}") from None
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise InputError(f"{what}: malformed index.json")
    entries = [m for m in manifests if isinstance(m, dict)]
    if tag is not None:
        entries = [m for m in entries if isinstance(m.get("annotations"), dict)
                   and m["annotations"].get(REF_NAME) == tag]
        if not entries:
            raise InputError(f"{what}: no image named {tag!r}")
    if len(entries) != 1:
        raise InputError(f"{what}: holds {len(entries)} images; name one (oci:DIR:TAG)"
                         if entries else f"{what}: holds no image")
    blobs = _BlobDir(root, verified)
    desc = Descriptor.from_json(entries[0], "manifest")
    data = blobs.doc(desc, "manifest")
    doc = parse_json(data, "manifest")
    media = doc.get("mediaType") or desc.media_type
    if media in INDEX_TYPES or "manifests" in doc:
        desc = pick_platform(doc, what)
        data = blobs.doc(desc, "manifest")
        doc = parse_json(data, "manifest")
        media = doc.get("mediaType") or desc.media_type
    if media not in MANIFEST_TYPES:
        raise InputError(f"{what}: unsupported manifest type {media!r}")
    name = None
    ann = entries[0].get("annotations")
    if isinstance(ann, dict) and isinstance(ann.get("io.containerd.image.name"), str):
        name = ann["io.containerd.image.name"]
    return Stored(_parts_from(doc, lambda d: blobs.doc(d, "config"), blobs.layer, what),
                  name, sha256_digest(data))


def _parts_from(manifest: dict[str, Any], config_of: Any, layer_of: Any, what: str) -> Parts:
    cfg_desc = Descriptor.from_json(manifest.get("config"), "config")
    config = config_of(cfg_desc)
    _, layers = manifest_layers(manifest, parse_json(config, "image config"), what)
    return Parts(config, tuple(LayerBlob(d, diff_id, layer_of(d)) for d, diff_id in layers))


def parts_from_manifest(manifest: dict[str, Any], config_of: Any, layer_of: Any,
                        what: str) -> Parts:
    return _parts_from(manifest, config_of, layer_of, what)


def read_oci_archive(path: str, workdir: str) -> Stored:
    what = "oci-archive"
    blobdir = os.path.join(workdir, "blobs", "sha256")
    os.makedirs(blobdir, exist_ok=True)
    with _open_tar(path, what, stream=True) as tar:
        try:
            for m in tar:
                name = _norm(m.name)
                if not m.isreg():
                    continue
                if name in ("index.json", "oci-layout"):
                    data = _read_member(tar, m, f"{what} {name}")
                    with open(os.path.join(workdir, name), "wb") as out:
                        out.write(data)
                elif name.startswith("blobs/sha256/") and name.count("/") == 2:
                    f = tar.extractfile(m)
                    if f is None:
                        continue
                    copy_verified(f.read, blobdir, "sha256:" + name.rsplit("/", 1)[1],
                                  m.size, "blob")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(f"{what} {path}: {exc}") from None
    return read_oci_layout(workdir, None, f"{what} {path}", verified=True)


# --------------------------------------------------------------------------- writing


def _info(name: str, size: int, mtime: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(tar: tarfile.TarFile, name: str, layer_or_bytes: LayerBlob | bytes, mtime: int) -> None:
    if isinstance(layer_or_bytes, bytes):
        tar.addfile(_info(name, len(layer_or_bytes), mtime), io.BytesIO(layer_or_bytes))
        return
    with layer_or_bytes.open() as f:
        tar.addfile(_info(name, layer_or_bytes.desc.size, mtime), f)


def docker_archive(out: IO[bytes], parts: Parts, repo_tags: list[str], mtime: int) -> None:
    """Write ``parts`` as a `docker save` tar. Layers only in the daemon are named in
    manifest.json but not written (`docker load` reuses the daemon's copy)."""
    config_name = digest_hex(parts.config_digest) + ".json"
    layer_names = [digest_hex(layer.desc.digest) + ".tar" for layer in parts.layers]
    manifest = canonical_json([{"Config": config_name, "RepoTags": repo_tags or None,
                                "Layers": layer_names}])
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        written: set[str] = set()
        for name, layer in zip(layer_names, parts.layers, strict=True):
            if layer.available and name not in written:
                _add(tar, name, layer, mtime)
                written.add(name)
        _add(tar, config_name, parts.config, mtime)
        _add(tar, "manifest.json", manifest, mtime)


def _layout_files(parts: Parts, manifest: bytes, tag: str | None,
                  index: dict[str, Any] | None = None) -> Iterator[tuple[str, Any]]:
    """(relative name, bytes or LayerBlob) of an OCI layout holding the image, its index
    merged into ``index`` (an existing layout's) with ``tag`` moved to this image."""
    desc: dict[str, Any] = Descriptor("application/vnd.oci.image.manifest.v1+json",
                                      sha256_digest(manifest), len(manifest)).to_json()
    if tag:
        desc["annotations"] = {REF_NAME: tag}
    old = [m for m in (index or {}).get("manifests", []) if isinstance(m, dict)]
    kept = [m for m in old if not (tag and isinstance(m.get("annotations"), dict)
                                   and m["annotations"].get(REF_NAME) == tag)
            and m.get("digest") != desc["digest"]]
    new_index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*kept, desc]}
    seen: set[str] = set()
    for layer in parts.layers:
        if layer.desc.digest not in seen:
            seen.add(layer.desc.digest)
            yield f"blobs/sha256/{digest_hex(layer.desc.digest)}", layer
    yield f"blobs/sha256/{digest_hex(parts.config_digest)}", parts.config
    yield f"blobs/sha256/{digest_hex(sha256_digest(manifest))}", manifest
    yield "oci-layout", OCI_LAYOUT
    yield "index.json", canonical_json(new_index)


def oci_archive(out: IO[bytes], parts: Parts, manifest: bytes, tag: str | None,
                mtime: int) -> None:
    files = list(_layout_files(parts, manifest, tag))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(_info(d, 0, mtime, directory=True))
        for name, item in sorted(files, key=lambda x: x[0]):
            _add(tar, name, item, mtime)


def write_atomic_stream(path: str, writer: Any) -> None:
    """Call ``writer(fileobj)`` on a private temporary file beside ``path``, then rename
    it into place; on any failure nothing is left at (or beside) ``path``."""
    dest = Path(path)
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{path}: directory {parent} does not exist")
    if dest.is_dir():
        raise InputError(f"{path} is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_file(path: str, item: Any) -> None:
    """A blob into a layout directory, atomically (temp beside it, then rename)."""
    if os.path.exists(path):
        return  # content-addressed: already there (index.json is written via a new name)
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(item, bytes):
                f.write(item)
            else:
                with item.open() as src:
                    shutil.copyfileobj(src, f, 1 << 20)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def oci_layout(root: str, parts: Parts, manifest: bytes, tag: str | None) -> None:
    """Write the image into the OCI layout ``root``: a new directory (made beside it and
    renamed into place), or an existing layout (blobs first, index.json replaced last)."""
    dest = Path(root)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"oci:{root}: exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        if not (dest / "oci-layout").is_file():
            raise InputError(f"oci:{root}: a non-empty directory that is not an OCI layout")
        try:
            index = parse_json((dest / "index.json").read_bytes(), "index.json")
        except OSError as exc:
            raise InputError(f"oci:{root}: index.json: {exc.strerror or exc}") from None
        os.makedirs(dest / "blobs" / "sha256", exist_ok=True)
        for name, item in _layout_files(parts, manifest, tag, index):
            if name == "index.json":
                write_atomic_stream(str(dest / name), lambda f, b=item: f.write(b))
            elif name != "oci-layout":
                _write_file(str(dest / name), item)
        return
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"oci:{root}: directory {parent} does not exist")
    tmp = tempfile.mkdtemp(prefix=f".{dest.name}.", dir=parent)
    try:
        os.makedirs(os.path.join(tmp, "blobs", "sha256"))
        for name, item in _layout_files(parts, manifest, tag):
            _write_file(os.path.join(tmp, name), item)
        for dirpath, _dirs, _files in os.walk(tmp):
            os.chmod(dirpath, 0o755)  # noqa: S103 - a published image layout is public
        if dest.is_dir():
            os.rmdir(dest)  # empty
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
