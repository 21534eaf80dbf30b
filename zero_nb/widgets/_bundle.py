"""Inline a widget's ES module and its relative imports into one module text.

anywidget loads ``_esm`` from a string (a blob URL), where relative imports cannot resolve;
the widgets share ``js/rtc/media.js`` with the standalone page, so we concatenate the
dependencies (their ``import`` lines dropped, ``export`` keywords removed) ahead of the
entry module. No build step, no npm: the files in ``js/`` are what runs.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ..signaling.static import asset_dir

__all__ = ["bundle", "js_dir"]

_IMPORT = re.compile(r"^import\s+(?:[\s\S]*?)\s+from\s+[\"'](\.{1,2}/[^\"']+)[\"'];?[ \t]*$",
                     re.MULTILINE)
_EXPORT = re.compile(r"^export\s+(?=(?:async\s+)?(?:function|class|const|let)\b)", re.MULTILINE)


def js_dir() -> Path:
    root = asset_dir()
    if root is None:
        raise RuntimeError("zero_nb's front-end files are missing from this install: "
                           "reinstall zero_nb (pip install --force-reinstall zero_nb)")
    return root


def _collect(path: Path, seen: list[Path]) -> None:
    text = path.read_text(encoding="utf-8")
    for rel in _IMPORT.findall(text):
        dep = (path.parent / rel).resolve()
        if dep not in seen:
            _collect(dep, seen)
    if path not in seen:
        seen.append(path)


@lru_cache(maxsize=64)
def _bundle(entry: Path, mtimes: tuple[float, ...]) -> str:
    order: list[Path] = []
    _collect(entry, order)
    parts = []
    for path in order:
        text = _IMPORT.sub("", path.read_text(encoding="utf-8"))
        if path != entry:
            text = _EXPORT.sub("", text)
        parts.append(f"// ---- {path.name}\n{text}")
    return "\n".join(parts)


def bundle(name: str) -> str:
    """The module ``js/widgets/<name>`` with its relative imports inlined."""
    entry = (js_dir() / "widgets" / name).resolve()
    deps: list[Path] = []
    _collect(entry, deps)
    return _bundle(entry, tuple(p.stat().st_mtime for p in deps))
