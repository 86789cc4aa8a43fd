"""Fixtures for the launchpad tests: an embedded store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiriaf_fw.adapters.launchpad import LaunchpadSettings


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """The embedded store file, in a folder that does not exist yet."""
    return tmp_path / "jiriaf-home" / "launchpad.json"


@pytest.fixture
def settings(store_path: Path) -> LaunchpadSettings:
    """Embedded-store settings for `store_path`."""
    return LaunchpadSettings.embedded(store_path, lock_timeout_s=30)


def pytest_configure(config: pytest.Config) -> None:
    # FireWorks looks up task classes by importing every module of fireworks.user_objects, its own test
    # modules included. Those use an unregistered `mongodb` mark, so registering it silences the warning.
    config.addinivalue_line("markers", "mongodb: used by FireWorks' own test modules")
