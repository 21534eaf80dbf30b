"""The browser code's shape: its JSDoc types (TypeScript from package.json), the widget
bundler's scoping (run in Node when present), and the size limits every JS file and function
keeps (files < 400 lines, functions < 80)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from zero_nb.widgets import _bundle

ROOT = Path(__file__).resolve().parent.parent.parent
JS = ROOT / "js"
# modules the widgets import (not widgets themselves)
HELPERS = {"link.js", "comm_up.js", "comm_down.js"}
WIDGETS = sorted(p.name for p in (JS / "widgets").glob("*.js") if p.name not in HELPERS)
# a function or method header ending in "{" (declarations, methods, arrow bodies)
_HEADER = re.compile(r"^\s*(?:export\s+)?(?:async\s+)?(?:function\*?\s+[\w$]+|(?:static\s+)?"
                     r"(?:get\s+|set\s+)?[\w$]+)\s*\([^;]*\)\s*\{\s*$|=>\s*\{\s*$")


def _function_lengths(text: str) -> list[tuple[int, int]]:
    """(first line, length) of every function body found by brace matching, roughly."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if not _HEADER.search(line) or line.lstrip().startswith(("if", "for", "while", "switch",
                                                                 "catch", "//", "*")):
            continue
        depth = 0
        for j in range(i, len(lines)):
            depth += lines[j].count("{") - lines[j].count("}")
            if depth <= 0:
                out.append((i + 1, j - i + 1))
                break
    return out


@pytest.mark.parametrize("path", sorted(JS.rglob("*.js")), ids=lambda p: str(p.relative_to(JS)))
def test_js_files_and_functions_stay_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 400, f"{path.name}: split it (400 lines or more)"
    long = [(line, n) for line, n in _function_lengths(text) if n >= 80]
    assert not long, f"{path.name}: functions of 80+ lines at (line, length) {long}"


def test_js_type_checks() -> None:
    """`tsc -p js/jsconfig.json` is clean, and it checks every file in js/."""
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    if not tsc.exists() or shutil.which("node") is None:
        pytest.fail("TypeScript is not installed (node_modules/.bin/tsc): run "
                    "ZERO_NB_EXTRAS=dev scripts/setup.sh (needs node and npm)")
    result = subprocess.run([str(tsc), "-p", str(JS / "jsconfig.json"), "--noEmit", "--listFiles"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    listed = {Path(line) for line in lines if line.startswith("/")}
    errors = "\n".join(line for line in lines if not line.startswith("/")) + result.stderr
    if result.returncode:
        pytest.fail(f"tsc -p js/jsconfig.json found type errors:\n{errors}", pytrace=False)
    unchecked = [str(p.relative_to(JS)) for p in JS.rglob("*.js") if p not in listed]
    assert not unchecked, f"add these to js/jsconfig.json's include: {unchecked}"


def _node_check(source: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: syntax not checked")
    file = tmp_path / "bundle.mjs"
    file.write_text(source, encoding="utf-8")
    result = subprocess.run([node, "--check", str(file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", WIDGETS)
def test_every_widget_bundles_to_valid_module(name: str, tmp_path: Path) -> None:
    source = _bundle.bundle(name)
    assert "export default" in source
    _node_check(source, tmp_path)


def test_modules_keep_their_own_scope_and_reexports_work(tmp_path: Path, monkeypatch) -> None:
    """Two modules may declare the same private name; `export {…} from` re-exports."""
    (tmp_path / "widgets").mkdir()
    (tmp_path / "a.js").write_text(
        "function gathered() { return 'a'; }\nexport const A = () => gathered();\n")
    (tmp_path / "b.js").write_text(
        "function gathered() { return 'b'; }\nexport function B() { return gathered(); }\n"
        "export default 42;\n")
    (tmp_path / "index.js").write_text(
        'export { A } from "./a.js";\nexport { B as Bee } from "./b.js";\n')
    (tmp_path / "widgets" / "w.js").write_text(
        'import { A, Bee } from "../index.js";\nimport forty, { B } from "../b.js";\n'
        "export const result = [A(), Bee(), B(), forty].join(',');\n"
        "export default { render() {} };\n")
    monkeypatch.setattr(_bundle, "js_dir", lambda: tmp_path)
    source = _bundle.bundle("w.js")
    _node_check(source, tmp_path)
    node = shutil.which("node")
    assert node is not None
    run = tmp_path / "run.mjs"
    (tmp_path / "w.mjs").write_text(source, encoding="utf-8")
    run.write_text('import { result } from "./w.mjs";\nconsole.log(result);\n')
    out = subprocess.run([node, str(run)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "a,b,b,42"


def test_unsupported_forms_are_refused_clearly(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "widgets").mkdir()
    (tmp_path / "x.js").write_text("export * from './y.js';\n")
    (tmp_path / "widgets" / "w.js").write_text('import { y } from "../x.js";\n')
    monkeypatch.setattr(_bundle, "js_dir", lambda: tmp_path)
    with pytest.raises(_bundle.BundleError, match="export \\*"):
        _bundle.bundle("w.js")
