"""Build configuration: built-in defaults < config file (-c, YAML) < command-line flags.

Config file keys (all optional):

    key: path/to/enclave-key.pem        # signing key; relative paths are relative to the file
                                        # (or a PKCS#11 URI: "pkcs11:token=T;object=K")
    passphrase_file: path/to/pass.txt
    enclave_size: "1G"
    max_threads: 16
    debug: false
    log_level: error                    # runtime log level: error|warning|debug|trace
    isvprodid: 0
    isvsvn: 0
    allowed_files: ["/data/", "/var/log/app/"]   # extra allowed paths (not hashed)
    trusted_files: ["/opt/extra/file"]           # force-include paths otherwise excluded
    exclude_trusted: ["/srv/cache"]              # extra paths never trusted
    env_passthrough: ["TZ", "LANG"]              # host variables passed through at run time
    readonly_files: ["/input/"]                  # readable, never writable (not hashed)
    infer_defaults: true                # false: no VOLUME / service-account / state-dir rules
    verify_trusted_files: auto          # at_launch | on_first_use | auto (at_launch when the
                                        # image exposes ports; docs/runtime.md)
    exclude_defaults: ["/var/lib/misc"]          # inferred defaults to drop, by path
    encrypt: ["/models:model"]          # PATH[:KEYNAME]: replaced by encrypted files
    encryption_keys: {model: keys/model.key}     # 16-byte wrap-key files (mode 0600)
    encryption_key_file_at: {model: /run/secrets/model}  # where the runtime reads the key
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from gsc.errors import InputError
from gsc.files import read_text_input
from gsc.resources import template_text
from gsc.sgx.params import DEFAULT_ENCLAVE_SIZE

LOG_LEVELS = ("error", "warning", "debug", "trace")

_KNOWN_KEYS = {
    "key", "passphrase_file", "enclave_size", "max_threads", "debug", "log_level",
    "isvprodid", "isvsvn", "allowed_files", "trusted_files", "exclude_trusted",
    "env_passthrough", "readonly_files", "infer_defaults", "exclude_defaults",
    "encrypt", "encryption_keys", "encryption_key_file_at", "verify_trusted_files",
}
# When the runtime hashes the trusted files (gsc.verify_trusted_files); "auto" lets the
# build decide from the image (gsc.shield.defaults.verification).
VERIFY_CHOICES = ("auto", "at_launch", "on_first_use")


@dataclass(frozen=True)
class BuildConfig:
    key: Path | str | None = None  # a PEM path, or a pkcs11: URI string
    passphrase_file: Path | None = None
    enclave_size: str = DEFAULT_ENCLAVE_SIZE
    max_threads: int = 16
    debug: bool = False
    log_level: str = "error"
    isvprodid: int = 0
    isvsvn: int = 0
    allowed_files: tuple[str, ...] = ()
    trusted_files: tuple[str, ...] = ()
    exclude_trusted: tuple[str, ...] = ()
    env_passthrough: tuple[str, ...] = ()
    readonly_files: tuple[str, ...] = ()
    infer_defaults: bool = True
    exclude_defaults: tuple[str, ...] = ()
    verify_trusted_files: str = "auto"
    # --encrypt: (path as given, key name); wrap-key files and run-time key-file paths by
    # key name (gsc.shield.encrypt).
    encrypt: tuple[tuple[str, str], ...] = ()
    encryption_keys: tuple[tuple[str, Path], ...] = ()
    encryption_key_file_at: tuple[tuple[str, str], ...] = ()
    # Built-in lists from templates/defaults.toml, kept apart from the user's additions.
    default_allowed: tuple[str, ...] = field(default=())
    default_exclude: tuple[str, ...] = field(default=())

    def with_overrides(self, **changes: Any) -> BuildConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def all_allowed(self) -> tuple[str, ...]:
        return _dedup(self.default_allowed + self.allowed_files)

    @property
    def all_excluded(self) -> tuple[str, ...]:
        return _dedup(self.default_exclude + self.exclude_trusted)


def _dedup(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def load_defaults() -> BuildConfig:
    data = tomllib.loads(template_text("defaults.toml"))
    return BuildConfig(
        enclave_size=str(data["enclave_size"]),
        max_threads=int(data["max_threads"]),
        log_level=str(data["log_level"]),
        default_allowed=tuple(data["allowed_files"]),
        default_exclude=tuple(data["exclude_trusted"]),
    )


def _str_list(value: Any, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{source}: {key}: expected a list of strings")
    return tuple(value)


def _abs_paths(values: tuple[str, ...], key: str, source: str) -> tuple[str, ...]:
    for v in values:
        if not v.startswith("/"):
            raise InputError(f"{source}: {key}: {v!r} is not an absolute path")
    return values


def _named(value: Any, key: str, source: str, here: Path) -> tuple[tuple[str, Any], ...]:
    """{KEYNAME: path}: key files relative to the config file; key-file-at absolute."""
    from gsc.shield.encrypt import parse_named

    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
        raise InputError(f"{source}: {key}: expected a mapping of key name to path")
    out: list[tuple[str, Any]] = []
    for name, path in value.items():
        parse_named(f"{name}={path}", f"{source}: {key}")
        if key == "encryption_keys":
            out.append((name, (here / path).resolve()))
        else:
            if not path.startswith("/"):
                raise InputError(f"{source}: {key}: {path!r} is not an absolute path")
            out.append((name, path))
    return tuple(out)


def check_env_name(name: str, where: str) -> str:
    if not name or "=" in name or "\0" in name:
        raise InputError(f"{where}: invalid variable name {name!r}")
    return name


def load_config(path: Path | None, base: BuildConfig | None = None) -> BuildConfig:
    """Read a YAML config file on top of the built-in defaults."""
    cfg = base or load_defaults()
    if path is None:
        return cfg
    source = str(path)
    text = read_text_input(path, "config file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{source}:{where}: invalid YAML") from None
    if data is None:
        return cfg
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a mapping of settings at the top level")
    unknown = sorted(set(map(str, data)) - _KNOWN_KEYS)
    if unknown:
        raise InputError(f"{source}: unknown setting {unknown[0]!r}")
    here = path.parent
    changes: dict[str, Any] = {}
    for key in ("key", "passphrase_file"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise InputError(f"{source}: {key}: expected a file path")
            is_uri = key == "key" and data[key].startswith("pkcs11:")
            changes[key] = data[key] if is_uri else (here / data[key]).resolve()
    if "enclave_size" in data:
        if not isinstance(data["enclave_size"], str):
            raise InputError(f"{source}: enclave_size: expected a string like \"1G\"")
        changes["enclave_size"] = data["enclave_size"]
    for key in ("max_threads", "isvprodid", "isvsvn"):
        if key in data:
            if not isinstance(data[key], int) or isinstance(data[key], bool):
                raise InputError(f"{source}: {key}: expected an integer")
            changes[key] = data[key]
    for key in ("debug", "infer_defaults"):
        if key in data:
            if not isinstance(data[key], bool):
                raise InputError(f"{source}: {key}: expected true or false")
            changes[key] = data[key]
    if "verify_trusted_files" in data:
        if data["verify_trusted_files"] not in VERIFY_CHOICES:
            raise InputError(f"{source}: verify_trusted_files: expected one of "
                             f"{', '.join(VERIFY_CHOICES)}")
        changes["verify_trusted_files"] = data["verify_trusted_files"]
    if "log_level" in data:
        if data["log_level"] not in LOG_LEVELS:
            raise InputError(f"{source}: log_level: expected one of {', '.join(LOG_LEVELS)}")
        changes["log_level"] = data["log_level"]
    for key in ("allowed_files", "trusted_files", "exclude_trusted", "readonly_files",
                "exclude_defaults"):
        if key in data:
            changes[key] = _abs_paths(_str_list(data[key], key, source), key, source)
    if "encrypt" in data:
        from gsc.shield.encrypt import parse_spec

        specs = [parse_spec(t, f"{source}: encrypt")
                 for t in _str_list(data["encrypt"], "encrypt", source)]
        changes["encrypt"] = tuple((s.path, s.key_name) for s in specs)
    for key in ("encryption_keys", "encryption_key_file_at"):
        if key in data:
            changes[key] = _named(data[key], key, source, here)
    if "env_passthrough" in data:
        names = _str_list(data["env_passthrough"], "env_passthrough", source)
        for n in names:
            check_env_name(n, f"{source}: env_passthrough")
        changes["env_passthrough"] = names
    return replace(cfg, **changes)
