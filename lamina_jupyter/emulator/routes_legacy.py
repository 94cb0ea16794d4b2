"""The legacy /api family: `executionId`, `{error, details: [strings]}` errors and real `required` flags."""

from __future__ import annotations

from typing import Any

from .apps import detail_json, search_apps, summary_json
from .runs import find_app, find_run, start_run, status_reply
from .state import State
from .web import Ctx, Reply, Router, json_reply


def register(router: Router) -> None:
    @router.add("GET", "/api/apps", "legacy")
    async def list_apps(ctx: Ctx, state: State, **_: Any) -> Reply:
        limit = ctx.int_query("limit", 50, 1, 100, clamp=True)
        apps = search_apps(ctx.query.get("search"), state.apps)[:limit]
        return json_reply({"data": [summary_json(a, legacy=True) for a in apps]})

    @router.add("GET", "/api/apps/{app_id}", "legacy")
    async def get_app(ctx: Ctx, state: State, app_id: str, **_: Any) -> Reply:
        return json_reply({"data": detail_json(find_app(state, app_id), state.base_url, legacy=True)})

    @router.add("GET", "/api/apps/{app_id}/workflow", "legacy")
    async def workflow(ctx: Ctx, state: State, app_id: str, **_: Any) -> Reply:
        app = find_app(state, app_id)
        nodes = [{"id": o.node_id, "type": o.node_type, "label": o.label} for o in app.outputs]
        return json_reply({"data": {"appId": app.id, "name": app.name, "nodes": nodes, "edges": []}})

    @router.add("POST", "/api/apps/{app_id}/executions", "legacy")
    async def start(ctx: Ctx, state: State, app_id: str, **_: Any) -> Reply:
        return await start_run(ctx, state, app_id, "legacy")

    @router.add("GET", "/api/executions/{run_id}", "legacy")
    async def get(ctx: Ctx, state: State, run_id: str, **_: Any) -> Reply:
        return status_reply(find_run(state, run_id), "legacy")

    @router.add("GET", "/api/webhooks/signing-key", "legacy")
    async def signing_key(ctx: Ctx, state: State, **_: Any) -> Reply:
        return json_reply({"keys": [state.signer.jwk()]})
