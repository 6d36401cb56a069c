"""Sniffing and inflating layer blobs the way they arrive: in pieces of any size."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma

import pytest
import zstandard

from bilge.store.errors import InvalidInput
from bilge.store.layerfs.compression import decompressor, detect


class Trickle(io.RawIOBase):
    """A source that hands out at most `step` bytes per read, as a slow socket does."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.step if size is None or size < 0 else min(size, self.step)
        out = self.data[self.pos : self.pos + size]
        self.pos += len(out)
        return out


PAYLOAD = bytes(range(256)) * 4096


@pytest.mark.parametrize(
    "kind,pack",
    [
        ("gzip", gzip.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("xz", lzma.compress),
        ("bzip2", bz2.compress),
        ("none", lambda b: b),
    ],
)
@pytest.mark.parametrize("step", [1, 3, 1 << 20])
def test_blobs_arriving_in_small_pieces_are_sniffed_and_inflated(kind: str, pack, step: int) -> None:
    blob = pack(PAYLOAD)
    assert detect(Trickle(blob, step))[0] == kind
    out, stream = bytearray(), decompressor(*detect(Trickle(blob, step)))
    while chunk := stream.read(1 << 16):
        out += chunk
    assert bytes(out) == PAYLOAD


def test_concatenated_gzip_members_and_zero_padding_inflate_whole() -> None:
    blob = gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:]) + b"\0" * 512
    stream, out = decompressor(*detect(io.BytesIO(blob))), bytearray()
    while chunk := stream.read(4096):
        out += chunk
    assert bytes(out) == PAYLOAD


@pytest.mark.parametrize("kind,pack", [("xz", lzma.compress), ("bzip2", bz2.compress)])
def test_a_truncated_xz_or_bzip2_stream_is_an_error_not_a_short_read(kind: str, pack) -> None:
    stream = decompressor(*detect(io.BytesIO(pack(PAYLOAD)[:-20])))
    with pytest.raises(InvalidInput, match=f"^corrupt {kind} stream: "):
        while stream.read(4096):
            pass
