"""`gsc build IMAGE [MANIFEST]`: shield a Docker image."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gsc.commands import options
from gsc.errors import InputError
from gsc.output import emit_json, result, say

if TYPE_CHECKING:   # the heavy modules load in run(), after the export has been asked for
    from gsc.early_export import EarlyExport
    from gsc.shield.config import BuildConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "build",
        help="shield an image: manifest, measurement, signature, runtime",
        description="Build gsc-IMAGE from IMAGE: analyse it, write and measure the manifest, "
        "sign it (with -k) and add the runtime as the entrypoint. Prints the output tag on "
        "stdout; progress and warnings go to stderr.",
    )
    p.add_argument("image", metavar="IMAGE",
                   help=options.IMAGE_HELP + "; a daemon image is pulled if missing")
    p.add_argument("manifest", metavar="MANIFEST", nargs="?", type=Path,
                   help="your manifest (TOML, may use Jinja), merged over gsc's template")
    options.add_tag(p, "gsc-NAME:TAG[-unsigned]")
    options.add_key(p)
    p.add_argument("-c", "--config", type=Path, help="YAML build configuration")
    p.add_argument("--insecure-args", action="store_true",
                   help="let `docker run IMAGE ARGS` pass ARGS to the app (not pinned)")
    p.add_argument("--debug", action="store_true", help="debug enclave, runtime log level debug")
    p.add_argument("--enclave-size", help="sgx.enclave_size (e.g. 256M, 4G)")
    p.add_argument("--max-threads", type=int, help="sgx.max_threads")
    p.add_argument("--env-passthrough", action="append", default=[], metavar="NAME",
                   help="pass the value `docker run -e NAME=...` gives (repeatable; "
                   "config key env_passthrough)")
    p.add_argument("--readonly", action="append", default=[], metavar="PATH",
                   help="let the app read PATH (a file, or a directory with a trailing /) "
                   "but never write it, e.g. an input mount (repeatable; config key "
                   "readonly_files)")
    p.add_argument("--allow-audit-mode", action="store_true",
                   help='accept sgx.file_check_policy = "allow_all_but_log" (enforces '
                   "nothing) in a non-debug enclave")
    p.add_argument("--encrypt", action="append", default=[], metavar="PATH[:KEYNAME]",
                   help="replace the file or directory PATH of the image by Gramine encrypted "
                   "files (wrap key KEYNAME, default 'default'), removing the plaintext from "
                   "every layer (repeatable; config key encrypt)")
    p.add_argument("--encryption-key", action="append", default=[], metavar="KEYNAME=FILE",
                   help="the 16-byte wrap key for KEYNAME (a file only its owner can read; "
                   "`gsc pf-crypt gen-key`); never stored in the image")
    p.add_argument("--encryption-key-file-at", action="append", default=[],
                   metavar="KEYNAME=PATH",
                   help="where the runtime reads KEYNAME's key file at run time, e.g. "
                   "/run/secrets/KEYNAME from `docker run -v KEYFILE:/run/secrets/KEYNAME:ro` "
                   "(gsc.encrypted_key_files.KEYNAME)")
    options.add_date(p)
    options.add_provenance(p)
    options.add_output(p)
    options.add_registry(p)
    options.add_json(p)
    options.add_quiet(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    export = _request_export(args.image)
    try:
        return _build(args, export)
    finally:
        if export is not None:
            export.close()


def _request_export(image: str) -> EarlyExport | None:
    """For an image of the local Engine, ask for its export now: the Engine prepares it
    while Python imports the rest of gsc (docs/build.md, "Timing")."""
    from gsc import early_export
    from gsc.transport.names import parse_location

    try:
        location = parse_location(image)
    except InputError:
        return None   # reported by the build, as before
    return early_export.start(location.value) if location.daemon else None


def _build(args: argparse.Namespace, export: EarlyExport | None) -> int:
    from gsc import provenance
    from gsc.progress import Progress
    from gsc.sgx.signer import key_spec
    from gsc.shield.config import check_env_name, load_config
    from gsc.shield.pipeline import BuildRequest, run_build

    options.apply_registry(args)
    cfg = load_config(args.config)
    cfg = cfg.with_overrides(
        key=key_spec(args.key),
        passphrase_file=args.passphrase_file,
        enclave_size=args.enclave_size,
        max_threads=args.max_threads,
    )
    if args.debug:
        cfg = cfg.with_overrides(debug=True, log_level="debug")
    for name in args.env_passthrough:
        check_env_name(name, "--env-passthrough")
    for path in args.readonly:
        if not path.startswith("/"):
            raise InputError(f"--readonly: {path!r} is not an absolute path")
    cfg = _encryption_options(cfg, args)
    cfg = cfg.with_overrides(
        env_passthrough=tuple(dict.fromkeys(cfg.env_passthrough + tuple(args.env_passthrough))),
        readonly_files=tuple(dict.fromkeys(cfg.readonly_files + tuple(args.readonly))),
    )
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
        allow_audit_mode=args.allow_audit_mode,
        date=options.signing_date(args.date),
    )
    res = run_build(req, Progress(quiet=args.quiet or args.json), output=args.output,
                    export=export)
    if args.provenance is not None:
        files = res.plan.output.files
        provenance.write(args.provenance, provenance.output_statement(
            res.tag, res.written.digest, dict(res.plan.output.labels), files.runtime,
            files.manifest, files.signature))
    if args.json:
        emit_json(res.to_json())
        return 0
    result(res.tag if args.output is None else res.written.destination)
    if not args.quiet:
        p = res.plan
        state = "signed" if p.signed else "unsigned (finish with `gsc sign-image`)"
        say(f"built {res.written.destination} ({res.image_id[:19]}), {state}")
        if args.output is not None:
            say(f"  digest    {res.written.digest}")
        say(f"  mrenclave {p.mrenclave.hex()}")
        if p.mrsigner:
            say(f"  mrsigner  {p.mrsigner}")
        say(f"  trusted files {p.trusted_files}, manifest {len(p.manifest)} bytes")
        if p.encrypted is not None:
            say(f"  encrypted files {len(p.encrypted.files)} under "
                + ", ".join(m.path for m in p.encrypted.mounts))
        if args.provenance is not None:
            say(f"  provenance {args.provenance}")
    return 0


def _encryption_options(cfg: BuildConfig, args: argparse.Namespace) -> BuildConfig:
    """--encrypt, --encryption-key, --encryption-key-file-at over the config file's."""
    from dataclasses import replace

    from gsc.shield.encrypt import parse_named, parse_spec

    specs = [parse_spec(t) for t in args.encrypt]
    encrypt = tuple(dict.fromkeys(cfg.encrypt + tuple((s.path, s.key_name) for s in specs)))
    keys = dict(cfg.encryption_keys)
    for text in args.encryption_key:
        name, value = parse_named(text, "--encryption-key")
        keys[name] = Path(value)
    at = dict(cfg.encryption_key_file_at)
    for text in args.encryption_key_file_at:
        name, value = parse_named(text, "--encryption-key-file-at")
        if not value.startswith("/"):
            raise InputError(f"--encryption-key-file-at: {value!r} is not an absolute path")
        at[name] = value
    paths = [p for p, _ in encrypt]
    if len(set(paths)) != len(paths):
        raise InputError("--encrypt: a path is given twice with different key names")
    return replace(cfg, encrypt=encrypt, encryption_keys=tuple(sorted(keys.items())),
                   encryption_key_file_at=tuple(sorted(at.items())))
