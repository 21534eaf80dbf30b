"""config.yaml loading: defaults, layers, and errors that name the bad key."""

import pytest

from zero_nb.config import DEFAULTS, load_config
from zero_nb.errors import ConfigError


def test_defaults_have_no_ice_servers(monkeypatch):
    """By default no STUN/TURN server is used (never an implicit public one)."""
    monkeypatch.delenv("ZERO_NB_CONFIG", raising=False)
    cfg = load_config()
    assert cfg["webrtc"]["ice_servers"] == [] and cfg == DEFAULTS


def test_env_file_then_dict(tmp_path, monkeypatch):
    """ZERO_NB_CONFIG names a YAML file; a config= dict overrides it."""
    path = tmp_path / "c.yaml"
    path.write_text(
        "signaling:\n  port: 9000\n  limits: {rate: 5}\nwebrtc:\n  low_latency: false\n")
    monkeypatch.setenv("ZERO_NB_CONFIG", str(path))
    cfg = load_config({"signaling": {"port": 9001}})
    assert cfg["signaling"]["port"] == 9001
    assert cfg["signaling"]["limits"]["rate"] == 5 and cfg["webrtc"]["low_latency"] is False
    assert cfg["signaling"]["limits"]["burst"] == DEFAULTS["signaling"]["limits"]["burst"]


@pytest.mark.parametrize("bad, needle", [
    ({"signaling": {"limts": {}}}, "signaling.limts' (did you mean 'limits'"),
    ({"signaling": {"port": "80"}}, "signaling.port' must be int"),
    ({"signaling": {"port": True}}, "signaling.port' must be int"),
    ({"webrtc": {"ice_transport_policy": "any"}}, "must be one of all, relay"),
    ({"webrtc": {"ice_servers": ["http://x"]}}, "ice_servers[0].urls"),
    ({"webrtc": 3}, "'webrtc' must be a mapping"),
])
def test_errors_name_the_key(bad, needle, monkeypatch):
    """Unknown keys, wrong types and bad choices raise ConfigError naming the key."""
    monkeypatch.delenv("ZERO_NB_CONFIG", raising=False)
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert needle in str(info.value)


def test_bad_yaml_and_missing_file(tmp_path, monkeypatch):
    """Unreadable or invalid YAML files raise ConfigError naming the file."""
    monkeypatch.delenv("ZERO_NB_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_ice_servers_with_credentials(monkeypatch):
    """TURN servers with username and credential are accepted."""
    monkeypatch.delenv("ZERO_NB_CONFIG", raising=False)
    turn = {"urls": ["turn:127.0.0.1:3478"], "username": "u", "credential": "p"}
    assert load_config({"webrtc": {"ice_servers": [turn]}})["webrtc"]["ice_servers"] == [turn]


def test_sfu_bitrate_and_quality_keys():
    """sfu.bitrate is bits/s, at least Janus' 64000; media.video.max_kbps/simulcast accepted."""
    cfg = load_config({"sfu": {"bitrate": 300_000},
                       "media": {"video": {"max_kbps": 150, "simulcast": False}}})
    assert cfg["sfu"]["bitrate"] == 300_000 and cfg["media"]["video"]["max_kbps"] == 150
    with pytest.raises(ConfigError, match="64000"):
        load_config({"sfu": {"bitrate": 1000}})
