"""The dependency direction, read from the source: core <- notebook <- batch, and the emulator alone.

Every `import` in every module is checked, including those inside functions (they are how heavy
libraries stay out of `import lamina_jupyter`, but they must respect the layers all the same).
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lamina_jupyter"

# What each layer may import from the package (docs/design-notes.md, "Layers").
ALLOWED = {
    "core": {"core"},
    "notebook": {"core", "notebook", "emulator"},  # emulator: session's demo mode and demo.py only
    "batch": {"core", "notebook", "batch"},
    "emulator": {"emulator"},
}
EMULATOR_USERS = {"notebook/session.py", "notebook/demo.py"}
# Inside core, a module imports only modules of a lower rank: the sans-IO steps never reach the driver.
CORE_RANK = {"redact": 0, "models": 0, "claims": 0, "tls": 0, "errors": 1, "config": 2, "inputs": 2,
             "webhooks": 2, "ratelimit": 2, "protocol": 3, "flows": 4, "refine": 4.5, "discover": 4.5,
             "watch": 5, "connection": 6, "bounds": 6, "drivers": 6.5, "client": 7}
# A core module's own top-level imports: the standard library and httpx, nothing heavier.
CORE_TOP_LEVEL_THIRD_PARTY = {"httpx"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) > 1:
            yield rel, ast.parse(path.read_text(), str(path))


def _targets(rel: Path, tree: ast.Module):
    """(dotted target inside lamina_jupyter or None, top-level module name, is_module_level) per import."""
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                inside = name.split(".", 1)[1] if name.startswith("lamina_jupyter.") else None
                yield inside, name.split(".")[0], id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                name = node.module or ""
                inside = name.split(".", 1)[1] if name.startswith("lamina_jupyter.") else None
                yield inside, name.split(".")[0], id(node) in top_level
                continue
            base = list(rel.parts[:-1])[: len(rel.parts) - node.level]
            parts = base + (node.module.split(".") if node.module else [])
            names = [a.name for a in node.names] if not node.module else [None]
            for extra in names:
                dotted = ".".join(parts + ([extra] if extra else []))
                yield dotted, "lamina_jupyter", id(node) in top_level


@pytest.mark.parametrize("rel,tree", list(_modules()), ids=lambda v: str(v) if isinstance(v, Path) else "")
def test_imports_follow_the_layers(rel, tree):
    layer = rel.parts[0]
    for inside, top, module_level in _targets(rel, tree):
        if inside is None:
            if layer == "core" and module_level and top not in CORE_TOP_LEVEL_THIRD_PARTY:
                assert top in sys.stdlib_module_names or top == "__future__", (
                    f"{rel} imports {top} at module level: the core needs only stdlib and httpx")
            continue
        target_layer = inside.split(".")[0]
        assert target_layer in ALLOWED[layer], f"{rel} ({layer}) imports lamina_jupyter.{inside}"
        if target_layer == "emulator" and layer != "emulator":
            assert rel.as_posix() in EMULATOR_USERS, f"{rel} starts the emulator; only {EMULATOR_USERS} may"
        if layer == "core" and target_layer == "core":
            own, other = rel.stem, inside.split(".")[1]
            assert CORE_RANK[other] < CORE_RANK[own], f"core/{own} imports core/{other} (order)"


def test_every_core_module_has_a_rank():
    assert {p.stem for p in (PACKAGE / "core").glob("*.py")} - {"__init__"} == set(CORE_RANK)


def test_nothing_imports_the_magic():
    """%load_ext reaches it lazily from lamina_jupyter/__init__; no other module may import it."""
    for rel, tree in _modules():
        for inside, _, _ in _targets(rel, tree):
            assert inside != "notebook.magic" or rel.as_posix() == "notebook/magic.py", rel


def test_a_layer_breach_is_caught(tmp_path):
    """The check itself can fail: a core module importing the notebook layer is reported."""
    rel = Path("core/flows.py")
    tree = ast.parse("def f():\n    from ..notebook import views\n")
    with pytest.raises(AssertionError, match=r"\(core\) imports lamina_jupyter.notebook"):
        test_imports_follow_the_layers(rel, tree)
