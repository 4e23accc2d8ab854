"""`gsc build`: read the image, plan the shielded image, emit it.

    source (gsc.image.loader) -> Image -> plan_build (gsc.shield.plan) -> Plan -> emit
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gsc import engine
from gsc.image.loader import DaemonSource
from gsc.image.reference import check_tag
from gsc.progress import Progress
from gsc.runtime_binary import runtime_bytes
from gsc.sgx.signer import load_signer
from gsc.shield.emit import emit
from gsc.shield.plan import BuildRequest, Plan, plan_build

__all__ = ["BuildRequest", "BuildResult", "run_build"]


@dataclass(frozen=True)
class BuildResult:
    tag: str
    image_id: str
    base_image_id: str
    plan: Plan
    image: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        p = self.plan
        return {
            "image": self.image,
            "tag": self.tag,
            "image_id": self.image_id,
            "base_image_id": self.base_image_id,
            "signed": p.signed,
            "mrenclave": p.mrenclave.hex(),
            "mrsigner": p.mrsigner,
            "trusted_files": p.trusted_files,
            "manifest_bytes": len(p.manifest),
            "overrides": [o.describe() for o in p.overrides],
            "defaults": [d.to_json() for d in p.defaults],
            "warnings": list(p.warnings),
            "seconds": self.seconds,
        }


def run_build(req: BuildRequest, progress: Progress) -> BuildResult:
    cfg = req.config
    if req.tag is not None:
        check_tag(req.tag)
    # Load (and check) the key before the long phases, so a bad key fails fast.
    key = load_signer(cfg.key, cfg.passphrase_file) if cfg.key is not None else None
    runtime = runtime_bytes()
    client = engine.connect()

    def reading(done: int, total: int) -> None:
        mib = 1 << 20
        progress.update(f"{done // mib} of ~{total // mib} MiB" if total else f"{done // mib} MiB")

    source = DaemonSource(req.image, client=client)
    with progress.phase("image", f"reading and hashing image {req.image}"):
        image = source.open(progress=reading)
    with image:
        plan = plan_build(req, image, runtime, key, progress.phase)
    if not progress.quiet:
        for d in plan.defaults:
            progress.note(f"default: {d.describe()}")
    for w in plan.warnings:
        progress.warn(w)
    with progress.phase("emit", "building output image"):
        image_id = emit(client, plan.output, log=progress.update)
    return BuildResult(
        tag=plan.output.tag,
        image_id=image_id,
        base_image_id=image.id,
        plan=plan,
        image={"id": image.id, "ref": req.image, "tags": list(image.repo_tags)},
        seconds=dict(progress.seconds),
    )
