"""Reading Docker images: config and the complete merged file system, without running
or extracting anything from the image on the host.

    with load_image("debian:bookworm") as img:
        img.config.entrypoint, img.fs.get("/bin/sh"), img.fs.read_bytes("/etc/os-release")

The names below load their modules on first use: importing a light module of this
package (gsc.image.reference, gsc.image.paths) does not import docker-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # the same names, for type checkers
    from gsc.image.fs import ImageFS as ImageFS
    from gsc.image.loader import ArchiveSource as ArchiveSource
    from gsc.image.loader import DaemonSource as DaemonSource
    from gsc.image.loader import Image as Image
    from gsc.image.loader import ImageSource as ImageSource
    from gsc.image.loader import load_archive as load_archive
    from gsc.image.loader import load_image as load_image
    from gsc.image.model import FileEntry as FileEntry
    from gsc.image.model import ImageConfig as ImageConfig

_HOMES = {
    "ArchiveSource": "loader",
    "DaemonSource": "loader",
    "FileEntry": "model",
    "Image": "loader",
    "ImageConfig": "model",
    "ImageFS": "fs",
    "ImageSource": "loader",
    "load_archive": "loader",
    "load_image": "loader",
}

__all__ = [
    "ArchiveSource",
    "DaemonSource",
    "FileEntry",
    "Image",
    "ImageConfig",
    "ImageFS",
    "ImageSource",
    "load_archive",
    "load_image",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
