"""The C core identity stamp (issue 9): compiled into gsc._native and into the runtime
from runtime/core/*.c *.h; gsc refuses a runtime built from another core."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from gsc.errors import InputError
from gsc.image.model import ImageConfig
from gsc.runtime_binary import check_stamp, native_stamp, runtime_bytes, runtime_stamp
from gsc.shield.plan import GscFiles
from gsc.shield.shielded import ShieldedImage, plan_signing

REPO = Path(__file__).resolve().parents[2]


def make_stamp() -> str:
    out = subprocess.run(["make", "-s", "-C", str(REPO / "runtime"), "stamp"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def test_native_module_and_runtime_carry_the_stamp_of_this_tree() -> None:
    stamp = make_stamp()
    assert len(stamp) == 64
    assert native_stamp() == stamp
    assert runtime_stamp(runtime_bytes()) == stamp


def test_the_stamp_follows_the_core_sources(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("native_build", REPO / "gsc" /
                                                  "_native_build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    core_stamp = build.core_stamp
    core = tmp_path / "core"
    core.mkdir()
    for p in sorted((REPO / "runtime" / "core").iterdir()):
        (core / p.name).write_bytes(p.read_bytes())
    assert core_stamp(core) == make_stamp()
    (core / "policy.c").write_bytes((core / "policy.c").read_bytes() + b"\n")
    assert core_stamp(core) != make_stamp()
    (core / "notes.cdef").write_text("/* not part of the identity */")
    (core / "policy.c").write_bytes((REPO / "runtime" / "core" / "policy.c").read_bytes())
    assert core_stamp(core) == make_stamp()


def other_core(data: bytes) -> bytes:
    stamp = native_stamp().encode()
    assert data.count(b"gsc-core-stamp:" + stamp) == 1
    return data.replace(b"gsc-core-stamp:" + stamp, b"gsc-core-stamp:" + b"0" * 64)


def test_a_runtime_from_another_core_is_refused_with_the_fix() -> None:
    data = runtime_bytes()
    check_stamp(data, "at X")
    with pytest.raises(InputError, match=r"another C core than this gsc \(C core 0000000000000000,"
                                         r" gsc._native has [0-9a-f]{16}\): reinstall gsc"):
        check_stamp(other_core(data), "at X")
    with pytest.raises(InputError, match="no C core identity stamp"):
        check_stamp(b"\x7fELF" + b"\0" * 100, "at X")


def test_sign_image_refuses_a_runtime_from_another_core() -> None:
    img = ShieldedImage(
        id="sha256:" + "1" * 64, ref="gsc-x", tags=(), labels={},
        config=ImageConfig(None, None, {}, "/", "", {}),
        files=GscFiles(other_core(runtime_bytes()), b"", None))
    with pytest.raises(InputError, match="rebuild the image with this gsc"):
        plan_signing(img, None, dt.date(2026, 1, 1), None)  # type: ignore[arg-type]
