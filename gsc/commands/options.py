"""Options shared by several commands, declared once (with help)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from gsc.errors import InputError


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON object on stdout (diagnostics stay on stderr)")


def add_enclave_inputs(p: argparse.ArgumentParser) -> None:
    """--manifest and --pal: the two inputs of a measurement (sgx-measure, sgx-sign)."""
    p.add_argument("--manifest", type=Path, required=True, metavar="M",
                   help="the .manifest.sgx file, measured byte for byte as it is")
    p.add_argument("--pal", type=Path, required=True, metavar="ELF",
                   help="the PAL/runtime ELF loaded at the enclave's base")


def add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only the result on stdout (warnings still go to stderr)")


def add_key(p: argparse.ArgumentParser, *, positional: bool = False) -> None:
    helptext = ("RSA-3072 (e=3) signing key: a PEM file, or a PKCS#11 URI "
                "pkcs11:token=T;object=K (PIN from pin-source= or $GSC_PKCS11_PIN)")
    if positional:
        p.add_argument("key", metavar="KEY", help=helptext)
    else:
        p.add_argument("-k", "--key", metavar="PEM|URI", help=helptext)
    p.add_argument("--passphrase-file", type=Path, metavar="FILE",
                   help="file holding the key's passphrase (else $GSC_KEY_PASSPHRASE)")


def add_date(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", metavar="YYYY-MM-DD",
                   help="SIGSTRUCT date (default: $SOURCE_DATE_EPOCH if set, else today; UTC)")


def add_tag(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("-t", "--tag", help=f"output tag (default {default})")


def add_pull(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-pull", action="store_true",
                   help="never pull a missing image (fail instead)")


def signing_date(text: str | None) -> dt.date:
    """--date, else SOURCE_DATE_EPOCH (reproducible builds), else today (UTC)."""
    from gsc.sgx.sigstruct import parse_date, today_utc

    if text is not None:
        return parse_date(text)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch.strip():
        try:
            return dt.datetime.fromtimestamp(int(epoch), dt.UTC).date()
        except (ValueError, OverflowError, OSError):
            raise InputError(f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time") from None
    return today_utc()


def add_provenance(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provenance", type=Path, metavar="FILE",
                   help="write an in-toto Statement (v1) binding the output image digest to "
                   "its enclave identity")


IMAGE_HELP = ("image: a reference in the local Docker Engine (docker-daemon:REF, the "
              "default), docker://REF (registry), docker-archive:PATH, oci-archive:PATH or "
              "oci:DIR[:TAG]")


def add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", metavar="DEST",
                   help="where to write the image: docker-daemon:REF (default: the tag, "
                   "loaded into the local Engine), docker://REF (push), "
                   "docker-archive:PATH, oci-archive:PATH, oci:DIR[:TAG]")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def add_registry(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-verify", type=_bool, default=True, metavar="BOOL",
                   help="verify registry TLS certificates (default true; false also "
                   "allows plain HTTP, for a local test registry)")
    p.add_argument("--ca-file", type=Path, metavar="FILE",
                   help="CA certificate(s) (PEM) to trust for registries, instead of the "
                   "system's")


def apply_registry(args: argparse.Namespace) -> None:
    """Make the registry options the process's registry access."""
    from gsc.transport.registry import Access, configure

    ca = getattr(args, "ca_file", None)
    if ca is not None and not ca.is_file():
        raise InputError(f"--ca-file {ca}: no such file")
    configure(Access(tls_verify=getattr(args, "tls_verify", True),
                     ca_file=str(ca) if ca is not None else None))
