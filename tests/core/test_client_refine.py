"""client.refine on Client and AsyncClient against the real emulator: in place, versions kept in order,
every non-completed state refused before anything is paid, and no blind resend when an answer is lost."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from suite import CAPTION_WRITER, PRODUCT_SHOT, TEXT_TO_IMAGE, route_count

from lamina_jupyter import ConfigurationError, TransportError, ValidationError

FEEDBACK_ROUTE = "POST /v1/runs/{id}/feedback"


@pytest.fixture
def lamina(make_lamina):
    return make_lamina()


def values(outputs) -> list:
    return [o.value for o in outputs]


def test_refine_in_place_keeps_every_version_in_order(lamina, emulator):
    run = lamina.run(TEXT_TO_IMAGE, {"Prompt": "a lighthouse"})
    first = lamina.refine(run, "more dramatic sky")
    second = lamina.refine(run.id, "add a boat")
    assert first.id == second.id == run.id and second.status == "completed"
    assert [v.number for v in second.versions] == [1, 2, 3]
    assert [v.feedback for v in second.versions] == [None, "more dramatic sky", "add a boat"]
    assert values(second.versions[0].outputs) == values(run.outputs)
    assert values(second.versions[1].outputs) == values(first.outputs)
    assert values(second.versions[2].outputs) == values(second.outputs)
    assert len({second.versions[i].outputs[0].value for i in range(3)}) == 3
    assert "add a boat" in (second.versions[2].summary or "")
    assert second.versions[2].refined_nodes[0]["nodeId"] == run.outputs[0].id
    assert values(lamina.get_run(run.id).outputs) == values(second.outputs)
    assert second.versions[1].output("Image").read()[:4] == b"\x89PNG"


def test_answer_with_only_the_refined_node_keeps_the_other_outputs(lamina):
    run = lamina.run(PRODUCT_SHOT, {"Product": "a mug"})
    refined = lamina.refine(run, "Back View: show the handle")
    assert [o.label for o in refined.outputs] == ["Front View", "Back View", "Caption"]
    changed = [a.value != b.value for a, b in zip(run.outputs, refined.outputs, strict=True)]
    assert changed == [False, True, False]


def test_refinements_by_another_client_become_versions_too(lamina, emulator):
    """Another tool refines the same run between our calls: its outputs are kept as a version."""
    run = lamina.run(CAPTION_WRITER, {"Topic": "tea"})
    lamina.refine(run, "shorter")
    with httpx.Client(base_url=emulator.base_url, headers={"x-api-key": emulator.api_key}) as other:
        assert other.post(f"/v1/runs/{run.id}/feedback", json={"feedback": "funnier"}).status_code == 200
    last = lamina.refine(run, "add an emoji")
    assert [v.feedback for v in last.versions] == [None, "shorter", None, "add an emoji"]
    assert "funnier" in last.versions[2].outputs[0].value


def test_concurrent_refines_of_one_run_keep_both_versions(make_lamina):
    one, two = make_lamina(), make_lamina()
    run = one.run(CAPTION_WRITER, {"Topic": "coffee"})
    results: list = []
    threads = [threading.Thread(target=lambda c=c, f=f: results.append(c.refine(run, f)))
               for c, f in ((one, "warmer"), (two, "colder"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    final = max(results, key=lambda r: len(r.versions))
    assert {v.feedback for v in final.versions} == {None, "warmer", "colder"}
    assert [v.number for v in final.versions] == [1, 2, 3]


def wait_until(lamina, run_id: str, status: str) -> None:
    for _ in range(100):
        if lamina.get_run(run_id).status == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never became {status}")


@pytest.mark.parametrize("state", ["queued", "running", "failed", "cancelled"])
def test_runs_that_are_not_completed_are_refused_before_paying(lamina, emulator, state):
    emulator.reset_stats()
    if state == "queued":
        emulator.configure(latency=30)
        run = lamina.start(TEXT_TO_IMAGE, {"Prompt": "slow"})
    elif state == "running":
        run = lamina.start(TEXT_TO_IMAGE, {"Prompt": "forever #stuck"})
        wait_until(lamina, run.id, "running")
    elif state == "failed":
        run = lamina.run(TEXT_TO_IMAGE, {"Prompt": "broken #fail"}, raise_on_failure=False)
    else:
        emulator.configure(latency=30)
        run = lamina.cancel(lamina.start(TEXT_TO_IMAGE, {"Prompt": "stop"}))
    with pytest.raises(ValidationError, match=f"is {state}, and only completed runs") as caught:
        lamina.refine(run, "brighter")
    assert caught.value.code == "RUN_NOT_COMPLETED" and caught.value.run_id == run.id
    hint = "client.wait" if state in ("queued", "running") else "start a new run"
    assert hint in str(caught.value)
    assert route_count(emulator, FEEDBACK_ROUTE) == 0


def test_legacy_family_and_bad_feedback_fail_before_any_request(make_lamina, emulator):
    legacy = make_lamina(api="legacy")
    emulator.reset_stats()
    with pytest.raises(ConfigurationError, match="only in the v1 API.*api='v1'"):
        legacy.refine("any-run", "brighter")
    v1 = make_lamina()
    with pytest.raises(ValueError, match="what to change"):
        v1.refine("any-run", "   ")
    with pytest.raises(TypeError, match="feedback must be a string"):
        v1.refine("any-run", None)
    assert emulator.stats["requests"] == 0


def test_lost_answer_after_the_refinement_is_recovered_without_resending(lamina, emulator):
    run = lamina.run(CAPTION_WRITER, {"Topic": "rain"})
    emulator.reset_stats()
    emulator.inject("accept_then_drop", route="POST /v1/runs/*/feedback")
    refined = lamina.refine(run, "cosier")
    assert route_count(emulator, FEEDBACK_ROUTE) == 1  # applied once, never re-sent
    assert "cosier" in refined.outputs[0].value and [v.feedback for v in refined.versions] == [None, "cosier"]


def test_lost_answer_before_the_refinement_says_check_before_refining_again(lamina, emulator):
    run = lamina.run(CAPTION_WRITER, {"Topic": "snow"})
    emulator.reset_stats()
    emulator.inject("status", route="POST /v1/runs/*/feedback", status=500)
    with pytest.raises(TransportError, match="may still be applied.*get_run"):
        lamina.refine(run, "colder")
    assert route_count(emulator, FEEDBACK_ROUTE) == 1
    emulator.inject("status", route="POST /v1/runs/*/feedback", status=429)  # provably not applied: retried
    assert "colder" in lamina.refine(run, "colder").outputs[0].value
