"""Model parsing is tolerant: unknown fields kept, wrong types ignored, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina_jupyter.core.errors import error_from_response
from lamina_jupyter.core.models import App, Estimate, Output, Run

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20)
run_like = st.fixed_dictionaries({}, optional={k: json_values for k in (
    "runId", "executionId", "status", "outputs", "progress", "createdAt", "errorMessage", "workflowId")})


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(json_values, run_like))
def test_parsing_never_raises(data):
    run = Run.from_json(data)
    assert isinstance(run.status, str) and isinstance(run.outputs, tuple)
    App.from_json(data)
    Output.from_json(data)
    Estimate.from_json(data)


def test_execution_id_alias_unknown_fields_and_timestamps():
    run = Run.from_json({"executionId": "ex-1", "status": "cancelled", "artifacts": [1],
                         "createdAt": "2026-03-23T12:22:40.552Z", "startedAt": None,
                         "outputs": [{"id": "n1", "label": "Out", "type": "pending", "status": "error",
                                      "error": "boom", "value": None, "mimeType": "image/png", "extra": 1}]})
    assert run.id == "ex-1" and run.is_done and run.raw["artifacts"] == [1]
    assert run.created_at.year == 2026 and run.started_at is None
    assert run.outputs[0].status == "error" and run.outputs[0].raw["extra"] == 1
    with pytest.raises(ValueError, match="no value"):
        run.output("Out").read()


def test_text_output_reads_as_utf8_and_media_uses_the_fetcher():
    assert Output.from_json({"value": "héllo", "status": "completed"}).read() == "héllo".encode()
    fetched = []
    out = Output.from_json({"value": "https://cdn.test/a.png"},
                           fetcher=lambda url: fetched.append(url) or b"x")
    assert out.read() == b"x" and fetched == ["https://cdn.test/a.png"]


@pytest.mark.parametrize("status,text,ctype,expected", [
    (429, "Too many requests from this IP, please try again in a minute", "text/plain", "RateLimitError"),
    (503, "<html><body>Service Unavailable</body></html>", "text/html", "ServerError"),
    (400, '{"error": "Invalid inputs", "details": ["\\"Style\\": invalid option"]}', "application/json",
     "ValidationError"),
    (418, "", "text/plain", "APIError"),
])
def test_error_from_response_tolerates_every_body(status, text, ctype, expected):
    import httpx

    response = httpx.Response(status, content=text.encode(), headers={"content-type": ctype},
                              request=httpx.Request("GET", "https://lamina.test/v1/runs/x"))
    err = error_from_response(response)
    assert type(err).__name__ == expected and err.status_code == status
    assert "<html" not in str(err) and str(err).strip()
