"""Image transports against real parts: a Debian docker-registry on 127.0.0.1 (plain,
TLS with a CA made here, htpasswd basic auth, a credential helper), skopeo and umoci
reading every output form, `docker load`/`docker pull` + `docker run` of the results,
reproducible digests (daemon path vs daemonless path, and twice daemonless), and bad
input (one-line errors, nothing half-written)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import local_registry as reg
import pytest

from .conftest import assert_one_line_error, gsc

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DATE = "2024-03-01"
DEAD = {"DOCKER_HOST": "unix:///nonexistent/gsc-rel2-dead-docker.sock"}
HELLO = "gsc-rel2-test/hello:1"


def run(*args: str, check: bool = True, env: dict[str, str] | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ)
    full.update(env or {})
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          env=full)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def skopeo_inspect(where: str, *extra: str) -> dict[str, object]:
    doc = json.loads(run("skopeo", "inspect", *extra, where).stdout)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in ("skopeo", "umoci", "docker"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/setup installs it)")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rel2-key") / "key.pem"
    res = gsc("gen-key", path)
    assert res.code == 0, res.err
    return path


@pytest.fixture(scope="module")
def hello(tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("rel2-hello")
    (d / "Dockerfile").write_text('FROM gsc-local/busybox:latest\n'
                                  'CMD ["sh", "-c", "echo rel2-hello"]\n')
    run("docker", "build", "-q", "-t", HELLO, str(d))
    yield HELLO


@pytest.fixture(scope="module")
def plain() -> Iterator[reg.Registry]:
    r = reg.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def pushed(plain: reg.Registry, hello: str) -> str:
    ref = f"{plain.host}/rel2/hello:1"
    run("skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-daemon:{hello}",
        f"docker://{ref}")
    return ref


def _build(src: str, dest: str, key: Path, *extra: str, env: dict[str, str] | None = None
           ) -> dict[str, object]:
    res = gsc("build", src, "-k", key, "--date", DATE, "--output", dest, "--json", *extra,
              env=env)
    assert res.code == 0, res.err
    doc = res.json()
    assert doc["destination"] == dest
    return doc


def test_daemonless_every_output_transport(plain: reg.Registry, pushed: str, key: Path,
                                           tmp_path: Path) -> None:
    """docker:// in, every transport out, with the Docker daemon unreachable."""
    src = f"docker://{pushed}"
    outs = {
        "docker-archive": f"docker-archive:{tmp_path}/out.tar",
        "oci-archive": f"oci-archive:{tmp_path}/out-oci.tar",
        "oci": f"oci:{tmp_path}/layout:v1",
        "docker": f"docker://{plain.host}/rel2/gsc-hello:1",
    }
    docs = {name: _build(src, dest, key, "--tls-verify=false", "-t",
                         "gsc-rel2-test/gsc-hello:1", env=DEAD)
            for name, dest in outs.items()}
    ids = {d["image_id"] for d in docs.values()}
    assert len(ids) == 1, docs
    image_id = ids.pop()
    digests = {d["manifest_digest"] for d in docs.values()}
    assert len(digests) == 1, docs  # same blobs, same manifest, whatever the form
    manifest_digest = digests.pop()
    assert docs["oci"]["digest"] == manifest_digest
    assert docs["docker-archive"]["digest"] == image_id

    # Independent readers accept every form.
    for name in ("oci-archive", "oci", "docker"):
        extra = ("--tls-verify=false",) if name == "docker" else ()
        info = skopeo_inspect(outs[name], *extra)
        assert info["Digest"] == manifest_digest, name
        labels = info["Labels"]
        assert isinstance(labels, dict) and labels["dev.gsc.signed"] == "true"
    info = skopeo_inspect(outs["docker-archive"])
    assert isinstance(info["Labels"], dict) and info["Labels"]["dev.gsc.mrenclave"] == \
        docs["docker"]["mrenclave"]
    for name, where in outs.items():
        extra = ["--src-tls-verify=false"] if name == "docker" else []
        run("skopeo", "copy", "-q", *extra, where, f"oci:{tmp_path}/copies:{name}")

    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--image", f"{tmp_path}/layout:v1", str(bundle))
    runtime = bundle / "rootfs" / "gsc" / "gsc-runtime"
    assert runtime.is_file() and os.stat(runtime).st_mode & 0o777 == 0o755
    assert (bundle / "rootfs" / "gsc" / "entrypoint.sig").stat().st_size == 1808
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["process"]["args"] == ["/gsc/gsc-runtime"]

    # The archive loads and runs; the pushed image pulls with the same ID and runs.
    loaded = run("docker", "load", "-i", f"{tmp_path}/out.tar").stdout
    assert "gsc-rel2-test/gsc-hello:1" in loaded or image_id in loaded, loaded
    try:
        assert run("docker", "image", "inspect", "-f", "{{.Id}}",
                   "gsc-rel2-test/gsc-hello:1").stdout.strip() == image_id
        assert "rel2-hello" in run("docker", "run", "--rm", "gsc-rel2-test/gsc-hello:1").stdout
        pulled = f"{plain.host}/rel2/gsc-hello:1"
        run("docker", "pull", "-q", pulled)
        assert run("docker", "image", "inspect", "-f", "{{.Id}}", pulled).stdout.strip() \
            == image_id
        assert "rel2-hello" in run("docker", "run", "--rm", pulled).stdout
    finally:
        run("docker", "rmi", "-f", "gsc-rel2-test/gsc-hello:1",
            f"{plain.host}/rel2/gsc-hello:1", check=False)

    # verify-image reads every form (and fails with exit 1 on a wrong pin).
    for name, where in outs.items():
        extra = ("--tls-verify=false",) if name == "docker" else ()
        res = gsc("verify-image", where, *extra, env=DEAD)
        assert res.code == 0, (name, res.out, res.err)
    res = gsc("verify-image", outs["oci"], "--mrenclave", "00" * 32, env=DEAD)
    assert res.code == 1 and "FAIL" in res.out


