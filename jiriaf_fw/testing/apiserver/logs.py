"""The `pods/log` subresource: proxy to the kubelet of the pod's node, as kube-apiserver does.

The request goes to `https://<node address>:<status.daemonEndpoints.kubeletEndpoint.Port>/containerLogs/
<namespace>/<pod>/<container>` with the log options as query parameters. The node address is chosen in
kube-apiserver's default `--kubelet-preferred-address-types` order (Hostname, InternalDNS, InternalIP,
ExternalDNS, ExternalIP), and the kubelet's serving certificate is not verified, which is kube-apiserver's
behaviour when it is started without `--kubelet-certificate-authority`. The double sends no client
certificate. A pod that is not bound to a node gives an empty 200 response, as in kube-apiserver.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from .errors import FieldError, StatusError, bad_request, not_found
from .resources import NODES
from .store import Store

logger = logging.getLogger(__name__)

ADDRESS_PREFERENCE = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
DEFAULT_KUBELET_PORT = 10250
_FLAG_OPTIONS = ("follow", "previous", "timestamps")
_NUMBER_OPTIONS = ("sinceSeconds", "tailLines", "limitBytes")


def choose_container(pod: dict[str, Any], requested: str) -> str:
    """Return the container to read, with the 400 errors kube-apiserver gives for a missing or wrong name."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    containers = [c.get("name") for c in spec.get("containers") or []]
    init = [c.get("name") for c in spec.get("initContainers") or []]
    ephemeral = [c.get("name") for c in spec.get("ephemeralContainers") or []]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        if ephemeral:
            message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
        raise bad_request(message)
    if requested not in containers + init + ephemeral:
        raise bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def _log_query(query: Any) -> dict[str, str]:
    options: dict[str, str] = {}
    errors: list[FieldError] = []
    for flag in _FLAG_OPTIONS:
        if query.get(flag) in ("true", "1", "True"):
            options[flag] = "true"
    for number_option in _NUMBER_OPTIONS:
        value = query.get(number_option)
        if value in (None, ""):
            continue
        try:
            number = int(value)
        except ValueError as error:
            raise bad_request(f"invalid {number_option} {value!r}: must be an integer") from error
        if number_option == "tailLines" and number < 0:
            errors.append(FieldError(number_option, "Invalid", number, "must be greater than or equal to 0"))
        elif number_option != "tailLines" and number < 1:
            errors.append(FieldError(number_option, "Invalid", number, "must be greater than 0"))
        options[number_option] = str(number)
    if query.get("sinceTime"):
        options["sinceTime"] = query["sinceTime"]
    if errors:
        summary = "; ".join(str(e) for e in errors)
        raise StatusError(422, "Invalid", f'PodLogOptions "" is invalid: {summary}')
    return options


def kubelet_address(node: dict[str, Any]) -> tuple[str, int]:
    status = node.get("status") or {}
    addresses = status.get("addresses") or []
    for address_type in ADDRESS_PREFERENCE:
        for address in addresses:
            if address.get("type") == address_type and address.get("address"):
                port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
                return address["address"], port if port > 0 else DEFAULT_KUBELET_PORT
    known = ", ".join(f"{{{a.get('type')} {a.get('address')}}}" for a in addresses)
    raise StatusError(500, "", f"no preferred addresses found; known addresses: [{known}]")


def _upstream_error(status: int, body: str, pod_name: str) -> StatusError:
    """Map a kubelet error as kube-apiserver's `GenericHttpResponseChecker` does."""
    if status == 500:
        return StatusError(500, "InternalError", f"Internal error occurred: {body}", {"causes": [{"message": body}]})
    if status == 400:
        return bad_request(body)
    message = {404: "the server could not find the requested resource"}.get(
        status, f"the server responded with the status code {status} but did not return more information"
    )
    reason = "NotFound" if status == 404 else ""
    details: dict[str, Any] = {"name": pod_name, "kind": "pods/log"}
    if body:
        details["causes"] = [{"reason": "UnexpectedServerResponse", "message": body}]
    return StatusError(status, reason, f"{message} ( pods/log {pod_name})", details)


class LogProxy:
    """Serve `GET pods/<name>/log` by streaming the kubelet's `containerLogs` response."""

    def __init__(self, store: Store, connect_timeout_s: float = 10.0) -> None:
        self._store = store
        self._connect_timeout_s = connect_timeout_s

    async def __call__(self, request: web.Request, pod: dict[str, Any]) -> web.StreamResponse:
        container = choose_container(pod, request.query.get("container", ""))
        options = _log_query(request.query)
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return web.Response(status=200, body=b"", content_type="text/plain")
        node = self._store.get(NODES, "", node_name)
        if node is None:
            raise not_found(NODES, node_name)
        host, port = kubelet_address(node)
        metadata = pod["metadata"]
        url = f"https://{_host_for_url(host)}:{port}/containerLogs/{metadata['namespace']}/{metadata['name']}/{container}"
        if options:
            url += "?" + urlencode(options)
        return await self._stream(request, url, metadata["name"])

    async def _stream(self, request: web.Request, url: str, pod_name: str) -> web.StreamResponse:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                upstream = await session.get(url, ssl=False)
            except aiohttp.ClientError as error:
                logger.info("log proxy for pod %s could not reach %s: %s", pod_name, url, error)
                raise StatusError(500, "", f'Get "{url}": {error}') from error
            async with upstream:
                if not 200 <= upstream.status <= 206:
                    body = (await upstream.content.read(4096)).decode(errors="replace")
                    raise _upstream_error(upstream.status, body, pod_name)
                response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
                response.enable_chunked_encoding()
                await response.prepare(request)
                try:
                    async for chunk in upstream.content.iter_any():
                        await response.write(chunk)
                except aiohttp.ClientError as error:
                    logger.info("log stream of pod %s from %s ended: %s", pod_name, url, error)
                await response.write_eof()
                return response


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host



