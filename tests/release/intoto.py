"""Checks of the in-toto attestation framework's Statement v1 field rules (written from
the specification's statement.md and field_types.md), used to judge gsc's output."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
_LOWER_HEX = re.compile(r"^[0-9a-f]+$")
_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
_HEX_LENGTHS = {"sha256": 64, "sha224": 56, "sha384": 96, "sha512": 128, "sha1": 40,
                "sha512_256": 64, "gitCommit": 40}


def problems(doc: Any) -> list[str]:
    """Every rule `doc` breaks (empty list: a valid Statement v1)."""
    out: list[str] = []
    if not isinstance(doc, dict):
        return ["statement is not a JSON object"]
    if doc.get("_type") != STATEMENT_V1:
        out.append(f"_type must be {STATEMENT_V1}")
    subject = doc.get("subject")
    if not isinstance(subject, list) or not subject:
        out.append("subject must be a non-empty array")
        subject = []
    for i, s in enumerate(subject):
        if not isinstance(s, dict):
            out.append(f"subject[{i}] is not an object")
            continue
        if "name" in s and not isinstance(s["name"], str):
            out.append(f"subject[{i}].name is not a string")
        out += [f"subject[{i}].{p}" for p in _digest_set_problems(s.get("digest"))]
    ptype = doc.get("predicateType")
    if not isinstance(ptype, str) or not ptype:
        out.append("predicateType must be a non-empty string")
    else:
        u = urlparse(ptype)
        if not u.scheme or (u.scheme in ("http", "https") and not u.netloc):
            out.append("predicateType is not an absolute URI")
    if "predicate" in doc and not isinstance(doc["predicate"], dict):
        out.append("predicate must be an object")
    try:
        json.dumps(doc, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        out.append(f"not serialisable as strict JSON: {exc}")
    return out


def _digest_set_problems(digest: Any) -> list[str]:
    if not isinstance(digest, dict) or not digest:
        return ["digest must be a non-empty map of algorithm to value"]
    out = []
    for algo, value in digest.items():
        if not isinstance(value, str):
            out.append(f"digest.{algo} is not a string")
        elif algo in _HEX_LENGTHS and (
            not _LOWER_HEX.match(value) or len(value) != _HEX_LENGTHS[algo]
        ):
            out.append(f"digest.{algo} is not {_HEX_LENGTHS[algo]} lowercase hex digits")
    return out


def resource_descriptor_problems(rd: Any, where: str) -> list[str]:
    if not isinstance(rd, dict):
        return [f"{where} is not an object"]
    if not any(k in rd for k in ("uri", "digest", "content")):
        return [f"{where}: a ResourceDescriptor needs uri, digest or content"]
    return [f"{where}.{p}" for p in _digest_set_problems(rd["digest"])] if "digest" in rd else []


def field_name_problems(value: Any, where: str = "predicate") -> list[str]:
    """Field names SHOULD be lowerCamelCase (digest algorithm names excepted)."""
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if where.endswith(".digest"):
                continue
            if not _CAMEL.match(k):
                out.append(f"{where}.{k} is not lowerCamelCase")
            out += field_name_problems(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += field_name_problems(v, f"{where}[{i}]")
    return out
