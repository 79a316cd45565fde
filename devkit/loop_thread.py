"""An asyncio event loop on a daemon thread: how the devkit's aiohttp servers (the Twilio
stand-in, Prism's checking proxy) serve synchronous tests and code in the same process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


class LoopThread:
    """Runs `start()` on a fresh loop in a thread, keeps the loop running, stops it cleanly."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def start(self, start: Callable[[], Coroutine[Any, Any, None]], timeout: float) -> None:
        """Run `start()` on the loop and return once it finished; its exception is raised here.

        Raises TimeoutError when `start()` has not finished within `timeout` seconds.
        """
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(start())
            except BaseException as exc:  # handed to the starting thread, which raises it
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name=self.name, daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not start within {timeout:.0f} s")
        if failure:
            thread.join(5)
            raise failure[0]
        self.loop, self.thread = loop, thread

    def stop(self, stop: Callable[[], Coroutine[Any, Any, None]], timeout: float = 15.0) -> None:
        """Run `stop()` on the loop, then end the loop and its thread (idempotent)."""
        loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self.loop = self.thread = None
