"""Check and normalise a run's inputs against the app's parameters before any request is sent.

Every problem is collected and reported at once, in the server's own style, with the nearest valid
name or option suggested. Strings stay byte-exact (real apps have labels like "Standard " with a
trailing space), so nothing is trimmed.

Keys on the wire: parameter `name`s, for both API families. Names are the documented input key in
every API generation (the v1 resolver also accepts `key` and `id`, but `key` is optional and newer),
so one rule works everywhere and the emulator's server-side log shows what the docs describe. Only
when two parameters share a name is the `key` sent instead.

Local files, bytes and PIL images given for `url` parameters are marked for upload (v1 only). Only
values the user provided are read from disk: text marked `FromServer` (a run's output in a result
frame) is sent only as an http(s) URL, never opened as a path.
"""

from __future__ import annotations

import difflib
import io
import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ValidationError
from .models import App, FromServer, Parameter, is_http_url

_MEDIA_TYPES = {"image": (".png", ".jpg", ".jpeg", ".webp", ".gif", ".heic", ".heif", ".avif", ".bmp",
                          ".tiff", ".tif"),
                "video": (".mp4", ".mov", ".webm", ".m4v", ".mkv"),
                "audio": (".mp3", ".wav", ".m4a", ".ogg", ".flac", ".aac")}


def _refusal(value: str) -> str:
    return (f"{value[:80]!r} came from the Lamina server (a run's output), not from you; server values "
            "are sent only as http(s) URLs and never read as local files. If it names a file you mean "
            "to upload, pass the path yourself (str(value), or a column you built)")


@dataclass(frozen=True)
class Upload:
    """A value to upload before starting: bytes plus the names the upload endpoint wants."""

    data: bytes
    filename: str
    media_type: str
    content_type: str


@dataclass
class PreparedInputs:
    """The wire payload, plus uploads whose resulting URLs go to payload[key] (or payload[key][index])."""

    payload: dict[str, Any]
    uploads: list[tuple[str, int | None, Upload]] = field(default_factory=list)


def is_pil_image(value: Any) -> bool:
    """Duck-typed so that PIL is never imported just to check."""
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save") and hasattr(value, "mode")


def as_upload(value: Any, filename: str | None = None, media_type: str | None = None) -> Upload:
    """Bytes, a local path or a PIL image → an Upload. Raises TypeError/FileNotFoundError on misuse,
    ValueError for server text."""
    if isinstance(value, FromServer):
        raise ValueError(_refusal(value))
    if is_pil_image(value):
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return Upload(buf.getvalue(), filename or "image.png", media_type or "image", "image/png")
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        name = filename or "upload" + _sniff_suffix(data)
    elif isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"no such file to upload: {os.fspath(path)}")
        data, name = path.read_bytes(), filename or path.name
    else:
        raise TypeError(f"upload() takes bytes, a file path or a PIL image, not {type(value).__name__}")
    suffix = Path(name).suffix.lower()
    kind = media_type or next((k for k, exts in _MEDIA_TYPES.items() if suffix in exts), "image")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Upload(data, name, kind, content_type)


def _sniff_suffix(data: bytes) -> str:
    signatures = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"RIFF": ".webp"}
    return next((ext for sig, ext in signatures.items() if data.startswith(sig)), ".bin")


def _shown(value: Any, limit: int = 80) -> str:
    """A repr short enough for a message (a 100 kB string must not become a 100 kB error)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unsendable(value: Any) -> int | None:
    """Position of the first character UTF-8 cannot encode (a lone surrogate), else None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            return err.start
    return None


def _uploadable(value: Any) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)) or is_pil_image(value):
        return True
    if isinstance(value, os.PathLike) or (isinstance(value, str) and not is_http_url(value)):
        try:
            return Path(value).is_file()
        except (OSError, ValueError):
            return False
    return False


def _nearest(word: str, choices: list[str]) -> str | None:
    folded = {c.strip().casefold(): c for c in choices}
    if word.strip().casefold() in folded:
        return folded[word.strip().casefold()]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return close[0] if close else None


def _find(params: tuple[Parameter, ...], given: str) -> Parameter | None:
    for attr in ("key", "name", "id"):
        for p in params:
            if getattr(p, attr) == given:
                return p
    return None


def _problem(field_name: str, error: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"field": field_name, "error": error, "message": message, **extra}


