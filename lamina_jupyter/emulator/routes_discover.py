"""`POST /v1/apps/discover`: rank the workspace's apps for a stated intent.

The real scorer (a keyword prefilter, a weighted re-rank with a medium bonus, popularity) is not
published; ours is deterministic so tests can pin its order: each intent word found in an app's
name scores 3, in its capabilities 2, in its description 1, and an app producing the medium the
intent asks for (or `constraints.outputFormat`) gets a bonus. Apps scoring nothing are left out.
"""

from __future__ import annotations

import re
from typing import Any

from .apps import App
from .credits import cost
from .errors import invalid
from .state import State
from .web import Ctx, Reply, Router, json_reply

DEFAULT_LIMIT, MAX_LIMIT = 5, 10  # the SDK's tool schema; the CLI sends 20, which is clamped
WEIGHTS = {"name": 3, "capabilities": 2, "description": 1}
MEDIUM_BONUS = 4
MEDIUM_WORDS = {
    "image": ("image", "photo", "picture", "shot", "portrait", "illustration", "cartoon", "png", "jpg"),
    "video": ("video", "clip", "teaser", "animation", "movie", "reel", "mp4", "gif"),
    "text": ("text", "caption", "copy", "slogan", "tagline", "write", "words"),
}
STOP_WORDS = frozenset({
    "a", "an", "and", "the", "of", "on", "in", "at", "for", "to", "with", "my", "our", "me", "some", "from",
    "into", "by",
})


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP_WORDS]


def medium_of(intent_words: list[str], output_format: str | None) -> str | None:
    """The medium asked for: the constraint's (`image/png`, `video`) first, else the intent's words."""
    if output_format:
        family = output_format.lower().split("/")[0].strip()
        return family if family in MEDIUM_WORDS else None
    for medium, hints in MEDIUM_WORDS.items():
        if any(w.startswith(hints) for w in intent_words):
            return medium
    return None


def _hit(word: str, field_words: list[str]) -> bool:
    """A word matches a field word exactly or as a prefix of at least four letters (photo/photograph)."""
    return any(w == word or (len(word) >= 4 and w.startswith(word)) for w in field_words)


def produces(app: App) -> set[str]:
    return {o.type for o in app.outputs}


def score(app: App, intent_words: list[str], medium: str | None) -> tuple[int, list[str]]:
    fields = {
        "name": words(app.name),
        "capabilities": words(" ".join([app.modality, *produces(app), *app.strengths])),
        "description": words(app.description),
    }
    total, reasons = 0, []
    for where, field_words in fields.items():
        found = [w for w in dict.fromkeys(intent_words) if _hit(w, field_words)]
        if found:
            total += WEIGHTS[where] * len(found)
            reasons.append(f"{', '.join(repr(w) for w in found)} in its {where}")
    if medium is not None and medium in produces(app):
        total += MEDIUM_BONUS
        reasons.append(f"it produces {medium}")
    return total, reasons


def _constraints(body: dict[str, Any]) -> tuple[float | None, str | None]:
    raw = body.get("constraints") or {}
    if not isinstance(raw, dict):
        raise invalid("constraints", "invalid_type", '"constraints" must be an object')
    max_credits, output_format = raw.get("maxCredits"), raw.get("outputFormat")
    number = isinstance(max_credits, (int, float)) and not isinstance(max_credits, bool)
    if max_credits is not None and not number:
        raise invalid("constraints.maxCredits", "invalid_type", '"maxCredits" must be a number')
    if output_format is not None and not isinstance(output_format, str):
        raise invalid("constraints.outputFormat", "invalid_type", '"outputFormat" must be a string')
    return max_credits, output_format


def _limit(body: dict[str, Any]) -> int:
    limit = body.get("limit", DEFAULT_LIMIT)
    if limit is None:
        return DEFAULT_LIMIT
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise invalid("limit", "invalid_type", '"limit" must be a positive integer')
    return min(limit, MAX_LIMIT)


def match_json(app: App, points: int, reasons: list[str], best: int) -> dict[str, Any]:
    kinds = sorted(produces(app))
    return {
        "appId": app.id,
        "name": app.name,
        "description": app.description,
        "relevanceScore": round(points / best, 3),
        "capabilities": {"produces": kinds, "outputFormats": kinds, "strengths": list(app.strengths)},
        "estimatedCredits": cost(app),
        "whyMatch": "Matches " + "; ".join(reasons) + ".",
    }


def register(router: Router) -> None:
    @router.add("POST", "/v1/apps/discover", "v1")
    async def discover(ctx: Ctx, state: State, **_: Any) -> Reply:
        body = await ctx.json_body()
        intent = body.get("intent")
        if not isinstance(intent, str) or not intent.strip():
            message = '"intent" must be a non-empty string, e.g. "a product photo"'
            raise invalid("intent", "invalid_type", message)
        max_credits, output_format = _constraints(body)
        limit = _limit(body)
        intent_words = words(intent)
        medium = medium_of(intent_words, output_format)
        ranked = []
        for app in state.apps.values():
            if max_credits is not None and cost(app) > max_credits:
                continue
            if output_format and medium not in produces(app):
                continue
            points, reasons = score(app, intent_words, medium)
            if points > 0:
                ranked.append((points, app, reasons))
        ranked.sort(key=lambda r: (-r[0], r[1].name))
        best = WEIGHTS["name"] * max(len(set(intent_words)), 1) + MEDIUM_BONUS
        matches = [match_json(app, points, reasons, best) for points, app, reasons in ranked[:limit]]
        summary = " ".join(intent.split())[:200]
        return json_reply({"data": {"matches": matches, "intent": {"medium": medium, "summary": summary}}})
