"""Measured launch: the runtime refuses (126, one `launch refused` line) when its own
bytes, the manifest or the signature were changed, or when the operator's pins disagree."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from elftools.elf.elffile import ELFFile
from rt_bundle import DATE, MakeBundle

from gsc.sgx.measure import mrenclave
from gsc.sgx.params import SgxParams
from gsc.sgx.sigstruct import assemble, build_unsigned, sign_enclave


def assert_refused(res, reason: str = "") -> None:  # type: ignore[no-untyped-def]
    assert res.returncode == 126, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("gsc-runtime: launch refused:"), res.stderr
    assert reason in lines[0], lines[0]
    assert res.stdout == ""


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def mrsigner_hex(key: rsa.RSAPrivateKey) -> str:
    n = key.public_key().public_numbers().n
    return hashlib.sha256(n.to_bytes(384, "little")).hexdigest()


def test_untampered_bundle_runs(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    res = b.run()
    assert (res.returncode, res.stdout, res.stderr) == (0, "ok\n", "")


def test_manifest_byte_changed(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    man = b.gsc / "entrypoint.manifest.sgx"
    data = man.read_bytes()
    # Change one byte of a value (keeps the canonical form parseable).
    i = data.index(b"echo ok")
    man.write_bytes(data[:i] + b"echo OK" + data[i + 7:])
    assert_refused(b.run(), "MRENCLAVE mismatch")


def test_manifest_made_unparseable(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    man = b.gsc / "entrypoint.manifest.sgx"
    man.write_bytes(man.read_bytes() + b"\n[extra]\n")
    assert_refused(b.run())


def test_signature_byte_changed(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    flip(b.gsc / "entrypoint.sig", 600)  # inside the RSA signature
    assert_refused(b.run(), "bad signature")


def test_signed_enclavehash_changed(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    flip(b.gsc / "entrypoint.sig", 960)  # enclavehash: breaks the signature too
    assert_refused(b.run())


def test_runtime_binary_byte_changed(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    # A byte inside a loaded (measured) segment that is never executed: .eh_frame.
    with open(b.exe, "rb") as f:
        elf = ELFFile(f)
        sec = elf.get_section_by_name(".eh_frame")
        assert sec is not None
        off = sec["sh_offset"] + sec["sh_size"] // 2
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        assert any(s["p_offset"] <= off < s["p_offset"] + s["p_filesz"] for s in loads)
    flip(b.exe, off)
    assert_refused(b.run(), "MRENCLAVE mismatch")


def test_missing_signature(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    (b.gsc / "entrypoint.sig").unlink()
    assert_refused(b.run(), "entrypoint.sig")


def test_resigned_with_other_key_and_mrsigner_pin(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    first = mrsigner_hex(b.key)
    other = rsa.generate_private_key(public_exponent=3, key_size=3072)
    data = (b.gsc / "entrypoint.manifest.sgx").read_bytes()
    (b.gsc / "entrypoint.sig").write_bytes(sign_enclave(data, b.exe.read_bytes(), other, DATE))
    # Validly signed by someone else: runs without a pin ...
    assert b.run().returncode == 0
    # ... but not when the operator pins the first signer.
    assert_refused(b.run(env={"GSC_EXPECT_MRSIGNER": first}), "GSC_EXPECT_MRSIGNER")
    assert b.run(env={"GSC_EXPECT_MRSIGNER": mrsigner_hex(other).upper()}).returncode == 0


def test_mrenclave_pin(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    from gsc.sgx.sigstruct import verify_signature

    mre = verify_signature((b.gsc / "entrypoint.sig").read_bytes())
    good = mre.mrenclave.hex() if isinstance(mre.mrenclave, bytes) else str(mre.mrenclave)
    assert b.run(env={"GSC_EXPECT_MRENCLAVE": good}).returncode == 0
    assert_refused(b.run(env={"GSC_EXPECT_MRENCLAVE": "00" * 32}), "GSC_EXPECT_MRENCLAVE")
    assert_refused(b.run(env={"GSC_EXPECT_MRENCLAVE": "xyz"}), "GSC_EXPECT_MRENCLAVE")


def test_debug_attribute_must_agree(make_bundle: MakeBundle) -> None:
    """A SIGSTRUCT whose debug attribute disagrees with sgx.debug (signed by a signer
    that is not gsc) is refused even though MRENCLAVE matches."""
    b = make_bundle("echo ok")
    data = (b.gsc / "entrypoint.manifest.sgx").read_bytes()
    params = SgxParams.from_manifest_bytes(data)
    assert params.debug is False
    mre = mrenclave(data, b.exe.read_bytes(), params)
    unsigned = build_unsigned(mre, replace(params, debug=True), DATE)
    sig = b.key.sign(unsigned.signing_data(), padding.PKCS1v15(), hashes.SHA256())
    (b.gsc / "entrypoint.sig").write_bytes(assemble(unsigned, b.key.public_key(), sig))
    assert_refused(b.run(), "debug")


def test_paths_not_overridable(make_bundle: MakeBundle, tmp_path: Path) -> None:
    b = make_bundle("echo ok")
    # A copy of the runtime elsewhere finds no manifest beside it, whatever env says.
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "gsc-runtime").write_bytes(b.exe.read_bytes())
    (other / "gsc-runtime").chmod(0o755)
    import subprocess

    res = subprocess.run([str(other / "gsc-runtime")], capture_output=True, text=True,
                         env={"GSC_MANIFEST": str(b.gsc / "entrypoint.manifest.sgx")},
                         check=False)
    assert_refused(res, "entrypoint")


def test_key_file_not_in_bundle(make_bundle: MakeBundle) -> None:
    b = make_bundle("echo ok")
    pem = b.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    for f in b.gsc.iterdir():
        assert pem not in f.read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a directory another "
                    "user cannot search")
def test_unsearchable_trusted_directory_is_skipped(make_bundle: MakeBundle,
                                                   tmp_path: Path) -> None:
    """A trusted directory the runtime's user cannot search (e.g. /root for a non-root
    image) is skipped with everything below it: the app, with the same credentials, cannot
    reach it either. Its trusted files are missing for the app (no refusal at launch) and
    its pinned symlinks are not required."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x").write_text("x")
    os.symlink("x", locked / "l")
    b = make_bundle("cat locked/x || echo unreachable", trusted=[str(locked / "x")])
    assert any(s["path"] == str(locked / "l") for s in b.manifest["gsc"]["symlinks"])
    locked.chmod(0o700)
    tmp_path.chmod(0o755)
    tmp_path.parent.chmod(0o755)  # trusted directories must be listable by the runtime
    try:
        res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              str(b.exe)], capture_output=True, text=True, env={}, cwd="/",
                             check=False, timeout=30)
    finally:
        tmp_path.parent.chmod(0o700)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "unreachable", (res.stdout, res.stderr)
