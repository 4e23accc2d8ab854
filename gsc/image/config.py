"""Parsing the image config JSON (Entrypoint, Cmd, Env, WorkingDir, User, Labels)."""

from __future__ import annotations

from typing import Any

from gsc.errors import InputError
from gsc.image import paths
from gsc.image.model import ImageConfig


def _opt_list(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):  # tolerated by some tools; Docker would wrap it in a shell
        return ["/bin/sh", "-c", value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"malformed {what} in image config")
    return list(value)


def _str(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"malformed {what} in image config")
    return value


def parse_env(items: list[str]) -> dict[str, str]:
    """Docker's Env list ("K=V") as an ordered dict; a later duplicate wins."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if key and sep:
            env[key] = value
        elif key:
            env[key] = ""
    return env


def parse_config(doc: dict[str, Any]) -> ImageConfig:
    cfg = doc.get("config")
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise InputError("malformed image config: 'config' is not an object")
    env_list = cfg.get("Env") or []
    if not isinstance(env_list, list) or not all(isinstance(v, str) for v in env_list):
        raise InputError("malformed Env in image config")
    labels = cfg.get("Labels") or {}
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise InputError("malformed Labels in image config")
    return ImageConfig(
        entrypoint=_opt_list(cfg.get("Entrypoint"), "Entrypoint"),
        cmd=_opt_list(cfg.get("Cmd"), "Cmd"),
        env=parse_env(env_list),
        # Normalised once, here: "/app/" and "/app" are the same start directory.
        workdir=paths.normalize(_str(cfg.get("WorkingDir"), "WorkingDir") or "/"),
        user=_str(cfg.get("User"), "User"),
        labels=dict(labels),
        architecture=_str(doc.get("architecture"), "architecture"),
        os=_str(doc.get("os"), "os"),
        raw=dict(cfg),
    )
