"""Port ranges and the choice of the lowest free ports."""

import pytest

from jiriaf_fw.core.errors import PortRangeError, PortsExhaustedError
from jiriaf_fw.core.ports import PortRange, choose_free_ports, format_count


@pytest.mark.parametrize(
    "value", ["10000-19999", " 10000 - 19999 ", [10000, 19999], (10000, 19999), PortRange(10000, 19999)]
)
def test_parse_forms(value: object) -> None:
    assert PortRange.parse(value) == PortRange(10000, 19999)  # type: ignore[arg-type]  # forms under test


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20", "invalid port range '20': expected 'first-last', e.g. '10000-19999'"),
        ("a-b", "invalid port range 'a-b': expected 'first-last', e.g. '10000-19999'"),
        ("-5-10", "invalid port range '-5-10': expected 'first-last', e.g. '10000-19999'"),
        (
            "20000-10000",
            (
                "invalid port range 20000-10000: expected first <= last, both within 1024-65535 "
                "(a user cannot listen on ports below 1024)"
            ),
        ),
        (
            "80-90",
            (
                "invalid port range 80-90: expected first <= last, both within 1024-65535 "
                "(a user cannot listen on ports below 1024)"
            ),
        ),
        (
            "60000-70000",
            (
                "invalid port range 60000-70000: expected first <= last, both within 1024-65535 "
                "(a user cannot listen on ports below 1024)"
            ),
        ),
        (
            [1, 2, 3],
            (
                "invalid port range [1, 2, 3]: expected 'first-last' or a list [first, last], "
                "e.g. '10000-19999'"
            ),
        ),
        (["a", 2000], "invalid port range 'a'-2000: ports must be integers"),
        ([True, 2000], "invalid port range True-2000: ports must be integers"),
    ],
)
def test_parse_rejects(value: object, message: str) -> None:
    with pytest.raises(PortRangeError) as caught:
        PortRange.parse(value)  # type: ignore[arg-type]  # bad forms under test
    assert str(caught.value) == message


def test_range_basics() -> None:
    port_range = PortRange(10000, 10002)
    assert str(port_range) == "10000-10002"
    assert len(port_range) == 3
    assert list(port_range) == [10000, 10001, 10002]
    assert 10001 in port_range
    assert 10003 not in port_range


def test_overlaps() -> None:
    assert PortRange(10000, 20000).overlaps(PortRange(20000, 30000))
    assert not PortRange(10000, 19999).overlaps(PortRange(20000, 49999))


def test_choose_lowest_free() -> None:
    assert choose_free_ports(PortRange(10000, 10010), {10000, 10002}, 3) == [10001, 10003, 10004]


def test_choose_zero() -> None:
    assert choose_free_ports(PortRange(10000, 10001), {10000, 10001}, 0) == []


def test_choose_exactly_all_free() -> None:
    assert choose_free_ports(PortRange(10000, 10002), {10001}, 2) == [10000, 10002]


def test_exhausted_message() -> None:
    used = {10000, 10001, 5, 30000}
    with pytest.raises(PortsExhaustedError) as caught:
        choose_free_ports(PortRange(10000, 10002), used, 2, key="jrm.kubelet_port_range")
    assert str(caught.value) == (
        "port range 10000-10002 (jrm.kubelet_port_range) has 1 free port but 2 are needed (2 of 3 in use); "
        "delete pilots you no longer need with `jiriaf-fw delete_wf` or widen the range in "
        "jrm.kubelet_port_range"
    )


def test_exhausted_message_singular() -> None:
    with pytest.raises(PortsExhaustedError) as caught:
        choose_free_ports(PortRange(10000, 10001), {10000, 10001}, 1, key="jrm.metrics_port_range")
    assert str(caught.value).startswith(
        "port range 10000-10001 (jrm.metrics_port_range) has 0 free ports but 1 is needed (2 of 2 in use); "
    )


@pytest.mark.parametrize(("count", "expected"), [(0, "0 ports"), (1, "1 port"), (2, "2 ports")])
def test_format_count(count: int, expected: str) -> None:
    assert format_count(count, "port") == expected


def test_negative_count_rejected() -> None:
    with pytest.raises(ValueError, match="count must be >= 0"):
        choose_free_ports(PortRange(10000, 10002), set(), -1)
