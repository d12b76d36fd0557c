"""A small renderer of the kustomize features deploy/ uses, so the suite can check the manifests on a machine
without the kustomize binary: resources (files and folders), components, namespace, images, replicas, patches
(strategic merge by kind and name; JSON 6902 ``replace``/``add``/``remove`` with a target). Anything else in a
kustomization is an error, so a manifest change that needs more is noticed here rather than silently ignored.
Where ``kubectl kustomize`` exists the suite renders with it too and compares."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]
KNOWN_KEYS = {"apiVersion", "kind", "resources", "components", "namespace", "images", "patches", "replicas"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PersistentVolume"}


def _load_docs(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as deploy/ needs it: maps merge key by key, lists of named maps merge by name, other lists
    and scalars are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in base + patch)
    ):
        result = [copy.deepcopy(item) for item in base]
        for item in patch:
            at = next((i for i, old in enumerate(result) if old["name"] == item["name"]), None)
            if at is None:
                result.append(copy.deepcopy(item))
            else:
                result[at] = _merge(result[at], item)
        return result
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.lstrip("/").split("/")]


def _json_patch(doc: Doc, operations: list[dict[str, Any]]) -> None:
    for operation in operations:
        *parents, last = _pointer(operation["path"])
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        op = operation["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op == "add":
                node.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                node[index] = copy.deepcopy(operation["value"])
            elif op == "remove":
                del node[index]
            else:
                raise ValueError(f"unsupported JSON patch op {op!r}")
        elif op in {"add", "replace"}:
            if op == "replace" and last not in node:
                raise KeyError(f"JSON patch replaces a missing path {operation['path']}")
            node[last] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del node[last]
        else:
            raise ValueError(f"unsupported JSON patch op {op!r}")


def _matches(doc: Doc, target: dict[str, Any]) -> bool:
    return all(
        (key != "kind" or doc["kind"] == value) and (key != "name" or doc["metadata"]["name"] == value)
        for key, value in target.items()
    ) and set(target) <= {"kind", "name"}


def _pod_specs(doc: Doc) -> list[Doc]:
    spec = doc.get("spec", {})
    if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return [spec["template"]["spec"]]
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return []


def _apply(folder: Path, kustomization: Doc, docs: list[Doc]) -> list[Doc]:
    for entry in kustomization.get("patches", []):
        if "path" in entry:
            for patch in _load_docs(folder / entry["path"]):
                found = [
                    d for d in docs if (d["kind"], d["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"])
                ]
                if len(found) != 1:
                    raise KeyError(f"patch {entry['path']} matches {len(found)} resources")
                docs[docs.index(found[0])] = _merge(found[0], patch)
        else:
            operations = yaml.safe_load(entry["patch"])
            targets = [doc for doc in docs if _matches(doc, entry["target"])]
            if not targets:
                raise KeyError(f"patch target {entry['target']} matches nothing")
            for doc in targets:
                _json_patch(doc, operations)
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        for doc in docs:
            for pod in _pod_specs(doc):
                for container in pod.get("containers", []) + pod.get("initContainers", []):
                    name, _, tag = container["image"].partition(":")
                    if name == image["name"]:
                        new_name = image.get("newName", name)
                        new_tag = image.get("newTag", tag)
                        container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
    for replica in kustomization.get("replicas", []):
        found = [doc for doc in docs if doc["metadata"]["name"] == replica["name"] and "replicas" in doc["spec"]]
        if not found:
            raise KeyError(f"replicas: no resource {replica['name']}")
        for doc in found:
            doc["spec"]["replicas"] = replica["count"]
    return docs


def render(folder: Path) -> list[Doc]:
    """The resources ``folder``'s kustomization.yaml builds."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"{folder}: kustomization keys this renderer does not handle: {sorted(unknown)}")
    docs: list[Doc] = []
    for resource in kustomization.get("resources", []):
        path = folder / resource
        docs.extend(render(path) if path.is_dir() else _load_docs(path))
    for component in kustomization.get("components", []):
        spec = yaml.safe_load((folder / component / "kustomization.yaml").read_text())
        if spec.get("kind") != "Component":
            raise ValueError(f"{component} is not a kustomize Component")
        for resource in spec.get("resources", []):
            docs.extend(_load_docs(folder / component / resource))
        docs = _apply(folder / component, spec, docs)
    return _apply(folder, kustomization, docs)
