"""Pure in-image path helpers. Image paths are strings, absolute and normalised
("/a/b"); they never touch the host file system."""

from __future__ import annotations


def split(path: str) -> list[str]:
    """Components of an image path, with ``.``, empty parts and ``..`` neutralised
    lexically (``..`` clamps at the root, so nothing can climb above "/")."""
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            continue
        out.append(part)
    return out


def normalize(path: str) -> str:
    """Absolute, normalised image path for a tar member name or an image path.
    Leading "/" and "./" are dropped, ``..`` is clamped at the root."""
    return "/" + "/".join(split(path))


def join(*parts: str) -> str:
    return normalize("/".join(parts))


def dirname(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def is_under(path: str, directory: str) -> bool:
    """True when ``path`` is ``directory`` itself or lies below it."""
    if directory == "/":
        return True
    return path == directory or path.startswith(directory + "/")
