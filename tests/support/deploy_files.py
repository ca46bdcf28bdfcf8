"""``deploy/`` read the way docker compose and kustomize read it, for the tests that check it offline."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
from compose_spec import PyCompose, PyOptions

from tests.harness import REPO

DEPLOY = REPO / "deploy"
PROXY_CONFIG = DEPLOY / "config" / "proxy_config.yaml"
K8S_VERSION = "1.30.0"


def parsed_compose(text: str | None = None) -> PyCompose:
    """The compose file through the spec-complete parser, YAML merge keys applied as docker compose applies them."""
    return PyOptions(apply_merge=True).from_yaml(text if text is not None else compose_text())


def compose_text() -> str:
    return (DEPLOY / "docker-compose.yaml").read_text()


def compose() -> dict[str, Any]:
    return yaml.safe_load(compose_text())


def compose_with(env: Mapping[str, str]) -> dict[str, Any]:
    """The compose file as docker compose reads it with ``env`` as deploy/.env: ``${NAME}``, ``${NAME:-default}``
    and ``${NAME:?error}`` replaced (a missing required one raises, as compose refuses to start)."""

    def value(match: re.Match[str]) -> str:
        name, kind, rest = match["name"], match["kind"], match["rest"]
        if env.get(name):
            return env[name]
        if kind == ":?":
            raise KeyError(f"{name}: {rest}")
        return rest if kind == ":-" else ""

    return yaml.safe_load(re.sub(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<kind>:[-?])(?P<rest>[^}]*))?\}", value,
                                 compose_text()))


def env_example() -> dict[str, str]:
    """deploy/.env.example filled in: each listed variable set to its example value, or to a placeholder."""
    lines = [line for line in (DEPLOY / ".env.example").read_text().splitlines() if line and not line.startswith("#")]
    return {name: value or f"{name.lower()}-value" for name, _, value in (line.partition("=") for line in lines)}


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


def manifests() -> list[dict[str, Any]]:
    return [doc for name in kustomization()["resources"] for doc in yaml.safe_load_all((DEPLOY / name).read_text())
            if doc]


def manifest(kind: str, name: str) -> dict[str, Any]:
    return next(r for r in manifests() if (r["kind"], r["metadata"]["name"]) == (kind, name))


def generated_config_map() -> dict[str, Any]:
    """The ConfigMap kustomize generates from ``configMapGenerator`` (without its name-hash suffix)."""
    (generator,) = kustomization()["configMapGenerator"]
    data = {}
    for entry in generator["files"]:
        key, _, source = entry.partition("=")
        data[key] = (DEPLOY / (source or key)).read_text()
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}


def proxy_config() -> dict[str, Any]:
    return yaml.safe_load(PROXY_CONFIG.read_text())


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A Kubernetes container's environment by variable name."""
    return {entry["name"]: entry for entry in container.get("env", [])}
