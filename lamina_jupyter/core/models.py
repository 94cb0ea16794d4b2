"""Wire objects as frozen dataclasses. Parsing never crashes on unknown or odd fields: the API grows,
so everything the server sent stays in `.raw`, and fields of the wrong type become None."""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})

MediaFetcher = Callable[[str], bytes]
MEDIA_SECONDS = 300.0  # total seconds one media download may take, however steadily bytes arrive


def _str(data: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, str):
            return value
    return None


def _bool(value: Any, default: bool = False) -> bool:
    return value if isinstance(value, bool) else default


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 with a trailing Z (Python 3.10 does not accept Z in fromisoformat)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None


def _mapping(data: Any) -> Mapping[str, Any]:
    return data if isinstance(data, Mapping) else {}


def _num(value: Any) -> float | None:
    """A finite JSON number as float; None for anything else (booleans, and the NaN / Infinity that
    Python's json accepts, included)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Parameter:
    """One input of an app. Users may address it by `key`, `name` or `id`."""

    id: str | None
    key: str | None
    name: str
    type: str
    required: bool
    options: tuple[str, ...] = ()
    default: Any = None
    accept: tuple[str, ...] = ()
    multiple: bool = False
    description: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Parameter:
        d = _mapping(data)
        return cls(id=_str(d, "id"), key=_str(d, "key"), name=_str(d, "name") or _str(d, "id") or "",
                   type=_str(d, "type") or "text", required=_bool(d.get("required")),
                   options=tuple(o for o in _list(d.get("options")) if isinstance(o, str)),
                   default=d.get("default"),
                   accept=tuple(a for a in _list(d.get("accept")) if isinstance(a, str)),
                   multiple=_bool(d.get("multiple")), description=_str(d, "description"))


@dataclass(frozen=True)
class App:
    """An app; `parameters` is empty for list summaries (`has_details` tells which)."""

    id: str
    name: str
    description: str | None = None
    parameters: tuple[Parameter, ...] = ()
    outputs: tuple[dict[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_details(self) -> bool:
        return isinstance(self.raw.get("parameters"), list)

    @classmethod
    def from_json(cls, data: Any) -> App:
        d = _mapping(data)
        return cls(id=_str(d, "appId", "id", "workflowId") or "", name=_str(d, "name") or "",
                   description=_str(d, "description"),
                   parameters=tuple(Parameter.from_json(p) for p in _list(d.get("parameters"))),
                   outputs=tuple(o for o in _list(d.get("outputs")) if isinstance(o, dict)), raw=dict(d))


def is_http_url(value: Any) -> bool:
    """An absolute http(s) URL with a host, judged as the server judges it ("http://" alone is not).
    The one URL check of the package: inputs, media downloads and HTML links all use it."""
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def fetch_media(url: str, max_bytes: int = 200 * 1024 * 1024) -> bytes:
    """Download an output without credentials (media URLs are public, like a CDN)."""
    import httpx

    if not is_http_url(url):
        raise ValueError(f"refusing to fetch {url[:60]!r}: only http(s) URLs are downloaded")
    timeout = httpx.Timeout(30.0, connect=5.0, pool=10.0)
    with httpx.Client(timeout=timeout, follow_redirects=True) as http, http.stream("GET", url) as resp:
        if resp.status_code >= 400:
            raise ValueError(f"could not download {url}: HTTP {resp.status_code} {resp.reason_phrase} (media "
                             "links can expire: get_run() again for fresh URLs)")
        return read_media(resp, url, max_bytes)


def read_media(resp: Any, url: str, max_bytes: int) -> bytes:
    """A media body within its byte cap and MEDIA_SECONDS in total: per-read timeouts alone never end a
    host that sends one byte at a time."""
    end = time.monotonic() + MEDIA_SECONDS
    buf = io.BytesIO()  # one growing buffer: getvalue() hands it over without a second copy
    for chunk in resp.iter_bytes():
        if buf.tell() + len(chunk) > max_bytes:
            raise ValueError(f"output at {url} is larger than {max_bytes} bytes; download it yourself")
        if time.monotonic() > end:
            raise ValueError(f"output at {url} took more than {MEDIA_SECONDS:g} s to download (the host "
                             "sends too slowly); try again later or download it yourself")
        buf.write(chunk)
    return buf.getvalue()


class FromServer(str):
    """Text a Lamina server sent (e.g. a run's output in a result frame): data, never a path to read.
    `str(value)` gives plain text again, for a user who checked it names the file they mean."""

    __slots__ = ()


def from_server(value: Any) -> Any:
    """`value` with its text (or each text of a list) marked as server data."""
    if isinstance(value, list):
        return [from_server(v) for v in value]
    return FromServer(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Output:
    """One output of a run. Judge it by `status` (type stays "pending" on failed outputs)."""

    id: str | None
    label: str | None
    type: str | None
    value: Any
    status: str | None
    error: str | None = None
    mime_type: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    fetcher: MediaFetcher | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, fetcher: MediaFetcher | None = None) -> Output:
        d = _mapping(data)  # the value is server data: never read as a path if passed to another app
        return cls(id=_str(d, "id"), label=_str(d, "label"), type=_str(d, "type"),
                   value=from_server(d.get("value")),
                   status=_str(d, "status"), error=_str(d, "error"), mime_type=_str(d, "mimeType"),
                   raw=dict(d), fetcher=fetcher)

    @property
    def is_media(self) -> bool:
        return is_http_url(self.value)

    def read(self) -> bytes:
        """The output's bytes: downloaded for media URLs, UTF-8 for text outputs."""
        if self.value is None:
            raise ValueError(f"output {self.label or self.id!r} has no value (status {self.status}, "
                             f"error {self.error}); wait for the run to finish")
        if not self.is_media:
            return str(self.value).encode("utf-8")
        return (self.fetcher or fetch_media)(self.value)

    def image(self) -> Any:
        """The output as a PIL image (Pillow is imported only here). Raises ValueError, naming the output
        and URL, for a value that is not a media URL (nothing is fetched), bytes that are not an image,
        and images with more pixels than Pillow's decompression-bomb limit."""
        import warnings

        from PIL import Image, UnidentifiedImageError

        name = repr(self.label or self.id or "output")
        if not self.is_media:
            shown = str(self.value)[:60]
            raise ValueError(f"output {name} is not an http(s) media URL ({shown!r}); nothing was fetched")
        data = self.read()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ValueError(f"refusing to decode output {name} at {self.value}: {exc} Use .save(path) to "
                             "keep the file.") from None
        except (UnidentifiedImageError, OSError, EOFError) as exc:
            head = data[:64].lstrip().lower()
            got = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else f"{len(data)} bytes"
            raise ValueError(f"output {name} at {self.value} is not an image Pillow can read (got {got}; "
                             f"{type(exc).__name__})") from None
        return img

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the output's bytes to `path`; returns the path written."""
        with open(path, "wb") as fh:
            fh.write(self.read())
        return os.fspath(path)


@dataclass(frozen=True)
class Progress:
    total_outputs: int | None = None
    completed_outputs: int | None = None
    failed_outputs: int | None = None
    percent_complete: float | None = None

    @classmethod
    def from_json(cls, data: Any) -> Progress | None:
        if not isinstance(data, Mapping):
            return None

        def num(name: str) -> Any:
            v = data.get(name)
            return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        return cls(num("totalOutputs"), num("completedOutputs"), num("failedOutputs"), num("percentComplete"))


@dataclass(frozen=True)
class Run:
    """One run (an "execution" in the legacy API). `executionId` is accepted as `runId`."""

    id: str
    status: str
    app_id: str | None = None
    workflow_id: str | None = None
    outputs: tuple[Output, ...] = ()
    error_message: str | None = None
    progress: Progress | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    versions: tuple[Any, ...] = field(default=(), repr=False, compare=False)  # core/refine.RunVersion

    @property
    def is_done(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"

    @classmethod
    def from_json(cls, data: Any, fetcher: MediaFetcher | None = None) -> Run:
        d = _mapping(data)
        workflow_id = _str(d, "workflowId")
        return cls(id=_str(d, "runId", "executionId", "id") or "", status=_str(d, "status") or "unknown",
                   app_id=_str(d, "appId") or workflow_id, workflow_id=workflow_id,
                   outputs=tuple(Output.from_json(o, fetcher) for o in _list(d.get("outputs"))),
                   error_message=_str(d, "errorMessage"), progress=Progress.from_json(d.get("progress")),
                   created_at=parse_time(d.get("createdAt")), started_at=parse_time(d.get("startedAt")),
                   completed_at=parse_time(d.get("completedAt")), raw=dict(d))

    def output(self, label: str) -> Output:
        """The first output with this label (labels are not unique; ids are)."""
        for out in self.outputs:
            if out.label == label or out.id == label:
                return out
        raise KeyError(f"run {self.id} has no output {label!r}; labels: {[o.label for o in self.outputs]}")


@dataclass(frozen=True)
class Estimate:
    """Expected credit cost of one run of an app."""

    app_id: str | None
    expected: float | None
    min: float | None
    max: float | None
    current_balance: float | None
    affordable: bool | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Estimate:
        d = _mapping(data)
        credits = _mapping(d.get("estimatedCredits"))

        affordable = d.get("affordable")
        return cls(app_id=_str(d, "appId"), expected=_num(credits.get("expected")),
                   min=_num(credits.get("min")), max=_num(credits.get("max")),
                   current_balance=_num(d.get("currentBalance")),
                   affordable=affordable if isinstance(affordable, bool) else None, raw=dict(d))
