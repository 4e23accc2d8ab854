"""Reading what gsc put into an output image, without starting a container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gsc.build import docker_api, labels
from gsc.errors import InputError


@dataclass(frozen=True)
class ShieldedImage:
    id: str
    ref: str
    tags: list[str]
    labels: dict[str, str]
    entrypoint: list[str] | None
    runtime: bytes | None
    manifest: bytes | None
    signature: bytes | None


def open_shielded(client: Any, ref: str) -> ShieldedImage:
    attrs = docker_api.image_attrs(client, ref)
    config = attrs.get("Config") or {}
    image_labels = dict(config.get("Labels") or {})
    if labels.VERSION not in image_labels:
        raise InputError(f"{ref} is not an image built by gsc (no {labels.VERSION} label)")
    files = docker_api.read_gsc_files(client, str(attrs["Id"]), labels.GSC_DIR)
    return ShieldedImage(
        id=str(attrs["Id"]),
        ref=ref,
        tags=list(attrs.get("RepoTags") or []),
        labels=image_labels,
        entrypoint=config.get("Entrypoint"),
        runtime=files.get("gsc-runtime"),
        manifest=files.get("entrypoint.manifest.sgx"),
        signature=files.get("entrypoint.sig"),
    )
