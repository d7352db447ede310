"""``--record``: one row per (scenario, config) in the ``loadtest-slo`` section of bench/RESULTS.md.

The README includes that section (``python -m bench.readme``), so the SLO figures it shows are the last
recorded runs, never typed by hand. A new run of the same scenario and config replaces its row.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from loadtest.results_md import RESULTS, read_section, wrap, write_section

SECTION = "loadtest-slo"
HEAD = ("| scenario | config | rate req/s (achieved) | hit p50 / p99 µs | miss p50 / p99 µs "
        "| writes p99 / p99.9 / max µs | hit ratio | SLO | measured |")
RULE = "|---|---|---:|---:|---:|---:|---:|---|---|"
INTRO = ("Written by `accelerator loadtest ... --record` (one row per scenario and config; a new run replaces its "
         "row). 1 Locust user in one process unless the row says otherwise (`--users`, `--generators`); writes are the "
         "operations without a cache header.")


def _pair(st: dict[str, Any] | None, *keys: str) -> str:
    if not st or not st.get("count"):
        return "–"
    return " / ".join(f"{st[k]:.0f}" for k in keys)


def row(summary: dict[str, Any]) -> str:
    cache = summary["cache"]
    config = summary["server"].get("config") or "external target"
    ratio = summary.get("hit_ratio")
    slo = summary["slo"]
    users = f", {summary['users']} users" if summary["users"] != 1 else ""
    generators = summary.get("generator", {}).get("generators") or 0
    # A run over several generator processes is a different experiment: its own row beside the 1-user one.
    where = (Path(config).name if config != "external target" else config) + (
        f", {generators} generators" if generators else "")
    keys = summary.get("params", {}).get("keys")
    scenario = summary["scenario"] + (f" ({keys:,} keys)" if keys else "")
    return (f"| {scenario} | {where} "
            f"| {summary['rate_target']:.0f} ({summary['achieved_rate']:.0f}){users} "
            f"| {_pair(cache.get('hit'), 'p50_us', 'p99_us')} | {_pair(cache.get('miss'), 'p50_us', 'p99_us')} "
            f"| {_pair(cache.get('none'), 'p99_us', 'p999_us', 'max_us')} "
            f"| {f'{ratio:.0%}' if ratio is not None else '–'} | {'pass' if slo['passed'] else 'FAIL: ' + slo['reason']} "
            f"| {summary['started_at'][:16].replace('T', ' ')}, {summary['duration_s']:g} s after "
            f"{summary['warmup_s']:g} s warm-up, load avg {os.getloadavg()[0]:.1f} |")


def _key(line: str) -> tuple[str, str]:
    """(scenario without its key count, config with generators): the row a new run replaces."""
    scenario, where = line.split(" | ")[:2]
    return scenario.split(" (")[0], where


def record(summary: dict[str, Any], path: Path = RESULTS) -> None:
    old = read_section(path.read_text(), SECTION) if path.exists() else None
    rows = [line for line in (old or "").splitlines() if line.startswith("| ") and not line.startswith("| scenario")]
    new = row(summary)
    key = _key(new)
    rows = [r for r in rows if _key(r) != key] + [new]
    rows.sort()
    table = wrap(SECTION + "-table", "\n".join([HEAD, RULE, *rows]))
    write_section(SECTION, "\n".join(["## Load-test SLO runs", "", INTRO, "", table]), path)
