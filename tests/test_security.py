"""Security properties an operator relies on, without a proxy (the proxy-level checks of tenant identity are in
``test_fuzz_requests.py``, which has a proxy with every plugin on):

- the tenant comes from the authenticated key or team; client metadata names it only when configured trusted;
- artifacts the proxy loads are data, never code: a crafted file is refused and nothing in it runs;
- credentials come only from the environment or secrets: the shipped configs hold no literal secret.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from costroute_plugins.config import CostrouteConfigError, parse_config
from costroute_plugins.identity import Identity, tenant_of
from tests.harness import REPO

PACKAGE = REPO / "costroute_plugins"


class _Payload:
    """Unpickling this creates ``marker``: if the file appears, loading an artifact ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# -- tenant identity -------------------------------------------------------------------------------------------------
AUTHENTICATED = Identity(team="ops", key="ab" * 32, claimed={"tenant": "victim", "user_api_key_team_id": "victim"})


def test_client_metadata_never_names_the_tenant_by_default():
    config = parse_config(None)

    assert tenant_of(AUTHENTICATED, config.tenant_from) == "team:ops"
    assert tenant_of(Identity(claimed={"tenant": "victim"}), config.tenant_from) == "anonymous"


def test_a_client_metadata_source_is_refused_unless_the_operator_marks_it_trusted():
    with pytest.raises(CostrouteConfigError) as refused:
        parse_config({"tenant_from": ["metadata.tenant", "team"]})

    message = str(refused.value)
    assert "tenant_from" in message and "trust_client_metadata: true" in message


def test_behind_a_trusted_gateway_the_metadata_field_names_the_tenant_and_the_key_is_the_fallback():
    config = parse_config({"tenant_from": ["metadata.tenant", "team"], "trust_client_metadata": True})

    assert tenant_of(AUTHENTICATED, config.tenant_from) == "metadata.tenant:victim"
    assert tenant_of(Identity(team="ops"), config.tenant_from) == "team:ops"
    # A structure is not a name: it falls through to the authenticated team.
    assert tenant_of(Identity(team="ops", claimed={"tenant": {"$ne": 1}}), config.tenant_from) == "team:ops"


def test_an_unknown_tenant_source_names_the_key_and_the_choices():
    with pytest.raises(CostrouteConfigError, match=r"costroute.tenant_from: 'teams' is not a tenant source"):
        parse_config({"tenant_from": ["teams"]})


# -- artifacts are data ----------------------------------------------------------------------------------------------
def test_a_router_artifact_whose_arrays_hold_a_pickle_is_refused_and_runs_nothing(tmp_path: Path):
    from costroute_plugins.artifacts import ArtifactError
    from costroute_plugins.routing.artifact import default_artifact_path, load_artifact

    marker = tmp_path / "pwned"
    shipped = default_artifact_path()
    document = json.loads(shipped.read_text())
    with np.load(shipped.with_name(document["arrays"]["file"])) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["idf"] = np.array([_Payload(marker)], dtype=object)
    np.savez(tmp_path / "crafted.npz", **arrays)  # savez pickles object arrays
    document["arrays"] = {"file": "crafted.npz",
                          "sha256": hashlib.sha256((tmp_path / "crafted.npz").read_bytes()).hexdigest()}
    (tmp_path / "crafted.json").write_text(json.dumps(document))

    with pytest.raises((ArtifactError, ValueError)):
        load_artifact(tmp_path / "crafted.json")

    assert not marker.exists()


def test_a_verifier_artifact_is_read_as_json_data_only(tmp_path: Path):
    from costroute_plugins.artifacts import ArtifactError
    from costroute_plugins.cache.verifier import LearnedVerifier

    crafted = tmp_path / "verifier.json"
    crafted.write_text(json.dumps({"py/reduce": [{"py/function": "os.system"}, {"py/tuple": ["touch pwned"]}],
                                   "__class__": "subprocess.Popen"}))

    with pytest.raises(ArtifactError):
        LearnedVerifier.load(crafted)

    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_a_cache_snapshot_holding_a_pickle_is_refused_and_runs_nothing(tmp_path: Path):
    from costroute_plugins.cache import MemoryStore

    marker = tmp_path / "pwned"
    prefix = tmp_path / "snapshot"
    (tmp_path / "snapshot.json").write_text(json.dumps({"version": 1, "next_id": 1, "entries": []}))
    np.savez(tmp_path / "snapshot.npz", vectors=np.array([_Payload(marker)], dtype=object))

    with pytest.raises(ValueError):
        MemoryStore().load(prefix)

    assert not marker.exists()


