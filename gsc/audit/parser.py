"""Parse a shielded container's stderr into policy events (formats: gsc/audit/logformat.py).

Lines that are not the runtime's (the app's own output, Docker's timestamps, garbage) are
skipped and counted; a runtime line whose text is unknown becomes an ``unknown`` event,
never an error. Input is bytes or text; invalid UTF-8 is kept through surrogate escapes
and marks the path lossy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from gsc.audit import logformat as lf

# Event kinds
DENY = "deny"            # the policy refused the call
PERMIT = "permit"        # would be refused; let through by allow_all_but_log
DECISION = "decision"    # debug-level record of a decision (allowed or an errno)
MISMATCH = "mismatch"    # trusted file failed verification
MISSING_ENV = "missing-env"
LAUNCH_REFUSED = "launch-refused"
CANNOT_INSPECT = "cannot-inspect"
INFO = "info"            # a known runtime line without policy meaning (launch, exit ...)
UNKNOWN = "unknown"      # a runtime line this parser does not know


@dataclass(frozen=True)
class Event:
    kind: str
    line: int                      # 1-based line number in the log
    op: str = ""                   # syscall name as logged: open, mkdir, execve ...
    path: str = ""                 # canonical path as logged ("" when none)
    access: str | None = None      # read|write|create|exec|modify|list, None: unknown
    pid: int | None = None
    detail: str = ""               # WHY text, decision result, env name, ...
    cls: str = ""                  # class in decision lines: trusted|allowed|trusted-dir|denied
    note: str = ""                 # decision note: created, verified, O_PATH, absent
    role: str = ""                 # exec: program|interpreter
    lossy: bool = False            # path may not be the real one ("?" or invalid UTF-8)
    proposed: bool = False         # came from the proposed machine-readable format


@dataclass
class ParsedLog:
    events: list[Event] = field(default_factory=list)
    lines: int = 0
    runtime_lines: int = 0
    other_lines: int = 0

    def of(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]


def _lossy(path: str) -> bool:
    return "?" in path or any("\udc80" <= ch <= "\udcff" for ch in path)


def _decode(line: bytes | str) -> str:
    if isinstance(line, bytes):
        return line.decode("utf-8", "surrogateescape")
    return line


def _access_for(op: str, why: str | None) -> str | None:
    if op in lf.EXEC_OPS:
        return "exec"
    if op in lf.CREATE_OPS:
        return "create"
    if why is not None and why in lf.WHY_ACCESS:
        return lf.WHY_ACCESS[why]
    if op in lf.OPEN_OPS:
        return None
    return "modify"


def _parse_proposed(body: str, n: int) -> Event | None:
    m = lf.PROPOSED_LINE.match(body)
    if m is None:
        return None
    verdict = m.group("verdict")
    raw: dict[str, bytes] = {}
    for f in lf.PROPOSED_FIELD.finditer(m.group(2)):
        if f.group("bare") is not None:
            raw[f.group("key")] = f.group("bare").encode()
        else:
            raw[f.group("key")] = lf.unquote(f.group("quoted"))

    def text(key: str) -> str:
        return raw.get(key, b"").decode("utf-8", "surrogateescape")

    pid_s = text("pid")
    pid = int(pid_s) if pid_s.isdigit() else None
    if verdict == "drop-env":
        name = text("name")
        return Event(MISSING_ENV, n, detail=name, proposed=True) if name else None
    path = text("path")
    kind = {"deny": DENY, "permit": PERMIT, "mismatch": MISMATCH}[verdict]
    access = text("access") or None
    if access is not None and access not in lf.ACCESSES:
        access = None
    op = text("op")
    if access is None and op:
        access = _access_for(op, None)
    return Event(kind, n, op=op, path=path, access=access, pid=pid, detail=text("reason"),
                 cls=text("class"), role=text("role"),
                 lossy=any("\udc80" <= ch <= "\udcff" for ch in path), proposed=True)


def _parse_current(body: str, n: int) -> Event | None:
    for kind, pat in lf.CURRENT_PATTERNS:
        m = pat.match(body)
        if m is None:
            continue
        g = m.groupdict()
        pid = int(g["pid"]) if g.get("pid") else None
        op = g.get("op") or ""
        if kind in ("permit-exec", "deny-exec"):
            why = g["why"]
            w = lf.EXEC_WHY.match(why)
            path, role = (w.group("path"), w.group("role")) if w else ("", "")
            if w and w.group("cause") == "hash mismatch":
                return Event(MISMATCH, n, op=op, path=path, access="exec", pid=pid,
                             detail=why, role=role, lossy=_lossy(path))
            return Event(PERMIT if kind == "permit-exec" else DENY, n, op=op, path=path,
                         access="exec", pid=pid, detail=why, role=role, lossy=_lossy(path))
        path = g.get("path") or ""
        if kind == "permit":
            return Event(PERMIT, n, op=op, path=path, access=_access_for(op, None), pid=pid,
                         lossy=_lossy(path))
        if kind == "deny":
            why = g["why"]
            return Event(DENY, n, op=op, path=path, access=_access_for(op, why), pid=pid,
                         detail=why, lossy=_lossy(path))
        if kind == "mismatch":
            return Event(MISMATCH, n, path=path, pid=pid, detail="SHA-256 mismatch",
                         lossy=_lossy(path))
        if kind == "decision":
            note = g.get("note") or ""
            access = "create" if note == "created" else None
            if op not in lf.OPEN_OPS:
                access = _access_for(op, None)
            return Event(DECISION, n, op=op, path=path, access=access, pid=pid,
                         detail=g["result"], cls=g["cls"].replace(" ", "-"), note=note,
                         lossy=_lossy(path))
        if kind == "decision-exec":
            return Event(DECISION, n, op=op, path=path, access="exec", pid=pid,
                         detail=g["result"], lossy=_lossy(path))
    return None


def parse_line(line: bytes | str, n: int = 1) -> Event | None:
    """The event of one line; None when the line is not the runtime's."""
    text = _decode(line).rstrip("\r\n")
    at = text.find(lf.PREFIX)
    if at < 0:
        return None
    body = text[at + len(lf.PREFIX):]
    env = lf.MISSING_ENV.search(body)
    if env is not None:
        return Event(MISSING_ENV, n, detail=env.group("name"))
    m = lf.LAUNCH_REFUSED.match(body)
    if m is not None:
        return Event(LAUNCH_REFUSED, n, detail=m.group("why"))
    m = lf.CANNOT_INSPECT.match(body)
    if m is not None:
        return Event(CANNOT_INSPECT, n, pid=int(m.group("pid")), detail=m.group("why"))
    if lf.INFO.match(body):
        return Event(INFO, n, detail=body)
    if body.startswith(lf.POLICY):
        rest = body[len(lf.POLICY):]
        ev = _parse_proposed(rest, n) or _parse_current(rest, n)
        if ev is not None:
            return ev
    return Event(UNKNOWN, n, detail=body)


def parse_log(lines: Iterable[bytes | str]) -> ParsedLog:
    out = ParsedLog()
    for n, line in enumerate(lines, 1):
        out.lines = n
        ev = parse_line(line, n)
        if ev is None:
            out.other_lines += 1
            continue
        out.runtime_lines += 1
        out.events.append(ev)
    out.events = _correlate(out.events)
    return out


def _correlate(events: list[Event]) -> list[Event]:
    """A permitted open does not say what it did; the debug decision line the runtime
    prints right after it (same op, path and pid) says ``created`` when it created."""
    out = list(events)
    for i, e in enumerate(out):
        if e.kind != PERMIT or e.access is not None:
            continue
        for later in out[i + 1:i + 8]:
            if later.kind == DECISION and (later.op, later.path, later.pid) == (e.op, e.path,
                                                                               e.pid):
                if later.note == "created":
                    out[i] = replace(e, access="create")
                break
    return out


def parse_text(data: bytes | str) -> ParsedLog:
    """Parse a whole log; a final newline does not make an extra line."""
    if isinstance(data, bytes):
        return parse_log(data.removesuffix(b"\n").split(b"\n") if data else [])
    return parse_log(data.removesuffix("\n").split("\n") if data else [])
