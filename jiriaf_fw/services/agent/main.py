"""Entry point of the JRM agent (`jiriaf-agent`, `python -m jiriaf_fw.services.agent`).

Flags keep the original agent's names (`--nodename`, `--kubeconfig`, `--provider mock`, `--klog.v`) so
existing launch scripts work; everything else comes from the environment (see `settings`).
Signals only request a stop: SIGTERM and SIGINT drain with reason AgentStopping, SIGUSR1 (sent early by
Slurm with `--signal`) drains with reason WalltimeExpired. A second signal changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.services.agent.agent import STOPPING, WALLTIME_EXPIRED, Agent
from jiriaf_fw.services.agent.settings import load_settings

logger = logging.getLogger(__name__)

_LOG_LEVELS = ("debug", "info", "warning", "error")


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="jiriaf-agent",
        description="Register this host as a Kubernetes Node and run the pods bound to it as process groups.",
    )
    parser.add_argument("--nodename", help="Node name (default: $NODENAME)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    parser.add_argument(
        "--provider",
        choices=["mock"],
        default="mock",
        help="accepted for compatibility with the original agent; only 'mock' exists",
    )
    parser.add_argument(
        "--klog.v",
        dest="klog_v",
        type=int,
        default=0,
        metavar="N",
        help="accepted for compatibility and ignored; use --log-level",
    )
    parser.add_argument(
        "--log-level", default="info", type=str.lower, choices=_LOG_LEVELS, help="log level (default: info)"
    )
    return parser


async def _run(agent: Agent) -> int:
    loop = asyncio.get_running_loop()
    handled = {signal.SIGTERM: STOPPING, signal.SIGINT: STOPPING, signal.SIGUSR1: WALLTIME_EXPIRED}
    for signum, reason in handled.items():
        loop.add_signal_handler(signum, agent.request_stop, reason)
    try:
        return await agent.run()
    except JiriafError as exc:
        logger.error("%s", exc)
        return exc.exit_code
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, read the settings, run the agent; return the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.log_level != "debug":
        # httpx2 logs every request at INFO: one line per Lease renewal and per status write.
        for name in ("httpx2", "httpcore2"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        settings = load_settings(os.environ, nodename=args.nodename, kubeconfig=args.kubeconfig)
    except JiriafError as exc:
        print(f"jiriaf-agent: {exc}", file=sys.stderr)
        return exc.exit_code
    return asyncio.run(_run(Agent(settings)))


if __name__ == "__main__":
    sys.exit(main())
