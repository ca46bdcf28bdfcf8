"""Named edits of a proxy config document, each returning a changed copy (the given document is left as it was).

Replays, tests and benchmarks all start the proxy on the operator's config with a few things changed: its tiers
on stubs, a costroute section overridden, tenants authenticated by key, or costroute removed altogether to
measure LiteLLM without it. Each change is one function here, so a config read in a test names what it changes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from costroute_plugins.config import SECTION

Document = dict[str, Any]

#: LiteLLM ``custom_auth`` for keys ``sk-team-<name>``, which authenticate as team ``<name>`` (replays and tests;
#: LiteLLM's own virtual keys need its database).
TEAM_KEY_AUTH = "costroute_plugins.proxy.replay_auth.user_api_key_auth"
COSTROUTE_CALLBACK_PREFIX = "costroute_plugins."


def read_config(path: Path) -> Document:
    return yaml.safe_load(path.read_text()) or {}


def write_config(path: Path, document: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False))
    return path


def with_costroute(document: Mapping[str, Any], overrides: Mapping[str, Any]) -> Document:
    """The ``costroute:`` section's keys overridden; a nested section is merged one level deep, so
    ``{"cache": {"enabled": True}}`` keeps the rest of the config's cache settings."""
    doc = copy.deepcopy(dict(document))
    section = dict(doc.get(SECTION) or {})
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(section.get(key), Mapping):
            section[key] = {**section[key], **copy.deepcopy(dict(value))}
        else:
            section[key] = copy.deepcopy(value)
    doc[SECTION] = section
    return doc


def with_team_keys(document: Mapping[str, Any]) -> Document:
    """Keys ``sk-team-<name>`` authenticate as team ``<name>``: several tenants without LiteLLM's database."""
    doc = copy.deepcopy(dict(document))
    doc["general_settings"] = {**(doc.get("general_settings") or {}), "custom_auth": TEAM_KEY_AUTH}
    return doc


def with_master_key(document: Mapping[str, Any], key: str) -> Document:
    doc = copy.deepcopy(dict(document))
    doc["general_settings"] = {**(doc.get("general_settings") or {}), "master_key": key}
    return doc


def with_tiers_at(document: Mapping[str, Any], urls: Mapping[str, str], api_key: str) -> Document:
    """Every deployment of a model group named in ``urls`` answers from that URL, with ``api_key``."""
    doc = copy.deepcopy(dict(document))
    for entry in doc.get("model_list") or []:
        if entry.get("model_name") in urls:
            params = entry.setdefault("litellm_params", {})
            params["api_base"] = urls[entry["model_name"]]
            params["api_key"] = api_key
    return doc


def _routers(document: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], float]]:
    """(model group, its ``complexity_router_config``, its classifier timeout) where a timeout is set."""
    for entry in document.get("model_list") or []:
        router = (entry.get("litellm_params") or {}).get("complexity_router_config")
        timeout = router.get("classifier_plugin_timeout_ms") if isinstance(router, dict) else None
        if isinstance(router, dict) and isinstance(timeout, (int, float)):
            yield str(entry.get("model_name")), router, timeout


def classifier_timeouts(document: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(model group, ``classifier_plugin_timeout_ms``) for each routed deployment that sets one."""
    return [(name, timeout) for name, _, timeout in _routers(document)]


def with_classifier_timeout_at_least(document: Mapping[str, Any], timeout_ms: int) -> Document:
    """A router's classifier timeout raised to ``timeout_ms`` where it is lower (others are left as they are)."""
    doc = copy.deepcopy(dict(document))
    for _, router, timeout in _routers(doc):
        if timeout < timeout_ms:
            router["classifier_plugin_timeout_ms"] = timeout_ms
    return doc


def callbacks_of(document: Mapping[str, Any]) -> list[str]:
    callbacks = (document.get("litellm_settings") or {}).get("callbacks") or []
    return [callbacks] if isinstance(callbacks, str) else list(callbacks)


def with_callbacks(document: Mapping[str, Any], callbacks: Iterable[str]) -> Document:
    """``litellm_settings.callbacks`` replaced by ``callbacks``."""
    doc = copy.deepcopy(dict(document))
    doc["litellm_settings"] = {**(doc.get("litellm_settings") or {}), "callbacks": list(callbacks)}
    return doc


def without_costroute(document: Mapping[str, Any], auto_as: str) -> Document:
    """The same proxy less costroute: no ``costroute:`` section and no costroute callback (LiteLLM's own, such
    as its Prometheus exporter, are kept), and ``auto`` a plain alias of tier ``auto_as``, what a team without
    costroute does. The tiers stay as they are, so both proxies call the same upstreams the same way."""
    doc = copy.deepcopy(dict(document))
    doc.pop(SECTION, None)
    alias = next(entry for entry in doc["model_list"] if entry["model_name"] == auto_as)
    doc["model_list"] = [entry for entry in doc["model_list"] if entry["model_name"] != "auto"]
    doc["model_list"].append({"model_name": "auto", "litellm_params": dict(alias["litellm_params"])})
    own = [callback for callback in callbacks_of(doc) if not str(callback).startswith(COSTROUTE_CALLBACK_PREFIX)]
    return with_callbacks(doc, own)
