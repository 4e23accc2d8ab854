"""Defaults inferred from the image (gsc/shield/defaults.py, docs/build.md): each rule on a
small in-memory image file system, and the config overrides."""

from __future__ import annotations

from pathlib import Path

from gsc.image.fs import ImageFS
from gsc.image.model import FileEntry
from gsc.shield import defaults
from gsc.shield.config import load_config, load_defaults

PASSWD = ("root:x:0:0::/root:/bin/sh\n_apt:x:42:65534::/:/bin/false\n"
          "www-data:x:33:33::/:/bin/false\nredis:x:100:101::/:/bin/false\n")
GROUP = "root:x:0:\nmail:x:8:\nstaff:x:50:\nwww-data:x:33:\nredis:x:101:\n"


def image_fs() -> ImageFS:
    e: dict[str, FileEntry] = {}

    def d(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        e[path] = FileEntry(path, "dir", mode, uid, gid)

    def f(path: str) -> None:
        e[path] = FileEntry(path, "file", 0o644, 0, 0, sha256="00" * 32)

    for p in ("/", "/etc", "/var", "/var/lib", "/var/log", "/var/cache", "/var/www",
              "/var/www/html", "/var/lib/dpkg", "/var/lib/app", "/usr", "/data", "/input",
              "/srv", "/srv/www"):
        d(p)
    e["/var/run"] = FileEntry("/var/run", "symlink", 0o777, 0, 0, target="/run")
    d("/run")
    d("/var/tmp", 0o1777)
    d("/var/mail", 0o2775, 0, 8)                       # base group: not an app's
    d("/var/cache/apt", 0o755, 42, 0)                   # base account _apt
    d("/var/lib/redis", 0o750, 100, 101)                # service account
    d("/var/lib/redis/sub", 0o750, 100, 101)            # covered by its parent
    d("/var/lib/shared", 0o2775, 0, 33)                 # group-writable for www-data
    d("/var/lib/nginx")                                 # empty state directory
    d("/etc/redis", 0o770, 100, 101)                    # configuration: stays trusted
    f("/var/www/html/index.html")
    f("/var/lib/app/state.db")
    f("/var/lib/dpkg/status")
    e["/etc/passwd"] = FileEntry("/etc/passwd", "file", 0o644, 0, 0, sha256="00" * 32)
    fs = ImageFS(e, None)
    fs.read_bytes = lambda path, limit=None: (  # type: ignore[method-assign]
        PASSWD if path == "/etc/passwd" else GROUP).encode()
    return fs


def entries(inf: defaults.Inferred) -> dict[str, str]:
    return {d.entry: d.key for d in inf.entries}


def test_rules() -> None:
    inf = defaults.infer_fs(image_fs(), ["/data", "/usr"], load_defaults())
    got = entries(inf)
    assert got == {
        "/data/": "allowed_files",               # VOLUME
        "/var/tmp/": "allowed_files", "/var/cache/": "allowed_files",
        "/var/log/": "allowed_files",             # volatile (/var/run -> /run: already)
        "/var/lib/dpkg": "exclude_trusted",      # package-manager state
        "/var/lib/nginx/": "allowed_files",      # empty state directory
        "/var/lib/redis/": "allowed_files",      # owned by redis
        "/var/lib/shared/": "allowed_files",     # group-writable for www-data
        "/input/": "readonly_files",             # empty at the root: a mount point
    }                                            # (/srv holds /srv/www: not empty)
    assert any("VOLUME /usr" in w for w in inf.warnings)
    cfg = inf.apply(load_defaults())
    assert cfg.readonly_files == ("/input/",) and "/input/" not in cfg.all_allowed
    assert "/var/run/" not in cfg.all_allowed and "/run/" in cfg.all_allowed
    # content under /var stays trusted: nothing excludes /var/www or /var/lib/app
    assert not any(x in ("/var", "/var/www", "/var/lib/app") for x in cfg.all_excluded)
    reasons = {d.entry: d.reason for d in inf.entries}
    assert "redis" in reasons["/var/lib/redis/"] and "VOLUME /data" in reasons["/data/"]


def test_overrides(tmp_path: Path) -> None:
    c = tmp_path / "c.yaml"
    c.write_text("infer_defaults: false\nexclude_defaults: ['/var/log']\n"
                 "readonly_files: ['/input/']\n")
    cfg = load_config(c)
    assert cfg.infer_defaults is False and cfg.readonly_files == ("/input/",)
    inf = defaults.infer_fs(image_fs(), ["/data"], cfg, enabled=cfg.infer_defaults,
                            dropped=cfg.exclude_defaults)
    assert entries(inf) == {"/var/tmp/": "allowed_files", "/var/cache/": "allowed_files",
                            "/var/lib/dpkg": "exclude_trusted"}
