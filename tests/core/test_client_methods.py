"""Every public method, on Client and AsyncClient, for both API families, against the real emulator."""

from __future__ import annotations

import inspect
import io
import uuid

import pytest

from lamina_jupyter import (
    AsyncClient,
    Client,
    ConfigurationError,
    NotFoundError,
    RunFailedError,
    ValidationError,
)

T2I = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a01"
CARTOONIFY = "3f68debe-df0a-4fc9-bdd3-9d45a4160587"
CAPTION = "3a1f9c2e-7b4d-4e8a-9c61-0d2f5e8b1a04"


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def test_list_and_get_apps(lamina):
    apps = lamina.list_apps()
    assert {a.name for a in apps} >= {"Text to Image", "Cartoonify!", "Caption Writer"}
    found = [a.name for a in lamina.list_apps(search="Caption")]
    assert "Caption Writer" in found and "Text to Image" not in found
    assert len(lamina.list_apps(limit=2)) == 2
    by_id, by_name = lamina.get_app(T2I), lamina.get_app("Text to Image")
    assert by_id == by_name and [p.name for p in by_id.parameters] == ["Prompt", "Style", "Aspect Ratio"]
    summary = next(a for a in apps if a.id == T2I)
    assert lamina.get_app(summary).has_details
    with pytest.raises(NotFoundError, match="Text to Image"):
        lamina.get_app("Text to Imag")


def test_start_get_wait_with_updates(lamina, emulator):
    updates = []
    run = lamina.start("Caption Writer", {"topic_text": unique("otters"), "Tone": "Poetic"})
    assert run.status == "queued" and run.app_id == CAPTION
    assert lamina.get_run(run.id).id == run.id
    final = lamina.wait(run, timeout=30, on_update=updates.append)
    assert final.status == "completed" and final.is_done
    assert updates[-1].status == "completed" and len({u.status for u in updates}) >= 2
    assert "otters" in final.outputs[0].read().decode()
    (server_run,) = [r for r in emulator.runs() if r["run_id"] == run.id]
    assert server_run["inputs"]["Tone"] == "Poetic" and server_run["family"] == lamina.api


def test_stream_yields_states_until_terminal(lamina):
    run = lamina.start(T2I, {"Prompt": unique("a fox")})
    states = lamina.stream(run)
    assert states[-1].status == "completed"
    assert [s.status for s in states].count("completed") == 1


def test_run_returns_outputs_that_read_and_open_as_images(lamina, tmp_path):
    inputs = {"Prompt": unique("a lighthouse"), "Aspect Ratio": "16:9"}
    final = lamina.run("Text to Image", inputs, timeout=30)
    out = final.output("Image")
    assert out.image().size == (640, 360)
    saved = out.save(tmp_path / "x.png")
    with open(saved, "rb") as fh:
        assert fh.read(4) == b"\x89PNG"


def test_failed_run_raises_with_the_run_or_returns_it(lamina):
    with pytest.raises(RunFailedError) as info:
        lamina.run(CAPTION, {"Topic": unique("#fail please")}, timeout=30)
    assert info.value.run.status == "failed" and info.value.run.error_message
    run = lamina.run(CAPTION, {"Topic": unique("#fail again")}, timeout=30, raise_on_failure=False)
    assert run.status == "failed"


def test_cancel_and_list_runs(lamina):
    if lamina.api == "legacy":
        with pytest.raises(ConfigurationError, match="api='v1'"):
            lamina.cancel("whatever")
        with pytest.raises(ConfigurationError):
            lamina.list_runs()
        return
    run = lamina.start(CAPTION, {"Topic": unique("#stuck forever")})
    cancelled = lamina.cancel(run)
    assert cancelled.status == "cancelled"
    assert lamina.wait(run.id, timeout=10).status == "cancelled"
    listed = lamina.list_runs(status="cancelled", app="Caption Writer", since=run.created_at, limit=100)
    assert run.id in [r.id for r in listed]
    page = lamina.list_runs(limit=1, offset=0)
    assert len(page) == 1


def test_estimate_and_signing_key(lamina):
    jwks = lamina.signing_key()
    assert jwks["keys"][0]["kty"] == "OKP"
    if lamina.api == "legacy":
        with pytest.raises(ConfigurationError):
            lamina.estimate(T2I)
        return
    estimate = lamina.estimate(T2I, {"Prompt": "x"})
    assert estimate.expected is not None and estimate.app_id == T2I


def test_invalid_inputs_report_everything_and_send_nothing(lamina, emulator):
    app = lamina.get_app(T2I)
    emulator.reset_stats()
    with pytest.raises(ValidationError) as info:
        lamina.start(app, {"Styl": "Neon", "Style": "watercolour", "Aspect Ratio": 16})
    assert emulator.stats["requests"] == 0
    errors = sorted(d["error"] for d in info.value.details)
    assert errors == ["invalid_option", "invalid_option", "missing_no_default", "unknown_parameter"]
    text = str(info.value)
    assert "Did you mean 'Style'" in text and "Did you mean 'Watercolor'" in text


def _png_bytes(colour="red"):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_upload_bytes_path_and_pil_then_use_as_input(make_lamina, tmp_path, emulator):
    from PIL import Image

    lamina = make_lamina()
    path = tmp_path / "me.png"
    path.write_bytes(_png_bytes("blue"))
    url = lamina.upload(_png_bytes())
    assert url.startswith(emulator.base_url)
    for value in (path, str(path), Image.new("RGB", (20, 20), "green"), _png_bytes("yellow")):
        run = lamina.run(CARTOONIFY, {"Upload": value, "Style": "Simpsons"}, timeout=30)
        assert run.status == "completed"
        (server_run,) = [r for r in emulator.runs() if r["run_id"] == run.id]
        assert server_run["inputs"]["Upload"].startswith(emulator.base_url)
    assert lamina.run(CARTOONIFY, {"Upload": url}, timeout=30).status == "completed"
    assert emulator.stats["uploads"] >= 5


def test_legacy_refuses_local_files_before_sending(make_lamina, tmp_path, emulator):
    lamina = make_lamina(api="legacy")
    app = lamina.get_app(CARTOONIFY)
    emulator.reset_stats()
    with pytest.raises(ValidationError, match="v1 API"):
        lamina.start(app, {"Upload": _png_bytes()})
    assert emulator.stats["requests"] == 0


def test_both_clients_expose_the_same_public_api():
    def public(cls):
        return {n: v for n, v in inspect.getmembers(cls) if not n.startswith("_") or n == "__init__"}

    sync, asyn = public(Client), public(AsyncClient)
    assert set(sync) == set(asyn) - {"aclose"}
    for name, member in sync.items():
        other = asyn[name]
        if isinstance(member, property):
            assert isinstance(other, property), name
            continue
        params = [(p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()]
        other_params = inspect.signature(other).parameters.values()
        assert params == [(p.name, p.kind, p.default) for p in other_params], name
        if name not in ("__init__", "stream"):
            assert inspect.iscoroutinefunction(other), name
    assert inspect.isasyncgenfunction(AsyncClient._steps)
    assert not inspect.iscoroutinefunction(AsyncClient.stream)


@pytest.mark.anyio
async def test_async_client_fixture_runs_natively(async_client):
    run = await async_client.run("Caption Writer", {"Topic": unique("async otters")}, timeout=30)
    assert run.status == "completed"
    states = [r.status async for r in async_client.stream(run)]
    assert states == ["completed"]
