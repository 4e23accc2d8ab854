"""End to end in Docker: a shielded app (gsc build of a FROM-scratch image holding the static
probe special_probe.c) writes
user_report_data and reads /dev/attestation/quote; `gsc verify-quote --allow-simulated
--image IMG --report-data X` accepts that quote and rejects it without --allow-simulated,
with another image's identity or with other report data."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker
HERE = Path(__file__).resolve().parent
RD = b"gsc end-to-end report data"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(["docker", *args], capture_output=True, timeout=600, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {res.stderr.decode()}")
    return res


def gsc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", "-m", "gsc", *args], capture_output=True,
                          text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.skip("Docker Engine not available")
    d = tmp_path_factory.mktemp("attest")
    key = d / "key.pem"
    assert gsc("gen-key", str(key)).returncode == 0
    made: list[str] = []
    tags: dict[str, str] = {}
    try:
        for name, args in (("app", f'"rd", "{RD.hex()}", "show", "quote"'),
                           ("other", '"show", "attestation_type"')):
            ctx = d / name
            ctx.mkdir()
            subprocess.run(["gcc", "-static", "-O1", "-Wall", "-Werror", "-o",
                            str(ctx / "probe"), str(HERE / "special_probe.c")], check=True)
            (ctx / "Dockerfile").write_text(
                f'FROM scratch\nCOPY probe /probe\nENTRYPOINT ["/probe", {args}]\n')
            src = f"gsc-test-special/attest-{name}-{uuid.uuid4().hex[:8]}:latest"
            docker("build", "-q", "-t", src, str(ctx))
            made.append(src)
            out = f"gsc-test-special/attest-{name}-shielded-{uuid.uuid4().hex[:8]}:latest"
            r = gsc("build", src, "-k", str(key), "--date", "2026-01-02", "-q", "-t", out)
            assert r.returncode == 0, r.stderr
            made.append(out)
            tags[name] = out
        yield tags
    finally:
        for t in made:
            docker("rmi", "-f", t, check=False)


def test_quote_from_container_verifies(images: dict[str, str], tmp_path: Path) -> None:
    res = docker("run", "--rm", images["app"], check=False)
    assert res.returncode == 0, res.stderr.decode()
    quote = tmp_path / "quote.bin"
    line = res.stdout.decode().strip()
    assert line.startswith("quote=")
    quote.write_bytes(bytes.fromhex(line[6:]))
    rd = RD.hex()
    ok = gsc("verify-quote", str(quote), "--allow-simulated", "--image", images["app"],
             "--report-data", rd)
    assert ok.returncode == 0, ok.stderr
    assert "SIMULATED" in ok.stderr
    refusals = {
        "no --allow-simulated": ["--image", images["app"], "--report-data", rd],
        "another image": ["--allow-simulated", "--image", images["other"], "--report-data", rd],
        "other report data": ["--allow-simulated", "--image", images["app"],
                              "--report-data", (b"other" + RD).hex()],
    }
    for why, args in refusals.items():
        r = gsc("verify-quote", str(quote), *args)
        assert r.returncode == 1, (why, r.stderr)
