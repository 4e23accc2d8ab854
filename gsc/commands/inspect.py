"""`gsc inspect IMAGE [--json]`: what runs when a container of IMAGE starts, and what it
needs. Exit 0 when the entrypoint can run, 1 when something it needs is missing,
2 for usage or input errors."""

from __future__ import annotations

import argparse

from gsc.commands import options
from gsc.errors import EXIT_OK, EXIT_VERIFY
from gsc.output import emit_json, result


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "inspect",
        help="analyse an image's entrypoint, interpreters and shared libraries",
        description="Read IMAGE (pulled when missing) without running it; report argv, "
        "environment, the program that really runs, its #! and ELF interpreters, its "
        "shared-library closure and anything missing.",
    )
    parser.add_argument("image", metavar="IMAGE", help=options.IMAGE_HELP)
    options.add_json(parser)
    options.add_pull(parser)
    options.add_registry(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from gsc.analysis import analyze
    from gsc.image.sources import open_source

    options.apply_registry(args)
    with open_source(args.image, pull=not args.no_pull).open() as image:
        analysis = analyze(image)
        doc = {**analysis.to_json(),
               "image": {"id": image.id, "ref": image.ref, "tags": list(image.repo_tags)},
               "warnings": list(image.warnings)}
    if args.json:
        emit_json(doc)
    else:
        _human(doc)
    return EXIT_OK if analysis.ok else EXIT_VERIFY


def _q(s: object) -> str:
    return repr(s) if isinstance(s, str) and (not s.isprintable() or " " in s) else str(s)


def _human(d: dict[str, object]) -> None:
    img = d["image"]
    ep = d["entrypoint"]
    assert isinstance(img, dict) and isinstance(ep, dict)
    result(f"image       {img['ref']} ({img['id']})")
    argv = d["argv"]
    assert isinstance(argv, list)
    result("argv        " + " ".join(_q(a) for a in argv))
    result(f"workdir     {d['workdir']}")
    result(f"user        {d['user'] or '(root, default)'}")
    env = d["env"]
    assert isinstance(env, dict)
    for i, (k, v) in enumerate(env.items()):
        result(("env         " if i == 0 else "            ") + f"{k}={_q(v)}")
    result(f"entrypoint  {ep['path'] or '(unresolved)'} [{ep['kind'] or '?'}]")
    for interp in ep["interpreters"]:
        result(f"  #! via    {interp}")
    if ep["elf_interpreter"]:
        result(f"  ELF interpreter  {ep['elf_interpreter']}")
    libs = d["libraries"]
    assert isinstance(libs, list)
    result(f"libraries   {len(libs)}")
    for lib in libs:
        result(f"  {lib['name']} => {lib['path']}")
    files = d["files"]
    assert isinstance(files, dict)
    result(f"files       {files['regular']} regular, {files['symlink']} symlinks, "
        f"{files['dir']} dirs, {files['other']} other, {files['bytes']} bytes")
    missing = d["missing"]
    assert isinstance(missing, list)
    if missing:
        result(f"MISSING     {len(missing)}")
        for m in missing:
            result(f"  {m}")
    else:
        result("status      ok: everything the entrypoint needs is present")
