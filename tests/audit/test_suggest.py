"""The suggestion engine's rules (docs/audit.md), without Docker: an image described by a
path -> kind mapping."""

from __future__ import annotations

from pathlib import Path

from gsc.audit import parser as P
from gsc.audit.imageview import FuncView, MapView
from gsc.audit.render import to_json, to_yaml
from gsc.audit.suggest import suggest

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "audit"
IMAGE = MapView({
    "/srv": "dir", "/opt/app/app.sh": "file", "/opt/app/settings.conf": "file",
    "/etc/nginx/nginx.conf": "file", "/etc/nginx/conf.d": "dir", "/var/lib/app": "dir",
    "/var/lib/app/state.db": "file", "/usr/bin/tool": "file", "/data": "dir",
})


def _log(*lines: str) -> list[P.Event]:
    return P.parse_text("\n".join("gsc-runtime: policy: " + x for x in lines)).events


def _permit(op: str, path: str, pid: int = 5) -> str:
    return f"allow_all_but_log: permitting {op} {path} (pid {pid})"


def test_real_log_with_image() -> None:
    events = P.parse_text((VECTORS / "allow-all-but-log-debug.log").read_bytes()).events
    s = suggest(events, IMAGE)
    assert s.values("allowed_files") == ["/srv/data/"]
    assert s.values("trusted_files") == ["/opt/app/settings.conf"]
    assert [d.path for d in s.declined] == ["/srv"]   # mkdir -p of a directory that exists
    assert s.entries[0].count == 4


def test_created_directory_is_the_smallest_writable_place() -> None:
    s = suggest(_log(_permit("mkdir", "/srv/cache"), _permit("mkdir", "/srv/cache/a/b")),
                IMAGE)
    assert s.values("allowed_files") == ["/srv/cache/"]
    # A new file in a directory of the image: that directory.
    s = suggest(_log("denied open /var/lib/app/state.db-journal (pid 3): cannot create files "
                     "outside allowed paths"), IMAGE)
    assert s.values("allowed_files") == ["/var/lib/app/"]


def test_existing_excluded_file_written_allows_only_it() -> None:
    s = suggest(_log("denied truncate /var/lib/app/state.db (pid 3): not an allowed path"), IMAGE)
    assert s.values("allowed_files") == ["/var/lib/app/state.db"]


def test_system_trees_and_root_are_never_allowed() -> None:
    s = suggest(_log("denied open /etc/nginx/nginx.conf (pid 3): trusted files are read-only",
                     "denied unlink /usr/bin/tool (pid 3): trusted files and directories are "
                     "read-only", _permit("mkdir", "/newtop")), IMAGE)
    assert s.values("allowed_files") == ["/newtop/"]
    reasons = {d.path: d.reason for d in s.declined}
    assert "trusted file" in reasons["/etc/nginx/nginx.conf"]
    assert "/usr/bin/tool" in reasons
    # A new name under /etc: only that name, never the directory.
    s = suggest(_log("denied open /etc/nginx/conf.d/default.conf (pid 3): cannot create files "
                     "outside allowed paths"), IMAGE)
    assert s.values("allowed_files") == ["/etc/nginx/conf.d/default.conf"]
    s = suggest(_log("denied open /newfile (pid 3): cannot create files outside allowed paths"),
                IMAGE)
    assert s.values("allowed_files") == ["/newfile"]


def test_broad_directory_declined() -> None:
    s = suggest(_log("denied open /srv/x.log (pid 3): cannot create files outside allowed paths"),
                IMAGE)
    assert s.values("allowed_files") == ["/srv/x.log"]
    s = suggest(_log("denied unlink /srv/old (pid 3): not an allowed path"), IMAGE)
    assert s.values("allowed_files") == []
    assert "too broad" in s.declined[0].reason


