"""Images that run as a non-root USER (Java images, many others) in a real container:
trusted files this user cannot read (Debian's /etc/default/cacerts is root 0600) are not
verification failures, because the app cannot read them either and cannot make itself
able to (not the owner, no capabilities); a file the user owns stays a failure when
unreadable, because its owner can chmod it and read it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from docker_images import DEBIAN, need_image, run_image, shielded_images

pytestmark = pytest.mark.docker

# The app: what it can read, then long enough alive for the background verifier to finish.
SCRIPT = ("cat /srv/root-only.txt 2>/dev/null || echo root-only: refused; "
          "cat /srv/mine.txt 2>/dev/null || echo mine: refused; sleep 3; echo done")
IMAGES = {
    "root-only": "RUN echo secret > /srv/root-only.txt && chmod 600 /srv/root-only.txt\n",
    "own-0000": ("RUN echo mine > /srv/mine.txt && chown app:app /srv/mine.txt "
                 "&& chmod 000 /srv/mine.txt\n"),
}


@pytest.fixture(scope="module")
def shielded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    need_image(DEBIAN)
    contexts = {
        name: {"Dockerfile": f"FROM {DEBIAN}\nRUN useradd --system --uid 999 app\n{step}"
                             f'USER app\nCMD ["/bin/sh", "-c", "{SCRIPT}"]\n'}
        for name, step in IMAGES.items()}
    with shielded_images(tmp_path_factory.mktemp("nonroot"), contexts,
                         "gsc-test-java/nonroot", "--debug") as tags:
        yield tags


def test_file_unreadable_for_the_user_is_no_failure(shielded: dict[str, str]) -> None:
    orig, res = run_image(shielded["root-only-src"]), run_image(shielded["root-only"])
    assert orig.returncode == 0 and "root-only: refused" in orig.stdout, orig.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == orig.stdout, res.stderr
    assert "failed verification" not in res.stderr, res.stderr
    assert "every trusted file checked (all verified); phase 2" in res.stderr, res.stderr


def test_unreadable_file_the_user_owns_stays_a_failure(shielded: dict[str, str]) -> None:
    """Its owner could chmod it readable: left unhashed, phase 2 would let the app read
    content nobody checked. It keeps the verifier's failure (and phase 1)."""
    orig, res = run_image(shielded["own-0000-src"]), run_image(shielded["own-0000"])
    assert orig.returncode == 0 and "mine: refused" in orig.stdout, orig.stderr
    assert res.stdout == orig.stdout, res.stderr
    assert "trusted file /srv/mine.txt failed verification (Permission denied)" in res.stderr
    assert "phase 2" not in res.stderr, res.stderr
