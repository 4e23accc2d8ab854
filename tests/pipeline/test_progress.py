"""Progress reporting: the image reader's byte counter and the phase timer."""

from __future__ import annotations

import io

import pytest

from gsc.image import load_image
from gsc.progress import Progress


@pytest.mark.docker
@pytest.mark.usefixtures("docker_ready")
def test_load_image_reports_bytes_read() -> None:
    seen: list[tuple[int, int]] = []
    with load_image("gsc-local/busybox:latest", progress=lambda d, t: seen.append((d, t))) as img:
        assert img.fs.get("/bin/busybox") is not None
    assert seen, "progress was never called"
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] > 1_000_000  # the static busybox alone is ~2 MB
    assert all(t == seen[0][1] and t > 0 for _, t in seen)


def test_progress_is_line_oriented_without_a_terminal() -> None:
    out = io.StringIO()
    p = Progress(out)
    with p.phase("hash", "hashing"):
        p.update("50%")  # details only on a terminal
    p.note("a note")
    assert out.getvalue() == "gsc: hashing ...\ngsc: a note\n"
    assert set(p.seconds) == {"hash"}


def test_quiet_progress_prints_nothing_but_still_times() -> None:
    out = io.StringIO()
    p = Progress(out, quiet=True)
    with p.phase("x", "x"):
        pass
    assert out.getvalue() == "" and "x" in p.seconds
