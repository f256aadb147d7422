"""Small asyncio helpers the standard library lacks.

``beside``: a coroutine run as a task while a block runs, cancelled (and awaited) when
the block ends however it ends -- the shape of every "alongside the server" job.

``run``: ``asyncio.run`` for coroutines that return large results.

Python 3.11's ``asyncio.run`` looks up its own SIGINT handler when it closes, and the
enum conversion behind ``signal.getsignal`` formats that handler, whose ``repr`` includes
the main task's result: for a collection run of thousands of channels that is seconds
of CPU spent building a string nobody reads.  The result is handed over outside the task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.asynccontextmanager
async def beside(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def run(coro: Coroutine[Any, Any, T]) -> T:
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
