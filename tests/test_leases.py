"""Leases: what a lapsed lease means for the work that held it, and what its expiry accepts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bilge.fabricate import layer_tar
from bilge.store.check import check
from bilge.store.core import Store
from bilge.store.leases import LeaseLost


def test_work_whose_lease_lapsed_commits_nothing(bilge_root: Path) -> None:
    """A holder stalled past its expiry (SIGSTOP, a frozen VM) may find a `check --repair` or a
    prune dropped its lease: its commit must stop before making anything, not leave a layer
    directory without a row."""
    store = Store(bilge_root)
    with store.lease("load") as lease:
        ingested = store.layers.ingest(io.BytesIO(layer_tar("lapsed", {"f": 10})), lease)
        store.db.execute("DELETE FROM leases WHERE id = ?", [lease.id])  # what check --repair does to a lapsed one
        with pytest.raises(LeaseLost, match="stalled past its lease"):
            store.layers.commit(ingested, None, lease)
        with pytest.raises(LeaseLost):
            store.images.create(b'{"rootfs": {"type": "layers", "diff_ids": []}}', lease)
    assert [p.name for p in (bilge_root / "layers").iterdir()] == ["l"]
    assert store.db.execute("SELECT COUNT(*) FROM layers").fetchone()[0] == 0
    assert check(store).ok


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_lease_expiry_must_be_positive_seconds(bilge, value: str) -> None:
    result = bilge("load", "-i", "/dev/null", env={"BILGE_LEASE_TTL": value}, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: BILGE_LEASE_TTL={value!r}: give the lease expiry in seconds, above zero"
