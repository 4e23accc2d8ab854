"""--provenance: an in-toto Statement v1 whose values equal what the output image holds."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gsc.errors import InputError
from gsc.provenance import statement

from . import intoto
from .conftest import SoftHsm, assert_one_line_error, gsc

DATE = "2025-06-07"
TAG = "gsc-release-test/hello"
BASE = "gsc-local/debian:bookworm"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PLAIN = dict(
    image_name="registry.example/app:1", image_digest="sha256:" + "ab" * 32,
    input_ref="app:1", input_digest="sha256:" + "cd" * 32, mrenclave="01" * 32,
    mrsigner="02" * 32, isv_prod_id=5, isv_svn=9, debug=False, runtime_sha256="03" * 32,
    manifest_sha256="04" * 32, trusted_files=12, gsc_version="9.9", date="2025-01-02",
)


def _all_problems(doc: dict[str, Any]) -> list[str]:
    pred = doc.get("predicate", {})
    return (intoto.problems(doc) + intoto.field_name_problems(pred)
            + [p for k in ("input", "runtime", "manifest")
               for p in intoto.resource_descriptor_problems(pred.get(k), k)])


def test_statement_follows_the_intoto_v1_rules() -> None:
    doc = statement(**PLAIN)  # type: ignore[arg-type]
    assert _all_problems(doc) == []
    assert doc["subject"] == [{"name": "registry.example/app:1", "digest": {"sha256": "ab" * 32}}]
    pred = doc["predicate"]
    assert pred["enclave"] == {"mrenclave": "01" * 32, "mrsigner": "02" * 32, "isvProdId": 5,
                               "isvSvn": 9, "debug": False}
    assert pred["input"] == {"name": "app:1", "digest": {"sha256": "cd" * 32}}
    assert (pred["trustedFiles"], pred["gscVersion"], pred["date"]) == (12, "9.9", "2025-01-02")
    # The checker itself catches what it is meant to catch.
    broken = json.loads(json.dumps(doc))
    broken["_type"] = "https://in-toto.io/Statement/v0.1"
    broken["subject"][0]["digest"]["sha256"] = "AB" * 32
    broken["predicate"]["trusted_files"] = 1
    assert len(_all_problems(broken)) == 3


@pytest.mark.parametrize(("field", "value"), [
    ("image_digest", "sha512:" + "00" * 64), ("image_digest", "sha256:xyz"),
    ("mrenclave", "00" * 31), ("mrsigner", "zz" * 32), ("isv_svn", 70000),
    ("isv_prod_id", -1), ("date", "2025/01/02"), ("image_name", ""),
])
def test_statement_refuses_malformed_values(field: str, value: object) -> None:
    with pytest.raises(InputError):
        statement(**{**PLAIN, field: value})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real images


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def hello_src() -> str:
    if _docker("info", check=False).returncode != 0:
        pytest.fail("Docker Engine is not running (scripts/setup starts it)")
    src = "gsc-example/hello:latest"
    if _docker("image", "inspect", src, check=False).returncode != 0:
        _docker("build", "-q", "--build-arg", f"BASE={BASE}", "-t", src, str(EXAMPLES / "hello"))
    return src


@pytest.fixture
def images() -> Iterator[list[str]]:
    refs: list[str] = []
    yield refs
    for r in refs:
        _docker("rmi", "-f", r, check=False)


def _gsc_files(image: str) -> dict[str, bytes]:
    cid = _docker("create", image).stdout.strip()
    try:
        data = subprocess.run(["docker", "cp", f"{cid}:/gsc", "-"], capture_output=True,
                              check=True).stdout
    finally:
        _docker("rm", "-f", cid)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar if m.isreg()}


def _check_against_image(doc: dict[str, Any], tag: str) -> None:
    assert _all_problems(doc) == []
    info = gsc("info-image", tag, "--json")
    assert info.code == 0, info.err
    i = info.json()
    image_id = _docker("image", "inspect", "-f", "{{.Id}}", tag).stdout.strip()
    assert doc["subject"] == [{"name": tag, "digest": {"sha256": image_id.split(":", 1)[1]}}]
    assert i["image"]["id"] == image_id
    pred = doc["predicate"]
    assert pred["input"] == {"name": i["base"]["name"],
                             "digest": {"sha256": i["base"]["digest"].split(":", 1)[1]}}
    assert pred["enclave"] == {"mrenclave": i["mrenclave"], "mrsigner": i["mrsigner"],
                               "isvProdId": i["isv_prod_id"], "isvSvn": i["isv_svn"],
                               "debug": i["debug"]}
    assert (pred["trustedFiles"], pred["gscVersion"], pred["date"]) == (
        i["trusted_files"], i["gsc_version"], i["date"])
    files = _gsc_files(tag)
    assert pred["runtime"]["digest"]["sha256"] == hashlib.sha256(files["gsc-runtime"]).hexdigest()
    assert pred["manifest"]["digest"]["sha256"] == hashlib.sha256(
        files["entrypoint.manifest.sgx"]).hexdigest()


@pytest.mark.docker
def test_build_provenance_matches_the_output_image(
    hello_src: str, tmp_path: Path, images: list[str]
) -> None:
    key = tmp_path / "k.pem"
    assert gsc("gen-key", key).code == 0
    tag = f"{TAG}:prov"
    images.append(tag)
    prov = tmp_path / "statement.json"
    r = gsc("build", hello_src, "-k", key, "-t", tag, "--date", DATE, "--provenance", prov,
            "-q", "--json")
    assert r.code == 0, r.err
    assert oct(prov.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".statement")]
    doc = json.loads(prov.read_text())
    _check_against_image(doc, tag)
    assert doc["predicate"]["enclave"]["mrenclave"] == r.json()["mrenclave"]
    assert doc["predicate"]["date"] == DATE


@pytest.mark.docker
def test_bad_provenance_destination_fails_before_building(
    hello_src: str, tmp_path: Path, images: list[str]
) -> None:
    tag = f"{TAG}:never"
    images.append(tag)
    r = gsc("build", hello_src, "-t", tag, "-q", "--provenance", tmp_path / "no" / "s.json")
    assert "does not exist" in assert_one_line_error(r)
    assert _docker("image", "inspect", tag, check=False).returncode != 0


@pytest.mark.docker
def test_token_key_build_and_sign_image_with_provenance(
    hello_src: str, softhsm: SoftHsm, tmp_path: Path, images: list[str]
) -> None:
    from .conftest import USER_PIN

    made = gsc("gen-key", softhsm.uri("ci-key"), "--json", env=softhsm.env)
    assert made.code == 0, made.err
    uri, mrsigner = str(made.json()["key"]), str(made.json()["mrsigner"])

    # gsc build -k pkcs11:... signs inside the token.
    tag = f"{TAG}:token"
    images.append(tag)
    r = gsc("build", hello_src, "-k", uri, "-t", tag, "--date", DATE, "-q", "--json",
            env=softhsm.env)
    assert r.code == 0, r.err
    assert r.json()["mrsigner"] == mrsigner
    v = gsc("verify-image", tag, "--mrenclave", str(r.json()["mrenclave"]), "--mrsigner",
            mrsigner)
    assert v.code == 0, v.err
    # The PIN reached neither the image nor the output.
    saved = subprocess.run(["docker", "save", tag], capture_output=True, check=True).stdout
    assert USER_PIN.encode() not in saved and USER_PIN not in r.out + r.err
    assert USER_PIN not in _docker("image", "inspect", tag).stdout

    # Unsigned build, then sign-image with the token key and a provenance statement.
    unsigned = f"{TAG}:token-unsigned"
    signed = f"{TAG}:token-signed"
    images += [unsigned, signed]
    u = gsc("build", hello_src, "-t", unsigned, "-q")
    assert u.code == 0, u.err
    prov = tmp_path / "signed.intoto.json"
    s = gsc("sign-image", unsigned, uri, "-t", signed, "--date", DATE, "--provenance", prov,
            "--json", env=softhsm.env)
    assert s.code == 0, s.err
    assert s.json()["mrsigner"] == mrsigner
    doc = json.loads(prov.read_text())
    _check_against_image(doc, signed)
    assert doc["subject"][0]["digest"]["sha256"] == str(s.json()["image_id"]).split(":", 1)[1]
    assert doc["predicate"]["enclave"]["mrsigner"] == mrsigner
    # Same key, same date, same manifest: the token signs identically for both paths.
    assert _gsc_files(tag)["entrypoint.sig"] == _gsc_files(signed)["entrypoint.sig"]

    # A wrong PIN fails sign-image with one line and writes nothing.
    bad_prov = tmp_path / "bad.json"
    bad = gsc("sign-image", unsigned, uri.split("?")[0], "-t", f"{TAG}:never2",
              "--provenance", bad_prov, env={**softhsm.env, "GSC_PKCS11_PIN": "nope-0000"})
    assert "wrong PIN" in assert_one_line_error(bad)
    assert not bad_prov.exists()