def test_reads() -> None:
    s = suggest(_log(_permit("open", "/opt/app/settings.conf"),
                     "denied execve (pid 4): program /usr/bin/tool is not a trusted file",
                     "denied execve (pid 4): program /tmp/dropped is not a trusted file",
                     "denied open /mnt/input/a.csv (pid 4): not a trusted or allowed file",
                     "denied open /var/lib/app (pid 4): directory holds no trusted file",
                     "denied open /etc/mounted.conf (pid 4): not a trusted or allowed file"),
                IMAGE)
    assert s.values("trusted_files") == ["/opt/app/settings.conf", "/usr/bin/tool"]
    # Not in the image: a mount; under a system tree only the name itself.
    assert s.values("allowed_files") == ["/etc/mounted.conf", "/mnt/input/"]
    declined = {d.path for d in s.declined}
    assert declined == {"/tmp/dropped", "/var/lib/app"}


def test_runtime_paths() -> None:
    s = suggest(_log("denied open /proc/123/status (pid 4): not a trusted or allowed file",
                     "denied open /dev/pts/3 (pid 4): not a trusted or allowed file",
                     "denied open /dev/sda (pid 4): not a trusted or allowed file"), IMAGE)
    assert s.values("allowed_files") == ["/dev/pts/", "/proc/"]
    assert [d.path for d in s.declined] == ["/dev/sda"]


def test_lossy_mismatch_env_and_notes() -> None:
    s = suggest(P.parse_text(
        "gsc-runtime: policy: denied open /srv/a?b (pid 3): cannot create files outside "
        "allowed paths\n"
        "gsc-runtime: policy: trusted file /app/x: SHA-256 mismatch, refusing (EPERM) (pid 3)\n"
        "gsc-runtime: missing env POSTGRES_PASSWORD\n"
        "gsc-runtime: cannot inspect pid 9: refusing its call\n").events, IMAGE)
    assert s.values("allowed_files") == []
    assert s.values("env_passthrough") == ["POSTGRES_PASSWORD"]
    assert {d.path for d in s.declined} == {"/srv/a?b", "/app/x"}
    assert any("pid 9" in n for n in s.notes)
    s = suggest(_log(_permit("mkdir", "/data/x")), IMAGE)
    assert any("not inferable" in n for n in s.notes)


def test_without_image_and_with_callables(tmp_path: Path) -> None:
    events = P.parse_text((VECTORS / "allow-all-but-log-debug.log").read_bytes()).events
    s = suggest(events)
    assert not s.image_checked
    assert s.values("allowed_files") == ["/srv/data/"]
    assert "not checked against the image" in s.entries[1].reason
    root = tmp_path / "root"
    (root / "srv").mkdir(parents=True)
    (root / "opt/app").mkdir(parents=True)
    (root / "opt/app/settings.conf").write_text("x")
    def at(p: str) -> Path:
        return root / p.lstrip("/")
    view = FuncView(lambda p: at(p).exists(), lambda p: at(p).is_dir(),
                    lambda p: at(p).is_file())
    assert suggest(events, view).values("trusted_files") == ["/opt/app/settings.conf"]


def test_output_is_deterministic_and_valid_yaml() -> None:
    import yaml

    lines = [_permit("mkdir", "/data/b"), _permit("mkdir", "/data/a"),
             "denied open /opt/app/settings.conf (pid 3): not a trusted or allowed file"]
    a = to_yaml(suggest(_log(*lines), IMAGE), source="x.log", base={"debug": True,
                                                                   "allowed_files": ["/q/"]})
    b = to_yaml(suggest(_log(*reversed(lines)), IMAGE), source="x.log",
                base={"debug": True, "allowed_files": ["/q/"]})
    assert yaml.safe_load(a) == yaml.safe_load(b) == {
        "debug": True, "allowed_files": ["/q/", "/data/a/", "/data/b/"],
        "trusted_files": ["/opt/app/settings.conf"]}
    assert to_json(suggest(_log(*lines), IMAGE))["config"]["allowed_files"] == [
        "/data/a/", "/data/b/"]


def test_hostile_path_cannot_break_the_yaml() -> None:
    import yaml

    from gsc.audit import logformat as lf

    line = lf.format_proposed("deny", op="open", access="create",
                              path=b"/data/x\n- /etc/\"#", pid=3)
    text = to_yaml(suggest(P.parse_text(line).events, IMAGE))
    # The exact (odd) directory, as one quoted value: nothing else injected.
    assert yaml.safe_load(text) == {"allowed_files": ["/data/x\n- /"]}