def test_reproducible_daemon_and_daemonless(plain: reg.Registry, pushed: str, key: Path,
                                            tmp_path: Path) -> None:
    src = f"docker://{pushed}"
    first = _build(src, f"oci:{tmp_path}/a", key, "--tls-verify=false", env=DEAD)
    second = _build(src, f"oci:{tmp_path}/b", key, "--tls-verify=false", env=DEAD)
    assert first["image_id"] == second["image_id"]
    assert first["manifest_digest"] == second["manifest_digest"]
    for name in ("index.json",):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # The daemon path: the same image (pulled under the same name), built with the
    # daemon in and out: `docker load` of the planned image gives the same image ID.
    run("docker", "pull", "-q", pushed)
    tag = "gsc-rel2-test/repro:1"
    try:
        res = gsc("build", pushed, "-k", key, "--date", DATE, "-t", tag, "--json")
        assert res.code == 0, res.err
        assert res.json()["image_id"] == first["image_id"]
        assert run("docker", "image", "inspect", "-f", "{{.Id}}", tag).stdout.strip() == \
            first["image_id"]
        # daemon in, archive out: the same config digest again
        doc = _build(pushed, f"oci-archive:{tmp_path}/d.tar", key)
        assert doc["image_id"] == first["image_id"]
        # a different date is a different image
        other = gsc("build", src, "-k", key, "--date", "2024-03-02", "--tls-verify=false",
                    "--output", f"oci:{tmp_path}/c", "--json", env=DEAD)
        assert other.code == 0 and other.json()["image_id"] != first["image_id"]
    finally:
        run("docker", "rmi", "-f", tag, pushed, check=False)


def test_provenance_subject_is_the_pushed_manifest(plain: reg.Registry, pushed: str,
                                                   key: Path, tmp_path: Path) -> None:
    dest = f"docker://{plain.host}/rel2/prov:1"
    prov = tmp_path / "prov.json"
    _build(f"docker://{pushed}", dest, key, "--tls-verify=false", "--provenance", str(prov),
           env=DEAD)
    doc = json.loads(prov.read_text())
    info = skopeo_inspect(dest, "--tls-verify=false")
    assert doc["subject"][0]["digest"]["sha256"] == str(info["Digest"]).split(":", 1)[1]
    assert doc["predicate"]["input"]["name"] == pushed


