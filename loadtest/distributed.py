"""Locust's distributed mode for one machine: this process is the master, N worker processes generate load.

One Locust process tops out at a few thousand paced requests per second, well below what the server answers,
so ``--generators N`` spreads the users over N processes (Locust's own master/worker protocol). Locust's
aggregated statistics round latencies, so each worker also ships its exact samples (start time, latency in
µs, series) to the master in binary batches twice a second, and once more when the run stops; the master
merges them into one ``Recorder``, so summary.json, the HTML report and the plots are the same as for a
single-process run. Start times are wall-clock (``time.time()``): all processes share one machine's clock.
"""

from __future__ import annotations

import subprocess
import sys
import time
from array import array
from typing import Any

import gevent
import psutil
from locust.env import Environment

from loadtest import report
from loadtest.common import Scenario
from loadtest.process import ROOT, free_port
from loadtest.recorder import Recorder

__all__ = ["run_distributed_phase", "SAMPLES", "FLUSHED", "pack", "merge"]

SAMPLES = "accelerator-samples"
FLUSHED = "accelerator-flushed"
_JOIN_TIMEOUT = 60.0
_FLUSH_TIMEOUT = 30.0


def pack(recorder: Recorder, start: int, errors_sent: dict[str, int]) -> dict[str, Any]:
    """Samples from index ``start`` on (times absolute, as the worker's recorder keeps them) and new errors."""
    n = len(recorder)
    errors = {k: v - errors_sent.get(k, 0) for k, v in recorder.errors.items() if v != errors_sent.get(k, 0)}
    errors_sent.update(recorder.errors)
    return {"series": [list(s) for s in recorder.series], "t": recorder.t[start:n].tobytes(),
            "lat": recorder.latency[start:n].tobytes(), "sid": recorder.sid[start:n].tobytes(), "errors": errors}


def merge(into: Recorder, data: dict[str, Any]) -> int:
    """Add a worker's batch to the master's recorder (dropping warm-up samples); returns the samples taken."""
    series = [(str(n), str(s)) for n, s in data["series"]]
    t, lat, sid = array("d"), array("d"), array("H")
    t.frombytes(data["t"])
    lat.frombytes(data["lat"])
    sid.frombytes(data["sid"])
    taken = 0
    for start, latency, index in zip(t, lat, sid, strict=True):
        rel = start - into.origin
        if rel < into.measure_from:
            into.warmup_dropped += 1
            continue
        name, status = series[index]
        into.add(name, status, latency, rel)
        taken += 1
    for key, count in data["errors"].items():
        into.errors[key] = into.errors.get(key, 0) + count
    return taken


class _Workers:
    """The worker processes and their CPU time."""

    def __init__(self, args: list[str], count: int) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-m", "loadtest.worker", *args], cwd=ROOT)
                      for _ in range(count)]
        self._ps = [psutil.Process(p.pid) for p in self.procs]

    def cpu_seconds(self) -> float:
        total = 0.0
        for ps in self._ps:
            try:
                times = ps.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a load generator process exited early (status {proc.returncode})")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_distributed_phase(scenario: Scenario, scenario_name: str, keys: int | None, url: str, rate: float,
                          users: int, duration: float, generators: int, warmup: float = 0.0,
                          progress_every: float | None = 5.0, server: Any = None,
                          ) -> tuple[Recorder, Environment, dict[str, Any]]:
    """As ``runner.run_phase``, with the users spread over ``generators`` worker processes."""
    user = scenario.user
    user.rate_per_user = rate / users
    user.host = url
    env = Environment(user_classes=[user], host=url)
    recorder = Recorder()
    per_worker: dict[str, int] = {}
    flushed: set[str] = set()

    def on_samples(environment: Any = None, msg: Any = None, **_: Any) -> None:
        per_worker[msg.node_id] = per_worker.get(msg.node_id, 0) + merge(recorder, msg.data)

    def on_flushed(environment: Any = None, msg: Any = None, **_: Any) -> None:
        on_samples(environment, msg)
        flushed.add(msg.node_id)

    port = free_port()
    master = env.create_master_runner("127.0.0.1", port)
    master.register_message(SAMPLES, on_samples)
    master.register_message(FLUSHED, on_flushed)
    args = ["--master-port", str(port), "--scenario", scenario_name, "--host", url,
            "--rate-per-user", repr(rate / users)] + (["--keys", str(keys)] if keys else [])
    workers = _Workers(args, generators)
    try:
        deadline = time.monotonic() + _JOIN_TIMEOUT
        while master.worker_count < generators:
            workers.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {master.worker_count} of {generators} load generators connected")
            gevent.sleep(0.05)
        recorder.reset_origin(warmup)
        master.start(users, spawn_rate=max(10.0, users * 10.0))
        gevent.sleep(warmup)
        cpu0, gen0 = time.process_time(), workers.cpu_seconds()
        server_cpu0 = server.cpu_seconds() if server else None
        t0 = time.perf_counter()
        printed, end = 0, t0 + duration
        while (now := time.perf_counter()) < end:
            step = min(progress_every or duration, end - now)
            gevent.sleep(step)
            if progress_every:
                line = report.progress_line(recorder, printed, time.perf_counter() - t0, step)
                printed = len(recorder)
                print(line, flush=True)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0 + workers.cpu_seconds() - gen0
        server_cpu1 = server.cpu_seconds() if server else None
        master.stop()
        deadline = time.monotonic() + _FLUSH_TIMEOUT
        while len(flushed) < generators and time.monotonic() < deadline:
            gevent.sleep(0.05)  # the workers' last batches (samples of requests that were in flight)
        master.quit()
    finally:
        workers.stop()
    n = max(len(recorder), 1)
    costs: dict[str, Any] = {"generators": generators, "generator_cpu_s": round(cpu, 3),
                             "generator_cpu_us_per_request": round(cpu / n * 1e6, 1),
                             "samples_per_generator": sorted(per_worker.values())}
    if server_cpu0 is not None and server_cpu1 is not None:
        costs.update(server_cpu_s=round(server_cpu1 - server_cpu0, 3),
                     server_cpu_us_per_request=round((server_cpu1 - server_cpu0) / n * 1e6, 1))
    costs["elapsed_s"] = elapsed
    return recorder, env, costs
