"""Reading Docker images: config and the complete merged file system, without running
or extracting anything from the image on the host.

    with load_image("debian:bookworm") as img:
        img.config.entrypoint, img.fs.get("/bin/sh"), img.fs.read_bytes("/etc/os-release")
"""

from gsc.image.fs import ImageFS
from gsc.image.loader import (
    ArchiveSource,
    DaemonSource,
    Image,
    ImageSource,
    load_archive,
    load_image,
)
from gsc.image.model import FileEntry, ImageConfig

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
