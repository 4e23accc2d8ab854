"""Turn policy events into a suggested build config (rules: docs/audit.md).

Input: the events of gsc.audit.parser and an ImageView. Output: ``Suggestion``, whose
entries (``allowed_files``, ``trusted_files``, ``env_passthrough``) each carry the number
of events behind them, one example and a reason; what the engine declines to suggest is
listed with the reason. Everything is sorted, so the same log gives the same output.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from gsc.audit import parser as P
from gsc.audit.imageview import ImageView, NoImage

# Trees that hold the system's programs, libraries and configuration: they stay trusted.
# A directory at or under one of them is never suggested as allowed.
SYSTEM_TREES = ("/usr", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin",
                "/boot", "/gsc")
# Top-level directories too broad to allow as a whole (a subdirectory is fine).
BROAD_DIRS = ("/", "/var", "/opt", "/srv", "/home", "/root", "/mnt", "/media", "/run",
              "/var/lib", "/var/cache", "/var/log", "/usr/local", "/var/www")
# Device nodes that are safe to open (no raw hardware, no kernel memory); directories end
# with "/".
SAFE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                "/dev/tty", "/dev/ptmx", "/dev/console", "/dev/stdin", "/dev/stdout",
                "/dev/stderr", "/dev/pts/", "/dev/shm/",  # noqa: S108 (a path the app uses, not our temp file)
                "/dev/mqueue/", "/dev/fd/")
WRITE_ACCESSES = ("write", "create", "modify")

ALLOWED = "allowed_files"
TRUSTED = "trusted_files"
ENV = "env_passthrough"
KEYS = (ALLOWED, TRUSTED, ENV)


class _FromEvents:
    """What a suggested entry and a declined path share: the log events behind them."""

    events: list[P.Event]

    @property
    def count(self) -> int:
        return len(self.events)

    def example(self) -> str:
        return describe(self.events[0]) if self.events else ""


@dataclass
class Entry(_FromEvents):
    key: str            # allowed_files | trusted_files | env_passthrough
    value: str
    reason: str
    events: list[P.Event] = field(default_factory=list)


@dataclass
class Declined(_FromEvents):
    path: str
    reason: str
    events: list[P.Event] = field(default_factory=list)


@dataclass
class Suggestion:
    entries: list[Entry] = field(default_factory=list)
    declined: list[Declined] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    image_checked: bool = False

    def values(self, key: str) -> list[str]:
        return [e.value for e in self.entries if e.key == key]

    @property
    def empty(self) -> bool:
        return not self.entries


def describe(e: P.Event) -> str:
    what = e.access or "open (mode not logged)"
    op = e.op or e.kind
    verdict = {"deny": "denied", "permit": "permitted in audit mode"}.get(e.kind, e.kind)
    return f"{what} by {op}, {verdict}, line {e.line}"


def _under(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top.rstrip("/") + "/")


def _parent(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) or "/"


def _dir_value(path: str) -> str:
    return path if path == "/" else path.rstrip("/") + "/"


class _Collector:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self.declined: dict[str, Declined] = {}

    def add(self, key: str, value: str, reason: str, ev: P.Event | None) -> None:
        entry = self.entries.setdefault((key, value), Entry(key, value, reason))
        if ev is not None:
            entry.events.append(ev)

    def decline(self, path: str, reason: str, ev: P.Event) -> None:
        self.declined.setdefault(path, Declined(path, reason)).events.append(ev)


def _runtime_only(c: _Collector, e: P.Event) -> bool:
    """/proc, /sys, /dev. True when handled."""
    path = e.path
    if _under(path, "/proc"):
        c.add(ALLOWED, "/proc/", "procfs: per-process kernel views; pids change each run, so "
              "the whole tree (a default) rather than one pid", e)
        return True
    if _under(path, "/sys"):
        c.add(ALLOWED, "/sys/", "sysfs: kernel information, mounted read-only by Docker "
              "(a default)", e)
        return True
    if _under(path, "/dev"):
        for dev in SAFE_DEVICES:
            if path == dev or (dev.endswith("/") and _under(path, dev.rstrip("/"))):
                c.add(ALLOWED, dev, "a device that gives no access to hardware or kernel "
                      "memory", e)
                return True
        c.decline(path, "device node not known to be safe (raw disks, kernel memory and "
                  "hardware are never suggested); add it yourself if the app needs it", e)
        return True
    return False


def _write_target(c: _Collector, e: P.Event, view: ImageView, created: dict[str, int]) -> None:
    path = e.path
    kind = view.kind(path)
    if e.op.startswith("mkdir") and kind == "dir":
        c.decline(path, "mkdir of a directory the image already has (as `mkdir -p` does): "
                  "it fails with EEXIST anyway, nothing to allow", e)
        return
    if kind == "file" and (e.cls == "trusted" or "trusted" in e.detail):
        c.decline(path, "a trusted file of the image that the app writes: allowing it "
                  "would drop its verification; if that is intended, add it to "
                  "exclude_trusted and allowed_files yourself", e)
        return
    if kind == "file":
        # An image file excluded from the trusted files and rewritten: that name only.
        candidate, is_dir = path, False
    elif kind == "dir" and not e.op.startswith("mkdir"):
        candidate, is_dir = path, True   # chmod/utimes/rename... of the directory itself
    else:
        # A new name. The directory it goes in, or the highest directory the app created
        # on the way (not in the image), which holds everything the app put there.
        top = path
        if view.known:
            while _parent(top) != "/" and view.kind(_parent(top)) is None:
                top = _parent(top)
        made_dir = top != path or e.op.startswith("mkdir")
        candidate, is_dir = (top, True) if made_dir else (_parent(path), True)
    _allow(c, e, candidate, is_dir, path, created)


def _allow(c: _Collector, e: P.Event, candidate: str, is_dir: bool, path: str,
           created: dict[str, int]) -> None:
    what = "the app writes here" if is_dir else "the app writes this file"
    for tree in SYSTEM_TREES:
        if _under(candidate, tree):
            if e.access == "create" and not e.op.startswith("mkdir") and \
                    not _under(path, "/gsc"):
                c.add(ALLOWED, path, f"created by the app under {tree}, which stays "
                      "trusted: only this name is allowed", e)
                return
            c.decline(path, f"under {tree}: system directories stay trusted and are never "
                      "suggested as writable; point the app's writes elsewhere, or allow "
                      "the exact file yourself", e)
            return
    if is_dir and candidate in BROAD_DIRS:
        if candidate != path and _parent(path) == candidate and e.access == "create" \
                and not e.op.startswith("mkdir"):
            c.add(ALLOWED, path, f"created by the app directly in {candidate}, too broad "
                  "to allow as a whole: only this name is allowed", e)
            return
        c.decline(path, f"{candidate} is too broad to allow as a whole; allow the "
                  "subdirectory the app uses", e)
        return
    c.add(ALLOWED, _dir_value(candidate) if is_dir else candidate, what, e)


def _read_target(c: _Collector, e: P.Event, view: ImageView, created: dict[str, int]) -> None:
    path = e.path
    kind = view.kind(path)
    if path in created:
        return  # a file the app made itself: covered by its write rule
    if e.access == "list" or kind == "dir":
        c.decline(path, "listing a directory that holds no trusted file (often a harmless "
                  "probe); it becomes listable once a file in it is trusted or allowed", e)
        return
    exec_ = e.access == "exec"
    if kind == "file" or (not view.known and kind is None):
        unchecked = "" if view.known else " (not checked against the image: pass --image)"
        if exec_:
            reason = f"the app runs this {e.role or 'program'}, which was excluded from " \
                     f"the trusted files{unchecked}"
        else:
            reason = "an image file excluded from the trusted files that the app reads" \
                     f"{unchecked}"
            if e.access is None:
                reason += "; the log does not say read or write (read assumed: if the app " \
                          "writes it, use allowed_files)"
        c.add(TRUSTED, path, reason, e)
        return
    if exec_:
        c.decline(path, "a program that is not a file of the image (written at run time?): "
                  "only image files can be trusted to run", e)
        return
    if kind is None:
        parent = _parent(path)
        narrow = parent in BROAD_DIRS or any(_under(parent, t) for t in SYSTEM_TREES)
        c.add(ALLOWED, path if narrow else _dir_value(parent),
              "read by the app but not in the image (a volume or bind mount?): it cannot be "
              "trusted, only allowed" + ("; only this name, its directory is a system or "
                                         "broad one" if narrow else ""), e)
        return
    c.decline(path, f"not a regular file in the image ({kind}); add it yourself if needed", e)


def suggest(events: Iterable[P.Event], view: ImageView | None = None) -> Suggestion:
    view = view or NoImage()
    events = list(events)
    c = _Collector()
    out = Suggestion(image_checked=view.known)
    # First line at which the app created each path (decision notes, create events).
    created: dict[str, int] = {}
    for e in events:
        if (e.kind == P.DECISION and e.note == "created") or \
                (e.kind in (P.DENY, P.PERMIT) and e.access == "create"):
            created.setdefault(e.path, e.line)
    env_seen = False
    for e in events:
        if e.kind == P.MISSING_ENV:
            env_seen = True
            c.add(ENV, e.detail, "given to the container but not passed through by the "
                  "manifest", e)
            continue
        if e.kind == P.MISMATCH:
            c.decline(e.path, "a trusted file failed SHA-256 verification: the file differs "
                      "from the image that was built (changed at run time, or a mount over "
                      "it); no config entry fixes this", e)
            continue
        if e.kind == P.LAUNCH_REFUSED:
            out.notes.append(f"line {e.line}: the runtime refused to launch: {e.detail}")
            continue
        if e.kind == P.CANNOT_INSPECT:
            out.notes.append(f"line {e.line}: the supervisor could not inspect pid {e.pid} "
                             "(its calls were refused); no config entry fixes this")
            continue
        if e.kind not in (P.DENY, P.PERMIT) or not e.path:
            continue
        if e.lossy or not e.path.startswith("/"):
            c.decline(e.path, "the logged path is not exact (a control character or invalid "
                      "UTF-8 was replaced by '?'); add the real path yourself", e)
            continue
        if _runtime_only(c, e):
            continue
        if e.access is None and e.line > created.get(e.path, e.line):
            continue  # opening a file the app made itself: covered by its write rule
        if e.access in WRITE_ACCESSES:
            _write_target(c, e, view, created)
        else:
            _read_target(c, e, view, created)
    if not env_seen:
        out.notes.append("environment: the log names no variable the app needed (the runtime "
                         "does not log reads of the environment); env_passthrough is not "
                         "inferable from it")
    out.entries = _collapse(list(c.entries.values()))
    out.declined = sorted(c.declined.values(), key=lambda d: d.path)
    return out


def _collapse(entries: list[Entry]) -> list[Entry]:
    """Drop allowed/trusted entries that an allowed directory already covers (their events
    move to it); order by key, then value."""
    dirs = sorted((e for e in entries if e.key == ALLOWED and e.value.endswith("/")),
                  key=lambda e: len(e.value))
    kept: list[Entry] = []
    for e in sorted(entries, key=lambda e: (KEYS.index(e.key), len(e.value), e.value)):
        if e.key != ENV:
            cover = next((d for d in dirs if d is not e and d in kept
                          and _under(e.value.rstrip("/") or "/", d.value.rstrip("/"))), None)
            if cover is not None:
                cover.events.extend(e.events)
                continue
        kept.append(e)
    for e in kept:
        e.events.sort(key=lambda ev: ev.line)
    return sorted(kept, key=lambda e: (KEYS.index(e.key), e.value))
