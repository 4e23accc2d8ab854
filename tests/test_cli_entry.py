"""The installed entry point as users run it: `python -m gsc` in a fresh process."""

from __future__ import annotations

import subprocess
import sys


def test_python_m_gsc_runs_and_reports_usage_errors_in_one_line() -> None:
    ok = subprocess.run([sys.executable, "-P", "-m", "gsc", "--version"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("gsc "), ok
    bad = subprocess.run([sys.executable, "-P", "-m", "gsc", "no-such-command"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("gsc: error: "), bad.stderr
    assert "Traceback" not in bad.stderr
