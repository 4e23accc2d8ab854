"""The log parser on lines of the current runtime (captured from a real run, see
tests/vectors/audit/README.md), on the proposed format, and on hostile input."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gsc.audit import logformat as lf
from gsc.audit import parser as P

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "audit"


def _one(line: str) -> P.Event:
    ev = P.parse_line(line)
    assert ev is not None
    return ev


def test_real_audit_log() -> None:
    log = P.parse_text((VECTORS / "allow-all-but-log-debug.log").read_bytes())
    permits = log.of(P.PERMIT)
    assert [(e.op, e.path, e.access) for e in permits] == [
        ("mkdir", "/srv", "create"),
        ("mkdir", "/srv/data", "create"),
        ("mkdir", "/srv/data/sub", "create"),
        ("open", "/srv/data/out.txt", "create"),   # from the debug line that follows
        ("open", "/srv/data/sub/log.txt", "create"),
        ("open", "/opt/app/settings.conf", None),  # mode not in the current format
        ("open", "/srv/data/out.txt", None),
    ]
    assert all(e.pid and e.pid > 1 for e in permits)
    assert not log.of(P.UNKNOWN)
    assert log.of(P.INFO)
    verified = [e for e in log.of(P.DECISION) if e.note == "verified"]
    assert verified and all(e.cls == "trusted" for e in verified)


def test_real_strict_log() -> None:
    log = P.parse_text((VECTORS / "strict-error.log").read_bytes())
    (e,) = log.events
    assert (e.kind, e.op, e.path, e.access, e.detail) == (
        "deny", "mkdir", "/srv", "create", "not an allowed path")


def test_current_denials() -> None:
    e = _one("gsc-runtime: policy: denied open /etc/app.conf (pid 7): trusted files are read-only")
    assert (e.kind, e.path, e.access, e.pid) == ("deny", "/etc/app.conf", "write", 7)
    e = _one("gsc-runtime: policy: denied open /x/new (pid 7): cannot create files outside "
             "allowed paths")
    assert e.access == "create"
    e = _one("gsc-runtime: policy: denied open /var/lib/a (pid 9): not a trusted or allowed file")
    assert e.access is None
    e = _one("gsc-runtime: policy: denied open /usr/lib/python3/dist-packages (pid 9): "
             "directory holds no trusted file")
    assert e.access == "list"
    e = _one("gsc-runtime: policy: denied unlink /data/x (pid 9): not an allowed path")
    assert e.access == "modify"


def test_exec_lines() -> None:
    e = _one("gsc-runtime: policy: denied execve (pid 12): program /opt/my tool is not a "
             "trusted file")
    assert (e.kind, e.op, e.path, e.role, e.access) == ("deny", "execve", "/opt/my tool",
                                                        "program", "exec")
    e = _one("gsc-runtime: policy: allow_all_but_log: permitting execve: interpreter "
             "/usr/bin/perl is not a trusted file (pid 3)")
    assert (e.kind, e.path, e.role, e.pid) == ("permit", "/usr/bin/perl", "interpreter", 3)
    e = _one("gsc-runtime: policy: allow_all_but_log: permitting execve: program /bin/x "
             "failed verification (hash mismatch) (pid 3)")
    assert (e.kind, e.path) == ("mismatch", "/bin/x")


def test_mismatch_and_misc() -> None:
    e = _one("gsc-runtime: policy: trusted file /app/a.py: SHA-256 mismatch, refusing (EPERM) "
             "(pid 4)")
    assert (e.kind, e.path, e.pid) == ("mismatch", "/app/a.py", 4)
    e = _one("gsc-runtime: policy: trusted file /bin/sh: SHA-256 mismatch, refusing to execute it")
    assert (e.kind, e.path) == ("mismatch", "/bin/sh")
    assert _one("gsc-runtime: launch refused: bad signature").kind == P.LAUNCH_REFUSED
    assert _one("gsc-runtime: cannot inspect pid 5: refusing its call").pid == 5
    e = _one("gsc-runtime: missing env POSTGRES_PASSWORD")
    assert (e.kind, e.detail) == ("missing-env", "POSTGRES_PASSWORD")
    assert _one("gsc-runtime: something new").kind == P.UNKNOWN
    assert P.parse_line("plain app output") is None


def test_path_with_pid_lookalike_and_spaces() -> None:
    e = _one("gsc-runtime: policy: allow_all_but_log: permitting open /d/a (pid 3) b (pid 8)")
    assert (e.path, e.pid) == ("/d/a (pid 3) b", 8)
    e = _one("gsc-runtime: policy: denied open /a (pid 1): x (pid 2): not an allowed path")
    assert (e.path, e.pid, e.detail) == ("/a (pid 1): x", 2, "not an allowed path")


def test_escaped_control_characters_are_lossy() -> None:
    e = _one("gsc-runtime: policy: denied open /srv/a?b (pid 7): not a trusted or allowed file")
    assert e.lossy and e.path == "/srv/a?b"
    e = _one(b"gsc-runtime: policy: denied open /srv/\xff (pid 7): not a trusted or allowed file")
    assert e.lossy


def test_docker_timestamps_and_interleaved_output() -> None:
    e = _one("2024-05-01T10:00:00.123456789Z gsc-runtime: policy: denied mkdir /x (pid 2): "
             "not an allowed path")
    assert (e.op, e.path) == ("mkdir", "/x")
    e = _one("partial app line gsc-runtime: policy: denied mkdir /x (pid 2): not an allowed path")
    assert e.path == "/x"


def test_proposed_format_round_trip() -> None:
    raw = b"/srv/we ird\n\"q\"\\\xff"
    line = lf.format_proposed("deny", op="open", access="write", path=raw, pid=7,
                              reason="outside-allowed")
    assert "\n" not in line
    e = _one(line)
    assert (e.kind, e.op, e.access, e.pid, e.proposed) == ("deny", "open", "write", 7, True)
    assert e.path.encode("utf-8", "surrogateescape") == raw
    e = _one('gsc-runtime: policy: permit op=openat path="/data/x" access=create pid=9 v=1')
    assert (e.kind, e.path, e.access) == ("permit", "/data/x", "create")
    e = _one("gsc-runtime: policy: drop-env name=POSTGRES_PASSWORD")
    assert (e.kind, e.detail) == ("missing-env", "POSTGRES_PASSWORD")
    # Not the proposed grammar: falls back to the current format or unknown, never raises.
    assert _one('gsc-runtime: policy: deny op=open path="/x').kind == P.UNKNOWN


@given(st.binary(max_size=300))
def test_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    P.parse_text(data)
    P.parse_text(b"gsc-runtime: policy: " + data)
    P.parse_text(b"gsc-runtime: policy: deny " + data)


@given(st.binary(min_size=1, max_size=80), st.sampled_from(lf.ACCESSES),
       st.integers(min_value=1, max_value=2**22))
def test_proposed_quoting_is_exact(path: bytes, access: str, pid: int) -> None:
    e = _one(lf.format_proposed("permit", op="open", access=access, path=b"/" + path, pid=pid))
    assert e.path.encode("utf-8", "surrogateescape") == b"/" + path
    assert (e.access, e.pid) == (access, pid)
