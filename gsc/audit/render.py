"""A Suggestion as a commented YAML build config (for `gsc build -c`) or as JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from gsc.audit.suggest import KEYS, Suggestion

_CTRL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\ud800-\udfff]")


def _comment(text: str) -> str:
    return _CTRL.sub("?", text)


def _scalar(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(value, ensure_ascii=True)


def _plural(n: int) -> str:
    return f"{n} event" + ("" if n == 1 else "s")


def to_yaml(s: Suggestion, *, source: str = "", base: dict[str, Any] | None = None) -> str:
    """The config text. ``base`` (a loaded YAML config) is kept; its lists are extended."""
    base = dict(base or {})
    lines = [f"# Suggested by `gsc suggest-config`{' from ' + _comment(source) if source else ''}.",
             "# Review each entry before building with it: the log shows what the app did in",
             "# one run, not what it should be allowed to do."]
    if not s.image_checked:
        lines.append("# The image was not read (no --image): entries are not checked against it.")
    others = {k: v for k, v in base.items() if k not in KEYS}
    if others:
        lines.append(yaml.safe_dump(others, sort_keys=True, default_flow_style=False).rstrip())
    for key in KEYS:
        kept = [str(v) for v in base.get(key) or []]
        new = [e for e in s.entries if e.key == key and e.value not in kept]
        if not kept and not new:
            continue
        lines.append(f"{key}:")
        lines.extend(f"  - {_scalar(v)}  # from the base config" for v in kept)
        for e in new:
            lines.append(f"  - {_scalar(e.value)}  # {_comment(e.reason)}; "
                         f"{_plural(e.count)}, e.g. {_comment(e.example())}")
    if s.declined:
        lines.append("# Not suggested:")
        for d in s.declined:
            lines.append(f"#   {_comment(d.path)}: {_comment(d.reason)} ({_plural(d.count)}, "
                         f"e.g. {_comment(d.example())})")
    for note in s.notes:
        lines.append(f"# Note: {_comment(note)}")
    return "\n".join(lines) + "\n"


def to_json(s: Suggestion) -> dict[str, Any]:
    def ev(e: Any) -> dict[str, Any]:
        return {"value": e.value, "reason": e.reason, "events": e.count,
                "example": e.example(), "lines": [x.line for x in e.events]}

    return {
        "config": {k: s.values(k) for k in KEYS if s.values(k)},
        "entries": {k: [ev(e) for e in s.entries if e.key == k] for k in KEYS},
        "declined": [{"path": d.path, "reason": d.reason, "events": d.count,
                      "example": d.example()} for d in s.declined],
        "notes": list(s.notes),
        "image_checked": s.image_checked,
    }
