"""End to end in Docker: `gsc build --encrypt` of an app whose model file is encrypted at
build time, read with the key given at run time; refused without it, with a wrong key, with
a tampered or renamed file; the plaintext and the key never in any layer of the output."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from clitools import build_example, docker, gsc

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_ready")]

PREFIX = "gsc-enc2-test"
APP = """\
import hashlib, sys
name = sys.argv[1] if len(sys.argv) > 1 else "/models/model.bin"
try:
    with open(name, "rb") as f:
        data = f.read()
except OSError as e:
    print("ERROR", e)
    sys.exit(3)
print("sha256", hashlib.sha256(data).hexdigest(), len(data))
"""


@dataclass
class Built:
    base: str
    tag: str
    key: Path
    model: bytes
    other: bytes
    tmpdir: Path
    stderr: str
    seconds: float
    plain_seconds: float


def _run(tag: str, *args: str) -> subprocess.CompletedProcess[str]:
    return docker("run", "--rm", *args, tag, timeout=300, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, signing_key: Path) -> Iterator[Built]:
    d = tmp_path_factory.mktemp("enc")
    rng = random.Random(20250101)
    model = rng.randbytes(3 << 20)
    other = rng.randbytes(100_000)
    (d / "model.bin").write_bytes(model)
    (d / "other.bin").write_bytes(other)
    (d / "app.py").write_text(APP)
    (d / "Dockerfile").write_text(
        f"FROM {build_example('python')}\n"
        "COPY model.bin other.bin /models/\n"
        "COPY app.py /app/model_app.py\n"
        'CMD ["/usr/bin/python3", "/app/model_app.py"]\n')
    base = f"{PREFIX}/model:1"
    docker("build", "-q", "-t", base, str(d), timeout=900)
    key = d / "wrap.key"
    key.write_bytes(rng.randbytes(16))
    key.chmod(0o600)
    tmpdir = d / "tmp"
    tmpdir.mkdir()
    tag = f"{PREFIX}/model:enc"
    t0 = time.monotonic()
    r = gsc("build", base, "-k", signing_key, "-t", tag, "--date", "2025-01-01",
            "--encrypt", "/models:model", "--encryption-key", f"model={key}",
            "--encryption-key-file-at", "model=/run/secrets/model",
            env={"TMPDIR": str(tmpdir)})
    seconds = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    p = gsc("build", base, "-k", signing_key, "-t", f"{PREFIX}/model:plain", "-q",
            "--date", "2025-01-01")
    plain_seconds = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    print(f"\nbuild time: --encrypt {seconds:.2f} s, without {plain_seconds:.2f} s")
    yield Built(base, tag, key, model, other, tmpdir, r.stderr, seconds, plain_seconds)
    for ref in (tag, f"{PREFIX}/model:plain", f"{PREFIX}/model:again", f"{PREFIX}/model:tampered",
                f"{PREFIX}/model:renamed", base):
        docker("rmi", "-f", ref, check=False)


def test_reads_with_the_key_file(built: Built) -> None:
    r = _run(built.tag, "-v", f"{built.key}:/run/secrets/model:ro")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["sha256", hashlib.sha256(built.model).hexdigest(),
                                str(len(built.model))]


def _refused(r: subprocess.CompletedProcess[str], why: str) -> None:
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "ERROR [Errno 13] Permission denied: '/models/model.bin'" in r.stdout
    line = [ln for ln in r.stderr.splitlines()
            if ln.startswith("gsc-runtime: policy: encrypted file /models/model.bin:")]
    assert line and why in line[0] and "refusing (EACCES)" in line[0], r.stderr


def test_refused_without_a_key(built: Built) -> None:
    _refused(_run(built.tag), 'no key "model"')


def test_refused_with_a_wrong_key(built: Built, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(bytes(a ^ 1 for a in built.key.read_bytes()))
    wrong.chmod(0o600)
    _refused(_run(built.tag, "-v", f"{wrong}:/run/secrets/model:ro"), "metadata GCM")


def _derived(built: Built, name: str, tmp_path: Path, run: str) -> str:
    d = tmp_path / name
    d.mkdir()
    (d / "Dockerfile").write_text(f"FROM {built.tag}\nRUN {run}\n")
    tag = f"{PREFIX}/model:{name}"
    docker("build", "-q", "-t", tag, str(d), timeout=600)
    return tag


def test_refused_when_tampered(built: Built, tmp_path: Path) -> None:
    flip = ("/usr/bin/python3 -c \"f=open('/models/model.bin','r+b'); f.seek(3*4096+100); "
            "b=f.read(1); f.seek(3*4096+100); f.write(bytes([b[0]^1]))\"")
    tag = _derived(built, "tampered", tmp_path, flip)
    _refused(_run(tag, "-v", f"{built.key}:/run/secrets/model:ro"), "Callback failed")


def test_refused_when_renamed(built: Built, tmp_path: Path) -> None:
    tag = _derived(built, "renamed", tmp_path, "mv /models/other.bin /models/model.bin")
    _refused(_run(tag, "-v", f"{built.key}:/run/secrets/model:ro"), "Invalid path")


def _layers(saved: bytes) -> list[bytes]:
    """Every regular file of a `docker save` tar, layer tars decompressed, and every regular
    file inside each layer."""
    out: list[bytes] = []
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        blobs = [tar.extractfile(m).read() for m in tar if m.isreg()]  # type: ignore[union-attr]
    for blob in blobs:
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        out.append(blob)
        if blob[257:262] == b"ustar":
            with tarfile.open(fileobj=io.BytesIO(blob)) as inner:
                out += [inner.extractfile(m).read()  # type: ignore[union-attr]
                        for m in inner if m.isreg()]
    return out


def test_no_plaintext_or_key_in_the_saved_image(built: Built) -> None:
    saved = subprocess.run(["docker", "save", built.tag], capture_output=True,
                           check=True).stdout
    secrets = [built.model[i:i + 64] for i in (0, 3000, 1 << 20, len(built.model) - 64)]
    secrets += [built.other[5000:5064], built.key.read_bytes()]
    blobs = _layers(saved)
    assert len(blobs) > 10
    for s in secrets:
        assert s not in saved
        assert not any(s in b for b in blobs)
    # The control: the input image does hold them (the scan can fail).
    before = subprocess.run(["docker", "save", built.base], capture_output=True,
                            check=True).stdout
    assert any(secrets[1] in b for b in _layers(before))
    for f in built.tmpdir.rglob("*"):
        if f.is_file():
            assert built.key.read_bytes() not in f.read_bytes(), f
    assert built.key.read_bytes().hex() not in built.stderr


def test_only_the_model_layer_changes(built: Built) -> None:
    def ids(ref: str) -> list[str]:
        out = docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", ref).stdout
        return [str(x) for x in __import__("json").loads(out)]

    before, after = ids(built.base), ids(built.tag)
    assert len(after) == len(before) + 1
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b]
    assert changed == [len(before) - 2]          # the COPY model.bin layer only
    manifest = docker("run", "--rm", "--entrypoint", "cat", built.tag,
                      "/gsc/entrypoint.manifest.sgx").stdout
    assert 'type = "encrypted"' in manifest and 'key_name = "model"' in manifest
    assert '"/run/secrets/model"' in manifest
    assert "/models/model.bin" not in manifest    # not a trusted file
    assert "insecure__keys" not in manifest


def test_rebuild_is_reproducible(built: Built, signing_key: Path) -> None:
    r = gsc("build", built.base, "-k", signing_key, "-t", f"{PREFIX}/model:again", "-q",
            "--date", "2025-01-01", "--encrypt", "/models:model",
            "--encryption-key", f"model={built.key}",
            "--encryption-key-file-at", "model=/run/secrets/model", "--json")
    assert r.returncode == 0, r.stderr
    first = docker("image", "inspect", "-f", "{{.Id}}", built.tag).stdout.strip()
    assert __import__("json").loads(r.stdout)["image_id"] == first


def test_refuses_a_group_readable_key(built: Built, tmp_path: Path) -> None:
    k = tmp_path / "k"
    k.write_bytes(built.key.read_bytes())
    k.chmod(0o644)
    r = gsc("build", built.base, "--encrypt", "/models:model", "--encryption-key",
            f"model={k}", "-t", f"{PREFIX}/model:never")
    assert r.returncode == 2
    assert "group or others" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_daemonless_archive_output(built: Built, signing_key: Path, tmp_path: Path) -> None:
    """docker-archive: in, oci-archive: out (every layer written by gsc): byte-identical on
    a rebuild, and the image runs (copied into the daemon with skopeo)."""
    import shutil

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed")
    src = tmp_path / "in.tar"
    docker("save", "-o", str(src), built.base)
    outs = []
    for n in (1, 2):
        out = tmp_path / f"out{n}.tar"
        r = gsc("build", f"docker-archive:{src}", "-k", signing_key, "-q", "--date",
                "2025-01-01", "--encrypt", "/models:model", "--encryption-key",
                f"model={built.key}", "--encryption-key-file-at", "model=/run/secrets/model",
                "--output", f"oci-archive:{out}", "-t", f"{PREFIX}/model:oci")
        assert r.returncode == 0, r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert not any(built.model[4096:4160] in b for b in _oci_blobs(outs[0]))
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{tmp_path / 'out1.tar'}",
                    f"docker-daemon:{PREFIX}/model:oci"], check=True, capture_output=True)
    try:
        r2 = _run(f"{PREFIX}/model:oci", "-v", f"{built.key}:/run/secrets/model:ro")
        assert r2.returncode == 0, r2.stderr
        assert hashlib.sha256(built.model).hexdigest() in r2.stdout
    finally:
        docker("rmi", "-f", f"{PREFIX}/model:oci", check=False)


def _oci_blobs(archive: bytes) -> list[bytes]:
    out: list[bytes] = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for m in tar:
            if m.isreg():
                blob = tar.extractfile(m).read()  # type: ignore[union-attr]
                out += _layers(blob) if blob[257:262] == b"ustar" or blob[:2] == b"\x1f\x8b" \
                    else [blob]
    return out
