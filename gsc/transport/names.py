"""Parsing image locations: ``TRANSPORT:VALUE`` with skopeo's transport names, or a bare
Docker reference (the local daemon)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gsc.errors import InputError
from gsc.image.reference import ImageRef

DAEMON = "docker-daemon"
REGISTRY = "docker"
DOCKER_ARCHIVE = "docker-archive"
OCI_ARCHIVE = "oci-archive"
OCI_DIR = "oci"
TRANSPORTS = (DAEMON, REGISTRY, DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR)

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*):")
_OCI_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Location:
    """Where an image is. ``value`` is a reference (docker-daemon, docker) or a host path
    (the others); ``tag`` is the OCI layout's reference name (oci: only)."""

    transport: str
    value: str
    tag: str | None = None

    @property
    def daemon(self) -> bool:
        return self.transport == DAEMON

    @property
    def path_based(self) -> bool:
        return self.transport in (DOCKER_ARCHIVE, OCI_ARCHIVE, OCI_DIR)

    def __str__(self) -> str:
        if self.transport == REGISTRY:
            return f"docker://{self.value}"
        suffix = f":{self.tag}" if self.tag else ""
        return f"{self.transport}:{self.value}{suffix}"


def _unknown(name: str) -> InputError:
    return InputError(f"unknown transport {name!r} (known: {', '.join(TRANSPORTS)}; "
                      "a bare reference means docker-daemon)")


def parse_location(text: str) -> Location:
    """``text`` as a Location; InputError (one line) when it is none."""
    if not text:
        raise InputError("empty image location")
    if text.startswith("docker://"):
        ref = text[len("docker://"):]
        parsed = ImageRef.parse(ref)
        if parsed.is_id:
            raise InputError(f"{text}: a registry reference needs a repository name")
        return Location(REGISTRY, ref)
    if m := _SCHEME.match(text):
        raise _unknown(m.group(1))
    for name in (DAEMON, DOCKER_ARCHIVE, OCI_ARCHIVE):
        if text.startswith(name + ":"):
            rest = text[len(name) + 1:]
            if not rest:
                raise InputError(f"{text}: missing {'reference' if name == DAEMON else 'path'}")
            if name == DAEMON:
                ImageRef.parse(rest)
            return Location(name, rest)
    if text.startswith(OCI_DIR + ":"):
        rest = text[len(OCI_DIR) + 1:]
        path, tag = rest, None
        head, sep, tail = rest.rpartition(":")
        if sep and head and "/" not in tail:
            if not _OCI_TAG.fullmatch(tail):
                raise InputError(f"{text}: invalid OCI reference name {tail!r}")
            path, tag = head, tail
        if not path:
            raise InputError(f"{text}: missing directory")
        return Location(OCI_DIR, path, tag)
    try:
        ImageRef.parse(text)
    except InputError:
        m = _PREFIX.match(text)
        if m and m.group(1) not in TRANSPORTS:
            raise _unknown(m.group(1)) from None
        raise
    return Location(DAEMON, text)
