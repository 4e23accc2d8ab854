"""Privilege drops under the runtime (issue 10), on the host as root: a root app that
drops to another user keeps working with the same policy. The supervisor keeps a memory
descriptor opened while the process was still inspectable (at its setuid-family call) and
opens the memory of a dumpable process of another user with that user's ids."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from rt_bundle import MakeBundle, public_dir
from test_supervisor_compat import run_sprobe, sprobe  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
UID = 65534


@pytest.fixture
def pub() -> Iterator[Path]:
    """A directory other users can traverse (pytest's temp root is private)."""
    with public_dir("gsc-r2-privdrop-") as d:
        yield d


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    t = tmp_path / "t.txt"
    t.write_text("trusted\n")
    t.chmod(0o644)
    s = tmp_path / "secret.txt"
    s.write_text("secret\n")
    s.chmod(0o644)
    return t, s


def test_gosu_style_drop_then_open(make_bundle: MakeBundle, sprobe: str,  # noqa: F811
                                   pub: Path) -> None:
    t, s = _tree(pub)
    out, err = run_sprobe(make_bundle, sprobe,
                          [f"drop-open {UID} {t}", f"open {t}", f"open {s}"],
                          trusted=[str(t)])
    assert out[f"drop-open {UID} {t}"] == "OK", err
    assert out[f"open {t}"] == "OK", err
    assert out[f"open {s}"] == "EACCES", err  # same policy after the drop
    assert "cannot be inspected" not in err


def test_nginx_style_workers_drop(make_bundle: MakeBundle, sprobe: str,  # noqa: F811
                                  pub: Path) -> None:
    t, s = _tree(pub)
    out, err = run_sprobe(make_bundle, sprobe, [f"worker-drop-open {UID} {t} 3",
                                                f"worker-drop-open {UID} {s} 1"],
                          trusted=[str(t)])
    assert out[f"worker-drop-open {UID} {t} 3"] == "OK", err
    assert out[f"worker-drop-open {UID} {s} 1"] == "EACCES", err


def test_gosu_style_drop_then_exec(make_bundle: MakeBundle, sprobe: str,  # noqa: F811
                                   pub: Path) -> None:
    """gosu: drop, exec the service; the service (another user, dumpable again) opens."""
    t, s = _tree(pub)
    shutil.copy(sprobe, pub / "sprobe")
    sprobe = str(pub / "sprobe")
    b = make_bundle(entrypoint=sprobe,
                    argv=["sprobe", f"drop-exec {UID} {sprobe} open+{t} open+{s}"],
                    trusted=[sprobe, str(t)])
    res = b.run()
    assert res.returncode == 0, res.stderr
    assert f"open+{t} => OK" in res.stdout, (res.stdout, res.stderr)
    assert f"open+{s} => EACCES" in res.stdout, (res.stdout, res.stderr)
