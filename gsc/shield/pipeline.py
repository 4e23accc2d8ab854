"""`gsc build`: read the image, plan the shielded image, emit it.

    source (gsc.image.sources, any transport) -> Image -> plan_build (gsc.shield.plan)
    -> Plan -> emit (gsc.shield.emit, any destination)

The Docker daemon is contacted only when the input or the output is the daemon.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gsc import engine
from gsc.analysis import elf
from gsc.errors import InputError
from gsc.image.reference import check_tag
from gsc.image.sources import open_source, source_parts
from gsc.progress import Progress
from gsc.runtime_binary import runtime_bytes
from gsc.sgx.signer import load_signer
from gsc.shield import encrypt as encryption
from gsc.shield.emit import Written, emit
from gsc.shield.plan import BuildRequest, Plan, plan_build
from gsc.transport.names import DAEMON, Location, parse_location

if TYPE_CHECKING:
    from gsc.early_export import EarlyExport

__all__ = ["BuildRequest", "BuildResult", "run_build"]


@dataclass(frozen=True)
class BuildResult:
    tag: str
    image_id: str
    base_image_id: str
    plan: Plan
    image: dict[str, Any]
    written: Written
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        p = self.plan
        return {
            "image": self.image,
            "tag": self.tag,
            "image_id": self.image_id,
            "destination": self.written.destination,
            "manifest_digest": self.written.manifest_digest,
            "digest": self.written.digest,
            "base_image_id": self.base_image_id,
            "signed": p.signed,
            "mrenclave": p.mrenclave.hex(),
            "mrsigner": p.mrsigner,
            "trusted_files": p.trusted_files,
            "manifest_bytes": len(p.manifest),
            "encrypted": [{"path": m.path, "key_name": m.key_name,
                           "files": sum(1 for f in p.encrypted.files
                                        if f.path == m.path or f.path.startswith(m.path + "/"))}
                          for m in p.encrypted.mounts] if p.encrypted else [],
            "overrides": [o.describe() for o in p.overrides],
            "defaults": [d.to_json() for d in p.defaults],
            "warnings": list(p.warnings),
            "seconds": self.seconds,
        }


def run_build(req: BuildRequest, progress: Progress, output: str | None = None,
              export: EarlyExport | None = None) -> BuildResult:
    """Build as ``req`` asks; ``export``: the input image's export, already requested by
    the CLI (gsc.early_export), for a daemon input."""
    cfg = req.config
    if req.tag is not None:
        check_tag(req.tag)
    source_loc = parse_location(req.image)
    dest: Location | None = parse_location(output) if output else None
    # Load (and check) the key before the long phases, so a bad key fails fast.
    key = load_signer(cfg.key, cfg.passphrase_file) if cfg.key is not None else None
    # Wrap keys for --encrypt: read once, here; they live only in this process's memory.
    specs = [encryption.EncryptSpec(p, k) for p, k in cfg.encrypt]
    wrap_keys = {name: encryption.read_wrap_key(path, f"--encryption-key {name}")
                 for name, path in cfg.encryption_keys}
    encryption.check_keys(specs, wrap_keys)
    for name, _ in cfg.encryption_key_file_at:
        if name not in wrap_keys:
            raise InputError(f"--encryption-key-file-at {name}: no --encrypt path uses "
                             "this key name")
    runtime = runtime_bytes()
    client = engine.connect() if source_loc.daemon or dest is None or dest.daemon else None
    date = req.date or dt.datetime.now(dt.UTC).date()

    def reading(done: int, total: int) -> None:
        mib = 1 << 20
        progress.update(f"{done // mib} of ~{total // mib} MiB" if total else f"{done // mib} MiB")

    # Planning parses ELF files: load the parser while the Engine prepares the export.
    elf.load_parser()
    with progress.phase("image", f"reading and hashing image {req.image}"):
        source = open_source(req.image, client=client, export=export)
        image = source.open(progress=reading)
    with image:
        # Plan with the plain reference (labels, default tag, manifest's image_ref).
        plan = plan_build(replace(req, image=source.ref), image, runtime, key, progress.phase)
    if not progress.quiet:
        for d in plan.defaults:
            progress.note(f"default: {d.describe()}")
    for w in plan.warnings:
        progress.warn(w)
    target = dest or Location(DAEMON, plan.output.tag)
    job = None
    if plan.encrypted is not None:
        job = encryption.Job(wrap_keys, lambda p: image.fs.resolve(p, follow_last=False),
                             None if progress.quiet else progress.note)
    with progress.phase("emit", f"writing output image to {target}"):
        # --encrypt rewrites base layers: it needs their bytes even for the daemon.
        parts = source_parts(source, image, blobs=not target.daemon or job is not None)
        written = emit(plan.output, parts, target, date, client=client, job=job)
    return BuildResult(
        tag=written.tag,
        image_id=written.image_id,
        base_image_id=image.id,
        plan=plan,
        image={"id": image.id, "ref": req.image, "tags": list(image.repo_tags)},
        written=written,
        seconds=dict(progress.seconds),
    )
