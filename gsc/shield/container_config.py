"""The config pin (`gsc.container_config`): the parts of the output image's config that
decide what runs and how, as gsc writes them, recorded in the measured manifest as
canonical JSON; `gsc verify-image` compares an image's config with it field by field.

Pinned fields: Entrypoint, Cmd, User, Env, WorkingDir, Volumes, Healthcheck, OnBuild,
StopSignal, ExposedPorts, Shell. Labels are not pinned (they carry MRENCLAVE, which is a
function of the manifest, and sign-image rewrites them). A field that is absent, null or
empty ([], {}, "") is left out: Docker treats those alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gsc.errors import InputError

FIELDS = ("Entrypoint", "Cmd", "User", "Env", "WorkingDir", "Volumes", "Healthcheck",
          "OnBuild", "StopSignal", "ExposedPorts", "Shell")


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {} and value != ""


def pinned_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The pinned fields of an image config's ``config`` object (as stored)."""
    return {k: raw[k] for k in FIELDS if k in raw and _present(raw[k])}


def output_config(base: Mapping[str, Any], entrypoint: tuple[str, ...] | None,
                  cmd: tuple[str, ...] | None) -> dict[str, Any]:
    """The pinned fields of the image gsc emits FROM ``base`` (its raw config) with this
    entrypoint and cmd (None: kept). Docker runs a base image's ONBUILD triggers in the
    derived build and does not carry them over, so OnBuild is empty."""
    out = pinned_fields(base)
    out.pop("OnBuild", None)
    if entrypoint is not None:
        out.pop("Entrypoint", None)
        out.pop("Cmd", None)
        out.update(pinned_fields({"Entrypoint": list(entrypoint),
                                  "Cmd": list(cmd) if cmd is not None else None}))
    return out


def encode(fields: Mapping[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 (not \\u-escaped)."""
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise InputError(f"{source}: gsc.container_config is not JSON") from None
    if not isinstance(value, dict) or any(k not in FIELDS for k in value):
        raise InputError(f"{source}: gsc.container_config is not a pinned config object")
    return value


def differences(pinned: Mapping[str, Any], raw: Mapping[str, Any]) -> list[str]:
    """One line per pinned field whose value in the image config ``raw`` differs."""
    actual = pinned_fields(raw)
    out: list[str] = []
    for key in FIELDS:
        want, have = pinned.get(key), actual.get(key)
        if want != have:
            out.append(f"config {key} is {_show(have)}, the manifest pins {_show(want)}")
    return out


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
