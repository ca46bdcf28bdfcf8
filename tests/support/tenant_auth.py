"""LiteLLM ``custom_auth`` for tests: keys ``sk-team-<name>`` authenticate as team ``<name>``.

LiteLLM's own virtual keys and teams need its database, which cannot run here; custom auth gives tests several
authenticated tenants without it, exactly as an operator's own auth would.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from litellm.proxy._types import UserAPIKeyAuth

PREFIX = "sk-team-"


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    key = api_key.removeprefix("Bearer ").strip()
    if not key.startswith(PREFIX) or len(key) <= len(PREFIX):
        raise HTTPException(status_code=401, detail="unknown key")
    return UserAPIKeyAuth(api_key=key, team_id=key.removeprefix(PREFIX))
