"""The Kubernetes manifests (deploy/) render, are valid against the Kubernetes API schemas, and describe the
topology the platform needs: stateless web with an autoscaler, one worker pool per Celery queue scaled on its
backlog, exactly one beat, PostgreSQL and Redis outside, object storage, and Spark in or out of the cluster."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from tests.deploy.kustomize_lite import Doc, render

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ("production", "staging")
KUBERNETES = "1.32"
APP_ROLES = {"web", "worker", "beat", "migrate"}

#: The fields of KEDA's ScaledObject (keda.sh/v1alpha1) the manifests use; KEDA's trigger metadata are strings.
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"enum": ["prometheus", "redis"]},
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}


def _validate(doc: Doc) -> None:
    if doc["kind"] == "ScaledObject":
        jsonschema.validate(doc, SCALED_OBJECT)
    else:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    return request.param, render(ROOT / "deploy" / "overlays" / request.param)


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _of(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _container(doc: Doc) -> Doc:
    return dict(doc["spec"]["template"]["spec"]["containers"][0])


def _env(container: Doc) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container.get("env", [])}


def _bytes(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)\s*([A-Za-z]*)", text).groups()  # type: ignore[union-attr]
    units = {"": 1, "MB": 10**6, "GB": 10**9, "Mi": 2**20, "Gi": 2**30}
    return int(number) * units[unit]


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_renderer_agrees_with_kustomize(name: str) -> None:
    binary = shutil.which("kustomize") or shutil.which("kubectl")
    if binary is None:
        pytest.skip("neither kustomize nor kubectl is installed: the suite's own renderer alone checks deploy/")
    command = [binary, "build"] if binary.endswith("kustomize") else [binary, "kustomize"]
    built = subprocess.run([*command, str(ROOT / "deploy" / "overlays" / name)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    theirs = sorted(json.dumps(doc, sort_keys=True) for doc in yaml.safe_load_all(built.stdout) if doc)
    ours = sorted(json.dumps(doc, sort_keys=True) for doc in render(ROOT / "deploy" / "overlays" / name))
    assert ours == theirs


def test_every_resource_is_valid_against_its_schema(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    assert len(docs) >= 18, name
    for doc in docs:
        _validate(doc)


def test_a_misspelt_or_mistyped_field_is_refused(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    web = json.loads(json.dumps(_one(docs, "Deployment", "bdt-web")))
    web["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["nmae"] = "bdt-config"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(web)
    scaled = json.loads(json.dumps(_of(docs, "ScaledObject")[0]))
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 2  # KEDA wants "2"
    with pytest.raises(jsonschema.ValidationError):
        _validate(scaled)


def test_web_is_stateless_probed_and_autoscaled(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    web = _one(docs, "Deployment", "bdt-web")
    container = _container(web)
    assert container["args"] == ["web"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert not [v for v in web["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]  # stateless
    hpa = _one(docs, "HorizontalPodAutoscaler", "bdt-web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "bdt-web" and hpa["spec"]["minReplicas"] >= 2
    service = _one(docs, "Service", "bdt-web")
    ingress = _one(docs, "Ingress", "bdt-web")
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == service["metadata"]["name"]
    processes = int(_one(docs, "ConfigMap", "bdt-config")["data"]["GUNICORN_WORKERS"])
    budget = _bytes(_env(container)["BDT_WEB_MEMORY_LIMIT"])
    assert processes * budget <= _bytes(container["resources"]["limits"]["memory"])


def test_one_worker_pool_per_queue_scaled_on_its_backlog(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    queues = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    pools = [doc for doc in _of(docs, "Deployment") if _container(doc)["args"] == ["worker"]]
    served = {_env(_container(pool))["CELERY_QUEUES"]: pool for pool in pools}
    assert set(served) == queues and len(pools) == len(queues)  # each queue exactly one pool, each pool one queue
    scalers = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in _of(docs, "ScaledObject")}
    for queue, pool in served.items():
        scaler = scalers[pool["metadata"]["name"]]
        trigger = scaler["spec"]["triggers"][0]
        assert trigger["metadata"]["query"] == f'sum(bdt_celery_queue_length{{queue="{queue}"}})'
        assert 1 <= scaler["spec"]["minReplicaCount"] <= scaler["spec"]["maxReplicaCount"]
        container = _container(pool)
        env = _env(container)
        children = int(env["CELERY_CONCURRENCY"]) * _bytes(env["BDT_WORKER_MEMORY_LIMIT"])
        assert children <= _bytes(container["resources"]["limits"]["memory"]), queue
        assert pool["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    assert "bdt_celery_queue_length" in Path(ROOT / "bdt_project" / "monitoring" / "collectors.py").read_text()


def test_exactly_one_beat_that_nothing_scales(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    beats = [doc for doc in _of(docs, "Deployment") if _container(doc)["args"] == ["beat"]]
    assert len(beats) == 1
    beat = beats[0]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    scalers = _of(docs, "ScaledObject") + _of(docs, "HorizontalPodAutoscaler")
    scaled = {doc["spec"]["scaleTargetRef"]["name"] for doc in scalers}
    assert beat["metadata"]["name"] not in scaled


def test_every_app_pod_shares_only_config_secrets_database_redis_and_bucket(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    config = _one(docs, "ConfigMap", "bdt-config")["data"]
    assert config["BDT_S3_BUCKET"] and config["DJANGO_SETTINGS_MODULE"] == "bdt_project.settings.production"
    for service in ("postgres", "redis"):
        assert _one(docs, "Service", service)["spec"]["type"] == "ExternalName"
    images = set()
    for doc in _of(docs, "Deployment") + _of(docs, "Job"):
        container = _container(doc)
        if container["args"][0] not in APP_ROLES:
            continue
        images.add(container["image"])
        refs = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
        assert refs == ["bdt-config", "bdt-secrets"], doc["metadata"]["name"]
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert all("emptyDir" in volume for volume in pod["volumes"])  # no volume shared between pods
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert config["PROMETHEUS_MULTIPROC_DIR"] in mounts, doc["metadata"]["name"]
        if container["args"][0] in {"web", "worker"}:
            assert {config["BDT_CACHE_DIR"], config["BDT_WORK_DIR"]} <= mounts, doc["metadata"]["name"]
    assert len(images) == 1, images  # one image, every role
    if name == "production":
        assert next(iter(images)).startswith("registry.example.org/bdt/bdt-platform:")
    for doc in _of(docs, "Deployment"):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for service in _of(docs, "Service"):
        if service["spec"].get("type") == "ExternalName":
            continue
        selector = service["spec"]["selector"].items()
        assert [d for d in _of(docs, "Deployment") if selector <= d["spec"]["template"]["metadata"]["labels"].items()]


def test_spark_is_a_pointer_or_a_master_and_workers_in_the_cluster(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    master = _one(docs, "ConfigMap", "bdt-config")["data"]["BDT_SPARK_MASTER"]
    assert master.startswith("spark://")
    in_cluster = [doc["metadata"]["name"] for doc in _of(docs, "Deployment") if "spark" in doc["metadata"]["name"]]
    if name == "production":
        assert in_cluster == [] and "example.org" in master  # an external cluster
    else:
        assert sorted(in_cluster) == ["bdt-spark-master", "bdt-spark-worker"]
        host, port = master.removeprefix("spark://").split(":")
        service = _one(docs, "Service", host)
        assert int(port) in {p["port"] for p in service["spec"]["ports"]}


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text()))


def test_the_compose_cluster_profile_starts_the_same_topology() -> None:
    services = _compose()["services"]
    cluster = {name: service for name, service in services.items() if "cluster" in service.get("profiles", [])}
    queues = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    pools = {s["environment"]["CELERY_QUEUES"] for s in cluster.values() if s.get("command") == ["worker"]}
    assert pools == queues
    assert {"object-storage", "bucket", "spark-master", "spark-worker", "web-lb"} <= set(cluster)
    assert next(s for s in cluster.values() if s.get("command") == ["web"])["deploy"]["replicas"] >= 2
    for name, service in cluster.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        environment = service.get("environment", {})
        if service.get("command") in (["web"], ["worker"], ["beat"], ["migrate"]):
            assert environment.get("BDT_S3_BUCKET") and environment.get("BDT_S3_ENDPOINT_URL"), name
            assert environment.get("BDT_SPARK_MASTER") == "spark://spark-master:7077", name
            assert not [v for v in service.get("volumes", []) if str(v).startswith("media:")], name
