"""`--image IMG` against a real gsc image (real Docker Engine): the expected identity comes
from the verified image; simulated quotes for that identity are accepted only with
--allow-simulated, and another identity or report data is refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gsc.attestation.simulate import make_quote

from .conftest import run_gsc

pytestmark = [pytest.mark.docker, pytest.mark.slow]
BASE = "gsc-local/busybox:latest"
TAG = "gsc-attest-test/app:1"


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    if _docker("info").returncode != 0 or _docker("image", "inspect", BASE).returncode != 0:
        pytest.fail(f"Docker Engine or {BASE} missing (scripts/setup)")
    key = tmp_path_factory.mktemp("k") / "key.pem"
    assert run_gsc("gen-key", key).code == 0
    res = run_gsc("build", BASE, "-k", key, "-t", TAG, "-q", "--json")
    assert res.code == 0, res.err
    info: dict[str, object] = json.loads(res.out)
    try:
        yield info
    finally:
        _docker("rmi", "-f", TAG)


def test_image_identity(app: dict[str, object], tmp_path: Path) -> None:
    mre, mrs = bytes.fromhex(str(app["mrenclave"])), bytes.fromhex(str(app["mrsigner"]))
    q = tmp_path / "q.bin"
    q.write_bytes(make_quote(mre, mrs, bytes(16), 0, 0, b"X"))
    ok = run_gsc("verify-quote", q, "--allow-simulated", "--image", TAG,
                 "--report-data", b"X".hex(), "--json")
    assert ok.code == 0, ok.err
    assert ok.json()["mrenclave"] == app["mrenclave"] and ok.json()["simulated"] is True
    no_sim = run_gsc("verify-quote", q, "--image", TAG, "--json")
    assert no_sim.code == 1 and no_sim.json()["failed_step"] == "simulated"
    other_rd = run_gsc("verify-quote", q, "--allow-simulated", "--image", TAG,
                       "--report-data", b"Y".hex(), "--json")
    assert other_rd.code == 1 and other_rd.json()["failed_step"] == "policy"
    other = tmp_path / "other.bin"
    other.write_bytes(make_quote(bytes(32), mrs, bytes(16), 0, 0, b"X"))
    res = run_gsc("verify-quote", other, "--allow-simulated", "--image", TAG, "--json")
    assert res.code == 1 and res.json()["failed_step"] == "policy"
    assert "MRENCLAVE" in res.json()["reason"]
    # an ISVPRODID other than the image's SIGSTRUCT
    prod = tmp_path / "prod.bin"
    prod.write_bytes(make_quote(mre, mrs, bytes(16), 77, 0, b"X"))
    res = run_gsc("verify-quote", prod, "--allow-simulated", "--image", TAG, "--json")
    assert res.code == 1 and "ISVPRODID" in res.json()["reason"]


def test_image_not_gsc(tmp_path: Path) -> None:
    q = tmp_path / "q.bin"
    q.write_bytes(make_quote(bytes(32), bytes(32), bytes(16), 0, 0, b""))
    res = run_gsc("verify-quote", q, "--allow-simulated", "--image", BASE)
    assert res.code == 2 and "not an image built by gsc" in res.err
    assert len(res.err.strip().splitlines()) == 1
