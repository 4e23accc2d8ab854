"""`verify-image`: recompute everything a gsc image claims from its content: the trusted
files' hashes, the signature over manifest and runtime (MRENCLAVE, MRSIGNER), the
namespace pin (gsc.symlinks, with the runtime's launch rule) and the config pin
(gsc.container_config, field by field)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gsc.errors import GscError
from gsc.image.loader import DaemonSource, Image
from gsc.manifest import schema
from gsc.sgx import sigstruct
from gsc.shield import container_config, layout, namespace
from gsc.shield.shielded import require_gsc_labels


@dataclass
class VerifyReport:
    image: dict[str, Any]
    mrenclave: str | None = None
    mrsigner: str | None = None
    checked_files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "ok": self.ok,
            "mrenclave": self.mrenclave,
            "mrsigner": self.mrsigner,
            "checked_files": self.checked_files,
            "problems": self.problems,
            "warnings": [],
        }


def verify_image(ref: str, *, mrenclave: str | None, mrsigner: str | None) -> VerifyReport:
    source = DaemonSource(ref, pull=False)
    require_gsc_labels(ref, dict(source.config.labels))
    with source.open() as image:
        return verify_content(image, mrenclave=mrenclave, mrsigner=mrsigner)


def verify_content(image: Image, *, mrenclave: str | None,
                   mrsigner: str | None) -> VerifyReport:
    """Check a gsc image read completely (from the Engine or an archive)."""
    report = VerifyReport(image={"id": image.id, "ref": image.ref, "tags": image.repo_tags})
    lab = image.config.labels
    require_gsc_labels(image.ref, dict(lab))
    _check(image, report)
    if mrenclave is not None and report.mrenclave != mrenclave.lower():
        report.problems.append(f"MRENCLAVE {report.mrenclave} is not the expected {mrenclave}")
    if mrsigner is not None and report.mrsigner != mrsigner.lower():
        report.problems.append(f"MRSIGNER {report.mrsigner} is not the expected {mrsigner}")
    return report


def _check(image: Image, report: VerifyReport) -> None:
    lab = image.config.labels

    def read(path: str) -> bytes | None:
        real = image.fs.resolve(path, follow_last=False)
        entry = image.fs.get(real) if real else None
        if entry is None or entry.kind != "file":
            report.problems.append(f"{path} is missing or not a regular file")
            return None
        return image.fs.read_bytes(path)

    runtime = read(layout.RUNTIME_PATH)
    manifest = read(layout.MANIFEST_PATH)
    sig_entry = image.fs.get(layout.SIG_PATH)
    sig = None
    if sig_entry is not None and sig_entry.kind == "file":
        sig = image.fs.read_bytes(layout.SIG_PATH)
    if sig is None:
        report.problems.append(f"image is not signed (no {layout.SIG_PATH})")
    if image.config.entrypoint is None or image.config.entrypoint[:1] != [layout.RUNTIME_PATH]:
        report.problems.append(
            f"entrypoint is {image.config.entrypoint!r}, not the gsc runtime"
        )
    if runtime is None or manifest is None:
        return
    try:
        doc = schema.load(manifest, layout.MANIFEST_PATH)
    except GscError as exc:
        report.problems.append(f"manifest: {exc.message}")
        return
    if sig is not None:
        try:
            info = sigstruct.verify(sig, manifest, runtime).to_json()
            report.mrenclave = str(info["mrenclave"])
            report.mrsigner = str(info["mrsigner"])
        except GscError as exc:
            report.problems.append(f"signature: {exc.message}")
    claims = ((layout.MRENCLAVE, report.mrenclave), (layout.MRSIGNER, report.mrsigner))
    for key, value in claims:
        if value is not None and lab.get(key) and lab.get(key) != value:
            report.problems.append(f"label {key} is {lab.get(key)}, content says {value}")
    report.problems += namespace.check(image.fs, namespace.Rules.from_manifest(doc))
    pinned = doc.get("gsc", {}).get("container_config")
    if pinned is None:
        report.problems.append("the manifest does not pin the container config "
                               "(gsc.container_config): rebuild the image with this gsc")
    else:
        try:
            want = container_config.decode(str(pinned), layout.MANIFEST_PATH)
        except GscError as exc:
            report.problems.append(exc.message)
        else:
            report.problems += container_config.differences(want, image.config.raw)
    for entry in doc.get("sgx", {}).get("trusted_files", []):
        path = str(entry["uri"]).removeprefix("file:")
        f = image.fs.get(path)
        report.checked_files += 1
        if f is None or f.kind != "file":
            report.problems.append(f"trusted file {path} is missing or not a regular file")
        elif f.sha256 != entry["sha256"]:
            report.problems.append(f"trusted file {path} changed (sha256 {f.sha256})")
