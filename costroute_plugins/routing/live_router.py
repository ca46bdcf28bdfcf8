"""The router a replica serves with, following the live (and shadow) version ``costroute learn`` published.

Without a registry it is the configured artifact, fixed. With ``routing.registry`` set, ``poll`` reads the
registry's pointer (a file ``stat``, or one Redis ``GET`` with the mirror) and, when it names another version,
builds a new ``Router`` from that artifact with the configured tiers; the swap is one attribute assignment, so a
request routes wholly with the old router or wholly with the new one. A version that cannot load (or whose
calibration lacks a configured ``enter_at`` target, or that blends a second opinion ``opinions`` cannot provide)
raises: the caller keeps serving what it has, and says so.
The shadow candidate, when one is published, is scored beside the live router on every request and its choice
logged, never served.
"""

from __future__ import annotations

from dataclasses import dataclass

from costroute_plugins.routing.blend import SecondOpinions
from costroute_plugins.routing.registry import ArtifactRegistry
from costroute_plugins.routing.router import Router, RouterSettings


@dataclass
class Followed:
    """What one poll changed, for the log: the new live and shadow versions (None: unchanged)."""

    live: str | None = None
    shadow: str | None = None
    shadow_cleared: bool = False

    def __bool__(self) -> bool:
        return self.live is not None or self.shadow is not None or self.shadow_cleared


class LiveRouter:
    def __init__(self, settings: RouterSettings, router: Router, registry: ArtifactRegistry | None = None,
                 opinions: SecondOpinions | None = None) -> None:
        self.settings = settings
        self.router = router
        self.registry = registry
        self.opinions = opinions  # what a version blending a second opinion is served with (routing/blend.py)
        self.version: str | None = None  # None: the configured artifact
        self.shadow: Router | None = None
        self.shadow_version: str | None = None

    def poll(self) -> Followed:
        """Follow the registry's pointers (blocking I/O: call it off the event loop); raises when a named
        version cannot be served, leaving the current routers in place."""
        followed = Followed()
        if self.registry is None:
            return followed
        live = self.registry.live_version()
        if live is not None and live != self.version:
            self.router = Router.with_artifact(self.settings, self.registry.load(live), self.opinions)
            self.version = followed.live = live
        shadow = self.registry.shadow_version()
        if shadow != self.shadow_version:
            if shadow is None:
                self.shadow, followed.shadow_cleared = None, True
            else:
                self.shadow = Router.with_artifact(self.settings, self.registry.load(shadow), self.opinions)
                followed.shadow = shadow
            self.shadow_version = shadow
        return followed
