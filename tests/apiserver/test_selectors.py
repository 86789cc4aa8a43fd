"""Label and field selector parsing and matching."""

from __future__ import annotations

import pytest

from jiriaf_fw.testing.apiserver import StatusError
from jiriaf_fw.testing.apiserver.resources import CONFIGMAPS, NODES, PODS
from jiriaf_fw.testing.apiserver.selectors import (
    fields_match,
    labels_match,
    parse_field_selector,
    parse_label_selector,
    selectable_fields,
)

LABELS = {"app": "web", "tier": "front", "cores": "16"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("app in (web,api)", True),
        ("app in (api)", False),
        ("app notin (api)", True),
        ("missing notin (api)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("app=web,tier=back", False),
        ("app=web,tier in (front, back)", True),
        ("cores>8", True),
        ("cores<8", False),
        ("app>8", False),
        ("", True),
    ],
)
def test_label_selector(selector: str, matches: bool) -> None:
    assert labels_match(parse_label_selector(selector), LABELS) is matches


def test_label_selector_empty_value() -> None:
    assert labels_match(parse_label_selector("app="), {"app": ""})
    assert not labels_match(parse_label_selector("app="), {"app": "web"})


@pytest.mark.parametrize("selector", ["app in web", "a b", "app=web,", "bad/key/x=1", "app>x", "app=bad value!"])
def test_label_selector_errors(selector: str) -> None:
    with pytest.raises(StatusError) as caught:
        parse_label_selector(selector)
    assert caught.value.code == 400


def pod_object(**spec: object) -> dict:
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1", **spec},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("spec.nodeName=n1", True),
        ("spec.nodeName!=n1", False),
        ("status.phase=Running,metadata.namespace=ns", True),
        ("status.podIP=10.0.0.1", True),
        ("spec.hostNetwork=false", True),
        ("spec.restartPolicy=Always", False),
        ("status.nominatedNodeName=", True),
    ],
)
def test_pod_field_selector(selector: str, matches: bool) -> None:
    fields = selectable_fields(PODS, pod_object())
    assert fields_match(parse_field_selector(selector, PODS), fields) is matches


def test_unsupported_pod_field() -> None:
    with pytest.raises(StatusError) as caught:
        parse_field_selector("spec.containers=x", PODS)
    assert caught.value.code == 400
    assert caught.value.message == "field label not supported: spec.containers"


def test_node_fields() -> None:
    fields = selectable_fields(NODES, {"metadata": {"name": "n"}, "spec": {"unschedulable": True}})
    assert fields_match(parse_field_selector("spec.unschedulable=true", NODES), fields)
    with pytest.raises(StatusError):
        parse_field_selector("metadata.namespace=x", NODES)


def test_default_field_labels() -> None:
    assert parse_field_selector("metadata.name=x", CONFIGMAPS)[0].value == "x"
    with pytest.raises(StatusError) as caught:
        parse_field_selector("data.key=x", CONFIGMAPS)
    assert caught.value.message == '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"'


def test_escaped_field_values() -> None:
    term = parse_field_selector(r"metadata.name=a\,b", CONFIGMAPS)[0]
    assert term.value == "a,b"


def test_malformed_field_selector() -> None:
    with pytest.raises(StatusError) as caught:
        parse_field_selector("metadata.name", CONFIGMAPS)
    assert caught.value.message == "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
