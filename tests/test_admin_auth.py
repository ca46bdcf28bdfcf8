"""Who may use costroute's operator routes: proxy admins read, only a full proxy admin changes anything."""

from __future__ import annotations

import enum
from types import SimpleNamespace

from costroute_plugins.proxy.admin_auth import is_proxy_admin


class LitellmUserRoles(str, enum.Enum):
    """LiteLLM's roles as its ``UserAPIKeyAuth.user_role`` holds them (an enum), without importing LiteLLM here."""

    PROXY_ADMIN = "proxy_admin"
    PROXY_ADMIN_VIEW_ONLY = "proxy_admin_viewer"
    INTERNAL_USER = "internal_user"


def key(role: object) -> SimpleNamespace:
    return SimpleNamespace(user_role=role)


def test_the_master_keys_role_reads_and_changes():
    assert is_proxy_admin(key(LitellmUserRoles.PROXY_ADMIN)) and is_proxy_admin(key("proxy_admin"), write=True)


def test_a_read_only_admin_reads_but_changes_nothing():
    viewer = key(LitellmUserRoles.PROXY_ADMIN_VIEW_ONLY)
    assert is_proxy_admin(viewer) and not is_proxy_admin(viewer, write=True)


def test_a_tenants_key_does_neither():
    for tenant in (key(None), key(LitellmUserRoles.INTERNAL_USER), key("team"), SimpleNamespace()):
        assert not is_proxy_admin(tenant) and not is_proxy_admin(tenant, write=True)
