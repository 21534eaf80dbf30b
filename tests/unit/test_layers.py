"""Dependencies point down (DESIGN.md section 2): the engine and the signaling server never
import the SFU or the widgets, lazily or not."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "zero_nb"
RULES = {"kernel_rtc": ("zero_nb.sfu", "zero_nb.widgets"), "signaling": ("zero_nb.sfu",)}


def _imports(path: Path, source: str | None = None) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth in the file."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(RULES))
def test_no_import_points_up(layer):
    """No module of the layer names a banned package in any import statement."""
    banned = RULES[layer]
    offending = {
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in (PACKAGE / layer).rglob("*.py")
        for name in _imports(path)
        if name.startswith(banned)
    }
    assert not offending


def test_engine_and_server_load_without_sfu_or_widgets():
    """A fresh interpreter that imports the engine and the server has neither loaded."""
    code = ("import sys, zero_nb.kernel_rtc, zero_nb.signaling, zero_nb.kernel_rtc.mesh;"
            "print(sorted(m for m in sys.modules if m.startswith(('zero_nb.sfu', "
            "'zero_nb.widgets'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]"


def test_the_rule_catches_a_lazy_import():
    """The AST check sees a relative import inside a function (so the test above can fail)."""
    probe = PACKAGE / "kernel_rtc" / "probe.py"
    assert "zero_nb.sfu.kernel" in _imports(probe, "def f():\n    from ..sfu import kernel\n")
    assert "zero_nb.widgets" in _imports(probe, "import zero_nb.widgets\n")
