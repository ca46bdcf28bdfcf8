"""``deploy/`` is what an operator runs: a docker compose stack and Kubernetes manifests. No container engine or
cluster runs here, so they are validated offline: the compose file by a spec-complete Compose parser
(``compose-spec``), the manifests by the Kubernetes JSON schemas bundled in ``kubernetes-validate`` (strict:
unknown fields fail), plus the links between files that no schema sees (mounted files exist, Prometheus scrapes
every replica, the config is a valid costroute config, the image runs what the manifests expect).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml
from compose_spec import PyCompose

from costroute_plugins.proxy.runtime import load_checked
from tests.harness import REPO

DEPLOY = REPO / "deploy"
K8S_VERSION = "1.30.0"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def kustomization() -> dict:
    return yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())


def manifests() -> list[dict]:
    return [doc for name in kustomization()["resources"] for doc in yaml.safe_load_all((DEPLOY / name).read_text())
            if doc]


def generated_config_map() -> dict:
    """The ConfigMap kustomize generates from ``configMapGenerator`` (without its name-hash suffix)."""
    (generator,) = kustomization()["configMapGenerator"]
    data = {}
    for entry in generator["files"]:
        key, _, source = entry.partition("=")
        data[key] = (DEPLOY / (source or key)).read_text()
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}


# -- docker compose --------------------------------------------------------------------------------------------------
def test_the_compose_file_parses_as_a_valid_compose_spec():
    parsed = PyCompose.from_yaml((DEPLOY / "docker-compose.yaml").read_text())

    assert set(parsed.service_names()) == {"lb", "proxy-1", "proxy-2", "redis", "postgres", "vllm", "prometheus",
                                           "grafana"}


def test_the_compose_validator_rejects_a_mistyped_key():
    broken = (DEPLOY / "docker-compose.yaml").read_text().replace("    healthcheck: *proxy-healthcheck",
                                                                  "    healthchek: *proxy-healthcheck", 1)
    with pytest.raises(ValueError, match="healthchek"):
        PyCompose.from_yaml(broken)


def test_two_proxy_replicas_share_redis_and_postgres_behind_the_load_balancer():
    services = compose()["services"]
    first, second = services["proxy-1"], services["proxy-2"]

    assert first["image"] == second["image"] and first["environment"] == second["environment"]
    assert first["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:5432/" in first["environment"]["COSTROUTE_LEDGER_DSN"]
    assert first["volumes"][1] != second["volumes"][1], "each replica spools to its own volume"
    upstreams = re.findall(r"server (proxy-\d):4000", (DEPLOY / "nginx" / "nginx.conf").read_text())
    assert upstreams == ["proxy-1", "proxy-2"]


def test_every_file_the_stack_mounts_exists():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is not in deploy/"
    build = compose()["services"]["proxy-1"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_prometheus_scrapes_every_replica_and_grafana_loads_the_costroute_dashboard():
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    proxy_job = next(job for job in scrape["scrape_configs"] if job["job_name"] == "costroute-proxy")
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "costroute.yaml").read_text())
    grafana = compose()["services"]["grafana"]

    assert proxy_job["static_configs"][0]["targets"] == ["proxy-1:4000", "proxy-2:4000"]
    assert proxy_job["authorization"]["credentials_file"] == "/run/secrets/litellm_master_key"
    assert "litellm_master_key" in compose()["services"]["prometheus"]["secrets"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    dashboard = mounted[provider["providers"][0]["options"]["path"] + "/costroute.json"]
    assert json.loads((DEPLOY / dashboard).read_text())["uid"] == "costroute-spend"


def test_the_vllm_worker_gets_a_gpu_and_prefix_caching():
    vllm = compose()["services"]["vllm"]

    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "--enable-prefix-caching" in vllm["command"]


def test_every_required_variable_is_listed_in_the_env_example():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (DEPLOY / "docker-compose.yaml").read_text()))
    listed = {line.split("=")[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
              if line and not line.startswith("#")}

    assert required and required <= listed


# -- Kubernetes ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource", [*manifests(), generated_config_map()],
                         ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_each_manifest_validates_against_the_kubernetes_schema(resource: dict):
    kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


def test_the_kubernetes_validator_rejects_a_mistyped_field():
    deployment = next(r for r in manifests() if r["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for its built-in kustomize) is not installed")
def test_kustomize_builds_the_whole_deployment_and_it_validates():
    built = subprocess.run(["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True).stdout
    resources = [doc for doc in yaml.safe_load_all(built) if doc]

    for resource in resources:
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
    assert {r["kind"] for r in resources} >= {"Deployment", "HorizontalPodAutoscaler", "Service", "ConfigMap"}


def test_the_proxy_deployment_scales_with_an_hpa_and_reads_credentials_only_from_the_secret():
    by_kind = {(r["kind"], r["metadata"]["name"]): r for r in manifests()}
    proxy = by_kind[("Deployment", "costroute-proxy")]["spec"]["template"]["spec"]
    hpa = by_kind[("HorizontalPodAutoscaler", "costroute-proxy")]["spec"]
    vllm = by_kind[("Deployment", "costroute-vllm")]["spec"]["template"]["spec"]["containers"][0]

    assert hpa["scaleTargetRef"]["name"] == "costroute-proxy" and hpa["minReplicas"] >= 2
    env = proxy["containers"][0]["env"]
    secret_env = {e["name"] for e in env if "valueFrom" in e}
    assert {"LITELLM_MASTER_KEY", "OPENAI_API_KEY", "REDIS_URL", "COSTROUTE_LEDGER_DSN"} <= secret_env
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e} == {"costroute-secrets"}
    assert proxy["volumes"][0]["configMap"]["name"] == kustomization()["configMapGenerator"][0]["name"]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == 1 and "--enable-prefix-caching" in vllm["args"]


# -- the config and the image ----------------------------------------------------------------------------------------
def test_the_deployed_proxy_config_is_a_valid_costroute_config_with_ledger_and_cache_on(monkeypatch):
    # The ledger's DSN comes from the environment compose and Kubernetes give the proxy.
    monkeypatch.setenv("COSTROUTE_LEDGER_DSN", "postgresql://costroute:password@postgres:5432/costroute")
    config = load_checked(str(DEPLOY / "config" / "proxy_config.yaml"))

    assert config.cache.enabled and config.spend.ledger.enabled
    assert config.spend.ledger.spool_path.startswith("/var/lib/costroute/")


def test_the_image_runs_the_proxy_as_a_non_root_user_with_the_mounted_config_path():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE)
    deployment = next(r for r in manifests() if (r["kind"], r["metadata"]["name"]) == ("Deployment", "costroute-proxy"))
    mount = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"]

    assert all((REPO / source).exists() for source in copies)
    assert re.search(r"^USER 10001$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["litellm"]' in dockerfile
    assert f"{mount}/proxy_config.yaml" in dockerfile
    assert not re.search(r"^(ARG|ENV)\s+\S*(KEY|PASSWORD|SECRET|TOKEN)", dockerfile, re.MULTILINE | re.IGNORECASE)
