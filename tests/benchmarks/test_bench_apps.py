"""benchmarks/bench_apps.py, smallest configuration, against the installed gsc and real Docker.

Checks the shape of what it prints (a table on stderr, one JSON object on stdout, a row per
figure with a status), never the timing values themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks" / "bench_apps.py"
HEADER = ["benchmark", "gsc", "native", "ratio", "target", "pass/short"]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.docker
@pytest.mark.slow
def test_fork_smallest_run_prints_table_and_json() -> None:
    p = bench("--quick", "--only", "fork", "--rounds", "1", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)  # exactly one JSON object on stdout
    assert isinstance(data, dict) and data["quick"] is True and data["rounds"] == 1
    rows = data["rows"]
    assert [r["name"] for r in rows] == ["fork", "fork"]
    for r in rows:
        assert r["status"] in {"pass", "short", "failed"}
        assert r["unit"] == "ms" and r["target"] == "<= 1.5x"
        if r["status"] != "failed":
            assert r["gsc"] > 0 and r["native"] > 0
            assert r["ratio"] == pytest.approx(r["gsc"] / r["native"])
            assert len(r["samples"]["gsc"]) == len(r["samples"]["native"]) >= 1
        else:
            assert r["note"]
    # The human table went to stderr: header, rule, one line per JSON row.
    lines = p.stderr.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("benchmark "))
    assert [c.strip() for c in lines[head].split("|")] == HEADER
    assert set(lines[head + 1]) <= {"-", "+"}
    body = lines[head + 2: head + 2 + len(rows)]
    for ln, r in zip(body, rows, strict=True):
        cells = [c.strip() for c in ln.split("|")]
        assert len(cells) == len(HEADER)
        assert cells[0] == r["benchmark"] and cells[5] == r["status"]


def test_unknown_benchmark_is_a_usage_error() -> None:
    p = bench("--only", "no-such-bench")
    assert p.returncode == 2
    assert p.stdout == ""
    assert "unknown benchmark no-such-bench" in p.stderr
    assert "Traceback" not in p.stderr
