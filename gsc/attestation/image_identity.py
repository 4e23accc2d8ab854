"""The enclave identity a relying party should expect from a gsc image: MRENCLAVE and
MRSIGNER recomputed by `verify-image` from the image's content (never taken from labels),
ISVPRODID from the image's verified SIGSTRUCT."""

from __future__ import annotations

from dataclasses import dataclass

from gsc.errors import GscError, VerificationError


@dataclass(frozen=True)
class ImageIdentity:
    image_id: str
    mrenclave: bytes
    mrsigner: bytes
    isvprodid: int
    isvsvn: int


def image_identity(ref: str) -> ImageIdentity:
    """Verify the gsc image `ref` (exactly as `gsc verify-image`) and return its identity.
    Raises VerificationError when the image does not verify, InputError when it cannot be
    read."""
    from gsc.image import load_image
    from gsc.sgx.sigstruct import Sigstruct
    from gsc.shield import layout as labels
    from gsc.shield.verify import verify_image

    report = verify_image(ref, mrenclave=None, mrsigner=None)
    if not report.ok or report.mrenclave is None or report.mrsigner is None:
        problems = "; ".join(report.problems) or "no verified identity"
        raise VerificationError(f"--image {ref} does not verify: {problems}")
    # The SIGSTRUCT (already verified by verify_image) of the same image ID.
    with load_image(str(report.image["id"]), pull=False) as image:
        entry = image.fs.get(labels.SIG_PATH)
        if entry is None or entry.kind != "file":
            raise VerificationError(f"--image {ref}: no {labels.SIG_PATH}")
        try:
            sig = Sigstruct.from_bytes(image.fs.read_bytes(labels.SIG_PATH))
        except GscError as exc:
            raise VerificationError(f"--image {ref}: {exc.message}") from None
    if sig.mrenclave.hex() != report.mrenclave or sig.mrsigner.hex() != report.mrsigner:
        raise VerificationError(f"--image {ref} changed while it was being verified")
    return ImageIdentity(
        image_id=str(report.image["id"]),
        mrenclave=sig.mrenclave,
        mrsigner=sig.mrsigner,
        isvprodid=sig.isv_prod_id,
        isvsvn=sig.isv_svn,
    )
