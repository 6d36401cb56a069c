"""Progress on stderr (pulls, pushes, loads): a rich bar per item on a terminal, Docker's quiet lines
otherwise, nothing with -q. Callbacks may come from worker threads."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import TaskID


class Progress(Protocol):
    def note(self, text: str) -> None: ...
    def start(self, key: str, total: int, status: str) -> None: ...
    def advance(self, key: str, count: int) -> None: ...
    def status(self, key: str, status: str) -> None: ...
    def finish(self, key: str, status: str) -> None: ...
    def close(self) -> None: ...


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


class Silent:
    def note(self, text: str) -> None:
        pass

    def start(self, key: str, total: int, status: str) -> None:
        pass

    def advance(self, key: str, count: int) -> None:
        pass

    def status(self, key: str, status: str) -> None:
        pass

    def finish(self, key: str, status: str) -> None:
        pass

    def close(self) -> None:
        pass


class Lines(Silent):
    """What docker prints when stderr is not a terminal: one line per state change."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def note(self, text: str) -> None:
        with self.lock:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def status(self, key: str, status: str) -> None:
        self.note(f"{short(key)}: {status}")

    def start(self, key: str, total: int, status: str) -> None:
        self.status(key, status)

    def finish(self, key: str, status: str) -> None:
        self.status(key, status)


class Bars:
    """rich bars (bytes, speed) per layer; rich's own refresh thread redraws them."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, TextColumn, TransferSpeedColumn
        from rich.progress import Progress as RichProgress

        self.console = Console(stderr=True)
        self.bars = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=self.console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.bars.start()

    def note(self, text: str) -> None:
        self.bars.console.print(text, markup=False, highlight=False)

    def start(self, key: str, total: int, status: str) -> None:
        self.tasks[key] = self.bars.add_task(f"{short(key)}: {status}", total=total or None)

    def advance(self, key: str, count: int) -> None:
        self.bars.advance(self.tasks[key], count)

    def status(self, key: str, status: str) -> None:
        self.bars.update(self.tasks[key], description=f"{short(key)}: {status}")

    def finish(self, key: str, status: str) -> None:
        if key not in self.tasks:  # nothing moved: a line, not a bar
            self.note(f"{short(key)}: {status}")
            return
        task = self.tasks[key]
        total = self.bars.tasks[task].total
        self.bars.update(task, description=f"{short(key)}: {status}", completed=total)

    def close(self) -> None:
        self.bars.stop()


def for_terminal(quiet: bool) -> Progress:
    if quiet:
        return Silent()
    return Bars() if sys.stderr.isatty() else Lines()
