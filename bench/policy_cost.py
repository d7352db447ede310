"""What per-key policies cost on the hit path: server CPU per GetItem cache hit, in process (bench.hit_path's
stack and wire bytes, no socket), side by side in one run for

- ``none``: no policies file (the default; the router skips the check),
- ``allow``: a policies file, the key allowed GetItem on the table with no condition (a cached decision),
- ``conditions``: the key limited by ``dynamodb:LeadingKeys`` (StringLike) and ``dynamodb:Attributes``,
  evaluated on every request.

Rounds alternate between the variants so machine noise hits them alike; the best round of each is shown.

    python -m bench.policy_cost [--requests 5000] [--rounds 7] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import orjson

from accelerator.api import Router
from accelerator.core.context import PRINCIPAL
from accelerator.policy import Enforcer, PolicySet, parse_document
from accelerator.server import Server
from bench.hit_path import TABLE, build, run, wire_request
from loadtest.results_md import write_section

__all__ = ["main", "VARIANTS"]

KEY = "AKIDBENCH"
VARIANTS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "allow": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
         "Resource": f"arn:aws:dynamodb:*:*:table/{TABLE}"}]},
    "conditions": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
         "Resource": f"arn:aws:dynamodb:*:*:table/{TABLE}",
         "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["user#*"]},
                       "ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk", "name", "email"]}}}]},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policy_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="write the policy-cost section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]

    async def go() -> None:
        plain, store = await build()
        servers: dict[str, Server] = {}
        for name, document in VARIANTS.items():
            if document is None:
                servers[name] = plain
                continue
            enforcer = Enforcer(PolicySet({KEY: parse_document(document)}),
                                lambda table: store.call("DescribeTable", {"TableName": table}))
            servers[name] = Server(Router(store, enforcer=enforcer))
        bodies = [orjson.dumps({"TableName": TABLE, "Key": {"pk": {"S": f"user#{i % 1000:06d}"}},
                                "ProjectionExpression": "pk, #n", "ExpressionAttributeNames": {"#n": "name"}})
                  for i in range(args.requests)]
        requests = [wire_request(b) for b in bodies]
        # Each request runs in a copy of this context: the key a verified signature would have set.
        PRINCIPAL.set(KEY)
        best = {name: float("inf") for name in servers}
        for _ in range(args.rounds):
            for name, server in servers.items():
                if name == "conditions":  # the schema is learned once, on the first request, by a miss path
                    await store.call("DescribeTable", {"TableName": TABLE})
                best[name] = min(best[name], min(run(server, requests, 1)))
        base = best["none"]
        print(f"CPU per GetItem hit (in process, no socket; best of {args.rounds} alternating rounds of "
              f"{args.requests}):")
        for name, value in best.items():
            print(f"  {name:<11} {value:6.2f} us  ({value - base:+.2f} us vs none)")
        if args.write:
            write_section("policy-cost", _markdown(args, best, load_before))
            print("wrote the policy-cost section of bench/RESULTS.md")

    import uvloop

    uvloop.run(go())
    return 0


_LABELS = {"none": "no policies file", "allow": "Allow, no condition (remembered decision)",
           "conditions": "ForAllValues LeadingKeys (StringLike) + Attributes"}


def _markdown(args: argparse.Namespace, best: dict[str, float], load_before: float) -> str:
    base = best["none"]
    rows = "\n".join(f"| {_LABELS[name]} | {value:.2f} | {value - base:+.2f} |" for name, value in best.items())
    return (f"## Per-key policies: CPU per GetItem hit\n\n"
            f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.policy_cost --requests {args.requests} "
            f"--rounds {args.rounds} --write`: the server's stack in process (no socket), a projected GetItem hit, "
            f"best of alternating rounds; load average (1 min) {load_before:.1f} before the run.\n\n"
            f"| policy of the signing key | µs per hit | vs none |\n|---|---:|---:|\n{rows}")


if __name__ == "__main__":
    sys.exit(main())
