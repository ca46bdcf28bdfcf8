"""Where budget counters live: the ``BudgetStore`` interface shared by the in-memory and Redis stores.

Amounts are integer nano-USD so that counters add exactly (Redis ``HINCRBY``) and a thousand tiny requests do
not drift the way floating-point sums would. A reservation is taken on all of a request's budgets at once, or
on none, so a request refused by its team budget does not hold part of its tenant budget.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

NANOS_PER_USD = 1_000_000_000
# The most one request reserves or settles. Far below what a counter holds (Redis counters are 64-bit: about
# 9.2e9 USD in nano-USD), even summed over 500,000 requests in flight, so an absurd estimate (a client's
# max_tokens of 10**30) still makes a reservation and meets the cap instead of overflowing the store.
MAX_AMOUNT_USD = 10_000.0


def to_nanos(usd: float) -> int:
    return round(usd * NANOS_PER_USD)


def amount_nanos(usd: float) -> int:
    """``usd`` as a counter amount: negative or NaN (an upstream's negative token counts, a broken price) counts
    as 0, anything above ``MAX_AMOUNT_USD`` (infinity included) as that bound."""
    if not usd > 0:
        return 0
    return to_nanos(min(usd, MAX_AMOUNT_USD))


def to_usd(nanos: int) -> float:
    return nanos / NANOS_PER_USD


@dataclass(frozen=True)
class Charge:
    """Reserve ``amount`` on counter ``key``; refuse when spent + reserved already reach ``cap`` (None: never)."""

    key: str
    amount: int
    cap: int | None
    expires_at: float  # unix seconds after which the counter is dropped (period end plus grace)


@dataclass(frozen=True)
class Usage:
    """A counter before the current operation: settled spend and in-flight reservations, nano-USD."""

    spent: int
    reserved: int

    @property
    def committed(self) -> int:
        return self.spent + self.reserved


@dataclass(frozen=True)
class ReserveOutcome:
    """``refused`` is the index of the charge whose cap was reached (nothing reserved), or None (all reserved)."""

    refused: int | None
    usage: tuple[Usage, ...]


class BudgetStore(ABC):
    """Atomic counters shared by every replica that uses the same store."""

    @abstractmethod
    async def reserve(self, reservation_id: str, charges: Sequence[Charge], ttl_s: float) -> ReserveOutcome:
        """Check every cap, then reserve every amount, atomically; reservations lapse after ``ttl_s``."""

    @abstractmethod
    async def settle(self, reservation_id: str, keys: Sequence[str], actual: int, expires_at: Sequence[float]) -> None:
        """Replace the reservation on each key by the actual spend (0 releases it). Call once per reservation."""

    @abstractmethod
    async def usage(self, keys: Sequence[str]) -> tuple[Usage, ...]:
        """Current counters, with lapsed reservations dropped."""

    async def close(self) -> None:
        """Release connections at proxy shutdown; nothing to release by default."""
