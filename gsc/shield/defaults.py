"""Defaults inferred from the image: which places are allowed (writable, not hashed) and
which are left out of the trusted files, each with the reason, reported at build time.

The rules (docs/build.md, "Defaults inferred from the image"):

1. Every ``VOLUME`` of the image is allowed: Docker mounts a volume there at run time, so
   its content is the operator's, never the image's. A volume on ``/`` or on a system tree
   (``/usr``, ``/etc``, ``/bin`` ...) is not allowed (a warning says so).
2. ``/var`` is trusted like the rest of the image (``/var/www``, ``/var/lib/APP`` files
   are image content), except volatile places: ``/var/tmp``, ``/var/cache``, ``/var/log``,
   ``/var/run`` and ``/var/lock`` (usually symlinks into ``/run``) are allowed;
   package-manager state (``/var/lib/apt``, ``/var/lib/dpkg``) and ``/var/backups`` are
   neither trusted nor allowed.
3. A directory under ``/var`` that the image's author made writable for a non-root account
   (owned by it with the owner-write bit, or group-writable for a non-root group), other
   than the accounts and groups of the base system (``_apt``, ``man``, ``mail``, ``staff``
   ...), is allowed: it is where that service (``redis``, ``mysql``, ``postgres``,
   ``www-data``) keeps its state.
4. A directory under ``/var/lib`` that holds no regular file in the image is allowed: a
   package's run-time state directory (``/var/lib/nginx``, ``/var/lib/php/sessions``).
   There is nothing in it to verify, and the app creates its content at run time.

6. An image that exposes ports (``EXPOSE``) is a server: its trusted files are verified at
   launch (``gsc.verify_trusted_files = "at_launch"``), a one-time cost at start-up that
   takes the supervisor off every later open; other images verify on first use (fast
   start for short-lived commands). The config key ``verify_trusted_files`` overrides it.

Only the topmost directory of each rule is listed. Every allowed default is resolved
through the image's symlinks (``/var/run`` -> ``/run``), because the runtime classifies the
kernel's path and a symlink cannot itself be an allowed place that a trusted directory
pins. The config file overrides them: ``infer_defaults: false`` drops rules 1, 3 and 4,
``exclude_defaults: [PATH, ...]`` drops single entries, ``trusted_files`` forces content back in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from gsc.errors import InputError
from gsc.image import paths
from gsc.image.fs import ImageFS
from gsc.image.loader import Image
from gsc.shield.config import BuildConfig
from gsc.shield.trusted import under_allowed

ALLOWED = "allowed_files"
EXCLUDED = "exclude_trusted"
READONLY = "readonly_files"
# Empty directories at the root that are not input mount points (rule 5): scratch space,
# run-time state and home directories.
NOT_MOUNT_POINTS = ("/tmp", "/run", "/root", "/home")  # noqa: S108 - image paths

# Places a VOLUME must not turn into allowed paths: the system's programs and settings.
SYSTEM_TREES = ("/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                "/boot", "/gsc", "/proc", "/sys", "/dev")

VAR_ALLOWED = (
    ("/var/tmp", "volatile: temporary files"),  # noqa: S108 - an image path, not a host one
    ("/var/run", "volatile: run-time state (pid files, sockets)"),
    ("/var/lock", "volatile: lock files"),
    ("/var/cache", "volatile: caches an app may rebuild"),
    ("/var/log", "volatile: log files"),
)
VAR_EXCLUDED = (
    ("/var/lib/apt", "package-manager state, not read by apps"),
    ("/var/lib/dpkg", "package-manager state, not read by apps"),
    ("/var/backups", "backups of system files written by cron jobs"),
)

# Accounts and groups of Debian's base system (base-passwd, adduser) that own directories
# in every image; a directory writable for them is not an application's.
BASE_ACCOUNTS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "backup", "list", "irc", "gnats", "nobody", "_apt", "systemd-network",
    "systemd-resolve", "systemd-timesync", "messagebus",
})
BASE_GROUPS = BASE_ACCOUNTS | frozenset({
    "adm", "tty", "disk", "kmem", "dialout", "fax", "voice", "cdrom", "floppy", "tape",
    "sudo", "audio", "dip", "operator", "src", "shadow", "utmp", "video", "sasl", "plugdev",
    "staff", "users", "nogroup", "crontab", "systemd-journal", "input", "kvm", "render",
})


@dataclass(frozen=True)
class Default:
    """One inferred entry: ``key`` is the config list it extends."""

    key: str
    path: str
    reason: str

    @property
    def entry(self) -> str:
        return (self.path + "/" if self.key in (ALLOWED, READONLY) and self.path != "/"
                else self.path)

    def describe(self) -> str:
        verb = {ALLOWED: "allowed", READONLY: "read-only"}.get(self.key, "not trusted")
        return f"{verb} {self.entry}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "path": self.entry, "reason": self.reason}


@dataclass(frozen=True)
class Inferred:
    entries: tuple[Default, ...]
    warnings: tuple[str, ...]
    static_allowed: tuple[str, ...]   # the built-in allowed list, resolved in this image
    readonly: tuple[str, ...] = ()    # the read-only paths, resolved in this image

    def apply(self, cfg: BuildConfig) -> BuildConfig:
        """cfg with the inferred entries added to its built-in lists."""
        allowed = tuple(d.entry for d in self.entries if d.key == ALLOWED)
        excluded = tuple(d.entry for d in self.entries if d.key == EXCLUDED)
        readonly = tuple(dict.fromkeys(
            self.readonly + tuple(d.entry for d in self.entries if d.key == READONLY)))
        return replace(cfg, default_allowed=self.static_allowed + allowed,
                       default_exclude=cfg.default_exclude + excluded,
                       readonly_files=readonly)

    def to_json(self) -> list[dict[str, str]]:
        return [d.to_json() for d in self.entries]


VERIFY = "verify_trusted_files"


@dataclass(frozen=True)
class Setting:
    """An inferred manifest setting (not a path): ``key`` = ``value``, with the reason."""

    key: str
    value: str
    reason: str

    def describe(self) -> str:
        return f"{self.key} = {self.value}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value, "reason": self.reason}


def verification(cfg: BuildConfig, config: dict[str, Any]) -> tuple[bool, Setting | None]:
    """Rule 6: whether trusted files are verified at launch, and the inferred setting
    (None when the config file chose)."""
    if cfg.verify_trusted_files != "auto":
        return cfg.verify_trusted_files == "at_launch", None
    ports = sorted(config.get("ExposedPorts") or {})
    if ports:
        return True, Setting(VERIFY, "at_launch", f"the image exposes {', '.join(ports)} (a "
                             "server): hashed before it starts, its opens then run natively")
    return False, Setting(VERIFY, "on_first_use", "the image exposes no port: each trusted "
                          "file is hashed when first used, for a fast start")


def _real(fs: ImageFS, entry: str) -> str | None:
    """An allowed entry with the image's symlinks resolved (a trailing '/' kept); the
    entry itself when nothing on its way is a symlink; None on a loop."""
    slash = entry.endswith("/")
    norm = paths.normalize(entry)
    if not _has_symlink(fs, norm):
        return entry
    real = fs.resolve(norm)
    if real is None:
        return None
    return real + "/" if slash and real != "/" else real


def _has_symlink(fs: ImageFS, path: str) -> bool:
    cur = ""
    for part in paths.split(path):
        cur += "/" + part
        e = fs.get(cur)
        if e is None:
            return False
        if e.kind == "symlink":
            return True
    return False


def _names(fs: ImageFS, file: str) -> dict[int, str]:
    """uid (or gid) -> name from /etc/passwd (or /etc/group); {} when unreadable."""
    try:
        text = fs.read_bytes(file, limit=1 << 20).decode("utf-8", "replace")
    except InputError:   # missing or not kept: no names, the rules fall back to ids
        return {}
    out: dict[int, str] = {}
    for line in text.splitlines():
        f = line.split(":")
        if len(f) >= 3 and f[2].isdigit():
            out.setdefault(int(f[2]), f[0])
    return out


def _volumes(raw: dict[str, Any]) -> list[str]:
    vols = raw.get("Volumes") or {}
    return sorted(str(v) for v in vols) if isinstance(vols, dict) else []


def _covered(path: str, allowed: Iterable[str]) -> bool:
    return under_allowed(path, allowed) is not None


def infer(image: Image, cfg: BuildConfig, *, enabled: bool = True,
          dropped: Iterable[str] = ()) -> Inferred:
    """The defaults for ``image``; ``enabled`` False keeps only the /var rules (2)."""
    return infer_fs(image.fs, _volumes(image.config.raw), cfg, enabled=enabled,
                    dropped=dropped)


def infer_fs(fs: ImageFS, volumes: Iterable[str], cfg: BuildConfig, *, enabled: bool = True,
             dropped: Iterable[str] = ()) -> Inferred:
    """infer() on a file system and the image's VOLUME paths."""
    drop = {paths.normalize(p) for p in dropped}
    static: list[str] = []
    for a in cfg.default_allowed:
        r = _real(fs, a)
        if r is not None and r not in static:
            static.append(r)
    taken: list[str] = static + list(cfg.allowed_files)
    entries: list[Default] = []
    warnings: list[str] = []

    def add(key: str, path: str, reason: str) -> None:
        if paths.normalize(path) in drop:
            return
        if key == ALLOWED:
            real = _real(fs, path)
            if real is None or _covered(real, taken):
                return
            path = real
            taken.append(real + "/")
        entries.append(Default(key, path, reason))

    if enabled:
        for vol in volumes:
            real = fs.resolve(paths.normalize(vol)) or paths.normalize(vol)
            if any(paths.is_under(real, t) for t in SYSTEM_TREES if t != "/") or real == "/":
                warnings.append(f"VOLUME {vol} is a system place: not allowed by default "
                                "(add it to allowed_files if the app writes there)")
                continue
            add(ALLOWED, real, f"VOLUME {vol} of the image (mounted at run time)")
    if fs.get("/var") is not None:
        for path, reason in VAR_ALLOWED:
            if fs.get(path) is not None:
                add(ALLOWED, path, reason)
        for path, reason in VAR_EXCLUDED:
            if fs.get(path) is not None:
                add(EXCLUDED, path, reason)
    if enabled:
        users = _names(fs, "/etc/passwd")
        groups = _names(fs, "/etc/group")
        holds_files: set[str] = set()
        for e in fs.entries():
            if e.kind == "file" and e.path.startswith("/var/lib/"):
                holds_files.update(_ancestors(e.path))
        for e in fs.entries():   # sorted: a directory comes before what it holds
            if e.kind != "dir" or not e.path.startswith("/var/"):
                continue
            if _covered(e.path, taken) or any(paths.is_under(e.path, x) for x, _ in VAR_EXCLUDED):
                continue
            owner = users.get(e.uid, str(e.uid))
            group = groups.get(e.gid, str(e.gid))
            if e.uid != 0 and e.mode & 0o200 and owner not in BASE_ACCOUNTS:
                add(ALLOWED, e.path, f"owned by the service account {owner!r}, writable")
            elif e.gid != 0 and e.mode & 0o020 and group not in BASE_GROUPS:
                add(ALLOWED, e.path, f"group-writable for the service group {group!r}")
            elif e.path.startswith("/var/lib/") and e.path not in holds_files:
                add(ALLOWED, e.path, "run-time state directory, holds no file in the image")
    # A read-only path that is a symlink in the image names where it leads (the symlink
    # itself stays pinned when its directory is trusted).
    readonly = tuple(dict.fromkeys(r for r in (_real(fs, p) for p in cfg.readonly_files)
                                   if r is not None))
    if enabled:
        occupied: set[str] = set()
        for e in fs.entries():
            parent = e.path.rsplit("/", 1)[0] or "/"
            occupied.add(parent)
        for e in fs.entries():
            if (e.kind != "dir" or e.path.count("/") != 1 or e.path in occupied
                    or e.path in SYSTEM_TREES or e.path in NOT_MOUNT_POINTS
                    or _covered(e.path, taken)
                    or any(paths.is_under(e.path, r.rstrip("/") or "/") for r in readonly)):
                continue
            if paths.normalize(e.path) in drop:
                continue
            entries.append(Default(READONLY, e.path, "empty directory at the root: a mount "
                                   "point for the operator's inputs (read, never written)"))
    return Inferred(tuple(entries), tuple(warnings), tuple(static), readonly)


def _ancestors(path: str) -> list[str]:
    segs = paths.split(path)
    return ["/" + "/".join(segs[:i]) for i in range(1, len(segs))]
