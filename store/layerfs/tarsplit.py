"""The skeleton of a layer tar (headers, padding, trailer) kept beside its extracted files.

Rule 5: `save` and `push` must hand out the exact tar whose sha256 is the diff_id without
keeping a second copy of the layer. While extracting we record the tar as a sequence of
segments: raw bytes (every header, extended header, padding and the end-of-archive trailer)
and file references (this many bytes of content come from that extracted file). Joining the
segments, reading file content from the layer's diff/, gives back the original tar.

Encoding (zstd-compressed): b"R" + u32 length + bytes, b"F" + u64 size + u16 path length +
path bytes (relative to diff/, file-system encoding), or b"S" + u64 offset + the same as F: a
run of a sparse file, which a tar stores as its runs of data one after the other.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InvalidInput

if TYPE_CHECKING:
    import tarfile

_RAW = b"R"
_FILE = b"F"
_RUN = b"S"
_READ_CHUNK = 1 << 20
Segment = tuple[str, int, int]  # (file, size, offset in it): content read from an extracted file


@dataclass
class Recording:
    """Segments in tar order; raw bytes are merged with their neighbours as they come."""

    segments: list[bytes | bytearray | Segment] = field(default_factory=list)

    def raw(self, data: bytes) -> None:
        """Raw bytes, merged in place into a raw segment before them: concatenating bytes would
        copy the whole run for every header of a run of directories."""
        if not data:
            return
        last = self.segments[-1] if self.segments else None
        if isinstance(last, bytearray):
            last += data
        else:
            self.segments.append(bytearray(data))

    def file(self, relpath: str, size: int, offset: int = 0) -> int:
        self.segments.append((relpath, size, offset))
        return len(self.segments) - 1

    def inline(self, index: int, content: bytes) -> None:
        """A file segment whose file was later replaced in the same layer keeps its bytes inline."""
        self.segments[index] = content

    def encode(self) -> bytes:
        import zstandard

        out = io.BytesIO()
        for seg in self.segments:
            if isinstance(seg, bytes | bytearray):
                out.write(_RAW + struct.pack(">I", len(seg)) + seg)
            else:
                path, size, offset = os.fsencode(seg[0]), seg[1], seg[2]
                out.write((_RUN + struct.pack(">Q", offset) if offset else _FILE) + struct.pack(">QH", size, len(path)))
                out.write(path)
        return zstandard.ZstdCompressor(level=3).compress(out.getvalue())


def _decode(blob: bytes) -> Iterator[bytes | Segment]:
    """The segments; a truncated or garbled blob is refused, never read as a shorter tar."""
    import zstandard

    decompressor = zstandard.ZstdDecompressor().decompressobj()
    try:
        data = decompressor.decompress(blob)
    except zstandard.ZstdError as exc:
        raise InvalidInput(f"corrupt tar-split ({exc})") from None
    if not decompressor.eof:
        raise InvalidInput("truncated tar-split")
    pos = 0
    try:
        while pos < len(data):
            kind = data[pos : pos + 1]
            if kind == _RAW:
                (length,) = struct.unpack_from(">I", data, pos + 1)
                start, pos = pos + 5, pos + 5 + length
                if pos > len(data):
                    raise InvalidInput("truncated tar-split record")
                yield data[start:pos]
            elif kind in (_FILE, _RUN):
                offset = 0
                if kind == _RUN:
                    (offset,) = struct.unpack_from(">Q", data, pos + 1)
                    pos += 8
                size, plen = struct.unpack_from(">QH", data, pos + 1)
                start, pos = pos + 11, pos + 11 + plen
                if pos > len(data):
                    raise InvalidInput("truncated tar-split record")
                yield os.fsdecode(data[start:pos]), size, offset
            else:
                raise InvalidInput("corrupt tar-split record")
    except struct.error:
        raise InvalidInput("truncated tar-split record") from None


def segment_sizes(blob: bytes) -> Iterator[int]:
    """Byte count of each segment: their sum is the tar's size, known before reading any file."""
    for seg in _decode(blob):
        yield len(seg) if isinstance(seg, bytes) else seg[1]


def assemble(diff_dir: str, blob: bytes) -> Iterator[bytes]:
    """Yield the original layer tar, chunk by chunk, from the skeleton and the extracted files."""
    for seg in _decode(blob):
        if isinstance(seg, bytes):
            yield seg
            continue
        relpath, size, offset = seg
        fd = os.open(os.path.join(diff_dir, relpath), os.O_RDONLY | os.O_NOFOLLOW)
        try:
            left = size
            while left:
                chunk = os.pread(fd, min(left, _READ_CHUNK), offset + size - left)
                if not chunk:
                    raise InvalidInput(f"layer file {relpath!r} is shorter than its tar entry")
                left -= len(chunk)
                yield chunk
        finally:
            os.close(fd)


class _Skeleton(io.RawIOBase):
    """The layer tar as a seekable file whose file contents read as zeros: its headers come
    from the tar-split alone, and `tarfile` seeks past the contents without reading a file."""

    def __init__(self, blob: bytes) -> None:
        self.parts: list[tuple[int, bytes | int]] = []  # (offset, raw bytes or a content length)
        offset = 0
        for seg in _decode(blob):
            self.parts.append((offset, seg if isinstance(seg, bytes) else seg[1]))
            offset += len(seg) if isinstance(seg, bytes) else seg[1]
        self.starts = [start for start, _ in self.parts]
        self.size = offset
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        import bisect

        view = memoryview(buffer).cast("B")
        done = 0
        index = bisect.bisect_right(self.starts, self.pos) - 1
        while done < len(view) and self.pos < self.size and index < len(self.parts):
            start, part = self.parts[index]
            length = len(part) if isinstance(part, bytes) else part
            inside = self.pos - start
            take = min(len(view) - done, length - inside)
            if take <= 0:
                index += 1
                continue
            view[done : done + take] = part[inside : inside + take] if isinstance(part, bytes) else bytes(take)
            done += take
            self.pos += take
        return done


def members(blob: bytes) -> Iterator[tarfile.TarInfo]:
    """The layer tar's entries (names, sizes, types, PAX names included) read from its
    tar-split, without reading any extracted file: what waste analysis needs."""
    import tarfile

    with tarfile.open(fileobj=io.BufferedReader(_Skeleton(blob)), mode="r:") as tar:
        yield from tar
