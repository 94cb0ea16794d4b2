"""Error envelopes for both API families.

Handlers raise `ApiError`; the dispatcher renders it in the family's documented shape: the /v1
envelope `{error, code, retryable, requestId, retryAfter?, details?}` or the legacy
`{error, details?: [strings]}`. One table maps every documented code to its HTTP status and
retryability so that an injected code always looks exactly like a natural one.
"""

from __future__ import annotations

import json
from typing import Any

# code -> (HTTP status, retryable), as documented in lamina-api.md §7.2
CODES: dict[str, tuple[int, bool]] = {
    "AUTH_MISSING_KEY": (401, False),
    "AUTH_INVALID_KEY": (401, False),
    "AUTH_INVALID_CONTEXT": (401, False),
    "AUTH_FAILED": (500, True),
    "FORBIDDEN": (403, False),
    "NOT_FOUND": (404, False),
    "VALIDATION_ERROR": (400, False),
    "RATE_LIMITED": (429, True),
    "WEBHOOK_INVALID_URL": (400, False),
    "WEBHOOK_INVALID_SECRET": (401, False),
    "RESOURCE_UNAVAILABLE": (503, True),
    "INTERNAL_ERROR": (500, True),
    "INSUFFICIENT_CREDITS": (402, False),  # undocumented: our plausible answer at zero balance
}

DEFAULT_MESSAGES = {
    "AUTH_MISSING_KEY": "Missing API key",
    "AUTH_INVALID_KEY": "Invalid API key",
    "AUTH_INVALID_CONTEXT": "API key lacks workspace or user context",
    "AUTH_FAILED": "Authentication failed, please retry",
    "FORBIDDEN": "Access denied",
    "NOT_FOUND": "Not found",
    "VALIDATION_ERROR": "Invalid request",
    "RATE_LIMITED": "Rate limit exceeded, retry after the indicated delay",
    "WEBHOOK_INVALID_URL": "Webhook URL must be an absolute http or https URL",
    "WEBHOOK_INVALID_SECRET": "Webhook secret mismatch",
    "RESOURCE_UNAVAILABLE": "Service temporarily unavailable, please retry",
    "INTERNAL_ERROR": "Internal server error",
}

PLAIN_TEXT_429 = "Too many requests from this IP, please try again in a minute"


class ApiError(Exception):
    """A documented API error; `details` is a list of per-field dicts {field, error, message, allowed?}."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message or DEFAULT_MESSAGES.get(code, code))
        self.code = code
        self.message = message or DEFAULT_MESSAGES.get(code, code)
        self.details = details
        default_status, self.retryable = CODES.get(code, (500, True))
        self.status = status or default_status
        self.retry_after = retry_after


def v1_body(err: ApiError, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": err.message,
        "code": err.code,
        "retryable": err.retryable,
        "requestId": request_id,
    }
    if err.retry_after is not None:
        body["retryAfter"] = err.retry_after
    if err.details is not None:
        body["details"] = err.details
    return body


def legacy_body(err: ApiError) -> dict[str, Any]:
    """Legacy bodies carry no code: `{error}` plus `details` as human-readable strings."""
    body: dict[str, Any] = {"error": err.message}
    if err.details:
        body["details"] = [d.get("message", str(d)) for d in err.details]
    return body


def render(err: ApiError, request_id: str, family: str) -> tuple[int, bytes, dict[str, str]]:
    """(status, body bytes, extra headers) for an error in the given family's shape."""
    body = legacy_body(err) if family == "legacy" else v1_body(err, request_id)
    headers = {"content-type": "application/json"}
    if err.retry_after is not None:
        headers["retry-after"] = str(err.retry_after)
    return err.status, json.dumps(body).encode(), headers


def field_error(field: str, error: str, message: str, allowed: list[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"field": field, "error": error, "message": message}
    if allowed is not None:
        item["allowed"] = allowed
    return item


def invalid(field: str, error: str, message: str, top: str = "Invalid request") -> ApiError:
    """A VALIDATION_ERROR with one field problem (bad body, bad query parameter)."""
    return ApiError("VALIDATION_ERROR", top, details=[field_error(field, error, message)])
