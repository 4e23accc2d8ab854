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
    p.add_argument("image", metavar="IMAGE", help=options.IMAGE_HELP)
    options.add_key(p, positional=True)
    options.add_date(p)
    options.add_tag(p, "gsc-NAME:TAG")
    options.add_provenance(p)
    options.add_output(p)
    options.add_registry(p)
    options.add_json(p)
    options.add_quiet(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gsc import engine, provenance
    from gsc.image.reference import check_tag
    from gsc.image.sources import open_source, source_parts
    from gsc.sgx.signer import load_signer
    from gsc.shield.emit import emit
    from gsc.shield.shielded import plan_signing, read_shielded
    from gsc.transport.names import DAEMON, Location, parse_location

    options.apply_registry(args)
    if args.tag is not None:
        check_tag(args.tag)
    if args.provenance is not None:
        provenance.check_destination(args.provenance)
    source_loc = parse_location(args.image)
    dest = parse_location(args.output) if args.output else None
    key = load_signer(args.key, args.passphrase_file)
    date = options.signing_date(args.date)
    client = engine.connect() if source_loc.daemon or dest is None or dest.daemon else None
    source = open_source(args.image, pull=False, client=client)
    img = read_shielded(source)
    plan = plan_signing(img, key, date, args.tag)
    target = dest or Location(DAEMON, plan.output.tag)
    written = emit(plan.output, source_parts(source, blobs=not target.daemon), target, date,
                   client=client)
    if args.provenance is not None:
        files = img.files
        provenance.write(args.provenance, provenance.output_statement(
            written.tag, written.digest, dict(plan.output.labels), files.runtime,
            files.manifest, plan.output.files.signature))
    if args.json:
        emit_json({"image": img.image_json(), "tag": written.tag, "image_id": written.image_id,
                   "destination": written.destination, "digest": written.digest,
                   "manifest_digest": written.manifest_digest,
                   "mrenclave": plan.mrenclave, "mrsigner": plan.mrsigner, "date": plan.date,
                   "warnings": []})
        return 0
    result(written.tag if dest is None else written.destination)
    if not args.quiet:
        say(f"signed {written.destination} ({written.image_id[:19]})")
        say(f"  mrenclave {plan.mrenclave}")
        say(f"  mrsigner  {plan.mrsigner}")
    return 0
