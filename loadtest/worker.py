"""One load-generator process of ``--generators N``: a Locust worker that ships exact samples to the master.

Run by ``loadtest.distributed``; not meant to be started by hand.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import gevent  # locust monkey-patches on import, before our sockets exist
from locust.env import Environment

from loadtest.distributed import FLUSHED, SAMPLES, pack
from loadtest.recorder import Recorder
from loadtest.runner import load_scenario

_SHIP_EVERY = 0.5  # seconds between sample batches


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.worker")
    p.add_argument("--master-port", type=int, required=True)
    p.add_argument("--scenario", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--rate-per-user", type=float, required=True)
    p.add_argument("--keys", type=int)
    args = p.parse_args(argv)
    scenario = load_scenario(args.scenario, args.keys)
    user = scenario.user
    user.rate_per_user = args.rate_per_user
    user.host = args.host
    env = Environment(user_classes=[user], host=args.host)
    recorder = Recorder()
    recorder.origin = 0.0  # absolute start times: the master places them on its own time line
    env.events.request.add_listener(recorder.on_request)
    runner = env.create_worker_runner("127.0.0.1", args.master_port)
    sent = [0]
    errors_sent: dict[str, int] = {}

    def ship(kind: str) -> None:
        batch = pack(recorder, sent[0], errors_sent)
        sent[0] = len(recorder)
        runner.send_message(kind, batch)

    def shipper() -> None:
        while True:
            gevent.sleep(_SHIP_EVERY)
            if len(recorder) > sent[0]:
                ship(SAMPLES)

    def on_stop(**_: Any) -> None:
        ship(FLUSHED)

    env.events.test_stop.add_listener(on_stop)
    gevent.spawn(shipper)
    runner.greenlet.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