def _docker_config(d: Path, host: str, user: str, password: str) -> dict[str, str]:
    d.mkdir(parents=True, exist_ok=True)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    (d / "config.json").write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return {"DOCKER_CONFIG": str(d)}


def test_registry_tls_and_basic_auth(hello: str, pushed: str, key: Path,
                                     tmp_path: Path) -> None:
    r = reg.start(tls=True, user="rel2", password="pw-rel2-Zq8")
    try:
        assert r.ca is not None
        base = f"{r.host}/rel2/hello:1"
        run("skopeo", "copy", "-q", "--dest-tls-verify=false", "--dest-creds",
            "rel2:pw-rel2-Zq8", f"docker-daemon:{hello}", f"docker://{base}")
        good = _docker_config(tmp_path / "good", r.host, "rel2", "pw-rel2-Zq8")
        bad = _docker_config(tmp_path / "bad", r.host, "rel2", "wrong")
        none = {"DOCKER_CONFIG": str(tmp_path / "none")}
        src = f"docker://{base}"
        ca = ("--ca-file", str(r.ca))

        assert gsc("inspect", src, *ca, env={**good, **DEAD}).code == 0
        assert gsc("inspect", src, "--tls-verify=false", env={**good, **DEAD}).code == 0
        line = assert_one_line_error(gsc("inspect", src, env={**good, **DEAD}))
        assert "TLS" in line
        line = assert_one_line_error(gsc("inspect", src, *ca, env={**bad, **DEAD}))
        assert "authentication" in line
        line = assert_one_line_error(gsc("inspect", src, *ca, env={**none, **DEAD}))
        assert "authentication required" in line

        # A credential helper named in credHelpers (docker-credential-NAME on PATH).
        helper_dir = tmp_path / "bin"
        helper_dir.mkdir()
        helper = helper_dir / "docker-credential-gscrel2"
        helper.write_text("#!/bin/sh\nread server\n"
                          f'[ "$server" = "{r.host}" ] || exit 1\n'
                          'echo \'{"Username":"rel2","Secret":"pw-rel2-Zq8"}\'\n')
        helper.chmod(0o755)
        hcfg = tmp_path / "helper"
        hcfg.mkdir()
        (hcfg / "config.json").write_text(json.dumps({"credHelpers": {r.host: "gscrel2"}}))
        env = {"DOCKER_CONFIG": str(hcfg), "PATH": f"{helper_dir}:{os.environ['PATH']}", **DEAD}
        dest = f"docker://{r.host}/rel2/gsc-hello:1"
        doc = _build(src, dest, key, *ca, env=env)
        info = skopeo_inspect(dest, "--tls-verify=false", "--creds", "rel2:pw-rel2-Zq8")
        assert info["Digest"] == doc["manifest_digest"]

        # A push the registry refuses (no credentials) fails in one line, no tag left.
        never = f"docker://{r.host}/rel2/never:1"
        res = gsc("build", f"docker://{pushed}", "-q", "-k", key, "--date", DATE,
                  "--tls-verify=false", "--output", never, env={**none, **DEAD})
        line = assert_one_line_error(res)
        assert "authentication" in line
        gone = run("skopeo", "inspect", "--tls-verify=false", "--creds", "rel2:pw-rel2-Zq8",
                   never, check=False)
        assert gone.returncode != 0
    finally:
        r.stop()


def _layout(hello: str, where: Path) -> Path:
    run("skopeo", "copy", "-q", f"docker-daemon:{hello}", f"oci:{where}:1")
    return where


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def _manifest(layout: Path) -> tuple[dict[str, object], str]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    return json.loads(_blob(layout, digest).read_text()), digest


