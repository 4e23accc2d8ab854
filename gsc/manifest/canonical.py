"""The canonical TOML form of a gsc manifest (docs/manifest-format.md).

`dumps` is the only writer of final manifests: same data, same bytes. `loads` accepts exactly
what `dumps` writes (the canonical form is defined as the fixed points of dumps . tomllib) and
refuses everything else with an InputError naming the source and the line. The strict C reader
(runtime/core/manifest.c) accepts the same language.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from gsc.errors import InputError

HEADER = "# gsc canonical manifest v1"
MAX_BYTES = 64 * 1024 * 1024
MAX_STRING = 64 * 1024
MAX_DEPTH = 32
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

_BARE = re.compile(r"[A-Za-z0-9_-]+")
# A string with none of the characters _quote escapes (nor NUL): written as it is.
_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f]*')
_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\b": "\\b",
    "\f": "\\f",
}


class DumpError(ValueError):
    """The data cannot be written in canonical form; `key` is the dotted key concerned."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key or '<document>'}: {problem}")
        self.key = key
        self.problem = problem


def _quote(text: str, key: str) -> str:
    if _PLAIN.fullmatch(text) and len(text) <= MAX_STRING // 4:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # the checks below say what is wrong
        else:
            return f'"{text}"'
    if "\x00" in text:
        raise DumpError(key, "NUL characters are not allowed in strings or keys")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_STRING:
        raise DumpError(key, f"string longer than {MAX_STRING} bytes")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DumpError(key, "string is not valid Unicode (lone surrogate)") from None
    out = ['"']
    for ch in text:
        esc = _SHORT_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _segment(seg: Any, key: str) -> str:
    if not isinstance(seg, str):
        raise DumpError(key, f"key {seg!r} is not a string")
    if _BARE.fullmatch(seg):
        if len(seg) > MAX_STRING:
            raise DumpError(key, f"key segment longer than {MAX_STRING} bytes")
        return seg
    return _quote(seg, key)


def _sort_key(segments: Sequence[str]) -> tuple[bytes, ...]:
    return tuple(s.encode("utf-8", "surrogatepass") for s in segments)


