"""Write a planned output image: the base image's layers, one added layer with the /gsc/
files, and a config derived from the base's with the planned entrypoint/cmd and labels.
Everything written is a function of (base image, plan, date), so the same inputs give the
same image ID (config digest) and manifest digest on every machine:

- the added layer is a tar with sorted entries, owner 0:0, the plan's modes, mtime =
  the date at 00:00 UTC, ustar headers (no PAX records), stored uncompressed (its bytes
  do not depend on a compressor's version);
- the config is the base's (minus the fields that describe the base's own build:
  ``container``, ``container_config``, ``docker_version``, ``id``, ``parent``), with
  ``created`` and a history entry from the date, written in one compact JSON form;
- the manifest is an OCI image manifest over the base's layer blobs as they were read
  (a registry's compressed blobs stay byte for byte) and the added layer.

Destinations (gsc.transport.names): ``docker-daemon:REF`` loads a generated `docker save`
archive through the engine (no `docker build`), checks that the daemon's image ID is the
planned config digest, then tags it; ``docker-archive:``/``oci-archive:`` write a file
atomically; ``oci:DIR[:TAG]`` a layout directory; ``docker://REF`` pushes blobs, then the
manifest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import IO, Any

from gsc import __version__, engine
from gsc.errors import GscError, InputError
from gsc.image.reference import check_tag
from gsc.shield import encrypt as encryption
from gsc.shield import layout
from gsc.shield.plan import GscFiles, OutputImage
from gsc.transport import layouts
from gsc.transport.blobs import (
    OCI_LAYER,
    OCI_MANIFEST,
    Descriptor,
    LayerBlob,
    Parts,
    canonical_json,
    diff_ids,
    oci_manifest,
    parse_json,
    sha256_digest,
)
from gsc.transport.names import (
    DAEMON,
    DOCKER_ARCHIVE,
    OCI_ARCHIVE,
    OCI_DIR,
    REGISTRY,
    Location,
)
from gsc.transport.registry import Access, Client, repo_ref

_BASE_BUILD_FIELDS = ("container", "container_config", "docker_version", "id", "parent")


@dataclass(frozen=True)
class Written:
    """Where the image went and its digests: ``image_id`` (config digest, the daemon's
    ID), ``manifest_digest`` (of the OCI manifest; what a registry or OCI layout names
    it by) and ``digest``: the one that names the image at its destination (the manifest
    digest for docker://, oci: and oci-archive:, the image ID otherwise)."""

    destination: str
    tag: str
    image_id: str
    manifest_digest: str

    @property
    def digest(self) -> str:
        loc = self.destination.split(":", 1)[0]
        return self.image_id if loc in (DAEMON, DOCKER_ARCHIVE) else self.manifest_digest


def epoch(date: dt.date) -> int:
    return int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp())


def created(date: dt.date) -> str:
    return f"{date.isoformat()}T00:00:00Z"


def gsc_layer(files: GscFiles, mtime: int) -> bytes:
    """The added layer: ``gsc/`` and its files, reproducibly."""
    buf = io.BytesIO()
    write_gsc_layer(buf, files, mtime)
    return buf.getvalue()


def write_gsc_layer(out: IO[bytes], files: GscFiles, mtime: int,
                    extra: list[tuple[tarfile.TarInfo, str | None]] | None = None) -> None:
    """Write the added layer to ``out``: ``gsc/`` and its files, then ``extra`` entries
    (the encrypted files of --encrypt and their parent directories), reproducibly."""
    members = files.members()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        d = tarfile.TarInfo(layout.GSC_DIR.strip("/") + "/")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, mtime
        d.uid = d.gid = 0
        d.uname = d.gname = ""
        tar.addfile(d)
        for name in sorted(members):
            data, mode = members[name]
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
        if extra:
            encryption.write_entries(tar, extra)


def compose_config(base: dict[str, Any], out: OutputImage, diff_id: str,
                   date: dt.date, base_ids: list[str] | None = None,
                   rewritten: tuple[int, ...] = ()) -> dict[str, Any]:
    doc = {k: v for k, v in base.items() if k not in _BASE_BUILD_FIELDS}
    conf = dict(doc.get("config") or {})
    conf.pop("OnBuild", None)  # a base's ONBUILD triggers do not carry over (as in Docker)
    if out.entrypoint is not None:
        conf["Entrypoint"] = list(out.entrypoint)
        conf["Cmd"] = list(out.cmd or ())
    labels = dict(conf.get("Labels") or {})
    labels.update(dict(out.labels))
    conf["Labels"] = labels
    doc["config"] = conf
    when = created(date)
    doc["created"] = when
    ids = diff_ids(base) if base_ids is None else base_ids
    doc["rootfs"] = {"type": "layers", "diff_ids": [*ids, diff_id]}
    history = doc.get("history")
    what = "add " + " ".join(sorted("/" + n for n in out.files.members()))
    if out.encrypted is not None:
        what += "; encrypt " + " ".join(m.path for m in out.encrypted.mounts)
        if rewritten:
            what += " (plaintext removed from layer " + ", ".join(
                str(i + 1) for i in rewritten) + ")"
    doc["history"] = [*(history if isinstance(history, list) else []), {
        "created": when,
        "created_by": f"gsc {__version__}: {what}",
        "comment": "gsc",
    }]
    return doc


