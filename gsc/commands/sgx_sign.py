"""`gsc sgx-sign`: build and sign the SIGSTRUCT of a manifest + PAL/runtime ELF.

  one step:   --manifest M --pal ELF --key PEM [--passphrase-file F] [--date D] --output OUT.sig
              (--key may be a PKCS#11 URI, pkcs11:token=T;object=K, to sign inside a token;
               its PIN comes from ?pin-source=file:/path or $GSC_PKCS11_PIN)
  two steps:  --manifest M --pal ELF [--date D] --export-signing-data FILE
              (sign FILE elsewhere: RSA-3072 e=3, PKCS#1 v1.5, SHA-256; e.g.
               openssl dgst -sha256 -sign key.pem -out sig.bin FILE)
              --manifest M --pal ELF [--date D] --public-key PUB.pem --signature SIG.bin
              --output OUT.sig   (verified before anything is written)

The manifest file's bytes are measured as they are. --date defaults to today (UTC); give
the same --date to both steps of two-step signing. The key passphrase comes from
--passphrase-file or $GSC_KEY_PASSPHRASE, never from argv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gsc.commands import options
from gsc.errors import InputError
from gsc.files import read_input, write_atomic
from gsc.output import emit_json, say
from gsc.sgx import keys
from gsc.sgx.measure import mrenclave
from gsc.sgx.params import SgxParams
from gsc.sgx.signer import load_signer
from gsc.sgx.sigstruct import (
    KEY_BYTES,
    Sigstruct,
    assemble,
    build_unsigned,
    parse_date,
    sign_enclave,
    today_utc,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "sgx-sign",
        help="sign a manifest + PAL/runtime (SIGSTRUCT), in one or two steps",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_enclave_inputs(parser)
    parser.add_argument(
        "--key", metavar="PEM|URI", help="RSA-3072 e=3 private key: PEM file or pkcs11: URI"
    )
    parser.add_argument("--passphrase-file", type=Path, metavar="F")
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="SIGSTRUCT date (default: today, UTC)")
    parser.add_argument("--output", type=Path, metavar="OUT.sig")
    parser.add_argument(
        "--export-signing-data",
        type=Path,
        metavar="FILE",
        help="write the 256 bytes to sign and stop",
    )
    parser.add_argument("--public-key", type=Path, metavar="PUB.pem")
    parser.add_argument(
        "--signature",
        type=Path,
        metavar="SIG.bin",
        help="raw 384-byte PKCS#1 v1.5 / SHA-256 signature of the signing data",
    )
    options.add_json(parser)
    parser.set_defaults(run=run)
    return parser


def _mode(args: argparse.Namespace) -> str:
    if args.export_signing_data is not None:
        if args.key or args.public_key or args.signature or args.output:
            raise InputError(
                "--export-signing-data cannot be combined with --key, "
                "--public-key, --signature or --output"
            )
        return "export"
    if args.public_key is not None or args.signature is not None:
        if args.key is not None:
            raise InputError("give either --key or --public-key/--signature, not both")
        if args.public_key is None or args.signature is None:
            raise InputError("two-step signing needs both --public-key and --signature")
        if args.output is None:
            raise InputError("--output OUT.sig is required")
        return "assemble"
    if args.key is None:
        raise InputError("give --key PEM (or --export-signing-data / --public-key + --signature)")
    if args.output is None:
        raise InputError("--output OUT.sig is required")
    return "sign"


def run(args: argparse.Namespace) -> int:
    mode = _mode(args)
    date = parse_date(args.date) if args.date is not None else today_utc()
    manifest = read_input(args.manifest, "manifest")
    pal = read_input(args.pal, "PAL")

    if mode == "sign":
        raw = sign_enclave(manifest, pal, load_signer(args.key, args.passphrase_file), date)
    else:
        params = SgxParams.from_manifest_bytes(manifest, str(args.manifest))
        unsigned = build_unsigned(mrenclave(manifest, pal, params), params, date)
        if mode == "export":
            write_atomic(args.export_signing_data, unsigned.signing_data())
            if args.json:
                emit_json(
                    {
                        "signing_data": str(args.export_signing_data),
                        "mrenclave": unsigned.enclavehash.hex(),
                        "date": date.isoformat(),
                    }
                )
            else:
                say(
                    f"wrote signing data to {args.export_signing_data} "
                    f"(MRENCLAVE {unsigned.enclavehash.hex()}, date {date.isoformat()})"
                )
            return 0
        public_key = keys.load_public_key(args.public_key)
        signature = read_input(args.signature, "signature", 1 << 16)
        if len(signature) != KEY_BYTES:
            raise InputError(
                f"signature {args.signature}: {len(signature)} bytes, "
                f"need {KEY_BYTES} (raw RSA-3072 signature)"
            )
        raw = assemble(unsigned, public_key, signature)

    write_atomic(args.output, raw)
    info = Sigstruct.from_bytes(raw).to_json()
    if args.json:
        emit_json({**info, "output": str(args.output)})
    else:
        say(f"wrote {args.output}: MRENCLAVE {info['mrenclave']} MRSIGNER {info['mrsigner']}")
    return 0
