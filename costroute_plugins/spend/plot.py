"""The picture finance asks for: what was spent each day next to what always-premium, no-cache would have cost."""

from __future__ import annotations

from pathlib import Path

from costroute_plugins.spend.report import ReportRow


def plot_spend(days: list[ReportRow], out: str | Path) -> Path:
    """Daily spend vs the premium counterfactual, the gap shaded as savings. ``days`` come from ``by="day"``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [row.group for row in days]
    spent = [float(row.cost_usd) for row in days]
    premium = [float(row.premium_counterfactual_usd) for row in days]
    figure, axes = plt.subplots(figsize=(9, 4.5))
    axes.plot(labels, premium, marker="o", color="tab:red", label="always premium, no cache")
    axes.plot(labels, spent, marker="o", color="tab:blue", label="actual spend")
    axes.fill_between(labels, spent, premium, color="tab:green", alpha=0.2, label="saved by cache + router")
    axes.set_ylabel("USD per day")
    # "$" would start matplotlib mathtext: spell the currency out.
    axes.set_title(f"Spend vs always-premium: saved {sum(premium) - sum(spent):,.2f} of {sum(premium):,.2f} USD")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    path = Path(out)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
