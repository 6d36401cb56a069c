"""One scheduled run in-process: the lock (never waited for), the run log, the summary line and
the exit codes 0/1/2. tests/test_cron.py runs the same under the real cron daemon."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toygraph import Toy

from bilge.cron import runlog
from bilge.cron.lock import LockHeld, lock_path, run_lock
from bilge.cron.runlog import RunRecord
from bilge.cron.runner import run
from bilge.gc.prune import Plan


@pytest.fixture
def toy(tmp_path: Path) -> Toy:
    toy = Toy(tmp_path / "store")
    toy.image("app", toy.stack(("a", 100)), tags=("app:1",))
    toy.image("loose", toy.stack(("l", 20)))
    return toy


def policy(tmp_path: Path, text: str = '[prune]\nimages = "dangling"\n') -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_a_run_prunes_records_and_says_so(toy: Toy, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(toy.root, policy(tmp_path)) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("bilge cron run: ok: pruned 0 containers, 1 image, 0 build cache entries, 1 layer;")
    assert "(20 bytes)" in line
    record = runlog.last(toy.root)
    assert record is not None and record.exit_code == 0 and record.error is None
    assert record.plan.images == [toy.image_ids["loose"]] and len(record.plan.layers) == 1
    assert record.freed_bytes == record.plan.bytes == 20
    assert record.gc_run is not None
    assert toy.store.images.exists(toy.image_ids["app"]) and not toy.store.images.exists(toy.image_ids["loose"])


def test_a_policy_problem_is_exit_2_and_logged(toy: Toy, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(toy.root, policy(tmp_path, "[prune]\nmax_size = '20XB'\n")) == 2
    assert "failed (exit 2):" in capsys.readouterr().err
    record = runlog.last(toy.root)
    assert record is not None and record.exit_code == 2 and "prune.max_size" in (record.error or "")
    assert not record.plan


def test_a_failing_store_is_exit_1_and_logged(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "root"
    (root / "cron").mkdir(parents=True)
    (root / "bilge.db").write_text("this is not a database")
    assert run(root, policy(tmp_path)) == 1
    record = runlog.last(root)
    assert record is not None and record.exit_code == 1 and record.error


def test_a_held_lock_is_exit_2_at_once_and_not_logged(toy: Toy, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with run_lock(toy.root):
        assert run(toy.root, policy(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "bilge cron run: skipped: another bilge cron run (pid " in err and str(lock_path(toy.root)) in err
    assert runlog.last(toy.root) is None


def test_the_lock_names_its_holder_and_is_free_again_after(tmp_path: Path) -> None:
    import os

    with run_lock(tmp_path), pytest.raises(LockHeld, match=f"pid {os.getpid()}") as caught:
        with run_lock(tmp_path):
            pass
    assert caught.value.exit_code == 2
    with run_lock(tmp_path):
        pass


def test_the_run_log_skips_a_line_cut_short(tmp_path: Path) -> None:
    assert runlog.last(tmp_path) is None
    runlog.append(
        tmp_path, RunRecord(started=1.0, finished=2.0, exit_code=0, policy="/p", plan=Plan(images=["sha256:x"]))
    )
    with runlog.log_path(tmp_path).open("a") as f:
        f.write('{"started": 3.0, "finish')
    record = runlog.last(tmp_path)
    assert record is not None and record.started == 1.0 and record.plan.images == ["sha256:x"]
    first = json.loads(runlog.log_path(tmp_path).read_text().splitlines()[0])
    assert first["exit_code"] == 0 and first["policy"] == "/p"


def test_pruned_in_words() -> None:
    plan = Plan(containers=["c"], images=["a", "b"], cache=["x"], layers=["l1", "l2", "l3"])
    record = RunRecord(0, 0, 0, "/p", plan=plan)
    assert record.pruned() == "1 container, 2 images, 1 build cache entry, 3 layers"


def test_a_run_leaves_a_cron_snapshot_the_metrics_and_the_report(toy: Toy, tmp_path: Path) -> None:
    metrics, report = tmp_path / "textfile" / "bilge.prom", tmp_path / "report.json"
    metrics.parent.mkdir()
    text = f'[prune]\nimages = "dangling"\n[output]\nmetrics = "{metrics}"\nreport = "{report}"\n'
    assert run(toy.root, policy(tmp_path, text)) == 0
    reasons = [r[0] for r in toy.db.execute("SELECT reason FROM snapshots ORDER BY id")]
    assert reasons == ["prune", "cron"]
    assert "bilge_images 1\n" in metrics.read_text()
    document = json.loads(report.read_text())
    assert [s["reason"] for s in document["trends"]] == ["prune", "cron"], "the report sees the run's snapshot"


def test_outputs_that_cannot_be_written_fail_the_run_after_the_prune(toy: Toy, tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    text = f'[prune]\nimages = "dangling"\n[output]\nmetrics = "{tmp_path}/not-a-dir/bilge.prom"\n'
    assert run(toy.root, policy(tmp_path, text)) == 1
    record = runlog.last(toy.root)
    assert record is not None and record.exit_code == 1 and "cannot write metrics" in (record.error or "")
    assert record.plan.images == [toy.image_ids["loose"]], "the prune itself happened and is recorded"
