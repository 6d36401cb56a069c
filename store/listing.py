"""`bilge images`: which images to show and with what, in a handful of set-based queries."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .core import Store
from .errors import InvalidInput
from .reference import familiar_name
from .timeutil import parse_rfc3339

FILTER_KEYS = ("dangling", "label", "reference", "before", "since")


@dataclass
class ImageSummary:
    id: str
    parent: str | None
    created: float | None
    size: int
    labels: dict[str, str]
    repo_tags: list[tuple[str, str]] = field(default_factory=list)
    repo_digests: list[tuple[str, str]] = field(default_factory=list)
    children: int = 0
    containers: int = 0

    @property
    def dangling(self) -> bool:
        return not self.repo_tags and not self.repo_digests and not self.children


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or key not in FILTER_KEYS:
            raise InvalidInput(f"invalid filter {item!r} (supported: {', '.join(FILTER_KEYS)})")
        out.setdefault(key, []).append(value)
    return out


def all_images(store: Store) -> dict[str, ImageSummary]:
    db = store.db
    images = {
        row["id"]: ImageSummary(
            id=row["id"],
            parent=row["parent"],
            created=parse_rfc3339(row["created"]),
            size=row["size"],
            labels=json.loads(row["labels"]) if row["labels"] else {},
        )
        for row in db.query(
            "SELECT i.id, i.parent, i.created, i.labels, COALESCE(SUM(l.size), 0) AS size FROM images i "
            "LEFT JOIN image_layers il ON il.image_id = i.id LEFT JOIN layers l ON l.chain_id = il.chain_id "
            "GROUP BY i.id"
        )
    }
    for repo, tag, image_id in db.execute("SELECT repository, tag, image_id FROM tags ORDER BY repository, tag"):
        images[image_id].repo_tags.append((familiar_name(repo), tag))
    for repo, digest, image_id in db.execute("SELECT repository, digest, image_id FROM digests ORDER BY repository"):
        images[image_id].repo_digests.append((familiar_name(repo), digest))
    for parent, count in db.execute("SELECT parent, COUNT(*) FROM images WHERE parent IS NOT NULL GROUP BY parent"):
        if parent in images:
            images[parent].children = count
    for image_id, count in db.execute("SELECT image_id, COUNT(*) FROM containers GROUP BY image_id"):
        if image_id in images:
            images[image_id].containers = count
    return images


def list_images(store: Store, show_all: bool = False, filters: list[str] | None = None) -> list[ImageSummary]:
    """Docker's rules: untagged images with children are intermediates, shown only with -a."""
    wanted = parse_filters(filters or [])
    images = all_images(store)
    bounds = {
        key: [images[store.images.resolve(v)].created or 0 for v in wanted.get(key, [])] for key in ("before", "since")
    }
    out = []
    for img in images.values():
        untagged = not img.repo_tags and not img.repo_digests
        if untagged and img.children and not show_all:
            continue
        if not _matches(img, wanted, bounds):
            continue
        if "reference" in wanted:
            img.repo_tags = [t for t in img.repo_tags if _reference_matches(wanted["reference"], *t)]
            if not img.repo_tags:
                continue
        out.append(img)
    out.sort(key=lambda i: (i.created or 0, i.id), reverse=True)
    return out


def _matches(img: ImageSummary, wanted: dict[str, list[str]], bounds: dict[str, list[float]]) -> bool:
    for value in wanted.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidInput(f"invalid filter 'dangling={value}': expected true or false")
        if value.lower() in ("true", "1"):
            if not img.dangling:
                return False
        elif not img.repo_tags and not img.repo_digests:
            return False
    for value in wanted.get("label", []):
        key, sep, want = value.partition("=")
        if key not in img.labels or (sep and img.labels[key] != want):
            return False
    created = img.created or 0
    if any(created >= b for b in bounds["before"]) or any(created <= b for b in bounds["since"]):
        return False
    return True


def _path_match(pattern: str, name: str) -> bool:
    """Go's path.Match, which reference filters use: `*` and `?` never cross a `/`."""
    regex = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def _reference_matches(patterns: list[str], repo: str, tag: str) -> bool:
    return any(_path_match(p, repo) or _path_match(p, f"{repo}:{tag}") for p in patterns)
