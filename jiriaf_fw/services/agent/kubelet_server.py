"""The kubelet HTTPS API: /healthz, /pods, /containerLogs, /stats/summary and /metrics/resource.

Like the original agent, it authenticates no one: metrics-server and Prometheus scrape with insecure TLS,
and a client certificate is neither requested nor checked. The serving certificate comes from
`APISERVER_CERT_LOCATION`/`APISERVER_KEY_LOCATION`, or is generated at start-up (self-signed, with the
pod IP and node name as subject alternative names).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from jiriaf_fw.core.errors import JiriafError
from jiriaf_fw.services.agent.containerlogs import LogQueryError, parse_log_query, send_logs
from jiriaf_fw.services.agent.pods import PodReconciler
from jiriaf_fw.services.agent.runtime import PodRuntime
from jiriaf_fw.services.agent.stats import UsageSampler, prometheus_text, summary

logger = logging.getLogger(__name__)


class KubeletServerError(JiriafError):
    """The kubelet API cannot start: the port is taken or the certificate is unusable."""


def self_signed_pem(pod_ip: str, nodename: str, now: datetime) -> tuple[bytes, bytes]:
    """Generate an EC P-256 key and a one-year self-signed certificate for `nodename` and `pod_ip`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, nodename)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address(pod_ip)),
                    x509.DNSName(nodename),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_ssl_context(cert: Path | None, key: Path | None, pod_ip: str, nodename: str) -> ssl.SSLContext:
    """Build the TLS context from the given files, or from a fresh self-signed pair when both are None.

    Raises `KubeletServerError` naming the files when they cannot be loaded.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_NONE
    try:
        if cert is not None and key is not None:
            context.load_cert_chain(cert, key)
            return context
        cert_pem, key_pem = self_signed_pem(pod_ip, nodename, datetime.now(UTC))
        # The ssl module loads keys only from files; the private directory is removed right after.
        with tempfile.TemporaryDirectory(prefix="jiriaf-tls-") as directory:
            cert_file, key_file = Path(directory) / "tls.crt", Path(directory) / "tls.key"
            cert_file.write_bytes(cert_pem)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key_pem)
            context.load_cert_chain(cert_file, key_file)
        logger.info("serving the kubelet API with a self-signed certificate for %s and %s", nodename, pod_ip)
        return context
    except (OSError, ssl.SSLError) as exc:
        raise KubeletServerError(
            f"cannot load the kubelet serving certificate {cert} and key {key} "
            f"(APISERVER_CERT_LOCATION, APISERVER_KEY_LOCATION): {exc}"
        ) from exc


class KubeletServer:
    """Serves the kubelet API for one node on `bind_address:port` (all interfaces when None)."""

    def __init__(
        self,
        *,
        nodename: str,
        reconciler: PodReconciler,
        runtime: PodRuntime,
        sampler: UsageSampler,
        ssl_context: ssl.SSLContext,
        bind_address: str | None,
        port: int,
    ) -> None:
        self._nodename = nodename
        self._reconciler = reconciler
        self._runtime = runtime
        self._sampler = sampler
        self._ssl = ssl_context
        self._bind = bind_address
        self.port = port
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/pods", self._pods)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        app.router.add_get("/stats/summary", self._summary)
        app.router.add_get("/metrics/resource", self._metrics)
        return app

    async def start(self) -> None:
        """Bind the port and start serving. Raises `KubeletServerError` when the port cannot be bound."""
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._bind, self.port, ssl_context=self._ssl)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise KubeletServerError(
                f"cannot listen on {self._bind or '*'}:{self.port} (KUBELET_PORT): {exc.strerror or exc}"
            ) from exc
        logger.info("kubelet API listening on https://%s:%d", self._bind or "*", self.port)

    async def run(self) -> None:
        """Keep serving until cancelled, then close the listener (root task)."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop accepting connections and close open ones."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _pods(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": self._reconciler.pods()}
        )

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        record = self._reconciler.find(namespace, pod)
        if record is None:
            raise web.HTTPNotFound(text=f'pod "{namespace}/{pod}" not found on node {self._nodename}\n')
        names = [c["name"] for c in record.pod.get("spec", {}).get("containers", [])]
        if container not in names:
            raise web.HTTPBadRequest(text=f'container "{container}" is not valid for pod "{pod}"\n')
        try:
            query = parse_log_query(request.query)
        except LogQueryError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from exc
        if query.previous:
            raise web.HTTPBadRequest(
                text=f'previous terminated container "{container}" in pod "{pod}" not found\n'
            )
        if not record.started:
            raise web.HTTPBadRequest(text=f'container "{container}" in pod "{pod}" is waiting to start\n')
        paths = [
            self._runtime.log_path(record.uid, container),
            self._runtime.stderr_path(record.uid, container),
        ]

        def running() -> bool:
            states = {s.name: s.state for s in self._runtime.states(record.uid)}
            return states.get(container) in ("running", "waiting")

        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        await send_logs(paths, query, response.write, running)
        await response.write_eof()
        return response

    async def _summary(self, request: web.Request) -> web.Response:
        return web.json_response(summary(self._sampler.snapshot(), self._nodename))

    async def _metrics(self, request: web.Request) -> web.Response:
        body = prometheus_text(self._sampler.snapshot(), self._nodename)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
