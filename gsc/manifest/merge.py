"""Merge a user's manifest over the rendered template: the user wins.

Tables merge key by key; arrays concatenate without duplicates (template entries first);
a scalar (or a value whose type changes) set by both is taken from the user and reported.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Override:
    key: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.key}: {_short(self.old)} -> {_short(self.new)}"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _freeze(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def merge(
    base: Mapping[str, Any], user: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Override]]:
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    overrides: list[Override] = []
    _merge_into(merged, user, "", overrides)
    return merged, overrides


def _merge_into(
    dst: dict[str, Any], src: Mapping[str, Any], prefix: str, overrides: list[Override]
) -> None:
    for key, value in src.items():
        path = f"{prefix}{key}"
        if key not in dst:
            dst[key] = copy.deepcopy(value)
            continue
        old = dst[key]
        if isinstance(old, dict) and isinstance(value, Mapping):
            _merge_into(old, value, path + ".", overrides)
        elif isinstance(old, list) and isinstance(value, list) and _by_uri(old, value):
            _merge_by_uri(old, value, path, overrides)
        elif isinstance(old, list) and isinstance(value, list):
            seen = {_freeze(v) for v in old}
            for item in value:
                frozen = _freeze(item)
                if frozen not in seen:
                    old.append(copy.deepcopy(item))
                    seen.add(frozen)
        else:
            if _freeze(old) != _freeze(value):
                overrides.append(Override(path, old, value))
            dst[key] = copy.deepcopy(value)


def _by_uri(*arrays: list[Any]) -> bool:
    """Arrays of tables keyed by `uri` (sgx.trusted_files, fs.mounts) merge per uri."""
    items = [item for array in arrays for item in array]
    return bool(items) and all(isinstance(i, dict) and "uri" in i for i in items)


def _merge_by_uri(
    dst: list[Any], src: list[Any], path: str, overrides: list[Override]
) -> None:
    index = {item["uri"]: n for n, item in enumerate(dst)}
    for item in src:
        n = index.get(item["uri"])
        if n is None:
            index[item["uri"]] = len(dst)
            dst.append(copy.deepcopy(item))
        elif _freeze(dst[n]) != _freeze(item):
            overrides.append(Override(f"{path}[uri={item['uri']}]", dst[n], item))
            dst[n] = copy.deepcopy(item)
