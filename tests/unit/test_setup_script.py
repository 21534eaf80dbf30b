"""scripts/setup.sh installs with pip once, then skips it until something it depends on changes.

The real script runs on a copy of this checkout with a venv of its own. Offline (unit tests run
with no network): the venv sees the installed dependencies through a farm of symlinks to the
test interpreter's site-packages (zero_nb itself left out), and pip builds the editable install
with no index and no build isolation. No npm (extras without ``dev``).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = "pip skipped"

pytestmark = pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the checkout (what pip builds) with a venv that already has the deps."""
    pytest.importorskip("hatchling", reason="the offline editable build needs hatchling")
    proj = tmp_path_factory.mktemp("setup") / "proj"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("zero_nb", "js", "scripts"):
        shutil.copytree(ROOT / name, proj / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, proj / name)
    venv = proj / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv)}))
    farm = proj / "deps"
    farm.mkdir()
    for sp in site.getsitepackages():
        for entry in Path(sp).iterdir():
            low = entry.name.lower()
            if low.startswith(("zero_nb", "_editable_impl_zero_nb", "__editable__")) or \
                    entry.suffix == ".pth" or (farm / entry.name).exists():
                continue
            (farm / entry.name).symlink_to(entry)
    (purelib / "_deps.pth").write_text(f"{farm}\n")
    return proj


# no PYTHONPATH (wtest sets it) and none of the caller's ZERO_NB_* settings: a ZERO_NB_VENV
# from outside would point the script at a venv that is not this test's
CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k != "PYTHONPATH" and not k.startswith("ZERO_NB_")}


def setup(project: Path, **env: str) -> str:
    """Run the project's real setup.sh; return what it printed."""
    out = subprocess.run(
        ["bash", str(project / "scripts" / "setup.sh")], capture_output=True, text=True,
        timeout=300, env={**CLEAN_ENV, "ZERO_NB_VENV": str(project / ".venv"),
                          "ZERO_NB_EXTRAS": "notebook", "PIP_NO_INDEX": "1",
                          "PIP_NO_BUILD_ISOLATION": "0", "ZERO_NB_APT_EXTRA": "", **env})
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"ready ({project / '.venv'})" in out.stdout  # this test's venv, never another
    return out.stdout + out.stderr


def imports_here(project: Path) -> bool:
    code = "import zero_nb; print(zero_nb.__file__)"
    out = subprocess.run([str(project / ".venv" / "bin" / "python"), "-c", code],
                         capture_output=True, text=True, cwd="/", env=CLEAN_ENV)
    return out.returncode == 0 and out.stdout.startswith(str(project))


def test_second_run_skips_pip_and_a_change_reinstalls(project):
    """The first run installs, the second skips pip; an edited pyproject or a broken
    install (zero_nb removed from the venv) installs again."""
    assert SKIPPED not in setup(project)
    assert imports_here(project)
    assert SKIPPED in setup(project)

    with (project / "pyproject.toml").open("a") as f:
        f.write("\n# edited\n")
    assert SKIPPED not in setup(project)
    assert SKIPPED in setup(project)

    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(project / ".venv")}))
    for path in purelib.iterdir():
        if "zero_nb" in path.name.lower():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert not imports_here(project)
    assert SKIPPED not in setup(project)
    assert imports_here(project)


def test_other_extras_and_forced_runs_install(project):
    """The stamp is per extras set; ZERO_NB_REINSTALL=1 always runs pip."""
    setup(project)
    assert SKIPPED not in setup(project, ZERO_NB_EXTRAS="notebook,analysis")
    assert SKIPPED in setup(project)  # the first set's stamp still holds
    assert SKIPPED not in setup(project, ZERO_NB_REINSTALL="1")
