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


# Docker bind-mounts its own copies of these into every container: they are allowed
# read-only at run time and never trusted, whatever the image holds.
NEVER_TRUSTED = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def under_allowed(path: str, allowed: Iterable[str]) -> str | None:
    """The allowed entry covering ``path`` ("/dir/" covers everything below /dir; a name
    without a trailing slash covers that file), or None."""
    for a in allowed:
        if a.endswith("/"):
            if path.startswith(a) or path == a.rstrip("/"):
                return a
        elif path == a:
            return a
    return None


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
    allowed: Iterable[str] = (),
) -> TrustedSelection:
    """entries: (canonical path, sha256) of every regular file of the image.

    `include` forces paths (files, or directories meaning everything below) back in even
    when an exclusion would drop them; each must name something that exists. A file under
    an allowed path is never trusted (allowed wins; the kernel unions rights along a
    path), nor is a Docker-provided file of NEVER_TRUSTED; forcing either in is an error."""
    exclude = tuple(exclude)
    include = tuple(include)
    allowed = tuple(allowed)
    used = dict.fromkeys(include, False)
    chosen: dict[str, str] = {}
    skipped: list[str] = []
    for path, sha in entries:
        forced = False
        for inc in include:
            if matches(path, inc):
                used[inc] = True
                forced = True
        never = path in NEVER_TRUSTED
        covering = under_allowed(path, allowed)
        if forced and (never or covering is not None):
            why = ("Docker provides it at run time" if never
                   else f"it is under the allowed path {covering!r}")
            raise InputError(f"trusted path forced for {path!r}, but {why}: a file cannot "
                             "be both trusted and allowed")
        if never or covering is not None:
            continue
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
