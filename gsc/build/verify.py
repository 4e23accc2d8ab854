"""`verify-image`: recompute everything a gsc image claims from its content."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gsc.build import docker_api, labels
from gsc.errors import GscError, InputError
from gsc.image import load_image
from gsc.manifest import schema
from gsc.sgx import sigstruct


@dataclass
class VerifyReport:
    image: str
    image_id: str = ""
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
            "image_id": self.image_id,
            "ok": self.ok,
            "mrenclave": self.mrenclave,
            "mrsigner": self.mrsigner,
            "checked_files": self.checked_files,
            "problems": self.problems,
        }


def verify_image(ref: str, *, mrenclave: str | None, mrsigner: str | None) -> VerifyReport:
    report = VerifyReport(image=ref)
    client = docker_api.connect()
    with load_image(ref, client=client, pull=False) as image:
        report.image_id = image.id
        lab = image.config.labels
        if labels.VERSION not in lab:
            raise InputError(f"{ref} is not an image built by gsc (no {labels.VERSION} label)")

        def read(path: str) -> bytes | None:
            real = image.fs.resolve(path, follow_last=False)
            entry = image.fs.get(real) if real else None
            if entry is None or entry.kind != "file":
                report.problems.append(f"{path} is missing or not a regular file")
                return None
            return image.fs.read_bytes(path)

        runtime = read(labels.RUNTIME_PATH)
        manifest = read(labels.MANIFEST_PATH)
        sig_entry = image.fs.get(labels.SIG_PATH)
        sig = None
        if sig_entry is not None and sig_entry.kind == "file":
            sig = image.fs.read_bytes(labels.SIG_PATH)
        if sig is None:
            report.problems.append("image is not signed (no /gsc/entrypoint.sig)")
        if image.config.entrypoint is None or image.config.entrypoint[:1] != [labels.RUNTIME_PATH]:
            report.problems.append(
                f"entrypoint is {image.config.entrypoint!r}, not the gsc runtime"
            )
        if runtime is None or manifest is None:
            return report
        try:
            doc = schema.load(manifest, labels.MANIFEST_PATH)
        except GscError as exc:
            report.problems.append(f"manifest: {exc.message}")
            return report
        if sig is not None:
            try:
                info = sigstruct.verify(sig, manifest, runtime).to_json()
                report.mrenclave = str(info["mrenclave"])
                report.mrsigner = str(info["mrsigner"])
            except GscError as exc:
                report.problems.append(f"signature: {exc.message}")
        claims = ((labels.MRENCLAVE, report.mrenclave), (labels.MRSIGNER, report.mrsigner))
        for key, value in claims:
            if value is not None and lab.get(key) and lab.get(key) != value:
                report.problems.append(f"label {key} is {lab.get(key)}, content says {value}")
        for entry in doc.get("sgx", {}).get("trusted_files", []):
            path = str(entry["uri"]).removeprefix("file:")
            f = image.fs.get(path)
            report.checked_files += 1
            if f is None or f.kind != "file":
                report.problems.append(f"trusted file {path} is missing or not a regular file")
            elif f.sha256 != entry["sha256"]:
                report.problems.append(f"trusted file {path} changed (sha256 {f.sha256})")
    if mrenclave is not None and report.mrenclave != mrenclave.lower():
        report.problems.append(f"MRENCLAVE {report.mrenclave} is not the expected {mrenclave}")
    if mrsigner is not None and report.mrsigner != mrsigner.lower():
        report.problems.append(f"MRSIGNER {report.mrsigner} is not the expected {mrsigner}")
    return report
