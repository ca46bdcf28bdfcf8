"""LiteLLM ``custom_auth`` for replays: the key ``sk-team-<name>`` authenticates as team ``<name>``.

A replay needs several authenticated tenants with budgets, and LiteLLM's own virtual keys and teams need its
database; this custom auth gives them without one. Only replays and tests register it: it trusts any key of that
shape, so never put it in front of real traffic.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

from costroute_plugins.replay.derive import TEAM_KEY_PREFIX as PREFIX


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    if not key.startswith(PREFIX) or len(key) <= len(PREFIX):
        raise HTTPException(status_code=401, detail="unknown key")
    return UserAPIKeyAuth(api_key=key, team_id=key.removeprefix(PREFIX))
