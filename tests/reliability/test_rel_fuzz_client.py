"""Bad input never crashes the client (issue 6): hypothesis throws random inputs at input validation,
at the DataFrame mapping (run_dataframe(dry_run=True)) and at model / error parsing.

What may escape: LaminaError subclasses and builtin TypeError / ValueError, each with a message that
names what was wrong. Anything else is counted (unexpected_exceptions) and fails the scenario.
Examples are derandomized (CI reproduces them exactly); LAMINA_FUZZ_EXAMPLES scales them up locally.
Regressions this suite found are pinned with @example / `REGRESSIONS`.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from suite import CAPTION_WRITER, CARTOONIFY, PRODUCT_SHOT, TEASER_CLIP, TEXT_TO_IMAGE

from lamina_jupyter import Client
from lamina_jupyter.batch.api import run_dataframe
from lamina_jupyter.batch.report import DryRunReport
from lamina_jupyter.core.errors import LaminaError, LaminaWarning, ValidationError, error_from_response
from lamina_jupyter.core.inputs import Upload, prepare_inputs
from lamina_jupyter.core.models import App, Estimate, Output, Parameter, Progress, Run

SCALE = int(os.environ.get("LAMINA_FUZZ_EXAMPLES", "0")) or None


def fuzz(n: int) -> settings:
    """The CI profile: bounded, reproducible (derandomize), no deadline, no example database."""
    return settings(max_examples=SCALE or n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


ALLOWED = (LaminaError, TypeError, ValueError)
APPS = {"text-to-image": TEXT_TO_IMAGE, "cartoonify": CARTOONIFY, "product-shot": PRODUCT_SHOT,
        "caption-writer": CAPTION_WRITER, "teaser-clip": TEASER_CLIP}
SURROGATES = ["\ud800", "a\udfffb", "ok \udc80"]
HUGE = ["x" * 120_000, "é" * 40_000, "\x00" * 5_000]


class Tally:
    """Examples actually run, and exceptions of a type that must never escape (with the first few)."""

    def __init__(self) -> None:
        self.examples = 0
        self.unexpected: list[str] = []

    def unexpected_error(self, exc: BaseException, what: Any) -> None:
        self.unexpected.append(f"{type(exc).__name__}: {str(exc)[:200]} for {str(what)[:200]}")

    def record(self, scenario: Any) -> None:
        scenario.add(fuzz_examples=self.examples, unexpected_exceptions=len(self.unexpected))


def run_property(prop: Any, tally: Tally, scenario: Any) -> None:
    try:
        prop()
    finally:
        tally.record(scenario)
    assert tally.examples > 0
    assert not tally.unexpected, tally.unexpected[:5]


# -- strategies -------------------------------------------------------------------------------------
def near_misses(word: str) -> st.SearchStrategy[str]:
    variants = {word.upper(), word.lower(), word + " ", " " + word, word[:-1], word + "s",
                word.replace("_", " "), word.replace(" ", "_"), word.swapcase()}
    variants.discard(word)
    return st.sampled_from(sorted(variants)) if variants else st.just(word + "x")


def junk_values(paths: dict[str, Any]) -> st.SearchStrategy[Any]:
    scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
               | st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0])
               | st.binary(max_size=24) | st.text(max_size=30)
               | st.text(st.characters(max_codepoint=0x1F), max_size=8)
               | st.sampled_from(SURROGATES + HUGE)
               | st.sampled_from(list(paths.values()))
               | st.sampled_from(["http://", "https://", "javascript:alert(1)", "file:///etc/passwd",
                                  "ftp://example.com/a.png", "HTTP://EXAMPLE.COM/A.PNG", "//example.com/a",
                                  "http://[::1", "https://example.com/a.png", "http://169.254.169.254/"])
               | st.builds(object))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


def good_value(p: Parameter, paths: dict[str, Any]) -> st.SearchStrategy[Any]:
    if p.type == "options" and p.options:
        return st.sampled_from(list(p.options)) | near_misses(p.options[0])
    if p.type == "url":
        return st.sampled_from(["https://example.com/photo.png", paths["png"], paths["png_path"],
                                b"\x89PNG\r\n\x1a\n" + bytes(16)])
    return st.text(max_size=40)


def inputs_for(app: App, paths: dict[str, Any]) -> st.SearchStrategy[dict[Any, Any]]:
    spellings = sorted({s for p in app.parameters for s in (p.key, p.name, p.id) if s})
    keys = (st.sampled_from(spellings) | st.sampled_from(spellings).flatmap(near_misses)
            | st.text(max_size=12) | st.integers() | st.none() | st.binary(max_size=4)
            | st.tuples(st.integers()) | st.sampled_from(SURROGATES + ["x" * 5000, "lamina_status", ""]))
    values = junk_values(paths) | st.one_of(*(good_value(p, paths) for p in app.parameters))
    anything = st.dictionaries(keys, values, max_size=6)
    mostly_good = st.fixed_dictionaries(
        {}, optional={(p.key or p.name): good_value(p, paths) for p in app.parameters})
    one_bad = st.tuples(mostly_good, st.dictionaries(keys, values, max_size=1)).map(
        lambda pair: {**pair[0], **pair[1]})
    not_a_dict = st.sampled_from([["prompt_text"], "prompt_text", 5, ("a", "b")])
    return anything | mostly_good | one_bad | not_a_dict


def regressions(app: App) -> list[dict[Any, Any]]:
    """Inputs that once got past validation (pinned for every app they apply to)."""
    out: list[dict[Any, Any]] = []
    for p in app.parameters:
        spelled = p.key or p.name
        if p.required and p.default is None:
            out.append({spelled: None})  # None for a required parameter without default reached the server
        if p.type in ("text", "url"):
            out.append({spelled: "a\ud800b"})  # a lone surrogate escaped as UnicodeEncodeError
        if p.type == "url":
            out.append({spelled: "http://"})  # no host: the client sent it, the server said 400
        out.append({spelled: b"\x00" * 100_000})  # a 100 kB value became a 400 kB message
    return out


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_files")
    png = root / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return {"png": str(png), "png_path": png, "dir": str(root), "missing": str(root / "missing.png"),
            "nul": "a\x00b.png", "long": "p" * 5000 + ".png", "home": "~/.ssh/id_rsa"}


@pytest.fixture
def clients(emulator):
    with Client(api_key=emulator.api_key, base_url=emulator.base_url) as v1, \
            Client(api_key=emulator.api_key, base_url=emulator.base_url, api="legacy") as legacy:
        yield {"v1": v1, "legacy": legacy}


def named_in(message: str, name: Any) -> bool:
    text = str(name)
    return text in message or repr(text)[:60] in message or repr(name)[:60] in message


def sendable(payload: dict[str, Any]) -> dict[str, Any]:
    """The wire payload with local uploads replaced by the URL an upload would yield."""
    def one(v: Any) -> Any:
        return "https://example.com/uploaded.png" if isinstance(v, Upload) else v
    return {k: [one(x) for x in v] if isinstance(v, list) else one(v) for k, v in payload.items()}


# -- 1. input validation ----------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["v1", "legacy"])
@pytest.mark.parametrize("app_name", sorted(APPS))
def test_fuzz_inputs_only_clear_errors_and_nothing_sent(app_name, family, clients, emulator, sample_files,
                                                        scenario):
    client = clients[family]
    app = client.get_app(APPS[app_name])
    tally = Tally()
    invalid = valid = server_checks = 0
    raw = httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {emulator.api_key}"},
                       timeout=10)
    before = emulator.stats

    def check(inputs: dict[Any, Any]) -> None:
        nonlocal invalid, valid, server_checks
        tally.examples += 1
        try:
            prepared = prepare_inputs(app, inputs, family)
        except ValidationError as err:
            invalid += 1
            message = str(err)
            assert err.details and message, inputs
            for problem in err.details:
                assert named_in(message, problem["field"]), (problem, message[:500])
            assert len(message) < 2000 + 600 * len(err.details), len(message)
            calls = [client.start, client.run] + ([client.estimate] if family == "v1" else [])
            for call in calls:  # the client's own entry points refuse the same inputs before any request
                with pytest.raises(ValidationError):
                    call(app, inputs)
            return
        except ALLOWED as err:
            invalid += 1
            assert isinstance(err, TypeError) and "inputs must be a dict" in str(err), (err, inputs)
            return
        except Exception as exc:  # noqa: BLE001 - the point: count what must never escape
            tally.unexpected_error(exc, inputs)
            raise
        valid += 1
        # Whatever the client lets through, the server accepts (estimate validates without a run).
        server_checks += 1
        answer = raw.post(f"/v1/apps/{app.id}/estimate", json={"inputs": sendable(prepared.payload)})
        assert answer.status_code == 200, (inputs, answer.text[:300])

    prop = given(inputs_for(app, sample_files))(check)
    for pinned in regressions(app):
        prop = example(pinned)(prop)
    try:
        run_property(fuzz(60)(prop), tally, scenario)
    finally:
        raw.close()
    after = emulator.stats
    sent_by_client = after["requests"] - before["requests"] - server_checks
    assert sent_by_client == 0, f"{sent_by_client} request(s) reached the server for invalid inputs"
    assert after["runs_created"] == before["runs_created"]
    assert invalid > 0 and valid > 0, (invalid, valid)  # both sides of the property were exercised


# -- 2. DataFrame mapping ---------------------------------------------------------------------------
LABELS = ["prompt", "Prompt", "prompt_text", "PROMPT TEXT", "style", "Style ", "aspect ratio", "topic",
          "Topic_Text", "background", "Background", "product", "duration", "tone", "upload",
          "your_photo_image_url", "lamina_status", "lamina_note", "", "unknown", "Prompt\u200b"]
CELL = (st.none() | st.just(math.nan) | st.just(pd.NA) | st.integers(-5, 10**12) | st.floats()
        | st.booleans() | st.text(max_size=12) | st.sampled_from(["Studio", "Neon", "Playful", "2s", "16:9"])
        | st.binary(max_size=6) | st.sampled_from(SURROGATES) | st.lists(st.integers(), max_size=2))


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    ncols = draw(st.integers(0, 5))
    nrows = draw(st.integers(0, 4))
    labels = [draw(st.sampled_from(LABELS) | st.text(max_size=8) | st.integers(-2, 3) | st.none()
                   | st.floats(allow_nan=True) | st.tuples(st.sampled_from(LABELS))) for _ in range(ncols)]
    data = {}
    for i in range(ncols):
        if draw(st.booleans()) and nrows:  # categorical column of strings (and gaps)
            values = draw(st.lists(st.none() | st.sampled_from(["Studio", "Urban", "a cat"]),
                                   min_size=nrows, max_size=nrows))
            data[i] = pd.Series(values, dtype="category")
        else:
            data[i] = pd.Series(draw(st.lists(CELL, min_size=nrows, max_size=nrows)), dtype=object)
    df = pd.DataFrame(data, index=range(nrows)) if ncols else pd.DataFrame(index=range(nrows))
    if draw(st.booleans()) and ncols:
        df.columns = pd.MultiIndex.from_tuples([(str(lab), "x") for lab in labels])
    elif ncols:
        df.columns = pd.Index(labels, dtype=object, tupleize_cols=False)
    index_kind = draw(st.sampled_from(["range", "strings", "duplicates", "multi", "nan"]))
    if nrows and index_kind == "strings":
        df.index = [f"id{i}" for i in range(nrows)]
    elif nrows and index_kind == "duplicates":
        df.index = ["same"] * nrows
    elif nrows and index_kind == "multi":
        df.index = pd.MultiIndex.from_tuples([("a", i) for i in range(nrows)])
    elif nrows and index_kind == "nan":
        df.index = [math.nan] * nrows
    return df


MAP_TARGETS = st.sampled_from(["Prompt", "prompt_text", "style", "nope", ""]) | st.integers() | st.none()
MAPPINGS = st.none() | st.dictionaries(st.sampled_from(LABELS) | st.integers(), MAP_TARGETS, max_size=2) \
    | st.sampled_from([["prompt"], "prompt", 5])
CONSTANTS = st.none() | st.dictionaries(
    st.sampled_from(["Style", "style", "Prompt", "tone", "nope"]) | st.integers(),
    st.sampled_from(["Neon", "Playful", "Mars", None]) | CELL, max_size=2) | st.sampled_from([["x"], "x"])


@pytest.mark.parametrize("app_name", ["text-to-image", "product-shot", "cartoonify"])
def test_fuzz_dataframe_dry_run_never_crashes_or_starts(app_name, clients, emulator, scenario):
    client = clients["v1"]
    app = client.get_app(APPS[app_name])
    tally = Tally()
    before = emulator.stats

    @fuzz(70)
    @given(df=frames(), columns=MAPPINGS, constants=CONSTANTS)
    @example(df=pd.DataFrame([["a", "b"]], columns=["prompt", "prompt"]), columns=None, constants=None)
    @example(df=pd.DataFrame({"prompt": ["a"]}), columns=["prompt"], constants=None)
    @example(df=pd.DataFrame({"prompt": ["a"]}), columns=None, constants="Neon")
    @example(df=pd.DataFrame({"prompt": ["a"]}), columns={"prompt": 5}, constants=None)
    @example(df=pd.DataFrame({"prompt": ["a\ud800"]}), columns=None, constants={"Style": None})
    def check(df: pd.DataFrame, columns: Any, constants: Any) -> None:
        tally.examples += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LaminaWarning)  # unmatched columns: a warning by design
                report = run_dataframe(df, app, client=client, columns=columns, constants=constants,
                                       journal=False, progress=False, dry_run=True)
        except ALLOWED as err:
            assert str(err), type(err)
            return
        except Exception as exc:  # noqa: BLE001
            tally.unexpected_error(exc, (df.columns.tolist(), columns, constants))
            raise
        assert isinstance(report, DryRunReport)
        bad_rows = {p["row"] for p in report.problems}
        assert len(report.planned) + len(bad_rows) == len(df)
        assert all(p["message"] and named_in(p["message"], p["field"]) for p in report.problems)
        assert repr(report) and "<script" not in report._repr_html_()

    run_property(check, tally, scenario)
    after = emulator.stats
    assert after["runs_created"] == before["runs_created"], "a dry run started a run"


# -- 3. model and error parsing ---------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    | st.sampled_from(["completed", "failed", "cancelled", "running", "2026-01-01T00:00:00Z", "not-a-date",
                       "https://example.com/a.png", "9999-99-99T99:99:99Z", "-0001-01-01T00:00:00"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["runId", "status", "outputs", "progress", "parameters", "options", "default",
                         "required", "error", "code", "details", "errors", "field", "message",
                         "requestId", "retryable", "retryAfter", "data", "value", "label", "type",
                         "estimatedCredits", "expected", "createdAt", "completedAt"]) | st.text(max_size=6),
        inner, max_size=5),
    max_leaves=30)
DEEP = ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "[" * 3000]
BODIES = (JSON.map(lambda v: json.dumps(v, allow_nan=True)) | st.binary(max_size=60).map(
    lambda b: b.decode("latin-1")) | st.sampled_from(DEEP + ["", "NaN", '{"error": NaN}', "<html>502</html>",
                                                       '{"error":"x","error":5}', "\ufeff{}"]))
STATUS = st.sampled_from([400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504, 418, 599])
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
HEADERS = st.dictionaries(st.sampled_from(["x-request-id", "retry-after", "content-type", "x-other"]),
                          HEADER_TEXT | st.just("application/json; charset=bogus"), max_size=3)


def test_fuzz_model_and_error_parsing(scenario):
    """Extends tests/core/test_client_models.py (which feeds flat run-like dicts to from_json): deep
    and nested JSON for every model including Parameter/Progress and the derived properties, random
    apps through prepare_inputs, and random status/body/header combinations through error_from_response."""
    tally = Tally()

    @fuzz(400)
    @given(data=JSON, body=BODIES, status=STATUS, headers=HEADERS, inputs=st.dictionaries(
        st.text(max_size=6), JSON, max_size=3))
    @example(data={"parameters": [{"name": "x", "required": True}, {"name": "x", "type": "options"}]},
             body="[" * 100_000 + "]" * 100_000, status=400, headers={}, inputs={"x": None})
    def check(data: Any, body: str, status: int, headers: dict[str, str], inputs: dict[str, Any]) -> None:
        tally.examples += 1
        try:
            run = Run.from_json(data)
            assert isinstance(run.status, str) and isinstance(run.id, str)
            repr(run), run.is_done, run.succeeded, [o.is_media for o in run.outputs]
            app = App.from_json(data)
            repr(app), app.has_details
            for p in app.parameters:
                assert isinstance(p, Parameter) and isinstance(p.name, str)
            Output.from_json(data), Estimate.from_json(data), Progress.from_json(data)
            try:
                prepare_inputs(app, inputs)
            except ValidationError as err:
                assert err.details and str(err)
            response = httpx.Response(status, content=body.encode("utf-8", "surrogatepass"), headers=headers,
                                      request=httpx.Request("GET", "https://api.invalid/v1/runs/x"))
            err = error_from_response(response, run_id=run.id or None)
            assert isinstance(err, LaminaError) and err.status_code == status and str(err)
            assert len(str(err)) < 5000 + len(json.dumps(err.details, default=str)) * 2
        except Exception as exc:  # noqa: BLE001
            tally.unexpected_error(exc, (data, body[:80], status))
            raise

    run_property(check, tally, scenario)


def test_random_app_documents_parse_and_validate(scenario):
    """Random app documents (as a future server might send) still give clear validation errors."""
    tally = Tally()
    names = st.sampled_from(["A", "B", "a", ""]) | st.none()
    params = st.lists(st.fixed_dictionaries({"name": names}, optional={
        "key": st.sampled_from(["a", "b"]) | st.none(), "id": st.text(max_size=3),
        "type": st.sampled_from(["text", "options", "url", "number", None, 5]),
        "options": st.lists(st.text(max_size=3) | st.integers(), max_size=3) | st.text(max_size=3),
        "required": st.booleans() | st.none(), "default": JSON, "multiple": st.booleans()}), max_size=4)

    @fuzz(300)
    @given(params=params, inputs=st.dictionaries(st.sampled_from(["A", "a", "b", "B", ""]) | st.integers(),
                                                 JSON | st.binary(max_size=4), max_size=4),
           family=st.sampled_from(["v1", "legacy"]))
    def check(params: list[dict[str, Any]], inputs: dict[Any, Any], family: str) -> None:
        tally.examples += 1
        app = App.from_json({"appId": "x", "name": "Fuzzed", "parameters": params})
        try:
            prepare_inputs(app, inputs, family)
        except ValidationError as err:
            message = str(err)
            assert all(named_in(message, p["field"]) for p in err.details), message[:400]
        except Exception as exc:  # noqa: BLE001
            tally.unexpected_error(exc, (params, inputs))
            raise

    run_property(check, tally, scenario)
