"""Streaming decompression chosen from the content's magic bytes, never from a file name."""

from __future__ import annotations

from typing import BinaryIO

from isal import isal_zlib  # Intel ISA-L: 2.5-4x zlib's speed at inflating and its CRC-32

from ..errors import InvalidInput, Truncated
from .streams import ReadStream

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"
# Docker's DetectCompression, in its order.
MAGICS = {"bzip2": BZIP2_MAGIC, "gzip": GZIP_MAGIC, "xz": XZ_MAGIC, "zstd": ZSTD_MAGIC}
CHUNK = 1 << 20
MAX_PADDING = 16 << 20  # zeros after the last gzip member: writers add at most a tar record's worth


class Prefixed(ReadStream):
    """Puts back bytes already read to sniff the format."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                out, self._head = self._head, b""
                more = self._rest.read(-1 if size < 0 else size - len(out))
                return out + (more or b"")
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._rest.read(size)


class _Gunzip(ReadStream):
    """gzip (concatenated members too) through a raw inflater, much faster than gzip.GzipFile."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._z = isal_zlib.decompressobj(wbits=31)
        self._in_member = False
        self._unused = b""
        self._pending = b""
        self._offset = 0  # into _pending: slicing off the front would copy the rest on every read
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        want = CHUNK if size is None or size < 0 else size
        while self._offset >= len(self._pending) and not self._eof:
            self._pending, self._offset = self._step(), 0
        out = self._pending[self._offset : self._offset + want]
        self._offset += len(out)
        return out

    def _step(self) -> bytes:
        data = self._z.unconsumed_tail or self._unused or self._raw.read(CHUNK)
        self._unused = b""
        if not data:
            if self._in_member:
                raise Truncated("truncated gzip stream")
            self._eof = True
            return b""
        if not self._in_member and not data.startswith(GZIP_MAGIC[: len(data)]):
            self._expect_only_zeros(data)
            return b""
        self._in_member = True
        try:
            out = self._z.decompress(data, CHUNK)
        except isal_zlib.error as exc:  # type: ignore[misc]  # isal's stub declares error as a non-class
            raise InvalidInput(f"corrupt gzip stream: {exc}") from None
        if self._z.eof:
            self._unused = self._z.unused_data
            self._z = isal_zlib.decompressobj(wbits=31)
            self._in_member = False
        return out

    def _expect_only_zeros(self, data: bytes) -> None:
        """Tolerate zero padding after the last member, as tar writers add; reject anything else,
        and more padding than any writer adds (an endless stream of zeros)."""
        padding = 0
        while data:
            padding += len(data)
            if data.strip(b"\0"):
                raise InvalidInput("trailing garbage after gzip stream")
            if padding > MAX_PADDING:
                raise InvalidInput(f"more than {MAX_PADDING} bytes of zeros follow the gzip stream")
            data = self._raw.read(CHUNK)
        self._eof = True


class _Zstd(ReadStream):
    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        self._error = zstandard.ZstdError

    def read(self, size: int = -1) -> bytes:
        try:
            return self._reader.read(CHUNK if size is None or size < 0 else size)
        except self._error as exc:
            raise InvalidInput(f"corrupt zstd stream: {exc}") from None


class _Stdlib(ReadStream):
    """xz and bzip2, which Docker loads too, through the standard library's streaming readers
    (concatenated streams included); rare enough that their speed does not matter."""

    def __init__(self, kind: str, raw: BinaryIO) -> None:
        self._kind = kind
        if kind == "xz":
            import lzma

            self._reader: BinaryIO = lzma.LZMAFile(raw)  # type: ignore[assignment]
            self._errors: tuple[type[Exception], ...] = (lzma.LZMAError, EOFError)
        else:
            import bz2

            self._reader = bz2.BZ2File(raw)  # type: ignore[assignment]
            self._errors = (OSError, EOFError)  # bz2 says "Invalid data stream" with an OSError

    def read(self, size: int = -1) -> bytes:
        try:
            return self._reader.read(CHUNK if size is None or size < 0 else size)
        except self._errors as exc:
            raise InvalidInput(f"corrupt {self._kind} stream: {exc}") from None


def detect(raw: BinaryIO) -> tuple[str, BinaryIO]:
    """("bzip2"|"gzip"|"xz"|"zstd"|"none", the same bytes with the sniffed head put back).

    The head is read until it is whole: a network read may bring fewer bytes than a magic.
    """
    need = max(map(len, MAGICS.values()))
    head = b""
    while len(head) < need and (more := raw.read(need - len(head))):
        head += more
    kind = next((name for name, magic in MAGICS.items() if head.startswith(magic)), "none")
    return kind, Prefixed(head, raw)  # type: ignore[return-value]


def decompressor(kind: str, raw: BinaryIO) -> BinaryIO:
    if kind == "gzip":
        return _Gunzip(raw)  # type: ignore[return-value]
    if kind == "zstd":
        return _Zstd(raw)  # type: ignore[return-value]
    if kind in ("xz", "bzip2"):
        return _Stdlib(kind, raw)  # type: ignore[return-value]
    return raw
