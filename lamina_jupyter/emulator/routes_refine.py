"""`POST /v1/runs/{run_id}/feedback`: refine a completed run in place (lamina-api.md §4.11).

The API has an LLM pick the nodes whose prompts need the feedback; the emulator refines the outputs
whose label the feedback names ("make the Back View brighter"), or every output when it names none.
The call answers after re-execution, with only the refined outputs, as the documented example does.
New media are drawn from the previous picture with the feedback tinted and written on it, so each
version is visibly different. The legacy /api family has no refine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from . import media
from .errors import ApiError, field_error, invalid
from .run import OutputState, Run, wait_any
from .runs import find_run
from .state import State
from .web import Ctx, Reply, Router, json_reply

MAX_FEEDBACK = 2000
REFINE_SHARE = 0.5  # a refinement takes this share of a run's latency


def register(router: Router) -> None:
    @router.add("POST", "/v1/runs/{run_id}/feedback", "v1")
    async def feedback(ctx: Ctx, state: State, run_id: str, **_: Any) -> Reply:
        run = find_run(state, run_id)
        text = feedback_text(await ctx.json_body())
        if run.status != "completed":
            raise ApiError(
                "VALIDATION_ERROR",
                f"Only completed runs can be refined; run {run.id} is {run.status}",
                details=[
                    field_error(
                        "runId",
                        "invalid_state",
                        f"run {run.id} is {run.status}: wait until it is completed, then send the feedback"
                        if run.status in ("queued", "running")
                        else f"run {run.id} is {run.status}: start a new run instead of refining this one",
                    )
                ],
            )
        await pause(state, state.settings.latency * run.app.latency_factor * REFINE_SHARE)
        chosen = chosen_outputs(run, text)
        for out in chosen:
            refine_output(state, run, out, text)
        state.credits_spent += sum(o.spec.credits for o in chosen)
        nodes = [
            {"nodeId": o.spec.node_id, "reason": f'Rewrote the prompt to apply: "{text[:200]}"'}
            for o in chosen
        ]
        summary = f"Refined {len(chosen)} node(s) of {run.app.name} with the feedback: {text[:200]}"
        return json_reply(
            {
                "data": {
                    "runId": run.id,
                    "status": run.status,
                    "summary": summary,
                    "refinedNodes": nodes,
                    "outputs": [o.to_json() for o in chosen],
                    "errorMessage": None,
                }
            }
        )


def feedback_text(body: dict[str, Any]) -> str:
    text = body.get("feedback")
    if not isinstance(text, str) or not text.strip():
        raise invalid(
            "feedback",
            "invalid_type",
            '"feedback" must be a non-empty string, e.g. {"feedback": "make the background brighter"}',
            "Invalid request body",
        )
    if len(text) > MAX_FEEDBACK:
        raise invalid(
            "feedback",
            "invalid_type",
            f'"feedback" must be at most {MAX_FEEDBACK} characters',
            "Invalid request body",
        )
    return text.strip()


def chosen_outputs(run: Run, text: str) -> list[OutputState]:
    """The outputs whose label the feedback names, or all of them when it names none."""
    done = [o for o in run.outputs if o.status == "completed"]
    named = [o for o in done if o.spec.label.lower() in text.lower()]
    return named or done


def refine_output(state: State, run: Run, out: OutputState, text: str) -> None:
    """Replace the output's value in place: text gains the feedback, media get a new derived picture."""
    if out.spec.type == "text":
        out.value = f"{out.value} [refined: {text}]"
        return
    previous = str(out.value).rsplit("/", 1)[-1]
    mid, ext = previous.rsplit(".", 1) if "." in previous else (previous, "png")
    base = state.media_specs.get(mid)
    if base is None:  # not one of ours: nothing to draw from
        return
    if base["kind"] == "clip":
        render = dict(base, prompt=f"{base['prompt']} / {text}")
    else:
        render = {"kind": "refined", "base": base, "feedback": text}
    new_mid = media.media_id(run.app.id, out.spec.index, "refined", mid, text)
    state.media_specs[new_mid] = render
    out.value = f"{state.base_url}/media/outputs/{new_mid}.{ext}"


async def pause(state: State, seconds: float) -> None:
    """Sleep for the re-execution, but end at once when the emulator shuts down."""
    if state.closing is None:
        await asyncio.sleep(seconds)
    else:
        await wait_any([state.closing], seconds)
