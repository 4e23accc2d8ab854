"""The C simulated quote (runtime/src/attest_quote.c) through its driver, built plain and
with ASan/UBSan: the Python verifier accepts its output only with --allow-simulated, with
the identity and report data it was given."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gsc.attestation import Policy, parse_quote, verify_quote
from gsc.attestation.simulate import make_quote

from .conftest import run_gsc

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
MRE = bytes.fromhex("5a" * 32)
MRS = bytes.fromhex("a5" * 32)


@pytest.fixture(scope="module", params=["plain", "asan"])
def driver(request: pytest.FixtureRequest) -> Path:
    target = RUNTIME / "build" / ("check_attest" if request.param == "plain"
                                  else "asan/check_attest")
    subprocess.run(["make", "-s", "-C", str(RUNTIME), str(target)], check=True,
                   capture_output=True, timeout=600)
    return target


def _quote(driver: Path, tmp: Path, flags: int = 0x5, rd: bytes = b"c-nonce") -> Path:
    out = tmp / "c.quote"
    subprocess.run([str(driver), "quote", MRE.hex(), MRS.hex(), hex(flags), "0x3", "11", "4",
                    rd.hex(), str(out)], check=True, timeout=60)
    return out


def test_selftest(driver: Path) -> None:
    res = subprocess.run([str(driver), "selftest"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_c_quote_verifies(driver: Path, tmp_path: Path) -> None:
    q = _quote(driver, tmp_path)
    data = q.read_bytes()
    parsed = parse_quote(data)
    # same layout as the Python simulator apart from the ISV signature
    py = make_quote(MRE, MRS, (5).to_bytes(8, "little") + (3).to_bytes(8, "little"), 11, 4,
                    b"c-nonce")
    assert len(py) == len(data)
    assert py[:436] == data[:436] and py[500:] == data[500:]
    assert parsed.report.flags == 5 and parsed.report.xfrm == 3
    args = ["verify-quote", q, "--mrenclave", MRE.hex(), "--mrsigner", MRS.hex(),
            "--isvprodid", "11", "--min-isvsvn", "4", "--report-data", b"c-nonce".hex(), "--json"]
    res = run_gsc(*args, "--allow-simulated")
    assert res.code == 0, res.err
    assert res.json()["simulated"] is True and res.json()["isvsvn"] == 4
    res = run_gsc(*args)
    assert res.code == 1 and res.json()["failed_step"] == "simulated"
    res = run_gsc(*args[:-3], "--report-data", b"other".hex(), "--json", "--allow-simulated")
    assert res.code == 1 and res.json()["failed_step"] == "policy"
    # a flipped byte in the body breaks the C-made ISV signature
    bad = bytearray(data)
    bad[48 + 100] ^= 1
    r = verify_quote(bytes(bad), None, Policy(allow_simulated=True))
    assert r.failed_step == "isv_signature"


def test_c_quote_debug_flag(driver: Path, tmp_path: Path) -> None:
    q = _quote(driver, tmp_path, flags=0x7)
    r = verify_quote(q.read_bytes(), None, Policy(allow_simulated=True))
    assert r.debug is True and r.failed_step == "policy"
    assert verify_quote(q.read_bytes(), None, Policy(allow_simulated=True,
                                                     allow_debug=True)).accepted
