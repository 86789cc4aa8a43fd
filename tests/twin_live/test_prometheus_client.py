"""The Prometheus HTTP API client: response parsing as tables, and instant queries against a real server."""

from __future__ import annotations

import math
from typing import Any

import pytest

from jiriaf_fw.adapters.prometheus import (
    PrometheusClient,
    PrometheusEmptyResultError,
    PrometheusQueryError,
    PrometheusResponseError,
    PrometheusUnavailableError,
    PrometheusUrlError,
    PrometheusValueError,
    Sample,
    parse_query_response,
    single_value,
    validate_base_url,
)

from .conftest import PrometheusServer
from .helpers import free_port, wait_for


def vector(*values: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    result = [{"metric": labels or {"__name__": "q"}, "value": [1700000000.5, value]} for value in values]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.mark.parametrize(("payload", "expected"), [
    (vector("3.5"), [Sample({"__name__": "q"}, 1700000000.5, 3.5)]),
    (vector(), []),
    ({"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "2"]}}, [Sample({}, 1.7e9, 2.0)]),
    (vector("1", "2", labels={"job": "queue"}), [Sample({"job": "queue"}, 1700000000.5, 1.0),
                                                 Sample({"job": "queue"}, 1700000000.5, 2.0)]),
])
def test_parse_query_response(payload: dict[str, Any], expected: list[Sample]) -> None:
    assert parse_query_response(payload, query="q") == expected


def test_parse_keeps_nan_for_caller() -> None:
    [sample] = parse_query_response(vector("NaN"), query="q")
    assert math.isnan(sample.value)


@pytest.mark.parametrize(("payload", "error", "message"), [
    ({"status": "error", "errorType": "bad_data", "error": "parse error:\n  unexpected end"}, PrometheusQueryError,
     "Prometheus rejected query 'q' (bad_data): parse error: unexpected end"),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}}, PrometheusValueError,
     "query 'q' returns a range vector"),
    ({"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}, PrometheusValueError,
     "query 'q' returns a string"),
    ({"status": "success", "data": {"resultType": "histogram", "result": []}}, PrometheusResponseError,
     "unknown resultType 'histogram'"),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, 2]}]}},
     PrometheusResponseError, "malformed sample [1, 2]"),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "abc"]}]}},
     PrometheusResponseError, "malformed sample [1, 'abc']"),
    ({"status": "success"}, PrometheusResponseError, "the response has no data object"),
    ([1, 2], PrometheusResponseError, "not a Prometheus API document"),
])
def test_parse_query_response_rejects(payload: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        parse_query_response(payload, query="q")
    assert message in str(caught.value)


@pytest.mark.parametrize(("samples", "message"), [
    ([], "query 'q' returned no samples from S"),
    ([Sample({"a": "1"}, 0, 1.0), Sample({"a": "2"}, 0, 2.0)], 'returned 2 series from S ({a="1"}, {a="2"})'),
    ([Sample({}, 0, math.nan)], "query 'q' returned nan from S"),
    ([Sample({}, 0, math.inf)], "query 'q' returned inf from S"),
])
def test_single_value_rejects(samples: list[Sample], message: str) -> None:
    with pytest.raises((PrometheusEmptyResultError, PrometheusValueError)) as caught:
        single_value(samples, query="q", source="S")
    assert message in str(caught.value)


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    ("http://127.0.0.1:9090/", "http://127.0.0.1:9090"),
    ("https://prometheus.example:443/prefix/", "https://prometheus.example:443/prefix"),
])
def test_validate_base_url(url: str, expected: str) -> None:
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("127.0.0.1:9090", "expected http://HOST:PORT"),
    ("ftp://127.0.0.1", "expected http://HOST:PORT"),
    ("http://", "expected http://HOST:PORT"),
    ("http://127.0.0.1:99999", "invalid Prometheus URL 'http://127.0.0.1:99999'"),
    ("http://127.0.0.1:9090/?query=up", "remove the query string"),
    ("http://admin:secret@127.0.0.1:9090", "credentials in the URL are not supported"),
])
def test_validate_base_url_rejects(url: str, message: str) -> None:
    with pytest.raises(PrometheusUrlError) as caught:
        validate_base_url(url)
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)


