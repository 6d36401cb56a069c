"""`bilge demo`: the main job on a built-in default, with no network.

Generates a small family of images the way real ones share layers (one base, two
runtimes on it, several apps on each), loads them through the real `load` path as a
docker-archive, and shows `images` and what each image costs on disk.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bilge.fabricate import Image, docker_archive, layer_tar

MIB = 1 << 20


def build_archive() -> bytes:
    """One base, two runtimes on it, three apps on each, and an orphan sharing nothing."""
    base = layer_tar("base", {"usr/lib/libc.so": 3 * MIB, "etc/os-release": 64})
    images = [Image(["base:1"], [base], "2026-01-01T00:00:00Z", {"demo": "base"})]
    day = 1
    for runtime in ("python", "node"):
        layer = layer_tar(runtime, {f"usr/lib/{runtime}/runtime.so": 2 * MIB})
        day += 1
        images.append(Image([f"{runtime}:1"], [base, layer], f"2026-01-{day:02d}T00:00:00Z", {"demo": runtime}))
        for app in range(1, 4):
            app_layer = layer_tar(f"{runtime}-app{app}", {f"app/{runtime}-app{app}.bin": app * MIB})
            day += 1
            images.append(
                Image(
                    [f"{runtime}-app{app}:v1"],
                    [base, layer, app_layer],
                    f"2026-01-{day:02d}T00:00:00Z",
                    {"demo": "app"},
                )
            )
    images.append(Image(["orphan:old"], [layer_tar("orphan", {"opt/old.bin": 2 * MIB})], "2025-06-01T00:00:00Z"))
    return docker_archive(images)


STEPS = [
    ["images"],
    ["system", "df", "-v"],
    ["top", "-n", "5"],
    ["image", "prune", "-a", "--max-size", "15MB", "--dry-run"],
    ["image", "prune", "-a", "--max-size", "15MB", "-f"],
    ["system", "df"],
]


def refuse_unless_empty(root: Path) -> None:
    """The demo prunes with -f: it may only ever fill a store it makes, never a user's own."""
    from bilge.store.errors import Conflict

    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise Conflict(
            f"{root} is not empty: the demo prunes what it loads, so it only fills a new or empty "
            "directory (or, without --root, a throw-away one)"
        )


def run(root: Path | None) -> None:
    """Load the generated images, then run the main job's commands exactly as a user would,
    and end with the HTML space report, kept (in the temporary directory) when the store goes."""
    from bilge.cli import app
    from bilge.store.archive.load import load
    from bilge.store.core import Store

    if root is not None:
        refuse_unless_empty(root)
    scratch = None if root else Path(tempfile.mkdtemp(prefix="bilge-demo-"))
    target = root or scratch
    assert target is not None
    try:
        store = Store(target)
        loaded = load(store, io.BytesIO(build_archive()))
        store.close()
        sys.stdout.write(
            f"Loaded {len(loaded)} generated images (one base, two runtimes, six apps, an orphan) into {target}\n"
        )
        for args in STEPS:
            sys.stdout.write(f"\n$ bilge {' '.join(args)}\n")
            sys.stdout.flush()
            app(["--root", str(target), *args], prog_name="bilge", standalone_mode=False)
            sys.stderr.flush()
        fd, name = tempfile.mkstemp(prefix="bilge-demo-report-", suffix=".html")
        os.close(fd)
        sys.stdout.write(f"\n$ bilge report --snapshot -o {name}\n")
        sys.stdout.flush()
        app(["--root", str(target), "report", "--snapshot", "-o", name], prog_name="bilge", standalone_mode=False)
        sys.stdout.write(f"\nThe space report (open it in a browser): {name}\n")
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
