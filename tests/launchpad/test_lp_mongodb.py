"""The MongoDB path: a FireWorks launchpad file, with mongomock standing in for the server's client."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fireworks.core.launchpad
import fireworks.fw_config
import mongomock
import mongomock.gridfs
import pytest
import yaml
from lp_helpers import open_and_close, pilot_firework
from mongomock.store import ServerStore

from jiriaf_fw.adapters.launchpad import (
    LaunchpadConfigError,
    LaunchpadDatabaseError,
    LaunchpadError,
    LaunchpadSettings,
    add_pilot_workflow,
    describe_launchpad,
    get_pilot,
    list_pilots,
    open_launchpad,
    port_registry,
    ports_in_use,
    reserve_for_offline,
    reserve_ports,
)
from jiriaf_fw.core.ports import PortRange

PASSWORD = "s3cret-Pa55"
RANGE = PortRange(40000, 40009)


class FakeMongoServer:
    """Stands in for `pymongo.MongoClient` in FireWorks: every client shares one in-memory server store."""

    def __init__(self) -> None:
        self.store = ServerStore()
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> mongomock.MongoClient:
        self.calls.append((args, kwargs))
        return mongomock.MongoClient(_store=self.store)


@pytest.fixture(scope="module", autouse=True)
def _gridfs_accepts_mongomock() -> None:
    # FireWorks' LaunchPad builds a GridFS on its database; gridfs checks for pymongo types.
    mongomock.gridfs.enable_gridfs_integration()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeMongoServer:
    fake = FakeMongoServer()
    monkeypatch.setattr(fireworks.core.launchpad, "MongoClient", fake)
    return fake


@pytest.fixture
def launchpad_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_launchpad.yaml"
    config = {"host": "db.example.org", "port": 27017, "name": "jrm", "username": "jrm", "password": PASSWORD}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def mongo_settings(launchpad_file: Path) -> LaunchpadSettings:
    return LaunchpadSettings.mongodb(launchpad_file)


def test_initialises_and_persists(server: FakeMongoServer, mongo_settings: LaunchpadSettings) -> None:
    with open_launchpad(mongo_settings) as session:
        assert session.kind == "mongodb"
        ports = reserve_ports(session, "pilot-a", "kubelet", RANGE, 2)
        fw_id = add_pilot_workflow(session, pilot_firework(), "pilot-a", {})
    with open_launchpad(mongo_settings) as session:
        assert [pilot.fw_id for pilot in list_pilots(session)] == [fw_id]
        assert ports_in_use(session) == {port: "pilot-a" for port in ports}
        assert session.lp.fw_id_assigner.count_documents({}) == 1
    args, kwargs = server.calls[0]
    assert args == ("db.example.org", 27017)
    assert kwargs["username"] == "jrm"
    assert kwargs["password"] == PASSWORD


def test_undo_on_exception(server: FakeMongoServer, mongo_settings: LaunchpadSettings, tmp_path: Path) -> None:
    with open_launchpad(mongo_settings) as session:
        kept = add_pilot_workflow(session, pilot_firework(), "kept", {})
    with pytest.raises(RuntimeError, match="sbatch failed"), open_launchpad(mongo_settings) as session:
        reserve_ports(session, "pilot-b", "kubelet", RANGE, 2)
        add_pilot_workflow(session, pilot_firework(), "pilot-b", {})
        reserve_for_offline(session, kept, tmp_path)
        raise RuntimeError("sbatch failed")
    with open_launchpad(mongo_settings) as session:
        assert [pilot.name for pilot in list_pilots(session)] == ["kept"]
        assert ports_in_use(session) == {}
        assert get_pilot(session, kept).state == "READY"
        assert session.lp.offline_runs.count_documents({}) == 0


def test_port_race_retried(
    server: FakeMongoServer, mongo_settings: LaunchpadSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_launchpad(mongo_settings) as session:
        session.lp.db["jiriaf_ports"].insert_one({"port": 40002, "owner": "pilot-a", "kind": "kubelet"})
    real_ports_in_use = port_registry.ports_in_use
    views: list[dict[int, str]] = []

    def stale_then_fresh(session: Any) -> dict[int, str]:
        # The first view misses pilot-a's ports, as if another client had taken them just after the read.
        views.append({} if not views else real_ports_in_use(session))
        return views[-1]

    monkeypatch.setattr(port_registry, "ports_in_use", stale_then_fresh)
    with open_launchpad(mongo_settings) as session:
        assert reserve_ports(session, "pilot-b", "kubelet", RANGE, 3) == [40000, 40001, 40003]
        assert len(views) == 2
        assert real_ports_in_use(session) == {40000: "pilot-b", 40001: "pilot-b", 40002: "pilot-a", 40003: "pilot-b"}


def test_password_never_logged(
    server: FakeMongoServer, mongo_settings: LaunchpadSettings, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with open_launchpad(mongo_settings) as session:
        add_pilot_workflow(session, pilot_firework(), "quiet", {})
    summary = describe_launchpad(mongo_settings)
    captured = capsys.readouterr()
    assert PASSWORD not in caplog.text
    assert PASSWORD not in captured.out + captured.err
    assert PASSWORD not in repr(summary)
    assert summary["password"] == "<redacted>"
    assert summary["host"] == "db.example.org"


def test_uri_password_redacted(tmp_path: Path) -> None:
    path = tmp_path / "uri.yaml"
    path.write_text(yaml.safe_dump({"host": f"mongodb://jrm:{PASSWORD}@db.example.org/jrm", "uri_mode": True}))
    summary = describe_launchpad(LaunchpadSettings.mongodb(path))
    assert summary["host"] == "mongodb://jrm:<redacted>@db.example.org/jrm"


def test_mongomock_config_rejected(
    server: FakeMongoServer, mongo_settings: LaunchpadSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fireworks.fw_config, "MONGOMOCK_SERVERSTORE_FILE", "/tmp/other.json")
    with pytest.raises(LaunchpadConfigError, match="MONGOMOCK_SERVERSTORE_FILE"):
        open_and_close(mongo_settings)
    assert server.calls == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read launchpad file"),
        ("host: [unclosed", "not valid YAML"),
        ("- host", "must be a mapping"),
        ("host: h\npasswd: x\n", "unknown keys \\['passwd'\\]"),
        ("port: 27017\n", "has no 'host'"),
    ],
)
def test_invalid_launchpad_file(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "lp.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LaunchpadConfigError, match=problem) as caught:
        open_and_close(LaunchpadSettings.mongodb(path))
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_ids_missing_with_fireworks_present(server: FakeMongoServer, mongo_settings: LaunchpadSettings) -> None:
    mongomock.MongoClient(_store=server.store)["jrm"]["fireworks"].insert_one({"fw_id": 1, "state": "READY"})
    with pytest.raises(LaunchpadError, match="no fw_id_assigner"), open_launchpad(mongo_settings):
        pass


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but not listening, so connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_unreachable_server(tmp_path: Path, refused_port: int) -> None:
    path = tmp_path / "lp.yaml"
    config = {"host": "127.0.0.1", "port": refused_port, "name": "jrm", "password": PASSWORD,
              "mongoclient_kwargs": {"serverSelectionTimeoutMS": 300}}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(LaunchpadDatabaseError, match="ServerSelectionTimeoutError") as caught:
        open_and_close(LaunchpadSettings.mongodb(path))
    assert str(path) in str(caught.value)
    assert PASSWORD not in str(caught.value)
