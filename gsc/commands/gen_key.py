"""`gsc gen-key [OUT.pem | pkcs11:URI] [--passphrase-file F]`: a new RSA-3072, e = 3 SGX
signing key.

To a file: PEM PKCS#8, mode 0600, written atomically; an existing file is never
overwritten. It is encrypted when a passphrase comes from --passphrase-file (first line)
or the GSC_KEY_PASSPHRASE environment variable; never from argv.

Into a PKCS#11 token: `gsc gen-key 'pkcs11:token=T;object=K'` generates the key pair
inside the token (private key sensitive, not extractable; an existing label or id is
never reused) and prints the key's URI for -k. The PIN comes from ?pin-source=file:/path
in the URI or $GSC_PKCS11_PIN; the module from ?module-path= or $GSC_PKCS11_MODULE
(default: SoftHSM2's when installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gsc.commands import options
from gsc.errors import InputError
from gsc.output import emit_json, say
from gsc.sgx import keys
from gsc.sgx.pkcs11_uri import is_pkcs11_uri

DEFAULT_OUT = "enclave-key.pem"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "gen-key",
        help="generate an RSA-3072 (e = 3) SGX signing key (file or PKCS#11 token)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "out",
        nargs="?",
        default=DEFAULT_OUT,
        metavar="OUT.pem|URI",
        help=f"where to write the key (default: ./{DEFAULT_OUT}; never overwritten), or a "
        "pkcs11: URI of the token and label to generate it in",
    )
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="F",
        help="encrypt the key with the first line of this file (else $GSC_KEY_PASSPHRASE)",
    )
    options.add_json(parser)
    parser.set_defaults(run=run)
    return parser


def _run_pkcs11(args: argparse.Namespace) -> int:
    from gsc.sgx import hsm
    from gsc.sgx.sigstruct import KEY_BYTES

    if args.passphrase_file is not None:
        raise InputError("--passphrase-file is for PEM keys, not for a PKCS#11 token")
    made = hsm.generate_key(args.out)
    import hashlib

    mrsigner = hashlib.sha256(made.modulus.to_bytes(KEY_BYTES, "little")).hexdigest()
    uri = made.uri.key_uri()
    if args.json:
        emit_json({"key": uri, "token": made.uri.token, "object": made.uri.object,
                   "id": made.uri.id.hex() if made.uri.id else None, "mrsigner": mrsigner})
    else:
        say(f"generated RSA-3072 (e = 3) key in {made.uri.token or 'the token'}: {uri}")
        say(f"  MRSIGNER {mrsigner}")
    return 0


def run(args: argparse.Namespace) -> int:
    if is_pkcs11_uri(args.out):
        return _run_pkcs11(args)
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
