"""Live thumbnails for the progress display: at most two fetched at once, never affecting the batch."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..core.models import Run

MAX_PARALLEL = 2
FETCH_LIMIT = 20 * 1024 * 1024  # bytes read for one preview at most


class Thumbnails:
    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, caption: str, run: Run) -> None:
        """Fetch a preview of the run's first image or video, unless two fetches are already running."""
        media = next(
            (
                o
                for o in run.outputs
                if o.is_media and (o.type in ("image", "video") or (o.mime_type or "").startswith("image/"))
            ),
            None,
        )
        if media is None or len(self._tasks) >= MAX_PARALLEL:
            return
        task = asyncio.ensure_future(self._fetch(caption, media.value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _fetch(self, caption: str, url: str) -> None:
        from ..notebook.media import thumbnail_data_uri
        from .gallery import fetch

        def work() -> str:
            import httpx

            with httpx.Client(timeout=10.0) as http:
                return thumbnail_data_uri(fetch(http, url, FETCH_LIMIT)[0], 96)

        with contextlib.suppress(Exception):  # a missing thumbnail never affects the batch
            self.tracker.add_thumbnail(caption, await asyncio.to_thread(work))
