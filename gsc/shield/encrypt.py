"""`gsc build --encrypt PATH[:KEYNAME]`: image files replaced by Gramine encrypted files.

Three steps, each pure apart from the private work directory it is given:

- ``select(fs, specs)`` (planning): which files of the image (symlinks in PATH followed,
  as the policy does) become encrypted files, bound to their canonical path, and the
  ``fs.mounts`` entries that name them. Symbolic links, special files and hard links in
  an encrypted tree are refused: they cannot be encrypted and must not leak the plaintext.
- ``rewrite(layers, tree, keys, resolve, workdir)`` (emitting): every base layer is read
  with gsc's own tar reader; a layer holding a regular file (any version) at an encrypted
  path is rewritten without it: its tar bytes are copied verbatim except the spans of those
  members, so nothing else in it changes. Layers without such files stay byte-identical.
  The final version of each file is encrypted as it streams by (the plaintext is never
  written to disk) into a ciphertext that goes into the added layer. A regular file
  anywhere else whose contents equal a plaintext being encrypted (a copy) refuses the
  build: that plaintext would stay in the image.
- the ciphertexts are deterministic (``file_randbytes``): the pf writer's random bytes
  (nonce, node keys) come from HMAC-SHA256 in counter mode, keyed by a per-file seed
  HMAC-SHA256(wrap key, "gsc-pf-build-v1" 0 path 0 SHA-256(plaintext)). The same wrap
  key, path and plaintext give the same file (reproducible builds); different plaintexts
  get unrelated node keys, so no GCM key ever encrypts two different node contents.

The wrap keys stay in this process's memory: they are read once from files that only their
owner may read (``read_wrap_key``) and never written, logged or put in an image.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import stat
import struct
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gsc.errors import InputError, VerificationError
from gsc.image import paths
from gsc.image.fs import ImageFS
from gsc.image.tarstream import (
    BLOCK,
    HEADER_ONLY,
    DecompressSource,
    ReaderSource,
    Source,
    SubSource,
    TarError,
    TarReader,
    compression,
)
from gsc.manifest.schema import KEY_NAME
from gsc.pfs.layout import MAX_PATH_BYTES
from gsc.pfs.writer import RandBytes, encrypt_stream
from gsc.transport.blobs import OCI_LAYER, Descriptor, LayerBlob

DEFAULT_KEY = "default"
KEY_SIZE = 16
KDF_LABEL = b"gsc-pf-build-v1"
_WHITEOUT = ".wh."


# ------------------------------------------------------------------ options and key files
@dataclass(frozen=True)
class EncryptSpec:
    path: str       # as given (absolute); symlinks are followed in the image
    key_name: str


def _check_key_name(name: str, where: str) -> str:
    if not KEY_NAME.fullmatch(name):
        raise InputError(f"{where}: invalid key name {name!r} (1 to 64 of A-Z a-z 0-9 _ -, "
                         "not starting with _)")
    return name


def parse_spec(text: str, where: str = "--encrypt") -> EncryptSpec:
    """``PATH[:KEYNAME]`` (a trailing ``:NAME`` is a key name when it is one)."""
    path, sep, name = text.rpartition(":")
    if not sep or "/" in name or not name:
        path, name = text, DEFAULT_KEY
    if not path.startswith("/"):
        raise InputError(f"{where}: {path!r} is not an absolute path")
    if "\0" in path:
        raise InputError(f"{where}: path contains a NUL byte")
    return EncryptSpec(paths.normalize(path), _check_key_name(name, where))


def parse_named(text: str, where: str) -> tuple[str, str]:
    """``NAME=VALUE`` (``VALUE`` alone: NAME is "default")."""
    name, sep, value = text.partition("=")
    if not sep:
        name, value = DEFAULT_KEY, text
    if not value:
        raise InputError(f"{where}: expected NAME=VALUE, got {text!r}")
    return _check_key_name(name, where), value


def read_wrap_key(path: Path, where: str = "--encryption-key") -> bytes:
    """The 16 raw bytes of a wrap-key file, read once. Refused: not a regular file, not
    exactly 16 bytes, or readable by group or others (a key file must be private to its
    owner, as ssh insists; `gsc pf-crypt gen-key` writes mode 0600)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{where}: cannot read key file {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{where}: key file {path}: not a regular file")
        if st.st_mode & 0o077:
            raise InputError(f"{where}: key file {path} is accessible by group or others "
                             f"(mode {stat.S_IMODE(st.st_mode):04o}); `chmod 600 {path}`")
        key = os.read(fd, KEY_SIZE + 1)
        if len(key) == KEY_SIZE:
            more = os.read(fd, 1)
            key += more
    finally:
        os.close(fd)
    if len(key) != KEY_SIZE:
        raise InputError(f"{where}: key file {path}: must hold exactly 16 raw bytes "
                         "(`gsc pf-crypt gen-key -w FILE`)")
    return key


def check_keys(specs: Sequence[EncryptSpec], keys: dict[str, Any]) -> None:
    """Every key name used has a key; every key given is used."""
    used = {s.key_name for s in specs}
    for name in sorted(used - set(keys)):
        raise InputError(f"--encrypt uses key {name!r}: give --encryption-key {name}=FILE")
    for name in sorted(set(keys) - used):
        raise InputError(f"--encryption-key {name}: no --encrypt path uses this key name")


# ------------------------------------------------------------------ selection (planning)
@dataclass(frozen=True)
class EncryptedFile:
    path: str        # canonical path in the image = the path bound in the encrypted file
    key_name: str
    size: int
    sha256: str
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True)
class Mount:
    path: str        # canonical
    key_name: str
    given: str       # the --encrypt path as given


