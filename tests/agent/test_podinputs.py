"""Volume files and env of a pod, built from already fetched ConfigMaps and Secrets."""

from __future__ import annotations

import base64

import pytest

from jiriaf_fw.services.agent.podinputs import (
    PodInputsError,
    Sources,
    build_env,
    build_volumes,
    expand_references,
    field_value,
)

ALLOCATABLE = {"cpu": "4", "memory": "8Gi"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def make_pod(containers: list[dict], volumes: list[dict] | None = None) -> dict:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "x", "tier": "web"}},
        "spec": {"nodeName": "vk-a", "containers": containers, "volumes": volumes or []},
    }


SOURCES: Sources = {
    ("ConfigMap", "stress"): {"stress.sh": b"stress --cpu $1\n", "other": b"o"},
    ("Secret", "creds"): {"token": b"s3cret"},
}


def test_configmap_volume_all_keys() -> None:
    pod = make_pod([{"name": "c"}], [{"name": "stress", "configMap": {"name": "stress"}}])
    assert build_volumes(pod, SOURCES, "1.2.3.4") == {
        "stress": {"stress.sh": b"stress --cpu $1\n", "other": b"o"}
    }


def test_configmap_volume_items_rename() -> None:
    volume = {"name": "v", "configMap": {"name": "stress", "items": [{"key": "stress.sh", "path": "run.sh"}]}}
    assert build_volumes(make_pod([{"name": "c"}], [volume]), SOURCES, "1.2.3.4") == {
        "v": {"run.sh": SOURCES[("ConfigMap", "stress")]["stress.sh"]}
    }


def test_missing_configmap_is_retryable() -> None:
    pod = make_pod([{"name": "c"}], [{"name": "v", "configMap": {"name": "absent"}}])
    with pytest.raises(PodInputsError, match='configmap "absent" not found') as info:
        build_volumes(pod, {("ConfigMap", "absent"): None}, "1.2.3.4")
    assert info.value.retryable


def test_missing_optional_configmap_gives_empty_volume() -> None:
    pod = make_pod([{"name": "c"}], [{"name": "v", "configMap": {"name": "absent", "optional": True}}])
    assert build_volumes(pod, {("ConfigMap", "absent"): None}, "1.2.3.4") == {"v": {}}


def test_secret_and_downward_api_in_projected_volume() -> None:
    volume = {
        "name": "v",
        "projected": {
            "sources": [
                {"secret": {"name": "creds"}},
                {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
                {"serviceAccountToken": {"path": "token-sa"}},
            ]
        },
    }
    files = build_volumes(make_pod([{"name": "c"}], [volume]), SOURCES, "1.2.3.4")["v"]
    assert files == {"token": b"s3cret", "ns": b"ns"}


def test_empty_dir_is_not_a_source() -> None:
    pod = make_pod([{"name": "c"}], [{"name": "scratch", "emptyDir": {}}])
    assert build_volumes(pod, {}, "1.2.3.4") == {}


def test_env_values_refs_and_fields() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "stress"}, "prefix": "CM_"}],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "value": "$(A)-$(UNDEFINED)-$$(A)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "stress", "key": "nope", "optional": True}},
            },
        ],
    }
    env = build_env(make_pod([container]), SOURCES, "1.2.3.4", ALLOCATABLE)["c"]
    assert env["A"] == "1"
    assert env["B"] == "1-$(UNDEFINED)-$(A)"
    assert env["POD"] == "p"
    assert env["IP"] == "1.2.3.4"
    assert env["NODE"] == "vk-a"
    assert env["APP"] == "x"
    assert env["TOKEN"] == "s3cret"
    assert env["CM_other"] == "o"
    assert "CM_stress.sh" in env
    assert "OPT" not in env


def test_env_missing_key_is_retryable() -> None:
    container = {
        "name": "c",
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "stress", "key": "nope"}}}],
    }
    with pytest.raises(PodInputsError, match="couldn't find key nope") as info:
        build_env(make_pod([container]), SOURCES, "1.2.3.4", ALLOCATABLE)
    assert info.value.retryable


def test_env_resource_field_ref_with_divisor_and_fallback() -> None:
    container = {
        "name": "c",
        "resources": {"limits": {"memory": "512Mi"}, "requests": {"cpu": "250m"}},
        "env": [
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {
                "name": "CPU_REQ",
                "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}},
            },
            {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    env = build_env(make_pod([container]), {}, "1.2.3.4", ALLOCATABLE)["c"]
    assert env == {"MEM": "512", "CPU_REQ": "250", "CPU_LIM": "4"}


def test_unsupported_field_path_is_permanent() -> None:
    with pytest.raises(PodInputsError, match="spec.bogus") as info:
        field_value(make_pod([]), "spec.bogus", "1.2.3.4")
    assert not info.value.retryable


def test_all_labels_field() -> None:
    assert field_value(make_pod([]), "metadata.labels", "1.2.3.4") == 'app="x"\ntier="web"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [("$(A)", "1"), ("$$", "$"), ("$(A", "$(A"), ("x$(B)y", "x$(B)y"), ("$", "$"), ("$$(A)", "$(A)")],
)
def test_expand_references(text: str, expected: str) -> None:
    assert expand_references(text, {"A": "1"}) == expected
