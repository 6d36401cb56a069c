"""Size accounting from the graph, in SQL (design: "Sizes, defined").

Docker's columns for each top-level image: SIZE (its layers), SHARED SIZE (its layers that
another top-level image also uses), UNIQUE (the rest). Fair share splits each layer evenly
among its users, so the column adds up to the total, which Docker's do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from bilge.store.db import Database

# Top level, as `docker images` without -a: named, or nothing built on top of it.
TOP_LEVEL = (
    "SELECT id FROM images i WHERE EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id) "
    "OR EXISTS (SELECT 1 FROM digests d WHERE d.image_id = i.id) "
    "OR NOT EXISTS (SELECT 1 FROM images c WHERE c.parent = i.id)"
)


@dataclass(frozen=True)
class ImageUsage:
    image_id: str
    size: int
    shared: int
    fair_share: float
    disk: int
    shared_disk: int

    @property
    def unique(self) -> int:
        return self.size - self.shared


def image_usage(db: Database) -> dict[str, ImageUsage]:
    """Per top-level image: size, shared, unique and fair share, in one pass over the graph."""
    rows = db.execute(
        f"WITH listed AS ({TOP_LEVEL}), "
        "refs AS (SELECT il.chain_id, COUNT(DISTINCT il.image_id) AS n FROM image_layers il "
        "         JOIN listed ON listed.id = il.image_id GROUP BY il.chain_id) "
        "SELECT il.image_id, SUM(l.size), SUM(CASE WHEN refs.n > 1 THEN l.size ELSE 0 END), "
        "       SUM(CAST(l.size AS REAL) / refs.n), SUM(l.disk), SUM(CASE WHEN refs.n > 1 THEN l.disk ELSE 0 END) "
        "FROM image_layers il JOIN listed ON listed.id = il.image_id "
        "JOIN layers l ON l.chain_id = il.chain_id JOIN refs ON refs.chain_id = il.chain_id "
        "GROUP BY il.image_id"
    ).fetchall()
    usage = {r[0]: ImageUsage(*r) for r in rows}
    for (image_id,) in db.execute(TOP_LEVEL):
        usage.setdefault(image_id, ImageUsage(image_id, 0, 0, 0.0, 0, 0))
    return usage
