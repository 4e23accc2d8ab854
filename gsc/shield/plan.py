"""Plan a shielded image: (image, build config, user manifest, key or none) -> a frozen Plan.

The plan holds everything the output image will be: the canonical manifest bytes, the SGX
parameters, MRENCLAVE (measured once), SIGSTRUCT or none, the /gsc/ files, the output
config (entrypoint, cmd, labels) and the warnings. Planning reads the image (any
ImageSource: the Engine or an archive) and never talks to Docker, so it is testable on
an archive; gsc.shield.emit writes a plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gsc import __version__
from gsc.analysis import analyze
from gsc.errors import InputError, VerificationError
from gsc.image.fs import ImageFS
from gsc.image.loader import Image
from gsc.image.reference import ImageRef, output_name
from gsc.manifest import schema
from gsc.manifest.merge import Override, merge
from gsc.manifest.render import find_key_line, render_user_manifest
from gsc.sgx import sigstruct
from gsc.sgx.measure import mrenclave as measure_mrenclave
from gsc.sgx.params import SgxParams
from gsc.sgx.signer import Signer
from gsc.shield import checks, defaults, layout, namespace
from gsc.shield import container_config as config_pin
from gsc.shield import encrypt as encryption
from gsc.shield.base_manifest import base_manifest
from gsc.shield.config import BuildConfig
from gsc.shield.trusted import TrustedFile, select_trusted

Phase = Callable[[str, str], Any]   # progress.phase(name, title) context manager factory


@dataclass(frozen=True)
class BuildRequest:
    image: str
    manifest: Path | None
    config: BuildConfig
    tag: str | None = None
    insecure_args: bool = False
    date: dt.date | None = None
    allow_audit_mode: bool = False


@dataclass(frozen=True)
class GscFiles:
    """What goes under /gsc/ (None: not written by this emission)."""

    runtime: bytes | None
    manifest: bytes | None
    signature: bytes | None

    def members(self) -> dict[str, tuple[bytes, int]]:
        """Build-context members {relative path: (bytes, mode)} for the emitter."""
        out: dict[str, tuple[bytes, int]] = {}
        d = layout.GSC_DIR.strip("/")
        if self.runtime is not None:
            out[f"{d}/{layout.RUNTIME_NAME}"] = (self.runtime, layout.RUNTIME_MODE)
        if self.manifest is not None:
            out[f"{d}/{layout.MANIFEST_NAME}"] = (self.manifest, layout.DATA_MODE)
        if self.signature is not None:
            out[f"{d}/{layout.SIG_NAME}"] = (self.signature, layout.DATA_MODE)
        return out


@dataclass(frozen=True)
class OutputImage:
    """The output image: FROM base_id, plus files, with this config."""

    base_id: str
    files: GscFiles
    entrypoint: tuple[str, ...] | None      # None: keep the base's entrypoint and cmd
    cmd: tuple[str, ...] | None
    labels: tuple[tuple[str, str], ...]
    tag: str
    encrypted: encryption.EncryptedTree | None = None   # gsc build --encrypt


@dataclass(frozen=True)
class Plan:
    output: OutputImage
    manifest: bytes
    params: SgxParams
    mrenclave: bytes
    sigstruct: bytes | None
    mrsigner: str | None
    date: str
    trusted_files: int
    overrides: tuple[Override, ...]
    warnings: tuple[str, ...]
    defaults: tuple[defaults.Default | defaults.Setting, ...] = ()

    @property
    def encrypted(self) -> encryption.EncryptedTree | None:
        return self.output.encrypted

    @property
    def signed(self) -> bool:
        return self.sigstruct is not None


def template_context(req: BuildRequest, image: Image, entrypoint: str, argv: list[str],
                     trusted: list[TrustedFile],
                     encrypted: encryption.EncryptedTree | None = None) -> dict[str, Any]:
    cfg = req.config
    env = dict(image.config.env)
    for name in cfg.env_passthrough:
        env.pop(name, None)
    return {
        "gsc_version": __version__,
        "image_ref": req.image,
        "entrypoint": entrypoint,
        "argv": list(argv),
        "env": env,
        "env_passthrough": list(cfg.env_passthrough),
        "workdir": image.config.workdir,
        "user": image.config.user,
        "insecure_args": req.insecure_args,
        "log_level": cfg.log_level,
        "debug": cfg.debug,
        "enclave_size": cfg.enclave_size,
        "max_threads": cfg.max_threads,
        "isvprodid": cfg.isvprodid,
        "isvsvn": cfg.isvsvn,
        "allowed_files": list(cfg.all_allowed),
        "readonly_files": list(cfg.readonly_files),
        "trusted_files": trusted,
        "encrypted_mounts": encrypted.manifest_mounts() if encrypted else [],
        "encrypted_key_files": dict(cfg.encryption_key_file_at),
        "verify_at_launch": defaults.verification(cfg, image.config.raw)[0],
    }


def compose_manifest(
    req: BuildRequest, context: dict[str, Any], fs: ImageFS, container_config: str
) -> tuple[bytes, dict[str, Any], list[Override], tuple[str, ...]]:
    """Build the base manifest, merge the user's manifest over it, pin the image's namespace
    (gsc.symlinks) and the output config (gsc.container_config), validate, canonicalise.
    Also returns the allowed paths dropped because they are pinned symlinks."""
    doc = base_manifest(context)
    overrides: list[Override] = []
    user_text = ""
    if req.manifest is not None:
        user_text, user_doc = render_user_manifest(req.manifest, context)
        if isinstance(user_doc.get("loader"), dict) and (
            "argv" in user_doc["loader"] or "argv_src_file" in user_doc["loader"]
        ):
            # The user's choice of argument source replaces the template's.
            doc["loader"].pop("argv", None)
            doc["loader"].pop("insecure__use_cmdline_argv", None)
        written = [k for k in PINS if k in (user_doc.get("gsc") or {})]
        if written:
            raise InputError(f"{req.manifest}: gsc.{written[0]} is written by gsc build "
                             "from the image; remove it from the manifest")
        doc, overrides = merge(doc, user_doc)
    doc, dropped = _pin(doc, fs, container_config)
    try:
        data, final = schema.render_loaded(doc, "manifest")
    except InputError as exc:
        raise InputError(_locate(str(exc.message), req.manifest, user_text)) from None
    return data, final, overrides, dropped


# Keys of [gsc] that gsc build computes (a user's manifest may not set them).
PINS = ("symlinks", "executables", "container_config")


def _pin(doc: dict[str, Any], fs: ImageFS,
         container_config: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """doc (merged, not yet canonical) with gsc.symlinks and gsc.container_config set."""
    doc = schema.canonicalise(doc)
    pinned = namespace.pin(fs, namespace.Rules.from_manifest(doc))
    sgx = doc.get("sgx")
    if pinned.dropped_allowed and isinstance(sgx, dict):
        sgx["allowed_files"] = [u for u in sgx.get("allowed_files", [])
                                if u.removeprefix("file:") not in pinned.dropped_allowed]
    gsc = doc.setdefault("gsc", {})
    if pinned.symlinks:
        gsc["symlinks"] = pinned.manifest_value()
    gsc["executables"] = executables(doc, fs)
    gsc["container_config"] = container_config
    return doc, pinned.dropped_allowed


def executables(doc: dict[str, Any], fs: ImageFS) -> list[str]:
    """gsc.executables: the trusted files that are regular files with an x bit in the image
    (sorted, as file: URIs). The runtime grants Landlock EXECUTE to these only."""
    sgx = doc.get("sgx") if isinstance(doc.get("sgx"), dict) else {}
    out = []
    for entry in sgx.get("trusted_files", []) if isinstance(sgx, dict) else []:
        uri = entry.get("uri") if isinstance(entry, dict) else None
        if not isinstance(uri, str) or not uri.startswith("file:"):
            continue
        f = fs.get(uri.removeprefix("file:"))
        if f is not None and f.kind == "file" and f.mode & 0o111:
            out.append(uri)
    return sorted(out, key=lambda u: u.encode("utf-8", "surrogatepass"))


def _locate(message: str, path: Path | None, text: str) -> str:
    """Point a validation error at the user's file and line when the key came from there."""
    if path is None:
        return message
    key = message.split(": ", 2)[1] if message.count(": ") >= 2 else ""
    line = find_key_line(text, key) if key else None
    if line is None:
        return message
    return f"{path}:{line}: {message.split(': ', 1)[1]}"


