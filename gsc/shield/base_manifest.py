"""The base manifest of a shielded image, built as data from what image analysis learned
(the user's manifest is merged on top, user wins; gsc.manifest.canonical writes the one
canonical form, so there is no second TOML writer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def base_manifest(context: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest table for a template context (gsc.shield.plan.template_context)."""
    loader: dict[str, Any] = {"log_level": context["log_level"]}
    if context["insecure_args"]:
        loader["insecure__use_cmdline_argv"] = True
    else:
        loader["argv"] = list(context["argv"])
    env: dict[str, Any] = dict(context["env"])
    for name in context["env_passthrough"]:
        env[name] = {"passthrough": True}
    loader["env"] = env
    doc: dict[str, Any] = {
        "libos": {"entrypoint": context["entrypoint"]},
        "loader": loader,
        "fs": {"start_dir": context["workdir"]},
        "sgx": {
            "debug": context["debug"],
            "enclave_size": context["enclave_size"],
            "max_threads": context["max_threads"],
            "isvprodid": context["isvprodid"],
            "isvsvn": context["isvsvn"],
            "file_check_policy": "strict",
            # Provided by the container runtime or written at run time; not hashed.
            "allowed_files": ["file:" + p for p in context["allowed_files"]],
            # Every regular file of the image outside volatile places, with its SHA-256.
            "trusted_files": [{"uri": "file:" + f.path, "sha256": f.sha256}
                              for f in context["trusted_files"]],
        },
    }
    if context.get("readonly_files"):
        # Readable, never writable, not hashed (input mounts; docs/manifest-format.md).
        doc["gsc"] = {"readonly_files": ["file:" + p for p in context["readonly_files"]]}
    if context.get("verify_at_launch"):
        # Servers: every trusted file hashed before the app starts (docs/runtime.md).
        doc.setdefault("gsc", {})["verify_trusted_files"] = "at_launch"
    if context.get("encrypted_mounts"):
        # gsc build --encrypt (gsc.shield.encrypt): the files under these are encrypted.
        doc["fs"]["mounts"] = list(context["encrypted_mounts"])
    if context.get("encrypted_key_files"):
        doc.setdefault("gsc", {})["encrypted_key_files"] = dict(context["encrypted_key_files"])
    return doc
