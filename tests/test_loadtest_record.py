"""loadtest --record: one row per (scenario, config) in bench/RESULTS.md, inside a table section the README can
include; a new run of the same pair replaces its row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.record import record
from loadtest.results_md import read_section


def _summary(scenario: str, config: str, hit_p99: float) -> dict[str, Any]:
    stats = {"count": 10, "p50_us": 100.0, "p99_us": hit_p99, "p999_us": 900.0, "max_us": 950.0}
    return {"scenario": scenario, "server": {"config": config}, "users": 1, "rate_target": 1000.0,
            "achieved_rate": 998.0, "cache": {"hit": stats, "miss": stats, "none": stats}, "hit_ratio": 0.9,
            "slo": {"passed": hit_p99 < 1000, "reason": "hit p99 too high"}, "started_at": "2026-12-04T18:00:00",
            "duration_s": 60, "warmup_s": 5}


def test_rows_replace_by_scenario_and_config(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n")
    record(_summary("hot-keys", "/x/configs/default.toml", 400), path)
    record(_summary("session-store", "/x/configs/default.toml", 450), path)
    record(_summary("hot-keys", "/x/configs/default.toml", 1200), path)  # a new run of the same pair
    table = read_section(path.read_text(), "loadtest-slo-table")
    assert table is not None
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| scenario")]
    assert len(rows) == 2
    hot = next(r for r in rows if r.startswith("| hot-keys"))
    assert "100 / 1200" in hot and "FAIL: hit p99 too high" in hot


def test_a_run_over_generators_has_its_own_row(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n")
    one = _summary("hot-keys", "/x/configs/default.toml", 400) | {"params": {"keys": 100_000}}
    spread = _summary("hot-keys", "/x/configs/default.toml", 800) | {
        "params": {"keys": 10_000}, "users": 4, "generator": {"generators": 2}}
    record(one, path)
    record(spread, path)
    record(spread | {"params": {"keys": 20_000}}, path)  # the same experiment with another key count replaces it
    table = read_section(path.read_text(), "loadtest-slo-table")
    assert table is not None
    rows = [line for line in table.splitlines() if line.startswith("| hot-keys")]
    assert len(rows) == 2
    assert any(r.startswith("| hot-keys (100,000 keys) | default.toml |") for r in rows)
    assert any(r.startswith("| hot-keys (20,000 keys) | default.toml, 2 generators |") and ", 4 users" in r
               for r in rows)


def test_loadtest_never_imports_bench() -> None:
    """``accelerator loadtest --record`` runs as a console script, where only installed packages import:
    ``bench`` is a directory of scripts, so nothing in ``loadtest`` may import it (even lazily)."""
    import ast

    offenders = []
    for path in sorted((Path(__file__).resolve().parent.parent / "loadtest").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "bench" or n.startswith("bench.")]
    assert offenders == []
