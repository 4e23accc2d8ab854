"""Root fixtures and the test tiers.

Tiers (markers, registered in pyproject.toml): ``docker`` (real Docker Engine), ``slow``
(more than a few seconds), ``sanitizers`` (C built with ASan/UBSan), ``fuzz`` (libFuzzer
runs). Sanitizer and fuzz tests are also slow, so the fast tier is
``pytest -m "not docker and not slow"``.

``--require=docker,clang`` turns would-be skips for those capabilities into failures
(see tests/capabilities.py); scripts/test passes it.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from capabilities import CAPABILITIES, capability_of
from clitools import BASE, docker, gsc, image_exists

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "tests" / "vectors"
SGX_VECTORS = VECTORS / "sgx"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require", default="", metavar="CAPS",
        help="comma-separated capabilities whose absence fails instead of skipping: "
        + ", ".join(CAPABILITIES) + ", or 'all' (every skip fails)",
    )


def _required(config: pytest.Config) -> set[str]:
    raw = str(config.getoption("--require") or "")
    caps = {c.strip() for c in raw.split(",") if c.strip()}
    unknown = caps - set(CAPABILITIES) - {"all"}
    if unknown:
        raise pytest.UsageError(f"--require: unknown capability {sorted(unknown)[0]!r}")
    return caps


def pytest_configure(config: pytest.Config) -> None:
    _required(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = pytest.mark.slow
    for item in items:
        if item.get_closest_marker("sanitizers") or item.get_closest_marker("fuzz"):
            item.add_marker(slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return
    if hasattr(report, "wasxfail"):
        return
    required = _required(item.config)
    text = str(report.longrepr[2])
    cap = capability_of(text)
    if "all" in required or (cap is not None and cap in required):
        report.outcome = "failed"
        report.longrepr = f"required by --require but skipped: {text}"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sgx_dir() -> Path:
    """The SGX reference vectors (copied into tests/vectors/sgx)."""
    return SGX_VECTORS


def load_sgx_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SGX_VECTORS / "vectors.json").read_text())
    return data


# ------------------------------------------------ the installed CLI and the Docker Engine


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys") / "enclave-key.pem"
    r = gsc("gen-key", key)
    assert r.returncode == 0, r.stderr
    return key


@pytest.fixture(scope="session")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("keys2") / "other-key.pem"
    assert gsc("gen-key", key).returncode == 0
    return key


@pytest.fixture(scope="session")
def docker_ready() -> None:
    if docker("info", check=False).returncode != 0:
        pytest.fail("Docker Engine is not running (scripts/setup starts it)")
    if not image_exists(BASE):
        pytest.fail(f"base image {BASE} missing (scripts/build-base-images builds it)")
