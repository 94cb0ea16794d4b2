"""Every error lamina-jupyter raises, and the one place that maps an HTTP response to an error.

    LaminaError
    ├── ConfigurationError        no key, bad base URL, operation the chosen API family lacks
    ├── TransportError            the request did not get a usable answer (.request)
    │   ├── LaminaConnectionError     could not connect (names the base URL)
    │   └── UncertainStartError       a start may have created a run; we could not tell
    ├── APIError                  the server answered with an error (.status_code .code .message
    │   │                             .details .request_id .retryable .run_id)
    │   ├── AuthenticationError       401 / 403
    │   ├── NotFoundError             404
    │   ├── ValidationError           400 / client-side input check (.details per field)
    │   ├── RateLimitError            429 (.retry_after seconds)
    │   ├── ServerError               5xx
    │   └── ResponseError             unreadable body (non-JSON / malformed)
    ├── RunFailedError            the HTTP calls worked, the run failed or was cancelled (.run)
    ├── WaitTimeout               gave up waiting; the run goes on (.run_id .last_status .elapsed)
    └── SignatureError            a webhook failed verification

Every message says what went wrong and what to do next, and is scrubbed of key-shaped text and
terminal control sequences; `.details` is scrubbed the same way and `.request` keeps no credentials.
Misuse (wrong argument types) stays a builtin TypeError / ValueError.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .redact import CREDENTIAL_HEADERS, clean, redact, redact_data

if TYPE_CHECKING:
    import httpx

    from .models import Run

KEYS_URL = "https://app.uselamina.ai/settings?tab=api"


class LaminaError(Exception):
    """Root of every lamina-jupyter error."""

    def __init__(self, message: str) -> None:
        super().__init__(clean(message))

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigurationError(LaminaError):
    """Settings are missing or wrong; the message lists how to fix them."""


class TransportError(LaminaError):
    """The request did not produce a usable HTTP response."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = without_credentials(request)


def without_credentials(request: httpx.Request | None) -> httpx.Request | None:
    """A copy of `request` for debugging (method, URL, headers, body) with credential headers masked:
    the sent request still carries the Authorization header the client added."""
    if request is None:
        return None
    import httpx

    headers = [(k, "***" if k.lower() in CREDENTIAL_HEADERS else v) for k, v in request.headers.multi_items()]
    try:
        content = request.content
    except httpx.RequestNotRead:  # a streamed upload body: not kept
        content = b""
    return httpx.Request(request.method, request.url, headers=headers, content=content,
                         extensions=request.extensions)


class LaminaConnectionError(TransportError):
    """Could not open a connection to the Lamina server."""


class UncertainStartError(TransportError):
    """A run start got no clear answer and the run list could not prove what happened.

    `outcome` says what is known: "ambiguous" (listed runs could be it but nothing proves which, or
    the API cannot list), "unchecked" (the run list could not be read either, so asking it again
    later may settle it) or "absent" (the list proved no run was created; starting again is safe).
    `candidates` holds the ids of the listed runs that could be the one this start created (they may
    as well be another user's: run listings carry no inputs); `window` the (earliest, latest) epoch
    seconds on the server's clock at which the start could have created its run."""

    def __init__(self, message: str, *, app_id: str, since: str | None = None,
                 request: httpx.Request | None = None, outcome: str = "ambiguous",
                 candidates: tuple[str, ...] = (), window: tuple[float, float] | None = None) -> None:
        super().__init__(message, request=request)
        self.app_id = app_id
        self.since = since
        self.outcome = outcome
        self.candidates = tuple(candidates)
        self.window = window


class APIError(LaminaError):
    """The server answered with an error status (or an unreadable body)."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None,
                 details: Any = None, request_id: str | None = None, retryable: bool | None = None,
                 run_id: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.details = redact_data(details)  # servers echo requests, Authorization header included
        self.request_id = request_id
        self.retryable = retryable
        self.run_id = run_id


class AuthenticationError(APIError):
    """401/403: the key is missing, wrong, revoked or not allowed here."""


class NotFoundError(APIError):
    """404: the app or run does not exist in this key's workspace."""


class ValidationError(APIError):
    """Inputs or request body rejected; `.details` is a list of {field, error, message}."""


class RateLimitError(APIError):
    """429: too many requests; `.retry_after` seconds until the server accepts more."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed; usually transient."""


class ResponseError(APIError):
    """The server's body could not be read as the expected JSON."""


class RunFailedError(LaminaError):
    """The run ended `failed` or `cancelled`; `.run` holds its final state and outputs."""

    def __init__(self, run: Run) -> None:
        reason = run.error_message or "no error message given"
        what = "was cancelled" if run.status == "cancelled" else "failed"
        super().__init__(f"Run {run.id} {what}: {reason}. Inspect err.run.outputs for per-output errors; "
                         "change the inputs before retrying (identical inputs usually fail the same way).")
        self.run = run