def test_bad_input(hello: str, key: Path, tmp_path: Path) -> None:
    line = assert_one_line_error(gsc("inspect", "ftp://example/x", env=DEAD))
    assert "unknown transport 'ftp'" in line
    line = assert_one_line_error(gsc("build", "tarball:/x.tar", env=DEAD))
    assert "unknown transport 'tarball'" in line
    line = assert_one_line_error(gsc("inspect", f"docker-archive:{tmp_path}/missing.tar",
                                     env=DEAD))
    assert "missing.tar" in line
    line = assert_one_line_error(gsc("build", "-q", f"docker-archive:{tmp_path}/missing.tar",
                                     "--output", f"oci:{tmp_path}/o", env=DEAD))
    assert not (tmp_path / "o").exists()

    # A corrupt layer blob (one byte changed): refused, nothing written at the destination.
    bad = _layout(hello, tmp_path / "corrupt")
    manifest, _ = _manifest(bad)
    layers = manifest["layers"]
    assert isinstance(layers, list)
    blob = _blob(bad, layers[-1]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.tar").write_bytes(b"previous contents")
    res = gsc("build", "-q", f"oci:{bad}:1", "-k", key, "--output",
              f"oci-archive:{out}/keep.tar", env=DEAD)
    line = assert_one_line_error(res)
    assert "corrupt blob" in line
    assert (out / "keep.tar").read_bytes() == b"previous contents"
    assert sorted(p.name for p in out.iterdir()) == ["keep.tar"]

    # A layer whose content is not what the config's rootfs.diff_ids says.
    lie = _layout(hello, tmp_path / "lie")
    manifest, old_digest = _manifest(lie)
    cfg_desc = manifest["config"]
    assert isinstance(cfg_desc, dict)
    config = json.loads(_blob(lie, cfg_desc["digest"]).read_text())
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "ab" * 32
    cfg_bytes = json.dumps(config).encode()
    cfg_digest = "sha256:" + hashlib.sha256(cfg_bytes).hexdigest()
    _blob(lie, cfg_digest).write_bytes(cfg_bytes)
    manifest["config"] = {**cfg_desc, "digest": cfg_digest, "size": len(cfg_bytes)}
    man_bytes = json.dumps(manifest).encode()
    man_digest = "sha256:" + hashlib.sha256(man_bytes).hexdigest()
    _blob(lie, man_digest).write_bytes(man_bytes)
    index = json.loads((lie / "index.json").read_text())
    index["manifests"][0].update(digest=man_digest, size=len(man_bytes))
    (lie / "index.json").write_text(json.dumps(index))
    assert old_digest != man_digest
    line = assert_one_line_error(gsc("inspect", f"oci:{lie}:1", env=DEAD))
    assert "diff_id" in line

    # The same image from `docker save` and from the daemon: the same image ID.
    run("docker", "save", "-o", str(tmp_path / "saved.tar"), hello)
    a = _build(f"docker-archive:{tmp_path}/saved.tar", f"oci:{tmp_path}/from-archive", key,
               "-t", "gsc-rel2-test/x:1", env=DEAD)
    b = _build(hello, f"oci:{tmp_path}/from-daemon", key, "-t", "gsc-rel2-test/x:1")
    assert a["mrenclave"] == b["mrenclave"] and a["image_id"] == b["image_id"]


def test_sign_image_daemonless(pushed: str, key: Path, tmp_path: Path) -> None:
    res = gsc("build", "-q", f"docker://{pushed}", "--tls-verify=false", "--date", DATE,
              "--output", f"oci:{tmp_path}/unsigned:u", env=DEAD)
    assert res.code == 0, res.err
    out = f"docker-archive:{tmp_path}/signed.tar"
    res = gsc("sign-image", f"oci:{tmp_path}/unsigned:u", key, "--date", DATE, "-t",
              "gsc-rel2-test/signed:1", "--output", out, "--json", env=DEAD)
    assert res.code == 0, res.err
    doc = res.json()
    check = gsc("verify-image", out, "--mrenclave", str(doc["mrenclave"]), "--mrsigner",
                str(doc["mrsigner"]), env=DEAD)
    assert check.code == 0, check.out + check.err
    run("docker", "load", "-i", f"{tmp_path}/signed.tar")
    try:
        assert run("docker", "image", "inspect", "-f", "{{.Id}}",
                   "gsc-rel2-test/signed:1").stdout.strip() == doc["image_id"]
        assert "rel2-hello" in run("docker", "run", "--rm", "gsc-rel2-test/signed:1").stdout
    finally:
        run("docker", "rmi", "-f", "gsc-rel2-test/signed:1", check=False)
