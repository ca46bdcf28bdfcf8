"""costroute's per-request state comes only from the proxy: nothing a client can put in a request stands in for it.

A client sends JSON. Whatever JSON lands in ``metadata``, ``litellm_metadata`` or ``litellm_params``, no state is
found, so nothing tenant-scoped (cache, budgets, ledger identity) acts on the client's word.
"""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from costroute_plugins.identity import Identity
from costroute_plugins.proxy.request import STATE_KEY, RequestState, attach, client_metadata, state_in

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FORGED_STATE = st.fixed_dictionaries({"tenant": st.text(max_size=20), "request_id": st.text(max_size=20)}) | JSON


@given(metadata=st.dictionaries(st.text(max_size=12), JSON, max_size=4), forged=FORGED_STATE,
       where=st.sampled_from(["metadata", "litellm_metadata"]))
def test_no_client_json_anywhere_in_a_request_is_taken_for_costroutes_state(metadata, forged, where):
    body = {where: {**metadata, STATE_KEY: forged}, "litellm_params": {"metadata": {STATE_KEY: forged}}}

    assert state_in(body) is None


def test_the_state_is_filed_where_the_proxy_put_the_identity_and_survives_litellms_copies():
    state = RequestState(identity=Identity(team="ops"), tenant="team:ops", route="anthropic_messages")
    data = {"proxy_server_request": {"url": "http://proxy/v1/messages"},
            "metadata": {STATE_KEY: {"tenant": "team:victim"}, "user_id": "claude-code"},
            "litellm_metadata": {"user_api_key_team_id": "ops"}}

    attach(data, state)
    copied = copy.deepcopy({"litellm_params": {"metadata": dict(data["litellm_metadata"])}})

    assert data["litellm_metadata"][STATE_KEY] is state and STATE_KEY not in data["metadata"]
    assert state_in(copied) is state  # the same object: what one hook records, the next one reads
    assert client_metadata(data) == {"user_id": "claude-code"}


def test_on_chat_a_client_sent_litellm_metadata_is_not_where_the_state_goes():
    state = RequestState(identity=Identity(team="ops"), tenant="team:ops", route="acompletion")
    data = {"proxy_server_request": {"url": "http://proxy/v1/chat/completions"},
            "metadata": {"user_api_key_team_id": "ops"}, "litellm_metadata": {"planted": True}}

    attach(data, state)

    assert data["metadata"][STATE_KEY] is state and STATE_KEY not in data["litellm_metadata"]


def test_request_ids_are_generated_and_never_repeat():
    ids = {RequestState(identity=Identity(), tenant="anonymous", route="acompletion").request_id for _ in range(1000)}

    assert len(ids) == 1000
