"""Turn a widget's ES module and its relative imports into one module text, each in its own scope.

anywidget loads ``_esm`` from a string (a blob URL), where relative imports cannot resolve.
So every dependency becomes a function scope that returns its exports, evaluated once in
dependency order; ``import {a, b as c} from "./x.js"`` becomes ``const {a, b: c} = <x>``.
Two modules may declare the same private name (each has its own scope), and
``export {…} from`` re-exports work. The entry module stays a real ES module (its
``export default`` is what anywidget reads). No build step, no npm: the files in ``js/`` are
what runs, in the page as they are and in the widgets through this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..signaling.static import asset_dir

__all__ = ["BundleError", "bundle", "js_dir"]

_IMPORT = re.compile(r"^import\s+([\s\S]*?)\s+from\s+[\"'](\.{1,2}/[^\"']+)[\"'];?[ \t]*$",
                     re.MULTILINE)
_REEXPORT = re.compile(r"^export\s+\{([^}]*)\}\s+from\s+[\"'](\.{1,2}/[^\"']+)[\"'];?[ \t]*$",
                       re.MULTILINE)
_EXPORT_LIST = re.compile(r"^export\s+\{([^}]*)\};?[ \t]*$", re.MULTILINE)
_EXPORT_DECL = re.compile(
    r"^export\s+((?:async\s+)?function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)",
    re.MULTILINE)
_EXPORT_DEFAULT = re.compile(r"^export\s+default\s+", re.MULTILINE)
_UNSUPPORTED = re.compile(r"^export\s+\*|^import\s*\(|^import\s+[\"']", re.MULTILINE)


class BundleError(RuntimeError):
    """A module uses a form of import/export the widget bundler does not handle."""


def js_dir() -> Path:
    root = asset_dir()
    if root is None:
        raise RuntimeError("zero_nb's front-end files are missing from this install: "
                           "reinstall zero_nb (pip install --force-reinstall zero_nb)")
    return root


def _names(spec: str) -> list[tuple[str, str]]:
    """``a, b as c`` -> [("a", "a"), ("b", "c")] (imported/exported name, local name)."""
    out = []
    for part in spec.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) == 3 and words[1] == "as":
            out.append((words[0], words[2]))
        elif len(words) == 1:
            out.append((words[0], words[0]))
        else:
            raise BundleError(f"cannot read the import/export list {spec!r}")
    return out


@dataclass
class _Module:
    path: Path
    text: str
    deps: list[Path] = field(default_factory=list)


def _read(path: Path) -> _Module:
    text = path.read_text(encoding="utf-8")
    if _UNSUPPORTED.search(text):
        raise BundleError(f"{path.name}: `export *`, dynamic or bare-side-effect imports are "
                          "not supported by the widget bundler: import names explicitly")
    deps = [(path.parent / rel).resolve()
            for regex in (_IMPORT, _REEXPORT) for _spec, rel in regex.findall(text)]
    return _Module(path, text, deps)


def _collect(path: Path, order: list[_Module], visiting: set[Path]) -> None:
    if any(m.path == path for m in order):
        return
    if path in visiting:
        raise BundleError(f"import cycle through {path.name}: widgets need an acyclic graph")
    visiting.add(path)
    module = _read(path)
    for dep in module.deps:
        _collect(dep, order, visiting)
    visiting.discard(path)
    order.append(module)


def _binding(clause: str, ref: str) -> str:
    """The ``const`` that stands for one import clause (default, namespace and/or named)."""
    clause = clause.strip()
    lines = []
    named = re.search(r"\{([^}]*)\}", clause)
    if named:
        pairs = ", ".join(a if a == b else f"{a}: {b}" for a, b in _names(named.group(1)))
        lines.append(f"const {{ {pairs} }} = {ref};")
        clause = clause.replace(named.group(0), "")
    for part in filter(None, (p.strip() for p in clause.split(","))):
        star = re.fullmatch(r"\*\s+as\s+([\w$]+)", part)
        lines.append(f"const {star.group(1)} = {ref};" if star
                     else f"const {part} = {ref}.default;")
    return " ".join(lines)


def _transform(module: _Module, refs: dict[Path, str], entry: bool) -> str:
    """Imports become bindings; a dependency's exports become its scope's return value."""
    base = module.path.parent
    exports: list[str] = []

    def imp(m: re.Match[str]) -> str:
        return _binding(m.group(1), refs[(base / m.group(2)).resolve()])

    def reexport(m: re.Match[str]) -> str:
        ref = refs[(base / m.group(2)).resolve()]
        pairs = _names(m.group(1))
        if entry:  # the entry stays an ES module: re-export as constants
            return f"export const {{ {', '.join(f'{a}: {b}' for a, b in pairs)} }} = {ref};"
        exports.extend(f"{b}: {ref}.{a}" for a, b in pairs)
        return ""

    text = _REEXPORT.sub(reexport, _IMPORT.sub(imp, module.text))
    if entry:
        return text
    def export_list(m: re.Match[str]) -> str:
        exports.extend(b if a == b else f"{b}: {a}" for a, b in _names(m.group(1)))
        return ""

    text = _EXPORT_LIST.sub(export_list, text)

    def decl(m: re.Match[str]) -> str:
        exports.append(m.group(2))
        return f"{m.group(1)} {m.group(2)}"

    text = _EXPORT_DECL.sub(decl, text)
    if _EXPORT_DEFAULT.search(text):
        text = _EXPORT_DEFAULT.sub("const __default = ", text)
        exports.append("default: __default")
    return f"(() => {{\n{text}\nreturn {{ {', '.join(exports)} }};\n}})()"


@lru_cache(maxsize=64)
def _bundle(entry: Path, mtimes: tuple[float, ...]) -> str:
    order: list[_Module] = []
    _collect(entry, order, set())
    refs = {m.path: f"__znb_modules[{i}]" for i, m in enumerate(order)}
    parts = ["const __znb_modules = [];"]
    for i, module in enumerate(order[:-1]):
        parts.append(f"// ---- {module.path.name}\n__znb_modules[{i}] = "
                     f"{_transform(module, refs, entry=False)};")
    parts.append(f"// ---- {entry.name}\n{_transform(order[-1], refs, entry=True)}")
    return "\n".join(parts)


def bundle(name: str) -> str:
    """The module ``js/widgets/<name>`` with its relative imports inlined, each scoped."""
    entry = (js_dir() / "widgets" / name).resolve()
    order: list[_Module] = []
    _collect(entry, order, set())
    return _bundle(entry, tuple(m.path.stat().st_mtime for m in order))
