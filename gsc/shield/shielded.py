"""What a shielded image is, read back through an ImageSource: its labels, config and
/gsc/ files. `sign-image`, `info-image` and `verify-image` all start from this."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gsc.errors import InputError, VerificationError
from gsc.image.loader import ImageSource
from gsc.image.model import ImageConfig
from gsc.image.reference import ImageRef, check_tag, output_name
from gsc.manifest import schema
from gsc.runtime_binary import check_stamp
from gsc.sgx import sigstruct
from gsc.sgx.measure import mrenclave as measure_mrenclave
from gsc.sgx.params import SgxParams
from gsc.sgx.signer import Signer
from gsc.shield import layout
from gsc.shield.plan import GscFiles, OutputImage


@dataclass(frozen=True)
class ShieldedImage:
    id: str
    ref: str
    tags: tuple[str, ...]
    labels: dict[str, str]
    config: ImageConfig
    files: GscFiles

    def image_json(self) -> dict[str, Any]:
        """The one JSON shape of `image` in every command's output."""
        return {"id": self.id, "ref": self.ref, "tags": list(self.tags)}


def require_gsc_labels(ref: str, labels: dict[str, str]) -> None:
    if layout.VERSION not in labels:
        raise InputError(f"{ref} is not an image built by gsc (no {layout.VERSION} label)")


def read_shielded(source: ImageSource) -> ShieldedImage:
    """The description of a gsc image (InputError if it is not one). Reads only /gsc/."""
    labels = dict(source.config.labels)
    require_gsc_labels(source.ref, labels)
    files = source.read_dir(layout.GSC_DIR)
    return ShieldedImage(
        id=source.id, ref=source.ref, tags=tuple(source.tags), labels=labels,
        config=source.config,
        files=GscFiles(files.get(layout.RUNTIME_NAME), files.get(layout.MANIFEST_NAME),
                       files.get(layout.SIG_NAME)),
    )


@dataclass(frozen=True)
class SignPlan:
    output: OutputImage
    mrenclave: str
    mrsigner: str
    date: str


def plan_signing(img: ShieldedImage, key: Signer, date: dt.date,
                 tag: str | None) -> SignPlan:
    """Sign an unsigned gsc image: measure its /gsc/ files once, check the MRENCLAVE
    recorded at build time, and add a layer with only the SIGSTRUCT."""
    if tag is not None:
        check_tag(tag)
    runtime, manifest = img.files.runtime, img.files.manifest
    if runtime is None or manifest is None:
        raise InputError(f"{img.ref}: {layout.GSC_DIR}/ lacks the runtime or the manifest")
    check_stamp(runtime, f"in {img.ref}", "rebuild the image with this gsc (or sign it with "
                "the gsc that built it)")
    doc = schema.load(manifest, f"{img.ref}:{layout.MANIFEST_PATH}")
    params = SgxParams.from_table(doc.get("sgx", {}), layout.MANIFEST_PATH)
    mrenclave = measure_mrenclave(manifest, runtime, params)
    recorded = img.labels.get(layout.MRENCLAVE, "")
    if recorded and recorded != mrenclave.hex():
        raise VerificationError(
            f"{img.ref}: MRENCLAVE of its /gsc/ files is {mrenclave.hex()}, but the image was "
            f"built with {recorded}; refusing to sign"
        )
    signature = sigstruct.sign_measured(mrenclave, params, key, date)
    info = sigstruct.Sigstruct.from_bytes(signature).to_json()
    labels = dict(img.labels)
    labels.update({
        layout.SIGNED: "true",
        layout.MRENCLAVE: mrenclave.hex(),
        layout.MRSIGNER: str(info["mrsigner"]),
        layout.DATE: str(info["date"]),
    })
    ref = ImageRef.parse(img.ref)
    out_tag = tag or output_name(ref, img.id, img.tags, signed=True, shielded=True)
    if tag is None and ref.named_by_id(img.id, img.tags) and img.tags:
        out_tag = output_name(ImageRef.parse(img.tags[0]), img.id, img.tags, signed=True,
                              shielded=True)
    return SignPlan(
        output=OutputImage(base_id=img.id, files=GscFiles(None, None, signature),
                           entrypoint=None, cmd=None, labels=tuple(labels.items()),
                           tag=out_tag),
        mrenclave=mrenclave.hex(), mrsigner=str(info["mrsigner"]), date=str(info["date"]),
    )
