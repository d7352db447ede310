"""Turn a Recorder into results: summary.json, PNG plots and a printed table, plus the SLO verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from loadtest.recorder import Recorder, stats_of

__all__ = ["SLO_US", "summarize", "slo_verdict", "format_table", "plot_over_time", "plot_distributions",
           "progress_line"]

SLO_US = 1000.0  # cache-hit latency: p50 and p99 under 1 ms
_LABELS = {"none": "no cache header (writes)", "condfail": "condition failed (expected)"}
_COLOURS = {"hit": "tab:green", "miss": "tab:red", "bypass": "tab:orange", "none": "tab:blue",
            "condfail": "tab:purple", "error": "black"}


def summarize(recorder: Recorder, elapsed: float) -> dict[str, Any]:
    """Per operation (all, and per cache status), per cache status across operations, achieved rate."""
    _, lat, sid = recorder.arrays()
    operations: dict[str, dict[str, Any]] = {}
    for name in sorted({n for n, _ in recorder.series}):
        entry: dict[str, Any] = {"all": stats_of(lat[recorder.mask(sid, name=name)]).as_dict()}
        for status in sorted({s for n, s in recorder.series if n == name}):
            entry[status] = stats_of(lat[recorder.mask(sid, name=name, status=status)]).as_dict()
        entry["rate"] = round(entry["all"]["count"] / elapsed, 1) if elapsed > 0 else 0.0
        operations[name] = entry
    by_status = {status: stats_of(lat[recorder.mask(sid, status=status)]).as_dict()
                 for status in sorted({s for _, s in recorder.series})}
    reads = sum(by_status.get(s, {}).get("count", 0) for s in ("hit", "miss", "bypass"))
    return {
        "requests": int(lat.size),
        "elapsed_s": round(elapsed, 3),
        "achieved_rate": round(lat.size / elapsed, 1) if elapsed > 0 else 0.0,
        "all": stats_of(lat).as_dict(),
        "cache": by_status,
        "hit_ratio": round(by_status.get("hit", {}).get("count", 0) / reads, 4) if reads else None,
        "operations": operations,
        "errors": dict(sorted(recorder.errors.items())),
        "warmup_dropped": recorder.warmup_dropped,
    }


def slo_verdict(summary: dict[str, Any], target_rate: float) -> dict[str, Any]:
    """Cache-hit p50 and p99 under 1 ms, with the achieved rate within 10% of the target."""
    hit = summary["cache"].get("hit")
    verdict: dict[str, Any] = {"rule": "cache-hit p50 < 1000 us and p99 < 1000 us at the configured rate",
                               "threshold_us": SLO_US, "target_rate": target_rate,
                               "achieved_rate": summary["achieved_rate"]}
    if not hit or not hit["count"]:
        return {**verdict, "passed": False, "reason": "no cache hits observed (is the target the accelerator?)"}
    verdict.update(hit_p50_us=hit["p50_us"], hit_p99_us=hit["p99_us"], hit_count=hit["count"])
    reasons = []
    if hit["p50_us"] >= SLO_US:
        reasons.append(f"hit p50 {hit['p50_us']:.0f} us >= 1 ms")
    if hit["p99_us"] >= SLO_US:
        reasons.append(f"hit p99 {hit['p99_us']:.0f} us >= 1 ms")
    if summary["achieved_rate"] < 0.9 * target_rate:
        reasons.append(f"achieved {summary['achieved_rate']:.0f} req/s < 90% of {target_rate:.0f}")
    return {**verdict, "passed": not reasons, "reason": "; ".join(reasons) or "ok"}


def format_table(summary: dict[str, Any]) -> str:
    rows = [("operation", "cache", "count", "rate/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us")]
    elapsed = summary["elapsed_s"] or 1.0
    for name, entry in summary["operations"].items():
        statuses = [s for s in entry if s not in ("all", "rate")]
        for i, status in enumerate((["all"] if len(statuses) > 1 else []) + statuses):
            st = entry[status]
            rows.append((name if i == 0 else "", status, str(st["count"]),
                         f"{st['count'] / elapsed:.0f}", f"{st['p50_us']:.0f}", f"{st['p90_us']:.0f}",
                         f"{st['p99_us']:.0f}", f"{st['p999_us']:.0f}", f"{st['max_us']:.0f}"))
    rows.append(("", "", "", "", "", "", "", "", ""))
    for status, st in summary["cache"].items():
        rows.append(("(all operations)", status, str(st["count"]), f"{st['count'] / elapsed:.0f}",
                     f"{st['p50_us']:.0f}", f"{st['p90_us']:.0f}", f"{st['p99_us']:.0f}", f"{st['p999_us']:.0f}",
                     f"{st['max_us']:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def progress_line(recorder: Recorder, start: int, elapsed: float, interval: float) -> str:
    """One line for the samples since ``start``: rate, and hit / other latencies."""
    _, lat, sid = recorder.arrays(start)
    parts = [f"[{elapsed:6.1f}s] {len(recorder):8d} req  {lat.size / interval:7.0f} req/s"]
    for status in ("hit", "miss", "bypass", "none", "error"):
        sel = lat[recorder.mask(sid, status=status)]
        if sel.size:
            st = stats_of(sel)
            parts.append(f"{status} p50 {st.p50_us:6.0f} p99 {st.p99_us:6.0f} us")
    return "  ".join(parts)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _binned_percentiles(t: np.ndarray, lat: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p50 and p99 of ``lat`` in each time bin (NaN for an empty bin): one sort, then a split per bin."""
    bins = np.clip(np.digitize(t, edges) - 1, 0, len(edges) - 2)
    order = np.argsort(bins, kind="stable")
    groups = np.split(lat[order], np.searchsorted(bins[order], np.arange(1, len(edges) - 1)))
    p50 = np.array([np.percentile(g, 50) if g.size else np.nan for g in groups])
    p99 = np.array([np.percentile(g, 99) if g.size else np.nan for g in groups])
    return p50, p99


