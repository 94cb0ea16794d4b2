"""Deterministic stand-in media drawn with Pillow.

Every picture is a pure function of its spec (app, resolved inputs, output), seeded from a hash of
that spec, so the same inputs always give the same bytes. Sizes follow the aspect ratio. Drawing is
lazy (on first download) and cached, so 500 runs that nobody downloads cost nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import textwrap
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

SIZES = {"1:1": (512, 512), "4:3": (640, 480), "3:4": (480, 640), "16:9": (640, 360), "9:16": (360, 640)}
PALETTES = {
    "Photographic": ((40, 60, 80), (190, 170, 140)),
    "Watercolor": ((120, 170, 210), (250, 230, 240)),
    "Neon": ((10, 0, 30), (255, 0, 200)),
    "Pixel Art": ((20, 120, 60), (250, 220, 90)),
    "Ghibli": ((90, 150, 90), (240, 230, 170)),
    "Simpsons": ((250, 210, 40), (90, 160, 230)),
    "Disney / Pixar": ((40, 80, 170), (250, 200, 150)),
    "Cyberpunk": ((30, 0, 60), (0, 240, 250)),
    "Studio": ((235, 235, 235), (180, 180, 190)),
    "Urban": ((70, 70, 80), (160, 140, 120)),
    "Park": ((60, 140, 60), (170, 220, 150)),
}
CAPTIONS = {
    "Playful": [
        "{t}? Yes please, and make it a double!",
        "Plot twist: {t} steals the show.",
        "Warning: {t} may cause spontaneous smiling.",
    ],
    "Professional": [
        "{t}: quality you can rely on.",
        "Introducing {t}, built for results.",
        "{t}, delivered with precision.",
    ],
    "Poetic": [
        "{t}, like dawn on quiet water.",
        "In every line of {t}, a small forever.",
        "{t}: a whisper the morning keeps.",
    ],
}


def seed_of(*parts: Any) -> int:
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(raw).digest()[:8], "big")


def media_id(*parts: Any) -> str:
    return f"{seed_of(*parts):016x}"


def size_for(aspect: str | None) -> tuple[int, int]:
    return SIZES.get(aspect or "1:1", SIZES["1:1"])


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    w, h = size
    column = Image.new("RGB", (1, h))
    for y in range(h):
        f = y / max(1, h - 1)
        column.putpixel((0, y), tuple(int(a + (b - a) * f) for a, b in zip(top, bottom, strict=True)))
    return column.resize((w, h))


def _caption(img: Image.Image, title: str, subtitle: str) -> None:
    draw = ImageDraw.Draw(img)
    w, h = img.size
    lines = textwrap.wrap(title, width=max(12, w // 16))[:4]
    box_h = 30 + 22 * len(lines)
    draw.rectangle((0, h - box_h, w, h), fill=(0, 0, 0))
    y = h - box_h + 8
    for line in lines:
        draw.text((12, y), line, fill=(255, 255, 255), font=_font(18))
        y += 22
    draw.text((12, y + 2), subtitle, fill=(200, 200, 200), font=_font(14))


def _scene(size: tuple[int, int], style: str, seed: int) -> Image.Image:
    top, bottom = PALETTES.get(style, PALETTES["Photographic"])
    img = _gradient(size, top, bottom)
    rng = random.Random(seed)
    draw = ImageDraw.Draw(img)
    w, h = size
    for _ in range(6):
        r = rng.randint(min(w, h) // 12, min(w, h) // 4)
        x, y = rng.randint(0, w), rng.randint(0, h)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour, outline=(255, 255, 255))
    if style == "Pixel Art":
        img = img.resize((max(1, w // 16), max(1, h // 16)), Image.Resampling.NEAREST).resize(
            size, Image.Resampling.NEAREST
        )
    elif style == "Watercolor":
        img = img.filter(ImageFilter.GaussianBlur(4))
    return img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def text_image(prompt: str, style: str, aspect: str | None, tag: str = "") -> bytes:
    size = size_for(aspect)
    img = _scene(size, style, seed_of(prompt, style, aspect, tag))
    _caption(img, prompt, f"{tag + ' - ' if tag else ''}{style} - lamina emulator")
    return png_bytes(img)


def cartoon(source: bytes, style: str, aspect: str | None) -> bytes:
    """Posterised, edge-inked version of the source photo; raises ValueError for non-images."""
    try:
        with Image.open(io.BytesIO(source)) as opened:
            photo = opened.convert("RGB")
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ValueError(f"input is not a usable image ({exc.__class__.__name__})") from exc
    size = size_for(aspect)
    photo = ImageOps.fit(photo, size)
    toon = ImageOps.posterize(photo.filter(ImageFilter.SMOOTH_MORE), 3)
    edges = photo.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda p: 255 if p < 40 else 0)
    tint = Image.new("RGB", size, PALETTES.get(style, PALETTES["Ghibli"])[1])
    img = Image.composite(Image.blend(toon, tint, 0.25), Image.new("RGB", size), edges)
    _caption(img, f"Cartoonified ({style})", "lamina emulator")
    return png_bytes(img)


def check_image(source: bytes) -> None:
    """Raise ValueError unless the bytes decode as an image (cheap: header only)."""
    try:
        with Image.open(io.BytesIO(source)) as img:
            img.verify()
    except Exception as exc:  # Pillow raises many types for garbage input
        raise ValueError(f"input is not a usable image ({exc.__class__.__name__})") from exc


def clip_gif(prompt: str, duration: str) -> bytes:
    frames_n = 8 if duration == "2s" else 16
    size = (320, 180)
    rng = random.Random(seed_of(prompt, duration))
    base = _gradient(size, (20, 20, 40), (rng.randint(60, 255), rng.randint(60, 255), rng.randint(60, 255)))
    frames = []
    for i in range(frames_n):
        frame = base.copy()
        draw = ImageDraw.Draw(frame)
        x = int(20 + (size[0] - 40) * i / max(1, frames_n - 1))
        draw.ellipse((x - 18, 70, x + 18, 106), fill=(255, 200, 40))
        draw.text((8, 8), textwrap.shorten(prompt, 40), fill=(255, 255, 255), font=_font(14))
        draw.text((8, 160), f"frame {i + 1}/{frames_n}", fill=(200, 200, 200), font=_font(12))
        frames.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=250, loop=0)
    return buf.getvalue()


def sample_portrait() -> bytes:
    """The default input of Cartoonify: a simple drawn face."""
    img = _gradient((512, 512), (150, 190, 230), (240, 240, 250))
    draw = ImageDraw.Draw(img)
    draw.ellipse((156, 96, 356, 336), fill=(240, 200, 170), outline=(90, 60, 40), width=4)
    draw.ellipse((205, 180, 230, 205), fill=(40, 40, 40))
    draw.ellipse((282, 180, 307, 205), fill=(40, 40, 40))
    draw.arc((206, 230, 306, 300), 20, 160, fill=(150, 40, 40), width=5)
    draw.rectangle((176, 336, 336, 512), fill=(60, 100, 160))
    return png_bytes(img)


def caption_text(topic: str, tone: str) -> str:
    options = CAPTIONS.get(tone, CAPTIONS["Playful"])
    return options[seed_of(topic, tone) % len(options)].format(t=topic.strip() or "This")


def product_caption(product: str, background: str) -> str:
    return f"{product.strip() or 'Our product'}, photographed in a {background.lower()} setting."


def refined(previous: bytes, feedback: str) -> bytes:
    """The previous picture tinted by a colour drawn from the feedback, the feedback written on top."""
    with Image.open(io.BytesIO(previous)) as opened:
        img = opened.convert("RGB")
    rng = random.Random(seed_of(feedback))
    tint = Image.new("RGB", img.size, tuple(rng.randint(0, 255) for _ in range(3)))
    img = Image.blend(img, tint, 0.35)
    draw = ImageDraw.Draw(img)
    lines = textwrap.wrap(f"Refined: {feedback}", width=max(12, img.width // 12))[:3]
    draw.rectangle((0, 0, img.width, 12 + 22 * len(lines)), fill=(255, 255, 255))
    for i, line in enumerate(lines):
        draw.text((12, 6 + 22 * i), line, fill=(0, 0, 0), font=_font(18))
    return png_bytes(img)
