"""The contract for the runtime's policy log lines: the one place that says what
`gsc-runtime` prints and what `gsc suggest-config` reads (docs/audit.md refers here).

Every runtime line starts with ``PREFIX`` and is one line: the runtime replaces control
characters (bytes < 0x20 and 0x7f) in the whole line by ``?`` (runtime/src/log.c), so a
``?`` in a path may stand for a control character: such paths are *lossy*.

Two formats are accepted.

**Current (runtime as of this writing; free text, runtime/src/supervisor.c and exec.c):**

    policy: denied OP PATH (pid N): WHY                           error
    policy: denied OP (pid N): ROLE PATH WHY-TAIL                 error (execve/execveat)
    policy: allow_all_but_log: permitting OP PATH (pid N)         warning
    policy: allow_all_but_log: permitting OP: ROLE PATH WHY-TAIL (pid N)   warning (exec)
    policy: denied OP PATH (pid N): directory holds no trusted file        warning
    policy: trusted file PATH: SHA-256 mismatch, refusing (EPERM) (pid N)  error
    policy: trusted file PATH: SHA-256 mismatch, refusing to execute it    error
    policy: OP PATH (CLASS[, NOTE]): RESULT (pid N)               debug (open decisions)
    policy: OP PATH (CLASS): RESULT (pid N)                       debug (other calls)
    policy: OP PATH: RESULT (pid N)                               debug (exec decisions)
    launch refused: REASON                                        always
    cannot inspect pid N: refusing its call                       warning

Ambiguities of the current format: a PATH may itself contain `` (pid 3): ``; a
permitted ``open`` does not say whether it read, wrote or created (only the debug decision
line that follows says ``created``); ``?`` is lossy; nothing says which environment
variables were dropped.

**Proposed (machine-readable, version 1):** one verdict word, then ``key=value`` fields:

    gsc-runtime: policy: VERDICT op=OP access=ACCESS path="PATH" class=CLASS pid=N reason=R

VERDICT is ``deny`` (refused), ``permit`` (would be refused, let through by
allow_all_but_log), ``mismatch`` (trusted file failed SHA-256 verification) or
``drop-env`` (a variable given to the container that the manifest does not pass:
``name=NAME``). ACCESS is one of ``ACCESSES``; CLASS one of ``CLASSES``; REASON one of
``REASONS``. Values are bare (``BARE_VALUE``) or double-quoted with ``\\\\``, ``\\"`` and
``\\xHH`` escapes for every byte outside printable ASCII, so any path round-trips
exactly and no value can contain a raw space, quote or control character. Unknown keys are
ignored (forward compatible); ``v=1`` may be given.
"""

from __future__ import annotations

import re

PREFIX = "gsc-runtime: "
POLICY = "policy: "

ACCESSES = ("read", "write", "create", "exec", "modify", "list")
CLASSES = ("trusted", "allowed", "trusted-dir", "denied")
VERDICTS = ("deny", "permit", "mismatch", "drop-env")
REASONS = {
    "not-listed": "not a trusted or allowed file",
    "outside-allowed": "cannot create files outside allowed paths",
    "trusted-read-only": "trusted files are read-only",
    "trusted-dir-list-only": "directories of trusted files may only be listed",
    "hard-links": "refusing write access to a file with hard links",
    "not-allowed-path": "not an allowed path",
    "trusted-tree-read-only": "trusted files and directories are read-only",
    "empty-dir": "directory holds no trusted file",
    "not-trusted-program": "is not a trusted file",
    "hash-mismatch": "failed verification",
}

# Which access each current WHY text implies.
WHY_ACCESS = {
    "not a trusted or allowed file": None,  # open of an existing file: read or write
    "cannot create files outside allowed paths": "create",
    "trusted files are read-only": "write",
    "directories of trusted files may only be listed": "write",
    "refusing write access to a file with hard links": "write",
    "not an allowed path": "modify",
    "trusted files and directories are read-only": "modify",
    "refusing to change a file with hard links": "modify",
    "directory holds no trusted file": "list",
}

OPEN_OPS = frozenset({"open", "openat", "openat2", "creat"})
EXEC_OPS = frozenset({"execve", "execveat"})
CREATE_OPS = frozenset({"mkdir", "mkdirat", "mknod", "mknodat", "symlink", "symlinkat",
                        "link", "linkat"})

_OP = r"(?P<op>[a-z][a-z0-9_]*)"
_PID = r"\(pid (?P<pid>\d+)\)"

