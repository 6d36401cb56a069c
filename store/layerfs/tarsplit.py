"""The skeleton of a layer tar (headers, padding, trailer) kept beside its extracted files.

Rule 5: `save` and `push` must hand out the exact tar whose sha256 is the diff_id without
keeping a second copy of the layer. While extracting we record the tar as a sequence of
segments: raw bytes (every header, extended header, padding and the end-of-archive trailer)
and file references (this many bytes of content come from that extracted file). Joining the
segments, reading file content from the layer's diff/, gives back the original tar.

Encoding (zstd-compressed): b"R" + u32 length + bytes, or b"F" + u64 size + u16 path length +
path bytes (relative to diff/, file-system encoding).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import InvalidInput

_RAW = b"R"
_FILE = b"F"
_READ_CHUNK = 1 << 20


@dataclass
class Recording:
    """Segments in tar order; raw bytes are merged with their neighbours as they come."""

    segments: list[bytes | tuple[str, int]] = field(default_factory=list)

    def raw(self, data: bytes) -> None:
        if not data:
            return
        if self.segments and isinstance(self.segments[-1], bytes):
            self.segments[-1] += data
        else:
            self.segments.append(bytes(data))

    def file(self, relpath: str, size: int) -> int:
        self.segments.append((relpath, size))
        return len(self.segments) - 1

    def inline(self, index: int, content: bytes) -> None:
        """A file segment whose file was later replaced in the same layer keeps its bytes inline."""
        self.segments[index] = content

    def encode(self) -> bytes:
        import zstandard

        out = io.BytesIO()
        for seg in self.segments:
            if isinstance(seg, bytes):
                out.write(_RAW + struct.pack(">I", len(seg)) + seg)
            else:
                path = os.fsencode(seg[0])
                out.write(_FILE + struct.pack(">QH", seg[1], len(path)) + path)
        return zstandard.ZstdCompressor(level=3).compress(out.getvalue())


def _decode(blob: bytes) -> Iterator[bytes | tuple[str, int]]:
    import zstandard

    data = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    pos = 0
    while pos < len(data):
        kind = data[pos : pos + 1]
        if kind == _RAW:
            (length,) = struct.unpack_from(">I", data, pos + 1)
            yield data[pos + 5 : pos + 5 + length]
            pos += 5 + length
        elif kind == _FILE:
            size, plen = struct.unpack_from(">QH", data, pos + 1)
            start = pos + 11
            yield os.fsdecode(data[start : start + plen]), size
            pos = start + plen
        else:
            raise InvalidInput("corrupt tar-split record")


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
        relpath, size = seg
        fd = os.open(os.path.join(diff_dir, relpath), os.O_RDONLY | os.O_NOFOLLOW)
        try:
            left = size
            while left:
                chunk = os.read(fd, min(left, _READ_CHUNK))
                if not chunk:
                    raise InvalidInput(f"layer file {relpath!r} is shorter than its tar entry")
                left -= len(chunk)
                yield chunk
        finally:
            os.close(fd)
