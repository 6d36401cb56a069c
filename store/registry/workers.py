"""A bounded pool for transfers: the first failure, or ctrl-C, stops the others.

Workers poll the shared cancel event between chunks, so leaving the pool (which waits for
them) is quick, and nothing writes into a lease's scratch after the lease has gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_all(fn: Callable[[T], R], items: list[T], cancel: threading.Event, workers: int) -> list[R]:
    """`fn` over `items` with at most `workers` at once; results in the order of `items`."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="bilge-transfer") as pool:
        futures = [pool.submit(fn, item) for item in items]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            cancel.set()
            for future in futures:
                future.cancel()
            raise
    return [future.result() for future in futures]
