"""The namespace pin (`gsc.symlinks`): which symlinks of an image the manifest records, and
the check of an image against a manifest's pin.

The rule is the runtime's (runtime/src/nscheck.c, runtime/core/policy.c), mirrored here:

- A *trusted directory* is every strict ancestor ("/" included) of a trusted file (Docker's
  per-container files excluded) or of a pinned symlink.
- Every symlink whose parent is a trusted directory is pinned with its verbatim target,
  except Docker's per-container files (/etc/hosts, /etc/hostname, /etc/resolv.conf: Docker
  mounts its own over them; never pinned nor checked).
- A pinned symlink may not be, or lie under, an allowed path or a tmpfs mount (the runtime
  refuses such a manifest: Landlock unions rights along a path). An allowed path that is
  itself such a symlink is pinned and dropped from `sgx.allowed_files` (the link still
  leads wherever it points, under the policy of its target); a tmpfs mount there, or a
  symlink below an allowed path, is a build error.
- The check refuses: a symlink in a trusted directory that is not pinned or points
  elsewhere; a pinned symlink that is missing; a trusted directory that is not a
  directory (or a symlink). A trusted directory that does not exist is skipped.
- The image is seen as a Docker container sees it: Docker's init layer adds
  /etc/mtab -> /proc/mounts when the image has no /etc/mtab, so that link is pinned too.

Everything here works on the manifest as data and on an ImageFS; nothing touches the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gsc.errors import InputError
from gsc.image.fs import ImageFS
from gsc.image.paths import dirname
from gsc.manifest.schema import normalise_path

# Docker bind-mounts its own copies over these (kept in step with CONTAINER_FILES in
# runtime/core/policy.c and NEVER_TRUSTED in gsc/shield/trusted.py).
CONTAINER_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})


@dataclass(frozen=True)
class Rules:
    """What the namespace rule reads from a manifest (paths normalised)."""

    trusted: tuple[str, ...]
    allowed: tuple[str, ...]
    tmpfs: tuple[str, ...]
    symlinks: tuple[tuple[str, str], ...]   # (path, target), sorted by path

    @classmethod
    def from_manifest(cls, doc: Mapping[str, Any]) -> Rules:
        sgx = doc.get("sgx", {}) if isinstance(doc.get("sgx"), Mapping) else {}
        fs = doc.get("fs", {}) if isinstance(doc.get("fs"), Mapping) else {}
        gsc = doc.get("gsc", {}) if isinstance(doc.get("gsc"), Mapping) else {}
        trusted = [_uri_path(e.get("uri")) for e in sgx.get("trusted_files", [])
                   if isinstance(e, Mapping)]
        allowed = [_uri_path(e) for e in sgx.get("allowed_files", [])]
        tmpfs = [normalise_path(m["path"]) for m in fs.get("mounts", [])
                 if isinstance(m, Mapping) and m.get("type") == "tmpfs"
                 and isinstance(m.get("path"), str)]
        links = [(str(e["path"]), str(e["target"])) for e in gsc.get("symlinks", [])
                 if isinstance(e, Mapping) and "path" in e and "target" in e]
        return cls(
            trusted=tuple(p for p in trusted if p),
            allowed=tuple(p for p in allowed if p),
            tmpfs=tuple(p for p in tmpfs if p),
            symlinks=tuple(sorted(links, key=lambda t: _raw(t[0]))),
        )


def _uri_path(uri: Any) -> str | None:
    if isinstance(uri, str) and uri.startswith("file:"):
        return normalise_path(uri[5:])
    return None


def _raw(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def ancestors(path: str) -> list[str]:
    """Strict ancestors of a normal absolute path, "/" first."""
    out = ["/"]
    segs = path.strip("/").split("/")
    for i in range(1, len(segs)):
        out.append("/" + "/".join(segs[:i]))
    return out if path != "/" else []


def trusted_dirs(trusted: Iterable[str], symlinks: Iterable[str]) -> set[str]:
    """Every strict ancestor of a trusted file (container files excluded) or of a pinned
    symlink (runtime/src/nscheck.c gsc_trusted_dirs)."""
    out: set[str] = set()
    for p in trusted:
        if p not in CONTAINER_FILES:
            out.update(ancestors(p))
    for p in symlinks:
        out.update(ancestors(p))
    return out


def under(path: str, places: Iterable[str]) -> str | None:
    """The entry of ``places`` equal to ``path`` or one of its ancestors (component-wise),
    nearest first; None if there is none (policy.c under_any)."""
    candidates = {path, *ancestors(path)}
    hits = [p for p in places if p in candidates]
    return max(hits, key=len) if hits else None


# What Docker's init layer adds to every container when the image lacks it (moby
# daemon/initlayer): the only symlink is /etc/mtab -> /proc/mounts. The runtime sees the
# container, so the pin and the check include it.
DOCKER_INIT_SYMLINKS = {"/etc/mtab": "/proc/mounts"}


def _symlinks_in(fs: ImageFS, dirs: set[str]) -> dict[str, str]:
    """The symlinks (path -> target) directly in ``dirs`` as a Docker container of the
    image sees them, Docker's per-container files left out."""
    out = {e.path: e.target or "" for e in fs.entries()
           if e.kind == "symlink" and e.path != "/" and dirname(e.path) in dirs
           and e.path not in CONTAINER_FILES}
    for path, target in DOCKER_INIT_SYMLINKS.items():
        if dirname(path) in dirs and fs.get(path) is None:
            out[path] = target
    return out


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Pin:
    symlinks: tuple[tuple[str, str], ...]        # (path, target), sorted bytewise by path
    dropped_allowed: tuple[str, ...]             # allowed paths that are pinned symlinks

    def manifest_value(self) -> list[dict[str, str]]:
        return [{"path": p, "target": t} for p, t in self.symlinks]


