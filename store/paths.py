"""Where the store lives on disk (design: "On disk")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_root() -> Path:
    """$BILGE_ROOT, else /var/lib/bilge for root, else $XDG_DATA_HOME/bilge."""
    if env := os.environ.get("BILGE_ROOT"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/bilge")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data_home) / "bilge"


@dataclass(frozen=True)
class Layout:
    """The fixed places under a store root, modelled on Docker's overlay2 layout."""

    root: Path

    @property
    def db(self) -> Path:
        return self.root / "bilge.db"

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def links(self) -> Path:
        return self.root / "layers" / "l"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def ingest(self) -> Path:
        return self.root / "ingest"

    @property
    def trash(self) -> Path:
        return self.root / "trash"

    def create(self) -> None:
        for path in (self.blobs, self.links, self.containers, self.ingest, self.trash):
            path.mkdir(parents=True, exist_ok=True)
