"""The public API surface: small, listed in __all__, importable, typed."""

import importlib
from pathlib import Path

import zero_nb


def test_all_names_resolve():
    """Every name in zero_nb.__all__ resolves (the media stack loads lazily)."""
    for name in zero_nb.__all__:
        assert getattr(zero_nb, name) is not None, name
    assert callable(zero_nb.join) and callable(zero_nb.serve)
    assert zero_nb.sources.test_pattern and zero_nb.Room.__name__ == "Room"


def test_every_module_declares_all():
    """Every zero_nb module lists its public names in __all__."""
    root = Path(zero_nb.__file__).parent
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        assert hasattr(module, "__all__"), f"{name} has no __all__"


def test_py_typed_shipped():
    """The package is marked typed (py.typed)."""
    assert (Path(zero_nb.__file__).parent / "py.typed").exists()


def test_errors_share_one_root():
    """Every exception in zero_nb.errors derives from ZeroNBError."""
    from zero_nb import errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, errors.ZeroNBError), name
