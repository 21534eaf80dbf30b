"""Dependencies point down: the engine and the signaling server never import the SFU or the
widgets, and inside the engine (``kernel_rtc``) every import — ``TYPE_CHECKING`` and
in-function ones too — goes to the same layer or a lower one, with no cycle; the add-ons
(E2EE, speech) are plugged in by the package, never imported by the core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "zero_nb"
RULES = {"kernel_rtc": ("zero_nb.sfu", "zero_nb.widgets"), "signaling": ("zero_nb.sfu",)}
ENGINE = "zero_nb.kernel_rtc"

# kernel_rtc's layers, lowest first; a module may import its own layer or one below it.
# docs/architecture.md draws the same picture.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("aiortc adapter, loop thread, frame helpers", ("_aiortc", "engine", "frames", "workers")),
    ("feeds", ("media.feeds",)),
    ("tracks, sources, encoder hooks", ("media.tracks", "media.sources", "media.encoders")),
    ("encoded sources, quality caps, file recorder",
     ("media.encoded", "media.quality", "media.recorder")),
    ("file sources, local media", ("media.files", "media.local")),
    ("ICE, TURN choice, receive path, add-on hooks",
     ("net.ice", "net.relay", "net.lowlatency", "net.hooks")),
    ("remote peers", ("net.peer",)),
    ("the topology seam", ("net.topology",)),
    ("the mesh", ("net.mesh",)),
    ("add-ons", ("e2ee.*", "speech.*")),
    ("stats, recording, widget link and its comm downlink",
     ("stats", "recording", "session_recording", "link", "downflow", "downlink")),
    ("a room's class tools (hosts, hands, moderation, breakout rooms)", ("classroom",
                                                                    "breakout")),
    ("the room", ("room",)),
    ("the package: plugs the add-ons in", ("",)),
]
ADDONS = ("e2ee", "speech")


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path, source: str | None = None) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth in the file."""
    module = _module_of(path)
    package = module if _is_package(path) else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            names.add(name)
            names.update(f"{name}.{alias.name}" for alias in node.names)
    return names


def _engine_modules() -> dict[str, Path]:
    return {_module_of(p): p for p in (PACKAGE / "kernel_rtc").rglob("*.py")}


def _edges(module: str, path: Path, modules: dict[str, Path],
           source: str | None = None) -> set[str]:
    """The engine modules ``module`` imports; ``from .net import peer`` counts as
    ``net.peer`` alone (a subpackage's ``__init__`` holds nothing)."""
    found = {n for n in _imports(path, source) if n in modules and n != module}
    return {n for n in found
            if not (_is_package(modules[n]) and n != ENGINE
                    and any(m.startswith(n + ".") for m in found))} - {ENGINE} \
        if module != ENGINE else found


def _layer_of(module: str) -> int:
    short = module.removeprefix(ENGINE).removeprefix(".")
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if short == member or (member.endswith(".*") and
                                   short.startswith(member[:-1])):
                return index
    raise AssertionError(f"{module} is in no layer of tests/unit/test_layers.py: place it")


def _violations(graph: dict[str, set[str]], modules: dict[str, Path]) -> list[str]:
    bad = []
    for module, targets in graph.items():
        if _is_package(modules[module]) and module != ENGINE:
            bad += [f"{module} (a subpackage __init__) imports {t}" for t in targets]
            continue
        for target in targets:
            if _layer_of(target) > _layer_of(module):
                bad.append(f"{module} ({LAYERS[_layer_of(module)][0]}) imports {target} "
                           f"({LAYERS[_layer_of(target)][0]}): upward")
            side = target.removeprefix(ENGINE + ".").split(".")[0]
            own = module.removeprefix(ENGINE + ".").split(".")[0]
            if side in ADDONS and own != side and module != ENGINE:
                bad.append(f"{module} imports the {side} add-on {target}: plug it in "
                           "through hooks (kernel_rtc/__init__.py)")
    return bad


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def _graph() -> tuple[dict[str, set[str]], dict[str, Path]]:
    modules = _engine_modules()
    return {m: _edges(m, p, modules) for m, p in modules.items()}, modules


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


def test_engine_layers_point_down():
    """Every import inside kernel_rtc goes to its own layer or below; only the package
    imports the add-ons; every module has a layer."""
    graph, modules = _graph()
    assert _violations(graph, modules) == []


def test_engine_has_no_import_cycle():
    """The engine's import graph (every import statement) has no cycle."""
    graph, _ = _graph()
    assert _cycle(graph) is None


def test_the_layer_rule_catches_upward_imports_and_cycles():
    """An upward import (TYPE_CHECKING, in a function), a core module importing an add-on,
    and a cycle are all found (so the tests above can fail)."""
    graph, modules = _graph()
    feeds = modules[f"{ENGINE}.media.feeds"]
    probe = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..room import Room\n"
    graph[f"{ENGINE}.media.feeds"] = _edges(f"{ENGINE}.media.feeds", feeds, modules, probe)
    assert any("upward" in v for v in _violations(graph, modules))
    peer = modules[f"{ENGINE}.net.peer"]
    probe = "def f():\n    from ..e2ee import rtc\n"
    graph, _ = _graph()
    graph[f"{ENGINE}.net.peer"] = _edges(f"{ENGINE}.net.peer", peer, modules, probe)
    assert any("add-on" in v for v in _violations(graph, modules))
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_engine_and_server_load_without_sfu_or_widgets():
    """A fresh interpreter that imports the engine and the server has neither loaded."""
    code = ("import sys, zero_nb.kernel_rtc, zero_nb.signaling, zero_nb.kernel_rtc.net.mesh;"
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
