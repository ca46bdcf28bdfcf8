"""LiteLLM ``custom_auth`` for tests: keys ``sk-team-<name>`` authenticate as team ``<name>``.

LiteLLM's own virtual keys and teams need its database, which cannot run here; custom auth gives tests several
authenticated tenants without it, exactly as an operator's own auth would. The implementation lives in the package
(``costroute replay`` needs it too); configs may name either module.
"""

from __future__ import annotations

from costroute_plugins.proxy.replay_auth import PREFIX, user_api_key_auth

__all__ = ["PREFIX", "user_api_key_auth"]
