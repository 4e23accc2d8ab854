"""`gsc verify-image` (placeholder until implemented)."""

from __future__ import annotations

import argparse

from gsc.errors import GscError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser("verify-image", help="(not implemented yet)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    raise GscError("'verify-image' is not implemented yet")
