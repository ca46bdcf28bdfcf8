"""The tenant a request is billed to comes from its authenticated key, in the order the operator configured."""

from __future__ import annotations

from costroute_plugins.identity import tenant_of, tier_of

KEY_METADATA = {
    "user_api_key_team_id": "team-ops",
    "user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
    "user_api_key_end_user_id": "alice",
    # Client-supplied metadata never names the tenant, whatever it claims.
    "requester_metadata": {"tenant": "someone-else"},
}


def test_team_wins_over_key_by_default():
    assert tenant_of(KEY_METADATA, ["team", "key"]) == "team:team-ops"


def test_key_hash_is_shortened_when_it_names_the_tenant():
    assert tenant_of(KEY_METADATA, ["key"]) == "key:88dc28d0f030c55e"


def test_first_present_identity_is_used_and_absent_ones_are_skipped():
    assert tenant_of({"user_api_key_end_user_id": "alice"}, ["team", "end_user", "key"]) == "end_user:alice"


def test_request_without_identity_is_anonymous():
    assert tenant_of({}, ["team", "key"]) == "anonymous"


def test_tier_is_the_group_that_answered_else_the_routers_choice():
    tiers = ["cheap", "balanced", "premium"]

    assert tier_of("balanced", {"tier": "cheap"}, tiers) == "balanced"  # cheap failed, fallback answered
    assert tier_of(None, {"tier": "cheap"}, tiers) == "cheap"
    assert tier_of("premium", None, tiers) == "premium"
    assert tier_of("some-other-group", None, tiers) == "other"
