"""Output tags: `gsc-NAME:TAG` when signed, `gsc-NAME:TAG-unsigned` when not."""

from __future__ import annotations

import re

UNSIGNED_SUFFIX = "-unsigned"
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def split_ref(ref: str) -> tuple[str, str]:
    """(repository without registry host, tag) of an image reference given by the user."""
    name = ref.split("@", 1)[0]
    tag = "latest"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return "/".join(parts), tag


def default_tag(ref: str, image_id: str, *, signed: bool, shielded: bool = False) -> str:
    """The output tag for `ref`. With shielded=True, `ref` is already a gsc image (as in
    `sign-image gsc-app:1-unsigned`): keep its name and drop the -unsigned suffix."""
    if re.fullmatch(r"(sha256:)?[0-9a-f]{12,64}", ref):
        name, tag = "image-" + image_id.removeprefix("sha256:")[:12], "latest"
    else:
        name, tag = split_ref(ref)
    if shielded:
        tag = tag.removesuffix(UNSIGNED_SUFFIX)
    else:
        name = "gsc-" + name
    return f"{name}:{tag}{'' if signed else UNSIGNED_SUFFIX}"


def check_tag(tag: str) -> str:
    repo, sep, version = tag.rpartition(":")
    if not sep or "/" in version:
        repo, version = tag, "latest"
    if not repo or repo != repo.lower() or not re.fullmatch(r"[a-z0-9][a-z0-9._/:-]*", repo):
        raise ValueError(f"invalid image name {tag!r}")
    if not _TAG.match(version):
        raise ValueError(f"invalid image tag {tag!r}")
    return f"{repo}:{version}"
