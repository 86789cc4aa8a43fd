"""The port registry on the embedded store."""

from __future__ import annotations

import pytest
from lp_helpers import pilot_firework

from jiriaf_fw.adapters.launchpad import (
    LaunchpadSettings,
    add_pilot_workflow,
    open_launchpad,
    ports_in_use,
    release_ports,
    reserve_ports,
)
from jiriaf_fw.core.errors import PortsExhaustedError
from jiriaf_fw.core.ports import PortRange

RANGE = PortRange(30000, 30004)


def test_reserve_lowest_free_ports(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        assert reserve_ports(session, "pilot-a", "kubelet", RANGE, 2) == [30000, 30001]
    with open_launchpad(settings) as session:
        assert reserve_ports(session, "pilot-b", "metrics", RANGE, 2) == [30002, 30003]
        assert ports_in_use(session) == {30000: "pilot-a", 30001: "pilot-a", 30002: "pilot-b", 30003: "pilot-b"}


def test_exhaustion_names_range(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        reserve_ports(session, "pilot-a", "kubelet", RANGE, 4)
    with open_launchpad(settings) as session:
        with pytest.raises(PortsExhaustedError) as caught:
            reserve_ports(session, "pilot-b", "kubelet", RANGE, 2, range_key="jrm.kubelet_port_range")
        assert ports_in_use(session) == {port: "pilot-a" for port in range(30000, 30004)}
    message = str(caught.value)
    assert "\n" not in message
    assert "30000-30004" in message
    assert "jrm.kubelet_port_range" in message


def test_release_returns_only_owner_ports(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        reserve_ports(session, "pilot-a", "kubelet", RANGE, 1)
        reserve_ports(session, "pilot-b", "kubelet", RANGE, 2)
        reserve_ports(session, "pilot-a", "metrics", RANGE, 1)
    with open_launchpad(settings) as session:
        assert release_ports(session, "pilot-a") == [30000, 30003]
        assert release_ports(session, "pilot-a") == []
        assert ports_in_use(session) == {30001: "pilot-b", 30002: "pilot-b"}


def test_reuse_after_release(settings: LaunchpadSettings) -> None:
    with open_launchpad(settings) as session:
        reserve_ports(session, "pilot-a", "kubelet", RANGE, 5)
    with open_launchpad(settings) as session:
        release_ports(session, "pilot-a")
    with open_launchpad(settings) as session:
        assert reserve_ports(session, "pilot-b", "kubelet", RANGE, 5) == list(range(30000, 30005))


def test_failed_add_keeps_ports_free(settings: LaunchpadSettings) -> None:
    with pytest.raises(ValueError, match="not a pilot"), open_launchpad(settings) as session:
        reserve_ports(session, "pilot-a", "kubelet", RANGE, 2)
        bad = pilot_firework()
        del bad.spec["jiriaf"]
        add_pilot_workflow(session, bad, "pilot-a", {})
    with open_launchpad(settings) as session:
        assert ports_in_use(session) == {}
        assert session.lp.workflows.count_documents({}) == 0


def test_unique_port_index_enforced(settings: LaunchpadSettings) -> None:
    from pymongo.errors import DuplicateKeyError

    with open_launchpad(settings) as session:
        reserve_ports(session, "pilot-a", "kubelet", RANGE, 1)
    with open_launchpad(settings) as session, pytest.raises(DuplicateKeyError):
        session.lp.db["jiriaf_ports"].insert_one({"port": 30000, "owner": "pilot-b", "kind": "kubelet"})


@pytest.mark.parametrize(("owner", "kind", "count"), [("", "kubelet", 1), ("p", " ", 1), ("p", "kubelet", -1)])
def test_reserve_rejects_bad_arguments(settings: LaunchpadSettings, owner: str, kind: str, count: int) -> None:
    with open_launchpad(settings) as session, pytest.raises(ValueError):
        reserve_ports(session, owner, kind, RANGE, count)
