"""The current /v1 family (plus the intermediate /v1/.../executions aliases)."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

from . import credits
from .apps import detail_json, search_apps, summary_json
from .checks import Checks
from .errors import ApiError, invalid
from .faults import Fault
from .runs import find_app, find_run, start_run, status_reply
from .state import State
from .validation import resolve_inputs
from .web import Ctx, Reply, Router, json_reply

STATUSES = ("queued", "running", "completed", "failed", "cancelled")


def register(router: Router) -> None:
    v1 = "v1"

    @router.add("GET", "/v1/apps", v1)
    async def list_apps(ctx: Ctx, state: State, **_: Any) -> Reply:
        limit = ctx.int_query("limit", 50, 1, 100, clamp=True)
        apps = search_apps(ctx.query.get("search"), state.apps)[:limit]
        return json_reply({"data": [summary_json(a, legacy=False) for a in apps]})

    @router.add("GET", "/v1/apps/{app_id}", v1)
    async def get_app(ctx: Ctx, state: State, app_id: str, **_: Any) -> Reply:
        return json_reply({"data": detail_json(find_app(state, app_id), state.base_url, legacy=False)})

    @router.add("GET", "/v1/apps/{app_id}/workflow", v1)
    async def workflow(ctx: Ctx, state: State, app_id: str, **_: Any) -> Reply:
        app = find_app(state, app_id)
        nodes = [{"id": o.node_id, "type": o.node_type, "label": o.node_type} for o in app.outputs]
        return json_reply({"data": {"appId": app.id, "name": app.name, "nodes": nodes, "edges": []}})

    @router.add("POST", "/v1/apps/{app_id}/estimate", v1)
    async def estimate(ctx: Ctx, state: State, app_id: str, **_: Any) -> Reply:
        app = find_app(state, app_id)
        body = await ctx.json_body(required=False)
        if body and "inputs" in body:
            resolve_inputs(app, body["inputs"], state.base_url)
        breakdown = [
            {"nodeId": o.node_id, "nodeType": o.node_type, "credits": o.credits} for o in app.outputs
        ]
        expected = credits.cost(app)
        balance = credits.balance(state)
        return json_reply(
            {
                "data": {
                    "appId": app.id,
                    "name": app.name,
                    "estimatedCredits": {
                        "expected": expected,
                        "min": math.floor(expected * 0.75),
                        "max": math.ceil(expected * 1.5),
                    },
                    "breakdown": breakdown,
                    "currentBalance": balance,
                    "affordable": balance >= expected,
                }
            }
        )

    for family, prefix, item in (
        ("v1", "/v1/apps/{app_id}/runs", "/v1/runs/{run_id}"),
        ("intermediate", "/v1/apps/{app_id}/executions", "/v1/executions/{run_id}"),
    ):
        _register_start_and_get(router, family, prefix, item)

    @router.add("GET", "/v1/runs/{run_id}/wait", v1)
    async def wait(ctx: Ctx, state: State, run_id: str, **_: Any) -> Reply:
        run = find_run(state, run_id)
        timeout = ctx.int_query("timeout", 60, 1, 120)
        checks = Checks(state, run)
        deadline = checks.opened + timeout
        closing = [state.closing] if state.closing else []
        while not checks.terminal and await checks.changed(closing, deadline):
            pass
        body: dict[str, Any] = {"data": checks.last}
        if not checks.terminal:
            body["timeout"] = True
        return json_reply(body)

    @router.add("POST", "/v1/runs/{run_id}/cancel", v1)
    async def cancel(ctx: Ctx, state: State, run_id: str, **_: Any) -> Reply:
        run = find_run(state, run_id)
        state.store.cancel(run)
        return json_reply({"data": {"runId": run.id, "status": run.status}})

    @router.add("GET", "/v1/runs", v1)
    async def list_runs(ctx: Ctx, state: State, fault: Fault | None = None, **_: Any) -> Reply:
        status = ctx.query.get("status") or None
        if status is not None and status not in STATUSES:
            raise invalid(
                "status",
                "invalid_option",
                f'"status" must be one of: {", ".join(STATUSES)}',
                "Invalid query parameter",
            )
        limit = ctx.int_query("limit", 25, 1, 100, clamp=True)
        offset = ctx.int_query("offset", 0, 0)
        since = parse_since(ctx.query.get("since"))
        runs = state.store.list(status, ctx.query.get("appId") or None, since)
        if fault is not None and fault.kind == "listing_lag":  # an eventually consistent list
            seen_before = time.time() - float(fault.params.get("seconds", 1.0))
            runs = [r for r in runs if r.created <= seen_before]
        page = runs[offset : offset + limit]
        return json_reply(
            {
                "data": [r.summary_json() for r in page],
                "pagination": {"total": len(runs), "limit": limit, "offset": offset},
            }
        )

    @router.add("GET", "/v1/account", v1)
    async def account(ctx: Ctx, state: State, **_: Any) -> Reply:
        workspace = {
            "id": state.workspace_id,
            "name": "Emulator Workspace",
            "slug": "emulator",
            "role": "owner",
        }
        return json_reply(
            {
                "data": {
                    "user": {"id": state.user_id, "email": "demo@emulator.invalid"},
                    "workspace": workspace,
                    "memberships": [
                        {
                            "workspaceId": state.workspace_id,
                            "name": workspace["name"],
                            "slug": "emulator",
                            "role": "owner",
                        }
                    ],
                }
            }
        )

    @router.add("GET", "/v1/account/usage", v1)
    async def usage(ctx: Ctx, state: State, **_: Any) -> Reply:
        s = state.settings
        return json_reply(
            {
                "data": {
                    "credits": {
                        "balance": credits.balance(state),
                        "totalEarned": credits.granted(state),
                        "totalSpent": state.credits_spent,
                    },
                    "rateLimit": {"limit": s.rate_limit, "windowMs": round(60000 * s.time_factor)},
                }
            }
        )

    @router.add("GET", "/v1/webhooks/signing-key", v1)
    async def signing_key(ctx: Ctx, state: State, **_: Any) -> Reply:
        return json_reply({"keys": [state.signer.jwk()]})


def _register_start_and_get(router: Router, family: str, start_path: str, item_path: str) -> None:
    @router.add("POST", start_path, family)
    async def start(ctx: Ctx, state: State, app_id: str, **_: Any) -> Reply:
        return await start_run(ctx, state, app_id, family)

    @router.add("GET", item_path, family)
    async def get(ctx: Ctx, state: State, run_id: str, **_: Any) -> Reply:
        return status_reply(find_run(state, run_id), family)


def parse_since(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        text = raw.strip().replace("Z", "+00:00").replace("z", "+00:00")
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        raise ApiError(
            "VALIDATION_ERROR",
            "Invalid query parameter",
            details=[
                {
                    "field": "since",
                    "error": "invalid_type",
                    "message": f'"since" must be an ISO-8601 date-time, got "{raw[:50]}"',
                }
            ],
        ) from None
