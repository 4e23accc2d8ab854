"""`gsc info-image IMAGE`: what a gsc image is, from its labels and /gsc/ files."""

from __future__ import annotations

import argparse
from typing import Any

from gsc.commands import options
from gsc.output import emit_json, result


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "info-image",
        help="show MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN ... of a gsc image",
        description="Read a gsc image's labels and SIGSTRUCT without starting a container. "
        "Prints `KEY value` lines on stdout (`gsc info-image X | grep MRENCLAVE`).",
    )
    p.add_argument("image", metavar="IMAGE", help=options.IMAGE_HELP)
    options.add_registry(p)
    options.add_json(p)
    p.set_defaults(run=run)
    return p


def collect(ref: str) -> dict[str, Any]:
    from gsc.image.sources import open_source
    from gsc.sgx import sigstruct
    from gsc.shield import layout
    from gsc.shield.shielded import read_shielded

    img = read_shielded(open_source(ref, pull=False))
    lab = img.labels
    files = img.files
    out: dict[str, Any] = {
        "image": img.image_json(),
        "gsc_version": lab.get(layout.VERSION),
        "base": {"name": lab.get(layout.BASE_NAME), "digest": lab.get(layout.BASE_DIGEST)},
        "signed": files.signature is not None,
        "insecure_args": lab.get(layout.INSECURE_ARGS) == "true",
        "trusted_files": int(lab.get(layout.TRUSTED_FILES, "0") or 0),
        "manifest_bytes": len(files.manifest) if files.manifest is not None else None,
        "runtime_bytes": len(files.runtime) if files.runtime is not None else None,
    }
    if files.signature is not None:
        out.update(sigstruct.Sigstruct.from_bytes(files.signature).to_json())
    else:
        out.update({
            "mrenclave": lab.get(layout.MRENCLAVE) or None,
            "mrsigner": None,
            "isv_prod_id": int(lab.get(layout.ISVPRODID, "0") or 0),
            "isv_svn": int(lab.get(layout.ISVSVN, "0") or 0),
            "debug": lab.get(layout.DEBUG) == "true",
            "date": None,
        })
    out["warnings"] = []
    return out


def run(args: argparse.Namespace) -> int:
    options.apply_registry(args)
    info = collect(args.image)
    if args.json:
        emit_json(info)
        return 0
    result(f"IMAGE      {info['image']['ref']} ({info['image']['id'][:19]})")
    result(f"BASE       {info['base']['name']} ({info['base']['digest']})")
    result(f"SIGNED     {'yes' if info['signed'] else 'no'}")
    result(f"MRENCLAVE  {info['mrenclave']}")
    result(f"MRSIGNER   {info['mrsigner'] or '-'}")
    result(f"ISVPRODID  {info['isv_prod_id']}")
    result(f"ISVSVN     {info['isv_svn']}")
    result(f"DEBUG      {'yes' if info['debug'] else 'no'}")
    result(f"DATE       {info['date'] or '-'}")
    result(f"TRUSTED    {info['trusted_files']}")
    result(f"GSC        {info['gsc_version']}")
    return 0
