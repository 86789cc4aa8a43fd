"""Stop every pod process a node's agent left behind (`python -m jiriaf_fw.services.agent.cleanup`).

`node-setup.sh` runs this after the agent exits. A drained agent has stopped its pods already, so it
finds nothing. An agent killed with SIGKILL (or crashed) leaves its containers running, re-parented to
PID 1, where a Slurm using proctrack/linuxproc no longer tracks them. The records under
`$HOME/.jiriaf/agent/<nodename>/` say which process groups were this node's, so nothing else is touched.
The records themselves are kept, so the pods' exit codes stay readable.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from jiriaf_fw.services.agent.runtime import PodRuntime

logger = logging.getLogger(__name__)

DEFAULT_GRACE_S = 5.0


async def stop_left_over_pods(home: Path, nodename: str, grace_s: float) -> list[str]:
    """Stop the processes of every pod recorded for `nodename`; return the UIDs that had live containers."""
    runtime = PodRuntime(home=home, nodename=nodename, pod_ip="127.0.0.1", base_env={})
    stopped = []
    for uid in sorted(runtime.known_pod_uids()):
        if not any(state.state == "running" for state in runtime.states(uid)):
            continue
        logger.warning("stopping pod %s of node %s, left running by its agent", uid, nodename)
        await runtime.stop(uid, grace_s)
        stopped.append(uid)
    return stopped


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, stop the left-over pods, and return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m jiriaf_fw.services.agent.cleanup", description=__doc__)
    parser.add_argument("--nodename", default=os.environ.get("NODENAME"), help="node name (default: $NODENAME)")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, help="seconds between SIGTERM and SIGKILL")
    args = parser.parse_args(argv)
    if not args.nodename:
        parser.error("--nodename or $NODENAME is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopped = asyncio.run(stop_left_over_pods(Path.home(), args.nodename, args.grace))
    logger.info("node %s: stopped %d left-over pod(s)", args.nodename, len(stopped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
