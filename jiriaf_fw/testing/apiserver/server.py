"""`ApiServerDouble`: the aiohttp server, its store, and the binder, started and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

from aiohttp import web

from .binder import Binder
from .deletion import Deleter
from .errors import ApiServerDoubleError
from .handlers import Handlers
from .kubeconfig_file import KUBECONFIG_NAME, write_kubeconfig_file
from .logs import LogProxy
from .registry import Registry
from .resources import NAMESPACES
from .store import Store
from .watchstream import WatchSettings

logger = logging.getLogger(__name__)

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's request size limit


class ApiServerDouble:
    """A stand-in for kube-apiserver on `http://<host>:<port>` (see the package docstring for its scope).

    Use it as `async with ApiServerDouble() as api:` on a running event loop, or as
    `with ApiServerDouble.running_in_thread() as api:` from synchronous code.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        history_size: int = 1000,
        binder: bool = True,
        root_ca_publisher: bool = True,
        clock: Callable[[], float] = time.time,
        watch_settings: WatchSettings | None = None,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.store = Store(history_size=history_size)
        self.registry = Registry(self.store, clock, publish_root_ca=root_ca_publisher)
        self.deleter = Deleter(self.registry)
        self.watch_settings = watch_settings or WatchSettings()
        self._handlers = Handlers(self.registry, self.deleter, self.watch_settings, LogProxy(self.store))
        self._binder = Binder(self.registry, self.deleter) if binder else None
        self._runner: web.AppRunner | None = None
        self._shutdown_timeout_s = shutdown_timeout_s
        for name in INITIAL_NAMESPACES:
            self.registry.create(NAMESPACES, "", {"metadata": {"name": name}})

    @property
    def url(self) -> str:
        if self._runner is None:
            raise ApiServerDoubleError("the API-server double is not running; start it before reading its url")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind the port and start serving; raise `ApiServerDoubleError` when the port cannot be bound."""
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handlers.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._shutdown_timeout_s)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise ApiServerDoubleError(f"cannot listen on {self.host}:{self.port}: {error}") from error
        self._runner = runner
        self.port = runner.addresses[0][1]
        if self._binder is not None:
            self._binder.start()
        logger.info("API-server double listening on %s", self.url)

    async def stop(self) -> None:
        """Stop the binder, end open watches and close the server; safe to call twice."""
        if self._binder is not None:
            await self._binder.stop()
        self.watch_settings.hub.terminate_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            logger.info("API-server double on %s:%d stopped", self.host, self.port)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def kubeconfig(self) -> dict[str, Any]:
        """Return a kubeconfig document (cluster, user, context, current-context) for `url`."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": KUBECONFIG_NAME, "cluster": {"server": self.url}}],
            "users": [{"name": KUBECONFIG_NAME, "user": {}}],
            "contexts": [{"name": KUBECONFIG_NAME, "context": {
                "cluster": KUBECONFIG_NAME, "user": KUBECONFIG_NAME, "namespace": "default"}}],
            "current-context": KUBECONFIG_NAME,
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write `kubeconfig()` to `path` atomically with mode 0600; return the path.

        An existing file is replaced only if the double wrote it (its current-context and only cluster are
        `jiriaf-apiserver-double`), or with `overwrite=True`. Any other file raises KubeconfigExistsError.
        """
        return write_kubeconfig_file(self.kubeconfig(), path, overwrite=overwrite)

    @classmethod
    @contextlib.contextmanager
    def running_in_thread(cls, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> Iterator[ApiServerDouble]:
        """Run a double on its own event loop in a daemon thread for the duration of the `with` block."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []
        holder: list[ApiServerDouble] = []
        stop_requested = asyncio.Event()

        async def serve() -> None:
            try:
                api = cls(host, port, **kwargs)
                await api.start()
            except BaseException as error:  # noqa: BLE001  (re-raised in the caller's thread below)
                failure.append(error)
                ready.set()
                return
            holder.append(api)
            ready.set()
            try:
                await stop_requested.wait()
            finally:
                await api.stop()

        thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), name="apiserver-double",
                                  daemon=True)
        thread.start()
        ready.wait()
        if failure:
            thread.join()
            loop.close()
            raise failure[0]
        try:
            yield holder[0]
        finally:
            loop.call_soon_threadsafe(stop_requested.set)
            thread.join()
            loop.close()
