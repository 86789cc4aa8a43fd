"""Choosing the launchpad from options and the environment, and redacting credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiriaf_fw.adapters.launchpad import LaunchpadSettings, redact_secrets, resolve_launchpad_settings


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HOME": "/home/u"}, "/home/u/.local/share/jiriaf-fw/launchpad.json"),
        ({"HOME": "/home/u", "XDG_DATA_HOME": "/data"}, "/data/jiriaf-fw/launchpad.json"),
        ({"HOME": "/home/u", "XDG_DATA_HOME": "relative/data"}, "/home/u/.local/share/jiriaf-fw/launchpad.json"),
        ({"HOME": "/home/u", "XDG_DATA_HOME": "/data", "JIRIAF_FW_HOME": "/srv/jrm"}, "/srv/jrm/launchpad.json"),
        ({"HOME": "/home/u", "JIRIAF_FW_HOME": ""}, "/home/u/.local/share/jiriaf-fw/launchpad.json"),
    ],
)
def test_embedded_store_path(env: dict[str, str], expected: str) -> None:
    settings = resolve_launchpad_settings(env=env)
    assert settings.kind == "embedded"
    assert settings.store_path == Path(expected)


def test_launchpad_file_precedence(tmp_path: Path) -> None:
    env = {"HOME": "/home/u", "JIRIAF_FW_LAUNCHPAD": str(tmp_path / "env.yaml")}
    assert resolve_launchpad_settings(env=env).launchpad_file == tmp_path / "env.yaml"
    option = resolve_launchpad_settings(tmp_path / "option.yaml", env=env)
    assert option.kind == "mongodb"
    assert option.launchpad_file == tmp_path / "option.yaml"


def test_settings_need_one_location(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        LaunchpadSettings()
    with pytest.raises(ValueError, match="exactly one"):
        LaunchpadSettings(store_path=tmp_path / "a.json", launchpad_file=tmp_path / "b.yaml")
    with pytest.raises(ValueError, match="lock_timeout_s"):
        LaunchpadSettings.embedded(tmp_path / "a.json", lock_timeout_s=0)


def test_redact_secrets_nested() -> None:
    config = {
        "host": "mongodb://u:pw@h:27017/db?authSource=admin",
        "password": "pw",
        "authsource": "admin",
        "username": "u",
        "port": 27017,
        "mongoclient_kwargs": {"tlsCertificateKeyFilePassword": "pw2", "tls": True},
        "logdir": None,
    }
    assert redact_secrets(config) == {
        "host": "mongodb://u:<redacted>@h:27017/db?authSource=admin",
        "password": "<redacted>",
        "authsource": "<redacted>",
        "username": "u",
        "port": 27017,
        "mongoclient_kwargs": {"tlsCertificateKeyFilePassword": "<redacted>", "tls": True},
        "logdir": None,
    }
