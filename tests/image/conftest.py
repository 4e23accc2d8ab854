from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import images


def _docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return Path(os.environ.get("GSC_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def test_image() -> Iterator[Callable[[str], str]]:
    if not _docker_ok():
        pytest.skip("no Docker Engine")
    yield images.ensure


@pytest.fixture(scope="session")
def loaded() -> Iterator[Callable[[str], object]]:
    """load_image() once per test image per session."""
    from gsc.image import load_image

    cache: dict[str, object] = {}

    def get(name: str) -> object:
        if name not in cache:
            cache[name] = load_image(images.ensure(name), pull=False)
        return cache[name]

    if not _docker_ok():
        pytest.skip("no Docker Engine")
    yield get
    for img in cache.values():
        img.close()  # type: ignore[attr-defined]
