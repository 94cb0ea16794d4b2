"""Server values are data, never a path to read: an app's `url` default in the form and a run's output
fed to the next app in a fan-out must not make the client upload a local file. Only values the user
provided (typed in the form, passed in Python, a column the user built) are read from disk."""

from __future__ import annotations

import io
from dataclasses import replace

import pandas as pd
import pytest
from suite import CARTOONIFY, PRODUCT_SHOT

from lamina_jupyter import ValidationError
from lamina_jupyter.core.inputs import FromServer, as_upload, prepare_inputs

SECRET = "hunter2-local-secret"
LEAKS_TO_SERVER = ["POST /v1/assets/upload-urls", "PUT /uploads/{token}"]


def uploads(emulator) -> int:
    """Every sign that a file left the machine: upload URLs asked for, bodies PUT."""
    stats = emulator.stats
    return stats["uploads"] + sum(stats["requests_by_route"].get(route, 0) for route in LEAKS_TO_SERVER)


def serve_default(emulator, app_id: str, param_id: str, default: str) -> None:
    """Make the emulator's app advertise `default` for one parameter, as a hostile author could
    (restore_apps() in the emulator fixture undoes it)."""
    def change() -> None:
        app = emulator.state.apps[app_id]
        params = tuple(replace(p, default=default) if p.id == param_id else p for p in app.params)
        emulator.state.apps[app_id] = replace(app, params=params)

    emulator._call(change)


def png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "teal").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def local_secrets(tmp_path):
    """Files a hostile default or output would name: ./.env, ./notes.txt and ~/secret.txt."""
    (tmp_path / ".env").write_text(f"OTHER_SERVICE_TOKEN={SECRET}\n")
    (tmp_path / "notes.txt").write_text(SECRET)
    (tmp_path / "home" / "secret.txt").write_text(SECRET)
    return tmp_path


@pytest.mark.parametrize("default", [".env", "/proc/self/environ", "~/secret.txt", "notes.txt"])
def test_a_url_default_from_the_server_is_shown_but_never_uploaded(default, emulator, client, local_secrets):
    from lamina_jupyter.notebook.form import Form

    serve_default(emulator, CARTOONIFY, "upload", default)
    before = uploads(emulator)
    form = Form(client.get_app(CARTOONIFY), client)
    upload_field = next(f for f in form.fields if f.param.name == "Upload")
    assert upload_field.widget.value == default and upload_field.problem() is None
    form.run_button.click()  # no running loop here: the click runs the whole submission
    assert form.last_run is not None, form.problems.value  # started; the server's default is its business
    assert uploads(emulator) == before
    sent = emulator.runs()[-1]["inputs"]
    assert "Upload" not in sent and SECRET not in str(sent)  # left to the server, which applies its default


def test_a_path_the_user_types_in_the_form_is_still_uploaded(emulator, client, local_secrets):
    from lamina_jupyter.notebook.form import Form

    (local_secrets / "mine.png").write_bytes(png())
    serve_default(emulator, CARTOONIFY, "upload", ".env")
    before = uploads(emulator)
    form = Form(client.get_app(CARTOONIFY), client)
    next(f for f in form.fields if f.param.name == "Upload").set("mine.png")
    form.run_button.click()
    assert form.last_run is not None and form.last_run.status == "completed", form.problems.value
    assert uploads(emulator) > before


def _captions(client, tmp_path) -> pd.DataFrame:
    """A result frame whose Caption output is the name of a local file holding a secret."""
    from lamina_jupyter import run_dataframe

    result = run_dataframe(pd.DataFrame({"Product": ["notes"]}), PRODUCT_SHOT, client=client,
                           journal=tmp_path / "first.sqlite", progress=False)
    caption = result.loc[0, "Caption"]
    (tmp_path / caption).write_text(SECRET)  # the server named a file that exists here
    return result


@pytest.mark.parametrize("how", ["columns=", "renamed column", "column copied by value", "plain-text values"])
def test_a_run_output_fed_to_a_url_parameter_is_never_read_from_disk(how, emulator, client, tmp_path):
    from lamina_jupyter import run_dataframe

    result = _captions(client, tmp_path)
    before = uploads(emulator)
    kwargs: dict = {}
    if how == "columns=":
        frame, kwargs = result[["Caption"]], {"columns": {"Caption": "Upload"}}
    elif how == "renamed column":
        frame = result[["Caption"]].rename(columns={"Caption": "Upload"})
    elif how == "column copied by value":
        frame = pd.DataFrame({"Upload": list(result["Caption"])})
    else:  # the cells lost their marker (e.g. Arrow-backed strings); the frame's attrs still name the column
        frame, kwargs = result[["Caption"]].copy(), {"columns": {"Caption": "Upload"}}
        frame["Caption"] = frame["Caption"].map(str)
        assert type(frame.loc[0, "Caption"]) is str
    with pytest.raises(ValidationError) as info:
        run_dataframe(frame, CARTOONIFY, client=client, journal=tmp_path / "second.sqlite", progress=False,
                      **kwargs)
    assert uploads(emulator) == before
    text = str(info.value)
    assert "came from the Lamina server" in text and "never read" in text and SECRET not in text
    assert info.value.details[0]["column"] in ("Caption", "Upload")


def test_a_column_of_paths_the_user_built_is_uploaded(emulator, client, tmp_path):
    from lamina_jupyter import run_dataframe

    (tmp_path / "mine.png").write_bytes(png())
    before = uploads(emulator)
    result = run_dataframe(pd.DataFrame({"Upload": ["mine.png"]}), CARTOONIFY, client=client,
                           journal=tmp_path / "j.sqlite", progress=False)
    assert result.loc[0, "lamina_status"] == "completed" and uploads(emulator) > before


def test_server_text_is_refused_by_the_core_and_plain_text_opts_back_in(client, local_secrets):
    app = client.get_app(CARTOONIFY)
    with pytest.raises(ValidationError, match="came from the Lamina server"):
        prepare_inputs(app, {"Upload": FromServer("notes.txt")})
    with pytest.raises(ValueError, match="came from the Lamina server"):
        as_upload(FromServer("notes.txt"))
    assert prepare_inputs(app, {"Upload": FromServer("https://cdn.example/x.png")}).payload == {
        "Upload": "https://cdn.example/x.png"}
    assert prepare_inputs(app, {"Upload": str(FromServer("notes.txt"))}).uploads  # the user's own choice
