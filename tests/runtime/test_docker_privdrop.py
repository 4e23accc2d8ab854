"""Privilege drops (issue 10) in a real container under Docker's default capabilities (no
--cap-add: no CAP_SYS_PTRACE): an image shielded with `gsc build` whose root entrypoint
drops to nobody with setpriv, then runs a program (exec) or forks one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from docker_images import DEBIAN, need_image, run_image, shielded_images

pytestmark = pytest.mark.docker

DROP = "setpriv --reuid=65534 --regid=65534 --clear-groups"
SCRIPTS = {
    # gosu-style: the entrypoint's process drops and becomes the program
    "exec": f"#!/bin/sh\nexec {DROP} cat /etc/os-release\n",
    # a root parent forks a child that drops; the child forks again (sh runs id, head);
    # the parent goes on as root afterwards
    "fork": (f"#!/bin/sh\n{DROP} /bin/sh -c 'id -u; head -n 1 /etc/os-release'\n"
             "echo \"parent $(id -u)\"\n"),
}


@pytest.fixture(scope="module")
def shielded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    need_image(DEBIAN)
    contexts = {
        name: {"entry.sh": script,
               "Dockerfile": f"FROM {DEBIAN}\nCOPY entry.sh /entry.sh\n"
                             'RUN chmod 755 /entry.sh\nENTRYPOINT ["/entry.sh"]\n'}
        for name, script in SCRIPTS.items()}
    with shielded_images(tmp_path_factory.mktemp("privdrop"), contexts,
                         "gsc-test-r3/privdrop", "--date", "2026-01-02") as tags:
        yield tags


def test_drop_then_exec(shielded: dict[str, str]) -> None:
    orig, res = run_image(shielded["exec-src"]), run_image(shielded["exec"])
    assert orig.returncode == 0 and "Debian GNU/Linux 12" in orig.stdout, orig.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == orig.stdout
    assert "cannot be inspected" not in res.stderr


def test_drop_in_forked_children(shielded: dict[str, str]) -> None:
    orig, res = run_image(shielded["fork-src"]), run_image(shielded["fork"])
    assert orig.stdout.splitlines()[0] == "65534", orig.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == orig.stdout
    assert res.stdout.splitlines() == ["65534", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
                                       "parent 0"]
