"""Provenance: an in-toto Statement (v1) binding a published image digest to its enclave.

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": OUTPUT-IMAGE, "digest": {"sha256": HEX}}],
     "predicateType": "https://gsc.dev/provenance/sgx-enclave/v1",
     "predicate": {"input": {"name": REF, "digest": {"sha256": HEX}},
                   "enclave": {"mrenclave", "mrsigner", "isvProdId", "isvSvn", "debug"},
                   "runtime": {"name": "/gsc/gsc-runtime", "digest": {"sha256": HEX}},
                   "manifest": {"name": "/gsc/entrypoint.manifest.sgx", "digest": {...}},
                   "trustedFiles": N, "gscVersion": V, "date": "YYYY-MM-DD"}}

The subject digest is the digest that names the output image where it was written: the
manifest digest for a registry (docker://), an OCI layout (oci:) or an OCI archive, the
image ID (config digest) for the Docker daemon and a docker-archive. `input`, `runtime`
and `manifest` are in-toto ResourceDescriptors. `date` is the SIGSTRUCT date (null for
an unsigned image). A release engineer signs and publishes this file with the tools they
already use (cosign attest, in-toto, DSSE).

`statement()` is a pure function of plain values; `image_statement()` gathers the values
from an image gsc just wrote to the daemon; `write()` stores the JSON atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from gsc.errors import InputError
from gsc.files import write_atomic
from gsc.shield import layout

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://gsc.dev/provenance/sgx-enclave/v1"
RUNTIME_NAME = layout.RUNTIME_PATH
MANIFEST_NAME = layout.MANIFEST_PATH

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def digest_set(digest: str) -> dict[str, str]:
    """`sha256:HEX` (or bare HEX) -> an in-toto DigestSet {"sha256": "hex"} (lowercase)."""
    algo, sep, value = digest.partition(":")
    if not sep:
        algo, value = "sha256", digest
    value = value.lower()
    if algo != "sha256" or not _HEX64.match(value):
        raise InputError(f"provenance: {digest!r} is not a sha256 digest")
    return {"sha256": value}


def _hex32(value: str | None, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if value is None or not _HEX64.match(value.lower()):
        raise InputError(f"provenance: {name} must be 64 hexadecimal digits")
    return value.lower()


def statement(
    *,
    image_name: str,
    image_digest: str,
    input_ref: str,
    input_digest: str,
    mrenclave: str,
    mrsigner: str | None,
    isv_prod_id: int,
    isv_svn: int,
    debug: bool,
    runtime_sha256: str,
    manifest_sha256: str,
    trusted_files: int,
    gsc_version: str,
    date: str | None,
) -> dict[str, Any]:
    """The Statement as a JSON-ready dict; InputError if a value is malformed."""
    if not image_name or not input_ref:
        raise InputError("provenance: the image names must not be empty")
    for name, value, limit in (("isv_prod_id", isv_prod_id, 0xFFFF),
                               ("isv_svn", isv_svn, 0xFFFF),
                               ("trusted_files", trusted_files, 1 << 62)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise InputError(f"provenance: {name} out of range")
    if date is not None and not _DATE.match(date):
        raise InputError("provenance: date must be YYYY-MM-DD")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": image_name, "digest": digest_set(image_digest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "input": {"name": input_ref, "digest": digest_set(input_digest)},
            "enclave": {
                "mrenclave": _hex32(mrenclave, "mrenclave"),
                "mrsigner": _hex32(mrsigner, "mrsigner", optional=True),
                "isvProdId": isv_prod_id,
                "isvSvn": isv_svn,
                "debug": bool(debug),
            },
            "runtime": {"name": RUNTIME_NAME, "digest": digest_set(runtime_sha256)},
            "manifest": {"name": MANIFEST_NAME, "digest": digest_set(manifest_sha256)},
            "trustedFiles": trusted_files,
            "gscVersion": gsc_version,
            "date": date,
        },
    }


def check_destination(path: Path) -> None:
    """Fail before a long build when the statement could not be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"--provenance {path}: directory {parent} does not exist")
    if path.is_dir():
        raise InputError(f"--provenance {path} is a directory")
    if not os.access(parent, os.W_OK):
        raise InputError(f"--provenance {path}: directory {parent} is not writable")


def write(path: Path, doc: dict[str, Any]) -> None:
    """The statement as JSON (UTF-8, one trailing newline), written atomically."""
    write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- gsc images


def image_statement(image_id: str, name: str) -> dict[str, Any]:
    """The statement for a gsc image in the Docker daemon, from what the image holds:
    its SIGSTRUCT (or, unsigned, its labels), its /gsc/ files and its labels."""
    from gsc.image.loader import DaemonSource
    from gsc.shield.shielded import read_shielded

    shielded = read_shielded(DaemonSource(image_id, pull=False))
    img = shielded.files
    return output_statement(name, shielded.id, shielded.labels, img.runtime, img.manifest,
                            img.signature)


def output_statement(name: str, digest: str, labels: dict[str, str], runtime: bytes | None,
                     manifest: bytes | None, signature: bytes | None) -> dict[str, Any]:
    """The statement for an image gsc wrote (to any destination): ``digest`` names it
    there (the manifest digest for a registry or OCI layout, else the image ID); the
    rest comes from its labels and /gsc/ files."""
    from gsc import __version__
    from gsc.sgx.sigstruct import Sigstruct
    from gsc.shield import layout

    if runtime is None or manifest is None:
        raise InputError(f"{name}: /gsc/ lacks the runtime or the manifest")
    lab = labels
    if signature is not None:
        info = Sigstruct.from_bytes(signature).to_json()
    else:
        info = {
            "mrenclave": lab.get(layout.MRENCLAVE, ""),
            "mrsigner": None,
            "isv_prod_id": int(lab.get(layout.ISVPRODID, "0") or 0),
            "isv_svn": int(lab.get(layout.ISVSVN, "0") or 0),
            "debug": lab.get(layout.DEBUG) == "true",
            "date": None,
        }
    return statement(
        image_name=name,
        image_digest=digest,
        input_ref=lab.get(layout.BASE_NAME, ""),
        input_digest=lab.get(layout.BASE_DIGEST, ""),
        mrenclave=str(info["mrenclave"]),
        mrsigner=None if info["mrsigner"] is None else str(info["mrsigner"]),
        isv_prod_id=int(info["isv_prod_id"]),
        isv_svn=int(info["isv_svn"]),
        debug=bool(info["debug"]),
        runtime_sha256=hashlib.sha256(runtime).hexdigest(),
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        trusted_files=int(lab.get(layout.TRUSTED_FILES, "0") or 0),
        gsc_version=lab.get(layout.VERSION, __version__),
        date=None if info["date"] is None else str(info["date"]),
    )
