"""The few steps that differ between the async and the sync client, in both forms.

`_async/client.py` calls the `async_*` forms; `scripts/unasync.py` renames them to the
plain ones in the generated `_sync/client.py`.
"""

from __future__ import annotations

import asyncio
import inspect
from asyncio import sleep as async_sleep
from collections.abc import Awaitable, Callable
from time import sleep

from matchq_client.models import Job

__all__ = ["AsyncSleep", "ProgressCallback", "Sleep", "async_sleep", "sleep"]

Sleep = Callable[[float], object]
AsyncSleep = Callable[[float], Awaitable[object]]
#: `wait()`'s `on_progress`; the async client also awaits what it returns, if awaitable.
ProgressCallback = Callable[[Job], object]


async def async_gather[T](*steps: Awaitable[T]) -> list[T]:
    """Run `steps` concurrently; their results in order."""
    return list(await asyncio.gather(*steps))


def gather[T](*results: T) -> list[T]:
    """The sync form: the steps already ran, one after the other, as arguments."""
    return list(results)


async def async_notify(callback: ProgressCallback, job: Job) -> None:
    """Call `callback(job)`, awaiting its result when it is a coroutine."""
    outcome = callback(job)
    if inspect.isawaitable(outcome):
        await outcome


def notify(callback: ProgressCallback, job: Job) -> None:
    callback(job)