def compose(base: Parts, out: OutputImage, date: dt.date,
            job: encryption.Job | None = None, workdir: str | None = None) -> Parts:
    """The output image's parts: the base's layers plus the /gsc/ layer, new config.
    With encrypted files (``out.encrypted``; ``job`` has the keys, ``workdir`` is a
    private directory that outlives the writing): the base layers that hold their
    plaintext rewritten without it, the ciphertexts in the added layer."""
    if out.encrypted is not None:
        if job is None or workdir is None:
            raise GscError("encrypted files planned but no wrap keys given")
        return _compose_encrypted(base, out, date, job, workdir)
    layer = gsc_layer(out.files, epoch(date))
    diff_id = sha256_digest(layer)
    config = compose_config(parse_json(base.config, "image config"), out, diff_id, date)
    added = LayerBlob(Descriptor(OCI_LAYER, diff_id, len(layer)), diff_id, data=layer)
    return Parts(canonical_json(config), (*base.layers, added))


def _compose_encrypted(base: Parts, out: OutputImage, date: dt.date, job: encryption.Job,
                       workdir: str) -> Parts:
    assert out.encrypted is not None
    mtime = epoch(date)
    _need_blobs(base, "--encrypt")
    rw = encryption.rewrite(base.layers, out.encrypted, job.keys, job.resolve, workdir,
                            job.note)
    path = os.path.join(workdir, "added-layer.tar")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        write_gsc_layer(f, out.files, mtime, encryption.added_entries(out.encrypted, rw, mtime))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    diff_id = "sha256:" + h.hexdigest()
    config = compose_config(parse_json(base.config, "image config"), out, diff_id, date,
                            [layer.diff_id for layer in rw.layers], tuple(rw.changed))
    added = LayerBlob(Descriptor(OCI_LAYER, diff_id, os.path.getsize(path)), diff_id,
                      path=path)
    return Parts(canonical_json(config), (*rw.layers, added))


@contextlib.contextmanager
def _workdir(needed: bool) -> Iterator[str | None]:
    if not needed:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="gsc-encrypt-") as d:
        yield d


def emit(out: OutputImage, base: Parts, dest: Location, date: dt.date, *,
         client: Any | None = None, access: Access | None = None,
         job: encryption.Job | None = None) -> Written:
    """Compose the output image and write it to ``dest``."""
    with _workdir(out.encrypted is not None) as work:
        return _emit(out, base, dest, date, client, access, job, work)


def _emit(out: OutputImage, base: Parts, dest: Location, date: dt.date, client: Any | None,
          access: Access | None, job: encryption.Job | None, work: str | None) -> Written:
    parts = compose(base, out, date, job, work)
    manifest = oci_manifest(parts)
    image_id = parts.config_digest
    mtime = epoch(date)
    tag = out.tag
    if dest.transport == DAEMON:
        tag = dest.value
        repo, version = check_tag(tag)
        if client is None:
            client = engine.connect()
        with tempfile.TemporaryFile(prefix="gsc-load-") as f:
            layouts.docker_archive(f, _daemon_has(parts, base), [], mtime)
            f.seek(0)
            loaded = engine.load(client, f)
        if loaded != image_id:
            raise GscError(f"the daemon loaded image {loaded}, not the planned {image_id}")
        engine.tag(client, image_id, repo, version)
    elif dest.transport == DOCKER_ARCHIVE:
        _need_blobs(parts, dest)
        repo, version = check_tag(tag)
        layouts.write_atomic_stream(dest.value, lambda f: layouts.docker_archive(
            f, parts, [f"{repo}:{version}"], mtime))
    elif dest.transport == OCI_ARCHIVE:
        _need_blobs(parts, dest)
        layouts.write_atomic_stream(dest.value, lambda f: layouts.oci_archive(
            f, parts, manifest, tag, mtime))
    elif dest.transport == OCI_DIR:
        _need_blobs(parts, dest)
        tag = dest.tag or tag
        layouts.oci_layout(dest.value, parts, manifest, tag)
    elif dest.transport == REGISTRY:
        _need_blobs(parts, dest)
        ref = repo_ref(dest.value)
        if ref.reference.startswith("sha256:"):
            raise InputError(f"{dest}: push to a tag, not a digest")
        tag = dest.value
        registry = Client(ref, access, push=True)
        try:
            for layer in parts.layers:
                registry.push_blob(layer.desc.digest, layer.desc.size, layer.open)
            registry.push_blob(image_id, len(parts.config),
                               lambda: io.BytesIO(parts.config))
            registry.push_manifest(ref.reference, manifest, OCI_MANIFEST)
        finally:
            registry.close()
    else:  # pragma: no cover
        raise InputError(f"{dest}: unsupported destination")
    return Written(str(dest), tag, image_id, sha256_digest(manifest))


def _daemon_has(parts: Parts, base: Parts) -> Parts:
    """``parts`` without the bytes of the leading base layers the daemon already has
    (unchanged and below every rewritten one): `docker load` reuses its copies."""
    layers = list(parts.layers)
    for i, (new, old) in enumerate(zip(parts.layers, base.layers, strict=False)):
        if new.diff_id != old.diff_id:
            break
        layers[i] = replace(new, path=None, data=None)
    return Parts(parts.config, tuple(layers))


def _need_blobs(parts: Parts, dest: Location | str) -> None:
    if not all(layer.available for layer in parts.layers):  # pragma: no cover - caller bug
        raise GscError(f"{dest}: the base image's layers were not read")
