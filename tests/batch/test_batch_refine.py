"""result.lamina.refine on chosen rows against the real emulator: only those rows pay, their versions are
kept in order, and the ledger keeps them across a kernel restart (read back by a new process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
from suite import CAPTION_WRITER, TEXT_TO_IMAGE, route_count

import lamina_jupyter

FEEDBACK_ROUTE = "POST /v1/runs/{id}/feedback"


def small_sweep(client, *prompts: str, app: str = TEXT_TO_IMAGE, factor: str = "Prompt"):
    tag = uuid.uuid4().hex[:6]
    return lamina_jupyter.sweep(app, {factor: [f"{tag} {p}" for p in prompts]}, client=client, progress=False)


def test_refine_chosen_rows_keeps_their_versions_and_leaves_the_rest(client, emulator):
    result = small_sweep(client, "fox", "owl", "cat")
    emulator.reset_stats()
    refined = result.lamina.refine("warmer light", rows=[0, 2])
    assert route_count(emulator, FEEDBACK_ROUTE) == 2 and emulator.stats["runs_created"] == 0
    changed = [a != b for a, b in zip(result["Image"], refined["Image"], strict=True)]
    assert changed == [True, False, True] and list(refined["lamina_version"]) == [2, 1, 2]
    assert list(refined["lamina_run_id"]) == list(result["lamina_run_id"])  # in place: same runs
    assert "lamina_version" not in result.columns  # the original frame is untouched
    again = refined.lamina.refine("add a moon", rows=2)
    versions = again.lamina.versions(2)
    assert [v.feedback for v in versions] == [None, "warmer light", "add a moon"]
    images = [result["Image"][2], refined["Image"][2], again["Image"][2]]
    assert [v.outputs[0].value for v in versions] == images


def test_rows_that_are_not_completed_stop_the_call_before_paying(client, emulator):
    result = small_sweep(client, "fine", "broken #fail")
    emulator.reset_stats()
    with pytest.raises(ValueError, match=r"Only completed rows.*1 \(failed\)"):
        result.lamina.refine("brighter", rows=[0, 1])
    assert route_count(emulator, FEEDBACK_ROUTE) == 0
    everything = result.lamina.refine("brighter")  # default: every completed row
    assert route_count(emulator, FEEDBACK_ROUTE) == 1
    assert everything["Image"][0] != result["Image"][0] and everything["lamina_status"][1] == "failed"


def test_a_row_whose_refinement_fails_says_so_and_the_others_go_on(client, emulator):
    result = small_sweep(client, "tea", "cake", app=CAPTION_WRITER, factor="Topic")
    emulator.inject("status", route="POST /v1/runs/*/feedback", status=500)
    refined = result.lamina.refine("shorter")
    errors = list(refined["lamina_error"])
    assert sum(isinstance(e, str) and e.startswith("refine failed") for e in errors) == 1
    assert sum("shorter" in c for c in refined["Caption"]) == 1


def test_versions_survive_a_kernel_restart_through_the_ledger(client, emulator, tmp_path):
    tag = uuid.uuid4().hex[:6]
    factors = {"Prompt": [f"{tag} lighthouse", f"{tag} harbour"]}
    result = lamina_jupyter.sweep(TEXT_TO_IMAGE, factors, client=client, progress=False)
    refined = result.lamina.refine("stormy sea", rows=[1])
    emulator.reset_stats()
    script = textwrap.dedent(f"""
        import json, lamina_jupyter
        again = lamina_jupyter.sweep({TEXT_TO_IMAGE!r}, {factors!r}, progress=False)
        more = again.lamina.refine("add gulls", rows=[1])
        print(json.dumps({{"reused": again.lamina.report["reused"], "image": again["Image"][1],
                           "feedback": [v.feedback for v in more.lamina.versions(1)],
                           "numbers": [v.number for v in more.lamina.versions(1)]}}))
    """)
    env = {**os.environ, "LAMINA_API_KEY": emulator.api_key, "LAMINA_BASE_URL": emulator.base_url}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:].replace(emulator.api_key, "<key>")
    seen = json.loads(done.stdout)
    assert seen["reused"] == 2 and emulator.stats["runs_created"] == 0
    assert seen["image"] == refined["Image"][1]  # the rerun shows the refined outputs, not the first ones
    assert seen["feedback"] == [None, "stormy sea", "add gulls"] and seen["numbers"] == [1, 2, 3]


def test_a_refined_sweep_still_shows_its_grid_with_the_new_outputs(client, emulator):
    result = small_sweep(client, "pier", "dock")
    refined = result.lamina.refine("golden hour", rows=[1])
    html = refined._repr_html_()
    assert "lamina-grid" in html and f"href='{refined['Image'][1]}'" in html
    assert f"href='{result['Image'][1]}'" not in html and f"href='{result['Image'][0]}'" in html
