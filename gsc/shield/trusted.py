"""Choose the trusted files of an image: every regular file outside excluded places."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
    return AllowedIndex(allowed).covering(path)


def _slash_prefixes(path: str) -> Iterator[str]:
    """Every prefix of ``path`` that ends with a "/" (shortest first)."""
    i = path.find("/")
    while i >= 0:
        yield path[: i + 1]
        i = path.find("/", i + 1)


class AllowedIndex:
    """``under_allowed`` for many paths: the allowed entries in sets, so a path costs a
    few lookups (one per "/" in it) instead of a scan of every entry."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self._order: dict[str, int] = {}
        for a in allowed:
            self._order.setdefault(a, len(self._order))
        self._dirs = {a for a in self._order if a.endswith("/")}      # covers path.startswith(a)
        self._exact: dict[str, list[str]] = {}                          # path == this
        for a in self._order:
            self._exact.setdefault(a.rstrip("/") if a.endswith("/") else a, []).append(a)

    def covering(self, path: str) -> str | None:
        """The first entry (in the given order) covering ``path``, or None."""
        found = list(self._exact.get(path, ()))
        if self._dirs:
            found += [p for p in _slash_prefixes(path) if p in self._dirs]
        if not found:
            return None
        return min(found, key=self._order.__getitem__)


_WILDCARDS = frozenset("*?[")


class PatternIndex:
    """``any(matches(path, p) for p in patterns)`` for many paths: each pattern is filed
    under its leading components up to the first wildcard ("/etc/rc?.d" under "etc"), so a
    path looks up its ancestors in a dict and matches only the few patterns filed there."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._everything = False
        self._literal: set[str] = set()           # patterns without wildcards
        self._wild: dict[str, list[str]] = {}     # literal lead ("" for none) -> patterns
        for pattern in patterns:
            parts = _components(pattern)
            if not parts:
                self._everything = True
                continue
            lead = next((i for i, p in enumerate(parts) if _WILDCARDS.intersection(p)), None)
            if lead is None:
                self._literal.add("/".join(parts))
            else:
                self._wild.setdefault("/".join(parts[:lead]), []).append(pattern)

    def any_match(self, path: str) -> bool:
        if self._everything:
            return True
        wild = self._wild
        if "" in wild and any(matches(path, w) for w in wild[""]):
            return True
        prefix = ""
        for part in _components(path):
            prefix = f"{prefix}/{part}" if prefix else part
            if prefix in self._literal:
                return True
            if prefix in wild and any(matches(path, w) for w in wild[prefix]):
                return True
        return False


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
    excluded = PatternIndex(exclude)
    include = tuple(include)
    allowed_index = AllowedIndex(allowed)
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
        covering = allowed_index.covering(path)
        if forced and (never or covering is not None):
            why = ("Docker provides it at run time" if never
                   else f"it is under the allowed path {covering!r}")
            raise InputError(f"trusted path forced for {path!r}, but {why}: a file cannot "
                             "be both trusted and allowed")
        if never or covering is not None:
            continue
        if not forced and excluded.any_match(path):
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
