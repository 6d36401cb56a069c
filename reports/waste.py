"""Waste analysis, as dive does it: bytes an image's layers write and a later layer then
overwrites or deletes. They are still on disk (in the lower layer) and in every pull, though
no container ever sees them.

Each layer's entries are read from its tar-split (the headers the store keeps beside the
files, rule 5), so nothing is walked. Layers apply bottom to top under the OCI layer rules:
an entry replaces what a lower layer had at its path, `.wh.NAME` deletes NAME (and all under
it), `.wh..wh..opq` hides everything lower layers had in its directory. The efficiency is the
share of the bytes written that the image's final file system still shows.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from bilge.store.core import Store

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class Offender:
    path: str  # absolute, as in the image
    size: int
    layer: int  # index (bottom 0) of the layer that wrote it
    by: int  # index of the layer that overwrote or deleted it
    how: str  # "overwritten" or "deleted"


@dataclass(frozen=True)
class LayerInfo:
    chain: str
    size: int
    created_by: str


@dataclass(frozen=True)
class Waste:
    image_id: str
    layers: list[LayerInfo]
    written: int  # bytes of file content all layers write
    wasted: int  # of those, overwritten or deleted by a later layer
    offenders: list[Offender]  # largest first

    @property
    def efficiency(self) -> float:
        return 1.0 if not self.written else (self.written - self.wasted) / self.written


def _norm(name: str) -> str:
    return "/" + posixpath.normpath("/" + name).lstrip("/")


def analyse(store: Store, image_id: str) -> Waste:
    from bilge.store.layerfs.tarsplit import members

    chains = store.images.chain(image_id)
    visible: dict[str, tuple[int, int, bool]] = {}  # path -> (layer, size, is a directory)
    offenders: list[Offender] = []
    written = 0

    def remove(path: str, by: int, how: str, below: int, subtree: bool, itself: bool) -> None:
        """Take `path` (`itself`) and what lies under it (`subtree`, if it is a directory) from
        the lower layers' view, recording the files as waste."""
        gone = [path] if itself and path in visible else []
        if subtree and (path not in visible or visible[path][2]):
            prefix = path.rstrip("/") + "/"
            gone += [p for p in visible if p.startswith(prefix)]
        for p in gone:
            layer, size, is_dir = visible[p]
            if layer < below:
                del visible[p]
                if not is_dir:
                    offenders.append(Offender(p, size, layer, by, how))

    for index, chain in enumerate(chains):
        row = store.layers.get(chain)
        for member in members(store.blobs.get(row["tarsplit"])):
            path = _norm(member.name)
            directory, base = posixpath.split(path)
            if base == OPAQUE:
                remove(directory, index, "deleted", index, subtree=True, itself=False)
            elif base.startswith(WHITEOUT):
                target = posixpath.join(directory, base[len(WHITEOUT) :])
                remove(target, index, "deleted", index, subtree=True, itself=True)
            else:
                if path in visible and not (member.isdir() and visible[path][2]):
                    remove(path, index, "overwritten", index, subtree=not member.isdir(), itself=True)
                size = member.size if member.isreg() else 0
                written += size
                visible[path] = (index, size, member.isdir())
    offenders.sort(key=lambda o: (-o.size, o.path))
    return Waste(image_id, _layers(store, image_id, chains), written, sum(o.size for o in offenders), offenders)


def _layers(store: Store, image_id: str, chains: list[str]) -> list[LayerInfo]:
    """Each layer with the history entry that made it (metadata-only entries made none)."""
    history = [h for h in store.images.config(image_id).get("history") or [] if not h.get("empty_layer")]
    made = [h.get("created_by", "") for h in history] if len(history) == len(chains) else [""] * len(chains)
    return [LayerInfo(c, store.layers.get(c)["size"], by) for c, by in zip(chains, made)]
