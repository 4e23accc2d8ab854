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

import datetime as dt
import io
import tarfile
import tempfile
from dataclasses import dataclass
from typing import Any

from gsc import __version__, engine
from gsc.errors import GscError, InputError
from gsc.image.reference import check_tag
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
    members = files.members()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
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
    return buf.getvalue()


def compose_config(base: dict[str, Any], out: OutputImage, diff_id: str,
                   date: dt.date) -> dict[str, Any]:
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
    doc["rootfs"] = {"type": "layers", "diff_ids": [*diff_ids(base), diff_id]}
    history = doc.get("history")
    doc["history"] = [*(history if isinstance(history, list) else []), {
        "created": when,
        "created_by": f"gsc {__version__}: add "
                      + " ".join(sorted("/" + n for n in out.files.members())),
        "comment": "gsc",
    }]
    return doc


def compose(base: Parts, out: OutputImage, date: dt.date) -> Parts:
    """The output image's parts: the base's layers plus the /gsc/ layer, new config."""
    layer = gsc_layer(out.files, epoch(date))
    diff_id = sha256_digest(layer)
    config = compose_config(parse_json(base.config, "image config"), out, diff_id, date)
    added = LayerBlob(Descriptor(OCI_LAYER, diff_id, len(layer)), diff_id, data=layer)
    return Parts(canonical_json(config), (*base.layers, added))


def emit(out: OutputImage, base: Parts, dest: Location, date: dt.date, *,
         client: Any | None = None, access: Access | None = None) -> Written:
    """Compose the output image and write it to ``dest``."""
    parts = compose(base, out, date)
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
            layouts.docker_archive(f, parts, [], mtime)
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


def _need_blobs(parts: Parts, dest: Location) -> None:
    if not all(layer.available for layer in parts.layers):  # pragma: no cover - caller bug
        raise GscError(f"{dest}: the base image's layers were not read")
