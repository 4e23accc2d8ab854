"""connect() and executable mappings when pidfd_getfd is refused, as Docker's default
seccomp profile refuses it to a container without CAP_SYS_PTRACE. The runtime is started
by seccomp_refuse.c with a filter answering pidfd_getfd with EPERM (the supervisor's own
calls are filtered, as in such a container), and the connect and mapping tests run again
(the `getfd` fixture tells them the mode), except the race test (this mode is not
race-free): the supervisor checks the copied address (pathname unix sockets follow the file
policy) and the kernel runs the connect (CONTINUE; the race is in docs/runtime.md);
mappings are identified via /proc."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rt_bundle import MakeBundle
from test_supervisor_compat import run_sprobe, sprobe  # noqa: F401  (fixture)
from test_supervisor_connect import (  # noqa: F401  (collected again here, with the fixtures below)
    box,
    tcp,
    test_allowed_socket_works_both_ways,
    test_denied_socket_refused_and_nothing_reaches_it,
    test_socket_permission_and_peer_identity_follow_the_app,
    test_tcp_udp_and_abstract_connects,
    unix_listener,
)
from test_supervisor_exec_maps import (  # noqa: F401
    test_exec_mappings_of_files,
    test_ld_preload_of_allowed_library_loads_nothing,
    test_loader_as_program_cannot_run_untrusted_file,
    test_tampered_trusted_file_not_mapped_executable,
)


@pytest.fixture
def make_bundle(make_bundle: MakeBundle, nogetfd: tuple[str, ...]) -> Callable[..., Any]:
    """The conftest's bundles, run through seccomp_refuse with pidfd_getfd refused."""

    def make(*args: Any, **kw: Any) -> Any:
        b = make_bundle(*args, **kw)
        b.wrapper = nogetfd
        return b

    return make


@pytest.fixture
def getfd() -> bool:
    return False


def test_checked_unix_connect_is_the_kernels(make_bundle: MakeBundle,
                                             sprobe: str, box: Path) -> None:  # noqa: F811
    """An allowed pathname connect is run by the kernel on the app's own socket (CONTINUE
    after the check): flags, descriptor, EISCONN, listening and bound sockets behave as
    natively; the path's own answer (ENOENT) comes first."""
    lst = unix_listener(box / "ok" / "s")
    cmds = [f"unix-props {box}/ok/s", f"unix-listening-connect {box}/ok/s",
            f"unix-bound-connect {box}/ok/s {box}/ok/mine",
            f"unix-bound-connect {box}/no/x {box}/ok/mine2",
            f"unix-bound-connect {box}/no/s {box}/ok/mine3"]
    no = unix_listener(box / "no" / "s")
    try:
        out, err = run_sprobe(make_bundle, sprobe, cmds, allowed=[f"{box}/ok/"])
    finally:
        lst.close()
        no.close()
    assert out[cmds[0]] == "OK", err
    assert out[cmds[1]] == "EINVAL", err
    assert out[cmds[2]] == "OK", err
    assert out[cmds[3]] == "ENOENT", err
    assert out[cmds[4]] == "EACCES", err
    assert no.accepted == 0
    assert lst.accepted == 3
