"""SIGSTRUCT: the sign vectors byte for byte, parsing, verification, tampering, keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gsc.errors import InputError, VerificationError
from gsc.sgx import keys, sigstruct
from gsc.sgx.sigstruct import Sigstruct

from .conftest import load_vectors

V = load_vectors()


def _load_key(sgx_dir: Path, case: dict[str, Any], tmp_path: Path) -> rsa.RSAPrivateKey:
    pf = None
    if case.get("passphrase"):
        pf = tmp_path / "pass.txt"
        pf.write_text(case["passphrase"] + "\n")
    return keys.load_private_key(sgx_dir / case["key"], pf)


@pytest.mark.parametrize("case", V["sign"], ids=lambda c: c["name"])
def test_sign_vectors_identical(sgx_dir: Path, case: dict[str, Any], tmp_path: Path) -> None:
    manifest = (sgx_dir / case["manifest_sgx"]).read_bytes()
    pal = (sgx_dir / case["pal"]).read_bytes()
    key = _load_key(sgx_dir, case, tmp_path)
    out = sigstruct.sign_enclave(manifest, pal, key, dt.date.fromisoformat(case["date"]))
    want = (sgx_dir / case["sig"]).read_bytes()
    assert hashlib.sha256(want).hexdigest() == case["sig_sha256"]
    assert out == want
    assert sigstruct.mrsigner_of(key.public_key()).hex() == case["mrsigner"]


@pytest.mark.parametrize("case", V["sign"], ids=lambda c: c["name"])
def test_parse_and_verify_vectors(sgx_dir: Path, case: dict[str, Any]) -> None:
    raw = (sgx_dir / case["sig"]).read_bytes()
    manifest = (sgx_dir / case["manifest_sgx"]).read_bytes()
    pal = (sgx_dir / case["pal"]).read_bytes()
    s = sigstruct.verify(raw, manifest, pal)
    assert s.to_bytes() == raw
    fields = case["fields"]
    j = s.to_json()
    assert list(j) == list(sigstruct.JSON_KEYS)
    assert j["mrenclave"] == case["mrenclave"]
    assert j["mrsigner"] == case["mrsigner"]
    assert j["date"] == fields["date"]
    assert j["debug"] == case["sigstruct_view"]["debug_enclave"]
    for key in (
        "isv_prod_id",
        "isv_svn",
        "misc_select",
        "attributes_flags",
        "attributes_xfrm",
        "attribute_mask_xfrm",
    ):
        assert j[key] == fields[key], key
    assert s.misc_mask == fields["misc_mask"]
    assert s.attribute_mask_flags == fields["attribute_mask_flags"]
    assert s.to_bytes()[20:24].hex() == fields["date_bcd_hex"]
    assert len(s.signing_data()) == 256


@pytest.mark.parametrize("case", V["bad_keys"], ids=lambda c: Path(c["key"]).name)
def test_bad_keys_refused(sgx_dir: Path, case: dict[str, Any]) -> None:
    with pytest.raises(InputError) as info:
        keys.load_private_key(sgx_dir / case["key"])
    msg = str(info.value)
    assert "\n" not in msg
    assert ("3072" in msg) or ("exponent" in msg)


def test_passphrase_errors(sgx_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GSC_KEY_PASSPHRASE", raising=False)
    path = sgx_dir / "keys" / "key_dev_pass.pem"
    with pytest.raises(InputError, match="encrypted"):
        keys.load_private_key(path)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    with pytest.raises(InputError, match="wrong passphrase"):
        keys.load_private_key(path, wrong)
    with pytest.raises(InputError, match="passphrase file"):
        keys.load_private_key(path, tmp_path / "missing")
    monkeypatch.setenv("GSC_KEY_PASSPHRASE", "correct horse")
    assert keys.load_private_key(path).key_size == 3072


def test_from_bytes_rejects_bad_length_and_header(sgx_dir: Path) -> None:
    raw = (sgx_dir / V["sign"][0]["sig"]).read_bytes()
    for bad in (raw[:-1], raw + b"\0", b""):
        with pytest.raises(InputError, match="length"):
            Sigstruct.from_bytes(bad)
        with pytest.raises(InputError, match="length"):
            sigstruct.verify_signature(bad)
    for off in (0, 5, 24, 39):
        b = bytearray(raw)
        b[off] ^= 1
        with pytest.raises(InputError, match="header"):
            Sigstruct.from_bytes(bytes(b))


def test_date_bcd() -> None:
    assert sigstruct.date_to_bcd(dt.date(2024, 1, 2)).to_bytes(4, "little").hex() == "02012420"
    assert sigstruct.bcd_to_date(0x20251231) == dt.date(2025, 12, 31)
    with pytest.raises(InputError):
        sigstruct.bcd_to_date(0x202513AA)
    for bad in ("2024-1-2", "2024/01/02", "yesterday", "2024-02-30", ""):
        with pytest.raises(InputError, match="--date"):
            sigstruct.parse_date(bad)


# ------------------------------------------------------------------ properties


@pytest.fixture(scope="module")
def dev_key(sgx_dir: Path) -> rsa.RSAPrivateKey:
    return keys.load_private_key(sgx_dir / "keys" / "key_dev.pem")


@pytest.fixture(scope="module")
def signed(sgx_dir: Path, dev_key: rsa.RSAPrivateKey) -> tuple[bytes, bytes, bytes]:
    case = V["sign"][0]
    manifest = (sgx_dir / case["manifest_sgx"]).read_bytes()
    pal = (sgx_dir / case["pal"]).read_bytes()
    return manifest, pal, sigstruct.sign_enclave(manifest, pal, dev_key, dt.date(2024, 5, 6))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    threads=st.integers(1, 4),
    debug=st.booleans(),
    exinfo=st.booleans(),
    prodid=st.integers(0, 0xFFFF),
    svn=st.integers(0, 0xFFFF),
    avx512=st.sampled_from(["required", "disabled", "unspecified"]),
    pkru=st.sampled_from(["required", "disabled"]),
    comment=st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_characters="\x7f"),
        max_size=200,
    ),
    date=st.dates(dt.date(2000, 1, 1), dt.date(2999, 12, 31)),
)
def test_sign_then_verify_round_trips(
    sgx_dir: Path,
    dev_key: rsa.RSAPrivateKey,
    threads: int,
    debug: bool,
    exinfo: bool,
    prodid: int,
    svn: int,
    avx512: str,
    pkru: str,
    comment: str,
    date: dt.date,
) -> None:
    manifest = (
        f'# {comment}\n[sgx]\nenclave_size = "32M"\nmax_threads = {threads}\n'
        f"debug = {str(debug).lower()}\nuse_exinfo = {str(exinfo).lower()}\n"
        f"isvprodid = {prodid}\nisvsvn = {svn}\n"
        f'[sgx.cpu_features]\navx512 = "{avx512}"\npkru = "{pkru}"\n'
    ).encode()
    pal = (sgx_dir / "pal" / "three_seg.elf").read_bytes()
    raw = sigstruct.sign_enclave(manifest, pal, dev_key, date)
    s = sigstruct.verify(raw, manifest, pal)
    assert (s.isv_prod_id, s.isv_svn, s.debug, s.date) == (prodid, svn, debug, date)
    assert s.misc_select == int(exinfo)


def _loaded_ranges(pal: bytes) -> list[tuple[int, int]]:
    """File ranges that PT_LOAD segments copy into the enclave (the measured PAL bytes)."""
    elf = ELFFile(io.BytesIO(pal))
    return [
        (s.header.p_offset, s.header.p_offset + s.header.p_filesz)
        for s in elf.iter_segments()
        if s.header.p_type == "PT_LOAD" and s.header.p_filesz
    ]


def _flip(data: bytes, index: int, bit: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 1 << bit
    return bytes(b)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(["manifest", "pal", "sig"]),
    pos=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
)
def test_any_flipped_byte_fails_verification(
    signed: tuple[bytes, bytes, bytes], which: str, pos: float, bit: int
) -> None:
    manifest, pal, raw = signed
    parts = {"manifest": manifest, "pal": pal, "sig": raw}
    target = parts[which]
    if which == "pal":
        # Only loaded bytes are measured (SGX/Gramine semantics); pick one of those.
        offsets = [o for lo, hi in _loaded_ranges(pal) for o in range(lo, hi)]
        index = offsets[int(pos * len(offsets))]
    else:
        index = int(pos * len(target))
    parts[which] = _flip(target, index, bit)
    with pytest.raises((VerificationError, InputError)):
        sigstruct.verify(parts["sig"], parts["manifest"], parts["pal"])


def test_unloaded_pal_bytes_are_not_measured(signed: tuple[bytes, bytes, bytes]) -> None:
    """Bytes outside every PT_LOAD (e.g. section headers) are not part of MRENCLAVE, as in
    Gramine; they never reach the enclave."""
    manifest, pal, raw = signed
    loaded = _loaded_ranges(pal)
    outside = next(o for o in range(len(pal)) if not any(lo <= o < hi for lo, hi in loaded))
    sigstruct.verify(raw, manifest, _flip(pal, outside, 0))


@pytest.mark.parametrize(
    "field",
    [
        "modulus",
        "signature",
        "q1",
        "q2",
        "misc_mask",
        "cet",
        "isv_family_id",
        "reserved2",
        "attribute_mask_flags",
        "reserved3",
    ],
)
def test_every_region_is_protected(signed: tuple[bytes, bytes, bytes], field: str) -> None:
    manifest, pal, raw = signed
    s = Sigstruct.from_bytes(raw)
    value = getattr(s, field)
    setattr(s, field, (value ^ 1) if isinstance(value, int) else _flip(value, 0, 0))
    with pytest.raises((VerificationError, InputError)):
        sigstruct.verify(s.to_bytes(), manifest, pal)


def test_attributes_must_match_manifest(
    signed: tuple[bytes, bytes, bytes], dev_key: rsa.RSAPrivateKey
) -> None:
    manifest, pal, raw = signed
    # A validly signed SIGSTRUCT whose isvsvn disagrees with the manifest is refused.
    s = Sigstruct.from_bytes(raw)
    s.isv_svn += 1
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    sig = dev_key.sign(s.signing_data(), padding.PKCS1v15(), hashes.SHA256())
    forged = sigstruct.assemble(s, dev_key.public_key(), sig)
    sigstruct.verify_signature(forged)  # signature itself is fine
    with pytest.raises(VerificationError, match="isv_svn"):
        sigstruct.verify(forged, manifest, pal)


def test_generate_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "k.pem"
    keys.generate_key(out, b"s3cret")
    assert (os.stat(out).st_mode & 0o777) == 0o600
    assert b"ENCRYPTED" in out.read_bytes()
    pf = tmp_path / "p"
    pf.write_text("s3cret\n")
    key = keys.load_private_key(out, pf)
    assert key.key_size == 3072 and key.public_key().public_numbers().e == 3
    before = out.read_bytes()
    with pytest.raises(InputError, match="already exists"):
        keys.generate_key(out, None)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem", "p"]  # no temp left over
