"""LiteLLM ``custom_auth`` for tests with tenants and an operator: the proxy's master key authenticates as a proxy
admin, and keys ``sk-team-<name>`` as team ``<name>`` (``costroute_plugins.proxy.replay_auth``).

LiteLLM hands every key to a configured custom auth, the master key included, so an operator's own auth decides who
is an admin; this one does what LiteLLM does without custom auth.
"""

from __future__ import annotations

import os
import secrets

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from costroute_plugins.proxy.replay_auth import user_api_key_auth as team_auth


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    master = os.environ.get("LITELLM_MASTER_KEY", "")
    if master and secrets.compare_digest(key.encode(), master.encode()):
        return UserAPIKeyAuth(api_key=key, user_role=LitellmUserRoles.PROXY_ADMIN)
    return await team_auth(request, api_key)
