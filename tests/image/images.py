"""Build the test images in tests/images/<name>/ on demand, cached by tag.

Each image is tagged ``gsc-test/<name>:latest`` and labelled with a hash of its build
context, so an unchanged image is reused and an edited Dockerfile rebuilds it. Images
that build FROM another test image (``BUILDER``) get it built first."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parents[1] / "images"
LABEL = "gsc.test.context"
# images whose Dockerfile uses ARG BUILDER (the shared build stage)
NEEDS_BUILDER = {"cdyn", "musl"}


def tag(name: str) -> str:
    return f"gsc-test/{name}:latest"


def context_hash(name: str) -> str:
    root = IMAGES_DIR / name
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _current_label(ref: str) -> str | None:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{index .Config.Labels \"" + LABEL + "\"}}",
         ref], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return proc.stdout.strip()


def ensure(name: str) -> str:
    """Build (if needed) and return the tag of test image ``name``."""
    if name in NEEDS_BUILDER:
        ensure("builder")
    ref = tag(name)
    want = context_hash(name)
    if _current_label(ref) == want:
        return ref
    cmd = ["docker", "build", "-q", "-t", ref, "--label", f"{LABEL}={want}"]
    if name in NEEDS_BUILDER:
        cmd += ["--build-arg", f"BUILDER={tag('builder')}"]
    proc = subprocess.run([*cmd, str(IMAGES_DIR / name)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building {ref} failed:\n{proc.stdout}\n{proc.stderr}")
    return ref


if __name__ == "__main__":
    import sys

    for n in sys.argv[1:] or sorted(p.name for p in IMAGES_DIR.iterdir() if p.is_dir()):
        print(ensure(n))
