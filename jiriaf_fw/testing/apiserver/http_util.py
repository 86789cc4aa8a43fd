"""Request decoding and response encoding shared by the handlers."""

from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from .errors import StatusError, bad_request, not_acceptable

JSON = "application/json"


def json_response(body: Any, status: int = 200, content_type: str = JSON, warnings: list[str] | None = None) -> web.Response:
    """Encode `body` as kube-apiserver does; the content type carries no charset (lightkube compares it exactly)."""
    response = web.Response(
        body=json.dumps(body, separators=(",", ":")).encode() + b"\n",
        status=status,
        headers={"Content-Type": content_type, "Cache-Control": "no-cache, private"},
    )
    for warning in warnings or []:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def status_response(error: StatusError) -> web.Response:
    return json_response(error.status, error.code)


async def read_body(request: web.Request, allow_empty: bool = False) -> Any:
    """Decode a JSON or YAML request body; raise 400 for a malformed one."""
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return None
        raise bad_request("the request body is empty; expected a JSON object")
    content_type = request.content_type or JSON
    try:
        if "yaml" in content_type:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as error:
        raise bad_request(f"couldn't get version/kind; json parse error: {error}") from error



def negotiate(accept: str | None) -> str:
    """Return the representation to send: `table`, `metadata` (PartialObjectMetadata) or `json`.

    Raise 406 when the client accepts none of them (for example protobuf only).
    """
    if not accept:
        return "json"
    for entry in accept.split(","):
        media, *params = [part.strip() for part in entry.split(";")]
        options = dict(p.split("=", 1) for p in params if "=" in p)
        if media not in (JSON, "*/*", "application/*"):
            continue
        kind = options.get("as")
        if kind is None:
            return "json"
        if options.get("g") == "meta.k8s.io" and options.get("v") in ("v1", "v1beta1"):
            if kind == "Table":
                return "table"
            if kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                return "metadata"
    raise not_acceptable(accept)


def table_content_type() -> str:
    return "application/json;as=Table;v=v1;g=meta.k8s.io"