# Current format, matched on the text after "gsc-runtime: policy: ". Greedy paths are
# anchored on the fixed tail, so a space in a path is kept.
CURRENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("permit-exec", re.compile(
        r"^allow_all_but_log: permitting (?P<op>execve|execveat): (?P<why>.*) " + _PID + r"$")),
    ("permit", re.compile(r"^allow_all_but_log: permitting " + _OP + r" (?P<path>.*) "
                          + _PID + r"$")),
    ("deny-exec", re.compile(r"^denied (?P<op>execve|execveat) " + _PID + r": (?P<why>.*)$")),
    ("deny", re.compile(r"^denied " + _OP + r" (?P<path>.*) " + _PID
                        + r": (?P<why>" + "|".join(re.escape(w) for w in WHY_ACCESS) + r")$")),
    ("deny", re.compile(r"^denied " + _OP + r" (?P<path>.*) " + _PID + r": (?P<why>.*)$")),
    ("mismatch", re.compile(
        r"^trusted file (?P<path>.*): SHA-256 mismatch, refusing \(EPERM\) " + _PID + r"$")),
    ("mismatch", re.compile(
        r"^trusted file (?P<path>.*): SHA-256 mismatch, refusing to execute it$")),
    ("decision", re.compile(r"^" + _OP + r" (?P<path>.*) \((?P<cls>trusted dir|trusted|"
                            r"allowed|denied)(?:, (?P<note>[A-Za-z_]+))?\): (?P<result>[^()]*) "
                            + _PID + r"$")),
    ("decision-exec", re.compile(r"^(?P<op>execve|execveat) (?P<path>.*): (?P<result>[^:()]*) "
                                 + _PID + r"$")),
)

# "program /x is not a trusted file", "interpreter /x failed verification (hash mismatch)"
EXEC_WHY = re.compile(r"^(?P<role>program|interpreter) (?P<path>.*?)(?P<tail> is not a trusted "
                      r"file| failed verification \((?P<cause>[^)]*)\))$")

LAUNCH_REFUSED = re.compile(r"^launch refused: (?P<why>.*)$")
CANNOT_INSPECT = re.compile(r"^cannot inspect pid (?P<pid>\d+): (?P<why>.*)$")
# Known lines without policy meaning.
INFO = re.compile(r"^(measured launch ok: |supervising pid \d+ |application exited with |"
                  r"forwarding signal \d+ to pid )")
# Accepted wherever it appears after the prefix (not emitted by the current runtime).
MISSING_ENV = re.compile(r"\bmissing env (?P<name>[A-Za-z_][A-Za-z0-9_]*)\b")

# Proposed format.
BARE_VALUE = r"[A-Za-z0-9_.:/+@%,-]+"
PROPOSED_LINE = re.compile(r"^(?P<verdict>" + "|".join(VERDICTS) + r")((?: [a-z][a-z0-9_]*="
                           r"(?:" + BARE_VALUE + r"|\"(?:[^\"\\]|\\.)*\"))*)$")
PROPOSED_FIELD = re.compile(r" (?P<key>[a-z][a-z0-9_]*)=(?:(?P<bare>" + BARE_VALUE
                            + r")|\"(?P<quoted>(?:[^\"\\]|\\.)*)\")")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")


def unquote(text: str) -> bytes:
    """Bytes of a quoted proposed-format value (without its quotes)."""
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("utf-8", "surrogateescape")
        esc = m.group(1)
        out += bytes([int(esc[1:], 16)]) if esc[0] == "x" and len(esc) == 3 else esc.encode()
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)


def quote(value: bytes) -> str:
    """The proposed format's quoting: printable ASCII as is (``\\`` and ``"`` escaped),
    every other byte as ``\\xHH``."""
    parts = ['"']
    for b in value:
        if b in (0x22, 0x5C):
            parts.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            parts.append(chr(b))
        else:
            parts.append(f"\\x{b:02x}")
    parts.append('"')
    return "".join(parts)


def format_proposed(verdict: str, **fields: str | int | bytes) -> str:
    """One proposed-format line (what the runtime should print), e.g.
    ``format_proposed("deny", op="open", access="write", path=b"/srv/x", pid=7)``."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    out = [PREFIX + POLICY + verdict]
    for key, value in fields.items():
        if isinstance(value, bytes):
            out.append(f"{key}={quote(value)}")
        elif re.fullmatch(BARE_VALUE, str(value)):
            out.append(f"{key}={value}")
        else:
            out.append(f"{key}={quote(str(value).encode())}")
    return " ".join(out)
