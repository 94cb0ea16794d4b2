"""Finding apps by what you want (`POST /v1/apps/discover`) and what the account can spend
(`GET /v1/account/usage`): the flows and their wire objects.

Both endpoints exist only in /v1 and neither has a docs page (lamina-api.md §4.4, §11.4): parsing
is defensive, and an odd field becomes None rather than an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .flows import require_v1
from .models import App, _mapping, _num, _str
from .protocol import Context, Flow, call
from .redact import redacted_repr


@dataclass(frozen=True)
class Match:
    """One app discover proposes: why it matched, how well, and what a run costs."""

    app_id: str
    name: str
    description: str | None
    relevance: float | None
    why: str | None
    estimated_credits: float | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    __repr__ = redacted_repr

    @property
    def app(self) -> App:
        """The app summary (no parameters yet: get_app or form() fetch them)."""
        return App.from_json(self.raw)

    @classmethod
    def from_json(cls, data: Any) -> Match:
        d = _mapping(data)
        credits = d.get("estimatedCredits")
        if isinstance(credits, Mapping):  # tolerate the estimate endpoint's {expected, min, max} shape
            credits = credits.get("expected")
        return cls(app_id=_str(d, "appId", "id") or "", name=_str(d, "name") or "",
                   description=_str(d, "description"), relevance=_num(d.get("relevanceScore")),
                   why=_str(d, "whyMatch"), estimated_credits=_num(credits), raw=dict(d))


@dataclass(frozen=True)
class Discovery:
    """The ranked matches (best first) and how the server read the intent; iterates over matches."""

    matches: tuple[Match, ...]
    medium: str | None
    summary: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    __repr__ = redacted_repr

    def __iter__(self) -> Iterator[Match]:
        return iter(self.matches)

    def __len__(self) -> int:
        return len(self.matches)

    def __getitem__(self, index: int) -> Match:
        return self.matches[index]

    @classmethod
    def from_json(cls, data: Any) -> Discovery:
        d = _mapping(data)
        raw_matches = d.get("matches")
        found = [m for m in raw_matches if isinstance(m, Mapping)] if isinstance(raw_matches, list) else []
        intent = _mapping(d.get("intent"))
        return cls(matches=tuple(Match.from_json(m) for m in found), medium=_str(intent, "medium"),
                   summary=_str(intent, "summary"), raw=dict(d))


@dataclass(frozen=True)
class Usage:
    """The credit balance and the rate limit the key runs under."""

    balance: float | None
    total_earned: float | None
    total_spent: float | None
    rate_limit: int | None
    window_seconds: float | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> Usage:
        d = _mapping(data)
        credits, limit = _mapping(d.get("credits")), _mapping(d.get("rateLimit"))
        per_window, window_ms = _num(limit.get("limit")), _num(limit.get("windowMs"))
        return cls(balance=_num(credits.get("balance")), total_earned=_num(credits.get("totalEarned")),
                   total_spent=_num(credits.get("totalSpent")),
                   rate_limit=None if per_window is None else int(per_window),
                   window_seconds=None if window_ms is None else window_ms / 1000, raw=dict(d))


def discover_body(intent: Any, max_credits: Any, output_format: Any, limit: Any) -> dict[str, Any]:
    """The request body, with misuse caught before anything is sent."""
    if not isinstance(intent, str) or not intent.strip():
        raise ValueError("discover() needs the intent as text, e.g. discover('product photo on a beach')")
    if max_credits is not None and _num(max_credits) is None:
        raise TypeError(f"max_credits must be a number, not {type(max_credits).__name__}")
    if output_format is not None and not isinstance(output_format, str):
        raise TypeError(f"output_format must be text such as 'image' or 'image/png', not {output_format!r}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    constraints = {k: v for k, v in (("maxCredits", max_credits), ("outputFormat", output_format))
                   if v is not None}
    body: dict[str, Any] = {"intent": intent.strip()}
    if constraints:
        body["constraints"] = constraints
    if limit is not None:
        body["limit"] = limit
    return body


def discover(ctx: Context, intent: str, max_credits: float | None = None, output_format: str | None = None,
             limit: int | None = None) -> Flow:
    """Apps ranked for an intent (read-only, so retried like a GET)."""
    body = discover_body(intent, max_credits, output_format, limit)
    require_v1(ctx, "Discovering apps")
    data, _ = yield from call(ctx, "POST", "/v1/apps/discover", json_body=body)
    return Discovery.from_json(data)


def usage(ctx: Context) -> Flow:
    """The account's credit balance and rate limit; the limit also paces this server's governor."""
    require_v1(ctx, "Reading credit usage")
    data, _ = yield from call(ctx, "GET", "/v1/account/usage")
    found = Usage.from_json(data)
    ctx.governor.learn_limit(found.rate_limit, found.window_seconds)
    return found
