"""Extraction reads its stream ahead in a thread (so reading, decompressing and hashing overlap
with writing files), and what that thread meets still reaches the extraction in stream order;
once extraction returns or fails, nothing reads the stream any more."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time

import hostile as h
import pytest

from bilge.store.errors import InvalidInput
from bilge.store.layerfs.extract import Limits, extract
from bilge.store.layerfs.streams import ForwardReader, ReadAhead, members, open_tar


class Watched(io.BytesIO):
    """A stream that notes which thread reads it, and how often."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        super().__init__(data)
        self.threads: set[str] = set()
        self.reads = 0
        self.fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        self.threads.add(threading.current_thread().name)
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise InvalidInput("the source broke")
        return super().read(size)


def _no_read_ahead_left() -> bool:
    return not any(t.name == "bilge-read-ahead" for t in threading.enumerate())


def test_extraction_reads_and_hashes_the_stream_in_another_thread(tmp_path):
    layer = h.tar([h.file(f"f{i}", bytes([i]) * 70_000) for i in range(40)])
    src = Watched(layer)
    got = extract(src, str(tmp_path), Limits(), whiteouts="aufs")
    assert got.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()
    assert (tmp_path / "f39").read_bytes() == bytes([39]) * 70_000
    assert src.threads == {"bilge-read-ahead"}
    assert _no_read_ahead_left()


def test_chunks_read_before_an_error_come_first_then_the_error():
    src = Watched(b"a" * 10 + b"b" * 10, fail_after=2)
    ahead = ReadAhead(src, lambda chunk: None, chunk=10)  # type: ignore[arg-type]
    try:
        assert ahead.next() == b"a" * 10
        assert ahead.next() == b"b" * 10
        with pytest.raises(InvalidInput, match="the source broke"):
            ahead.next()
        assert ahead.next() == b""
    finally:
        ahead.close()


def test_an_error_in_the_per_chunk_step_reaches_the_consumer_at_that_chunk():
    seen: list[bytes] = []

    def each(chunk: bytes) -> None:
        if len(seen) == 1:
            raise InvalidInput("too big")
        seen.append(chunk)

    ahead = ReadAhead(io.BytesIO(b"x" * 30), each, chunk=10)  # type: ignore[arg-type]
    try:
        assert ahead.next() == b"x" * 10
        with pytest.raises(InvalidInput, match="too big"):
            ahead.next()
    finally:
        ahead.close()


def test_close_stops_a_thread_blocked_on_a_full_queue_and_nothing_reads_after_it():
    src = Watched(b"z" * (1 << 20))
    ahead = ReadAhead(src, lambda chunk: None, chunk=1024, depth=2)  # type: ignore[arg-type]
    assert ahead.next() == b"z" * 1024
    time.sleep(0.05)  # the thread fills the queue and waits
    ahead.close()
    reads = src.reads
    time.sleep(0.05)
    assert src.reads == reads < 10
    assert ahead.next() == b""
    assert _no_read_ahead_left()


def test_a_refused_layer_leaves_no_thread_reading_its_stream(tmp_path):
    bad = h.tar([h.file("ok"), h.file("../escape")]) + b"\0" * (8 << 20)
    src = Watched(bad)
    with pytest.raises(InvalidInput):
        extract(src, str(tmp_path), Limits(), whiteouts="aufs")
    reads = src.reads
    time.sleep(0.05)
    assert src.reads == reads
    assert _no_read_ahead_left()


class Sizes(ForwardReader):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))  # type: ignore[arg-type]
        self.sizes: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(-1 if size is None else size)
        return super().read(size)


def test_members_reach_each_header_in_one_forward_seek_not_a_seek_and_a_one_byte_read():
    layer = h.tar([h.file(f"f{i}", b"q" * (100 + i)) for i in range(5)])
    reader = Sizes(layer)
    with open_tar(reader) as tf:
        names = [ti.name for ti in members(tf)]
    assert names == [f"f{i}" for i in range(5)]
    assert 1 not in reader.sizes


def test_a_stream_that_ends_in_a_members_padding_still_fails_as_tarfile_says():
    layer = h.tar([h.file("a", b"q" * 100), h.file("b")])
    reader = ForwardReader(io.BytesIO(layer[: 512 + 200]))  # type: ignore[arg-type]
    with pytest.raises(tarfile.ReadError, match="unexpected end of data"):
        with open_tar(reader) as tf:
            list(members(tf))
