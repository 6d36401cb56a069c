"""Content identity as the OCI image spec defines it: digests, diff_ids, chain IDs."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import InvalidInput

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def sha256_bytes(data: bytes) -> str:
    import hashlib  # ~5 ms to import (OpenSSL): only what hashes pays for it

    return "sha256:" + hashlib.sha256(data).hexdigest()


def validate(digest: str) -> str:
    """Reject anything but a canonical sha256 digest, so it is safe to use as a file name."""
    if not _DIGEST_RE.fullmatch(digest):
        raise InvalidInput(f"invalid digest {digest!r}")
    return digest


def hex_of(digest: str) -> str:
    return validate(digest)[len("sha256:") :]


def chain_id(parent: str | None, diff_id: str) -> str:
    """C0 = D0, Cn = sha256(C(n-1) + " " + Dn), so a layer's ID names its whole ancestry."""
    validate(diff_id)
    return diff_id if parent is None else sha256_bytes(f"{parent} {diff_id}".encode())


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(chain_id(out[-1] if out else None, diff_id))
    return out
