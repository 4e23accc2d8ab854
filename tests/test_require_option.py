"""--require turns a would-be skip into a failure (so CI cannot silently skip a tier)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_PROBE = '''
from capabilities import need

def test_needs_docker():
    need("docker", False, "pretend there is no engine")

def test_needs_clang():
    need("clang", False, "pretend there is no clang")
'''


def test_require_turns_skips_into_failures(tmp_path: Path) -> None:
    require, outcome = "docker", "1 failed, 1 skipped"
    probe = HERE / f"_probe_require_{tmp_path.name}.py"
    probe.write_text(_PROBE)
    try:
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(probe),
             "--rootdir", str(HERE.parent), *([f"--require={require}"] if require else [])],
            capture_output=True, text=True, timeout=120, cwd=HERE.parent)
    finally:
        probe.unlink()
    assert outcome in res.stdout, res.stdout + res.stderr


def test_unknown_capability_is_a_usage_error() -> None:
    res = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                          "--require=dockr", "--co", str(HERE / "test_cli_entry.py")],
                         capture_output=True, text=True, timeout=120, cwd=HERE.parent)
    assert res.returncode != 0 and "unknown capability" in res.stderr + res.stdout
