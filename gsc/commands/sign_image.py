"""`gsc sign-image IMAGE KEY`: sign an unsigned gsc image (same MRENCLAVE)."""

from __future__ import annotations

import argparse

from gsc.commands import options
from gsc.output import emit_json, result, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sign-image",
        help="sign an unsigned gsc image",
        description="Sign the manifest of an image built by `gsc build` without a key. The "
        "MRENCLAVE is recomputed and must equal the one recorded at build time. Prints the "
        "output tag on stdout.",
    )
    p.add_argument("image", metavar="IMAGE")
    options.add_key(p, positional=True)
    options.add_date(p)
    options.add_tag(p, "gsc-NAME:TAG")
    options.add_provenance(p)
    options.add_json(p)
    options.add_quiet(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gsc import engine, provenance
    from gsc.image.loader import DaemonSource
    from gsc.image.reference import check_tag
    from gsc.sgx.signer import load_signer
    from gsc.shield.emit import emit
    from gsc.shield.shielded import plan_signing, read_shielded

    if args.tag is not None:
        check_tag(args.tag)
    if args.provenance is not None:
        provenance.check_destination(args.provenance)
    key = load_signer(args.key, args.passphrase_file)
    date = options.signing_date(args.date)
    client = engine.connect()
    img = read_shielded(DaemonSource(args.image, pull=False, client=client))
    plan = plan_signing(img, key, date, args.tag)
    image_id = emit(client, plan.output)
    if args.provenance is not None:
        provenance.write(args.provenance, provenance.image_statement(image_id, plan.output.tag))
    if args.json:
        emit_json({"image": img.image_json(), "tag": plan.output.tag, "image_id": image_id,
                   "mrenclave": plan.mrenclave, "mrsigner": plan.mrsigner, "date": plan.date,
                   "warnings": []})
        return 0
    result(plan.output.tag)
    if not args.quiet:
        say(f"signed {plan.output.tag} ({image_id[:19]})")
        say(f"  mrenclave {plan.mrenclave}")
        say(f"  mrsigner  {plan.mrsigner}")
    return 0
