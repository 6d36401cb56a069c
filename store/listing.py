"""`bilge images`: which images to show, with which names and sizes, read from the catalog."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from .catalog import Catalog
from .core import Store
from .errors import InvalidInput
from .memo import memo
from .tables import ago, ago_column, human_size, size_column
from .timeutil import format_utc, rfc3339_nano

FILTER_KEYS = ("dangling", "label", "reference", "before", "since")


class ImageSummary(NamedTuple):
    """One row group of `images`: the names shown (after a reference filter) and the size.
    A tuple: a listing makes one per image, and at 100,000 images a dataclass costs 0.2 s."""

    id: str
    created: float | None
    size: int
    repo_tags: list[tuple[str, str]]
    repo_digests: list[tuple[str, str]]
    last_used: float | None


HEADERS = {  # Docker's column names for each field a `--format` template can name
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}


def name_rows(found: list[ImageSummary], shown_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """One row per name, as `docker images` lists them: Docker's fields (its formatter's image
    context, which `--format` templates read) in Docker's human units. `docker
    images` counts neither containers nor shared bytes: "N/A", as Docker prints them."""
    rows = []
    now = time.time()
    for img in found:
        digest_of = dict(img.repo_digests)
        ident = shown_id(img.id)
        created, since = format_utc(img.created), ago(img.created, now)
        size, virtual = human_size(img.size), human_size(img.size, 4)
        for repo, tag in img.repo_tags or NO_NAME:
            rows.append(
                {
                    "Containers": "N/A",
                    "CreatedAt": created,
                    "CreatedSince": since,
                    "Digest": digest_of.get(repo, "<none>"),
                    "ID": ident,
                    "Repository": repo,
                    "SharedSize": "N/A",
                    "Size": size,
                    "Tag": tag,
                    "UniqueSize": "N/A",
                    "VirtualSize": virtual,
                }
            )
    return rows


def name_columns(found: list[ImageSummary], digests: bool, shown_id: Callable[[str], str]) -> list[list[str]]:
    """The default table's cells column by column, one row per name as name_rows has them: at
    10,000 images a dict per row and a clock read per cell were most of `images`."""
    repos: list[str] = []
    tags: list[str] = []
    digest_cells: list[str] = []
    owner: list[int] = []  # the image each row names
    for n, img in enumerate(found):
        names = img.repo_tags or NO_NAME
        for repo, tag in names:
            repos.append(repo)
            tags.append(tag)
        owner += [n] * len(names)
        if digests:
            digest_of = dict(img.repo_digests)
            digest_cells += [digest_of.get(repo, "<none>") for repo, _ in names]
    ids = [shown_id(img.id) for img in found]
    created = ago_column([img.created for img in found])
    sizes = size_column([img.size for img in found])
    per_image = [list(map(column.__getitem__, owner)) for column in (ids, created, sizes)]
    return [repos, tags, *([digest_cells] if digests else []), *per_image]


def exact_rows(found: list[ImageSummary]) -> list[dict[str, Any]]:
    """json and csv: one record per name with Docker's field names, the full ID, exact bytes
    and an RFC 3339 creation time (README, "Machine-readable output")."""
    return [
        {
            "ID": img.id,
            "Repository": repo,
            "Tag": tag,
            "Digest": dict(img.repo_digests).get(repo, "<none>"),
            "CreatedAt": rfc3339_nano(img.created) if img.created is not None else None,
            "Size": img.size,
            "LastUsedAt": rfc3339_nano(img.last_used) if img.last_used else None,
        }
        for img in found
        for repo, tag in img.repo_tags or NO_NAME
    ]


NO_NAME = [("<none>", "<none>")]


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or key not in FILTER_KEYS:
            raise InvalidInput(f"invalid filter {item!r} (supported: {', '.join(FILTER_KEYS)})")
        out.setdefault(key, []).append(value)
    return out


class Listed(NamedTuple):
    """What `images` and its filters know of an image, memoized between runs (store/memo.py)."""

    id: str
    created: float | None
    size: int
    tags: list[tuple[str, str]]
    digests: list[tuple[str, str]]
    last_used: float | None
    labels: dict[str, str]
    top_level: bool
    dangling: bool


def listed_images(store: Store) -> list[tuple]:
    """Listed's fields as plain tuples, newest first: at 100,000 images, making a NamedTuple of
    each costs more than reading them back, so only a filter (which needs the names) makes
    them; sorting them is a tenth of a listing, so the memo keeps them in order."""
    return memo(store, "images", "", lambda: _listed(store))


def _listed(store: Store) -> list[tuple]:
    """Plain tuples, which marshal stores (it refuses a NamedTuple)."""
    catalog = Catalog.load(store.db, layers=False)
    rows = [
        (
            img.id,
            img.created,
            img.size,
            img.tags,
            img.digests,
            img.last_used,
            img.labels,
            catalog.top_level(img),
            catalog.dangling(img),
        )
        for img in catalog.images.values()
    ]
    rows.sort(key=lambda row: (row[1] or 0, row[0]), reverse=True)  # newest first, as Docker lists
    return rows


def list_images(store: Store, show_all: bool = False, filters: list[str] | None = None) -> list[ImageSummary]:
    """Docker's rules: intermediates (untagged images with children) are shown only with -a."""
    wanted = parse_filters(filters or [])
    rows = listed_images(store)
    if wanted:
        out = _filtered([Listed._make(row) for row in rows], show_all, wanted, store)
    else:
        out = [ImageSummary._make(row[:6]) for row in rows if show_all or row[7]]  # row[7]: Listed.top_level
    return out


def _filtered(images: list[Listed], show_all: bool, wanted: dict[str, list[str]], store: Store) -> list[ImageSummary]:
    created = {img.id: img.created or 0 for img in images}
    bounds = {key: [created[store.images.resolve(v)] for v in wanted.get(key, [])] for key in ("before", "since")}
    out = []
    for img in images:
        if not (show_all or img.top_level) or not _matches(img, wanted, bounds):
            continue
        tags = img.tags
        if "reference" in wanted:
            tags = [t for t in img.tags if reference_matches(wanted["reference"], *t)]
            if not tags:
                continue
        out.append(ImageSummary(img.id, img.created, img.size, tags, img.digests, img.last_used))
    return out


def _matches(img: Listed, wanted: dict[str, list[str]], bounds: dict[str, list[float]]) -> bool:
    for value in wanted.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidInput(f"invalid filter 'dangling={value}': expected true or false")
        if value.lower() in ("true", "1"):
            if not img.dangling:
                return False
        elif not (img.tags or img.digests):
            return False
    for value in wanted.get("label", []):
        key, sep, want = value.partition("=")
        if key not in img.labels or (sep and img.labels[key] != want):
            return False
    created = img.created or 0
    return not (any(created >= b for b in bounds["before"]) or any(created <= b for b in bounds["since"]))


def _path_match(pattern: str, name: str) -> bool:
    """Go's path.Match, which reference filters use: `*` and `?` never cross a `/`."""
    regex = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def reference_matches(patterns: list[str], repo: str, tag: str) -> bool:
    """`reference=` as Docker matches it: a pattern names the repository or repository:tag."""
    return any(_path_match(p, repo) or _path_match(p, f"{repo}:{tag}") for p in patterns)
