"""`gsc build`: image -> analysis -> manifest -> MRENCLAVE -> SIGSTRUCT -> output image."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gsc import __version__
from gsc.analysis import analyze
from gsc.build import docker_api, labels
from gsc.build.config import BuildConfig
from gsc.build.naming import check_tag, default_tag
from gsc.build.trusted import select_trusted
from gsc.errors import InputError
from gsc.image import load_image
from gsc.manifest import schema
from gsc.manifest.merge import Override, merge
from gsc.manifest.render import find_key_line, parse_toml, render_template, render_user_manifest
from gsc.progress import Progress
from gsc.runtime_binary import runtime_path
from gsc.sgx import sigstruct
from gsc.sgx.measure import mrenclave as measure_mrenclave
from gsc.sgx.params import SgxParams
from gsc.sgx.signer import load_signer


@dataclass
class BuildRequest:
    image: str
    manifest: Path | None
    config: BuildConfig
    tag: str | None = None
    insecure_args: bool = False
    date: dt.date | None = None


@dataclass
class BuildResult:
    tag: str
    image_id: str
    base_image_id: str
    signed: bool
    mrenclave: str
    mrsigner: str | None
    trusted_files: int
    manifest_bytes: int
    overrides: list[Override]
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "image_id": self.image_id,
            "base_image_id": self.base_image_id,
            "signed": self.signed,
            "mrenclave": self.mrenclave,
            "mrsigner": self.mrsigner,
            "trusted_files": self.trusted_files,
            "manifest_bytes": self.manifest_bytes,
            "overrides": [o.describe() for o in self.overrides],
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class ShieldFiles:
    """What goes under /gsc/ in the output image."""

    runtime: bytes
    manifest: bytes
    signature: bytes | None


def _template_context(
    req: BuildRequest, image: Any, analysis: Any, trusted: list[Any]
) -> dict[str, Any]:
    cfg = req.config
    env = dict(image.config.env)
    for name in cfg.env_passthrough:
        env.pop(name, None)
    return {
        "gsc_version": __version__,
        "image_ref": req.image,
        "entrypoint": analysis.entrypoint.path,
        "argv": list(analysis.argv),
        "env": env,
        "env_passthrough": list(cfg.env_passthrough),
        "workdir": image.config.workdir or "/",
        "user": image.config.user,
        "insecure_args": req.insecure_args,
        "log_level": cfg.log_level,
        "debug": cfg.debug,
        "enclave_size": cfg.enclave_size,
        "max_threads": cfg.max_threads,
        "isvprodid": cfg.isvprodid,
        "isvsvn": cfg.isvsvn,
        "allowed_files": list(cfg.all_allowed),
        "trusted_files": trusted,
    }


def compose_manifest(
    req: BuildRequest, context: dict[str, Any]
) -> tuple[bytes, dict[str, Any], list[Override]]:
    """Render the template, merge the user's manifest over it, validate, canonicalise."""
    template_text = render_template("manifest.toml.j2", context)
    doc = parse_toml(template_text, "templates/manifest.toml.j2")
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
        doc, overrides = merge(doc, user_doc)
    try:
        data = schema.render(doc, "manifest")
    except InputError as exc:
        raise InputError(_locate(str(exc.message), req.manifest, user_text)) from None
    return data, schema.load(data, "manifest"), overrides


def _locate(message: str, path: Path | None, text: str) -> str:
    """Point a validation error at the user's file and line when the key came from there."""
    if path is None:
        return message
    key = message.split(": ", 2)[1] if message.count(": ") >= 2 else ""
    line = find_key_line(text, key) if key else None
    if line is None:
        return message
    return f"{path}:{line}: {message.split(': ', 1)[1]}"


