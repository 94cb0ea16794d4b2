""""Copy as code" under a hostile app author: every server string (app name and id, parameter names,
option labels) must reach the snippet as a literal, so pasting it runs one `client.run` and nothing else."""

from __future__ import annotations

import ast
import html
import re

import pytest

INJECTED = "__import__('os').system('echo pwned')"
HOSTILE = [
    f"Nice app\n**({INJECTED} or {{}}),\n#",
    f"Nice app\r{INJECTED}\r#",
    f"x'}})\n{INJECTED}\n#",
    f'"""\n{INJECTED}\n"""',
    f"tab\x0c{INJECTED}\u2028{INJECTED}\x85",
]


def hostile_app(text: str):
    """An app as the client would parse it from a server that puts `text` everywhere it can."""
    from lamina_jupyter.core.models import App

    return App.from_json({
        "appId": f"app-{text}", "name": text, "description": text,
        "parameters": [
            {"id": f"p-{text}", "key": f"k-{text}", "name": f"Prompt {text}", "type": "text",
             "required": True},
            {"id": "style", "name": "Style", "type": "options", "options": [text, "plain"],
             "default": text},
        ],
    })


def copied_code(form) -> str:
    form.code_button.click()
    return html.unescape(re.sub(r"<[^>]+>", "", form.code.value))


def literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("text", HOSTILE, ids=["newline-splat", "carriage-return", "close-call",
                                               "triple-quote", "other-line-breaks"])
def test_copy_as_code_is_one_call_with_literal_arguments(text):
    from lamina_jupyter.notebook.form import Form

    form = Form(hostile_app(text))
    form.fields[0].set(f"typed {text}")
    tree = ast.parse(copied_code(form))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [ast.unparse(c.func) for c in calls] == ["Client", "client.run"]
    client_call, run_call = calls
    assert not client_call.args and not client_call.keywords
    assert len(run_call.args) == 2 and not run_call.keywords and all(literal(a) for a in run_call.args)
    app_id, inputs = (ast.literal_eval(a) for a in run_call.args)
    assert app_id == f"app-{text}"
    assert inputs == {f"Prompt {text}": f"typed {text}", "Style": text}
    assert [type(s).__name__ for s in tree.body] == ["ImportFrom", "Assign", "Assign", "Expr"]


def test_copy_as_code_still_names_the_app_for_the_reader():
    from lamina_jupyter.notebook.form import Form

    code = copied_code(Form(hostile_app("Sunset\nPainter")))
    assert "'Sunset\\nPainter'" in code
