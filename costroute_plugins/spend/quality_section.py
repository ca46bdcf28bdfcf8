"""The quality section of ``costroute report --quality-from URL``: what the savings cost in quality.

Spend comes from the ledger; quality from the proxy itself (``GET /costroute/quality``, proxy admins), since the
fleet's estimate and the quality loop's state live in its shared store, not in ledger rows. Reading it is one
HTTP call; a proxy that cannot be reached is an error naming the option, never a silently missing section.
"""

from __future__ import annotations

from typing import Any

from costroute_plugins.admin_client import call_admin

PATH = "/costroute/quality"


def fetch(base_url: str, key: str | None, timeout_s: float = 10.0) -> dict[str, Any]:
    """The proxy's quality summary; ``AdminCallFailed`` saying what to check otherwise."""
    return call_admin(base_url, key, "GET", PATH, "the quality figures", timeout_s=timeout_s)


def text(summary: dict[str, Any]) -> str:
    """The section as lines under the spend table."""
    overall = summary.get("overall")
    loop = summary.get("loop") or {}
    lines = [f"quality (target {summary.get('target')}):"]
    if not summary.get("enabled"):
        lines.append("  audits off (costroute.quality.enabled: false): no estimate")
    elif overall:
        lines.append(f"  routed traffic keeps {overall['value']:.3f} [{overall['lower']:.3f}, {overall['upper']:.3f}] "
                     f"of the top tier's quality ({int(overall['count'])} audits)")
    else:
        lines.append("  too few audits for an estimate yet")
    if summary.get("audit_spend_today_usd") is not None:
        lines.append(f"  audit spend today: ${summary['audit_spend_today_usd']:.4f} (in audit_usd above)")
    if loop.get("enabled"):
        changes = loop.get("changes") or []
        lines.append(f"  quality loop: shift {loop.get('shift', 0.0):.3f}, {len(changes)} changes"
                     + (f"; last: {changes[0]['direction']} ({changes[0]['reason']})" if changes else ""))
    return "\n".join(lines)
