"""The tenant a request is billed to comes from its authenticated key, in the order the operator configured."""

from __future__ import annotations

from costroute_plugins.identity import Identity, tenant_of, tier_of

KEY = Identity.from_litellm(
    {
        "user_api_key_team_id": "team-ops",
        "user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
        "user_api_key_end_user_id": "alice",
    },
    # Client-supplied metadata never names the tenant, whatever it claims.
    claimed={"tenant": "someone-else", "user_api_key_team_id": "victim"},
)


def test_team_wins_over_key_by_default():
    assert tenant_of(KEY, ["team", "key"]) == "team:team-ops"


def test_key_hash_is_shortened_when_it_names_the_tenant():
    assert tenant_of(KEY, ["key"]) == "key:88dc28d0f030c55e"


def test_an_end_user_only_narrows_the_tenant_of_the_key_that_named_it():
    # The body's `user` field is the caller's claim: two teams naming the same end user stay two tenants.
    other_team = Identity(team="team-b", end_user="alice")

    assert tenant_of(KEY, ["end_user", "team"]) == "end_user:alice@team:team-ops"
    assert tenant_of(other_team, ["end_user", "team"]) == "end_user:alice@team:team-b"
    assert tenant_of(Identity(end_user="alice"), ["end_user"]) == "end_user:alice@anonymous"


def test_first_present_identity_is_used_and_absent_ones_are_skipped():
    assert tenant_of(Identity(key="ab" * 32), ["team", "end_user", "key"]) == "key:abababababababab"


def test_request_without_identity_is_anonymous():
    assert tenant_of(Identity(), ["team", "key"]) == "anonymous"


def test_a_structure_or_empty_string_is_never_an_identity():
    identity = Identity.from_litellm({"user_api_key_team_id": {"$ne": 1}, "user_api_key_hash": " "})

    assert identity.team is None and identity.key is None
    assert tenant_of(identity, ["team", "key"]) == "anonymous"


def test_tier_is_the_group_that_answered_else_the_routers_choice():
    tiers = ["cheap", "balanced", "premium"]

    assert tier_of("balanced", {"tier": "cheap"}, tiers) == "balanced"  # cheap failed, fallback answered
    assert tier_of(None, {"tier": "cheap"}, tiers) == "cheap"
    assert tier_of("premium", None, tiers) == "premium"
    assert tier_of("some-other-group", None, tiers) == "other"
