"""Fixtures for the SGX tests: the in-repo test vectors (tests/vectors/sgx) and a CLI runner."""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _sgx_dir() -> Path:
    return REPO / "tests" / "vectors" / "sgx"


@pytest.fixture(scope="session")
def vectors(sgx_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((sgx_dir / "vectors.json").read_text())
    return data


def load_vectors() -> dict[str, Any]:
    """For parametrisation at collection time."""
    p = _sgx_dir() / "vectors.json"
    data: dict[str, Any] = json.loads(p.read_text())
    return data


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_gsc(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> CliResult:
    """Run the CLI in-process (gsc.cli.main), with its own environment, working directory,
    stdout and stderr: a subprocess would prove nothing more for these commands, and the
    subprocess entry point itself is covered by tests/test_cli_entry.py."""
    from gsc.cli import main

    full_env = {k: v for k, v in os.environ.items() if k != "GSC_KEY_PASSPHRASE"}
    full_env.pop("GSC_DEBUG", None)
    if env:
        full_env.update(env)
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(full_env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_one_line_error(res: CliResult, codes: tuple[int, ...] = (1, 2)) -> str:
    assert res.code in codes, (res.code, res.out, res.err)
    lines = res.err.strip("\n").split("\n")
    assert len(lines) == 1, res.err
    assert lines[0].startswith("gsc: error: "), res.err
    assert "Traceback" not in res.err
    return lines[0]
