"""`gsc suggest-config LOGFILE`: a build config suggested from a shielded run's log.

Exit statuses: 0 a config with at least one entry was suggested; 1 nothing to suggest
(the log held no refusal that a config entry fixes; the explanation is still written);
2 bad input (unreadable log or base config, unknown image).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from gsc.errors import EXIT_OK, EXIT_VERIFY, InputError
from gsc.files import read_input, write_atomic
from gsc.output import emit_json, say

MAX_LOG = 256 << 20


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "suggest-config",
        help="suggest a build config (-c) from the log of an audit-mode run",
        description="Read the stderr of a shielded container run (best with "
        "sgx.file_check_policy = \"allow_all_but_log\" and loader.log_level = \"debug\") and "
        "suggest allowed_files, trusted_files and env_passthrough entries, each with a "
        "reason. See docs/audit.md.",
    )
    p.add_argument("logfile", metavar="LOGFILE", help="the log ('-': standard input)")
    p.add_argument("--image", metavar="IMG",
                   help="the image that ran (its files decide several rules; not pulled)")
    p.add_argument("--config", metavar="BASE.yaml", type=Path,
                   help="a build config to extend: its settings are kept, its lists extended")
    p.add_argument("-o", "--output", metavar="OUT.yaml", type=Path,
                   help="write the config here (default: standard output)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (the config text is then only written with -o)")
    p.set_defaults(run=run)
    return p


def _read_log(name: str) -> bytes:
    if name == "-":
        data = sys.stdin.buffer.read(MAX_LOG + 1)
        if len(data) > MAX_LOG:
            raise InputError(f"log on standard input: larger than {MAX_LOG} bytes")
        return data
    return read_input(Path(name), "log file", MAX_LOG)


def _read_base(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(read_input(path, "config file", 1 << 20).decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise InputError(f"{path}: not a valid YAML config") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of settings at the top level")
    for key in ("allowed_files", "trusted_files", "env_passthrough", "exclude_trusted"):
        value = data.get(key)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value)):
            raise InputError(f"{path}: {key}: expected a list of strings")
    return data


def run(args: argparse.Namespace) -> int:
    from gsc.audit.imageview import ImageFSView, ImageView, NoImage
    from gsc.audit.parser import parse_text
    from gsc.audit.render import to_json, to_yaml
    from gsc.audit.suggest import suggest

    parsed = parse_text(_read_log(args.logfile))
    base = _read_base(args.config)
    view: ImageView = NoImage()
    if args.image:
        from gsc.image import load_image

        with load_image(args.image, pull=False) as img:
            view = ImageFSView(img.fs)
            result = suggest(parsed.events, view)
    else:
        result = suggest(parsed.events, view)
    if parsed.runtime_lines == 0:
        result.notes.insert(0, "the log holds no gsc-runtime line: is it the container's "
                            "stderr, with loader.log_level at warning or more?")
    source = "standard input" if args.logfile == "-" else Path(args.logfile).name
    text = to_yaml(result, source=source, base=base)
    if args.output is not None:
        write_atomic(args.output, text.encode("utf-8"))
    status = EXIT_VERIFY if result.empty else EXIT_OK
    if args.json:
        obj = to_json(result)
        obj.update({"log": {"lines": parsed.lines, "runtime_lines": parsed.runtime_lines,
                            "events": len(parsed.events)},
                    "output": str(args.output) if args.output is not None else None})
        emit_json(obj)
    elif args.output is None:
        sys.stdout.write(text)
    n = len(result.entries)
    say(f"gsc: {parsed.runtime_lines} runtime lines, {n} suggested entr"
        f"{'y' if n == 1 else 'ies'}, {len(result.declined)} declined"
        + (f"; wrote {args.output}" if args.output is not None else ""))
    if result.empty:
        say("gsc: nothing to suggest")
    return status
