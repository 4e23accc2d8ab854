"""Jinja rendering of gsc's templates and of users' manifests (which may use Jinja too).

Templates come from the installed package (gsc.templates), never from the current
directory. The environment is sandboxed and strict: an undefined variable is an error.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from gsc.errors import InputError
from gsc.files import read_text_input
from gsc.resources import template_text

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_value(value: Any) -> str:
    """A TOML literal for a str, int, bool or (nested) list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON string escaping is valid TOML basic-string escaping for these characters,
        # except that TOML has no \/ (json.dumps never emits it) and wants \u for DEL.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_value(key)


class _Loader(jinja2.BaseLoader):
    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, None]:
        try:
            text = template_text(template)
        except (FileNotFoundError, IsADirectoryError):
            raise jinja2.TemplateNotFound(template) from None
        return text, None, None


def _environment(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["toml"] = toml_value
    env.filters["toml_key"] = toml_key
    return env


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render one of gsc's packaged templates."""
    return _environment(_Loader()).get_template(name).render(**context)


def render_user_manifest(path: Path, context: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Render a user's manifest (TOML, may use Jinja) and parse it. Returns (text, data)."""
    source = str(path)
    raw = read_text_input(path, "manifest")
    try:
        text = _environment().from_string(raw).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(f"{source}:{exc.lineno}: template error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise InputError(f"{source}: template error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise InputError(f"{source}: template error: {exc}") from None
    return text, parse_toml(text, source)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: invalid TOML: {exc}") from None


def find_key_line(text: str, dotted: str) -> int | None:
    """Best-effort line number (1-based) where a dotted key is set in TOML text."""
    parts = dotted.split(".")
    table: list[str] = []
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    assign = re.compile(r"^\s*([^=\s][^=]*?)\s*=")
    for number, line in enumerate(text.splitlines(), 1):
        m = header.match(line)
        if m:
            table = [p.strip().strip('"') for p in m.group(1).split(".")]
            continue
        m = assign.match(line)
        if m:
            key = table + [p.strip().strip('"') for p in m.group(1).split(".")]
            if key == parts[: len(key)] or parts == key[: len(parts)]:
                return number
    return None