def plot_over_time(recorder: Recorder, path: Path, title: str) -> None:
    """p50/p99 per time bin for each cache status, and the achieved rate, over the run."""
    plt = _pyplot()
    t, lat, sid = recorder.arrays()
    fig, (ax, ax_rate) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=[3, 1])
    if t.size:
        span = float(t.max() - t.min()) or 1.0
        width = max(0.5, span / 120)
        edges = np.arange(float(t.min()), float(t.max()) + width, width)
        centers = (edges[:-1] + edges[1:]) / 2
        for status in sorted({s for _, s in recorder.series}):
            m = recorder.mask(sid, status=status)
            p50, p99 = _binned_percentiles(t[m], lat[m], edges)
            colour = _COLOURS.get(status)
            label = _LABELS.get(status, status)
            ax.plot(centers, p50, color=colour, lw=1, ls="--", label=f"{label} p50")
            ax.plot(centers, p99, color=colour, lw=1.5, label=f"{label} p99")
        counts, _ = np.histogram(t, edges)
        ax_rate.plot(centers, counts / width, color="tab:gray")
    ax.axhline(SLO_US, color="black", lw=0.8, ls=":", label="1 ms SLO")
    ax.set_yscale("log")
    ax.set_ylabel("latency (µs)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=3)
    ax.grid(True, which="both", alpha=0.3)
    ax_rate.set_ylabel("req/s")
    ax_rate.set_xlabel("seconds since start")
    ax_rate.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_distributions(recorder: Recorder, path: Path, title: str) -> None:
    """Hit vs miss (and the rest): a log-binned histogram and a percentile curve (HDR-style)."""
    plt = _pyplot()
    _, lat, sid = recorder.arrays()
    fig, (ax_h, ax_p) = plt.subplots(1, 2, figsize=(13, 5))
    if lat.size:
        lo, hi = max(1.0, float(lat.min())), max(2.0, float(lat.max()))
        bins = np.geomspace(lo, hi * 1.01, 80)
        for status in sorted({s for _, s in recorder.series}):
            sel = np.sort(lat[recorder.mask(sid, status=status)])
            if not sel.size:
                continue
            colour = _COLOURS.get(status)
            label = _LABELS.get(status, status)
            ax_h.hist(sel, bins=bins, histtype="step", lw=1.5, color=colour, label=f"{label} (n={sel.size})")
            q = (np.arange(1, sel.size + 1) - 0.5) / sel.size
            ax_p.plot(1.0 / (1.0 - q), sel, color=colour, lw=1.5, label=label)
    for ax in (ax_h, ax_p):
        ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
    ax_h.axvline(SLO_US, color="black", lw=0.8, ls=":")
    ax_h.set_xlabel("latency (µs)")
    ax_h.set_ylabel("requests")
    ax_h.set_title(f"{title}: latency distribution")
    ax_h.legend(fontsize=8)
    ax_p.set_yscale("log")
    ax_p.axhline(SLO_US, color="black", lw=0.8, ls=":")
    ax_p.set_xlim(left=1)
    ticks = [2, 10, 100, 1000, 10000]
    ax_p.set_xticks(ticks, ["p50", "p90", "p99", "p99.9", "p99.99"])
    ax_p.set_ylabel("latency (µs)")
    ax_p.set_title("latency by percentile")
    ax_p.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
