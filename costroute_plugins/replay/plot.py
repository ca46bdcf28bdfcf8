"""The replay's chart: spend against always-premium with the saving split, quality lost by cause, who served what."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_replay(report: dict[str, Any], out: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cost, quality = report["cost"], report["quality"]
    figure, (spend, kept, shares) = plt.subplots(1, 3, figsize=(13, 4.2))
    saving = cost["saving_by"]
    spend.bar(["always premium"], [cost["always_premium_usd"]], color="tab:red")
    bottom = cost["actual_usd"]
    spend.bar(["costroute"], [bottom], color="tab:blue", label="spent")
    for name, colour in (("cache", "tab:green"), ("routing", "tab:olive"), ("budget", "tab:orange")):
        spend.bar(["costroute"], [saving[name]], bottom=[bottom], color=colour, alpha=0.6, label=f"saved: {name}")
        bottom += saving[name]
    # "$" would start matplotlib mathtext: spell the currency out.
    spend.set_title(f"Cost: -{cost['reduction_pct']:.1f}% vs always premium")
    spend.set_ylabel("USD")
    spend.legend(fontsize=8)
    # Both quality means sit near 0.8; what a reader acts on is where the few lost points went.
    causes = quality["loss_points_by_cause"]
    kept.barh([name.replace("_", " ") for name in causes], list(causes.values()), color="tab:purple")
    kept.invert_yaxis()
    kept.set_title(f"Quality: -{quality['loss_pct']:.2f}% vs premium "
                   f"({quality['served_mean']:.3f} vs {quality['always_premium_mean']:.3f})")
    kept.set_xlabel("points of the quality loss, by cause")
    names = list(report["tier_shares"])
    shares.bar(names, [report["tier_shares"][name] for name in names], color="tab:gray")
    shares.set_title(f"Served by ({report['requests']} requests)")
    shares.set_ylabel("share of requests")
    latency = report["latency_s"]
    figure.suptitle(f"costroute replay: latency p50 {latency['p50']} s, p95 {latency['p95']} s")
    figure.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
