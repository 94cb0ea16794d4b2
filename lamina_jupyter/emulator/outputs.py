"""What a finished output contains (text, or a media URL plus mimeType/dimensions), and fetching
url inputs (Cartoonify) before the run can finish."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any
from urllib.parse import urlsplit

import httpx

from . import media
from .apps import CARTOONIFY
from .run import OutputState, Run
from .state import State

FETCH_TIMEOUT = 3.0
MAX_INPUT_BYTES = 25 << 20
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def complete_output(state: State, run: Run, out: OutputState) -> None:
    """Fill an output's value when its step completes; media bytes are drawn later, on download."""
    r, app, spec = run.resolved, run.app, out.spec
    if spec.type == "text":
        if "product" in r:
            out.value = media.product_caption(r["product"], r.get("background", "Studio"))
        else:
            out.value = media.caption_text(r.get("topic", ""), r.get("tone", "Playful"))
        out.extra = {"mimeType": "text/plain"}
        return
    if spec.type == "video":
        render = {"kind": "clip", "prompt": r.get("prompt", ""), "duration": r.get("duration", "2s")}
        out.extra = {
            "mimeType": "image/gif",
            "dimensions": {"width": 320, "height": 180},
            "durationSeconds": 2 if render["duration"] == "2s" else 4,
        }
        ext = "gif"
    elif app is CARTOONIFY:
        source = run.fetched or b""
        render = {
            "kind": "cartoon",
            "source": source,
            "style": r.get("style"),
            "aspect": r.get("aspect-ratio"),
            "source_sha": hashlib.sha256(source).hexdigest(),
        }
        ext = "png"
    else:
        prompt = r.get("prompt", r.get("product", ""))
        style = r.get("style", r.get("background", "Photographic"))
        tag = spec.label if len(app.outputs) > 1 else ""
        render = {
            "kind": "image",
            "prompt": prompt,
            "style": style,
            "aspect": r.get("aspect-ratio"),
            "tag": tag,
        }
        ext = "png"
    if ext == "png":
        w, h = media.size_for(render.get("aspect"))
        out.extra = {"mimeType": "image/png", "dimensions": {"width": w, "height": h}}
    key = {k: v for k, v in render.items() if k != "source"}
    mid = media.media_id(app.id, spec.index, key)
    state.media_specs[mid] = render
    out.value = f"{state.base_url}/media/outputs/{mid}.{ext}"


def draw(render: dict[str, Any]) -> tuple[bytes, str]:
    """Render a registered media spec to (bytes, content type); runs in a worker thread."""
    kind = render["kind"]
    if kind == "clip":
        return media.clip_gif(render["prompt"], render["duration"]), "image/gif"
    if kind == "cartoon":
        return media.cartoon(render["source"], render["style"], render["aspect"]), "image/png"
    if kind == "refined":  # a refinement of another render (routes_refine)
        return media.refined(draw(render["base"])[0], render["feedback"]), "image/png"
    return media.text_image(render["prompt"], render["style"], render["aspect"], render["tag"]), "image/png"


async def media_bytes(state: State, path: str) -> tuple[bytes, str] | None:
    """Bytes and content type for a /media/<path>, or None when there is no such file."""
    cached = state.media_cache.get(path)
    if cached is not None:
        return cached
    if path == "samples/portrait.png":
        found: tuple[bytes, str] | None = (await asyncio.to_thread(media.sample_portrait), "image/png")
    elif path.startswith("assets/"):
        asset = state.assets.get(path.split("/")[1]) if path.count("/") >= 2 else None
        return (asset.data, asset.content_type) if asset and asset.data is not None else None
    elif path.startswith("outputs/"):
        render = state.media_specs.get(path[len("outputs/") :].rsplit(".", 1)[0])
        found = await asyncio.to_thread(draw, render) if render else None
    else:
        found = None
    if found is not None:
        if len(state.media_cache) > 512:
            state.media_cache.pop(next(iter(state.media_cache)))
        state.media_cache[path] = found
    return found


class InputFetcher:
    """Fetches url inputs: the emulator's own /media URLs locally, anything else with httpx."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.client: httpx.AsyncClient | None = None
        self.tasks: set[asyncio.Task] = set()

    def start(self, run: Run, url: str) -> None:
        task = asyncio.ensure_future(self._fetch_for(run, url))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        run.prerequisite = task

    async def _fetch_for(self, run: Run, url: str) -> None:
        try:
            data = await self.fetch(url)
            await asyncio.to_thread(media.check_image, data)
        except (httpx.HTTPError, ValueError, OSError) as exc:
            reason = str(exc) or exc.__class__.__name__
            self.state.store.fail(
                run,
                f"Could not fetch the input image {url}: {reason}. Use a publicly "
                "reachable http(s) image URL, or upload the file via /v1/assets/upload-urls.",
            )
            return
        run.fetched = data

    def _local_path(self, url: str) -> str | None:
        parts = urlsplit(url)
        own = urlsplit(self.state.base_url)
        if parts.hostname in LOCAL_HOSTS and parts.port == own.port and parts.path.startswith("/media/"):
            return parts.path[len("/media/") :]
        return None

    async def fetch(self, url: str) -> bytes:
        local = self._local_path(url)
        if local is not None:
            found = await media_bytes(self.state, local)
            if found is None:
                raise ValueError("the emulator has no such media file (was the upload PUT done?)")
            return found[0]
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=True)
        async with self.client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise ValueError(f"HTTP {response.status_code}")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_INPUT_BYTES:
                    raise ValueError("larger than 25 MiB")
                chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None
