"""Image references normalised the way Docker does (distribution/reference grammar)."""

from __future__ import annotations

import re

from .errors import InvalidInput

DEFAULT_DOMAIN = "docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN = (  # compiled by `re` when a name first has a registry host
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_ID_RE = re.compile(r"(?:sha256:)?[0-9a-f]{64}")


class Reference:
    """A named reference: `domain/path` plus a tag and/or a digest; immutable, compared by value.
    (A plain class: dataclasses and typing each cost more to import than a cached build's work.)"""

    __slots__ = ("repository", "tag", "digest")
    repository: str
    tag: str | None
    digest: str | None

    def __init__(self, repository: str, tag: str | None = None, digest: str | None = None) -> None:
        object.__setattr__(self, "repository", repository)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "digest", digest)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Reference is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reference):
            return NotImplemented
        return (self.repository, self.tag, self.digest) == (other.repository, other.tag, other.digest)

    def __hash__(self) -> int:
        return hash((self.repository, self.tag, self.digest))

    def __repr__(self) -> str:
        return f"Reference(repository={self.repository!r}, tag={self.tag!r}, digest={self.digest!r})"

    @property
    def domain(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def path(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def familiar(self) -> str:
        """What Docker prints: docker.io/library/busybox -> busybox."""
        return familiar_name(self.repository)

    def __str__(self) -> str:
        out = self.familiar
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out


def is_image_id(text: str) -> bool:
    """A full image ID, with or without `sha256:`: never a name, as Docker's ParseAnyReference decides."""
    return bool(_ID_RE.fullmatch(text))


def familiar_name(repository: str) -> str:
    if repository.startswith(DEFAULT_DOMAIN + "/"):
        repository = repository[len(DEFAULT_DOMAIN) + 1 :]
        if repository.startswith(OFFICIAL_PREFIX) and repository.count("/") == 1:
            repository = repository[len(OFFICIAL_PREFIX) :]
    return repository


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse NAME[:TAG][@DIGEST]; a bare NAME gets `latest` unless `default_tag` is false."""
    name, digest = text, None
    if "@" in name:
        name, digest = name.split("@", 1)
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidInput(f"invalid reference format: {text!r} (bad digest)")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG_RE.fullmatch(tag):
            raise InvalidInput(f"invalid reference format: {text!r} (bad tag)")
    domain, path = _split_domain(name)
    if path != path.lower():  # Docker's own words for the commonest mistake
        raise InvalidInput(f"invalid reference format: repository name must be lowercase: {text!r}")
    if not path or not _PATH_RE.fullmatch(path) or len(name) > 255:
        raise InvalidInput(f"invalid reference format: {text!r}")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(f"{domain}/{path}", tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not re.fullmatch(_DOMAIN, first):
            raise InvalidInput(f"invalid reference format: {name!r} (bad registry host)")
        return first, rest
    if "/" not in name:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    return DEFAULT_DOMAIN, name
