"""A registry blob as a file object: size-bounded, digest-verified, resumed after a drop.

Bytes are hashed as they pass, the descriptor's size is a hard limit, and the digest is
checked the moment the last byte arrives, so whatever reads the blob (decompression and
extraction, in one pass) never sees a verified end of a blob that was wrong. A connection
that drops mid-blob is reopened with `Range: bytes=<received>-`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator

import httpx

from ..errors import DigestMismatch
from ..layerfs.streams import ReadStream
from .client import ATTEMPTS, BACKOFF, CHUNK, Client, RegistryError


class BlobReader(ReadStream):
    def __init__(
        self,
        client: Client,
        repo: str,
        digest: str,
        size: int,
        wanted: str,
        on_bytes: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.client = client
        self.repo = repo
        self.digest = digest
        self.size = size
        self.wanted = wanted
        self.on_bytes = on_bytes
        self.pos = 0
        self.hash = hashlib.sha256()
        self.drops = 0
        self._resp: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._buf = b""
        self._off = 0

    def read(self, size: int | None = -1) -> bytes:
        want = CHUNK if size is None or size < 0 else size
        if self._off >= len(self._buf):
            self._buf, self._off = self._next(), 0
        out = self._buf[self._off : self._off + want]
        self._off += len(out)
        return out

    def drain(self) -> None:
        """Read to the end, so the digest is checked even when the reader above gave up early."""
        while self.read(CHUNK):
            pass

    def close(self) -> None:
        self._close_response()
        super().close()

    def _next(self) -> bytes:
        while self.pos < self.size:
            if self._chunks is None:
                self._open()
            try:
                chunk = next(self._chunks, None)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                self._dropped(f"{type(exc).__name__}: {exc}")
                continue
            if chunk is None:
                self._dropped("connection closed early")
                continue
            if self.pos + len(chunk) > self.size:
                raise DigestMismatch(f"blob {self.digest}: the registry sent more than its {self.size} bytes")
            self.pos += len(chunk)
            self.drops = 0  # progress: only drops in a row count against the attempts
            self.hash.update(chunk)
            self.on_bytes(len(chunk))
            if self.pos == self.size:
                self._close_response()
                self._verify()
            return chunk
        return b""

    def _verify(self) -> None:
        got = "sha256:" + self.hash.hexdigest()
        if got != self.digest:
            raise DigestMismatch(f"blob {self.digest} from {self.repo}: the content received hashes to {got}")

    def _open(self) -> None:
        resp = self.client.open_blob(self.repo, self.digest, self.wanted, self.pos)
        self._resp = resp
        chunks = resp.iter_raw()  # as the network delivers: nothing received is held back
        if self.pos and resp.status_code == 200:
            chunks = _skip(chunks, self.pos)  # the server ignored Range: drop what we have
        elif self.pos and not resp.headers.get("content-range", "").startswith(f"bytes {self.pos}-"):
            resp.close()
            raise RegistryError(f"blob {self.digest}: the registry resumed at the wrong offset")
        self._chunks = chunks

    def _dropped(self, why: str) -> None:
        self._close_response()
        self.drops += 1
        if self.drops >= ATTEMPTS:
            raise RegistryError(
                f"blob {self.digest}: {why} at byte {self.pos} of {self.size} (gave up after {self.drops} attempts)"
            )
        time.sleep(BACKOFF * 2 ** (self.drops - 1))

    def _close_response(self) -> None:
        if self._resp is not None:
            self._resp.close()
        self._resp, self._chunks = None, None


def _skip(chunks: Iterator[bytes], count: int) -> Iterator[bytes]:
    for chunk in chunks:
        if count >= len(chunk):
            count -= len(chunk)
            continue
        yield chunk[count:]
        count = 0
