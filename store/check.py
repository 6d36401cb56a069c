"""`bilge check`: prove rule 2 (every file has a row, every row has its files) and repair.

Repairs are the ones a crash can make necessary: orphan directories and blobs go to the
trash, expired leases and their ingest/ scratch are dropped. A row whose files are gone
cannot be repaired from here and is reported.

`--deep` re-hashes every config and layer (store/verify.py); `--deep --repair` marks what is
damaged (store/damaged.py) for the next load or pull of it to heal, since a check fetches nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from . import damaged
from . import digest as dg
from .core import Store
from .db import read, write
from .verify import broken_by, find_damage


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(store: Store, repair: bool = False, deep: bool = False) -> Report:
    """`deep`: also re-hash every config and layer (store/verify.py); with `repair`, mark what
    fails so that the next load or pull of it heals it."""
    report = Report()
    with write(store.db) if repair else read(store.db):
        _leases(store, report, repair)
        _layers(store, report, repair)
        _blobs(store, report, repair)
        _images(store, report)
        _containers(store, report, repair)
        if not deep:  # a deep check finds each marked object again, or finds it healed
            _marked(store, report)
    if deep:
        _deep(store, report, repair)
    if not store.db.read_only:
        store.trash.finish()
    return report


def _orphan(store: Store, report: Report, repair: bool, path: str, what: str) -> None:
    if repair:
        store.trash.queue([path])
        report.repaired.append(f"removed {what} {path}")
    else:
        report.problems.append(f"{what}: {path}")


def _leases(store: Store, report: Report, repair: bool) -> None:
    now = time.time()
    expired = store.db.execute("SELECT id, purpose, pid FROM leases WHERE expires <= ?", [now]).fetchall()
    for lease_id, purpose, pid in expired:
        held = [
            f"{kind} {ref}"
            for kind, ref in store.db.execute(
                "SELECT kind, ref FROM lease_refs WHERE lease_id = ? ORDER BY kind, ref", [lease_id]
            )
        ]
        what = f"lapsed lease of a {purpose} (pid {pid}) held {', '.join(held) or 'nothing'}"
        report.repaired.append(f"dropped {what}") if repair else report.problems.append(what)
    if expired and repair:
        store.db.execute("DELETE FROM leases WHERE expires <= ?", [now])
    live = {r[0] for r in store.db.execute("SELECT id FROM leases WHERE expires > ?", [now])}
    for entry in os.scandir(store.layout.ingest):
        if entry.name not in live:
            _orphan(store, report, repair, f"ingest/{entry.name}", "work in progress of no live lease")


def _layers(store: Store, report: Report, repair: bool) -> None:
    rows = {r["dir"]: r for r in store.db.query("SELECT chain_id, dir, short, tarsplit FROM layers")}
    shorts = {r["short"]: r for r in rows.values()}
    for entry in os.scandir(store.layout.layers):
        if entry.name != "l" and entry.name not in rows:
            _orphan(store, report, repair, f"layers/{entry.name}", "layer directory without a row")
    for entry in os.scandir(store.layout.links):
        if entry.name not in shorts:
            _orphan(store, report, repair, f"layers/l/{entry.name}", "short link without a layer")
    for name, row in rows.items():
        if not (store.layout.layers / name / "diff").is_dir():
            report.problems.append(f"layer {row['chain_id']}: its directory is missing")
        if not os.path.islink(store.layout.links / row["short"]):
            report.problems.append(f"layer {row['chain_id']}: its short link is missing")
        if not store.blobs.path(row["tarsplit"]).is_file():
            report.problems.append(f"layer {row['chain_id']}: its tar-split blob is missing")


def _blobs(store: Store, report: Report, repair: bool) -> None:
    wanted = {dg.hex_of(r[0]) for r in store.db.execute("SELECT tarsplit FROM layers UNION SELECT id FROM images")}
    for entry in os.scandir(store.layout.blobs):
        if entry.name not in wanted:
            _orphan(store, report, repair, f"blobs/sha256/{entry.name}", "blob nothing refers to")


def _images(store: Store, report: Report) -> None:
    for (image_id,) in store.db.execute("SELECT id FROM images"):
        if not store.blobs.path(image_id).is_file():
            report.problems.append(f"image {image_id}: its config blob is missing")
    for image_id, chain in store.db.execute(
        "SELECT image_id, chain_id FROM image_layers WHERE chain_id NOT IN (SELECT chain_id FROM layers)"
    ):
        report.problems.append(f"image {image_id}: layer {chain} is missing")


def _containers(store: Store, report: Report, repair: bool) -> None:
    rows = {r[0] for r in store.db.execute("SELECT id FROM containers")}
    for entry in os.scandir(store.layout.containers):
        if entry.name not in rows:
            _orphan(store, report, repair, f"containers/{entry.name}", "container directory without a row")
    for cid in rows:
        if not (store.layout.containers / cid).is_dir():
            report.problems.append(f"container {cid}: its directory is missing")


def _marked(store: Store, report: Report) -> None:
    for kind, ref, why in damaged.marks(store.db):
        names = ", ".join(broken_by(store, kind, ref))
        report.problems.append(f"{why} (found by check --deep): load or pull {names} again to heal it")


def _deep(store: Store, report: Report, repair: bool) -> None:
    found = find_damage(store)
    report.problems += [f"{d.why}; it breaks {', '.join(d.images)}" for d in found]
    if not repair:
        return
    still = {(d.kind, d.ref) for d in found}
    with write(store.db):
        for kind, ref, _ in damaged.marks(store.db):
            if (kind, ref) not in still:
                damaged.unmark(store.db, ref)  # healed since it was marked
        for d in found:
            if store.images.exists(d.ref) if d.kind == "config" else store.layers.exists(d.ref):
                damaged.mark(store.db, d.kind, d.ref, d.why)
                report.repaired.append(f"marked {d.name} damaged: load or pull {', '.join(d.images)} again to heal it")
