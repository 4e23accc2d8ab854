"""`gsc verify-image IMAGE`: recompute file hashes, manifest, MRENCLAVE and signature."""

from __future__ import annotations

import argparse
import re

from gsc.commands import options
from gsc.errors import EXIT_VERIFY, InputError
from gsc.output import emit_json, result

_HEX32 = re.compile(r"^[0-9a-fA-F]{64}$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "verify-image",
        help="check a gsc image from its content (exit 1 on any mismatch)",
        description="Recompute every trusted file's hash, the manifest's canonical form, "
        "MRENCLAVE and the signature from the image's content.",
    )
    p.add_argument("image", metavar="IMAGE", help=options.IMAGE_HELP)
    p.add_argument("--mrenclave", metavar="HEX", help="expected MRENCLAVE")
    p.add_argument("--mrsigner", metavar="HEX", help="expected MRSIGNER")
    options.add_registry(p)
    options.add_json(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gsc.shield.verify import verify_image

    options.apply_registry(args)
    for name in ("mrenclave", "mrsigner"):
        value = getattr(args, name)
        if value is not None and not _HEX32.match(value):
            raise InputError(f"--{name} must be 64 hexadecimal digits")
    report = verify_image(args.image, mrenclave=args.mrenclave, mrsigner=args.mrsigner)
    if args.json:
        emit_json(report.to_json())
    elif report.ok:
        result(f"{args.image}: OK ({report.checked_files} trusted files, mrenclave "
            f"{report.mrenclave}, mrsigner {report.mrsigner})")
    else:
        for p in report.problems:
            result(f"{args.image}: FAIL: {p}")
    return 0 if report.ok else EXIT_VERIFY
