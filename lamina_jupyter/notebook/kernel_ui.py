"""Widget work off the kernel thread: forms run on a worker loop, their widget updates are applied on
the kernel thread, and `schedule` starts a click's coroutine on the kernel's loop.

A form's run works on a private event loop in a daemon thread, so it keeps going while the kernel
thread is busy (e.g. blocked in a synchronous batch in another cell, which the kernel's own loop
cannot interleave with). Only the kernel thread touches widgets: updates wait in a queue, in order,
and are applied by the kernel's loop as soon as it is free, or by `pump()`, which the synchronous
batch calls from its wait loop. While the kernel thread is blocked by anything else (a `sleep` in a
cell), the run goes on and the form catches up when the cell ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_updates: queue.SimpleQueue[Callable[[], Any]] = queue.SimpleQueue()
_kernel: dict[str, Any] = {}  # "loop", "thread": the kernel's loop and thread; "worker": the form loop
_start_lock = threading.Lock()


def worker_loop(kernel_loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    """The forms' private loop (started once); remembers the kernel's loop and thread for `post`."""
    _kernel["loop"], _kernel["thread"] = kernel_loop, threading.current_thread()
    with _start_lock:
        if "worker" not in _kernel:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="lamina-forms", daemon=True).start()
            _kernel["worker"] = loop
    return _kernel["worker"]  # type: ignore[no-any-return]


def post(update: Callable[[], Any]) -> None:
    """Apply `update` on the kernel thread: now when called there, else as soon as it is free."""
    if threading.current_thread() is _kernel.get("thread", threading.main_thread()):
        update()
        return
    _updates.put(update)
    with contextlib.suppress(KeyError, RuntimeError):  # no kernel loop (closed): the next pump() applies it
        _kernel["loop"].call_soon_threadsafe(pump)


def pump() -> None:
    """Apply the waiting widget updates (a sync batch calls this while it waits); a no-op off the
    kernel thread, so a batch driven from another thread never touches widgets."""
    if threading.current_thread() is not _kernel.get("thread"):
        return
    while True:
        try:
            update = _updates.get_nowait()
        except queue.Empty:
            return
        update()


def schedule(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T] | None:
    """Run on the kernel's loop without blocking the click; in plain Python (no loop) run it now."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return None
    return loop.create_task(coro)
