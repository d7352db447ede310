"""bench/RESULTS.md is written by several scripts; each owns named sections and never touches the others.

A section is the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``. Sections may nest (the compare
section holds a ``compare-table`` section) so that the README can include a part of a script's output by name:
``python -m bench.readme`` copies every ``<!-- include: NAME -->`` block of the README from RESULTS.md, and
``tests/test_readme_figures.py`` fails when the two differ, so a figure in the README is always a measured one.

It lives in ``loadtest`` (an installed package) rather than ``bench`` (a directory of scripts) because
``accelerator loadtest --record`` writes a section too, and the console script does not run from the checkout.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
TITLE = "# Benchmark results\n\nEvery section below is written by the script it names; do not edit by hand.\n"


def start(name: str) -> str:
    return f"<!-- {name}:start -->"


def end(name: str) -> str:
    return f"<!-- {name}:end -->"


def wrap(name: str, body: str) -> str:
    """``body`` between the markers of section ``name``."""
    return f"{start(name)}\n{body.strip(chr(10))}\n{end(name)}"


def read_section(text: str, name: str) -> str | None:
    """The body of section ``name`` in ``text`` (without its markers), or None when absent."""
    a, b = text.find(start(name)), text.find(end(name))
    if a < 0 or b < a:
        return None
    return text[a + len(start(name)):b].strip("\n")


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with section ``name`` replaced by ``body`` (appended at the end when absent)."""
    block = wrap(name, body)
    a, b = text.find(start(name)), text.find(end(name))
    if a < 0 or b < a:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    return text[:a] + block + text[b + len(end(name)):]


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or add) one section of RESULTS.md, keep every other, then refresh the README's copies."""
    text = path.read_text() if path.exists() else TITLE
    path.write_text(replace_section(text, name, body))
    if path == RESULTS:
        update()


INCLUDE = re.compile(r"<!-- include: ([\w-]+) -->\n(.*?)<!-- /include -->", re.S)

README = ROOT / "README.md"


def render(readme: str, results: str) -> tuple[str, list[str]]:
    """The README with every include refreshed, and the names of includes RESULTS.md lacks."""
    missing: list[str] = []

    def fill(m: re.Match[str]) -> str:
        body = read_section(results, m.group(1))
        if body is None:
            missing.append(m.group(1))
            return m.group(0)
        return f"<!-- include: {m.group(1)} -->\n{body}\n<!-- /include -->"

    return INCLUDE.sub(fill, readme), missing


def update(readme: Path = README, results: Path = RESULTS) -> bool:
    """Refresh the README in place; True when it changed."""
    old = readme.read_text()
    new, _ = render(old, results.read_text())
    if new != old:
        readme.write_text(new)
    return new != old
