"""`gsc pf-crypt encrypt|decrypt|gen-key`: Gramine encrypted files, as gramine-sgx-pf-crypt.

  gsc pf-crypt gen-key -w KEYFILE
  gsc pf-crypt encrypt -w KEYFILE -i INPUT -o OUTPUT [--path P]
  gsc pf-crypt decrypt -w KEYFILE -i INPUT -o OUTPUT [--path P]

KEYFILE holds the 16-byte wrap key, raw. encrypt binds P into the file (default: OUTPUT as
given, lexically normalised); decrypt refuses a file whose bound path is not P (no path check
without --path). A directory INPUT is processed recursively into a mirrored OUTPUT tree, with
the bound path of each file being P (or OUTPUT) joined with its relative name. Outputs are
written atomically; decrypted files are mode 0600. Exit 0 ok, 1 authentication or format
failure (naming the stage), 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gsc.commands import options
from gsc.output import emit_json, say


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "pf-crypt",
        help="encrypt/decrypt Gramine encrypted files (protected files)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ops = parser.add_subparsers(dest="pf_op", metavar="OP", parser_class=type(parser))
    ops.required = True
    for op, text in (
        ("encrypt", "encrypt a file or directory tree (format version 2)"),
        ("decrypt", "decrypt and verify a file or directory tree"),
    ):
        p = ops.add_parser(op, help=text, description=text)
        p.add_argument("-w", "--wrap-key", required=True, type=Path, metavar="KEYFILE")
        p.add_argument("-i", "--input", required=True, type=Path, metavar="INPUT")
        p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTPUT")
        p.add_argument(
            "--path",
            metavar="P",
            help="path bound in the file (encrypt; default OUTPUT) / required to match (decrypt)",
        )
        options.add_json(p)
        p.set_defaults(run=run_encrypt if op == "encrypt" else run_decrypt)
    g = ops.add_parser("gen-key", help="write a new random 16-byte wrap key (mode 0600)")
    g.add_argument("-w", "--wrap-key", required=True, type=Path, metavar="KEYFILE")
    options.add_json(g)
    g.set_defaults(run=run_gen_key)
    return parser


def _report(args: argparse.Namespace, verb: str, done: list[Any]) -> None:
    if args.json:
        emit_json({"operation": verb, "files": [d.__dict__ for d in done]})
    else:
        for d in done:
            say(f"{verb} {d.input} -> {d.output} ({d.size} bytes, path {d.path!r})")


def run_encrypt(args: argparse.Namespace) -> int:
    from gsc.pfs import files

    key = files.read_key(args.wrap_key)
    base = args.path if args.path is not None else str(args.output)
    files.normalise(base)
    done = []
    for src, dst, rel in files.plan(args.input, args.output):
        files.ensure_parent(dst, 0o755)
        done.append(files.encrypt_file(src, dst, key, files.join_bound(base, rel)))
    _report(args, "encrypted", done)
    return 0


def run_decrypt(args: argparse.Namespace) -> int:
    from gsc.pfs import files

    key = files.read_key(args.wrap_key)
    done = []
    for src, dst, rel in files.plan(args.input, args.output):
        files.ensure_parent(dst, 0o700)
        check = None if args.path is None else files.join_bound(args.path, rel)
        done.append(files.decrypt_file(src, dst, key, check))
    _report(args, "decrypted", done)
    return 0


def run_gen_key(args: argparse.Namespace) -> int:
    from gsc.pfs import files

    files.gen_key(args.wrap_key)
    if args.json:
        emit_json({"key_file": str(args.wrap_key), "size": 16})
    else:
        say(f"wrote {args.wrap_key} (16-byte wrap key, mode 0600)")
    return 0