def test_unreachable_server() -> None:
    port = free_port()
    client = PrometheusClient(f"http://127.0.0.1:{port}", timeout_s=5)
    with pytest.raises(PrometheusUnavailableError) as caught:
        client.query("up")
    assert f"Prometheus at http://127.0.0.1:{port} did not respond to query 'up'" in str(caught.value)
    assert caught.value.__cause__ is not None


@pytest.fixture
def client(prometheus: PrometheusServer) -> PrometheusClient:
    return PrometheusClient(prometheus.url, timeout_s=10)


@pytest.fixture
def steady_queue(prometheus: PrometheusServer, steady_exporter: str, client: PrometheusClient) -> str:
    """PromQL of the steady exporter's queue length, once Prometheus has scraped it."""
    query = prometheus.selector("stream_queue_length", "steady")
    wait_for(lambda: client.query(query), timeout_s=30, what=f"Prometheus to scrape {steady_exporter}")
    return query


def test_query_value_reads_exporter(client: PrometheusClient, steady_queue: str, steady_exporter: str) -> None:
    sample = client.query_value(steady_queue)
    assert sample.labels["instance"] == steady_exporter
    assert sample.labels["job"] == "queue"
    assert 32.0 <= sample.value <= 241.0


def test_query_scalar(client: PrometheusClient) -> None:
    assert client.query_value("scalar(vector(6)) * 7").value == 42.0


def test_query_at_time(client: PrometheusClient, steady_queue: str) -> None:
    now = client.query_value(steady_queue)
    assert client.query_value(steady_queue, at=now.timestamp).timestamp == now.timestamp


def test_bad_promql_one_line_error(client: PrometheusClient, prometheus: PrometheusServer) -> None:
    with pytest.raises(PrometheusQueryError) as caught:
        client.query("rate(stream_queue_length[")
    message = str(caught.value)
    assert message.startswith(f"Prometheus at {prometheus.url} rejected query 'rate(stream_queue_length[' "
                              "(HTTP 400, bad_data): ")
    assert "\n" not in message
    assert caught.value.error_type == "bad_data"
    assert caught.value.status_code == 400


def test_empty_result_names_query(client: PrometheusClient, prometheus: PrometheusServer) -> None:
    with pytest.raises(PrometheusEmptyResultError) as caught:
        client.query_value('no_such_metric{job="queue"}')
    assert str(caught.value).startswith(
        f"query 'no_such_metric{{job=\"queue\"}}' returned no samples from Prometheus at {prometheus.url}")


def test_range_vector_rejected(client: PrometheusClient, steady_queue: str) -> None:
    with pytest.raises(PrometheusValueError, match="returns a range vector"):
        client.query(f"{steady_queue}[5s]")


def test_infinite_value_rejected(client: PrometheusClient, steady_queue: str) -> None:
    with pytest.raises(PrometheusValueError, match=r"returned inf from Prometheus"):
        client.query_value(f"{steady_queue} / 0")


def test_several_series_rejected(client: PrometheusClient, prometheus: PrometheusServer,
                                 steady_queue: str) -> None:
    query = f'{{__name__=~"stream_(queue_length|threads)", instance="{prometheus.instance("steady")}"}}'
    with pytest.raises(PrometheusValueError, match="returned 2 series"):
        client.query_value(query)


def test_wrong_base_path(prometheus: PrometheusServer) -> None:
    client = PrometheusClient(f"{prometheus.url}/prefix")
    with pytest.raises(PrometheusQueryError, match="HTTP 404 Not Found; is the URL the Prometheus server's base URL"):
        client.query("up")


def test_exporter_is_no_prometheus(prometheus: PrometheusServer, steady_exporter: str) -> None:
    client = PrometheusClient(f"http://{steady_exporter}")
    with pytest.raises(PrometheusResponseError, match="did not return JSON"):
        client.query("up")
