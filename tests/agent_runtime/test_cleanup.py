"""The cleanup run after an agent exits: left-over pod processes of that node stop, others keep running."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from jiriaf_fw.services.agent.cleanup import stop_left_over_pods
from jiriaf_fw.services.agent.runtime import PodRuntime

from .helpers import make_pod


async def test_cleanup_stops_only_this_node(make_runtime: Callable[..., PodRuntime], home: Path,
                                            new_uid: Callable[[], str]) -> None:
    mine, other = make_runtime("jrm-node-a"), make_runtime("jrm-node-b")
    orphan, neighbour = new_uid(), new_uid()
    mine.start(make_pod(orphan, [{"name": "main", "command": ["sleep", "1000"]}], name="orphan"), {}, {})
    other.start(make_pod(neighbour, [{"name": "main", "command": ["sleep", "1000"]}], name="neighbour"), {}, {})

    stopped = await stop_left_over_pods(home, "jrm-node-a", grace_s=5)

    assert stopped == [orphan]
    assert mine.states(orphan)[0].state == "terminated"
    assert other.states(neighbour)[0].state == "running"
    await other.stop(neighbour, grace_s=5)


def test_cleanup_command_with_nothing_left(home: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "jiriaf_fw.services.agent.cleanup", "--nodename", "jrm-none"],
                            env={"HOME": str(home), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "stopped 0 left-over pod(s)" in result.stderr
