"""Running the app's asyncio stores from synchronous code (webhooks, queue functions)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of `coroutine`, run to completion on a fresh event loop.

    Functions of the Python worker run in threads without a loop, where this is
    `asyncio.run`; called from inside a running loop (a test, an async caller) it runs on a
    thread of its own rather than failing.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
