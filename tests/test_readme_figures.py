"""Figures in the README are copies of bench/RESULTS.md sections, refreshed by ``python -m bench.readme``."""

from __future__ import annotations

from pathlib import Path

from bench import readme
from loadtest.results_md import INCLUDE, read_section, replace_section

ROOT = Path(__file__).resolve().parent.parent


def test_readme_figures_equal_the_measured_ones() -> None:
    text = (ROOT / "README.md").read_text()
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    names = [m.group(1) for m in INCLUDE.finditer(text)]
    assert names, "the README includes no measured section"
    rendered, missing = readme.render(text, results)
    assert not missing, f"README includes sections bench/RESULTS.md lacks: {missing}"
    assert rendered == text, "README figures differ from bench/RESULTS.md: run `python -m bench.readme`"


def test_an_edited_figure_is_caught_and_refreshed() -> None:
    results = "# r\n\n" + "<!-- t:start -->\n| a | 1 |\n<!-- t:end -->\n"
    stale = "x\n<!-- include: t -->\n| a | 2 |\n<!-- /include -->\ny\n"
    rendered, missing = readme.render(stale, results)
    assert not missing and rendered != stale
    assert "| a | 1 |" in rendered and "| a | 2 |" not in rendered and rendered.endswith("y\n")
    assert readme.render("<!-- include: nope -->\n<!-- /include -->\n", results)[1] == ["nope"]


def test_a_script_replaces_only_its_own_section() -> None:
    text = "# r\n\n<!-- a:start -->\nold a\n<!-- a:end -->\n\n<!-- b:start -->\nb stays\n<!-- b:end -->\n"
    out = replace_section(text, "a", "new a")
    assert read_section(out, "a") == "new a" and read_section(out, "b") == "b stays"
    added = replace_section(out, "c", "fresh")
    assert read_section(added, "c") == "fresh" and read_section(added, "a") == "new a"
