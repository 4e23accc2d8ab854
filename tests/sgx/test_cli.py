"""The SGX commands through the real CLI: vectors, two-step signing with openssl as the
external signer, and the bad-input matrix (exit 1/2, one stderr line, no traceback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from capabilities import reason

from .conftest import assert_one_line_error, load_vectors, run_gsc
from .elfgen import Seg, make_elf

V = load_vectors()
S01 = V["sign"][0] if V["sign"] else {}
DEV_KEY = Path("keys") / "key_dev.pem"  # in the vectors directory


def _inputs(sgx_dir: Path, case: dict[str, Any],
            manifest: str = "manifest_sgx") -> list[str | Path]:
    """--manifest and --pal of a vector case (its `manifest` key names the manifest)."""
    return ["--manifest", sgx_dir / case[manifest], "--pal", sgx_dir / case["pal"]]


def _sign_case(sgx_dir: Path, case: dict[str, Any], out: Path) -> list[str | Path]:
    """sgx-sign of a signing vector case (its key and date) to out."""
    return ["sgx-sign", *_inputs(sgx_dir, case), "--key", sgx_dir / case["key"],
            "--date", case["date"], "--output", out]


@pytest.mark.parametrize("case", V["measure"], ids=lambda c: c["name"])
def test_cli_measure(sgx_dir: Path, case: dict[str, Any]) -> None:
    res = run_gsc("sgx-measure", *_inputs(sgx_dir, case, "manifest"))
    assert res.code == 0, res.err
    assert res.out.strip() == case["mrenclave"]


def test_cli_measure_json(sgx_dir: Path) -> None:
    case = V["measure"][0]
    res = run_gsc("sgx-measure", *_inputs(sgx_dir, case, "manifest"), "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["mrenclave"] == case["mrenclave"]


@pytest.mark.parametrize("case", V["sign"], ids=lambda c: c["name"])
def test_cli_sign_vectors(sgx_dir: Path, case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out.sig"
    args = [*_sign_case(sgx_dir, case, out), "--json"]
    env: dict[str, str] = {}
    if case["passphrase"]:
        pf = tmp_path / "pass"
        pf.write_text(case["passphrase"] + "\n")
        args += ["--passphrase-file", pf]
    res = run_gsc(*args, env=env)
    assert res.code == 0, res.err
    assert out.read_bytes() == (sgx_dir / case["sig"]).read_bytes()
    info = json.loads(res.out)
    assert info["mrenclave"] == case["mrenclave"] and info["mrsigner"] == case["mrsigner"]
    view = run_gsc("sigstruct-view", out, "--json")
    assert view.code == 0, view.err
    j = json.loads(view.out)
    assert list(j) == [
        "mrenclave",
        "mrsigner",
        "isv_prod_id",
        "isv_svn",
        "debug",
        "date",
        "misc_select",
        "attributes_flags",
        "attributes_xfrm",
        "attribute_mask_xfrm",
    ]
    assert j["date"] == case["date"]
    assert j["debug"] == case["sigstruct_view"]["debug_enclave"]
    assert j["isv_svn"] == case["fields"]["isv_svn"]


def test_cli_passphrase_from_env(sgx_dir: Path, tmp_path: Path) -> None:
    case = V["sign"][2]
    out = tmp_path / "o.sig"
    res = run_gsc(*_sign_case(sgx_dir, case, out), env={"GSC_KEY_PASSPHRASE": case["passphrase"]})
    assert res.code == 0, res.err
    assert out.read_bytes() == (sgx_dir / case["sig"]).read_bytes()
    assert case["passphrase"] not in res.err + res.out


@pytest.mark.parametrize("case", V["bad_keys"], ids=lambda c: Path(c["key"]).name)
def test_cli_bad_keys(sgx_dir: Path, case: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "o.sig"
    res = run_gsc("sgx-sign", *_inputs(sgx_dir, S01), "--key", sgx_dir / case["key"],
                  "--output", out)
    line = assert_one_line_error(res, (2,))
    assert "3072" in line or "exponent" in line
    assert not out.exists()


@pytest.mark.parametrize("case", V["errors"], ids=lambda c: c["name"])
def test_cli_error_vectors(sgx_dir: Path, case: dict[str, Any], tmp_path: Path) -> None:
    res = run_gsc("sgx-measure", *_inputs(sgx_dir, case, "manifest"))
    assert "enclave size is not large enough" in assert_one_line_error(res, (2,))
    res = run_gsc("sgx-sign", *_inputs(sgx_dir, case, "manifest"), "--key",
                  sgx_dir / DEV_KEY, "--output", tmp_path / "o.sig")
    assert "enclave size is not large enough" in assert_one_line_error(res, (2,))
    assert not (tmp_path / "o.sig").exists()


# ------------------------------------------------------------------ two-step signing


@pytest.mark.skipif(shutil.which("openssl") is None, reason=reason("openssl", "no openssl CLI"))
@pytest.mark.parametrize("how", ["dgst", "pkeyutl"])
def test_two_step_with_openssl_equals_one_step(sgx_dir: Path, tmp_path: Path, how: str) -> None:
    case = S01
    common: list[str | Path] = [*_inputs(sgx_dir, case), "--date", case["date"]]
    key = sgx_dir / case["key"]
    data = tmp_path / "signing_data.bin"
    res = run_gsc("sgx-sign", *common, "--export-signing-data", data)
    assert res.code == 0, res.err
    assert data.stat().st_size == 256
    sig = tmp_path / "sig.bin"
    if how == "dgst":
        subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", sig, data], check=True)
    else:
        digest = tmp_path / "digest"
        subprocess.run(["openssl", "dgst", "-sha256", "-binary", "-out", digest, data], check=True)
        subprocess.run(
            [
                "openssl",
                "pkeyutl",
                "-sign",
                "-inkey",
                key,
                "-in",
                digest,
                "-out",
                sig,
                "-pkeyopt",
                "digest:sha256",
            ],
            check=True,
        )
    pub = tmp_path / "pub.pem"
    subprocess.run(
        ["openssl", "rsa", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True
    )
    two = tmp_path / "two.sig"
    res = run_gsc("sgx-sign", *common, "--public-key", pub, "--signature", sig, "--output", two)
    assert res.code == 0, res.err
    one = tmp_path / "one.sig"
    res = run_gsc("sgx-sign", *common, "--key", key, "--output", one)
    assert res.code == 0, res.err
    assert two.read_bytes() == one.read_bytes() == (sgx_dir / case["sig"]).read_bytes()

    # A signature over other data (different date) is refused and nothing is written.
    bad = tmp_path / "bad.sig"
    res = run_gsc(
        "sgx-sign",
        *_inputs(sgx_dir, case),
        "--date",
        "1999-12-31",
        "--public-key",
        pub,
        "--signature",
        sig,
        "--output",
        bad,
    )
    assert "does not verify" in assert_one_line_error(res, (1,))
    assert not bad.exists()


# ------------------------------------------------------------------ bad input matrix


def _pals(tmp: Path) -> dict[str, Path]:
    files: dict[str, bytes | Path]
    good = make_elf([Seg(vaddr=0, memsz=0x1000, filesz=0x100, flags=5)])
    files = {
        "missing": tmp / "does-not-exist.elf",
        "truncated": good[:90],
        "non_elf": b"#!/bin/sh\nexit 0\n" + bytes(200),
        "elf32": make_elf([Seg(vaddr=0, memsz=0x1000, filesz=0x10)], elf_class=1),
        "non_pie": make_elf([Seg(vaddr=0x400000, memsz=0x1000, filesz=0x10)], e_type=2),
        "directory": tmp,
    }
    out: dict[str, Path] = {}
    for name, content in files.items():
        if isinstance(content, Path):
            out[name] = content
        else:
            p = tmp / f"{name}.elf"
            p.write_bytes(content)
            out[name] = p
    return out


@pytest.mark.parametrize(
    "kind", ["missing", "truncated", "non_elf", "elf32", "non_pie", "directory"]
)
@pytest.mark.parametrize("command", ["sgx-measure", "sgx-sign"])
def test_bad_pal(sgx_dir: Path, tmp_path: Path, kind: str, command: str) -> None:
    pal = _pals(tmp_path)[kind]
    args: list[str | Path] = [command, "--manifest", sgx_dir / S01["manifest_sgx"], "--pal", pal]
    if command == "sgx-sign":
        args += ["--key", sgx_dir / DEV_KEY, "--output", tmp_path / "o.sig"]
    assert_one_line_error(run_gsc(*args), (2,))
    assert not (tmp_path / "o.sig").exists()


BAD_MANIFESTS = {
    "not_utf8": b'[sgx]\nenclave_size = "\xff"\n',
    "not_toml": b"[sgx\n",
    "size_unparsable": b'[sgx]\nenclave_size = "lots"\n',
    "size_zero": b'[sgx]\nenclave_size = "0"\n',
    "size_not_pow2": b'[sgx]\nenclave_size = "96M"\n',
    "threads_zero": b"[sgx]\nmax_threads = 0\n",
    "threads_too_many": b"[sgx]\nmax_threads = 4097\n",
    "too_small": b'[sgx]\nenclave_size = "1M"\nmax_threads = 8\n',
}


@pytest.mark.parametrize("name", sorted(BAD_MANIFESTS))
@pytest.mark.parametrize("command", ["sgx-measure", "sgx-sign"])
def test_bad_manifest(sgx_dir: Path, tmp_path: Path, name: str, command: str) -> None:
    m = tmp_path / "m.manifest.sgx"
    m.write_bytes(BAD_MANIFESTS[name])
    args: list[str | Path] = [command, "--manifest", m, "--pal", sgx_dir / "pal" / "two_seg.elf"]
    if command == "sgx-sign":
        args += ["--key", sgx_dir / DEV_KEY, "--output", tmp_path / "o.sig"]
    line = assert_one_line_error(run_gsc(*args), (2,))
    if name.startswith("size"):
        assert "enclave_size" in line
    if name.startswith("threads"):
        assert "max_threads" in line
    if name == "too_small":
        assert "enclave size is not large enough" in line


def test_bad_passphrases(sgx_dir: Path, tmp_path: Path) -> None:
    base: list[str | Path] = [
        "sgx-sign",
        *_inputs(sgx_dir, S01),
        "--key",
        sgx_dir / "keys" / "key_dev_pass.pem",
        "--output",
        tmp_path / "o.sig",
    ]
    line = assert_one_line_error(run_gsc(*base), (2,))
    assert "passphrase" in line
    wrong = tmp_path / "wrong"
    wrong.write_text("incorrect staple\n")
    line = assert_one_line_error(run_gsc(*base, "--passphrase-file", wrong), (2,))
    assert "wrong passphrase" in line and "incorrect staple" not in line
    line = assert_one_line_error(run_gsc(*base, env={"GSC_KEY_PASSPHRASE": "nope"}), (2,))
    assert "wrong passphrase" in line
    assert not (tmp_path / "o.sig").exists()


def test_bad_sig_files(sgx_dir: Path, tmp_path: Path) -> None:
    raw = (sgx_dir / S01["sig"]).read_bytes()
    cases = {
        "short": (raw[:-1], 2, "length"),
        "long": (raw + b"\0", 2, "length"),
        "header": (b"\x07" + raw[1:], 2, "header"),
        "signature": (raw[:600] + bytes([raw[600] ^ 1]) + raw[601:], 1, "verify"),
    }
    for name, (content, code, word) in cases.items():
        p = tmp_path / f"{name}.sig"
        p.write_bytes(content)
        line = assert_one_line_error(run_gsc("sigstruct-view", p), (code,))
        assert word in line, (name, line)
    assert_one_line_error(run_gsc("sigstruct-view", tmp_path / "missing.sig"), (2,))


def test_sign_mode_conflicts(sgx_dir: Path, tmp_path: Path) -> None:
    common: list[str | Path] = ["sgx-sign", *_inputs(sgx_dir, S01)]
    key = sgx_dir / DEV_KEY
    extras: list[list[str | Path]] = [
        [],
        ["--key", key],
        ["--key", key, "--public-key", key, "--signature", key, "--output", tmp_path / "x"],
        ["--export-signing-data", tmp_path / "d", "--key", key],
        ["--public-key", key, "--output", tmp_path / "x"],
        ["--key", key, "--output", tmp_path / "x", "--date", "2024-13-01"],
    ]
    for extra in extras:
        assert_one_line_error(run_gsc(*common, *extra), (2,))


def test_gen_key_cli(sgx_dir: Path, tmp_path: Path) -> None:
    pf = tmp_path / "pass"
    pf.write_text("s3cret passphrase\n")
    res = run_gsc("gen-key", "--passphrase-file", pf, "--json", cwd=tmp_path)
    assert res.code == 0, res.err
    key = tmp_path / "enclave-key.pem"
    assert (os.stat(key).st_mode & 0o777) == 0o600
    assert b"ENCRYPTED" in key.read_bytes()
    assert "s3cret" not in res.out + res.err
    mrsigner = json.loads(res.out)["mrsigner"]
    again = run_gsc("gen-key", "--passphrase-file", pf, cwd=tmp_path)
    assert "already exists" in assert_one_line_error(again, (2,))
    # The new key signs; MRSIGNER matches what gen-key reported.
    case = S01
    out = tmp_path / "o.sig"
    res = run_gsc(
        "sgx-sign",
        *_inputs(sgx_dir, case),
        "--key",
        key,
        "--passphrase-file",
        pf,
        "--output",
        out,
        "--json",
    )
    assert res.code == 0, res.err
    assert json.loads(res.out)["mrsigner"] == mrsigner
    plain = run_gsc("gen-key", tmp_path / "plain.pem", cwd=tmp_path)
    assert plain.code == 0, plain.err
    assert b"ENCRYPTED" not in (tmp_path / "plain.pem").read_bytes()