def test_no_module_of_the_package_deserialises_code():
    forbidden = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|marshal|shelve)\b|allow_pickle\s*=\s*True"
                           r"|yaml\.(unsafe_)?load\((?![^)]*SafeLoader)|(?<![.\w])(eval|exec)\(", re.MULTILINE)
    offenders = [f"{path.relative_to(REPO)}: {match.group(0).strip()}"
                 for path in PACKAGE.rglob("*.py") for match in forbidden.finditer(path.read_text())]

    assert not offenders


def test_every_numpy_load_in_the_package_refuses_pickles_explicitly():
    loads = [(path, line) for path in PACKAGE.rglob("*.py") for line in path.read_text().splitlines()
             if "np.load(" in line]

    assert loads and all("allow_pickle=False" in line for _, line in loads), loads


# -- credentials only from the environment ---------------------------------------------------------------------------
SECRET_KEY = re.compile(r"(api_?key|master_?key|password|passwd|secret|token|credential|dsn|auth)", re.IGNORECASE)
ENV_REFERENCE = re.compile(r"^(os\.environ/[A-Z0-9_]+|\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}|\$[A-Z0-9_]+)$")
LITERAL_SECRETS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\b(postgres(ql)?|redis)://[^/\s:@]*:(?!\$\{)[^@\s/]+@"),  # a password written into a URL
    re.compile(r"\bghp_[A-Za-z0-9]{30,}"),
]


def shipped_config_files() -> list[Path]:
    deploy = [p for p in (REPO / "deploy").rglob("*") if p.is_file()]
    return [REPO / "proxy_config.yaml", *deploy]


def secret_values(node, path: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) of every string under a key that names a credential."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and SECRET_KEY.search(str(key)):
                found.append((where, value))
            found += secret_values(value, where)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += secret_values(value, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("path", shipped_config_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_configs_hold_no_literal_secret(path: Path):
    text = path.read_text(errors="replace")

    assert not [pattern.pattern for pattern in LITERAL_SECRETS if pattern.search(text)]
    if path.suffix in (".yaml", ".yml"):
        literal = [(key, value) for document in yaml.safe_load_all(text) if document
                   for key, value in secret_values(document)
                   if value and not _from_environment(value) and not _is_reference_name(key, value)]
        assert not literal, f"credentials must come from the environment or a Secret: {literal}"


def _from_environment(value: str) -> bool:
    """The whole value is a reference, or a URL whose password part is one (``postgresql://u:${PW}@host/db``)."""
    return bool(ENV_REFERENCE.match(value)) or ("${" in value and not any(p.search(value) for p in LITERAL_SECRETS))


def _is_reference_name(key: str, value: str) -> bool:
    """A Kubernetes manifest names a Secret (``secretName: costroute-secrets``) instead of holding its value."""
    return key.rsplit(".", 1)[-1] in ("secretName",) or (key.endswith("credentials_file")
                                                           and value.startswith("/run/secrets/"))


def test_the_secret_scan_catches_a_literal_key():
    leaked = {"general_settings": {"master_key": "sk-1234567890abcdef1234"}, "model_list": [
        {"litellm_params": {"api_key": "os.environ/OPENAI_API_KEY"}}]}

    assert secret_values(leaked)[0] == ("general_settings.master_key", "sk-1234567890abcdef1234")
    assert not ENV_REFERENCE.match("sk-1234567890abcdef1234") and ENV_REFERENCE.match("os.environ/OPENAI_API_KEY")
    assert LITERAL_SECRETS[0].search(json.dumps(leaked))


# -- one folder meets LiteLLM ----------------------------------------------------------------------------------------
LITELLM_IMPORT = re.compile(r"^\s*(?:import\s+litellm\b|from\s+litellm[\s.])", re.MULTILINE)


def test_only_the_proxy_adapters_import_litellm():
    # A LiteLLM upgrade should touch costroute_plugins/proxy/ and nothing else.
    offenders = [str(path.relative_to(REPO)) for path in PACKAGE.rglob("*.py")
                 if PACKAGE / "proxy" not in path.parents and LITELLM_IMPORT.search(path.read_text())]

    assert not offenders, f"import LiteLLM only from costroute_plugins/proxy/: {offenders}"


def test_the_import_guard_sees_both_import_forms():
    assert LITELLM_IMPORT.search("import litellm\n") and LITELLM_IMPORT.search("    from litellm.proxy import x\n")
    assert not LITELLM_IMPORT.search("import litellm_helpers\n# uses litellm\n")
