"""Media for the rich views: safe <img>/<a> targets and small embedded thumbnails.

An <img> source may only be http(s) or a raster data:image URI (never SVG: it can carry script),
and links only http(s). Images are embedded as JPEG thumbnails under a byte budget (a page of 100
stays under ~2 MB in the saved notebook); small animated GIFs (the emulator's video stand-in) stay
animated. Media is fetched without credentials (like a CDN) and cached by URL.
"""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict
from typing import Any

from ..core.models import Output, fetch_media, is_http_url

THUMB_SIDE = 256
THUMB_BYTES = 18_000  # x100 images = 1.8 MB: the saved-notebook budget for a page of images
GIF_INLINE_BYTES = 60_000  # small animated GIFs (video stand-ins) stay animated
PREVIEW_BYTES = 64 * 1024 * 1024  # a bigger image gets a link, not a thumbnail (memory stays bounded)
GIF_PIXEL_BUDGET = 64_000_000  # pixels decoded across an animation's frames before it stays still
_RASTER = ("data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp")
_CACHE_SIZE = 512
_cache: OrderedDict[str, str] = OrderedDict()
_cache_lock = threading.Lock()


def safe_link(url: Any) -> str | None:
    """The URL if it may be an href (http/https with a host), else None."""
    return url if is_http_url(url) else None


def safe_img_src(src: Any) -> str | None:
    """The value if it may be an <img src>: http(s) or a raster data:image URI (never SVG)."""
    if isinstance(src, str) and src.startswith(_RASTER) and ";base64," in src[:40]:
        return src
    return safe_link(src)


def thumbnail_data_uri(data: bytes, side: int = THUMB_SIDE, max_bytes: int = THUMB_BYTES) -> str:
    """A JPEG data URI of the image (first frame) no larger than max_bytes: shrink the quality first,
    then the size. Raises ValueError for bytes that are not a usable raster image."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.seek(0)
            img.thumbnail((side, side))
            rgba = img.convert("RGBA")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"too many pixels to preview safely ({type(exc).__name__}: {exc})") from None
    except (UnidentifiedImageError, OSError, EOFError) as exc:
        raise ValueError(f"not a usable image ({type(exc).__name__})") from None
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    best = b""
    for scale in (1.0, 0.75, 0.5, 0.35):
        size = (max(1, int(flat.width * scale)), max(1, int(flat.height * scale)))
        frame = flat if scale == 1.0 else flat.resize(size)
        for quality in (80, 65, 50, 35):
            buf = io.BytesIO()
            frame.save(buf, format="JPEG", quality=quality, optimize=True)
            best = buf.getvalue()
            if len(best) * 4 / 3 + 23 <= max_bytes:
                return "data:image/jpeg;base64," + base64.b64encode(best).decode("ascii")
    return "data:image/jpeg;base64," + base64.b64encode(best).decode("ascii")


def animated_gif(data: bytes, max_bytes: int = GIF_INLINE_BYTES) -> bytes | None:
    """The GIF itself, or a smaller animated copy, when it fits the budget; None otherwise (the caller
    then embeds a still thumbnail). Every frame decodes at the full canvas size, so decoding stops
    (None) once the frames would add up to more than GIF_PIXEL_BUDGET pixels."""
    if len(data) * 4 / 3 <= max_bytes:
        return data
    from PIL import Image, ImageSequence

    try:
        img = Image.open(io.BytesIO(data))
        frames = []
        decoded = 0
        for frame in ImageSequence.Iterator(img):
            decoded += frame.width * frame.height
            if decoded > GIF_PIXEL_BUDGET:
                return None
            small = frame.convert("RGB")
            small.thumbnail((160, 160))
            frames.append(small.convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
            if len(frames) == 48:
                break
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:],
                       duration=img.info.get("duration", 100), loop=0)
    except (OSError, ValueError, EOFError):
        return None
    return buf.getvalue() if len(buf.getvalue()) * 4 / 3 <= max_bytes else None


def is_gif(output: Output) -> bool:
    return (output.mime_type or "").lower() == "image/gif"


def embed_src(output: Output) -> str:
    """The <img src> for an image output: cached, fetched without credentials."""
    key = f"{output.value}|{is_gif(output)}"
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    data = fetch_media(output.value, PREVIEW_BYTES) if output.fetcher is None and output.is_media else \
        output.read()
    small_gif = animated_gif(data) if is_gif(output) and data.startswith(b"GIF8") else None
    src = ("data:image/gif;base64," + base64.b64encode(small_gif).decode("ascii")) if small_gif else \
        thumbnail_data_uri(data)
    with _cache_lock:
        _cache[key] = src
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return src
