"""Budgets per tenant, team, key, end user or feature: reserve before a call, settle after, shift tiers near a cap.

The proxy adapter builds one ``BudgetGuard`` per process on a ``RedisBudgetStore`` (or ``InMemoryBudgetStore``
without Redis), calls ``check`` in its pre-call hook and ``settle`` when the call is logged.
"""

from costroute_plugins.budget.alert_once import AlertOnce
from costroute_plugins.budget.alerts import BudgetAlert, crossings
from costroute_plugins.budget.config import BudgetsConfig, BudgetSpec
from costroute_plugins.budget.decision import BudgetDecision, BudgetState, Reservation
from costroute_plugins.budget.estimate import estimate_cost_usd
from costroute_plugins.budget.factory import build_guard
from costroute_plugins.budget.guard import BudgetGuard, BudgetSubject
from costroute_plugins.budget.memory_store import InMemoryBudgetStore
from costroute_plugins.budget.metrics import BudgetMetrics
from costroute_plugins.budget.redis_store import RedisBudgetStore
from costroute_plugins.budget.store import BudgetStore

__all__ = [
    "AlertOnce", "BudgetAlert", "BudgetDecision", "BudgetGuard", "BudgetMetrics", "BudgetSpec", "BudgetState",
    "BudgetStore", "BudgetSubject", "BudgetsConfig", "InMemoryBudgetStore", "RedisBudgetStore", "Reservation",
    "build_guard", "crossings", "estimate_cost_usd",
]
