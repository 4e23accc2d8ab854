"""A small, strict, streaming tar reader for untrusted archives.

Why not ``tarfile``: its stream mode copies every byte several times and costs tens of
microseconds per member, and it silently stops at a corrupt header. This reader parses
headers out of large buffered reads and hands file contents out as zero-copy
``memoryview`` slices of immutable read buffers (safe to pass to the hash thread).

Supported: ustar / POSIX (name prefix), GNU (``L`` long names, ``K`` long link targets,
old ``S`` sparse files with extension blocks, base-256 numbers), PAX ``x`` headers
(``path``, ``linkpath``, ``size``, ``uid``, ``gid``, GNU sparse 0.0 / 0.1 / 1.0). PAX
global headers (``g``) are skipped: Docker's layer applier ignores them too.

Every length and offset is bounds-checked; meta data (long names, PAX records, sparse
maps) is capped; any inconsistency raises ``TarError`` (never an unchecked exception,
never a hang). Nothing here touches the host file system.
"""

from __future__ import annotations

import bz2
import lzma
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
BUFSIZE = 4 << 20
MAX_META = 1 << 20  # long names, PAX records, sparse maps
MAX_SPARSE_ENTRIES = 1 << 16
MAX_EXPANDED = 64 << 30  # a sparse file's real size: its holes are hashed (~40 s)

REG_TYPES = frozenset(b"0\x007")
HEADER_ONLY = frozenset(b"123456")  # hardlink, symlink, char, block, dir, fifo: no data
_OCTAL = frozenset(b"01234567")


class TarError(Exception):
    """Malformed or truncated archive."""