def run_build(req: BuildRequest, progress: Progress) -> BuildResult:
    cfg = req.config
    if req.tag is not None:
        try:
            check_tag(req.tag)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    signing_key = None
    if cfg.key is not None:
        # Load (and check) the key before the long phases, so a bad key fails fast.
        signing_key = load_signer(cfg.key, cfg.passphrase_file)
    runtime = runtime_path().read_bytes()
    client = docker_api.connect()

    def reading(done: int, total: int) -> None:
        mib = 1 << 20
        progress.update(f"{done // mib} of ~{total // mib} MiB" if total else f"{done // mib} MiB")

    with progress.phase("image", f"reading and hashing image {req.image}"), load_image(
        req.image, client=client, progress=reading
    ) as image:
        with progress.phase("analyze", "analysing entrypoint"):
            analysis = analyze(image)
        if analysis.missing:
            raise InputError(
                f"cannot shield {req.image}: its entrypoint needs what the image lacks: "
                + ", ".join(analysis.missing)
            )
        with progress.phase("trusted", "selecting trusted files"):
            selection = select_trusted(
                ((e.path, e.sha256) for e in image.fs.entries() if e.kind == "file" and e.sha256),
                exclude=cfg.all_excluded,
                include=cfg.trusted_files,
            )
        for name in selection.skipped_unrepresentable:
            progress.note(f"warning: not trusting {name!r}: its name is not valid UTF-8")
        with progress.phase("manifest", "writing manifest"):
            context = _template_context(req, image, analysis, selection.files)
            manifest, doc, overrides = compose_manifest(req, context)
        for o in overrides:
            progress.note(f"manifest override: {o.describe()}")
        base_id = image.id
        base_digest = _base_digest(image)
        image_config = image.config

    with progress.phase("measure", "measuring enclave"):
        params = SgxParams.from_table(doc.get("sgx", {}), "manifest")
        mrenclave = measure_mrenclave(manifest, runtime, params)
    signature: bytes | None = None
    mrsigner: str | None = None
    info: dict[str, Any] = {}
    if signing_key is not None:
        with progress.phase("sign", "signing SIGSTRUCT"):
            date = req.date or sigstruct.today_utc()
            signature = sigstruct.sign_enclave(manifest, runtime, signing_key, date)
            info = sigstruct.Sigstruct.from_bytes(signature).to_json()
            mrsigner = str(info["mrsigner"])
    tag = req.tag or default_tag(req.image, base_id, signed=signature is not None)
    image_labels = {
        labels.BASE_NAME: req.image,
        labels.BASE_DIGEST: base_digest,
        labels.VERSION: __version__,
        labels.SIGNED: "true" if signature is not None else "false",
        labels.MRENCLAVE: mrenclave.hex(),
        labels.MRSIGNER: mrsigner or "",
        labels.ISVPRODID: str(params.isvprodid),
        labels.ISVSVN: str(params.isvsvn),
        labels.DEBUG: "true" if params.debug else "false",
        labels.DATE: str(info.get("date", "")),
        labels.INSECURE_ARGS: "true" if req.insecure_args else "false",
        labels.TRUSTED_FILES: str(len(selection.files)),
    }
    entrypoint = [labels.RUNTIME_PATH]
    cmd: list[str] = []
    if req.insecure_args:
        # Docker semantics: `docker run IMG ARGS` replaces Cmd and keeps the Entrypoint.
        entrypoint += list(image_config.entrypoint or [])
        cmd = list(image_config.cmd or [])
    with progress.phase("emit", "building output image"):
        image_id = emit_image(
            client,
            base_id,
            ShieldFiles(runtime, manifest, signature),
            entrypoint=entrypoint,
            cmd=cmd,
            image_labels=image_labels,
            progress=progress,
        )
        docker_api.tag_image(client, image_id, tag)
    return BuildResult(
        tag=tag,
        image_id=image_id,
        base_image_id=base_id,
        signed=signature is not None,
        mrenclave=mrenclave.hex(),
        mrsigner=mrsigner,
        trusted_files=len(selection.files),
        manifest_bytes=len(manifest),
        overrides=overrides,
        seconds=dict(progress.seconds),
        skipped=selection.skipped_unrepresentable,
    )


def _base_digest(image: Any) -> str:
    for rd in getattr(image, "repo_digests", []) or []:
        if "@" in rd:
            return str(rd.split("@", 1)[1])
    return str(image.id)


def emit_image(
    client: Any,
    base_id: str,
    files: ShieldFiles,
    *,
    entrypoint: list[str] | None,
    cmd: list[str] | None,
    image_labels: dict[str, str],
    progress: Progress,
    signature_only: bool = False,
) -> str:
    """Build FROM base_id plus one layer with /gsc/*; return the new image ID (untagged)."""
    dockerfile = render_template(
        "Dockerfile.j2",
        {
            "base_image_id": base_id,
            "entrypoint": entrypoint,
            "cmd": cmd,
        },
    )
    members: dict[str, tuple[bytes, int]] = {"Dockerfile": (dockerfile.encode(), 0o644)}
    if not signature_only:
        members["gsc/gsc-runtime"] = (files.runtime, 0o755)
        members["gsc/entrypoint.manifest.sgx"] = (files.manifest, 0o644)
    if files.signature is not None:
        members["gsc/entrypoint.sig"] = (files.signature, 0o644)
    return docker_api.build_image(
        client, docker_api.context_tar(members), labels=image_labels, log=progress.update
    )
