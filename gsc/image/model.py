"""Data types describing an image: its config and its file entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["file", "symlink", "dir", "char", "block", "fifo", "socket"]


@dataclass(slots=True)
class Blob:
    """Where a regular file's bytes live in the private content store (``offset`` -1:
    hashed, but the contents were not kept; see ``gsc.image.layers.Retain``)."""

    offset: int = 0
    size: int = 0
    sha256: str = ""


@dataclass(slots=True)
class FileEntry:
    """One entry of the merged image file system, as a container would see it.

    ``path`` is absolute and normalised; ``sha256`` is set for regular files only;
    ``target`` is a symlink's target exactly as stored. Entries that are hardlinks of one
    another share ``inode``; ``nlink`` counts them. ``devmajor``/``devminor`` are set for
    device nodes."""

    path: str
    kind: Kind
    mode: int
    uid: int
    gid: int
    size: int = 0
    sha256: str | None = None
    target: str | None = None
    inode: int = 0
    nlink: int = 1
    devmajor: int = 0
    devminor: int = 0
    blob: Blob | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The parts of the image config that decide how a container starts. ``raw`` is the
    image config's ``config`` object as stored (Healthcheck, Volumes, OnBuild, ...)."""

    entrypoint: list[str] | None
    cmd: list[str] | None
    env: dict[str, str]
    workdir: str
    user: str
    labels: dict[str, str]
    architecture: str = ""
    os: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
