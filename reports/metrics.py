"""`bilge metrics`: the store's space figures in Prometheus' text exposition format (0.0.4), for
node_exporter's textfile collector, so a fleet of hosts is watched from Prometheus.

Every figure is one the other reports show, from the same accounting: the totals of a usage
snapshot (gc/snapshots.py, taken but not recorded: a scrape every minute is no event worth
keeping), each top-level image's unique bytes, the last prune from the collector's log. Per-image
series are bounded to the top N by unique bytes, so a host with 10,000 images does not hand
Prometheus 10,000 series. All metrics are gauges: a prune makes every one of them go down.

The file is written atomically (rule 1): node_exporter reads it at any moment, and a half-written
file would be a scrape error or, worse, a series that silently vanished.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bilge.gc.accounting import image_usage
from bilge.gc.graph import Graph
from bilge.gc.prune import disk_usage, last_run
from bilge.gc.snapshots import take
from bilge.store.catalog import ImageRecord
from bilge.store.core import Store
from bilge.store.errors import BilgeError
from bilge.store.fsutil import atomic_write

TOP = 20

Labels = dict[str, str]


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    samples: list[tuple[Labels, int | float]]


def collect(store: Store, top: int = TOP) -> list[Metric]:
    graph = Graph.load(store.db)
    now = time.time()
    snap = take(graph, disk_usage(store), "report", 0, now)
    usage = image_usage(graph)
    ranked = sorted(usage.values(), key=lambda u: (-u.unique, u.image_id))[:top]
    last = last_run(store)
    return [
        Metric(
            "bilge_store_bytes",
            "Apparent bytes by type, as system df counts them: images counts every layer an image holds,"
            " the build cache's included.",
            [
                ({"type": "images"}, snap.images_bytes),
                ({"type": "containers"}, snap.containers_bytes),
                ({"type": "build_cache"}, snap.build_cache_bytes),
            ],
        ),
        Metric(
            "bilge_store_total_bytes",
            "Apparent bytes of every layer and writable container layer the store holds, each once.",
            [({}, snap.stored_bytes)],
        ),
        Metric(
            "bilge_reclaimable_bytes",
            "Bytes a prune with this policy would free now, exact from the layer graph.",
            [({"policy": "system prune -a"}, snap.reclaimable_bytes)],
        ),
        Metric(
            "bilge_image_unique_bytes",
            f"Bytes removing this image alone would free, for the {top} images with the most.",
            [({"image": image_label(graph.images[u.image_id])}, u.unique) for u in ranked],
        ),
        Metric(
            "bilge_last_prune_timestamp_seconds",
            "When the last prune finished, in seconds since the epoch; 0 if none ever ran.",
            [({}, last["finished"] if last else 0)],
        ),
        Metric(
            "bilge_last_prune_freed_bytes",
            "Apparent bytes the last prune freed; 0 if none ever ran.",
            [({}, last["freed_bytes"] if last else 0)],
        ),
        Metric("bilge_filesystem_free_bytes", "Free bytes on the store's file system.", [({}, snap.fs_free_bytes)]),
        Metric("bilge_filesystem_size_bytes", "Size of the store's file system.", [({}, snap.fs_total_bytes)]),
        Metric("bilge_images", "Top-level images (what bilge images lists).", [({}, len(usage))]),
        Metric("bilge_containers", "Containers, running or not.", [({}, len(graph.containers))]),
        Metric("bilge_layers", "Extracted layers.", [({}, len(graph.layers))]),
    ]


def image_label(img: ImageRecord) -> str:
    """repo:tag of its first tag, else its short ID, as `bilge images` shows it."""
    if img.tags:
        repo, tag = img.tags[0]
        return f"{repo}:{tag}"
    return img.id.removeprefix("sha256:")[:12]


def exposition(metrics: Iterable[Metric]) -> str:
    lines = []
    for metric in metrics:
        lines += [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} gauge"]
        for labels, value in metric.samples:
            lines.append(f"{metric.name}{_labels(labels)} {value}")
    return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}"


def escape(value: str) -> str:
    """A label value as the exposition format quotes it: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(store: Store, top: int = TOP) -> str:
    return exposition(collect(store, top))


def write_metrics(store: Store, path: Path, top: int = TOP) -> None:
    """Write the exposition to `path` atomically: a temporary file beside it, fsynced, renamed over it.
    The temporary name does not end in .prom, so the textfile collector never reads it."""
    text = render_metrics(store, top)
    try:
        atomic_write(path, text.encode(), path.parent)
    except OSError as exc:
        raise BilgeError(f"cannot write metrics to {path}: {exc.strerror or exc}") from exc
