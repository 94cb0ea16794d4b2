"""`%lamina` / `%%lamina`: the notebook's command line for Lamina.

Each subcommand is a `_handle_<name>` method. Lamina errors become one IPython UsageError (no
traceback) whose text says what to do; bad usage shows that subcommand's help. Handlers return
display objects (or the Run) instead of printing, so `r = %lamina run ...` works. `{var}` in
values is filled from the notebook's namespace (a whole `{var}` passes the object itself, e.g. a
PIL image for an upload); IPython's own `$var`/`{expr}` expansion is off so quoting stays intact.
"""

from __future__ import annotations

import getpass
import json
import re
import shlex
import time
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.display import display

from ..core.config import DEFAULT_BASE_URL
from ..core.errors import KEYS_URL, ConfigurationError, LaminaError, NotFoundError, ValidationError
from ..core.redact import redact
from . import session
from .credits import usage_lines
from .magic_inputs import fix_option_case, unquoted_name_hint, validation_message
from .views import AppTable, Banner, RunStatus, RunView, mark_shown, register

_PAD = 34
USAGE = {name: "\n".join(f"{use:<{_PAD}}{what}" for use, what in lines) for name, lines in {
    "apps": [("%lamina apps [search]", "list the apps this key can run (name, id, description, parameters)")],
    "form": [("%lamina form APP", "a form for APP (id or name) with a Run button")],
    "discover": [('%lamina discover "what you want"', "apps that fit an intent: why, cost, a form"),
                 ("      [--max-credits N] [--format F]", "(F: image, video, text or image/png; --limit N)")],
    "run": [("%lamina run APP Key=value ...", "run APP and show its outputs; `r = %lamina run ...` keeps it"),
            ("%%lamina run APP", "same, inputs from the cell: `Key: value` lines or a JSON object;"),
            ("", "{name} inserts a notebook variable")],
    "status": [("%lamina status RUN_ID", "show a run's state and outputs")],
    "cancel": [("%lamina cancel RUN_ID", "cancel a queued or running run")],
    "refine": [("%lamina refine RUN_ID feedback", "refine a completed run in place; shows before/after")],
    "whoami": [("%lamina whoami", "server, API family, masked key, credit balance and rate limit")],
    "login": [("%lamina login [--base-url URL]", "ask for the API key with a hidden prompt"),
              ("      [--api v1|legacy]", "(the key stays in this kernel only)")],
    "demo": [("%lamina demo", "use a local emulator: sample apps, nothing billed")],
    "help": [("%lamina help", "this help")],
}.items()}
APPS_WITH_DETAILS = 25
_VAR = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class BadUsage(Exception):
    """Wrong arguments for a subcommand; its help is shown with the reason."""


def help_text() -> str:
    return "Lamina in notebooks:\n" + "\n".join(USAGE.values())