# ------------------------------------------------------------------------------ sources
class Source:
    """Sequential reader. ``take(n)`` returns up to ``n`` bytes as a view of an immutable
    buffer (empty only at the end); ``read`` and ``skip`` are exact or raise TarError."""

    def __init__(self) -> None:
        self._cur: memoryview = memoryview(b"")
        self._pos = 0

    def _next_chunk(self) -> memoryview | None:
        raise NotImplementedError

    def take(self, n: int) -> memoryview:
        if self._pos >= len(self._cur):
            chunk = self._next_chunk()
            if chunk is None:
                return memoryview(b"")
            self._cur, self._pos = chunk, 0
        end = min(len(self._cur), self._pos + n)
        view = self._cur[self._pos:end]
        self._pos = end
        return view

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes (a copy), or fewer only at the very end."""
        if self._pos + n <= len(self._cur):
            data = self._cur[self._pos:self._pos + n].tobytes()
            self._pos += n
            return data
        parts = []
        got = 0
        while got < n:
            view = self.take(n - got)
            if not view:
                break
            parts.append(view.tobytes())
            got += len(view)
        return b"".join(parts)

    def read_exact(self, n: int, what: str) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise TarError(f"unexpected end of data in {what}")
        return data

    def skip(self, n: int, what: str = "member data") -> None:
        while n > 0:
            view = self.take(n)
            if not view:
                raise TarError(f"unexpected end of data in {what}")
            n -= len(view)

    def drain(self) -> None:
        while self.take(BUFSIZE):
            pass


class ReaderSource(Source):
    """Over a binary stream (``readinto`` preferred). Every buffer is freshly allocated
    and filled completely (except at the end), then never written again, so views of it
    stay valid on any thread. With ``threaded``, a helper thread keeps reading ahead
    (socket reads release the GIL) while the caller parses."""

    def __init__(self, stream: Any, *, bufsize: int = BUFSIZE, threaded: bool = False,
                 depth: int = 6) -> None:
        super().__init__()
        self._bufsize = bufsize
        readinto = getattr(stream, "readinto", None)
        self._readinto: Callable[[memoryview], int | None] | None = readinto
        self._read: Callable[[int], bytes] = stream.read
        self._done = False  # the stream is exhausted (seen by the filling thread)
        self._ended = False  # the consumer got the end (threaded mode)
        self._thread: threading.Thread | None = None
        if threaded:
            import queue

            self._q: queue.Queue[memoryview | BaseException | None] = queue.Queue(depth)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._pump, name="gsc-tar-reader",
                                            daemon=True)
            self._thread.start()

    def _fill(self) -> memoryview | None:
        if self._done:
            return None
        if self._readinto is not None:
            buf = bytearray(self._bufsize)
            view = memoryview(buf)
            got = 0
            while got < len(buf):
                n = self._readinto(view[got:])
                if not n:
                    self._done = True
                    break
                got += n
            return view[:got].toreadonly() if got else None
        parts = []
        got = 0
        while got < self._bufsize:
            data = self._read(self._bufsize - got)
            if not data:
                self._done = True
                break
            parts.append(data)
            got += len(data)
        if not got:
            return None
        return memoryview(parts[0] if len(parts) == 1 else b"".join(parts))

    def _pump(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self._fill()
                self._q.put(chunk)
                if chunk is None:
                    return
        except BaseException as exc:
            self._q.put(exc)

    def _next_chunk(self) -> memoryview | None:
        if self._thread is None:
            return self._fill()
        if self._ended:
            return None
        item = self._q.get()
        if item is None:
            self._ended = True
            return None
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        return item

    def close(self) -> None:
        """Stop the helper thread (the stream itself belongs to the caller)."""
        if self._thread is not None:
            import queue

            self._stop.set()
            while self._thread.is_alive():
                try:
                    self._q.get_nowait()
                except queue.Empty:
                    self._thread.join(0.05)


class SubSource(Source):
    """The next ``size`` bytes of ``parent`` (all of it when ``size`` is None),
    preceded by ``head`` (bytes already read from it)."""

    def __init__(self, parent: Source, size: int | None, head: bytes = b"") -> None:
        super().__init__()
        self._parent = parent
        self._left = size
        if head:
            self._cur = memoryview(head)

    def _next_chunk(self) -> memoryview | None:  # pragma: no cover - take() overrides
        view = self.take(BUFSIZE)
        return view or None

    def take(self, n: int) -> memoryview:
        if self._pos < len(self._cur):
            return super().take(n)
        left = self._left
        if left is None:
            return self._parent.take(n)
        if left <= 0:
            return memoryview(b"")
        view = self._parent.take(min(n, left))
        if not view:
            raise TarError("unexpected end of data in archive member")
        self._left = left - len(view)
        return view

    def drain(self) -> None:
        self._pos = len(self._cur)
        if self._left is None:
            self._parent.drain()
        elif self._left > 0:
            self._parent.skip(self._left, "archive member")
            self._left = 0


class DecompressSource(Source):
    """Decompressed view of ``parent`` (gzip, bzip2 or xz), in bounded pieces."""

    def __init__(self, parent: Source, kind: str) -> None:
        super().__init__()
        self._parent = parent
        self._kind = kind
        self._d = self._new()
        self._pending = b""
        self._eof = False

    def _new(self) -> Any:
        if self._kind == "gzip":
            return zlib.decompressobj(31)
        if self._kind == "bzip2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor()

    def _next_chunk(self) -> memoryview | None:
        try:
            while not self._eof:
                if self._kind == "gzip":
                    data = self._pending or self._parent.take(1 << 20).tobytes()
                    self._pending = b""
                    if not data:
                        self._eof = True
                        if not self._d.eof:
                            raise TarError("truncated compressed layer")
                        break
                    out = self._d.decompress(data, BUFSIZE)
                    self._pending = self._d.unconsumed_tail
                    if self._d.eof:
                        rest = self._d.unused_data
                        if rest.strip(b"\0"):
                            self._d = self._new()  # concatenated gzip members
                            self._pending = rest
                        elif not self._pending:
                            self._eof = True
                            self._parent.drain()
                else:
                    if self._d.eof:
                        self._eof = True
                        self._parent.drain()
                        break
                    if self._d.needs_input:
                        data = self._parent.take(1 << 20).tobytes()
                        if not data:
                            raise TarError("truncated compressed layer")
                    else:
                        data = b""
                    out = self._d.decompress(data, BUFSIZE)
                if out:
                    return memoryview(out)
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
            raise TarError(f"corrupt compressed layer: {exc}") from None
        return None

    def drain(self) -> None:
        while self._next_chunk() is not None:
            pass


def compression(head: bytes) -> str | None:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


# ------------------------------------------------------------------------------ headers
@dataclass(slots=True)
class TarEntry:
    name: bytes
    linkname: bytes
    type: int  # the type flag byte, e.g. ord("0")
    mode: int
    uid: int
    gid: int
    size: int  # bytes of data stored in the archive
    devmajor: int = 0
    devminor: int = 0
    realsize: int = 0  # the file's size (differs from ``size`` for sparse files)
    sparse: list[tuple[int, int]] | None = None  # (offset, length) data regions
    sparse_map_in_data: bool = False  # GNU PAX sparse 1.0: map precedes the data

    @property
    def has_data(self) -> bool:
        """Regular file (including unknown types, which tar readers treat as files)."""
        return self.type not in HEADER_ONLY


def _num(field: bytes, what: str) -> int:
    """A numeric header field: octal ASCII (NUL/space padded) or GNU base-256."""
    if field and field[0] & 0x80:
        if field[0] not in (0x80, 0xFF):
            raise TarError(f"invalid {what} field in tar header")
        n = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:
            n -= 1 << (8 * (len(field) - 1))
        return n
    end = field.find(b"\0")
    if end >= 0:
        field = field[:end]
    field = field.strip(b" ")
    if not field:
        return 0
    if not _OCTAL.issuperset(field):
        raise TarError(f"invalid {what} field in tar header")
    return int(field, 8)


def _cstr(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def header_ok(block: bytes) -> bool:
    """Whether ``block`` is a tar header with a valid checksum."""
    try:
        return len(block) == BLOCK and block != ZERO_BLOCK and _checksum_ok(block)
    except TarError:
        return False


def _checksum_ok(block: bytes) -> bool:
    stored = _num(block[148:156], "checksum")
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    if stored == unsigned:
        return True
    signed = unsigned - 256 * sum(1 for b in block if b & 0x80) + 256 * sum(
        1 for b in block[148:156] if b & 0x80)
    return stored == signed


def _pax_records(data: bytes) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] == 0:  # NUL padding after the last record
            if data[pos:].strip(b"\0"):
                raise TarError("malformed PAX header")
            break
        sp = data.find(b" ", pos, pos + 24)
        if sp <= pos or not data[pos:sp].isdigit():
            raise TarError("malformed PAX record length")
        length = int(data[pos:sp])
        end = pos + length
        if length < 5 or end > n or data[end - 1] != 0x0A:
            raise TarError("malformed PAX record")
        record = data[sp + 1:end - 1]
        eq = record.find(b"=")
        if eq <= 0:
            raise TarError("malformed PAX record")
        out.append((record[:eq], record[eq + 1:]))
        pos = end
    return out


def _decimal(value: bytes, what: str) -> int:
    if not value.isdigit() or len(value) > 30:
        raise TarError(f"invalid PAX {what}")
    return int(value)


def _check_sparse(regions: list[tuple[int, int]], realsize: int) -> None:
    if len(regions) > MAX_SPARSE_ENTRIES:
        raise TarError("too many sparse regions")
    if realsize > MAX_EXPANDED:
        raise TarError("sparse file too large")
    prev = 0
    for off, length in regions:
        if off < prev or length < 0 or off + length > realsize:
            raise TarError("invalid sparse map")
        prev = off + length


class TarReader:
    """Iterate over the members of a tar read from ``src``::

        r = TarReader(src)
        while (e := r.next()) is not None:
            for view in r.contents(): ...   # optional; skipped otherwise
    """

    def __init__(self, src: Source) -> None:
        self._src = src
        self._left = 0  # unread data bytes of the current member
        self._pad = 0
        self._entry: TarEntry | None = None
        self._first = True
        self._opened: SubSource | None = None
        self.ended = False

    def open_data(self) -> tuple[bytes, SubSource]:
        """The current member's stored data as a source of its own, and its first (up
        to 512) bytes, which that source yields again. Drained by ``next()``."""
        sub = SubSource(self._src, self._left)
        self._left = 0
        head = sub.read(min(sub._left or 0, BLOCK))
        self._opened = SubSource(sub, sub._left, head)
        return head, self._opened

    def _finish_member(self) -> None:
        if self._opened is not None:
            self._opened.drain()
            self._opened = None
        if self._left or self._pad:
            self._src.skip(self._left + self._pad)
            self._left = self._pad = 0
        self._entry = None

    def _read_data(self, size: int, what: str) -> bytes:
        if size > MAX_META:
            raise TarError(f"{what} too large")
        data = self._src.read_exact(size, what)
        self._src.skip(-size % BLOCK, what)
        return data

    def _header(self) -> bytes | None:
        block = self._src.read(BLOCK)
        if not block:
            if self._first:
                raise TarError("empty archive")
            return None
        if len(block) < BLOCK:
            raise TarError("truncated tar header")
        if block == ZERO_BLOCK:
            return None
        if not _checksum_ok(block):
            raise TarError("invalid tar header (bad checksum)")
        self._first = False
        return block

    def next(self) -> TarEntry | None:
        if self.ended:
            return None
        self._finish_member()
        long_name: bytes | None = None
        long_link: bytes | None = None
        pax: dict[bytes, bytes] = {}
        pax_sparse: list[int] = []  # GNU sparse 0.0 offset/numbytes sequence
        while True:
            block = self._header()
            if block is None:
                if long_name is not None or long_link is not None or pax:
                    raise TarError("archive ends after an extended header")
                self.ended = True
                return None
            typ = block[156]
            size = _num(block[124:136], "size")
            if size < 0:
                raise TarError("negative size in tar header")
            if typ in (0x4C, 0x4B):  # GNU long name / long link
                value = _cstr(self._read_data(size, "GNU long name"))
                if typ == 0x4C:
                    long_name = value
                else:
                    long_link = value
                continue
            if typ in (0x78, 0x58):  # PAX extended header ('X': old Solaris)
                for key, value in _pax_records(self._read_data(size, "PAX header")):
                    if key == b"GNU.sparse.offset":
                        pax_sparse.append(_decimal(value, "sparse offset"))
                    elif key == b"GNU.sparse.numbytes":
                        pax_sparse.append(_decimal(value, "sparse numbytes"))
                    else:
                        pax[key] = value
                if len(pax_sparse) > 2 * MAX_SPARSE_ENTRIES:
                    raise TarError("too many sparse regions")
                continue
            if typ == 0x67:  # PAX global header: ignored, as Docker does
                self._read_data(size, "PAX global header")
                continue
            return self._member(block, typ, size, long_name, long_link, pax, pax_sparse)

    def _member(self, block: bytes, typ: int, size: int, long_name: bytes | None,
                long_link: bytes | None, pax: dict[bytes, bytes], pax_sparse: list[int],
                ) -> TarEntry:
        name = _cstr(block[0:100])
        if block[257:263] == b"ustar\x00":  # POSIX ustar: name prefix
            prefix = _cstr(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        linkname = _cstr(block[157:257])
        if long_name is not None:
            name = long_name
        if long_link is not None:
            linkname = long_link
        uid = _num(block[108:116], "uid")
        gid = _num(block[116:124], "gid")
        mode = _num(block[100:108], "mode")
        if pax:
            if pax.get(b"path"):
                name = pax[b"path"]
            if pax.get(b"linkpath"):
                linkname = pax[b"linkpath"]
            if b"size" in pax:
                size = _decimal(pax[b"size"], "size")
            if b"uid" in pax:
                uid = _decimal(pax[b"uid"], "uid")
            if b"gid" in pax:
                gid = _decimal(pax[b"gid"], "gid")
        if typ == 0 and name.endswith(b"/"):
            typ = 0x35  # old V7 directory
        entry = TarEntry(name, linkname, typ, mode, uid, gid, size, realsize=size)
        if typ in (0x33, 0x34):
            entry.devmajor = _num(block[329:337], "devmajor")
            entry.devminor = _num(block[337:345], "devminor")
        if typ == 0x53:  # old GNU sparse
            self._gnu_sparse(block, entry)
        elif pax and (pax_sparse or b"GNU.sparse.map" in pax or b"GNU.sparse.major" in pax):
            self._pax_sparse(entry, pax, pax_sparse)
        data = 0 if typ in HEADER_ONLY else size
        self._left = data
        self._pad = -data % BLOCK
        self._entry = entry
        return entry

    def _gnu_sparse(self, block: bytes, entry: TarEntry) -> None:
        regions: list[tuple[int, int]] = []

        def add(area: bytes, count: int) -> None:
            for i in range(count):
                rec = area[24 * i:24 * i + 24]
                if rec[0] == 0 and rec[12] == 0:
                    continue
                regions.append((_num(rec[:12], "sparse offset"), _num(rec[12:], "sparse size")))

        add(block[386:482], 4)
        extended = block[482]
        entry.realsize = _num(block[483:495], "sparse real size")
        while extended:
            if len(regions) > MAX_SPARSE_ENTRIES:
                raise TarError("too many sparse regions")
            ext = self._src.read_exact(BLOCK, "GNU sparse header")
            add(ext[:504], 21)
            extended = ext[504]
        _check_sparse(regions, entry.realsize)
        entry.sparse = regions
        entry.type = 0x30

    def _pax_sparse(self, entry: TarEntry, pax: dict[bytes, bytes], seq: list[int]) -> None:
        major = pax.get(b"GNU.sparse.major")
        if pax.get(b"GNU.sparse.name"):
            entry.name = pax[b"GNU.sparse.name"]
        real = pax.get(b"GNU.sparse.realsize") or pax.get(b"GNU.sparse.size")
        if real is None:
            raise TarError("PAX sparse file without real size")
        entry.realsize = _decimal(real, "sparse real size")
        if major == b"1":
            if pax.get(b"GNU.sparse.minor", b"0") != b"0":
                raise TarError("unsupported PAX sparse format")
            entry.sparse_map_in_data = True
            entry.sparse = []
        elif major not in (None, b"0"):
            raise TarError("unsupported PAX sparse format")
        else:
            if b"GNU.sparse.map" in pax:
                raw = pax[b"GNU.sparse.map"]
                seq = [_decimal(v, "sparse map") for v in raw.split(b",")] if raw else []
            if len(seq) % 2:
                raise TarError("invalid sparse map")
            regions = list(zip(seq[0::2], seq[1::2], strict=True))
            _check_sparse(regions, entry.realsize)
            entry.sparse = regions
        entry.type = 0x30

    def _map_from_data(self, entry: TarEntry) -> None:
        """GNU sparse 1.0: decimal lines (count, then offset/length pairs) at the start
        of the data, padded to a block."""
        numbers: list[int] = []
        buf = b""
        consumed = 0
        want: int | None = None
        while want is None or len(numbers) < 1 + 2 * want:
            nl = buf.find(b"\n")
            if nl < 0:
                if consumed >= MAX_META or self._left <= 0:
                    raise TarError("invalid sparse map")
                block = self._src.read_exact(BLOCK, "sparse map")
                self._left -= BLOCK
                consumed += BLOCK
                buf += block
                continue
            numbers.append(_decimal(buf[:nl], "sparse map"))
            buf = buf[nl + 1:]
            if want is None:
                want = numbers[0]
                if want > MAX_SPARSE_ENTRIES:
                    raise TarError("too many sparse regions")
        if self._left < 0:
            raise TarError("invalid sparse map")
        regions = list(zip(numbers[1::2], numbers[2::2], strict=True))
        _check_sparse(regions, entry.realsize)
        entry.sparse = regions
        entry.size = self._left

    def contents(self, chunk: int = BUFSIZE) -> Iterator[memoryview | int]:
        """The current member's file contents: views of data, and ints for runs of
        zeros (sparse holes). Must be consumed before ``next()``."""
        entry = self._entry
        if entry is None or entry.type in HEADER_ONLY:
            return
        if entry.sparse is None:
            yield from self._data(self._left)
            return
        if entry.sparse_map_in_data:
            self._map_from_data(entry)
        stored = sum(length for _, length in entry.sparse)
        if stored != self._left:
            raise TarError("sparse map does not match the stored data")
        pos = 0
        for off, length in entry.sparse:
            if off > pos:
                yield off - pos
            yield from self._data(length)
            pos = off + length
        if entry.realsize > pos:
            yield entry.realsize - pos

    def _data(self, n: int) -> Iterator[memoryview]:
        if n > self._left:
            raise TarError("member data overrun")
        while n > 0:
            view = self._src.take(n)
            if not view:
                raise TarError("unexpected end of data in member")
            n -= len(view)
            self._left -= len(view)
            yield view
