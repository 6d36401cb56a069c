"""Small content-addressed blobs (configs, manifests, tar-split data) under blobs/sha256/."""

from __future__ import annotations

import os
from pathlib import Path

from . import digest as dg
from .errors import DigestMismatch, NotFound
from .fsutil import atomic_write
from .trash import Trash


class BlobStore:
    def __init__(self, directory: Path, ingest: Path, trash: Trash) -> None:
        self.directory = directory
        self.ingest = ingest
        self.trash = trash

    def path(self, digest: str) -> Path:
        return self.directory / dg.hex_of(digest)

    def put(self, data: bytes, expected: str | None = None) -> str:
        """Store `data` (verified against `expected` if given); idempotent.

        Call inside the write transaction that records the row referring to the blob, so a
        sweep that queued the same blob for deletion cannot take it afterwards.
        """
        digest = dg.sha256_bytes(data)
        if expected is not None and expected != digest:
            raise DigestMismatch(f"content of {expected} hashes to {digest}")
        target = self.path(digest)
        self.trash.keep(f"blobs/sha256/{dg.hex_of(digest)}")
        if not _holds(target, digest):  # a damaged copy is rewritten, never trusted for being there
            atomic_write(target, data, self.ingest, 0o600)  # configs carry environments: the owner's alone
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from the store") from None

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass


def _holds(path: Path, digest: str) -> bool:
    """Whether the file at `path` is there and hashes to `digest`."""
    try:
        return dg.sha256_bytes(path.read_bytes()) == digest
    except FileNotFoundError:
        return False
