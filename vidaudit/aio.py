"""``run``: ``asyncio.run`` for coroutines that return large results.

Python 3.11's ``asyncio.run`` looks up its own SIGINT handler when it closes, and the
enum conversion behind ``signal.getsignal`` formats that handler, whose ``repr`` includes
the main task's result: for a collection run of thousands of channels that is seconds
of CPU spent building a string nobody reads.  The result is handed over outside the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    box: list[T] = []

    async def main() -> None:
        box.append(await coro)

    asyncio.run(main())
    return box[0]
