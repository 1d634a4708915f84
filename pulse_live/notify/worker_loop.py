"""The plumbing both outbox workers share (the mail sender, notify/sender.py, and the webhook sender,
notify/webhooks.py): one loop per process, started once, woken after a commit that gave it work, otherwise asleep
until its next due moment."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class WorkerLoop:
    def __init__(self, name: str) -> None:
        self.name = name
        self.wakeup: asyncio.Event | None = None
        self.task: asyncio.Task | None = None

    def wake(self) -> None:
        """Something may be due now (a no-op while the loop does not run)."""
        if self.wakeup is not None:
            self.wakeup.set()

    def begin(self) -> None:
        """Called by the loop itself when it starts: from now on ``wake`` reaches it."""
        self.wakeup = asyncio.Event()

    def start(self, run: Callable[[], Awaitable[None]]) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(run(), name=self.name)  # type: ignore[arg-type]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        self.task, self.wakeup = None, None

    async def sleep(self, due: float | None, idle_s: float) -> None:
        """Until ``wake`` or ``due`` seconds from now (``idle_s`` at the most, and when nothing is due)."""
        if self.wakeup is None:
            self.begin()
        assert self.wakeup is not None
        self.wakeup.clear()
        try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races with the wake-up
            async with asyncio.timeout(min(idle_s, due if due is not None else idle_s) + 0.05):
                await self.wakeup.wait()
        except TimeoutError:
            pass
