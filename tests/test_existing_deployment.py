"""An operator with a LiteLLM proxy already installed adds costroute the way the README says.

The package is pip-installed (not editable) into a separate environment that already has LiteLLM, the README's
snippet is merged into a pre-existing config with other model-group names, and the proxy is started from a
folder outside this checkout, so nothing can be imported from the source tree by accident.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.harness import REPO, free_port, new_master_key, spawn, start_stub, wait_until

EXISTING_CONFIG = REPO / "tests" / "data" / "existing_proxy_config.yaml"
RENAME = {"cheap": "small", "balanced": "medium", "premium": "large"}


def readme_snippet() -> str:
    readme = (REPO / "README.md").read_text()
    block = re.search(
        r"<!-- existing-deployment-snippet:start -->\s*```yaml\n(.*?)```\s*<!-- existing-deployment-snippet:end -->",
        readme, re.DOTALL,
    )
    assert block, "README lost its existing-deployment snippet markers"
    return block.group(1)


def merge_like_an_operator(existing: dict, snippet: dict) -> dict:
    """Append list entries (models, callbacks), add new sections, keep everything the operator had."""
    merged = dict(existing)
    merged["model_list"] = [*existing.get("model_list", []), *snippet.get("model_list", [])]
    settings = dict(existing.get("litellm_settings", {}))
    settings["callbacks"] = [*settings.get("callbacks", []), *snippet["litellm_settings"]["callbacks"]]
    merged["litellm_settings"] = settings
    merged["costroute"] = snippet["costroute"]
    return merged


@pytest.fixture(scope="module")
def operator_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv that already has LiteLLM (and the rest of our dependencies) but not costroute."""
    env = tmp_path_factory.mktemp("operator") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "preinstalled-litellm.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = env / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import costroute_plugins"], capture_output=True, cwd=env.parent)
    assert probe.returncode != 0, "the operator's environment must not see costroute before installing it"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(REPO)],
        check=True, cwd=env.parent,
    )
    return python


def test_readme_snippet_added_to_an_existing_config_loads_costroute(operator_env: Path, tmp_path: Path):
    snippet_text = readme_snippet()
    for tier, group in RENAME.items():  # "replace the names with yours"
        snippet_text = re.sub(rf"\b{tier}\b", group, snippet_text)
    config = merge_like_an_operator(yaml.safe_load(EXISTING_CONFIG.read_text()), yaml.safe_load(snippet_text))
    workdir = tmp_path / "deployment"
    workdir.mkdir()
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    stubs = {group: start_stub(group, tmp_path) for group in RENAME.values()}
    port, key = free_port(), new_master_key()
    env = {
        "LITELLM_MASTER_KEY": key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "OPENAI_API_KEY": "sk-stub",
        **{f"{group.upper()}_API_BASE": stub.base_url for group, stub in stubs.items()},
    }
    proxy = spawn(
        [str(operator_env), "-m", "litellm.proxy.proxy_cli", "--config", str(config_path), "--port", str(port)],
        tmp_path / "proxy.log", env=env, cwd=workdir,
    )
    try:
        import httpx

        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=2).status_code == 200,
                   120, "operator proxy", proxy.process, proxy.log_path)
        from openai import OpenAI

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "hello from an existing deployment"}]
        )
        own = client.chat.completions.with_raw_response.create(
            model="large", messages=[{"role": "user", "content": "my own group still works"}]
        )
    finally:
        proxy.stop()
        for stub in stubs.values():
            stub.managed.stop()

    tier = raw.headers["x-costroute-tier"]
    assert tier in RENAME.values()
    assert raw.parse().choices[0].message.content == f"[{tier}] answer to: hello from an existing deployment"
    assert own.parse().choices[0].message.content.startswith("[large]")
    assert own.headers["x-costroute-tier"] == "large"
    assert f"costroute 0.1.0 loaded from {config_path}" in proxy.log()
    location = subprocess.run(
        [str(operator_env), "-c", "import costroute_plugins; print(costroute_plugins.__file__)"],
        capture_output=True, text=True, cwd=workdir,
    ).stdout.strip()
    assert location.startswith(str(operator_env.parent.parent)), location
