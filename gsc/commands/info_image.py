"""`gsc info-image IMAGE`: what a gsc image is, from its labels and /gsc/ files."""

from __future__ import annotations

import argparse
from typing import Any

from gsc.output import emit_json, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "info-image",
        help="show MRENCLAVE, MRSIGNER, ISVPRODID, ISVSVN ... of a gsc image",
        description="Read a gsc image's labels and SIGSTRUCT without starting a container.",
    )
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)
    return p


def collect(ref: str) -> dict[str, Any]:
    from gsc.build import docker_api, labels
    from gsc.build.shielded import open_shielded
    from gsc.sgx import sigstruct

    img = open_shielded(docker_api.connect(), ref)
    lab = img.labels
    out: dict[str, Any] = {
        "image": {"id": img.id, "ref": ref, "tags": img.tags},
        "gsc_version": lab.get(labels.VERSION),
        "base": {"name": lab.get(labels.BASE_NAME), "digest": lab.get(labels.BASE_DIGEST)},
        "signed": img.signature is not None,
        "insecure_args": lab.get(labels.INSECURE_ARGS) == "true",
        "trusted_files": int(lab.get(labels.TRUSTED_FILES, "0") or 0),
        "manifest_bytes": len(img.manifest) if img.manifest is not None else None,
        "runtime_bytes": len(img.runtime) if img.runtime is not None else None,
    }
    if img.signature is not None:
        out.update(sigstruct.Sigstruct.from_bytes(img.signature).to_json())
    else:
        out.update({
            "mrenclave": lab.get(labels.MRENCLAVE) or None,
            "mrsigner": None,
            "isv_prod_id": int(lab.get(labels.ISVPRODID, "0") or 0),
            "isv_svn": int(lab.get(labels.ISVSVN, "0") or 0),
            "debug": lab.get(labels.DEBUG) == "true",
            "date": None,
        })
    return out


def run(args: argparse.Namespace) -> int:
    info = collect(args.image)
    if args.json:
        emit_json(info)
        return 0
    say(f"image      {info['image']['ref']} ({info['image']['id'][:19]})")
    say(f"base       {info['base']['name']} ({info['base']['digest']})")
    say(f"signed     {'yes' if info['signed'] else 'no'}")
    say(f"MRENCLAVE  {info['mrenclave']}")
    say(f"MRSIGNER   {info['mrsigner'] or '-'}")
    say(f"ISVPRODID  {info['isv_prod_id']}   ISVSVN {info['isv_svn']}   "
        f"debug {'yes' if info['debug'] else 'no'}   date {info['date'] or '-'}")
    say(f"trusted files {info['trusted_files']}, gsc {info['gsc_version']}")
    return 0
