"""Copy measured figures from bench/RESULTS.md into the README: ``python -m bench.readme`` (``--check`` only compares).

The README marks each copied block ``<!-- include: NAME -->`` ... ``<!-- /include -->``; NAME is a section of
RESULTS.md (see loadtest/results_md.py). The benchmark scripts call this after writing their section.
"""
from __future__ import annotations

import argparse
import sys

from loadtest.results_md import README, RESULTS, render


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
