"""A wall clock a test moves by hand: budgets and the audit spend cap read their periods from it."""

from __future__ import annotations

from datetime import datetime


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def timestamp(self) -> float:
        """The same moment as seconds since the epoch: the in-memory store must expire counters on this clock,
        not the machine's, or a test dated in the past finds every counter already expired."""
        return self.now.timestamp()