def pin(fs: ImageFS, rules: Rules) -> Pin:
    """The pin for an image whose manifest has these trusted files, allowed paths and
    tmpfs mounts. InputError when the image's namespace cannot be pinned."""
    dirs = trusted_dirs(rules.trusted, ())
    while True:   # a fixed point: pinned symlinks make their ancestors trusted directories
        links = _symlinks_in(fs, dirs)
        grown = dirs | trusted_dirs((), links)
        if grown == dirs:
            break
        dirs = grown
    dropped: list[str] = []
    for path, target in sorted(links.items(), key=lambda t: _raw(t[0])):
        where = f"symlink {_shown(path)!r} in the trusted directory {_shown(dirname(path))!r}"
        if not _utf8(path) or not _utf8(target):
            what = "name" if not _utf8(path) else "target"
            raise InputError(f"cannot pin the {where}: its {what} is not valid UTF-8 (a "
                             "manifest cannot hold it); rename or remove it in the image")
        if not target:
            raise InputError(f"cannot pin the {where}: it has an empty target")
        mount = under(path, rules.tmpfs)
        if mount is not None:
            raise InputError(f"the {where} lies in the tmpfs mount {mount!r} (a writable "
                             "place cannot hold pinned names): mount elsewhere")
        allowed = under(path, rules.allowed)
        if allowed == path:
            dropped.append(path)
        elif allowed is not None:
            raise InputError(f"the {where} lies in the allowed path {allowed!r} (a writable "
                             "place cannot hold pinned names)")
    pinned = tuple(sorted(links.items(), key=lambda t: _raw(t[0])))
    problems = check(fs, Rules(rules.trusted, rules.allowed, rules.tmpfs, pinned))
    if problems:
        raise InputError(f"the image would be refused at launch: {problems[0]}")
    return Pin(symlinks=pinned, dropped_allowed=tuple(dropped))


def check(fs: ImageFS, rules: Rules) -> list[str]:
    """The runtime's launch check on an image: one line per difference (none: it holds)."""
    pinned = dict(rules.symlinks)
    dirs = sorted(trusted_dirs(rules.trusted, pinned), key=_raw)
    problems: list[str] = []
    seen: set[str] = set()
    listed: set[str] = set()
    for d in dirs:
        if any(a not in listed for a in ancestors(d)):
            continue   # not reachable without a symlink: reported at the ancestor
        entry = fs.get(d)
        if entry is None:
            continue
        if entry.kind != "dir":
            what = "a symlink" if entry.kind == "symlink" else "not a directory"
            problems.append(f"trusted directory {_shown(d)} is {what}")
            continue
        listed.add(d)
    for path, target in _symlinks_in(fs, listed).items():
        if path not in pinned:
            problems.append(f"{_shown(path)} is a symlink the manifest does not pin")
        elif pinned[path] != target:
            problems.append(f"symlink {_shown(path)} points to {_shown(target)!r}, the "
                            f"manifest pins {_shown(pinned[path])!r}")
        seen.add(path)
    for path in pinned:
        if path not in seen and path not in CONTAINER_FILES:
            entry = fs.get(path)
            now = "" if entry is None else f" (now a {entry.kind})"
            problems.append(f"pinned symlink {_shown(path)} is missing{now}")
    return sorted(problems)
