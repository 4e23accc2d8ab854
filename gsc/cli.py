"""Command-line entry point: `gsc COMMAND ...`.

Each command lives in gsc/commands/<name>.py and exposes
`register(subparsers) -> argparse.ArgumentParser`; the parser's `run` default is a
callable taking the parsed namespace and returning an exit status. Expected failures
raise GscError and become one line on stderr; nothing prints a traceback unless
GSC_DEBUG=1 is set.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from gsc import __version__
from gsc.errors import EXIT_USAGE, GscError

# Order is the order shown by `gsc --help`.
COMMANDS: tuple[str, ...] = (
    "build",
    "sign_image",
    "info_image",
    "verify_image",
    "inspect",
    "gen_key",
    "sgx_measure",
    "sgx_sign",
    "sigstruct_view",
    "verify_quote",
    "verify_ratls",
    "pf_crypt",
    "suggest_config",
)


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error style and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"gsc: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with ``only`` (a module name of COMMANDS) of that
    one command: a command's run then starts without importing the other commands."""
    parser = _Parser(
        prog="gsc",
        description="Shield a Docker image: manifest, SGX measurement, signature, runtime.",
    )
    parser.add_argument("--version", action="version", version=f"gsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        if only is None or name == only:
            module = importlib.import_module(f"gsc.commands.{name}")
            module.register(sub)
    return parser


def named_command(argv: Sequence[str]) -> str | None:
    """The module of the command ``argv`` starts with (``sign-image``: ``sign_image``), or
    None (no command first, e.g. --help, or an unknown one: the full parser answers)."""
    first = argv[0] if argv else ""
    module = first.replace("-", "_")
    return module if module in COMMANDS and "_" not in first else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(named_command(argv))
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except GscError as exc:
        sys.stderr.write(f"gsc: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("gsc: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # last resort: never a bare traceback for users
        if os.environ.get("GSC_DEBUG") == "1":
            raise
        sys.stderr.write(
            f"gsc: internal error: {type(exc).__name__}: {exc} (set GSC_DEBUG=1 for details)\n"
        )
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
