"""Flows for apps, starting runs (with reconciliation), runs, uploads, estimates and signing keys.

Each function is a generator driven by Client/AsyncClient (see protocol). Waiting and streaming
live in watch.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

from .claims import UNKNOWN_OFFSET, Flight, ServerClock
from .errors import (
    APIError,
    ConfigurationError,
    NotFoundError,
    ResponseError,
    TransportError,
    UncertainStartError,
)
from .inputs import PreparedInputs, Upload, as_upload, prepare_inputs
from .models import App, Estimate, Run
from .protocol import CREATE, IDEMPOTENT, Context, Flow, Join, OutcomeUnknown, Sleep, backoff, call, send
from .redact import redact

APP_CACHE_SECONDS = 60.0   # docs: cache app metadata briefly, re-validate against the latest
APP_JOIN_SECONDS = 60.0    # the longest a flow waits for another's fetch of the same app before its own
RECONCILE_SKEW = UNKNOWN_OFFSET  # seconds either side of a start searched while the server clock is unknown
LISTING_SETTLE = 1.0       # seconds a new run may take to show in GET /v1/runs: an empty list is read twice
MAX_CLOCK_DOUBT = 0.1      # seconds: how well the server's clock must be known to take a lone rival as ours
SIBLING_PATIENCE = 10.0    # seconds we look again while our other starts in flight may settle a lost one
CROWD_HORIZON = 30.0       # seconds before a start in which another client's run of the app means "crowded"
FRESH_HORIZON = 60.0       # seconds back a run of ours still shows whether the run list is current
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

PATHS = {
    "v1": {"apps": "/v1/apps", "app": "/v1/apps/{}", "start": "/v1/apps/{}/runs", "run": "/v1/runs/{}",
           "signing": "/v1/webhooks/signing-key"},
    "legacy": {"apps": "/api/apps", "app": "/api/apps/{}", "start": "/api/apps/{}/executions",
               "run": "/api/executions/{}", "signing": "/api/webhooks/signing-key"},
}


def path(ctx: Context, name: str) -> str:
    return PATHS[ctx.api][name]


def require_v1(ctx: Context, what: str) -> None:
    if ctx.api != "v1":
        raise ConfigurationError(f"{what} exists only in the v1 API; this client uses api='legacy'. "
                                 "Create the client with api='v1' (the default).")


def run_id_of(run: Run | str) -> str:
    if isinstance(run, Run):
        return run.id
    if isinstance(run, str) and run:
        return run
    raise TypeError(f"expected a Run or a run id, not {type(run).__name__}")


def run_problem(data: Any) -> str | None:
    """What makes a run object unusable (None when it is fine): no id, a status that is not text, or
    outputs that are not a list. Missing optional fields are fine (Run fills in defaults)."""
    if not any(isinstance(data.get(k), str) and data[k] for k in ("runId", "executionId", "id")):
        return "a run without an id"
    status, outputs = data.get("status", ""), data.get("outputs", [])
    if not isinstance(status, str):
        return f"a run status that is not text ({redact(repr(status))[:40]})"
    if not isinstance(outputs, list):
        return "run outputs that are not a list"
    return None


def parse_run(ctx: Context, data: Any) -> Run:
    return followed(ctx, Run.from_json(data, ctx.fetcher))


def followed(ctx: Context, run: Run) -> Run:
    """`run`, remembered as one of ours (known_runs keeps the most recently followed)."""
    if run.id:
        ctx.known_runs.add(run.id)
    return run


def list_apps(ctx: Context, search: str | None = None, limit: int | None = None) -> Flow:
    data, _ = yield from call(ctx, "GET", path(ctx, "apps"), params={"search": search, "limit": limit},
                              expect=list)
    return [App.from_json(a) for a in data]


def _fetch_app(ctx: Context, app_id: str) -> Flow:
    data, _ = yield from call(ctx, "GET", path(ctx, "app"), app_id)
    app = App.from_json(data)
    now = ctx.clock()
    ctx.app_cache[app.id] = ctx.app_cache[app.name] = (now, app)
    return app


def get_app(ctx: Context, app: App | str) -> Flow:
    """An app with its parameters, by App, id or exact name (names resolve through search). Flows that
    find it missing or stale at once share one fetch: the first fetches, the others Join it (1,000
    gathered starts would otherwise send 1,000 requests for it at the cache's expiry)."""
    if isinstance(app, App):
        if app.has_details:
            return app
        ref = app.id
    elif isinstance(app, str) and app:
        ref = app
    else:
        raise TypeError(f"expected an App, an app id or an app name, not {type(app).__name__}")
    cached = ctx.app_cache.get(ref)
    if cached and ctx.clock() - cached[0] < APP_CACHE_SECONDS:
        return cached[1]
    mine: Future[App | None] = Future()
    shared = ctx.app_fetches.setdefault(ref, mine)  # atomic: one leader, even across threads
    if shared is not mine:
        yield Join(shared, APP_JOIN_SECONDS)
        found = shared.result() if shared.done() else None
        return found if found is not None else (yield from _resolve_app(ctx, app, ref))  # it failed
    found = None
    try:
        found = yield from _resolve_app(ctx, app, ref)
        return found
    finally:  # also when the fetch failed or the flow was closed: the others then fetch themselves
        if ctx.app_fetches.get(ref) is mine:
            del ctx.app_fetches[ref]
        mine.set_result(found)


def _resolve_app(ctx: Context, app: App | str, ref: str) -> Flow:
    if isinstance(app, App) or _UUID.fullmatch(ref):
        return (yield from _fetch_app(ctx, ref))
    found = yield from list_apps(ctx, search=ref)
    exact = [a for a in found if a.name == ref]
    if len(exact) > 1:
        ids = ", ".join(a.id for a in exact)
        raise NotFoundError(f"{len(exact)} apps are named {ref!r} (ids {ids}); pass the id instead.",
                            code="AMBIGUOUS_APP")
    if exact:
        return (yield from _fetch_app(ctx, exact[0].id))
    try:  # not a name: maybe an id in a non-UUID format
        return (yield from _fetch_app(ctx, ref))
    except NotFoundError:
        pass
    everything = yield from list_apps(ctx)
    by_fold = {a.name.casefold(): a.name for a in everything}
    close = difflib.get_close_matches(ref.casefold(), list(by_fold), n=3, cutoff=0.4)
    hint = f" Did you mean: {', '.join(repr(by_fold[c]) for c in close)}?" if close else ""
    raise NotFoundError(f"No app with the id or exact name {ref!r} is visible to this key.{hint} "
                        "client.list_apps() lists what it can see.", code="NOT_FOUND", status_code=404)


def _upload(ctx: Context, item: Upload) -> Flow:
    require_v1(ctx, "Uploading local files")
    data, _ = yield from call(ctx, "POST", "/v1/assets/upload-urls",
                              json_body={"files": [{"filename": item.filename,
                                                    "mediaType": item.media_type}]})
    uploads = data.get("uploads")
    slot = uploads[0] if isinstance(uploads, list) and uploads and isinstance(uploads[0], dict) else {}
    put_url, asset_url = slot.get("uploadUrl"), slot.get("assetUrl")
    if not isinstance(put_url, str) or not isinstance(asset_url, str):
        raise ResponseError("The upload endpoint returned no uploadUrl/assetUrl; retry the upload.",
                            code="BAD_UPLOAD_SLOT")
    content_type = slot.get("contentTypeHint") or item.content_type
    put = ctx.request("PUT", "", url=put_url, content=item.data, headers={"Content-Type": str(content_type)})
    yield from send(ctx, put, expect_json=False)
    return asset_url


def upload(ctx: Context, value: Any, filename: str | None = None, media_type: str | None = None) -> Flow:
    return (yield from _upload(ctx, as_upload(value, filename, media_type)))


def _canonical(inputs: Any) -> str:
    return json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _server_time(run: Run) -> float | None:
    return run.created_at.timestamp() if run.created_at else None


def rival_runs(listed: Sequence[Run], window: tuple[float, float], inputs: Any, known: Any) -> list[Run]:
    """The listed runs that could be the one a start created: made on the server while the start was
    in flight (`window`, server clock; a run without createdAt cannot be ruled out), not spoken for in
    this process (`known`), and with the same inputs when the list shows inputs at all (it usually
    does not)."""
    lo, hi = window
    found = [r for r in listed if r.id and r.id not in known
             and ((stamp := _server_time(r)) is None or lo <= stamp <= hi)]
    if found and all(isinstance(r.raw.get("inputs"), dict) for r in found):
        found = [r for r in found if _canonical(r.raw["inputs"]) == _canonical(inputs)]
    return found


def strangers(listed: Sequence[Run], found: Sequence[Run], known: Any) -> list[Run]:
    """Listed runs that nothing in this process holds, besides the candidates: someone else (a
    teammate, another kernel, the CLI) is running the app."""
    ids = {r.id for r in found}
    return [r for r in listed if r.id and r.id not in known and r.id not in ids]


def explained(others: Sequence[Run], sends: Sequence[float], clock: ServerClock) -> bool:
    """Every run in `others` may be one of our sibling starts': each matched to a different sibling
    whose request went out (`sends`, our clock, ascending) before the run was made. A run made before
    every sibling's request, or one more than the siblings, is a stranger's."""
    stamps = [stamp for r in others if (stamp := _server_time(r)) is not None]
    if len(stamps) < len(others) or len(stamps) > len(sends):
        return False
    # on the server's clock, at the soonest; matched in order, each run to the next sibling before it
    pending = iter(clock.window(sent, sent)[0] for sent in sends)
    return all(any(at <= stamp for at in pending) for stamp in sorted(stamps))


def is_evidence(clock: ServerClock, found: Sequence[Run], others: Sequence[Run],
                sends: Sequence[float]) -> bool:
    """One rival is ours only when the server's clock is known well enough that a stranger's run
    started just before or after our request would have fallen outside the window, and every other
    run of the app from CROWD_HORIZON before the start until now is accounted for. `others` are the
    listed runs nothing in this process holds, `sends` when our other starts of the app now in flight
    were sent (a batch's overlapping starts, a form in the same kernel), each owning at most one run
    made after that; the app is quiet when `others` are exactly theirs, one each:
    - a run no sibling explains: someone else runs the app, and a stranger's run made *during* our
      request's flight, while ours never arrived, looks exactly like ours;
    - a sibling without its run listed: that run may be the one found, while ours never arrived.
    A list that shows inputs (rival_runs matched them) settles it."""
    shows_inputs = bool(found) and isinstance(found[0].raw.get("inputs"), dict)
    return (len(found) == 1 and found[0].created_at is not None and clock.doubt <= MAX_CLOCK_DOUBT
            and (shows_inputs or (len(others) == len(sends) and explained(others, sends, clock))))


def _look(ctx: Context, app_id: str, inputs: Any, window: tuple[float, float]) -> Flow:
    """(rivals, behind, listed). The list reaches back CROWD_HORIZON, and to our latest run of the
    app (if recent): when that run is missing, the list lags and an empty answer proves nothing."""
    since, newest = window[0] - CROWD_HORIZON, ctx.server_clock.newest.get(app_id)
    if newest is not None and window[0] - newest[1] > FRESH_HORIZON:
        newest = None
    if newest is not None:
        since = min(since, newest[1] - 0.5)
    params = {"appId": app_id, "since": _iso(since), "limit": 100}
    data, _ = yield from call(ctx, "GET", "/v1/runs", params=params, expect=list)
    listed = [Run.from_json(r, ctx.fetcher) for r in data if isinstance(r, dict)]
    behind = newest is not None and len(data) < 100 and newest[0] not in {r.id for r in listed}
    return rival_runs(listed, window, inputs, ctx.known_runs), behind, listed


def doubt_message(app_id: str, found: Sequence[Run], cause: str) -> str:
    ids = ", ".join(r.id for r in found)
    first = found[0].id
    return (f"Starting app {app_id} got no clear answer ({cause}), and nothing proves which "
            f"run, if any, it created: run(s) {ids} started at that moment could be it or another user's "
            f"start of the same app (run lists carry no inputs). Look at client.get_run({first!r}); if it "
            f"is yours, client.wait({first!r}) follows it, otherwise start again.")


def awaits_sibling(clock: ServerClock, found: Sequence[Run], others: Sequence[Run],
                   sends: Sequence[float]) -> bool:
    """Our sibling starts in flight (`sends`) may explain what the list shows, but not yet decisively:
    a sibling's run is among those `found`, or not listed yet. Its answer, once it comes, names its
    run; until then we look again. Runs no sibling can explain are a crowd, which no answer changes."""
    if not found or not sends or len(found) + len(others) > len(sends) + 1:
        return False
    decided = len(found) == 1 and len(others) == len(sends)
    return explained(others, sends, clock) and not decided


def _reconcile(ctx: Context, app_id: str, inputs: Mapping[str, Any], window: tuple[float, float],
               unknown: OutcomeUnknown) -> Flow:
    """After an ambiguous start: the run we created, None when the list shows none was (looked at
    twice, a moment apart, as new runs may reach the list late), or raise UncertainStartError."""
    found, behind, listed = yield from _look(ctx, app_id, inputs, window)
    if not found:
        busy = min(max(ctx.timeout.read or 0.0, 1.0), 10.0) if unknown.busy else 0.0
        yield Sleep(max(LISTING_SETTLE, busy))  # a server that timed out may still be creating it
        found, behind, listed = yield from _look(ctx, app_id, inputs, window)
    for _ in range(int(SIBLING_PATIENCE / LISTING_SETTLE)):
        others = strangers(listed, found, ctx.known_runs)
        if not awaits_sibling(ctx.server_clock, found, others, ctx.known_runs.siblings(ctx.base_url, app_id)):
            break
        yield Sleep(LISTING_SETTLE)
        found, behind, listed = yield from _look(ctx, app_id, inputs, window)
    if not found and behind:
        raise UncertainStartError(
            f"Starting app {app_id} got no clear answer ({unknown.cause}), and the run list is behind (a "
            "run this process started moments earlier is not in it yet), so it cannot show whether this "
            f"start made a run. Check client.list_runs(app={app_id!r}, since={_iso(window[0])!r}) in a "
            "minute before starting again.", app_id=app_id, since=_iso(window[0]), window=window)
    if not found:
        return None
    others = strangers(listed, found, ctx.known_runs)  # now: a sibling answered meanwhile is known
    if is_evidence(ctx.server_clock, found, others, ctx.known_runs.siblings(ctx.base_url, app_id)) \
            and ctx.known_runs.claim(found[0].id):
        return found[0]
    raise UncertainStartError(doubt_message(app_id, found, unknown.cause), app_id=app_id,
                              since=_iso(window[0]), candidates=tuple(r.id for r in found), window=window)


def create_run(ctx: Context, app_id: str, body: dict[str, Any], params: dict[str, Any]) -> Flow:
    """POST the start; on an ambiguous outcome look for the run before any resend. Until it is
    settled the start counts as in flight, so a sibling settling its own start at the same moment
    does not take this one's run, if listed before its answer, for a stranger's."""
    with ctx.known_runs.flight(ctx.base_url, app_id) as flight:
        return (yield from _create_run(ctx, app_id, body, params, flight))


def _create_run(ctx: Context, app_id: str, body: dict[str, Any], params: dict[str, Any],
                flight: Flight) -> Flow:
    resends = 0
    while True:
        t0 = ctx.wall()
        try:
            data, _ = yield from call(ctx, "POST", path(ctx, "start"), app_id, kind=CREATE, params=params,
                                      json_body=body, check=run_problem, flight=flight)
            run = parse_run(ctx, data)
            flight.sent = None  # its run is known now
            if run.created_at:  # the run was made between t0 and now: that pins the server's clock
                ctx.server_clock.observe(t0, ctx.wall(), run.created_at.timestamp(), (app_id, run.id))
            return run
        except OutcomeUnknown as unknown:
            cause = unknown.cause
            if ctx.api != "v1":
                raise UncertainStartError(
                    f"Starting app {app_id} failed with {cause}, so the run may have been created. "
                    "The legacy API cannot list runs: check the Lamina web app before starting it again.",
                    app_id=app_id) from None
            window = ctx.server_clock.window(unknown.sent or t0, ctx.wall())
            try:
                found = yield from _reconcile(ctx, app_id, body["inputs"], window, unknown)
            except (TransportError, APIError) as err:
                if isinstance(err, UncertainStartError):
                    raise
                since = _iso(window[0])  # the check failed too: the run may well exist
                raise UncertainStartError(
                    f"Starting app {app_id} failed with {cause}, and the run list that would show whether "
                    f"the run was created could not be read ({type(err).__name__}). Check "
                    f"client.list_runs(app={app_id!r}, since={since!r}) before starting it again.",
                    app_id=app_id, since=since, outcome="unchecked", window=window) from None
        flight.sent = None  # the list settled it: our run, now known, or none at all
        if found is not None:
            try:
                data, _ = yield from call(ctx, "GET", path(ctx, "run"), found.id, run_id=found.id)
            except (TransportError, APIError):
                return found  # it exists (the list showed it): never an error that invites a resend
            return parse_run(ctx, data)
        if resends >= ctx.max_retries:
            raise UncertainStartError(f"Starting app {app_id} failed {resends + 1} time(s) ({cause}); "
                                      "the run list shows no run was created. Try again later.",
                                      app_id=app_id, outcome="absent")
        yield Sleep(backoff(resends, ctx.rng))
        resends += 1


def _prepare(ctx: Context, app: App, inputs: Mapping[str, Any] | None) -> Flow:
    prepared: PreparedInputs = prepare_inputs(app, inputs, ctx.api)
    payload = prepared.payload
    for key, index, item in prepared.uploads:
        url = yield from _upload(ctx, item)
        if index is None:
            payload[key] = url
        else:
            payload[key][index] = url
    return payload


def start(ctx: Context, app: App | str, inputs: Mapping[str, Any] | None, webhook: str | None = None,
          outputs: Sequence[str] | None = None) -> Flow:
    detail = yield from get_app(ctx, app)
    payload = yield from _prepare(ctx, detail, inputs)
    body: dict[str, Any] = {"inputs": payload}
    if outputs:
        body["outputs"] = [outputs] if isinstance(outputs, str) else list(outputs)
    return (yield from create_run(ctx, detail.id, body, {"webhook": webhook}))


def get_run(ctx: Context, run: Run | str, kind: str = IDEMPOTENT) -> Flow:
    """One run's state; `kind=WATCH` when the caller only watches it (protocol.take_turn)."""
    run_id = run_id_of(run)
    data, _ = yield from call(ctx, "GET", path(ctx, "run"), run_id, kind=kind, run_id=run_id,
                              check=run_problem)
    return parse_run(ctx, data)


def cancel(ctx: Context, run: Run | str) -> Flow:
    require_v1(ctx, "Cancelling a run")
    run_id = run_id_of(run)
    data, _ = yield from call(ctx, "POST", "/v1/runs/{}/cancel", run_id, run_id=run_id)
    return parse_run(ctx, data)


def _since(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return _iso(value.timestamp())
    raise TypeError(f"since must be a datetime or an ISO-8601 string, not {type(value).__name__}")


def list_runs(ctx: Context, status: str | None = None, app: App | str | None = None, since: Any = None,
              limit: int | None = None, offset: int | None = None) -> Flow:
    require_v1(ctx, "Listing runs")
    app_id = None
    if isinstance(app, App):
        app_id = app.id
    elif app is not None:
        app_id = app if _UUID.fullmatch(app) else (yield from get_app(ctx, app)).id
    params = {"status": status, "appId": app_id, "since": _since(since), "limit": limit, "offset": offset}
    data, _ = yield from call(ctx, "GET", "/v1/runs", params=params, expect=list)
    return [Run.from_json(r, ctx.fetcher) for r in data if isinstance(r, dict)]


def estimate(ctx: Context, app: App | str, inputs: Mapping[str, Any] | None = None) -> Flow:
    """Credit estimate; inputs (when given) are validated first so a bad call costs nothing."""
    require_v1(ctx, "Estimating cost")
    detail = yield from get_app(ctx, app)
    if inputs is not None:
        prepare_inputs(detail, inputs, ctx.api)
    data, _ = yield from call(ctx, "POST", "/v1/apps/{}/estimate", detail.id)
    return Estimate.from_json(data)


def signing_key(ctx: Context) -> Flow:
    """The JWKS ({"keys": [...]}) that verifies webhook signatures."""
    body, _ = yield from call(ctx, "GET", path(ctx, "signing"), expect=None)
    if not isinstance(body.get("keys"), list):
        body = body.get("data") if isinstance(body.get("data"), dict) else body
    return body
