from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from capabilities import need_docker

from . import images


@pytest.fixture(scope="session")
def test_image() -> Iterator[Callable[[str], str]]:
    need_docker()
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

    need_docker()
    yield get
    for img in cache.values():
        img.close()  # type: ignore[attr-defined]
