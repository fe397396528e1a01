"""Run a function in real threads that start together on a barrier."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(n: int, work: Callable[[int], T], timeout: float = 60) -> list[T | BaseException]:
    """Call ``work(i)`` for i in range(n) in n threads released at once; results in order.

    An exception raised by ``work`` is returned in its slot, so a test can count outcomes.
    """
    barrier = threading.Barrier(n)
    results: list[T | BaseException] = [RuntimeError("did not finish")] * n

    def run(i: int) -> None:
        barrier.wait(timeout)
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: B036 - reported to the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results
