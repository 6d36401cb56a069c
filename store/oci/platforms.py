"""OCI platforms: the host's, parsing `os/arch[/variant]`, and matching index entries."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass

from ..errors import InvalidInput

_ARCH = {
    "x86_64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", None),
    "i686": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def normalized(self) -> Platform:
        """Variant spelled out where a default applies, as containerd's matcher compares them."""
        return Platform(self.os, self.architecture, self.variant or _DEFAULT_VARIANT.get(self.architecture))

    def matches(self, other: Platform) -> bool:
        a, b = self.normalized(), other.normalized()
        return a.os == b.os and a.architecture == b.architecture and (a.variant == b.variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host() -> Platform:
    arch, variant = _ARCH.get(_platform.machine().lower(), (_platform.machine().lower(), None))
    return Platform("linux", arch, variant)


def parse(text: str) -> Platform:
    parts = text.strip().lower().split("/")
    if len(parts) == 1 and parts[0] in _ARCH:
        return Platform("linux", *_ARCH[parts[0]])
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidInput(f"invalid platform {text!r}: expected os/arch[/variant]")
    os_, arch = parts[0], _ARCH.get(parts[1], (parts[1], None))[0]
    return Platform(os_, arch, parts[2] if len(parts) == 3 else None)
