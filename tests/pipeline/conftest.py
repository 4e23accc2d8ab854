"""Fixtures for the end-to-end build tests: real Docker, example images built locally."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clitools import BASE, EXAMPLES, REPO, Run, build_example, docker, gsc, image_exists

__all__ = ["BASE", "EXAMPLES", "REPO", "Run", "build_example", "docker", "gsc", "image_exists"]


@pytest.fixture
def cleanup_images() -> Iterator[list[str]]:
    refs: list[str] = []
    yield refs
    for r in refs:
        docker("rmi", "-f", r, check=False)