@dataclass(frozen=True)
class EncryptedTree:
    mounts: tuple[Mount, ...]
    files: tuple[EncryptedFile, ...]
    dirs: tuple[tuple[str, int, int, int], ...]  # (path, mode, uid, gid): parents to write

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(m.path for m in self.mounts)

    def covers(self, path: str) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in self.roots)

    def manifest_mounts(self) -> list[dict[str, str]]:
        return [{"type": "encrypted", "path": m.path, "uri": "file:" + m.path,
                 "key_name": m.key_name} for m in self.mounts]


def select(fs: ImageFS, specs: Sequence[EncryptSpec], gsc_dir: str) -> EncryptedTree:
    mounts: list[Mount] = []
    files: dict[str, EncryptedFile] = {}
    for spec in specs:
        real = fs.resolve(spec.path)
        entry = fs.get(real) if real is not None else None
        if real is None or entry is None:
            raise InputError(f"--encrypt {spec.path}: no such file or directory in the image")
        if real == "/" or real == gsc_dir or real.startswith(gsc_dir + "/"):
            raise InputError(f"--encrypt {spec.path}: cannot encrypt {real}")
        for m in mounts:
            if real == m.path or real.startswith(m.path + "/") or m.path.startswith(real + "/"):
                raise InputError(f"--encrypt {spec.path}: overlaps --encrypt {m.given} "
                                 f"({real} and {m.path})")
        if entry.kind == "file":
            found = [entry]
        elif entry.kind == "dir":
            found = []
            for e in fs.entries():
                if not e.path.startswith(real + "/"):
                    continue
                if e.kind == "dir":
                    continue
                if e.kind != "file":
                    raise InputError(f"--encrypt {spec.path}: {e.path} is a {e.kind}; only "
                                     "regular files can be encrypted (remove it or encrypt "
                                     "what it points to)")
                found.append(e)
        else:
            raise InputError(f"--encrypt {spec.path}: {real} is a {entry.kind}; only regular "
                             "files and directories can be encrypted")
        for e in found:
            if e.nlink > 1:
                raise InputError(f"--encrypt {spec.path}: {e.path} has other hard links; an "
                                 "encrypted file must have one name")
            if len(e.path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
                raise InputError(f"--encrypt {spec.path}: {e.path}: path longer than "
                                 f"{MAX_PATH_BYTES} bytes (the format's limit)")
            try:
                e.path.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(f"--encrypt {spec.path}: a name under it is not valid "
                                 "UTF-8") from None
            assert e.sha256 is not None
            files[e.path] = EncryptedFile(e.path, spec.key_name, e.size, e.sha256,
                                          e.mode, e.uid, e.gid)
        mounts.append(Mount(real, spec.key_name, spec.path))
    dirs: dict[str, tuple[str, int, int, int]] = {}
    for f in files.values():
        d = paths.dirname(f.path)
        while d != "/" and d not in dirs:
            de = fs.get(d)
            assert de is not None and de.kind == "dir"
            dirs[d] = (d, de.mode, de.uid, de.gid)
            d = paths.dirname(d)
    return EncryptedTree(tuple(mounts), tuple(files[p] for p in sorted(files)),
                         tuple(dirs[d] for d in sorted(dirs)))


# ------------------------------------------------------------------ deterministic randomness
def file_seed(wrap_key: bytes, path: str, sha256_hex: str) -> bytes:
    msg = KDF_LABEL + b"\0" + path.encode("utf-8") + b"\0" + bytes.fromhex(sha256_hex)
    return hmac.new(wrap_key, msg, hashlib.sha256).digest()


def file_randbytes(wrap_key: bytes, path: str, sha256_hex: str) -> RandBytes:
    """The pf writer's random source for one file: HMAC-SHA256(seed, "stream" || u64 i)
    for i = 0, 1, ..., concatenated (documented in docs/encrypted-files.md)."""
    seed = file_seed(wrap_key, path, sha256_hex)
    buf = bytearray()
    counter = 0

    def randbytes(n: int) -> bytes:
        nonlocal counter
        while len(buf) < n:
            buf.extend(hmac.new(seed, b"stream" + struct.pack(">Q", counter),
                                hashlib.sha256).digest())
            counter += 1
        out = bytes(buf[:n])
        del buf[:n]
        return out

    return randbytes


# ------------------------------------------------------------------ layer rewriting
@dataclass
class Rewritten:
    layers: list[LayerBlob]
    changed: list[int]                       # indices of the rewritten base layers
    ciphertexts: dict[str, str] = field(default_factory=dict)  # image path -> file


class _Counting(Source):
    """Pass ``parent`` through, counting the bytes handed out and hashing them."""

    def __init__(self, parent: Source) -> None:
        super().__init__()
        self._parent = parent
        self._base = 0
        self.hash = hashlib.sha256()

    def _next_chunk(self) -> memoryview | None:
        self._base += len(self._cur)
        self._cur, self._pos = memoryview(b""), 0
        view = self._parent.take(1 << 20)
        if not view:
            return None
        self.hash.update(view)
        return view

    @property
    def pos(self) -> int:
        return self._base + self._pos


@contextlib.contextmanager
def _plain(layer: LayerBlob) -> Iterator[_Counting]:
    with layer.open() as f:
        src: Source = ReaderSource(f)
        head = src.read(BLOCK)
        src = SubSource(src, None, head)
        kind = compression(head)
        if kind == "zstd":
            raise InputError(f"layer {layer.diff_id}: zstd-compressed layers are not supported")
        yield _Counting(DecompressSource(src, kind) if kind else src)


class _ContentsReader:
    """A file-like ``read`` over the current tar member's contents, hashing them."""

    def __init__(self, it: Iterator[memoryview | int]) -> None:
        self._it = it
        self._cur = b""
        self._off = 0
        self.hash = hashlib.sha256()

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        while n > 0:
            if self._off >= len(self._cur):
                piece = next(self._it, None)
                if piece is None:
                    break
                self._cur = b"\0" * piece if isinstance(piece, int) else piece.tobytes()
                self._off = 0
                self.hash.update(self._cur)
            take = self._cur[self._off:self._off + n]
            self._off += len(take)
            n -= len(take)
            parts.append(take)
        return b"".join(parts)

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _hash_contents(it: Iterator[memoryview | int]) -> str:
    h = hashlib.sha256()
    for piece in it:
        h.update(b"\0" * piece if isinstance(piece, int) else piece)
    return h.hexdigest()


def _start(reader: TarReader, src: _Counting) -> int:
    """Offset of the next member's first header (the current member consumed)."""
    reader._finish_member()  # same package family: skips the data and padding left
    return src.pos


def rewrite(layers: Sequence[LayerBlob], tree: EncryptedTree, keys: dict[str, bytes],
            resolve: Callable[[str], str | None], workdir: str,
            note: Callable[[str], None] | None = None) -> Rewritten:
    """The base layers with every regular file at an encrypted path removed (rewritten
    layers in ``workdir``, uncompressed), and the final version of each encrypted file
    encrypted into ``workdir``. ``resolve`` maps a layer member's path to its canonical
    path in the final image (parents followed, the last component not)."""
    wanted = {f.path: f for f in tree.files}
    by_content = {(f.size, f.sha256): f.path for f in tree.files if f.size > 0}
    sizes = {size for size, _ in by_content}
    out = Rewritten(list(layers), [])

    def encrypted_path(p: str) -> bool:
        if tree.covers(p):
            return True
        real = resolve(p)
        return real is not None and tree.covers(real)

    for index, layer in enumerate(layers):
        drops: list[tuple[int, int]] = []
        try:
            with _plain(layer) as src:
                reader = TarReader(src)
                while True:
                    start = _start(reader, src)
                    if drops and drops[-1][1] < 0:
                        drops[-1] = (drops[-1][0], start)  # a dropped member ends here
                    e = reader.next()
                    if e is None:
                        break
                    path = paths.normalize(e.name.decode("utf-8", "surrogateescape"))
                    if paths.basename(path).startswith(_WHITEOUT):
                        continue
                    if e.type == 0x31:  # hard link
                        link = paths.normalize(e.linkname.decode("utf-8", "surrogateescape"))
                        if encrypted_path(path) or encrypted_path(link):
                            raise InputError(f"layer {index + 1}: hard link {path} -> {link} "
                                             "involves an encrypted path; refusing (the "
                                             "plaintext would stay reachable)")
                        continue
                    if e.type in HEADER_ONLY:
                        continue
                    if encrypted_path(path):
                        drops.append((start, -1))
                        real = resolve(path) or path
                        target = wanted.get(real) or wanted.get(path)
                        if target is not None and target.path not in out.ciphertexts and \
                                e.realsize == target.size:
                            _encrypt_member(reader, target, keys[target.key_name], workdir,
                                            out)
                        continue
                    if e.realsize in sizes:
                        sha = _hash_contents(reader.contents())
                        copy_of = by_content.get((e.realsize, sha))
                        if copy_of is not None:
                            raise InputError(
                                f"layer {index + 1} holds {path}, a copy of {copy_of} (which "
                                "--encrypt encrypts): its plaintext would stay in the image; "
                                "encrypt or remove that copy too")
                src.drain()
                if "sha256:" + src.hash.hexdigest() != layer.diff_id:
                    raise InputError(f"layer {index + 1}: content digest does not match its "
                                     f"diff_id {layer.diff_id}")
        except TarError as exc:
            raise InputError(f"layer {index + 1}: malformed layer archive: {exc}") from None
        if not drops:
            continue
        spans = drops
        out.layers[index] = _copy_without(layer, spans, workdir)
        out.changed.append(index)
        if note is not None:
            note(f"layer {index + 1}: removed {len(spans)} plaintext file(s)")
    missing = [p for p in wanted if p not in out.ciphertexts]
    if missing:
        raise VerificationError(f"--encrypt: the contents of {missing[0]} were not found in "
                                "the image's layers")
    return out


def _encrypt_member(reader: TarReader, target: EncryptedFile, key: bytes, workdir: str,
                    out: Rewritten) -> None:
    contents = _ContentsReader(reader.contents())
    fd, tmp = _mkstemp(workdir)
    try:
        with os.fdopen(fd, "w+b") as dst:
            encrypt_stream(contents, target.size, dst, key, target.path,  # type: ignore[arg-type]
                           file_randbytes(key, target.path, target.sha256))
        contents.drain()
        if contents.hash.hexdigest() != target.sha256:
            os.unlink(tmp)   # an earlier version with the same size: not the final one
            return
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    out.ciphertexts[target.path] = tmp


def _mkstemp(workdir: str) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix="pf-", dir=workdir)