def _scalar(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise DumpError(key, "integer does not fit in 64 bits")
        return str(value)
    if isinstance(value, str):
        return _quote(value, key)
    if isinstance(value, float):
        raise DumpError(key, "floats are not allowed in a canonical manifest")
    if isinstance(value, Mapping):
        raise DumpError(key, "tables are not allowed here (only scalars)")
    if isinstance(value, list | tuple):
        raise DumpError(key, "nested arrays are not allowed")
    name = type(value).__name__
    if name in ("datetime", "date", "time"):
        raise DumpError(key, "dates and times are not allowed in a canonical manifest")
    raise DumpError(key, f"values of type {name} cannot be written")


def _element(value: Any, key: str) -> str:
    if isinstance(value, Mapping):
        if not value:
            raise DumpError(key, "empty inline tables are not allowed")
        items = sorted(value.items(), key=lambda kv: _sort_key([_check_str(kv[0], key)]))
        parts = [f"{_segment(k, key)} = {_scalar(v, f'{key}.{k}')}" for k, v in items]
        return "{ " + ", ".join(parts) + " }"
    return _scalar(value, key)


def _check_str(k: Any, key: str) -> str:
    if not isinstance(k, str):
        raise DumpError(key, f"key {k!r} is not a string")
    return k


def _flatten(
    table: Mapping[str, Any], prefix: list[str], out: list[tuple[list[str], Any]]
) -> None:
    for k, v in table.items():
        path = [*prefix, _check_str(k, ".".join(prefix))]
        if len(path) > MAX_DEPTH:
            raise DumpError(".".join(path), f"more than {MAX_DEPTH} key segments")
        if isinstance(v, Mapping):
            if not v:
                raise DumpError(".".join(path), "empty tables are not allowed")
            _flatten(v, path, out)
        else:
            out.append((path, v))


def dumps(doc: Mapping[str, Any]) -> bytes:
    """The canonical bytes of `doc`. Raises DumpError for data the form cannot express."""
    if not isinstance(doc, Mapping):
        raise DumpError("", "a manifest must be a table")
    pairs: list[tuple[list[str], Any]] = []
    _flatten(doc, [], pairs)
    pairs.sort(key=lambda p: _sort_key(p[0]))
    lines = [HEADER]
    for path, value in pairs:
        dotted = ".".join(path)
        key = ".".join(_segment(s, dotted) for s in path)
        if isinstance(value, list | tuple):
            if not value:
                lines.append(f"{key} = []")
                continue
            lines.append(f"{key} = [")
            lines.extend(f"  {_element(v, dotted)}," for v in value)
            lines.append("]")
        else:
            lines.append(f"{key} = {_scalar(value, dotted)}")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if len(data) > MAX_BYTES:
        raise DumpError("", f"manifest larger than {MAX_BYTES} bytes")
    return data


def parsed(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``doc`` as ``loads(dumps(doc))`` gives it back, without writing and parsing text:
    the same data with every table's keys in canonical (bytewise) order and arrays as
    lists. For data ``dumps`` accepts; the canonical form round-trips exactly."""
    return {k: _parsed_value(doc[k]) for k in sorted(doc, key=_key_bytes)}


def _key_bytes(key: str) -> bytes:
    return key.encode("utf-8", "surrogatepass")


def _parsed_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return parsed(value)
    if isinstance(value, list | tuple):
        return [_parsed_value(v) for v in value]
    return value


def _fail(source: str, line: int | None, problem: str) -> InputError:
    where = f"{source}: line {line}" if line else source
    return InputError(f"{where}: {problem}")


def _prescan(data: bytes, source: str) -> str:
    """Cheap byte-level checks with precise messages; returns the decoded text."""
    if len(data) > MAX_BYTES:
        raise _fail(source, None, f"manifest larger than {MAX_BYTES} bytes")
    if not data:
        raise _fail(source, 1, "empty manifest")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(source, data.count(b"\n", 0, exc.start) + 1, "not valid UTF-8") from None
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if "\r" in line:
            raise _fail(source, number, "carriage return (CRLF line endings are not canonical)")
        if "\t" in line:
            raise _fail(source, number, "tab character")
        if line != line.rstrip(" "):
            raise _fail(source, number, "trailing space")
        if not line and number != len(lines):
            raise _fail(source, number, "blank line")
        if number == 1 and line != HEADER:
            raise _fail(source, 1, f"first line must be {HEADER!r}")
    if lines[-1] != "":
        raise _fail(source, len(lines), "manifest does not end with a newline")
    return text


def _key_line(text: str, key: str) -> int | None:
    if not key:
        return None
    try:
        rendered = ".".join(_segment(s, key) for s in key.split("."))
    except DumpError:
        return None
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith((rendered + " ", rendered + ".")):
            return number
    return None


def loads(data: bytes, source: str) -> dict[str, Any]:
    """Parse canonical manifest bytes; InputError("<source>: line N: problem") otherwise."""
    if not isinstance(data, bytes | bytearray):
        raise _fail(source, None, "manifest must be bytes")
    data = bytes(data)
    text = _prescan(data, source)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _fail(source, None, f"invalid TOML: {exc}") from None
    except RecursionError:
        raise _fail(source, None, "invalid TOML: nested too deeply") from None
    try:
        again = dumps(doc)
    except DumpError as exc:
        raise _fail(source, _key_line(text, exc.key), str(exc)) from None
    if again != data:
        got = data.split(b"\n")
        want = again.split(b"\n")
        for number, (a, b) in enumerate(zip(got, want, strict=False), 1):
            if a != b:
                raise _fail(source, number, _explain(a, b))
        number = min(len(got), len(want))
        raise _fail(source, number, "not in canonical form")
    return doc


def _explain(got: bytes, want: bytes) -> str:
    gk = got.split(b" = ", 1)[0]
    wk = want.split(b" = ", 1)[0]
    if gk != wk:
        return "not in canonical form (keys must be sorted, bare where possible, one per line)"
    return "not in canonical form (value layout, quoting or escaping differs)"


def is_canonical(data: bytes) -> bool:
    """True when `data` is exactly the canonical form of some manifest data."""
    try:
        loads(data, "manifest")
    except InputError:
        return False
    return True
