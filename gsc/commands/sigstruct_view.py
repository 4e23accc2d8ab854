"""`gsc sigstruct-view SIG [--json]`: show a SIGSTRUCT after checking its signature.

A malformed file exits 2, a signature that does not verify exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gsc.commands import options
from gsc.files import read_input
from gsc.output import emit_json
from gsc.sgx.sigstruct import verify_signature


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "sigstruct-view",
        help="show the fields of a SIGSTRUCT (.sig) file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sig", type=Path, metavar="SIG")
    options.add_json(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    info = verify_signature(read_input(args.sig, "SIGSTRUCT", 1 << 16)).to_json()
    if args.json:
        emit_json(info)
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            shown = str(value).lower() if isinstance(value, bool) else value
            if key in ("attributes_xfrm", "attribute_mask_xfrm", "attributes_flags"):
                shown = f"{value:#x}"
            print(f"{key:<{width}}  {shown}")
    return 0
