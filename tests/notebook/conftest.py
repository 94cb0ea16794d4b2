"""Notebook-layer fixtures: a real IPython shell with the extension loaded, and the kernel-wide
session client pointed at the test emulator."""

from __future__ import annotations

import pytest


@pytest.fixture
def session(emulator):
    """The kernel's current client = a client of the test emulator; forgotten afterwards."""
    from lamina_jupyter import Client
    from lamina_jupyter.notebook import session

    session.set_client(Client(api_key=emulator.api_key, base_url=emulator.base_url), "test")
    yield session
    session.reset()


@pytest.fixture(scope="session")
def _shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance(colors="nocolor")
    ip.run_line_magic("load_ext", "lamina_jupyter")
    return ip


@pytest.fixture
def shell(_shell):
    """A real InteractiveShell with %lamina loaded; its namespace is cleared after each test."""
    yield _shell
    _shell.reset(new_session=False)


class Cell:
    """What one executed cell produced: result, stdout, stderr and every displayed bundle."""

    def __init__(self, result, captured) -> None:
        self.result = result
        self.stdout = captured.stdout
        self.stderr = captured.stderr
        self.bundles = [o.data for o in captured.outputs]

    @property
    def error(self):
        return self.result.error_in_exec or self.result.error_before_exec

    def text(self) -> str:
        """Everything the user could see, in every mime type."""
        parts = [self.stdout, self.stderr]
        parts += [str(v) for bundle in self.bundles for v in bundle.values()]
        return "\n".join(parts)


@pytest.fixture
def run_cell(shell):
    from IPython.utils.capture import capture_output

    def run(source: str) -> Cell:
        with capture_output() as captured:
            result = shell.run_cell(source, store_history=True)
        return Cell(result, captured)

    return run
