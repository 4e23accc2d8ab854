"""Images for the runtime tests in a real Docker Engine (test_docker*.py): the skip when the
engine or a base image is missing (a `docker` capability, tests/capabilities.py), images
shielded with `gsc build`, and busybox images with a hand-made runtime bundle."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from capabilities import need, need_docker
from clitools import docker, gsc, image_exists
from rt_bundle import DATE, dev_key, manifest_bytes

from gsc.sgx.sigstruct import sign_enclave

BUSYBOX = "gsc-local/busybox:latest"
DEBIAN = "gsc-local/debian:bookworm"


def need_image(ref: str) -> None:
    """Skip the calling test or fixture (capability `docker`) unless the engine runs and
    holds the base image ref."""
    need_docker()
    need("docker", image_exists(ref), f"{ref} missing (scripts/build-base-images)")


def image_file(image: str, path: str, dest: Path) -> bytes:
    """Copy a file out of an image without running anything from it."""
    cid = docker("create", image).stdout.strip()
    try:
        docker("cp", "-L", f"{cid}:{path}", str(dest))
    finally:
        docker("rm", "-f", cid, check=False)
    return dest.read_bytes()


def run_image(*args: str) -> subprocess.CompletedProcess[str]:
    """docker run --rm ARGS (options, the image, its arguments), whatever its exit status."""
    return docker("run", "--rm", *args, timeout=120, check=False)


@contextmanager
def removed_afterwards() -> Iterator[list[str]]:
    """A list to put image tags in; they are removed when the block ends."""
    made: list[str] = []
    try:
        yield made
    finally:
        for tag in made:
            docker("rmi", "-f", tag, check=False)


@contextmanager
def shielded_images(d: Path, contexts: Mapping[str, Mapping[str, str | Path]], prefix: str,
                    *build_args: str) -> Iterator[dict[str, str]]:
    """For each NAME of contexts: a build context d/NAME holding its files (text, or a
    Path copied with its mode), built as PREFIX-NAME-<random>:latest and shielded with
    `gsc build SRC -k KEY BUILD_ARGS -q` (a key made here) as
    PREFIX-NAME-shielded-<random>:latest. Yields {NAME: shielded tag, NAME-src: source
    tag}; every image made is removed afterwards."""
    key = d / "key.pem"
    assert gsc("gen-key", key).returncode == 0
    tags: dict[str, str] = {}
    with removed_afterwards() as made:
        for name, files in contexts.items():
            ctx = d / name
            ctx.mkdir()
            for fname, content in files.items():
                if isinstance(content, Path):
                    shutil.copy2(content, ctx / fname)
                else:
                    (ctx / fname).write_text(content)
            src = f"{prefix}-{name}-{uuid.uuid4().hex[:8]}:latest"
            docker("build", "-q", "-t", src, str(ctx))
            made.append(src)
            out = f"{prefix}-{name}-shielded-{uuid.uuid4().hex[:8]}:latest"
            r = gsc("build", src, "-k", key, *build_args, "-q", "-t", out, timeout=900)
            assert r.returncode == 0, r.stderr
            made.append(out)
            tags[name] = out
            tags[name + "-src"] = src
        yield tags


def runtime_image(ctx: Path, runtime_bin: Path, *, entrypoint: str, argv: list[str],
                  trusted: list[dict[str, str]], pins: list[dict[str, str]],
                  copy: Iterable[str], prefix: str) -> str:
    """An image FROM BUSYBOX with the runtime as ENTRYPOINT: ctx/gsc holds runtime_bin and
    a manifest (entrypoint, argv, the trusted files, /data/rw, /dev/null and /proc allowed,
    start_dir /data, the symlink pins) signed with the dev key; the directories `copy` of
    ctx are COPYed to /. Returns the tag, PREFIX<random>."""
    gsc_dir = ctx / "gsc"
    gsc_dir.mkdir(parents=True)
    shutil.copyfile(runtime_bin, gsc_dir / "gsc-runtime")
    (gsc_dir / "gsc-runtime").chmod(0o755)
    doc: dict[str, Any] = {
        "libos": {"entrypoint": entrypoint},
        "loader": {"argv": argv, "log_level": "error", "env": {"PATH": "/bin"}},
        "fs": {"start_dir": "/data"},
        "sgx": {"enclave_size": "256M", "trusted_files": trusted,
                "allowed_files": ["file:/data/rw", "file:/dev/null", "file:/proc"]},
        "gsc": {"symlinks": pins},
    }
    data = manifest_bytes(doc)
    (gsc_dir / "entrypoint.manifest.sgx").write_bytes(data)
    (gsc_dir / "entrypoint.sig").write_bytes(
        sign_enclave(data, (gsc_dir / "gsc-runtime").read_bytes(), dev_key(), DATE))
    copies = "".join(f"COPY {c}/ /{c}/\n" for c in (*copy, "gsc"))
    (ctx / "Dockerfile").write_text(
        f'FROM {BUSYBOX}\n{copies}ENTRYPOINT ["/gsc/gsc-runtime"]\n')
    tag = f"{prefix}{uuid.uuid4().hex[:12]}"
    docker("build", "-q", "-t", tag, str(ctx), timeout=300)
    return tag
