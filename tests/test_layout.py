"""The store's directories on a real disk: where layers are born is marked for ext4's allocator."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def lsattr_flags(path: Path) -> str:
    return subprocess.run(["lsattr", "-d", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def test_a_new_store_spreads_its_layers_over_ext4_block_groups(bilge) -> None:
    disk = Path(tempfile.mkdtemp(prefix="bilge-layout-", dir="/var/tmp"))  # the tests' tmp is tmpfs
    try:
        kind = subprocess.run(["stat", "-f", "-c", "%T", str(disk)], capture_output=True, text=True).stdout.strip()
        if kind != "ext2/ext3":  # stat's name for the ext family, ext4 included
            pytest.skip(f"/var/tmp is {kind}, not ext4: no Orlov allocator to steer")
        root = disk / "store"
        bilge("--root", str(root), "images")
        assert "T" in lsattr_flags(root / "ingest")
        assert "T" in lsattr_flags(root / "containers")
        assert "T" not in lsattr_flags(root / "layers")
    finally:
        shutil.rmtree(disk)
