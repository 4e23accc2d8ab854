"""End to end in Docker: a shielded app (gsc build of a FROM-scratch image holding the static
probe special_probe.c) writes
user_report_data and reads /dev/attestation/quote; `gsc verify-quote --allow-simulated
--image IMG --report-data X` accepts that quote and rejects it without --allow-simulated,
with another image's identity or with other report data."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from capabilities import need_docker
from clitools import gsc
from docker_images import run_image, shielded_images

pytestmark = pytest.mark.docker
HERE = Path(__file__).resolve().parent
RD = b"gsc end-to-end report data"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    need_docker()
    d = tmp_path_factory.mktemp("attest")
    probe = d / "probe"
    subprocess.run(["gcc", "-static", "-O1", "-Wall", "-Werror", "-o", str(probe),
                    str(HERE / "special_probe.c")], check=True)
    contexts: dict[str, dict[str, str | Path]] = {
        name: {"probe": probe,
               "Dockerfile": f'FROM scratch\nCOPY probe /probe\nENTRYPOINT ["/probe", {args}]\n'}
        for name, args in (("app", f'"rd", "{RD.hex()}", "show", "quote"'),
                           ("other", '"show", "attestation_type"'))}
    with shielded_images(d, contexts, "gsc-test-special/attest",
                         "--date", "2026-01-02") as tags:
        yield tags


def test_quote_from_container_verifies(images: dict[str, str], tmp_path: Path) -> None:
    res = run_image(images["app"])
    assert res.returncode == 0, res.stderr
    quote = tmp_path / "quote.bin"
    line = res.stdout.strip()
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