def _check_value(p: Parameter, value: Any, family: str, problems: list[dict[str, Any]]) -> Any:
    """Return the wire value (or an Upload / list with Uploads); append problems."""
    name = p.name
    for item in value if isinstance(value, (list, tuple)) else [value]:
        at = _unsendable(item)
        if at is not None:
            problems.append(_problem(name, "invalid_type", f"{name!r}: {_shown(item)} has a character that "
                                     f"cannot be sent as UTF-8 (a lone surrogate at position {at}); fix "
                                     "the text, e.g. text.encode('utf-8', 'replace').decode()"))
            return value
    if p.type == "options":
        if not isinstance(value, str) or value not in p.options:
            hint = _nearest(value, list(p.options)) if isinstance(value, str) else None
            msg = f"{name!r}: invalid option {_shown(value)}. Must be one of: {', '.join(p.options)}"
            msg += f". Did you mean {hint!r}?" if hint else ""
            problems.append(_problem(name, "invalid_option", msg, allowed=list(p.options), got=value))
        return value
    if p.type == "url":
        items = value if isinstance(value, (list, tuple)) and p.multiple else [value]
        out: list[Any] = []
        for item in items:
            if is_http_url(item):
                out.append(item)
            elif isinstance(item, FromServer):
                problems.append(_problem(name, "server_value", f"{name!r}: {_refusal(item)}"))
                out.append(item)
            elif _uploadable(item):
                if family != "v1":
                    problems.append(_problem(name, "invalid_media", f"{name!r}: local files, bytes and "
                                             "images need the v1 API to upload them; use Client(api='v1') "
                                             "or pass a public http(s) URL"))
                out.append(as_upload(item) if family == "v1" else item)
            else:
                shown = item if isinstance(item, str) else type(item).__name__
                problems.append(_problem(name, "invalid_media", f"{name!r}: {str(shown)[:80]!r} is not an "
                                         "http(s) URL or an existing file; pass a URL, a path, bytes or a "
                                         "PIL image"))
                out.append(item)
        return out if p.multiple else out[0]
    if not isinstance(value, str):
        shown = _shown(value)
        problems.append(_problem(name, "invalid_type", f"{name!r}: text inputs must be strings, got "
                                 f"{type(value).__name__} {shown}; pass str({shown}) if you meant it",
                                 got=shown))
    return value


def prepare_inputs(app: App, inputs: Mapping[str, Any] | None, family: str = "v1") -> PreparedInputs:
    """Validate `inputs` (addressed by key, name or id) against `app`; raise ValidationError listing
    every problem, or return the payload keyed by parameter name."""
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, Mapping):
        raise TypeError(f"inputs must be a dict of parameter → value, not {type(inputs).__name__}")
    params = app.parameters
    names = [p.name for p in params]
    wire_key = {id(p): (p.key if names.count(p.name) > 1 and p.key else p.name) for p in params}
    problems: list[dict[str, Any]] = []
    payload: dict[str, Any] = {}
    seen: set[int] = set()
    for given, value in inputs.items():
        p = _find(params, given) if isinstance(given, str) else None
        if p is None:
            spellings = [s for q in params for s in (q.key, q.name, q.id) if s]
            hint = _nearest(str(given), spellings)
            hint_text = f". Did you mean {hint!r}?" if hint else ""
            problems.append(_problem(str(given), "unknown_parameter", f"{_shown(given)}: unknown parameter "
                                     f"of {app.name!r}{hint_text}. Parameters: {', '.join(names)}"))
            continue
        if id(p) in seen:
            problems.append(_problem(p.name, "duplicate", f"{p.name!r} given twice (by key, name or id)"))
            continue
        seen.add(id(p))
        if value is None:  # None means "use the app's default"; a parameter without one must be given
            if p.required and p.default is None:
                problems.append(_problem(p.name, "missing_no_default", f"{p.name!r}: required and has no "
                                         "default, so None cannot stand for it; pass a value"))
            continue
        payload[wire_key[id(p)]] = _check_value(p, value, family, problems)
    for p in params:
        if id(p) not in seen and p.required and p.default is None:
            problems.append(_problem(p.name, "missing_no_default", f"{p.name!r}: required and has no "
                                     f"default; pass it as inputs[{(p.key or p.name)!r}]"))
    if problems:
        lines = "".join(f"\n  - {pr['message']}" for pr in problems)
        raise ValidationError(f"{len(problems)} problem(s) with the inputs for {app.name!r}; nothing was "
                              f"sent:{lines}", code="VALIDATION_ERROR", details=problems, retryable=False)
    prepared = PreparedInputs(payload)
    for key, value in payload.items():
        if isinstance(value, Upload):
            prepared.uploads.append((key, None, value))
        elif isinstance(value, list):
            prepared.uploads.extend((key, i, v) for i, v in enumerate(value) if isinstance(v, Upload))
    return prepared
