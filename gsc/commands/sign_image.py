"""`gsc sign-image IMAGE KEY`: sign an unsigned gsc image (same MRENCLAVE)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gsc.errors import InputError, VerificationError
from gsc.output import emit_json, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "sign-image",
        help="sign an unsigned gsc image",
        description="Sign the manifest of an image built by `gsc build` without a key. The "
        "MRENCLAVE is recomputed and must equal the one recorded at build time.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("key", metavar="KEY",
                   help="RSA-3072 (e=3) signing key: PEM file or pkcs11:token=T;object=K URI")
    p.add_argument("--passphrase-file", type=Path)
    p.add_argument("--date", help="SIGSTRUCT date YYYY-MM-DD (default: today, UTC)")
    p.add_argument("-t", "--tag", help="output tag (default gsc-NAME:TAG)")
    p.add_argument("--provenance", type=Path, metavar="FILE",
                   help="write an in-toto Statement (v1) for the signed image")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gsc import provenance
    from gsc.build import docker_api, labels
    from gsc.build.naming import check_tag, default_tag
    from gsc.build.pipeline import ShieldFiles, emit_image
    from gsc.build.shielded import open_shielded
    from gsc.manifest import schema
    from gsc.progress import Progress
    from gsc.sgx import sigstruct
    from gsc.sgx.measure import mrenclave as measure_mrenclave
    from gsc.sgx.params import SgxParams
    from gsc.sgx.signer import load_signer
    from gsc.sgx.sigstruct import parse_date, today_utc

    if args.tag is not None:
        try:
            check_tag(args.tag)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if args.provenance is not None:
        provenance.check_destination(args.provenance)
    key = load_signer(args.key, args.passphrase_file)
    date = parse_date(args.date) if args.date else today_utc()
    client = docker_api.connect()
    img = open_shielded(client, args.image)
    if img.runtime is None or img.manifest is None:
        raise InputError(f"{args.image}: /gsc/ lacks the runtime or the manifest")
    doc = schema.load(img.manifest, f"{args.image}:{labels.MANIFEST_PATH}")
    params = SgxParams.from_table(doc.get("sgx", {}), labels.MANIFEST_PATH)
    mr = measure_mrenclave(img.manifest, img.runtime, params).hex()
    recorded = img.labels.get(labels.MRENCLAVE, "")
    if recorded and recorded != mr:
        raise VerificationError(
            f"{args.image}: MRENCLAVE of its /gsc/ files is {mr}, but the image was built "
            f"with {recorded}; refusing to sign"
        )
    signature = sigstruct.sign_enclave(img.manifest, img.runtime, key, date)
    info = sigstruct.Sigstruct.from_bytes(signature).to_json()
    new_labels = dict(img.labels)
    new_labels.update({
        labels.SIGNED: "true",
        labels.MRENCLAVE: mr,
        labels.MRSIGNER: str(info["mrsigner"]),
        labels.DATE: str(info["date"]),
    })
    progress = Progress(quiet=args.json)
    image_id = emit_image(
        client,
        img.id,
        ShieldFiles(b"", b"", signature),
        entrypoint=None,
        cmd=None,
        image_labels=new_labels,
        progress=progress,
        signature_only=True,
    )
    ref = img.tags[0] if img.tags and args.image in img.id else args.image
    tag = args.tag or default_tag(ref, img.id, signed=True, shielded=True)
    docker_api.tag_image(client, image_id, tag)
    if args.provenance is not None:
        provenance.write(args.provenance, provenance.image_statement(image_id, tag))
    if args.json:
        emit_json({"tag": tag, "image_id": image_id, "mrenclave": mr,
                   "mrsigner": info["mrsigner"], "date": info["date"]})
    else:
        say(f"signed {tag} ({image_id[:19]})")
        say(f"  mrenclave {mr}")
        say(f"  mrsigner  {info['mrsigner']}")
    return 0
