"""Container logs for the kubelet `/containerLogs` endpoint, read from the runtime's stdout and stderr files.

The runtime keeps stdout and stderr in two files, so the output is stdout then stderr. Lines are not
interleaved in the order they were written. In follow mode, new data of each file is sent as it appears.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_CHUNK = 64 * 1024


class LogQueryError(ValueError):
    """A `/containerLogs` query parameter is invalid."""


@dataclass(frozen=True)
class LogQuery:
    """The `/containerLogs` options the agent honours."""

    tail_lines: int | None = None
    limit_bytes: int | None = None
    timestamps: bool = False
    follow: bool = False
    previous: bool = False


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        raise LogQueryError(f"invalid {name}={value!r}: expected true or false")
    return value in ("true", "1")


def _count(query: Mapping[str, str], name: str, minimum: int) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < minimum:
        raise LogQueryError(f"invalid {name}={value!r}: expected an integer >= {minimum}")
    return int(value)


def parse_log_query(query: Mapping[str, str]) -> LogQuery:
    """Read tailLines, limitBytes, timestamps, follow and previous; raise `LogQueryError` on a bad value."""
    return LogQuery(
        tail_lines=_count(query, "tailLines", 0),
        limit_bytes=_count(query, "limitBytes", 1),
        timestamps=_flag(query, "timestamps"),
        follow=_flag(query, "follow"),
        previous=_flag(query, "previous"),
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _last_lines_offset(path: Path, lines: int) -> tuple[int, int]:
    """Return (offset where the last `lines` lines of `path` start, number of lines found)."""
    size = _size(path)
    if lines == 0 or size == 0:
        return size, 0
    with path.open("rb") as handle:
        position = size
        found = 0
        # A final line without a newline still counts as a line.
        handle.seek(size - 1)
        skip_final_newline = handle.read(1) == b"\n"
        while position > 0:
            start = max(0, position - _CHUNK)
            handle.seek(start)
            block = handle.read(position - start)
            end = len(block) - 1 if skip_final_newline and position == size else len(block)
            index = block.rfind(b"\n", 0, end)
            while index != -1:
                found += 1
                if found == lines:
                    return start + index + 1, found
                index = block.rfind(b"\n", 0, index)
            position = start
    return 0, found + 1


def tail_offsets(paths: Sequence[Path], tail_lines: int | None) -> list[int]:
    """Return where to start reading each file so that together they give the last `tail_lines` lines."""
    if tail_lines is None:
        return [0] * len(paths)
    offsets = [_size(path) for path in paths]
    remaining = tail_lines
    for index in range(len(paths) - 1, -1, -1):
        if remaining <= 0:
            break
        offsets[index], found = _last_lines_offset(paths[index], remaining)
        remaining -= found
    return offsets


class _Writer:
    """Adds timestamps at line starts and stops at `limit_bytes`."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], query: LogQuery) -> None:
        self._send = send
        self._query = query
        self._sent = 0
        self.at_line_start: dict[Path, bool] = {}

    @property
    def full(self) -> bool:
        return self._query.limit_bytes is not None and self._sent >= self._query.limit_bytes

    async def write(self, path: Path, data: bytes, stamp: datetime) -> None:
        if self._query.timestamps:
            data = self._stamp(path, data, stamp)
        if self._query.limit_bytes is not None:
            data = data[: self._query.limit_bytes - self._sent]
        if data:
            self._sent += len(data)
            await self._send(data)

    def _stamp(self, path: Path, data: bytes, stamp: datetime) -> bytes:
        prefix = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z ").encode()
        out = bytearray()
        start_of_line = self.at_line_start.get(path, True)
        for line in data.splitlines(keepends=True):
            if start_of_line:
                out += prefix
            out += line
            start_of_line = line.endswith(b"\n")
        self.at_line_start[path] = start_of_line
        return bytes(out)


async def _copy_new(path: Path, position: int, writer: _Writer, stamp: datetime | None) -> int:
    size = _size(path)
    if size < position:
        position = 0  # truncated or replaced
    if size == position:
        return position
    when = stamp or datetime.fromtimestamp(os.path.getmtime(path), UTC)
    with path.open("rb") as handle:
        handle.seek(position)
        while position < size and not writer.full:
            block = handle.read(min(_CHUNK, size - position))
            if not block:
                break
            position += len(block)
            await writer.write(path, block, when)
    return position


async def send_logs(
    paths: Sequence[Path],
    query: LogQuery,
    send: Callable[[bytes], Awaitable[None]],
    is_running: Callable[[], bool],
    *,
    poll_s: float = 0.25,
) -> None:
    """Send the logs selected by `query` through `send`; with `follow`, keep sending until the container ends.

    NOTE: timestamps are best effort: the files carry none, so existing output is stamped with the file's
    modification time and followed output with the time it was read.
    """
    writer = _Writer(send, query)
    positions = tail_offsets(paths, query.tail_lines)
    for index, path in enumerate(paths):
        positions[index] = await _copy_new(path, positions[index], writer, None)
    while query.follow and not writer.full:
        running = is_running()
        moved = False
        for index, path in enumerate(paths):
            new_position = await _copy_new(path, positions[index], writer, datetime.now(UTC))
            moved |= new_position != positions[index]
            positions[index] = new_position
        if not running and not moved:
            return
        await asyncio.sleep(poll_s)
