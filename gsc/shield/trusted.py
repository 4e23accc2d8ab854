"""Choose the trusted files of an image: every regular file outside excluded places."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from gsc.errors import InputError


@dataclass(frozen=True)
class TrustedFile:
    path: str
    sha256: str


@dataclass(frozen=True)
class TrustedSelection:
    files: list[TrustedFile]
    skipped_unrepresentable: list[str]   # names that are not valid UTF-8 (cannot be in TOML)


def _components(path: str) -> list[str]:
    return [c for c in path.split("/") if c]


def matches(path: str, pattern: str) -> bool:
    """True if `pattern` (absolute, shell wildcards per component) names `path` or one of
    its ancestor directories: "/var" matches "/var/lib/x", "/etc/rc?.d" matches "/etc/rc2.d/S01"."""
    pat = _components(pattern)
    parts = _components(path)
    if not pat or len(parts) < len(pat):
        return not pat
    return all(fnmatchcase(p, q) for p, q in zip(parts, pat, strict=False))


def _utf8_ok(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def select_trusted(
    entries: Iterable[tuple[str, str]],
    *,
    exclude: Iterable[str],
    include: Iterable[str] = (),
) -> TrustedSelection:
    """entries: (canonical path, sha256) of every regular file of the image.

    `include` forces paths (files, or directories meaning everything below) back in even
    when an exclusion would drop them; each must name something that exists."""
    exclude = tuple(exclude)
    include = tuple(include)
    used = dict.fromkeys(include, False)
    chosen: dict[str, str] = {}
    skipped: list[str] = []
    for path, sha in entries:
        forced = False
        for inc in include:
            if matches(path, inc):
                used[inc] = True
                forced = True
        if not forced and any(matches(path, ex) for ex in exclude):
            continue
        if not _utf8_ok(path):
            skipped.append(path.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
            continue
        chosen[path] = sha
    unused = [p for p, hit in used.items() if not hit]
    if unused:
        raise InputError(f"trusted path {unused[0]!r} does not name any regular file in the image")
    return TrustedSelection(
        files=[TrustedFile(p, chosen[p]) for p in sorted(chosen, key=lambda s: s.encode())],
        skipped_unrepresentable=skipped,
    )
