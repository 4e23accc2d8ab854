"""`gsc sigstruct-view` (placeholder until implemented)."""

from __future__ import annotations

import argparse

from gsc.errors import GscError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser("sigstruct-view", help="(not implemented yet)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    raise GscError("'sigstruct-view' is not implemented yet")
