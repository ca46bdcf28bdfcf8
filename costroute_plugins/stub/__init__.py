"""OpenAI-compatible stub upstream (see ``server.py``); ``costroute stub-upstream`` runs it."""

from costroute_plugins.stub.server import StubBehaviour, StubUpstream

__all__ = ["StubBehaviour", "StubUpstream"]
