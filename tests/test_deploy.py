"""``deploy/`` is what an operator runs: a docker compose stack and Kubernetes manifests. No container engine or
cluster runs here, so they are validated offline: the compose file by a spec-complete Compose parser
(``compose-spec``), the manifests by the Kubernetes JSON schemas bundled in ``kubernetes-validate`` (strict:
unknown fields fail), plus the links between files that no schema sees (mounted files exist, Prometheus scrapes
every replica, the config is a valid costroute config, each vLLM worker is a replica the proxies route prefixes
to, the image runs what the manifests expect). LiteLLM's database wiring: ``test_deploy_database.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib.metadata import version

import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from costroute_plugins.proxy.runtime import load_checked
from costroute_plugins.vllm_affinity.config import affinity_problems
from tests.harness import REPO
from tests.support.deploy_files import (
    DEPLOY,
    K8S_VERSION,
    PROXY_CONFIG,
    compose,
    compose_text,
    compose_with,
    env_example,
    generated_config_map,
    kustomization,
    manifest,
    manifests,
    parsed_compose,
    proxy_config,
)


@pytest.fixture
def checked_config(monkeypatch):
    """The deployed config as the proxy loads it, with the ledger DSN compose and Kubernetes give it."""
    monkeypatch.setenv("COSTROUTE_LEDGER_DSN", "postgresql://costroute:password@postgres:5432/costroute")
    return load_checked(str(PROXY_CONFIG))


# -- docker compose --------------------------------------------------------------------------------------------------
def test_the_compose_file_parses_as_a_valid_compose_spec():
    parsed = parsed_compose()
    parsed.validate()  # every volume, network and secret a service names is declared

    assert set(parsed.service_names()) == {"lb", "litellm-migrate", "proxy-1", "proxy-2", "redis", "postgres",
                                           "vllm-0", "vllm-1", "prometheus", "grafana"}


def test_the_compose_validator_rejects_a_mistyped_key():
    broken = compose_text().replace("    healthcheck: *proxy-healthcheck", "    healthchek: *proxy-healthcheck", 1)
    with pytest.raises(ValueError, match="healthchek"):
        parsed_compose(broken)


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
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_prometheus_scrapes_every_replica_and_worker_and_grafana_loads_the_costroute_dashboard():
    scrape = {job["job_name"]: job for job in
              yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]}
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "costroute.yaml").read_text())
    services = compose()["services"]

    assert scrape["costroute-proxy"]["static_configs"][0]["targets"] == ["proxy-1:4000", "proxy-2:4000"]
    assert scrape["costroute-proxy"]["authorization"]["credentials_file"] == "/run/secrets/litellm_master_key"
    assert "litellm_master_key" in services["prometheus"]["secrets"]
    assert scrape["vllm"]["static_configs"][0]["targets"] == [f"{name}:8000" for name in vllm_services()]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    dashboard = mounted[provider["providers"][0]["options"]["path"] + "/costroute.json"]
    assert json.loads((DEPLOY / dashboard).read_text())["uid"] == "costroute-spend"


def test_every_required_variable_is_listed_in_the_env_example():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", compose_text()))
    listed = {line.split("=")[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
              if line and not line.startswith("#")}

    assert required and required <= listed
    compose_with(env_example())  # and with each of them set, every ${...} in the file resolves


# -- vLLM workers and prefix affinity --------------------------------------------------------------------------------
def vllm_services() -> list[str]:
    return sorted(name for name in compose()["services"] if name.startswith("vllm-"))


def worker_images() -> dict[str, str]:
    images = {name: compose()["services"][name]["image"] for name in vllm_services()}
    images["kubernetes"] = manifest("StatefulSet", "costroute-vllm")["spec"]["template"]["spec"]["containers"][0][
        "image"]
    return images


def test_every_vllm_worker_image_is_a_release_vllm_requirements_gpu_admits():
    (pin,) = [Requirement(line) for line in (REPO / "vllm" / "requirements-gpu.txt").read_text().splitlines()
              if line.startswith("vllm")]

    for where, image in worker_images().items():
        repository, _, tag = image.partition(":")
        assert repository == "vllm/vllm-openai", where
        assert Version(tag.removeprefix("v")) in pin.specifier, f"{where}: {image} is outside {pin}"


def test_each_worker_runs_prefix_caching_on_a_gpu_with_the_block_size_the_proxies_hash_with():
    block_size = str(proxy_config()["costroute"]["vllm_affinity"]["block_size"])
    workers = {name: compose()["services"][name] for name in vllm_services()}
    k8s = manifest("StatefulSet", "costroute-vllm")["spec"]["template"]["spec"]["containers"][0]

    for name, worker in workers.items():
        assert worker["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"], name
    for args in [*(worker["command"] for worker in workers.values()), k8s["args"]]:
        assert "--enable-prefix-caching" in args
        assert args[args.index("--block-size") + 1] == block_size
    assert k8s["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_prefix_affinity_routes_across_every_worker_compose_and_kubernetes_run(checked_config):
    config = proxy_config()
    (group,) = config["costroute"]["vllm_affinity"]["model_groups"]
    replicas = [entry for entry in config["model_list"] if entry["model_name"] == group]
    variables = [entry["litellm_params"]["api_base"].removeprefix("os.environ/") for entry in replicas]
    compose_env = compose()["services"]["proxy-1"]["environment"]
    k8s_env = {e["name"]: e.get("value") for e in
               manifest("Deployment", "costroute-proxy")["spec"]["template"]["spec"]["containers"][0]["env"]}
    statefulset = manifest("StatefulSet", "costroute-vllm")

    assert len({entry["model_info"]["id"] for entry in replicas}) == len(replicas) >= 2
    assert not affinity_problems(config, checked_config.vllm_affinity)
    # Each deployment of the group is one worker: compose's services, the StatefulSet's pods by their stable names.
    assert [compose_env[v] for v in variables] == [f"http://{name}:8000/v1" for name in vllm_services()]
    assert statefulset["spec"]["replicas"] == len(replicas)
    service = statefulset["spec"]["serviceName"]
    assert [k8s_env[v] for v in variables] == [f"http://costroute-vllm-{i}.{service}:8000/v1"
                                               for i in range(len(replicas))]
    assert manifest("Service", service)["spec"]["clusterIP"] == "None"


# -- Kubernetes ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resource", [*manifests(), generated_config_map()],
                         ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_each_manifest_validates_against_the_kubernetes_schema(resource: dict):
    kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


def test_the_kubernetes_validator_rejects_a_mistyped_field():
    broken = json.loads(json.dumps(manifest("Deployment", "costroute-proxy")))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (for its built-in kustomize) is not installed")
def test_kustomize_builds_the_whole_deployment_and_it_validates():
    built = subprocess.run(["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, check=True).stdout
    resources = [doc for doc in yaml.safe_load_all(built) if doc]

    for resource in resources:
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
    assert {r["kind"] for r in resources} >= {"Deployment", "StatefulSet", "HorizontalPodAutoscaler", "Service",
                                              "ConfigMap"}


def test_the_proxy_deployment_scales_with_an_hpa_and_reads_credentials_only_from_the_secret():
    proxy = manifest("Deployment", "costroute-proxy")["spec"]["template"]["spec"]
    hpa = manifest("HorizontalPodAutoscaler", "costroute-proxy")["spec"]

    assert hpa["scaleTargetRef"]["name"] == "costroute-proxy" and hpa["minReplicas"] >= 2
    for container in [*proxy["initContainers"], *proxy["containers"]]:
        env = container["env"]
        secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
        assert secrets == {"costroute-secrets"}, container["name"]
        assert not [e["name"] for e in env if re.search("KEY|PASSWORD|SECRET|TOKEN|URL|DSN", e["name"])
                    and "value" in e and not e["name"].endswith("_API_BASE")], container["name"]
    secret_env = {e["name"] for e in proxy["containers"][0]["env"] if "valueFrom" in e}
    assert {"LITELLM_MASTER_KEY", "OPENAI_API_KEY", "REDIS_URL", "COSTROUTE_LEDGER_DSN", "DATABASE_URL"} <= secret_env
    assert proxy["volumes"][0]["configMap"]["name"] == kustomization()["configMapGenerator"][0]["name"]


def test_the_secret_docs_deploy_md_creates_holds_every_key_the_manifests_require():
    documented = set(re.findall(r"--from-literal=([a-z-]+)=", (REPO / "docs" / "deploy.md").read_text()))
    required = {ref["key"] for resource in manifests() for ref in _secret_refs(resource) if not ref.get("optional")}

    assert required and required <= documented


def _secret_refs(node) -> list[dict]:
    if isinstance(node, dict):
        own = [node["secretKeyRef"]] if "secretKeyRef" in node else []
        return own + [ref for value in node.values() for ref in _secret_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _secret_refs(value)]
    return []


# -- the config and the image ----------------------------------------------------------------------------------------
def test_the_deployed_proxy_config_is_a_valid_costroute_config_with_ledger_cache_and_affinity_on(checked_config):
    config = checked_config

    assert config.cache.enabled and config.spend.ledger.enabled
    assert config.spend.ledger.spool_path.startswith("/var/lib/costroute/")
    assert config.vllm_affinity.model_groups == ["cheap"] and config.vllm_affinity.policy == "affinity"


def test_tenants_are_litellm_virtual_keys_and_their_teams_with_no_test_auth_in_the_deployed_config():
    config = proxy_config()
    settings = config.get("general_settings") or {}

    assert config["costroute"]["tenant_from"] == ["team", "key"]
    assert "custom_auth" not in settings, "LiteLLM's own key auth (virtual keys, teams) must decide who calls"
    assert settings["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert not settings.get("disable_spend_logs"), "SpendLogs rows are where LiteLLM's UI shows costroute's fields"
    assert not [c for c in config["litellm_settings"]["callbacks"] if str(c).startswith("tests.")]


def test_the_image_is_litellms_release_image_of_the_tested_version_running_as_a_non_root_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE)
    mount = manifest("Deployment", "costroute-proxy")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    (litellm_pin,) = [Requirement(r) for r in _project_dependencies() if r.startswith("litellm")]
    base_version = re.search(r"^ARG LITELLM_VERSION=(\S+)$", dockerfile, re.MULTILINE)[1]

    assert re.search(r"^FROM ghcr\.io/berriai/litellm:v\$\{LITELLM_VERSION\}$", dockerfile, re.MULTILINE)
    assert base_version == version("litellm"), "the image's LiteLLM is the release this suite runs on"
    assert Version(base_version) in litellm_pin.specifier
    assert all((REPO / source).exists() for source in copies)
    assert re.search(r"^USER 10001$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["litellm"]' in dockerfile
    assert f"{mount['mountPath']}/proxy_config.yaml" in dockerfile
    assert not re.search(r"^(ARG|ENV)\s+\S*(KEY|PASSWORD|SECRET|TOKEN)", dockerfile, re.MULTILINE | re.IGNORECASE)


def _project_dependencies() -> list[str]:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
