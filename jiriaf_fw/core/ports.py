"""Port ranges and the choice of free ports in them.

Pure arithmetic: the caller passes the ports already in use.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from jiriaf_fw.core.errors import PortRangeError, PortsExhaustedError

logger = logging.getLogger(__name__)

MIN_UNPRIVILEGED_PORT = 1024
MAX_PORT = 65535

_RANGE_TEXT = re.compile(r"\s*(\d+)\s*-\s*(\d+)\s*")


@dataclass(frozen=True)
class PortRange:
    """An inclusive range of unprivileged TCP ports, written `first-last` (for example `10000-19999`)."""

    first: int
    last: int

    def __post_init__(self) -> None:
        for port in (self.first, self.last):
            if isinstance(port, bool) or not isinstance(port, int):
                raise PortRangeError(
                    f"invalid port range {self.first!r}-{self.last!r}: ports must be integers"
                )
        if not MIN_UNPRIVILEGED_PORT <= self.first <= self.last <= MAX_PORT:
            raise PortRangeError(
                f"invalid port range {self.first}-{self.last}: expected first <= last, both within "
                f"{MIN_UNPRIVILEGED_PORT}-{MAX_PORT} "
                f"(a user cannot listen on ports below {MIN_UNPRIVILEGED_PORT})"
            )

    @classmethod
    def parse(cls, value: str | Sequence[int] | PortRange) -> PortRange:
        """Build a range from `"10000-19999"`, `[10000, 19999]` or another PortRange.

        Raises PortRangeError naming the value.
        """
        if isinstance(value, PortRange):
            return value
        if isinstance(value, str):
            match = _RANGE_TEXT.fullmatch(value)
            if match is None:
                raise PortRangeError(
                    f"invalid port range {value!r}: expected 'first-last', e.g. '10000-19999'"
                )
            return cls(int(match.group(1)), int(match.group(2)))
        if isinstance(value, Sequence) and len(value) == 2:
            return cls(value[0], value[1])
        raise PortRangeError(
            f"invalid port range {value!r}: expected 'first-last' or a list [first, last], e.g. '10000-19999'"
        )

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first, self.last + 1))

    def overlaps(self, other: PortRange) -> bool:
        """True when the two ranges share at least one port."""
        return self.first <= other.last and other.first <= self.last


def format_count(count: int, singular: str, plural: str | None = None) -> str:
    """Return "1 port" or "3 ports": `count` and the noun in the matching number (default plural: `singular`+s)."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def choose_free_ports(
    port_range: PortRange, used: AbstractSet[int], count: int, *, key: str = "jrm.*_port_range"
) -> list[int]:
    """Return the `count` lowest ports of `port_range` that are not in `used`, in ascending order.

    `key` names the config key of the range in the error message. Raises PortsExhaustedError when fewer
    than `count` ports are free, and ValueError for a negative `count`.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    chosen: list[int] = []
    for port in port_range:
        if len(chosen) == count:
            break
        if port not in used:
            chosen.append(port)
    if len(chosen) < count:
        in_use = sum(1 for port in used if port in port_range)
        free = format_count(len(port_range) - in_use, "free port")
        verb = "is" if count == 1 else "are"
        raise PortsExhaustedError(
            f"port range {port_range} ({key}) has {free} but {count} {verb} "
            f"needed ({in_use} of {len(port_range)} in use); delete pilots you no longer need with "
            f"`jiriaf-fw delete_wf` or widen the range in {key}"
        )
    logger.debug("chose ports %s from %s", chosen, port_range)
    return chosen
