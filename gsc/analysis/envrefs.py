"""Environment variables a shell entrypoint script reads, and build warnings about the
ones the manifest will not give it.

``env_references(text)`` is a static, best-effort reading of POSIX sh/bash text: it finds
``$NAME``, ``${NAME}``, ``${NAME:-x}``, ``${#NAME}``, ``${!NAME}`` ... outside single quotes,
comments, backslash escapes and quoted here-documents; positional and special parameters
(``$1``, ``$@``, ``$?`` ...) are not names. A name whose first assignment in the text
(``NAME=...``, ``export/local/readonly/declare NAME``, ``read NAME``, ``for NAME in``)
comes before its first reference is the script's own variable and is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"(?:^|[;&|(){}\s])(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")
_DECL = re.compile(r"(?:^|[;&|(){}\s])(?:export|local|readonly|declare|typeset)"
                   r"(?:\s+-[A-Za-z]+)*(?P<names>(?:\s+[A-Za-z_][A-Za-z0-9_]*(?:=\S*)?)+)")
_READ = re.compile(r"(?:^|[;&|(){}\s])read(?:\s+-[A-Za-z]*[adinNptu]\s+\S+|\s+-[A-Za-z]+)*"
                   r"(?P<names>(?:\s+[A-Za-z_][A-Za-z0-9_]*)+)")
_FOR = re.compile(r"(?:^|[;&|(){}\s])for\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s")
_HEREDOC = re.compile(r"<<-?\s*(?:'(?P<sq>[^']+)'|\"(?P<dq>[^\"]+)\"|\\(?P<bs>\w+))")
_WORD_BREAK = frozenset(" \t\n;&|()<>")

# Set by the shell itself or by the container runtime: never worth a warning.
SHELL_PROVIDED = frozenset({
    "PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "IFS", "PS1", "PS2", "PS4", "SHELL",
    "SHLVL", "UID", "EUID", "PPID", "RANDOM", "LINENO", "SECONDS", "OPTARG", "OPTIND",
    "TERM", "REPLY", "FUNCNAME", "PIPESTATUS", "GROUPS", "HOSTTYPE", "MACHTYPE", "OSTYPE",
    "BASHPID", "BASHOPTS", "SHELLOPTS", "COLUMNS", "LINES", "EPOCHSECONDS", "EPOCHREALTIME",
    "SRANDOM", "BASH_SOURCE", "BASH_VERSION", "BASH_REMATCH", "BASH_LINENO", "BASH",
})
ENV_STYLE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def _masked(text: str) -> tuple[str, list[bool]]:
    """Mark which characters are live shell text (True) rather than literal: inside single
    quotes, ANSI-C quotes, comments, after a backslash, or in a quoted here-document."""
    live = [True] * len(text)
    i, n = 0, len(text)
    in_dq = False
    pending_docs: list[str] = []
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            live[i] = live[i + 1] = False
            i += 2
            continue
        if not in_dq and (ch == "'" or (ch == "$" and text[i + 1:i + 2] == "'")):
            start = i
            i = text.find("'", i + (2 if ch == "$" else 1))
            i = n if i < 0 else i + 1
            if ch == "$":  # $'...' may hold \' escapes
                j = start + 2
                while j < n and text[j] != "'":
                    j += 2 if text[j] == "\\" else 1
                i = min(n, j + 1)
            for k in range(start, i):
                live[k] = False
            continue
        if ch == '"':
            in_dq = not in_dq
        elif not in_dq and ch == "#" and (i == 0 or text[i - 1] in _WORD_BREAK):
            end = text.find("\n", i)
            end = n if end < 0 else end
            for k in range(i, end):
                live[k] = False
            i = end
            continue
        elif not in_dq and ch == "<" and text.startswith("<<", i):
            m = _HEREDOC.match(text, i)
            if m:
                pending_docs.append(m.group("sq") or m.group("dq") or m.group("bs"))
        elif ch == "\n" and pending_docs:
            # Skip the bodies of quoted here-documents that start on the next line.
            i += 1
            for delim in pending_docs:
                while i < n:
                    end = text.find("\n", i)
                    end = n if end < 0 else end
                    line = text[i:end]
                    for k in range(i, end):
                        live[k] = False
                    i = end + 1
                    if line.lstrip("\t") == delim:
                        break
            pending_docs = []
            continue
        i += 1
    return text, live


def _references(text: str, live: list[bool]) -> dict[str, int]:
    """First position of each referenced name."""
    refs: dict[str, int] = {}
    n = len(text)
    for i, ch in enumerate(text):
        if ch != "$" or not live[i] or i + 1 >= n:
            continue
        j = i + 1
        if text[j] == "{":
            j += 1
            if j < n and text[j] in "#!" and j + 1 < n and (text[j + 1].isalpha()
                                                           or text[j + 1] == "_"):
                j += 1
        m = _NAME.match(text, j)
        if m is not None:
            refs.setdefault(m.group(0), i)
    return refs


def _word_end(text: str, i: int) -> int:
    """End of the shell word starting at i (quotes and ${...} kept together)."""
    n, depth, quote = len(text), 0, ""
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch == "{" and i > 0 and text[i - 1] == "$":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif ch in _WORD_BREAK and not depth:
            return i
        i += 1
    return n


def _assignments(text: str, live: list[bool]) -> dict[str, int]:
    """Position where each name is first assigned (after its value, so ``X="${X:-1}"``
    reads X first)."""
    out: dict[str, int] = {}

    def note(name: str, pos: int) -> None:
        out[name] = min(out.get(name, pos), pos)

    for m in _ASSIGN.finditer(text):
        if live[m.start("name")]:
            note(m.group("name"), _word_end(text, m.end()))
    for pat in (_DECL, _READ):
        for m in pat.finditer(text):
            for nm in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*(?:=\S*)?", m.group("names")):
                name = nm.group(0).split("=", 1)[0]
                end = m.start("names") + nm.end()
                if live[m.start("names") + nm.start()]:
                    note(name, end)
    for m in _FOR.finditer(text):
        note(m.group("name"), m.end("name"))
    return out


def env_references(script: str) -> list[str]:
    """Names of environment variables the script reads, sorted."""
    text, live = _masked(script)
    refs = _references(text, live)
    assigned = _assignments(text, live)
    return sorted(name for name, pos in refs.items()
                  if not (name in assigned and assigned[name] <= pos))


def passthrough_warnings(entrypoint: str, names: Iterable[str], manifest_env: Iterable[str],
                         passthrough: Iterable[str]) -> list[str]:
    """One warning per ENV-style name the entrypoint reads that ``docker run -e`` cannot
    set: either the manifest pins it (loader.env) or does not pass it at all."""
    pinned = set(manifest_env)
    passed = set(passthrough)
    out = []
    for name in sorted(set(names)):
        if name in passed or name in SHELL_PROVIDED or not ENV_STYLE.match(name):
            continue
        if name in pinned:
            out.append(f"entrypoint {entrypoint} reads ${name}, which the manifest pins to the "
                       f"image's value (docker run -e {name}=... is ignored): add "
                       f"--env-passthrough {name} if it must come from docker run")
        else:
            out.append(f"entrypoint {entrypoint} reads ${name}, which the manifest does not "
                       f"pass through: add --env-passthrough {name}")
    return out
