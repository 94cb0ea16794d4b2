"""Input problems told in the magic's own terms: which `Key=value` to add, quoting, an option's case.

The core's ValidationError speaks Python (`inputs['prompt_text']`); in a `%lamina run` line the user
needs the word to type. Kept apart from magic.py, which only dispatches subcommands.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from ..core.errors import ValidationError
from ..core.models import App, Parameter


def typed(name: str) -> str:
    """A parameter name as typed in the magic: quoted when it has spaces."""
    return f'"{name}"' if re.search(r"\s", name) else name


def unquoted_name_hint(args: list[str]) -> str | None:
    """`%lamina run Text to Image Prompt=x` → advice to quote the app's name, else None."""
    loose: list[str] = []
    for word in args[1:]:
        if "=" in word:
            break
        loose.append(word)
    if not loose:
        return None
    return (f"{loose[0]!r} is not Key=value. If the app's name has spaces, quote it: "
            f"%lamina run \"{' '.join([args[0], *loose])}\" Key=value ...")


def _param(app: App, given: str) -> Parameter | None:
    folded = given.casefold()
    spelled = ((p, {s.casefold() for s in (p.key, p.name, p.id) if s}) for p in app.parameters)
    return next((p for p, names in spelled if folded in names), None)


def fix_option_case(app: App, inputs: dict[str, Any]) -> dict[str, Any]:
    """Option values that differ from one of the app's options only in case take the app's spelling
    (`Style=neon` sends "Neon"); anything else is left for validation to report."""
    fixed = dict(inputs)
    for given, value in inputs.items():
        p = _param(app, given)
        if p is None or p.type != "options" or not isinstance(value, str) or value in p.options:
            continue
        same = [o for o in p.options if o.casefold() == value.strip().casefold()]
        if len(same) == 1:
            fixed[given] = same[0]
    return fixed


def _advice(app: App, problem: dict[str, Any]) -> str:
    field, names = str(problem.get("field")), [p.name for p in app.parameters]
    if problem.get("error") == "missing_no_default":
        return f"{field} is required: add {typed(field)}=<value>"
    if problem.get("error") == "unknown_parameter":
        close = difflib.get_close_matches(field, names, n=1, cutoff=0.5)
        hint = f"; did you mean {typed(close[0])}=<value>?" if close else "."
        listed = ", ".join(map(typed, names))
        return f"{field!r} is not a parameter of {app.name!r}{hint} Its parameters: {listed}"
    return str(problem.get("message"))


def validation_message(app: App, exc: ValidationError) -> str:
    """The problems as Key=value advice, one line each (the core's text when it has no details)."""
    problems = [p for p in exc.details or [] if isinstance(p, dict)]
    if not problems:
        return exc.message
    lines = "".join(f"\n  - {_advice(app, p)}" for p in problems)
    return f"Nothing was sent; fix the inputs of {app.name!r}:{lines}"