def expand(value: str, namespace: dict[str, Any]) -> Any:
    """`{name}` → the variable (alone: the object itself; inside text: its str); `{{`/`}}` are braces."""
    whole = _VAR.fullmatch(value)
    if whole and whole.group(1):
        return _lookup(whole.group(1), namespace)

    def sub(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        return str(_lookup(match.group(1), namespace))

    return _VAR.sub(sub, value)


def _lookup(name: str, namespace: dict[str, Any]) -> Any:
    if name not in namespace:
        raise BadUsage(f"{{{name}}} is not defined in this notebook; define it first, or write "
                       f"{{{{{name}}}}} for literal braces")
    return namespace[name]


def parse_pairs(words: list[str]) -> dict[str, str]:
    """`Key=value` words (quote keys or values with spaces: "Aspect Ratio"=16:9)."""
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key.strip():
            raise BadUsage(f"{word!r} is not Key=value")
        pairs[key.strip()] = value
    return pairs


def parse_body(body: str) -> dict[str, Any]:
    """A JSON object, or `Key: value` lines (blank lines and # comments skipped)."""
    text = body.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadUsage(f"the cell body looks like JSON but is not valid: {exc}") from None
        if not isinstance(data, dict):
            raise BadUsage("a JSON cell body must be an object of inputs")
        return data
    inputs: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise BadUsage(f"line {number} {line.strip()[:60]!r} is not `Key: value`")
        inputs[key.strip()] = value.strip()
    return inputs


@magics_class
class LaminaMagics(Magics):
    @no_var_expand
    @line_cell_magic
    def lamina(self, line: str, cell: str | None = None) -> Any:
        """Run `%lamina help` for the subcommands."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot read the arguments ({exc}); check the quotes.\n{help_text()}") from None
        name = words[0] if words else "help"
        handler = getattr(self, f"_handle_{name}", None)
        if handler is None:
            raise UsageError(f"unknown subcommand {name!r}.\n{help_text()}")
        try:
            if cell is not None and name != "run":
                raise BadUsage(f"only `%%lamina run` takes a cell body, not `%%lamina {name}`")
            return handler(words[1:], cell)
        except BadUsage as exc:
            raise UsageError(f"{exc}\nUsage: {USAGE[name]}") from None
        except LaminaError as exc:
            raise UsageError(exc.message) from None

    # -- subcommands ---------------------------------------------------------------------------
    def _handle_help(self, args: list[str], cell: str | None) -> None:
        print(help_text())

    def _handle_apps(self, args: list[str], cell: str | None) -> AppTable:
        if len(args) > 1:
            raise BadUsage("give at most one search word (quote it if it has spaces)")
        client = session.current_client()
        apps = client.list_apps(search=args[0] if args else None)
        detailed = [client.get_app(a) for a in apps[:APPS_WITH_DETAILS]]
        return AppTable(detailed + apps[APPS_WITH_DETAILS:])

    def _handle_form(self, args: list[str], cell: str | None) -> Any:
        if len(args) != 1:
            raise BadUsage("give exactly one app (id or name; quote names with spaces)")
        from .form import form

        return form(args[0])

    def _handle_discover(self, args: list[str], cell: str | None) -> Any:
        from .discover import discover_view, parse_discover_args

        try:
            intent, constraints = parse_discover_args(args)
        except ValueError as exc:
            raise BadUsage(str(exc)) from None
        return discover_view(intent, **constraints)

    def _handle_run(self, args: list[str], cell: str | None) -> Any:
        if not args:
            raise BadUsage("which app? give its id or name")
        quote = unquoted_name_hint(args)
        if quote:
            raise BadUsage(quote)
        ns = self.shell.user_ns if self.shell is not None else {}
        raw: dict[str, Any] = parse_body(cell) if cell is not None else {}
        raw.update(parse_pairs(args[1:]))
        inputs = {k: expand(v, ns) if isinstance(v, str) else v for k, v in raw.items()}
        client = session.current_client()
        app = client.get_app(args[0])
        try:
            run = client.start(app, fix_option_case(app, inputs))
        except ValidationError as exc:
            raise UsageError(validation_message(app, exc)) from None
        started = time.monotonic()
        handle = display(RunStatus(run, 0.0, app.name), display_id=True)
        last = [run]

        def show(state: Any) -> None:
            last[0] = state
            if handle is not None:
                handle.update(RunStatus(state, time.monotonic() - started, app.name))

        try:
            run = client.wait(run, on_update=show)
        except KeyboardInterrupt:
            self._stopped_following(last[0], time.monotonic() - started, handle)
        view = RunView(run, time.monotonic() - started, app.name)
        if handle is not None:
            handle.update(view)
        else:
            display(view)
        if run.status in ("failed", "cancelled"):
            raise UsageError(f"Run {run.id} {run.status}: {redact(run.error_message or 'no reason given')}. "
                             f"Change the inputs and run again; `%lamina status {run.id}` shows the details.")
        mark_shown(run, getattr(self.shell, "execution_count", -1))
        return run

    @staticmethod
    def _stopped_following(run: Any, elapsed: float, handle: Any) -> None:
        """Ctrl-C / the stop button while waiting: the view and one line say the run goes on."""
        view = Banner(f"Stopped following run {run.id} after {elapsed:.1f} s (last seen: {run.status}). "
                      "It goes on on the server.", colour="#bf8700")
        if handle is not None:
            handle.update(view)
        else:
            display(view)
        raise UsageError(f"Stopped waiting (interrupted). Run {run.id} goes on on the server: "
                         f"`%lamina status {run.id}` shows it later, `%lamina cancel {run.id}` stops it.")

    def _one_run(self, args: list[str], action: str) -> Any:
        """get_run / cancel for exactly one run id; an unknown id says so (no Python-API hints)."""
        if len(args) != 1:
            raise BadUsage("give exactly one run id")
        client = session.current_client()
        try:
            return client.get_run(args[0]) if action == "status" else client.cancel(args[0])
        except NotFoundError:
            raise UsageError(f"unknown run id {args[0]!r}: {client.base_url} has no run with that id. "
                             "Copy the id from the output of `%lamina run` (or lamina_run_id in a batch "
                             "result) and check you are logged in to the same server (`%lamina whoami`)."
                             ) from None

    def _handle_status(self, args: list[str], cell: str | None) -> Any:
        return self._one_run(args, "status")

    def _handle_cancel(self, args: list[str], cell: str | None) -> Any:
        run = self._one_run(args, "cancel")
        print(f"Run {run.id} is now {run.status}.")
        return run

    def _handle_refine(self, args: list[str], cell: str | None) -> Any:
        if len(args) < 2:
            raise BadUsage('give a run id and the feedback, e.g. %lamina refine RUN_ID "brighter background"')
        from .compare import versions_view

        run = session.current_client().refine(args[0], " ".join(args[1:]))
        display(versions_view(run))
        mark_shown(run, getattr(self.shell, "execution_count", -1))
        return run

    def _handle_whoami(self, args: list[str], cell: str | None) -> None:
        if args:
            raise BadUsage("whoami takes no arguments")
        client = session.current_client()
        s = client.settings
        mode = f"\nmode:     {session.mode}" if session.mode else ""
        source = {"login": "%lamina login", "demo": "the demo emulator"}.get(session.mode, s.key_source)
        server = s.base_url if s.base_url == DEFAULT_BASE_URL else (
            f"{s.base_url}  (not the default {DEFAULT_BASE_URL}: your key and runs go to this server)")
        print(f"server:   {server}\nAPI:      {s.api}\n"
              f"key:      {s.api_key.masked} (from {source}){mode}")
        print("\n".join(usage_lines(client)))

    def _handle_login(self, args: list[str], cell: str | None) -> None:
        opts = parse_pairs([a.removeprefix("--") for a in _join_options(args)])
        unknown = set(opts) - {"base-url", "api"}
        if unknown:
            raise BadUsage(f"unknown option(s) {', '.join(sorted(unknown))}")
        _check_root_url(opts.get("base-url"))
        from ..core.redact import Secret

        secret = Secret(getpass.getpass("Lamina API key (input hidden): ").strip())
        if not secret.reveal():
            raise ConfigurationError(f"No key entered; nothing changed. Create a key at {KEYS_URL} and run "
                                     "`%lamina login` again.")
        client = session.login(secret, opts.get("base-url"), opts.get("api", "v1"))
        print(f"Logged in to {client.base_url} with key {secret.masked}. The key lives in this kernel only: "
              "it is not written to the notebook or to disk.")

    def _handle_demo(self, args: list[str], cell: str | None) -> Banner:
        if args:
            raise BadUsage("demo takes no arguments")
        client, where = session.start_demo()
        return Banner(f"Demo mode: using {where} at {client.base_url}. Sample apps only, nothing is billed. "
                      "`%lamina login` switches to your Lamina account.", colour="#bf8700")


def _join_options(args: list[str]) -> list[str]:
    """`--opt value` and `--opt=value` both become `opt=value`."""
    joined: list[str] = []
    it = iter(args)
    for arg in it:
        if not arg.startswith("--"):  # most likely a pasted key: never echo it
            raise BadUsage("login takes no key argument: a key typed in a cell is saved with the notebook "
                           "and its history. Delete it from the cell, run `%lamina login` alone and paste "
                           "the key at the hidden prompt (if it was a real key, consider replacing it: "
                           f"{KEYS_URL}). "
                           "Options are --base-url URL and --api v1|legacy")
        joined.append(arg if "=" in arg else f"{arg}={next(it, '')}")
    return joined


def _check_root_url(url: str | None) -> None:
    """`--base-url https://host/v1`: the client adds /v1 itself, so requests would go to /v1/v1/..."""
    if url and url.rstrip("/").endswith("/v1"):
        root = url.rstrip("/").removesuffix("/v1")
        raise BadUsage(f"--base-url ends in /v1, which the client adds itself (requests would go to "
                       f"/v1/v1/...): drop /v1 and give the server's root, --base-url {root}")


def load(ipython: Any) -> None:
    """Register the magic and the rich views of App, Run and Output."""
    ipython.register_magics(LaminaMagics)
    register(ipython)
