"""Where `download()` may write: only inside the pattern's folder, under names it chose itself.

Labels, index labels and run ids come from the server (or from any frame someone built), so they
are data, never path parts: each becomes a plain name (no separators, never `.`/`..` or hidden,
shortened with a hash when long), the extension comes from the bytes actually received (never from
the URL or the server's content type), names that come out alike (or like the manifest's) get
-2, -3..., and every final path must resolve inside the folder (the pattern's fixed leading
directory) or nothing is written.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from .manifest import NAMES as MANIFEST_NAMES

MAX_FIELD = 64        # characters kept of one label / index / run id; longer ones end in a hash
MAX_COMPONENT = 200   # bytes of one file or folder name (file systems allow 255)
_EXT = "\0ext\0"      # stands for the extension until the bytes are known

_MAGIC = [(b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
          (b"\x1a\x45\xdf\xa3", "webm"), (b"%PDF-", "pdf"), (b"OggS", "ogg"), (b"fLaC", "flac"),
          (b"ID3", "mp3")]
_RIFF = {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}


def sniff_ext(data: bytes) -> str:
    """The extension the content itself shows: a known media signature, txt for UTF-8 text, else bin."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return "mov" if data[8:10] == b"qt" else "mp4"
    sample = data[:8192]
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(data) <= len(sample))
    except UnicodeDecodeError:
        return "bin"
    return "txt" if b"\0" not in sample else "bin"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def safe_field(value: Any) -> str:
    """One pattern field as a plain name: letters, digits, `._ -`; no leading dot; hashed when long."""
    text = re.sub(r"[^A-Za-z0-9._ -]+", "_", str(value)).strip()
    text = re.sub(r"^\.+", lambda m: "_" * len(m.group()), text) or "_"
    return text if len(text) <= MAX_FIELD else f"{text[:MAX_FIELD - 11]}-{_digest(str(value))}"


def _short(component: str) -> str:
    if len(os.fsencode(component.replace(_EXT, "webm"))) <= MAX_COMPONENT:
        return component
    stem, dot, rest = component.partition(".")
    tail = dot + rest if len(rest) <= 20 else ""
    return f"{stem[:MAX_COMPONENT - 40]}-{_digest(component)}{tail}"


def folder_of(pattern: str) -> Path:
    """The pattern's fixed leading directory ("out" for "out/{label}/{index}.{ext}")."""
    return Path(os.path.dirname(pattern.split("{", 1)[0]) or ".")


def _is_manifest(candidate: str) -> bool:
    """A name the download's manifest takes (it is written last, over whatever file holds the name)."""
    return candidate.rpartition("/")[2].lower() in MANIFEST_NAMES


class Namer:
    """Paths for one download, decided in job order so that reruns name files the same way."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.folder = folder_of(pattern)
        self.taken: set[str] = set()

    def reserve(self, **fields: Any) -> str:
        """A distinct name for one output (its extension still open); ValueError when it would
        land outside the folder."""
        plain = {k: v if isinstance(v, int) else safe_field(v) for k, v in fields.items()}  # {position:04d}
        name = self.pattern.format(**plain, ext=_EXT)
        head, _, last = name.rpartition("/")
        parts = [_short(p) for p in head.split("/")] if head else []
        stem, dot, rest = _short(last).partition(".")
        candidate, n = "/".join([*parts, stem + dot + rest]), 1
        # case-insensitive file systems count too
        while candidate.lower() in self.taken or _is_manifest(candidate):
            n += 1
            candidate = "/".join([*parts, f"{stem}-{n}{dot}{rest}"])
        self.taken.add(candidate.lower())
        self.check(Path(candidate.replace(_EXT, "bin")))
        return candidate

    def final(self, reserved: str, data: bytes) -> Path:
        path = Path(reserved.replace(_EXT, sniff_ext(data)))
        self.check(path)
        return path

    def check(self, path: Path) -> None:
        root = self.folder.resolve()
        if not path.resolve().is_relative_to(root) or path.resolve() == root:
            raise ValueError(f"refusing to write {os.fspath(path)!r}: it is outside the folder "
                             f"{os.fspath(self.folder)!r} that the download pattern {self.pattern!r} names")
