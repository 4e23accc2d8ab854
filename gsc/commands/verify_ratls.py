"""`gsc verify-ratls CERT`: verify a Gramine RA-TLS certificate (PEM or DER): the quote in
its extension is bound to the certificate's public key, then verified like verify-quote."""

from __future__ import annotations

import argparse

from gsc.commands.verify_quote import Settings, add_verification_options, read_input, report
from gsc.errors import InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify-ratls",
        help="verify a Gramine RA-TLS certificate (binding + quote + policy)",
        description="Verify a Gramine RA-TLS certificate: the SGX quote in its extension "
        "(legacy OID or TCG DICE tagged evidence) must bind the certificate's public key; "
        "the quote is then verified exactly as by verify-quote. Exit 0 accepted, 1 "
        "rejected, 2 bad input.",
    )
    p.add_argument("cert", metavar="CERT")
    add_verification_options(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gsc.attestation.ratls import extract_evidence, load_cert_bytes, verify_ratls_der

    der = load_cert_bytes(read_input(args.cert, "certificate"))
    settings = Settings(args)
    collateral = settings.collateral
    if collateral is None and settings.pccs:
        ev = extract_evidence(der)
        if ev is not None:
            collateral = settings.collateral_for(ev)
    result = verify_ratls_der(der, collateral, settings.policy, settings.now, root=settings.root)
    if result.failed_step == "collateral" and not settings.have_source:
        raise InputError("no collateral: give --collateral FILE or --pccs URL")
    return report(result, args.cert, args.json, {"binding": result.binding})
