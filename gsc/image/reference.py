"""The one parser of image references given by users and written by gsc.

    ImageRef.parse("registry:5000/team/app:v1@sha256:...")  # name form
    ImageRef.parse("sha256:<64 hex>")                         # image ID form

A bare hexadecimal string ("deadbeef1234") is parsed as a repository name: Docker resolves
such a string to a tagged repository first and only then to an ID prefix, so whether it
*was* an ID is known only after the lookup (``named_by_id``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gsc.errors import InputError

_ID = re.compile(r"sha256:[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]{12,64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?")

UNSIGNED_SUFFIX = "-unsigned"


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference. ``image_id`` is set for the ID form only; otherwise
    ``repository`` is set (without registry), with ``tag`` and/or ``digest``."""

    text: str
    registry: str = ""
    repository: str = ""
    tag: str | None = None
    digest: str | None = None
    image_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        if not text or text.startswith("-") or any(c.isspace() or c == "\0" for c in text):
            raise InputError(f"invalid image reference {text!r}")
        if _ID.fullmatch(text):
            return cls(text=text, image_id=text)
        name, _, digest = text.partition("@")
        if digest and not _DIGEST.fullmatch(digest):
            raise InputError(f"invalid image reference {text!r}: bad digest")
        tag: str | None = None
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = name.rsplit(":", 1)
            if not _TAG.fullmatch(tag):
                raise InputError(f"invalid image reference {text!r}: bad tag")
        registry = ""
        parts = name.split("/")
        if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            registry, name = parts[0], "/".join(parts[1:])
            if not _HOST.fullmatch(registry):
                raise InputError(f"invalid image reference {text!r}: bad registry")
        if not _REPO.fullmatch(name):
            raise InputError(f"invalid image reference {text!r}: bad repository name")
        return cls(text=text, registry=registry, repository=name, tag=tag,
                   digest=digest or None)

    @property
    def is_id(self) -> bool:
        return self.image_id is not None

    @property
    def hex_only(self) -> bool:
        """A bare hex string: a repository name that could also be an ID prefix."""
        return (self.registry == "" and self.tag is None and self.digest is None
                and _HEX.fullmatch(self.repository) is not None)

    def named_by_id(self, resolved_id: str, repo_tags: list[str] | tuple[str, ...]) -> bool:
        """Whether the lookup that found image ``resolved_id`` used this reference as an
        ID (the ID form, or a bare hex prefix of the ID that is not a tagged repository)."""
        if self.is_id:
            return True
        if not self.hex_only:
            return False
        if f"{self.repository}:latest" in repo_tags:
            return False
        return resolved_id.removeprefix("sha256:").startswith(self.repository)

    @property
    def pull_args(self) -> tuple[str, str | None]:
        """(repository with registry, tag or digest) for the Engine's pull."""
        repo = f"{self.registry}/{self.repository}" if self.registry else self.repository
        return repo, self.digest or self.tag


def output_name(ref: ImageRef, image_id: str, repo_tags: list[str] | tuple[str, ...], *,
                signed: bool, shielded: bool = False) -> str:
    """The default output tag: ``gsc-NAME:TAG`` when signed, ``gsc-NAME:TAG-unsigned`` when
    not. With shielded=True, ``ref`` is already a gsc image (as in ``sign-image
    gsc-app:1-unsigned``): keep its name and drop the -unsigned suffix."""
    if ref.named_by_id(image_id, repo_tags):
        name, tag = "image-" + image_id.removeprefix("sha256:")[:12], "latest"
    else:
        name, tag = ref.repository, ref.tag or "latest"
    if shielded:
        tag = tag.removesuffix(UNSIGNED_SUFFIX)
    else:
        name = "gsc-" + name
    return f"{name}:{tag}{'' if signed else UNSIGNED_SUFFIX}"


def check_tag(tag: str) -> tuple[str, str]:
    """(repository, tag) of an output tag given with -t/--tag; InputError if invalid."""
    repo, sep, version = tag.rpartition(":")
    if not sep or "/" in version:
        repo, version = tag, "latest"
    if not repo or repo != repo.lower() or not re.fullmatch(r"[a-z0-9][a-z0-9._/:-]*", repo):
        raise InputError(f"invalid image name {tag!r}")
    if not _TAG.fullmatch(version):
        raise InputError(f"invalid image tag {tag!r}")
    return repo, version
