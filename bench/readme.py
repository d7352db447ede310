"""Copy measured figures from bench/RESULTS.md into the README: ``python -m bench.readme`` (``--check`` only compares).

The README marks each copied block ``<!-- include: NAME -->`` ... ``<!-- /include -->``; NAME is a section of
RESULTS.md (see bench/results.py). The benchmark scripts call this after writing their section.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from bench.results import INCLUDE, RESULTS, ROOT, read_section

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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.readme", description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 when the README's figures differ from RESULTS.md")
    args = p.parse_args(argv)
    old = README.read_text()
    new, missing = render(old, RESULTS.read_text())
    for name in missing:
        print(f"README includes section {name!r}, which bench/RESULTS.md does not have", file=sys.stderr)
    if args.check:
        if new != old:
            print("README figures differ from bench/RESULTS.md: run python -m bench.readme", file=sys.stderr)
        return 1 if new != old or missing else 0
    if new != old:
        README.write_text(new)
        print("README.md updated from bench/RESULTS.md")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