def _key_source_warnings(tree: encryption.EncryptedTree, doc: dict[str, Any]) -> list[str]:
    """A key name the manifest gives no run-time source: the app must provide it."""
    files = (doc.get("gsc") or {}).get("encrypted_key_files") or {}
    insecure = (doc.get("fs") or {}).get("insecure__keys") or {}
    return [f"encryption key {name!r} has no key file in the manifest "
            f"(--encryption-key-file-at {name}=PATH): the app must write it to "
            f"/dev/attestation/keys/{name} before it opens an encrypted file"
            for name in sorted({m.key_name for m in tree.mounts})
            if name not in files and name not in insecure]


def base_digest(image: Image) -> str:
    for rd in image.repo_digests:
        if "@" in rd:
            return str(rd.split("@", 1)[1])
    return image.id


def plan_build(req: BuildRequest, image: Image, runtime: bytes,
               key: Signer | None, phase: Phase) -> Plan:
    """The plan for shielding ``image`` (read completely) as ``req`` asks."""
    cfg = req.config
    warnings: list[str] = list(image.warnings)
    with phase("analyze", "analysing entrypoint"):
        analysis = analyze(image)
    if analysis.missing:
        raise VerificationError(
            f"cannot shield {req.image}: its entrypoint needs what the image lacks: "
            + ", ".join(analysis.missing)
        )
    with phase("trusted", "selecting trusted files"):
        inferred = defaults.infer(image, cfg, enabled=cfg.infer_defaults,
                                  dropped=cfg.exclude_defaults)
        cfg = inferred.apply(cfg)
        req = replace(req, config=cfg)
        warnings += inferred.warnings
        encrypted = encryption.select(
            image.fs, [encryption.EncryptSpec(p, k) for p, k in cfg.encrypt],
            layout.GSC_DIR) if cfg.encrypt else None
        selection = select_trusted(
            ((e.path, e.sha256) for e in image.fs.entries() if e.kind == "file" and e.sha256),
            # encrypted files are never trusted: no hash over plaintext or ciphertext
            exclude=cfg.all_excluded + (encrypted.roots if encrypted else ()),
            include=cfg.trusted_files,
            allowed=cfg.all_allowed + cfg.readonly_files,
        )
    warnings += [f"not trusting {name!r}: its name is not valid UTF-8"
                 for name in selection.skipped_unrepresentable]
    entrypoint: tuple[str, ...] = (layout.RUNTIME_PATH,)
    cmd: tuple[str, ...] = ()
    if req.insecure_args:
        # Docker semantics: `docker run IMG ARGS` replaces Cmd and keeps the Entrypoint.
        entrypoint += tuple(image.config.entrypoint or [])
        cmd = tuple(image.config.cmd or [])
    out_config = config_pin.output_config(image.config.raw, entrypoint, cmd)
    if out_config.get("Healthcheck", {}).get("Test", ["NONE"])[:1] != ["NONE"]:
        warnings.append("the image has a HEALTHCHECK: health checks run outside the "
                        "runtime's policy (they are not its children)")
    with phase("manifest", "writing manifest"):
        context = template_context(req, image, analysis.entrypoint.path or "", analysis.argv,
                                   selection.files, encrypted)
        manifest, doc, overrides, dropped = compose_manifest(
            req, context, image.fs, config_pin.encode(out_config))
        checks.audit_mode(doc, allowed=req.allow_audit_mode)
        warnings += checks.env_warnings(image, analysis, doc)
        if encrypted is not None:
            warnings += _key_source_warnings(encrypted, doc)
    warnings += [f"allowed path {p!r} is a symlink in a trusted directory: pinned, not "
                 "allowed (what it points to keeps its own policy)"
                 for p in dropped if p not in {a.rstrip("/") for a in cfg.default_allowed}]
    with phase("measure", "measuring enclave"):
        params = SgxParams.from_table(doc.get("sgx", {}), "manifest")
        mrenclave = measure_mrenclave(manifest, runtime, params)
    signature: bytes | None = None
    mrsigner: str | None = None
    date = ""
    if key is not None:
        with phase("sign", "signing SIGSTRUCT"):
            signature = sigstruct.sign_measured(mrenclave, params, key,
                                                req.date or sigstruct.today_utc())
            info = sigstruct.Sigstruct.from_bytes(signature).to_json()
            mrsigner, date = str(info["mrsigner"]), str(info["date"])
    tag = req.tag or output_name(ImageRef.parse(req.image), image.id, image.repo_tags,
                                 signed=signature is not None)
    labels = {
        layout.BASE_NAME: req.image,
        layout.BASE_DIGEST: base_digest(image),
        layout.VERSION: __version__,
        layout.SIGNED: "true" if signature is not None else "false",
        layout.MRENCLAVE: mrenclave.hex(),
        layout.MRSIGNER: mrsigner or "",
        layout.ISVPRODID: str(params.isvprodid),
        layout.ISVSVN: str(params.isvsvn),
        layout.DEBUG: "true" if params.debug else "false",
        layout.DATE: date,
        layout.INSECURE_ARGS: "true" if req.insecure_args else "false",
        layout.TRUSTED_FILES: str(len(selection.files)),
    }
    return Plan(
        output=OutputImage(
            base_id=image.id,
            files=GscFiles(runtime, manifest, signature),
            entrypoint=entrypoint,
            cmd=cmd,
            labels=tuple(labels.items()),
            tag=tag,
            encrypted=encrypted,
        ),
        manifest=manifest,
        params=params,
        mrenclave=mrenclave,
        sigstruct=signature,
        mrsigner=mrsigner,
        date=date,
        trusted_files=len(selection.files),
        overrides=tuple(overrides),
        warnings=tuple(warnings) + tuple(f"manifest override: {o.describe()}"
                                         for o in overrides),
        defaults=inferred.entries + tuple(
            s for s in (defaults.verification(cfg, image.config.raw)[1],) if s is not None),
    )
