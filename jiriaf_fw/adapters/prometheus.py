"""Instant queries against the Prometheus HTTP API (`GET /api/v1/query`), with the standard library only.

`PrometheusClient.query` returns every sample of an instant vector or scalar result, and
`PrometheusClient.query_value` returns the single finite sample that a control loop can act on. Each failure
leaves as a `PrometheusError` subclass whose message is one line naming the query and the server, with the
urllib, socket or JSON exception chained.

Response format (Prometheus 2.x, https://prometheus.io/docs/prometheus/latest/querying/api/): a JSON object
`{"status": "success" | "error", "data": {"resultType": ..., "result": ...}, "errorType", "error",
"warnings"}`. Sample values are strings so that "NaN", "+Inf" and "-Inf" survive JSON.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jiriaf_fw.core.errors import JiriafError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
"""Seconds one HTTP request may take, also sent to Prometheus as the query's evaluation timeout."""

MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""Largest response body read. A query matching thousands of series is a mistake in a control loop."""

_QUERY_PATH = "api/v1/query"


class PrometheusError(JiriafError):
    """A Prometheus query failed or returned something a control loop cannot use."""


class PrometheusUrlError(PrometheusError):
    """The Prometheus base URL is not an http(s) URL of a server."""

    exit_code = 2


class PrometheusUnavailableError(PrometheusError):
    """The server could not be reached, timed out, or returned a 5xx status without an API error body."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query (`status: error`), for example because the PromQL is invalid."""

    def __init__(self, message: str, *, error_type: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status_code = status_code


class PrometheusResponseError(PrometheusError):
    """The response is not the JSON document the Prometheus HTTP API defines."""


class PrometheusEmptyResultError(PrometheusError):
    """The query matched no series at the evaluation time."""


class PrometheusValueError(PrometheusError):
    """The result cannot be read as one number: several series, a range vector, a string, NaN or infinity."""


@dataclass(frozen=True)
class Sample:
    """One sample of an instant query result: series labels, evaluation time (Unix seconds) and value."""

    labels: Mapping[str, str] = field(default_factory=dict)
    timestamp: float = 0.0
    value: float = math.nan


def one_line(text: str) -> str:
    """Collapse whitespace and newlines of a server message so it fits in a one-line error."""
    return " ".join(text.split())


def validate_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise `PrometheusUrlError` if it is no http(s) server URL.

    Credentials in the URL are rejected, so no error message or log line can print them.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise PrometheusUrlError(f"invalid Prometheus URL {url!r}: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PrometheusUrlError(f"invalid Prometheus URL {url!r}: expected http://HOST:PORT or https://HOST:PORT")
    if parts.username is not None or parts.password is not None:
        raise PrometheusUrlError("invalid Prometheus URL: credentials in the URL are not supported; "
                                 "put an authenticating proxy on the loopback interface instead")
    if parts.query or parts.fragment:
        raise PrometheusUrlError(f"invalid Prometheus URL {url!r}: remove the query string and fragment")
    if port == 0:
        raise PrometheusUrlError(f"invalid Prometheus URL {url!r}: port 0")
    return url.rstrip("/")


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _parse_value(pair: Any, *, query: str) -> tuple[float, float]:
    """Read a `[<unix time>, "<value>"]` pair; the value may be NaN or ±Inf here."""
    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
        raise PrometheusResponseError(f"query {query!r}: malformed sample {pair!r}, expected [time, \"value\"]")
    try:
        return float(pair[0]), float(pair[1])
    except (TypeError, ValueError) as error:
        raise PrometheusResponseError(f"query {query!r}: malformed sample {pair!r}: {error}") from error


def _parse_vector(result: Any, *, query: str) -> list[Sample]:
    if not isinstance(result, list):
        raise PrometheusResponseError(f"query {query!r}: vector result is {type(result).__name__}, not a list")
    samples = []
    for item in result:
        if not isinstance(item, dict) or not isinstance(item.get("metric", {}), dict):
            raise PrometheusResponseError(f"query {query!r}: malformed vector element {item!r}")
        timestamp, value = _parse_value(item.get("value"), query=query)
        labels = {str(name): str(label) for name, label in item.get("metric", {}).items()}
        samples.append(Sample(labels=labels, timestamp=timestamp, value=value))
    return samples


def parse_query_response(payload: Any, *, query: str) -> list[Sample]:
    """Turn the decoded JSON of an instant query into samples.

    Returns one sample per series for a vector (possibly none) and one unlabelled sample for a scalar.
    Raises `PrometheusQueryError` for `status: error`, `PrometheusValueError` for matrix and string results,
    and `PrometheusResponseError` for anything that is not the documented format.
    """
    if not isinstance(payload, dict) or payload.get("status") not in ("success", "error"):
        raise PrometheusResponseError(f"query {query!r}: the response is not a Prometheus API document: "
                                      f"{one_line(repr(payload))[:200]}")
    if payload["status"] == "error":
        error_type = str(payload.get("errorType", "unknown"))
        message = one_line(str(payload.get("error", "no error message")))
        raise PrometheusQueryError(f"Prometheus rejected query {query!r} ({error_type}): {message}",
                                   error_type=error_type)
    for warning in payload.get("warnings") or ():
        logger.warning("Prometheus warns about query %r: %s", query, one_line(str(warning)))
    data = payload.get("data")
    if not isinstance(data, dict):
        raise PrometheusResponseError(f"query {query!r}: the response has no data object")
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "vector":
        return _parse_vector(result, query=query)
    if result_type == "scalar":
        timestamp, value = _parse_value(result, query=query)
        return [Sample(labels={}, timestamp=timestamp, value=value)]
    if result_type in ("matrix", "string"):
        kind = "range vector" if result_type == "matrix" else "string"
        raise PrometheusValueError(f"query {query!r} returns a {kind}; an instant vector or scalar is required "
                                   "(drop the [range] selector)")
    raise PrometheusResponseError(f"query {query!r}: unknown resultType {result_type!r}")


def single_value(samples: list[Sample], *, query: str, source: str) -> Sample:
    """Return the only sample, raising when there is none, more than one, or its value is NaN or infinite."""
    if not samples:
        raise PrometheusEmptyResultError(
            f"query {query!r} returned no samples from {source}; check the metric name and labels, and that "
            "the target is up and scraped (Prometheus /targets page)")
    if len(samples) > 1:
        series = ", ".join(_format_labels(sample.labels) for sample in samples[:3])
        more = ", ..." if len(samples) > 3 else ""
        raise PrometheusValueError(
            f"query {query!r} returned {len(samples)} series from {source} ({series}{more}); "
            "narrow the label selector or aggregate with sum(), max() or avg()")
    sample = samples[0]
    if not math.isfinite(sample.value):
        raise PrometheusValueError(
            f"query {query!r} returned {sample.value} from {source}; a finite number is required "
            "(a rate over too short a range, or a division by zero, gives NaN or Inf)")
    return sample


def _format_labels(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{name}="{value}"' for name, value in sorted(labels.items())) + "}"


class PrometheusClient:
    """A client of one Prometheus server's instant-query API. Every call is one blocking HTTP request.

    Requests to a loopback address never go through an HTTP proxy from the environment, because a proxy
    cannot reach this machine's loopback interface. Other hosts follow the usual `*_proxy` variables.
    """

    def __init__(self, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not timeout_s > 0:
            raise PrometheusUrlError(f"invalid Prometheus request timeout {timeout_s!r} s: must be positive")
        self._base_url = validate_base_url(base_url)
        self._timeout_s = timeout_s
        hostname = urllib.parse.urlsplit(self._base_url).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(hostname) else []
        self._opener = urllib.request.build_opener(*handlers)

    @property
    def base_url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self._base_url

    def query(self, promql: str, *, at: float | None = None) -> list[Sample]:
        """Evaluate `promql` at Unix time `at` (default: the server's current time) and return its samples.

        Raises `PrometheusQueryError` when the server rejects the query, `PrometheusUnavailableError` when it
        cannot be reached or fails, and `PrometheusResponseError` or `PrometheusValueError` for results that are
        not an instant vector or scalar.
        """
        if not promql.strip():
            raise PrometheusQueryError("empty PromQL query")
        params = {"query": promql, "timeout": f"{self._timeout_s:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self._base_url}/{_QUERY_PATH}?{urllib.parse.urlencode(params)}"
        logger.debug("GET %s", url)
        payload = self._get_json(url, query=promql)
        return parse_query_response(payload, query=promql)

    def query_value(self, promql: str, *, at: float | None = None) -> Sample:
        """Evaluate `promql` and return its single finite sample; see `single_value` for what raises."""
        return single_value(self.query(promql, at=at), query=promql, source=f"Prometheus at {self._base_url}")

    def _get_json(self, url: str, *, query: str) -> Any:
        request = urllib.request.Request(url, headers={"Accept": "application/json"}, method="GET")
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as error:
            raise self._http_error(error, query=query) from error
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise PrometheusUnavailableError(
                f"Prometheus at {self._base_url} did not respond to query {query!r}: {one_line(str(reason))}; "
                "check that the server runs and the URL is right") from error
        if len(body) > MAX_RESPONSE_BYTES:
            raise PrometheusValueError(f"query {query!r}: the response from {self._base_url} is larger than "
                                       f"{MAX_RESPONSE_BYTES} bytes; narrow the query")
        return self._decode(body, query=query)

    def _decode(self, body: bytes, *, query: str) -> Any:
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PrometheusResponseError(
                f"query {query!r}: {self._base_url} did not return JSON ({error}); is it a Prometheus server?"
            ) from error

    def _http_error(self, error: urllib.error.HTTPError, *, query: str) -> PrometheusError:
        """Map an HTTP error status to an exception, using the API's error body when there is one."""
        try:
            payload = json.loads(error.read(MAX_RESPONSE_BYTES))
        except (OSError, ValueError):
            payload = None
        if isinstance(payload, dict) and payload.get("status") == "error":
            error_type = str(payload.get("errorType", "unknown"))
            message = one_line(str(payload.get("error", "no error message")))
            return PrometheusQueryError(
                f"Prometheus at {self._base_url} rejected query {query!r} "
                f"(HTTP {error.code}, {error_type}): {message}", error_type=error_type, status_code=error.code)
        if error.code >= 500:
            return PrometheusUnavailableError(
                f"Prometheus at {self._base_url} failed on query {query!r}: HTTP {error.code} {error.reason}")
        return PrometheusQueryError(
            f"{self._base_url}/{_QUERY_PATH} rejected query {query!r}: HTTP {error.code} {error.reason}; "
            "is the URL the Prometheus server's base URL?", status_code=error.code)
