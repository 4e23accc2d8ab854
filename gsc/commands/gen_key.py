"""`gsc gen-key [OUT.pem] [--passphrase-file F]`: a new RSA-3072, e = 3 SGX signing key.

The key is written as PEM PKCS#8, mode 0600, atomically; an existing file is never
overwritten. It is encrypted when a passphrase comes from --passphrase-file (first line)
or the GSC_KEY_PASSPHRASE environment variable; never from argv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gsc.output import emit_json, say
from gsc.sgx import keys

DEFAULT_OUT = "enclave-key.pem"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "gen-key",
        help="generate an RSA-3072 (e = 3) SGX signing key",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "out",
        nargs="?",
        default=DEFAULT_OUT,
        metavar="OUT.pem",
        help=f"where to write the key (default: ./{DEFAULT_OUT}; never overwritten)",
    )
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="F",
        help="encrypt the key with the first line of this file (else $GSC_KEY_PASSPHRASE)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    passphrase = keys.read_passphrase(args.passphrase_file)
    keys.generate_key(out, passphrase)
    key = keys.load_private_key(out, args.passphrase_file)
    from gsc.sgx.sigstruct import mrsigner_of

    mrsigner = mrsigner_of(key.public_key()).hex()
    if args.json:
        emit_json({"key": str(out), "encrypted": passphrase is not None, "mrsigner": mrsigner})
    else:
        say(
            f"wrote {out} (RSA-3072, e = 3{', encrypted' if passphrase else ''}); "
            f"MRSIGNER {mrsigner}"
        )
    return 0
