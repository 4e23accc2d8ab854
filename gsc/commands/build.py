"""`gsc build IMAGE [MANIFEST]`: shield a Docker image."""

from __future__ import annotations

import argparse
from pathlib import Path

from gsc.errors import InputError
from gsc.output import emit_json, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "build",
        help="shield an image: manifest, measurement, signature, runtime",
        description="Build gsc-IMAGE from IMAGE: analyse it, write and measure the manifest, "
        "sign it (with -k) and add the runtime as the entrypoint.",
    )
    p.add_argument("image", metavar="IMAGE", help="image name, ID or digest (pulled if missing)")
    p.add_argument("manifest", metavar="MANIFEST", nargs="?", type=Path,
                   help="your manifest (TOML, may use Jinja), merged over gsc's template")
    p.add_argument("-t", "--tag", help="output tag (default gsc-NAME:TAG[-unsigned])")
    p.add_argument("-k", "--key", metavar="PEM|URI",
                   help="RSA-3072 (e=3) signing key: PEM file or pkcs11:token=T;object=K URI")
    p.add_argument("--passphrase-file", type=Path, help="file holding the key's passphrase")
    p.add_argument("-c", "--config", type=Path, help="YAML build configuration")
    p.add_argument("--insecure-args", action="store_true",
                   help="let `docker run IMAGE ARGS` pass ARGS to the app (not pinned)")
    p.add_argument("--debug", action="store_true", help="debug enclave, runtime log level debug")
    p.add_argument("--enclave-size", help="sgx.enclave_size (e.g. 256M, 4G)")
    p.add_argument("--max-threads", type=int, help="sgx.max_threads")
    p.add_argument("--date", help="SIGSTRUCT date YYYY-MM-DD (default: today, UTC)")
    p.add_argument("--provenance", type=Path, metavar="FILE",
                   help="write an in-toto Statement (v1) binding the output image digest to "
                   "its enclave identity")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from gsc import provenance
    from gsc.build.config import load_config
    from gsc.build.pipeline import BuildRequest, run_build
    from gsc.progress import Progress
    from gsc.sgx.signer import key_spec
    from gsc.sgx.sigstruct import parse_date

    cfg = load_config(args.config)
    cfg = cfg.with_overrides(
        key=key_spec(args.key),
        passphrase_file=args.passphrase_file,
        enclave_size=args.enclave_size,
        max_threads=args.max_threads,
    )
    if args.debug:
        cfg = cfg.with_overrides(debug=True, log_level="debug")
    if cfg.passphrase_file is not None and cfg.key is None:
        raise InputError("--passphrase-file given without a key (-k)")
    if args.provenance is not None:
        provenance.check_destination(args.provenance)
    req = BuildRequest(
        image=args.image,
        manifest=args.manifest,
        config=cfg,
        tag=args.tag,
        insecure_args=args.insecure_args,
        date=parse_date(args.date) if args.date else None,
    )
    result = run_build(req, Progress(quiet=args.quiet))
    if args.provenance is not None:
        provenance.write(args.provenance, provenance.image_statement(result.image_id, result.tag))
    if args.json:
        emit_json(result.to_json())
    else:
        state = "signed" if result.signed else "unsigned (finish with `gsc sign-image`)"
        say(f"built {result.tag} ({result.image_id[:19]}), {state}")
        say(f"  mrenclave {result.mrenclave}")
        if result.mrsigner:
            say(f"  mrsigner  {result.mrsigner}")
        say(f"  trusted files {result.trusted_files}, manifest {result.manifest_bytes} bytes")
        if args.provenance is not None:
            say(f"  provenance {args.provenance}")
    return 0
