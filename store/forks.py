"""Items of work in forked child processes, each result pickled back to the parent.

Why processes: a pulled layer needs decompression, two hashes, tar parsing and thousands of
file creations. In threads these serialise on the GIL, and handing it back and forth costs
more than the threads save; in processes they use every core. A forked child starts in a few
milliseconds with everything the parent already has (imports, a registry token). It must not
use what it shares with the parent (the SQLite connection, open HTTP connections) and leaves
with `os._exit`, so no finaliser touches them either.

Children die with the parent (PR_SET_PDEATHSIG). When one fails, or on ctrl-C, the others are
killed and reaped before the error reaches the caller, so nothing writes into a scratch
directory after the caller has removed it.
"""

from __future__ import annotations

import mmap
import os
import pickle
import selectors
import signal
import struct
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn, TypeVar

from .errors import BilgeError

T = TypeVar("T")
R = TypeVar("R")

TICK = 0.1  # seconds between byte-count reports to the parent's callback
_SLOT = struct.Struct("q")


def die_with_parent() -> Callable[[], None]:
    """What a child calls first, to have the kernel SIGKILL it when its parent dies. Made in the
    parent: a child that imports ctypes itself spends ~10 ms on it (each of a pull's workers,
    caches cold), and an import between fork and exec can wait forever on a lock that another
    of the parent's threads held at the fork."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Meter:
    """A byte counter per item in shared memory: each child adds to its own slot, the parent reads."""

    def __init__(self, count: int) -> None:
        self._mem = mmap.mmap(-1, _SLOT.size * max(count, 1))
        self._seen = [0] * count

    def add(self, index: int, count: int) -> None:
        offset = index * _SLOT.size
        _SLOT.pack_into(self._mem, offset, _SLOT.unpack_from(self._mem, offset)[0] + count)

    def report(self, on_bytes: Callable[[int, int], None]) -> None:
        for index, seen in enumerate(self._seen):
            now = _SLOT.unpack_from(self._mem, index * _SLOT.size)[0]
            if now != seen:
                self._seen[index] = now
                on_bytes(index, now - seen)


def _ignore(*_: object) -> None:
    pass


def run_forked(
    fn: Callable[[T, Callable[[int], None]], R],
    items: Sequence[T],
    workers: int,
    on_start: Callable[[int], None] = _ignore,
    on_bytes: Callable[[int, int], None] = _ignore,
    on_done: Callable[[int], None] = _ignore,
) -> list[R]:
    """`fn(item, count_bytes)` for each item, at most `workers` children at once; results in order.

    The callbacks run in the parent: `on_start(i)` as item i's child starts, `on_bytes(i, n)`
    with what its `count_bytes` calls added, `on_done(i)` when its result is back.
    """
    meter = _Meter(len(items))
    die = die_with_parent()
    results: dict[int, R] = {}
    todo = list(enumerate(items))
    running: dict[int, tuple[int, int, bytearray]] = {}  # pipe fd -> (pid, index, bytes received)
    with selectors.DefaultSelector() as selector:
        try:
            while todo or running:
                while todo and len(running) < workers:
                    index, item = todo.pop(0)
                    with _ctrl_c_held():  # a ctrl-C now must find the new child already listed
                        fd, pid = _spawn(fn, item, meter, index, die)
                        running[fd] = (pid, index, bytearray())
                    selector.register(fd, selectors.EVENT_READ)
                    on_start(index)
                for key, _ in selector.select(TICK):
                    pid, index, received = running[key.fd]
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        received += data
                        continue
                    selector.unregister(key.fd)
                    os.close(key.fd)
                    del running[key.fd]
                    meter.report(on_bytes)
                    results[index] = _outcome(pid, bytes(received))
                    on_done(index)
                meter.report(on_bytes)
        except BaseException:
            _stop(running)
            raise
    return [results[i] for i in range(len(items))]


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """SIGINT waits (blocked) until the block ends: the CLI's handler raises, and raised in a
    child that has not yet reached its own code it would run the caller's cleanup there."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _spawn(
    fn: Callable[[T, Callable[[int], None]], R], item: T, meter: _Meter, index: int, die: Callable[[], None]
) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _child(lambda: fn(item, lambda n: meter.add(index, n)), read_fd, write_fd, parent, die)
    os.close(write_fd)
    return read_fd, pid


def _child(work: Callable[[], object], read_fd: int, write_fd: int, parent: int, die: Callable[[], None]) -> NoReturn:
    """Run `work`, write (ok, result or exception) to the pipe, and leave without cleaning up.

    Exits 0 only once the whole answer is written, so a parent that sees anything else knows
    the answer is missing or cut short.
    """
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # ctrl-C reaches the whole group; the parent reports it
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        os.close(read_fd)
        die()
        if os.getppid() != parent:
            os._exit(1)
        try:
            payload = pickle.dumps((True, work()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            payload = pickle.dumps((False, _portable(exc)), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view) :]
        code = 0
    finally:
        os._exit(code)


def _portable(exc: BaseException) -> BaseException:
    """The exception as the parent can unpickle it, with the child's traceback as a note (--debug)."""
    detail = "".join(traceback.format_exception(exc))
    try:
        copy = pickle.loads(pickle.dumps(exc))
    except Exception:
        copy = BilgeError(f"{type(exc).__name__}: {exc}")
    copy.add_note("in a worker process:\n" + detail.rstrip())
    return copy


def _outcome(pid: int, payload: bytes) -> R:  # type: ignore[type-var]
    """The child's answer, trusted only when it exited 0: killed mid-write, it is cut short."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
        raise KeyboardInterrupt
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        how = (
            f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
            if os.WIFSIGNALED(status)
            else f"exited with status {os.waitstatus_to_exitcode(status)}"
        )
        raise BilgeError(f"a worker process {how} before finishing its work")
    ok, value = pickle.loads(payload)
    if not ok:
        raise value
    return value


def _stop(running: dict[int, tuple[int, int, bytearray]]) -> None:
    """Kill and reap every child still running, so none outlives the caller's cleanup."""
    for fd, (pid, _, _) in running.items():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    running.clear()
