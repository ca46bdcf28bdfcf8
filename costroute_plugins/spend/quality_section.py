"""The quality section of ``costroute report --quality-from URL``: what the savings cost in quality.

Spend comes from the ledger; quality from the proxy itself (``GET /costroute/quality``, proxy admins), since the
fleet's estimate and the quality loop's state live in its shared store, not in ledger rows. Reading it is one
HTTP call; a proxy that cannot be reached is an error naming the option, never a silently missing section.
"""

from __future__ import annotations

from typing import Any

import httpx

PATH = "/costroute/quality"


class QualityUnavailable(RuntimeError):
    """The proxy did not answer with a quality summary; the message says why and what to check."""


def fetch(base_url: str, key: str | None, timeout_s: float = 10.0) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(base_url.rstrip("/") + PATH, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise QualityUnavailable(f"cannot reach {base_url} ({type(error).__name__})") from error
    # A GET without a body fails only on its key: LiteLLM answers 401/403, or 400 when it would need its database
    # to look a virtual key up ("No connected db.").
    if response.status_code in (400, 401, 403):
        raise QualityUnavailable(f"{base_url} refused the key (HTTP {response.status_code}: {_message(response)}): the "
                                 "quality figures need a proxy admin key (--key, default $LITELLM_MASTER_KEY)")
    if response.status_code != 200:
        raise QualityUnavailable(f"{base_url}{PATH} answered HTTP {response.status_code}")
    return response.json()


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


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
