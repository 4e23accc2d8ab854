"""Build-time checks on the composed manifest: the audit-mode guard and the environment
warnings for shell entrypoints (gsc/analysis/envrefs.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gsc.analysis import Analysis
from gsc.analysis.envrefs import env_references, passthrough_warnings
from gsc.errors import InputError, VerificationError
from gsc.image.loader import Image

AUDIT_POLICY = "allow_all_but_log"
SCRIPT_LIMIT = 1 << 20


def audit_mode(doc: Mapping[str, Any], *, allowed: bool) -> None:
    """Refuse ``sgx.file_check_policy = "allow_all_but_log"`` (enforce nothing, log every
    refusal) in a production (non-debug) enclave unless the builder said so explicitly:
    such an image would run any file and program the policy is meant to refuse."""
    sgx = doc.get("sgx", {})
    if not isinstance(sgx, Mapping) or sgx.get("file_check_policy") != AUDIT_POLICY:
        return
    if sgx.get("debug") is True or allowed:
        return
    raise VerificationError(
        'sgx.file_check_policy = "allow_all_but_log" enforces nothing: refused for a '
        "non-debug enclave (set sgx.debug = true or --debug for an audit build, or pass "
        "--allow-audit-mode if you really mean to sign a production enclave in audit mode)")


def env_warnings(image: Image, analysis: Analysis, doc: Mapping[str, Any]) -> list[str]:
    """Warnings for ENV-style names that the entrypoint's shell scripts read but that
    ``docker run -e`` cannot set under the manifest (pinned, or not passed through)."""
    loader = doc.get("loader", {})
    if not isinstance(loader, Mapping):
        return []
    if loader.get("insecure__use_host_env") is True:
        return []
    env = loader.get("env", {})
    env = env if isinstance(env, Mapping) else {}
    passed = [n for n, v in env.items() if isinstance(v, Mapping) and v.get("passthrough")]
    pinned = [n for n, v in env.items() if isinstance(v, str)]
    out: list[str] = []
    for prog in analysis.programs:
        if prog.get("kind") != "script":
            continue
        path = str(prog.get("path"))
        try:
            text = image.fs.read_bytes(path, limit=SCRIPT_LIMIT).decode("utf-8", "replace")
        except InputError:   # contents not kept: no warning for it
            text = ""
        if not _is_shell(text):
            continue
        out += passthrough_warnings(path, env_references(text), pinned, passed)
    return out


def _is_shell(text: str) -> bool:
    first = text.split("\n", 1)[0]
    if not first.startswith("#!"):
        return False
    words = first[2:].split()
    if not words:
        return False
    prog = words[0].rsplit("/", 1)[-1]
    if prog == "env" and len(words) > 1:
        prog = words[1].rsplit("/", 1)[-1]
    return prog in ("sh", "bash", "dash", "ash", "ksh", "zsh", "busybox")
