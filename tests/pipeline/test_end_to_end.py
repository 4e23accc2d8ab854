"""`gsc build` end to end on the examples, against the real Docker Engine."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import EXAMPLES, build_example, docker, gsc

from gsc.manifest import schema

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_ready")]

DATE = "2026-01-02"


def shield(image: str, key: Path, *extra: str | Path, tag: str | None = None) -> dict[str, object]:
    args: list[str | Path] = ["build", image, *extra, "-k", key, "--date", DATE, "--json", "-q"]
    if tag:
        args += ["-t", tag]
    r = gsc(*args)
    assert r.returncode == 0, r.stderr
    return r.json()


def run(image: str, *args: str, env: dict[str, str] | None = None,
        timeout: int = 120) -> subprocess.CompletedProcess[str]:
    cmd = ["docker", "run", "--rm"]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    return subprocess.run([*cmd, image, *args], capture_output=True, text=True, timeout=timeout)


def gsc_files(image: str) -> dict[str, bytes]:
    cid = docker("create", image).stdout.strip()
    try:
        data = subprocess.run(["docker", "cp", f"{cid}:/gsc", "-"], capture_output=True,
                              check=True).stdout
    finally:
        docker("rm", "-f", cid)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            f = tar.extractfile(m) if m.isreg() else None
            if f is not None:
                out[m.name.split("/", 1)[1]] = f.read()
    return out


def derive(image: str, tag: str, path: str, content: bytes, mode: int = 0o755) -> str:
    """A `docker commit` of `image` with one file replaced."""
    cid = docker("create", image).stdout.strip()
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[1])
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
        subprocess.run(["docker", "cp", "-", f"{cid}:{path.rsplit('/', 1)[0] or '/'}"],
                       input=buf.getvalue(), check=True, capture_output=True)
        docker("commit", cid, tag)
    finally:
        docker("rm", "-f", cid)
    return tag


@pytest.fixture(scope="module")
def hello(signing_key: Path) -> Iterator[tuple[str, dict[str, object]]]:
    src = build_example("hello")
    result = shield(src, signing_key)
    yield src, result


@pytest.fixture(scope="module")
def python_app(signing_key: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[str, dict[str, object]]:
    src = build_example("python")
    cfg = tmp_path_factory.mktemp("cfg") / "gsc.yaml"
    cfg.write_text("env_passthrough: [APP_EXIT]\n")
    return src, shield(src, signing_key, "-c", cfg)


def test_hello_runs_like_the_original(hello: tuple[str, dict[str, object]]) -> None:
    src, result = hello
    assert result["tag"] == "gsc-gsc-example/hello:latest"
    assert result["signed"] is True
    orig, shielded = run(src), run(str(result["tag"]))
    assert orig.returncode == 0
    assert shielded.returncode == 0, shielded.stderr
    assert shielded.stdout == orig.stdout == "hello, world, from a shielded busybox\n"


def test_info_image_reads_labels_and_sigstruct_of_scratch_image(
    hello: tuple[str, dict[str, object]]
) -> None:
    _src, result = hello
    r = gsc("info-image", str(result["tag"]), "--json")
    assert r.returncode == 0, r.stderr
    info = r.json()
    assert info["mrenclave"] == result["mrenclave"]
    assert info["mrsigner"] == result["mrsigner"]
    assert info["date"] == DATE and info["signed"] is True
    for key in ("isv_prod_id", "isv_svn", "debug", "misc_select", "attributes_flags",
                "attributes_xfrm", "attribute_mask_xfrm"):
        assert key in info


def test_run_arguments_are_refused_unless_insecure_args(
    hello: tuple[str, dict[str, object]], signing_key: Path, cleanup_images: list[str]
) -> None:
    src, result = hello
    refused = run(str(result["tag"]), "mallory")
    assert refused.returncode == 126
    assert "gsc-runtime: launch refused:" in refused.stderr
    assert "mallory" not in refused.stdout
    tag = "gsc-test/hello-insecure:latest"
    cleanup_images.append(tag)
    shield(src, signing_key, "--insecure-args", tag=tag)
    passed = run(tag, "mallory")
    assert passed.returncode == 0, passed.stderr
    assert passed.stdout == "hello, mallory, from a shielded busybox\n"
    assert run(tag).stdout == "hello, world, from a shielded busybox\n"


def test_python_example_output_exit_code_and_env_passthrough(
    python_app: tuple[str, dict[str, object]]
) -> None:
    src, result = python_app
    tag = str(result["tag"])
    orig, shielded = run(src), run(tag)
    assert shielded.returncode == 0, shielded.stderr
    assert shielded.stdout == orig.stdout
    assert "python app ok" in shielded.stdout
    failing = run(tag, env={"APP_EXIT": "3", "NOT_PASSED": "1"})
    assert failing.returncode == 3, failing.stderr


def test_entrypoint_script_example(signing_key: Path) -> None:
    src = build_example("entrypoint-script")
    result = shield(src, signing_key)
    orig, shielded = run(src), run(str(result["tag"]))
    assert shielded.returncode == 0, shielded.stderr
    assert shielded.stdout.split(" (")[0] == orig.stdout.split(" (")[0] == "hello, world"


def test_nonroot_example_keeps_user_and_passes_tz(signing_key: Path) -> None:
    src = build_example("nonroot")
    result = shield(src, signing_key, "-c", EXAMPLES / "nonroot" / "gsc.yaml")
    shielded = run(str(result["tag"]), env={"TZ": "Europe/Berlin"})
    orig = run(src, env={"TZ": "Europe/Berlin"})
    assert shielded.returncode == 0, shielded.stderr
    assert shielded.stdout == orig.stdout
    assert "uid 1000" in shielded.stdout and "zone=Europe/Berlin" in shielded.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nginx_serves_and_stops_fast(signing_key: Path) -> None:
    src = build_example("nginx")
    result = shield(src, signing_key, EXAMPLES / "nginx" / "gsc.toml")
    port = _free_port()
    cid = docker("run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", str(result["tag"])
                 ).stdout.strip()
    try:
        body = b""
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    assert resp.status == 200
                    body = resp.read()
                    break
            except OSError:
                time.sleep(0.2)
        logs = docker("logs", cid, check=False)
        assert b"served by a shielded nginx" in body, logs.stderr
        start = time.monotonic()
        docker("stop", cid)
        assert time.monotonic() - start < 5
    finally:
        docker("rm", "-f", cid, check=False)


def test_tampering_is_detected(
    hello: tuple[str, dict[str, object]], cleanup_images: list[str]
) -> None:
    _src, result = hello
    tag = str(result["tag"])
    assert gsc("verify-image", tag).returncode == 0
    files = gsc_files(tag)

    bad_file = derive(tag, "gsc-test/tamper-file:1", "/hello.sh", b"echo pwned\n", 0o644)
    bad_manifest = derive(tag, "gsc-test/tamper-manifest:1", "/gsc/entrypoint.manifest.sgx",
                          files["entrypoint.manifest.sgx"].replace(b"world", b"w0rld"), 0o644)
    sig = bytearray(files["entrypoint.sig"])
    sig[600] ^= 1
    bad_sig = derive(tag, "gsc-test/tamper-sig:1", "/gsc/entrypoint.sig", bytes(sig), 0o644)
    cleanup_images.extend([bad_file, bad_manifest, bad_sig])

    r = run(bad_file)
    assert r.returncode != 0 and "pwned" not in r.stdout
    for img in (bad_manifest, bad_sig):
        r = run(img)
        assert r.returncode == 126
        assert r.stderr.startswith("gsc-runtime: launch refused:"), r.stderr
    for img in (bad_file, bad_manifest, bad_sig):
        v = gsc("verify-image", img, "--json")
        assert v.returncode == 1, (img, v.stderr)
        assert v.json()["ok"] is False


def test_verify_image_pins(hello: tuple[str, dict[str, object]]) -> None:
    _src, result = hello
    tag = str(result["tag"])
    ok = gsc("verify-image", tag, "--mrenclave", str(result["mrenclave"]),
             "--mrsigner", str(result["mrsigner"]))
    assert ok.returncode == 0, ok.stderr
    assert gsc("verify-image", tag, "--mrsigner", "00" * 32).returncode == 1
    assert gsc("verify-image", tag, "--mrsigner", "xyz").returncode == 2


def test_reproducible_and_two_step_signing(
    hello: tuple[str, dict[str, object]], signing_key: Path, cleanup_images: list[str]
) -> None:
    src, first = hello
    second = shield(src, signing_key, tag="gsc-test/hello-again:latest")
    unsigned = gsc("build", src, "--json", "-q", "-t", "gsc-test/hello-u:latest-unsigned")
    assert unsigned.returncode == 0, unsigned.stderr
    u = unsigned.json()
    assert u["signed"] is False and u["mrsigner"] is None
    signed_later = gsc("sign-image", "gsc-test/hello-u:latest-unsigned", signing_key,
                       "--date", DATE, "--json")
    assert signed_later.returncode == 0, signed_later.stderr
    later_tag = str(signed_later.json()["tag"])
    assert later_tag == "gsc-test/hello-u:latest"
    cleanup_images.extend(["gsc-test/hello-again:latest", "gsc-test/hello-u:latest-unsigned",
                           later_tag])
    assert first["mrenclave"] == second["mrenclave"] == u["mrenclave"]
    a, b, c = (gsc_files(str(first["tag"])), gsc_files(str(second["tag"])),
               gsc_files(later_tag))
    assert a["entrypoint.manifest.sgx"] == b["entrypoint.manifest.sgx"]
    assert a["entrypoint.sig"] == b["entrypoint.sig"] == c["entrypoint.sig"]
    assert run(later_tag).stdout == "hello, world, from a shielded busybox\n"
    unsigned_run = run("gsc-test/hello-u:latest-unsigned")
    assert unsigned_run.returncode == 126


def test_failed_build_leaves_no_tag(hello: tuple[str, dict[str, object]], tmp_path: Path,
                                    signing_key: Path) -> None:
    src, _ = hello
    bad = tmp_path / "bad.toml"
    bad.write_text("[sgx]\nmax_threads = 0\n")
    r = gsc("build", src, bad, "-k", signing_key, "-t", "gsc-test/never:1", "-q")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "bad.toml:2" in r.stderr
    assert docker("image", "inspect", "gsc-test/never:1", check=False).returncode != 0


def test_key_never_reaches_image_or_temp_files(
    hello: tuple[str, dict[str, object]], signing_key: Path, tmp_path: Path,
    cleanup_images: list[str]
) -> None:
    from cryptography.hazmat.primitives import serialization

    src, _ = hello
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    tag = "gsc-test/hello-keycheck:latest"
    cleanup_images.append(tag)
    r = gsc("build", src, "-k", signing_key, "-t", tag, "-q", env={"TMPDIR": str(tmpdir)})
    assert r.returncode == 0, r.stderr
    key = serialization.load_pem_private_key(signing_key.read_bytes(), None)
    d = key.private_numbers().d  # type: ignore[union-attr]
    secrets = [
        signing_key.read_bytes(),
        signing_key.read_bytes().splitlines()[1],
        d.to_bytes(384, "big"),
        d.to_bytes(384, "little"),
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    ]
    saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        blobs = [tar.extractfile(m).read() for m in tar if m.isreg()]  # type: ignore[union-attr]
    layers = []
    for blob in blobs:
        layers.append(blob)
        if blob[257:262] == b"ustar":
            with tarfile.open(fileobj=io.BytesIO(blob)) as inner:
                layers += [inner.extractfile(m).read()  # type: ignore[union-attr]
                           for m in inner if m.isreg()]
    for secret in secrets:
        assert not any(secret in blob for blob in layers)
    leftovers = list(tmpdir.rglob("*"))
    for f in leftovers:
        if f.is_file():
            data = f.read_bytes()
            assert not any(s in data for s in secrets), f
    assert r.stderr.count("PRIVATE KEY") == 0


def test_build_writes_executables(python_app: tuple[str, dict[str, object]]) -> None:
    """gsc.executables: the trusted files with an x bit in the image, sorted; the runtime
    grants Landlock EXECUTE to these only."""
    _, result = python_app
    files = gsc_files(str(result["tag"]))
    doc = schema.load(files["entrypoint.manifest.sgx"], "m")
    exe = doc["gsc"]["executables"]
    trusted = {t["uri"] for t in doc["sgx"]["trusted_files"]}
    assert exe == sorted(exe, key=lambda u: u.encode()) and set(exe) <= trusted
    assert "file:/usr/bin/python3.11" in exe and "file:/usr/bin/dash" in exe
    # Debian ships a few stdlib scripts (base64.py, ...) with x bits; os.py has none
    assert "file:/usr/lib/python3.11/os.py" not in exe
    assert "file:/usr/lib/python3.11/os.py" in trusted
    assert len(exe) < len(trusted) // 4, (len(exe), len(trusted))
