"""store.forks: work in forked children, results and failures back in the parent, nobody left over."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bilge.store.errors import BilgeError, DigestMismatch
from bilge.store.forks import run_forked


def _children() -> list[int]:
    me = os.getpid()
    return [int(pid) for pid in Path(f"/proc/{me}/task/{me}/children").read_text().split()]


_before: set[int] = set()


@pytest.fixture(autouse=True)
def _children_before() -> None:
    """What this process ran before the test (a session's dockerd, say) is not the test's."""
    _before.clear()
    _before.update(_children())


def live_children() -> list[int]:
    """The children this test made that have not been reaped (zombies count: nobody waited for them)."""
    return [pid for pid in _children() if pid not in _before]


def test_results_in_order_with_every_callback() -> None:
    events: list[tuple[str, int]] = []
    counted: dict[int, int] = {}

    def work(item: int, count: object) -> tuple[int, int]:
        for _ in range(item):
            count(1000)  # type: ignore[operator]
        return item, os.getpid()

    def on_bytes(i: int, n: int) -> None:
        counted[i] = counted.get(i, 0) + n

    results = run_forked(
        work,
        [3, 1, 2, 5],
        workers=2,
        on_start=lambda i: events.append(("start", i)),
        on_bytes=on_bytes,
        on_done=lambda i: events.append(("done", i)),
    )
    assert [r[0] for r in results] == [3, 1, 2, 5]
    assert len({r[1] for r in results} | {os.getpid()}) == 5  # each item ran in a process of its own
    assert counted == {0: 3000, 1: 1000, 2: 2000, 3: 5000}
    assert sorted(events) == sorted([("start", i) for i in range(4)] + [("done", i) for i in range(4)])
    assert all(events.index(("start", i)) < events.index(("done", i)) for i in range(4))
    assert live_children() == []


def test_a_failure_stops_the_others_and_arrives_as_itself() -> None:
    def work(item: str, count: object) -> None:
        if item == "bad":
            raise DigestMismatch("blob sha256:abc: the content received hashes to sha256:def")
        time.sleep(60)

    start = time.monotonic()
    with pytest.raises(DigestMismatch, match="hashes to sha256:def") as caught:
        run_forked(work, ["slow", "bad", "slow"], workers=3)
    assert time.monotonic() - start < 20  # the sleeping siblings were killed, not waited for
    assert live_children() == []
    assert any("in a worker process" in note for note in caught.value.__notes__)  # --debug shows where


def test_an_exception_that_cannot_be_pickled_keeps_its_words() -> None:
    class Local(Exception):  # a local class cannot be pickled
        pass

    def work(item: int, count: object) -> None:
        raise Local("the registry said no")

    with pytest.raises(BilgeError, match="Local: the registry said no"):
        run_forked(work, [1], workers=1)


def test_a_worker_killed_from_outside_is_a_clear_error() -> None:
    def work(item: int, count: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(BilgeError, match="worker process was killed by SIGKILL"):
        run_forked(work, [1], workers=1)
    assert live_children() == []


def test_a_worker_stopped_by_ctrl_c_is_an_interruption() -> None:
    def work(item: int, count: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # workers take ctrl-C's default: they just stop
        time.sleep(60)

    with pytest.raises(KeyboardInterrupt):
        run_forked(work, [1], workers=1)
    assert live_children() == []


def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    """A parent killed outright (no chance to clean up) takes its workers with it."""
    pids = tmp_path / "pids"

    def parent() -> None:
        def work(item: int, count: object) -> None:
            with open(pids, "a") as f:
                f.write(f"{os.getpid()}\n")
            time.sleep(60)

        run_forked(work, [1, 2], workers=2)

    pid = os.fork()
    if pid == 0:
        try:
            parent()
        finally:
            os._exit(0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(pids.read_text().split() if pids.exists() else []) < 2:
        time.sleep(0.05)
    workers = [int(p) for p in pids.read_text().split()]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.05)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]


def test_a_worker_killed_while_answering_is_not_half_believed() -> None:
    def work(item: int, count: object) -> bytes:
        real = os.write

        def half_then_die(fd: int, data: bytes) -> int:  # this child's os.write only
            real(fd, bytes(data[: len(data) // 2]))
            os.kill(os.getpid(), signal.SIGKILL)
            return 0

        os.write = half_then_die  # type: ignore[assignment]
        return b"x" * 100_000

    with pytest.raises(BilgeError, match="worker process was killed by SIGKILL"):
        run_forked(work, [1], workers=1)
    assert live_children() == []


def test_a_result_that_cannot_be_pickled_is_an_error_not_a_silent_exit() -> None:
    with pytest.raises(Exception, match="[Cc]an't pickle"):  # the reason, not "exited with status 1"
        run_forked(lambda item, count: lambda: None, [1], workers=1)


def test_ctrl_c_right_after_fork_never_runs_the_callers_cleanup(tmp_path: Path, monkeypatch) -> None:
    """A ctrl-C landing between fork and the child's own code must not unwind the caller's
    stack in the child (its lease cleanup, its database) or leave the child unlisted."""
    real_fork = os.fork

    def fork_then_ctrl_c() -> int:
        pid = real_fork()
        os.kill(os.getpid(), signal.SIGINT)  # in the parent and in the child alike
        return pid

    monkeypatch.setattr(os, "fork", fork_then_ctrl_c)
    cleanups = tmp_path / "cleanups"
    with pytest.raises(KeyboardInterrupt):
        try:
            run_forked(lambda item, count: time.sleep(30), [1], workers=1)
        finally:
            with open(cleanups, "a") as f:
                f.write(f"{os.getpid()}\n")
    monkeypatch.undo()
    assert cleanups.read_text().split() == [str(os.getpid())]
    assert live_children() == []
