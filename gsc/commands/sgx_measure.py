"""`gsc sgx-measure --manifest M --pal ELF [--json]`: print MRENCLAVE (hex).

The manifest file's bytes are measured exactly as they are; the enclave parameters come
from its [sgx] table.
"""

from __future__ import annotations

import argparse

from gsc.commands import options
from gsc.files import read_input
from gsc.output import emit_json
from gsc.sgx.measure import measure_with_layout
from gsc.sgx.params import SgxParams


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "sgx-measure",
        help="compute MRENCLAVE of a manifest and PAL/runtime ELF",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_enclave_inputs(parser)
    options.add_json(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    manifest = read_input(args.manifest, "manifest")
    pal = read_input(args.pal, "PAL")
    params = SgxParams.from_manifest_bytes(manifest, str(args.manifest))
    mr, layout = measure_with_layout(manifest, pal, params)
    if args.json:
        emit_json(
            {
                "mrenclave": mr.hex(),
                "enclave_size": params.enclave_size,
                "max_threads": params.max_threads,
                "edmm_enable": params.edmm_enable,
                "pal_base": layout.pal_base,
                "free_size": layout.free_size,
            }
        )
    else:
        print(mr.hex())
    return 0
