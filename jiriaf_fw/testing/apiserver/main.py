"""Console entry point `jiriaf-apiserver-double` (also `python -m jiriaf_fw.testing.apiserver`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

from jiriaf_fw.core.errors import JiriafError

from .kubeconfig_file import KubeconfigExistsError, check_kubeconfig_replaceable
from .server import ApiServerDouble

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jiriaf-apiserver-double",
        description="Run the Kubernetes API-server double (a stand-in for kube-apiserver, plain HTTP).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free port (default: 0)")
    parser.add_argument("--kubeconfig", required=True, type=Path,
                        help="path of the kubeconfig file to write; an existing file is replaced only if the "
                             "double wrote it, unless --force is given")
    parser.add_argument("--force", action="store_true",
                        help="overwrite the --kubeconfig file even if it is not one the double wrote")
    parser.add_argument("--ready-file", type=Path,
                        help="file to write the server URL into once the server listens and the kubeconfig exists")
    parser.add_argument("--history-size", type=int, default=1000,
                        help="number of changes kept for watches to resume from (default: 1000)")
    parser.add_argument("--no-binder", action="store_true", help="do not assign pending pods to nodes")
    parser.add_argument("--log-level", default="INFO", help="logging level (default: INFO)")
    return parser


def _write_ready_file(path: Path, url: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as stream:
        stream.write(url + "\n")
    os.replace(temporary, path)


async def serve(args: argparse.Namespace) -> None:
    """Run the double until SIGTERM or SIGINT; then stop it and return.

    Raises KubeconfigExistsError before listening if `--kubeconfig` names a file the double did not write
    and `--force` is not given.
    """
    if not args.force:
        check_kubeconfig_replaceable(args.kubeconfig)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    api = ApiServerDouble(args.host, args.port, history_size=args.history_size, binder=not args.no_binder)
    await api.start()
    try:
        api.write_kubeconfig(args.kubeconfig, overwrite=args.force)
        print(f"listening on {api.url}", flush=True)
        if args.ready_file is not None:
            _write_ready_file(args.ready_file, api.url)
        await stop.wait()
        logger.info("stopping on signal")
    finally:
        await api.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except KubeconfigExistsError as error:
        print(f"jiriaf-apiserver-double: {error}; choose another --kubeconfig path or pass --force",
              file=sys.stderr)
        return error.exit_code
    except (JiriafError, OSError) as error:
        print(f"jiriaf-apiserver-double: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
