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


def race_processes(
    n: int, target: Callable[..., T], *args: object, timeout: float = 120
) -> list[T]:
    """Call ``target(barrier, i, *args)`` in n spawned processes; ``target`` must wait on the
    barrier first and be importable (module level). Returns the results in order.

    For code that is not thread-safe, such as Alembic's global ``context``: separate
    processes are also how two operators' ``mergepoint migrate`` runs really meet.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_report, args=(results, target, barrier, i, args)) for i in range(n)
    ]
    for p in processes:
        p.start()
    try:
        collected = dict(results.get(timeout=timeout) for _ in processes)
    finally:
        for p in processes:
            p.join(timeout)
        results.close()
        results.join_thread()
    failures = [v for v in collected.values() if isinstance(v, BaseException)]
    if failures:
        raise failures[0]
    return [collected[i] for i in range(n)]


def _report(results, target, barrier, i, args) -> None:  # type: ignore[no-untyped-def]
    try:
        results.put((i, target(barrier, i, *args)))
    except BaseException as exc:  # noqa: B036 - sent back to the parent
        results.put((i, RuntimeError(f"process {i}: {type(exc).__name__}: {exc}")))
