"""The aiortc adapter: one version check against the pinned range, and no other module
touching aiortc's or aioice's internals."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zero_nb.kernel_rtc import _aiortc
from zero_nb.kernel_rtc._aiortc import UnsupportedAiortc, check_versions

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "zero_nb" / "kernel_rtc" / "_aiortc.py"
# attributes of aiortc objects that are private: only the adapter names them
PRIVATE_ATTRS = {"_ssrc", "_data", "_packetize", "_next_encoded_frame"}


def test_installed_aiortc_is_supported():
    """The aiortc and aioice installed here are in the supported range (an unsupported
    one fails this test, and the engine's import)."""
    import importlib.metadata as md

    import aioice  # noqa: F401

    check_versions({"aiortc": md.version("aiortc"), "aioice": md.version("aioice")})
    assert _aiortc.LOW_LATENCY_PROBLEM is None


@pytest.mark.parametrize("package, version", [
    ("aiortc", "1.13.2"), ("aiortc", "1.17.0"), ("aiortc", "2.0"), ("aiortc", "dev"),
    ("aioice", "0.9.0"), ("aioice", "0.14.0")])
def test_an_unsupported_version_is_refused_by_name(package, version):
    """Outside the pinned range: UnsupportedAiortc naming the version and the range."""
    with pytest.raises(UnsupportedAiortc, match=re.escape(f"{package} {version} is installed")
                       ) as info:
        check_versions({package: version})
    low, high = _aiortc.SUPPORTED[package]
    assert f">={low[0]}.{low[1]},<{high[0]}.{high[1]}" in str(info.value)


def test_supported_range_is_the_one_pinned_in_pyproject():
    """SUPPORTED says what pyproject.toml pins (one range, written twice, checked here)."""
    # read as text: tomllib is 3.11+, and the matrix runs these tests on 3.10 too
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    deps = re.findall(r'^\s*"([^"]+)"', block, re.M)
    for package, (low, high) in _aiortc.SUPPORTED.items():
        [pin] = [d for d in deps if re.match(rf"{package}\b", d)]
        assert pin.replace(" ", "") == f"{package}>={low[0]}.{low[1]},<{high[0]}.{high[1]}"


def test_importing_the_engine_with_an_unsupported_aiortc_fails_clearly():
    """A fresh interpreter whose aiortc says 1.13.0 cannot import the engine: the error
    names the version and what to install."""
    code = ("import importlib.metadata as md\n"
            "real = md.version\n"
            "md.version = lambda name: '1.13.0' if name == 'aiortc' else real(name)\n"
            "try:\n"
            "    import zero_nb.kernel_rtc\n"
            "except ImportError as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.startswith("UnsupportedAiortc aiortc 1.13.0 is installed")
    assert "pip install 'aiortc>=1.14,<1.17'" in out


def _offences(path: Path) -> list[str]:
    found = []
    text = path.read_text()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names
                      if a.name.startswith("aioice") or a.name.startswith("aiortc.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module.startswith(("aiortc.", "aioice"))):
            found.append(node.module)
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRS:
            found.append(f".{node.attr}")
    found += re.findall(r"_RTC\w+__\w+", text)
    return found


def test_nothing_but_the_adapter_touches_aiortc_internals():
    """No module but kernel_rtc/_aiortc.py imports an aiortc submodule or aioice, or names
    a private aiortc attribute."""
    offending = {str(p.relative_to(ROOT)): o for p in (ROOT / "zero_nb").rglob("*.py")
                 if p != ADAPTER and (o := _offences(p))}
    assert offending == {}


def test_the_scan_sees_what_it_forbids(tmp_path):
    """The scan above flags a submodule import, aioice, a mangled name, a private attribute."""
    probe = tmp_path / "probe.py"
    probe.write_text("import aioice.ice\nfrom aiortc.rtp import RtpPacket\n"
                     "x = '_RTCRtpSender__encoder'\ndef f(s):\n    return s._ssrc\n")
    assert _offences(probe) == ["aioice.ice", "aiortc.rtp", "._ssrc", "_RTCRtpSender__encoder"]