class WaitTimeout(LaminaError):
    """Stopped waiting; the run continues on the server and can be picked up later."""

    def __init__(self, run_id: str, last_status: str | None, elapsed: float) -> None:
        super().__init__(
            f"Run {run_id} was still {last_status or 'unknown'} after {elapsed:.1f} s. It keeps running on "
            f"the server: call client.wait({run_id!r}) or client.get_run({run_id!r}) later, "
            f"or client.cancel({run_id!r}) to stop paying for it.")
        self.run_id = run_id
        self.last_status = last_status
        self.elapsed = elapsed


class SignatureError(LaminaError):
    """A webhook delivery failed verification; do not process it."""


class LaminaWarning(UserWarning):
    """Something works but is probably not what you meant (wrong key prefix, loose file mode)."""


def excerpt(text: str, limit: int = 200) -> str:
    """A short, scrubbed, single-line view of a body for error messages."""
    flat = " ".join(text.split())
    return redact(flat[:limit] + ("…" if len(flat) > limit else ""))


def _field_messages(details: Any) -> list[str]:
    """Turn any of the three known `details` shapes into readable lines."""
    if isinstance(details, dict):
        inner = details.get("details")
        errors = inner.get("errors") if isinstance(inner, dict) else details.get("errors")
        if isinstance(errors, list):
            details = errors
        elif isinstance(details.get("message"), str):
            return [details["message"]]
        else:
            return []
    if not isinstance(details, list):
        return []
    lines = []
    for item in details:
        if isinstance(item, str):
            lines.append(item)
        elif isinstance(item, dict):
            field, msg = item.get("field"), item.get("message") or item.get("error")
            lines.append(f"{field!r}: {msg}" if field else str(msg))
    return lines


_NEXT_STEP = {
    401: f"Check the API key (LAMINA_API_KEY or Client(api_key=...)); create one at {KEYS_URL}.",
    403: "The key's workspace may not have access to this app or run; check the workspace or use "
         "a key from the right workspace.",
    404: "Check the id and that it belongs to the workspace of this API key (client.list_apps() / "
         "client.list_runs() show what it can see).",
    400: "Fix the fields listed above and try again (client.get_app(...) shows the parameters).",
}


def error_from_response(response: httpx.Response, *, run_id: str | None = None,
                        retry_after: float | None = None, retried: int = 0) -> APIError:
    """Build the typed error for an error response. Tolerates every body shape seen in the wild:
    the v1 envelope, legacy {error, details:[str]}, nested details.details.errors, plain text, HTML."""
    status = response.status_code
    text = response.text
    body: Any = None
    try:
        body = json.loads(text) if text else None
    except (ValueError, RecursionError):
        body = None
    env = body if isinstance(body, dict) else {}
    message = env.get("error") if isinstance(env.get("error"), str) else None
    code = env.get("code") if isinstance(env.get("code"), str) else None
    request_id = env.get("requestId") if isinstance(env.get("requestId"), str) else None
    request_id = request_id or response.headers.get("x-request-id")
    retryable = env.get("retryable") if isinstance(env.get("retryable"), bool) else None
    details = env.get("details")
    if message is None:
        message = excerpt(text, 200) if text and "<html" not in text[:500].lower() else response.reason_phrase
    kw: dict[str, Any] = dict(status_code=status, code=code, details=details, request_id=request_id,
                              retryable=retryable, run_id=run_id)
    tail = f" (request id {request_id})" if request_id else ""
    head = f"Lamina API {status}: {message}{tail}."
    if status == 429:
        wait = retry_after if retry_after is not None else _number(env.get("retryAfter"))
        waited = f" Retried {retried} time(s) already." if retried else ""
        when = f"retry after {wait:g} s" if wait is not None else "wait a minute and retry"
        return RateLimitError(f"{head}{waited} Rate limit reached: {when} (the API allows about "
                              "100 requests per minute).", retry_after=wait, **kw)
    if status in (401, 403):
        return AuthenticationError(f"{head} {_NEXT_STEP[status]}", **kw)
    if status == 404:
        return NotFoundError(f"{head} {_NEXT_STEP[404]}", **kw)
    if status in (400, 422):
        lines = _field_messages(details)
        listed = "".join(f"\n  - {line}" for line in lines)
        return ValidationError(f"{head}{listed}\n{_NEXT_STEP[400]}", **kw)
    if status >= 500:
        retried_text = f" after {retried + 1} attempt(s)" if retried else ""
        return ServerError(f"{head} The server failed{retried_text}; this is usually temporary: try again "
                           "in a moment" + (f" and quote request id {request_id}" if request_id else "")
                           + " if it persists.", **kw)
    return APIError(f"{head} Check the request; see https://docs.uselamina.ai/errors.", **kw)


def response_error(response: httpx.Response, problem: str) -> ResponseError:
    """The body of a (usually 2xx) response was unreadable or the wrong shape."""
    request_id = response.headers.get("x-request-id")
    return ResponseError(
        f"Lamina returned an unreadable response ({problem}) for {response.request.method} "
        f"{response.request.url.path}, status {response.status_code}"
        + (f", request id {request_id}" if request_id else "")
        + f". Body starts: {excerpt(response.text)!r}. Retry; if it persists report the request id.",
        status_code=response.status_code, request_id=request_id, retryable=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value == value and abs(value) != float("inf") else None
