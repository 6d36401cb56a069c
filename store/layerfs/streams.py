"""Readers that let tarfile's seekable mode run over a pipe: it only ever seeks forward.

tarfile's stream mode ("r|") copies every byte through an internal buffer; its seekable
mode reads straight from the file object, which is much faster, and only needs `tell` and
forward `seek` when members are read in order, as we always do.
"""

from __future__ import annotations

import io
import os
import queue
import tarfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from ..errors import InvalidInput

CHUNK = 1 << 20


class ReadStream(io.RawIOBase):
    """A read-only raw stream defined by its `read`; `readinto` (what io and tarfile call) follows."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class ForwardReader(ReadStream):
    def __init__(self, src: BinaryIO) -> None:
        self.src = src
        self.pos = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def read(self, size: int | None = -1) -> bytes:
        data = self.src.read(CHUNK if size is None or size < 0 else size)
        self.pos += len(data)
        return data

    def seek(self, target: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            target += self.pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("can only seek forward from the start")
        if target < self.pos:
            raise InvalidInput("tar stream asked to go backwards (malformed archive)")
        self._forward(target)
        return self.pos

    def _forward(self, target: int) -> None:
        """Move on to `target` by reading, stopping where the stream ends."""
        while self.pos < target:
            if not self.read(min(CHUNK, target - self.pos)):
                break

    def drain(self, limit: int) -> None:
        """Read what follows the end of the tar (zero padding), refusing more than `limit`
        bytes of it: an endless stream of zeros must end in an error, not run forever."""
        start = self.pos
        while self.read(CHUNK):
            if self.pos - start > limit:
                raise InvalidInput(f"more than {limit} bytes follow the end of the tar archive")


class Slice(ReadStream):
    """The next `size` bytes of a reader (one tar member's data), and no more."""

    def __init__(self, src: BinaryIO | ReadStream, size: int) -> None:
        self.src = src
        self.left = size
        self.cut = False  # the reader ended before the member's last byte: a truncated archive

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes; all that is left when `size` is -1, however little each read of
        the source returns (a decompressor gives at most a chunk at a time)."""
        if size is not None and size >= 0:
            return self._take(min(size, self.left))
        parts = []
        while self.left and (data := self._take(self.left)):
            parts.append(data)
        return b"".join(parts)

    def _take(self, want: int) -> bytes:
        data = self.src.read(want) if want else b""
        self.left -= len(data)
        self.cut = self.cut or (want > 0 and not data)
        return data


class ReadAhead:
    """`src` read a chunk at a time by a thread, up to `depth` chunks ahead of its consumer, each
    chunk handed to `each` in that thread first. Reading, decompressing (isal, zlib, zstd) and
    hashing release the GIL on large buffers, so they run on the other core while the consumer
    parses headers and writes files. What the thread meets (the end, an error) reaches the
    consumer in stream order: a chunk read ahead of a failure is still handed out first.
    """

    def __init__(self, src: BinaryIO, each: Callable[[bytes], None], chunk: int = CHUNK, depth: int = 4) -> None:
        self._src = src
        self._each = each
        self._chunk = chunk
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="bilge-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._src.read(self._chunk)
                if data:
                    self._each(data)
                self._queue.put(data)
                if not data:
                    return
        except BaseException as exc:
            self._queue.put(exc)

    def next(self) -> bytes:
        """The next chunk, b"" at the end of `src`."""
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        self._done = not item
        return item

    def close(self) -> None:
        """Stop the thread and wait for it: once this returns, nothing reads `src` behind the
        caller's back. A put blocked on the full queue is freed by emptying it; the thread then
        sees the stop before its next read."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(0.01)
        self._done = True


def open_tar(reader: ForwardReader) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=reader, mode="r:")
    except tarfile.ReadError as exc:
        raise InvalidInput(f"not a tar archive: {exc}") from None


def members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Each member once, forgetting it afterwards: tarfile would otherwise keep them all in memory.

    Once the caller is done with a member, the reader is moved to the next header in one
    forward seek: tarfile would seek to a byte short of it and read that byte, two trips
    through the reader per entry. A stream that ends short of the header still fails in
    tarfile, as before."""
    reader = tf.fileobj
    while True:
        ti = tf.next()
        if ti is None:
            return
        tf.members.clear()  # type: ignore[attr-defined]  # tarfile's own list, not in its stubs
        yield ti
        if reader.tell() < tf.offset:
            reader.seek(tf.offset)


@contextmanager
def tar_pipe(writer: Callable[[tarfile.TarFile], None]) -> Iterator[BinaryIO]:
    """A pipe whose other end a thread fills with the tar `writer` makes, for a layer's ingest
    to read: a layer made from files (commit, a build's COPY) is extracted in the same single
    pass, with the same checks, as a loaded one."""
    read_fd, write_fd = os.pipe()
    reader, sink = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                writer(tf)
        except BaseException as exc:
            failure.append(exc)
        finally:
            try:
                sink.close()
            except OSError:
                pass

    thread = threading.Thread(target=produce, name="commit-tar", daemon=True)
    thread.start()
    try:
        yield reader
    finally:
        reader.close()
        thread.join()
    if failure and not isinstance(failure[0], BrokenPipeError):
        raise failure[0]
