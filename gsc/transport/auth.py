"""Registry credentials as `docker login` stores them: ``$DOCKER_CONFIG/config.json``
(default ``~/.docker/config.json``): ``credHelpers`` (per registry), ``credsStore`` (all
registries) and ``auths`` (base64 ``user:password``). A helper is the program
``docker-credential-NAME``, asked with ``get`` and the registry on stdin. Secrets stay in
memory: never logged, never in argv."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gsc.errors import InputError

DOCKER_HUB = "docker.io"
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
             "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print a secret
        return f"Credentials(username={self.username!r}, password=***)"


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _host_of(key: str) -> str:
    k = key
    for prefix in ("https://", "http://"):
        k = k.removeprefix(prefix)
    return k.split("/", 1)[0]


def _keys_for(registry: str) -> tuple[str, ...]:
    return _HUB_KEYS if registry == DOCKER_HUB else (registry,)


def _helper(name: str, registry: str) -> Credentials | None:
    program = shutil.which(f"docker-credential-{name}")
    if program is None:
        raise InputError(f"credential helper docker-credential-{name} (configured in "
                         f"{config_path()}) is not installed")
    server = "https://index.docker.io/v1/" if registry == DOCKER_HUB else registry
    try:
        res = subprocess.run([program, "get"], input=server.encode(), capture_output=True,
                             timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"credential helper docker-credential-{name}: {exc}") from None
    if res.returncode != 0:
        return None  # "credentials not found in native keychain": anonymous
    try:
        doc = json.loads(res.stdout)
        user, secret = doc["Username"], doc["Secret"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"credential helper docker-credential-{name} gave no usable "
                         "answer") from None
    if not isinstance(user, str) or not isinstance(secret, str):
        raise InputError(f"credential helper docker-credential-{name} gave no usable answer")
    return Credentials(user, secret)


def lookup(registry: str) -> Credentials | None:
    """Credentials for ``registry`` (host[:port]; "docker.io" for Docker Hub), or None
    for anonymous access. InputError when the configuration is unreadable."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"malformed {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"malformed {path}: not a JSON object")
    keys = _keys_for(registry)
    helpers = doc.get("credHelpers")
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if isinstance(name, str) and _host_of(key) in keys:
                return _helper(name, registry)
    auths = doc.get("auths")
    entry = None
    if isinstance(auths, dict):
        for key, value in auths.items():
            if _host_of(key) in keys and isinstance(value, dict):
                entry = value
                break
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        found = _helper(store, registry)
        if found is not None:
            return found
    if entry is None:
        return None
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(entry["username"], entry["password"])
    token = entry.get("auth")
    if not isinstance(token, str) or not token:
        return None
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"malformed auth entry for {registry} in {path}") from None
    if not sep:
        raise InputError(f"malformed auth entry for {registry} in {path}")
    return Credentials(user, password)
