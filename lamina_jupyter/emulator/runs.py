"""Starting and looking up runs, shared by the /v1, intermediate and legacy route families."""

from __future__ import annotations

from urllib.parse import urlsplit

from .apps import CARTOONIFY, App
from .credits import charge, cost
from .errors import ApiError, field_error
from .run import Run
from .state import State
from .validation import resolve_inputs, select_outputs
from .web import Ctx, Reply, json_reply


def find_app(state: State, app_id: str) -> App:
    app = state.apps.get(app_id)
    if app is None:
        raise ApiError("NOT_FOUND", "App not found")
    return app


def find_run(state: State, run_id: str) -> Run:
    run = state.store.get(run_id)
    if run is None:
        raise ApiError("NOT_FOUND", "Execution not found")
    return run


def webhook_from(ctx: Ctx) -> str | None:
    url = ctx.query.get("webhook")
    if url is None or url == "":
        return None
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and len(url) <= 2048
    except ValueError:
        valid = False
    if not valid:
        raise ApiError(
            "WEBHOOK_INVALID_URL", f'Webhook URL must be an absolute http or https URL, got "{url[:100]}"'
        )
    return url


async def start_run(ctx: Ctx, state: State, app_id: str, family: str) -> Reply:
    app = find_app(state, app_id)
    webhook = webhook_from(ctx)
    body = await ctx.json_body()
    if "inputs" not in body:
        raise ApiError(
            "VALIDATION_ERROR",
            "Invalid request body",
            details=[
                field_error(
                    "inputs",
                    "invalid_type",
                    'The body needs an "inputs" object, e.g. {"inputs": {"prompt_text": "..."}}',
                )
            ],
        )
    resolved = resolve_inputs(app, body["inputs"], state.base_url)
    outputs = select_outputs(app, body.get("outputs"))
    charge(state, cost(app, outputs))
    run = state.store.create(app, family, body["inputs"], resolved, outputs, webhook)
    if app.id == CARTOONIFY.id:
        state.fetcher.start(run, resolved["upload"])
    return json_reply({"data": run.to_json()}, 202)


def status_reply(run: Run, family: str) -> Reply:
    return json_reply({"data": run.to_json(family)})