def _copy_without(layer: LayerBlob, spans: list[tuple[int, int]], workdir: str) -> LayerBlob:
    """The layer's uncompressed tar without the byte ranges in ``spans``."""
    fd, tmp = _mkstemp(workdir)
    h = hashlib.sha256()
    n = 0
    with os.fdopen(fd, "wb") as dst, _plain(layer) as src:
        pos = 0
        spans_left = list(spans)
        while True:
            view = src.take(1 << 20)
            if not view:
                break
            lo, hi = pos, pos + len(view)
            cut = lo
            while spans_left and spans_left[0][0] < hi:
                s, e = spans_left[0]
                if s > cut:
                    part = view[cut - lo:s - lo]
                    dst.write(part)
                    h.update(part)
                    n += len(part)
                cut = max(cut, min(e, hi))
                if e <= hi:
                    spans_left.pop(0)
                else:
                    break
            if cut < hi:
                part = view[cut - lo:]
                dst.write(part)
                h.update(part)
                n += len(part)
            pos = hi
    digest = "sha256:" + h.hexdigest()
    return LayerBlob(Descriptor(OCI_LAYER, digest, n), digest, path=tmp)


# ------------------------------------------------------------------ the added layer's entries
def added_entries(tree: EncryptedTree, rewritten: Rewritten, mtime: int,
                  ) -> list[tuple[tarfile.TarInfo, str | None]]:
    """(header, ciphertext file or None) for the added layer: the encrypted trees' parent
    directories (their final metadata) and each encrypted file (its final mode/owner)."""
    out: list[tuple[tarfile.TarInfo, str | None]] = []
    for path, mode, uid, gid in tree.dirs:
        info = tarfile.TarInfo(path.lstrip("/") + "/")
        info.type, info.mode, info.uid, info.gid, info.mtime = (
            tarfile.DIRTYPE, mode, uid, gid, mtime)
        info.uname = info.gname = ""
        out.append((info, None))
    for f in tree.files:
        ct = rewritten.ciphertexts[f.path]
        info = tarfile.TarInfo(f.path.lstrip("/"))
        info.size = os.path.getsize(ct)
        info.mode, info.uid, info.gid, info.mtime = f.mode, f.uid, f.gid, mtime
        info.uname = info.gname = ""
        out.append((info, ct))
    return out


def write_entries(tar: tarfile.TarFile, entries: list[tuple[tarfile.TarInfo, str | None]]
                  ) -> None:
    for info, src in entries:
        if src is None:
            tar.addfile(info)
        else:
            with open(src, "rb") as f:
                tar.addfile(info, f)


@dataclass(frozen=True)
class Job:
    """What the emitter needs besides the plan: the wrap keys by name (never printed:
    ``repr`` hides them), the final image's path resolution, and a progress note."""

    keys: dict[str, bytes] = field(repr=False)
    resolve: Callable[[str], str | None]
    note: Callable[[str], None] | None = None
