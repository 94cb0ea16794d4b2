"""Key discovery and the canary key never showing up in reprs, errors or tracebacks. Key shapes, file
modes and the full surfaces scan are fault-matrix scenarios: tests/reliability/test_rel_secrets.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback

import pytest

from lamina_jupyter import AuthenticationError, Client, ConfigurationError, LaminaWarning, ValidationError
from lamina_jupyter.core.config import resolve_settings
from lamina_jupyter.emulator import Emulator

CANARY = "lma_CANARY_" + os.urandom(8).hex()


def write_config(home, key="lma_fromconfig_123456", base="https://config.test/", mode=0o600):
    folder = home / ".lamina"
    folder.mkdir(exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps({"version": 1, "credentials": {"kind": "apikey", "apiKey": key,
                                                               "baseUrl": base,
                                                               "savedAt": "2026-05-01T10:00:00.000Z"}}))
    path.chmod(mode)
    return path


def test_argument_beats_environment_beats_dotenv_beats_config(monkeypatch, tmp_path):
    home = tmp_path / "home"
    write_config(home)
    assert resolve_settings().api_key.reveal() == "lma_fromconfig_123456"
    assert resolve_settings().base_url == "https://config.test"
    (tmp_path / ".env").write_text('# comment\nexport LAMINA_API_KEY="lma_fromdotenv_123456"\n')
    with pytest.warns(LaminaWarning, match="config.test/' from .* is ignored"):  # the URL pairs with its key
        assert resolve_settings().key_source == ".env"
    monkeypatch.setenv("LAMINA_API_KEY", "lma_fromenv_123456\n")
    monkeypatch.setenv("LAMINA_BASE_URL", "http://127.0.0.1:9/")
    settings = resolve_settings()
    assert settings.api_key.reveal() == "lma_fromenv_123456" and settings.base_url == "http://127.0.0.1:9"
    with pytest.warns(LaminaWarning, match="ignored"):
        assert resolve_settings("lma_fromarg_123456").api_key.reveal() == "lma_fromarg_123456"


def test_default_base_url_and_config_version_other_than_1_is_ignored(tmp_path):
    path = write_config(tmp_path / "home")
    creds = {"kind": "apikey", "apiKey": "lma_x_123456789"}
    path.write_text(json.dumps({"version": 2, "credentials": creds}))
    with pytest.raises(ConfigurationError):
        resolve_settings()
    assert resolve_settings("lma_arg_123456789").base_url == "https://app.uselamina.ai"


def test_missing_key_lists_every_way_and_the_demo():
    with pytest.raises(ConfigurationError) as info:
        Client()
    text = str(info.value)
    for hint in ("LAMINA_API_KEY", ".env", "~/.lamina/config.json", "api_key=", "settings?tab=api",
                 "%lamina demo", "python -m lamina_jupyter.emulator"):
        assert hint in text


def test_bad_base_url_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="http"):
        resolve_settings("lma_abc_123456789", "app.uselamina.ai")


def _leaks(text: str) -> bool:
    return CANARY in text or CANARY[4:] in text


def _all_text(exc: BaseException) -> str:
    return "".join([str(exc), repr(exc), *traceback.format_exception(exc),
                    *traceback.TracebackException.from_exception(exc, capture_locals=True).format()])


def test_canary_key_never_appears_in_reprs_errors_or_tracebacks(tmp_path):
    with Emulator(latency=0.05, jitter=0.0, rate_limit=None, check_interval=0.05, api_key=CANARY) as emu:
        with Client(api_key=CANARY + "\n", base_url=emu.base_url) as c:
            seen = [repr(c), str(c), repr(c.settings), str(c.settings.api_key), f"{c.settings.api_key}"]
            assert "…" in repr(c)
            run = c.run("Caption Writer", {"Topic": "canary"}, timeout=30)
            seen += [repr(run), str(run), repr(run.outputs), repr(c.get_app("Caption Writer"))]
            errors = []
            for bad in ({"Nope": 1}, {"Topic": 5}):
                try:
                    c.start("Caption Writer", bad)
                except ValidationError as exc:
                    errors.append(exc)
        with Client(api_key=CANARY[:-1] + "X", base_url=emu.base_url) as wrong:
            try:
                wrong.list_apps()
            except AuthenticationError as exc:
                errors.append(exc)
    try:
        Client(api_key=CANARY, base_url="ftp://nowhere")
    except ConfigurationError as exc:
        errors.append(exc)
    try:
        with Client(api_key=CANARY, base_url="http://127.0.0.1:9", max_retries=0) as c:
            c.list_apps()
    except Exception as exc:  # noqa: BLE001 - any error type must be clean
        errors.append(exc)
    assert len(errors) == 5
    for text in seen + [_all_text(e) for e in errors]:
        assert not _leaks(text), text[:300]


def test_import_is_light():
    code = ("import sys, lamina_jupyter as lj; from lamina_jupyter import webhooks; "
            "assert lj.webhooks is webhooks and callable(webhooks.verify); "
            "heavy = ['ipywidgets', 'IPython', 'pandas', 'PIL', 'starlette', 'uvicorn', 'cryptography', "
            "'lamina_jupyter.emulator']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize(("line", "expected"), [
    ('LAMINA_API_KEY="lma_quoted_123456"  # a comment', "lma_quoted_123456"),
    ("export LAMINA_API_KEY='lma_single_123456'", "lma_single_123456"),
    ('LAMINA_API_KEY="lma_esc\\"aped_123456"', 'lma_esc"aped_123456'),
    ("LAMINA_API_KEY=lma_${HOME}_123456", "lma_${HOME}_123456"),  # never expanded from the environment
    ('OTHER="line one\nLAMINA_API_KEY=lma_inside_a_value_1"\nLAMINA_API_KEY=lma_the_real_one_1',
     "lma_the_real_one_1"),
])
def test_dotenv_is_read_as_the_ecosystem_writes_it(tmp_path, line, expected):
    """python-dotenv's grammar: the hand parser this replaced took `"lma_esc\\"aped_123456"` as the
    value with its escaping backslash and quotes, and split a multi-line value into bogus lines."""
    (tmp_path / ".env").write_text(line + "\n")
    settings = resolve_settings()
    assert settings.key_source == ".env" and settings.api_key.reveal() == expected
