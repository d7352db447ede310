"""Headless runner: start a server (unless --target), preload, run Locust in-process, write results/.

``accelerator loadtest`` calls ``main(args)``; ``python -m loadtest.runner`` takes the same options plus a few
more (--warmup, --keys, CPU pinning, --find-max-rate). Exit status: 0 when the SLO holds (or --no-slo),
1 when it fails, 2 when the run could not be made.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import gevent  # imported by locust anyway; locust monkey-patches on import, before our sockets exist
import locust
from locust.env import Environment
from locust.html import get_html_report
from locust.stats import stats_history

from loadtest import SCENARIOS, report
from loadtest.common import Scenario
from loadtest.process import ROOT, free_port, start_healthy
from loadtest.recorder import Recorder

__all__ = ["main", "build_parser", "run_phase", "ServerUnderTest"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtest.runner", description=__doc__.split("\n")[0])
    p.add_argument("--scenario", default="session-store", choices=sorted(SCENARIOS))
    p.add_argument("--duration", type=float, default=60, help="seconds of measured load")
    p.add_argument("--rate", type=float, default=1000, help="requests per second in total")
    p.add_argument("--users", type=int, default=1, help="Locust users (each paced at rate/users)")
    p.add_argument("--generators", type=int, default=0,
                   help="load generator processes (Locust master + N workers; 0: this process alone)")
    p.add_argument("--target", help="URL of a running server (default: start one)")
    p.add_argument("--config", default="configs/default.toml", help="config for the server it starts")
    p.add_argument("--no-slo", action="store_true", help="do not fail on the latency SLO (smoke runs)")
    p.add_argument("--results", default="results", help="output directory")
    p.add_argument("--warmup", type=float, default=0.0, help="seconds of load before measuring")
    p.add_argument("--keys", type=int, help="key-space size (sessions / keys / customers)")
    p.add_argument("--no-preload", action="store_true", help="skip the preload (target already loaded)")
    p.add_argument("--warm-start", action="store_true",
                   help="keep what the preload put in the cache (default: flush it, so the run starts cold)")
    p.add_argument("--server-cpus", help="taskset CPU list for the server it starts, e.g. 1")
    p.add_argument("--client-cpus", help="CPU list for this process (the load generator), e.g. 0")
    p.add_argument("--progress-every", type=float, help="seconds between progress lines")
    p.add_argument("--find-max-rate", action="store_true",
                   help="sweep rates (from --rate up) for the highest with hit p99 < 1 ms")
    p.add_argument("--step-duration", type=float, default=10.0, help="seconds per --find-max-rate step")
    p.add_argument("--max-rate", type=float, default=20000.0, help="upper bound of the sweep")
    p.add_argument("--record", action="store_true",
                   help="write this run's row into bench/RESULTS.md (and the README's copy of it)")
    return p


# Options that ``accelerator loadtest`` does not define get these values.
_DEFAULTS = {"warmup": 0.0, "keys": None, "no_preload": False, "warm_start": False, "server_cpus": None, "client_cpus": None,
             "progress_every": None, "find_max_rate": False, "step_duration": 10.0, "max_rate": 20000.0,
             "record": False, "generators": 0}


class ServerUnderTest:
    """An ``accelerator serve`` subprocess on a free port with a throwaway data directory."""

    def __init__(self, config: str, log_path: Path, cpus: str | None = None) -> None:
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = tempfile.mkdtemp(prefix="loadtest-data-")
        self.log_path = log_path
        self.cpus = cpus
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "accelerator.cli", "serve", "--config", self.config, "--port",
               str(self.port), "--data-dir", self.data_dir, "--log-level", "warning"]
        return (["taskset", "-c", self.cpus] if self.cpus else []) + cmd

    def start(self, timeout: float = 30.0) -> ServerUnderTest:
        self.proc = start_healthy(self.command(), self.url, self.log_path, timeout)
        return self

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server process so far (None when unknown)."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        subprocess.run(["rm", "-rf", self.data_dir], check=False)


def admin(url: str, path: str, method: str = "GET") -> Any:
    """Call an accelerator admin route (a flush is a POST); None when the target has none (another endpoint)."""
    try:
        request = urllib.request.Request(url + path, data=b"" if method == "POST" else None, method=method)
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def load_scenario(name: str, keys: int | None) -> Scenario:
    module = importlib.import_module(SCENARIOS[name])
    scenario: Scenario = module.SCENARIO
    if keys:
        scenario.user.keys = keys  # type: ignore[attr-defined]
    return scenario


def prepare(scenario: Scenario, url: str) -> float:
    """Create tables and preload with a progress bar; returns the seconds it took."""
    from tqdm import tqdm

    started = time.perf_counter()
    scenario.prepare(url, lambda total, label: tqdm(total=total, desc=f"preload {label}", unit="item",
                                                     unit_scale=True, mininterval=0.5, file=sys.stdout))
    return time.perf_counter() - started


def run_phase(scenario: Scenario, url: str, rate: float, users: int, duration: float, warmup: float = 0.0,
              progress_every: float | None = 5.0, server: ServerUnderTest | None = None,
              ) -> tuple[Recorder, Environment, dict[str, Any]]:
    """One Locust run in this process at ``rate`` req/s over ``users`` paced users."""
    user = scenario.user
    user.rate_per_user = rate / users
    user.host = url
    env = Environment(user_classes=[user], host=url)
    recorder = Recorder()
    env.events.request.add_listener(recorder.on_request)
    runner = env.create_local_runner()
    history = gevent.spawn(stats_history, runner)
    recorder.reset_origin(warmup)
    runner.start(users, spawn_rate=max(10.0, users * 10.0))
    gevent.sleep(warmup)
    cpu0, server_cpu0, t0 = time.process_time(), server.cpu_seconds() if server else None, time.perf_counter()
    printed, end = 0, t0 + duration
    while (now := time.perf_counter()) < end:
        step = min(progress_every or duration, end - now)
        gevent.sleep(step)
        if progress_every:
            line = report.progress_line(recorder, printed, time.perf_counter() - t0, step)
            printed = len(recorder)
            print(line, flush=True)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    server_cpu1 = server.cpu_seconds() if server else None
    runner.stop()
    runner.quit()
    history.kill(block=False)
    n = max(len(recorder), 1)
    costs = {"generator_cpu_s": round(cpu, 3), "generator_cpu_us_per_request": round(cpu / n * 1e6, 1)}
    if server_cpu0 is not None and server_cpu1 is not None:
        costs.update(server_cpu_s=round(server_cpu1 - server_cpu0, 3),
                     server_cpu_us_per_request=round((server_cpu1 - server_cpu0) / n * 1e6, 1))
    costs["elapsed_s"] = elapsed
    return recorder, env, costs


def _phase(args: argparse.Namespace, scenario: Scenario, url: str, rate: float, duration: float, warmup: float,
           progress_every: float | None, server: ServerUnderTest | None,
           ) -> tuple[Recorder, Environment, dict[str, Any]]:
    """One measured run, in this process or over ``--generators`` worker processes."""
    if args.generators:
        from loadtest.distributed import run_distributed_phase

        return run_distributed_phase(scenario, args.scenario, args.keys, url, rate, args.users, duration,
                                     args.generators, warmup, progress_every, server)
    return run_phase(scenario, url, rate, args.users, duration, warmup, progress_every, server)


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "vcpus": os.cpu_count(), "python": platform.python_version(),
            "locust": locust.__version__, "kernel": platform.release(),
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2)}


def _results_dir(base: str, scenario: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(base) / f"{scenario}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(base) / f"{scenario}-{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def _write_outputs(out: Path, scenario: Scenario, recorder: Recorder, env: Environment,
                   summary: dict[str, Any]) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "locust.html").write_text(get_html_report(env, show_download_link=False))
    title = f"{scenario.name}: {summary['rate_target']:.0f} req/s, {summary['users']} user(s)"
    report.plot_over_time(recorder, out / "latency_over_time.png", title)
    report.plot_distributions(recorder, out / "latency_distribution.png", title)


def main(args: argparse.Namespace) -> int:
    for key, value in _DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    if args.users < 1 or args.rate <= 0 or args.duration <= 0:
        print("loadtest: --users, --rate and --duration must be positive", file=sys.stderr)
        return 2
    if args.generators < 0 or (args.generators and args.users < args.generators):
        print("loadtest: --generators must be 0 or at most --users (each generator runs whole users)",
              file=sys.stderr)
        return 2
    if args.client_cpus:
        os.sched_setaffinity(0, _cpu_list(args.client_cpus))
    scenario = load_scenario(args.scenario, args.keys)
    out = _results_dir(args.results, args.scenario)
    server = None
    try:
        if args.target:
            url = args.target.rstrip("/")
        else:
            server = ServerUnderTest(_config_path(args.config), out / "server.log", args.server_cpus).start()
            url = server.url
            print(f"server: {shlex.join(server.command())}  ->  {url}", flush=True)
        preload_s = 0.0 if args.no_preload else prepare(scenario, url)
        if not args.warm_start:
            # Writes fill the cache (write-through): without a flush every preloaded key would be a hit.
            flushed = admin(url, "/admin/cache/flush", "POST")
            if flushed is not None:
                print(f"cache flushed after preload ({flushed.get('entries')} entries): the run starts cold")
        if args.find_max_rate:
            return _find_max_rate(args, scenario, url, server, out)
        every = args.progress_every or (1.0 if args.duration <= 15 else 5.0)
        print(f"running {args.scenario}: {args.rate:g} req/s over {args.users} user(s) for {args.duration:g}s"
              + (f" after {args.warmup:g}s warm-up" if args.warmup else ""), flush=True)
        recorder, env, costs = _phase(args, scenario, url, args.rate, args.duration, args.warmup, every, server)
        summary = report.summarize(recorder, costs.pop("elapsed_s"))
        summary = {
            "scenario": args.scenario, "params": scenario.describe(), "target": url,
            "server": ({"command": shlex.join(server.command()), "config": args.config,
                        "pinned_cpus": args.server_cpus} if server else {"external": True}),
            "generator": {"pinned_cpus": args.client_cpus, **costs},
            "rate_target": args.rate, "users": args.users, "duration_s": args.duration, "warmup_s": args.warmup,
            "preload_s": round(preload_s, 2), "started_at": datetime.now().isoformat(timespec="seconds"),
            "command": shlex.join(sys.argv), "machine": _machine(), **summary,
            "server_cache_stats": admin(url, "/admin/cache"),
        }
        summary["slo"] = report.slo_verdict(summary, args.rate)
        _write_outputs(out, scenario, recorder, env, summary)
    except Exception as exc:  # report setup failures as a status, not a traceback in the middle of a table
        print(f"loadtest failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("LOADTEST_DEBUG"):
            raise
        return 2
    finally:
        if server is not None:
            server.stop()
    print()
    print(report.format_table(summary))
    slo = summary["slo"]
    g = summary["generator"]
    print(f"\nachieved {summary['achieved_rate']:.0f} req/s of {args.rate:g} target; generator CPU "
          f"{g['generator_cpu_us_per_request']:.0f} us/request"
          + (f", server CPU {g['server_cpu_us_per_request']:.0f} us/request" if "server_cpu_s" in g else ""))
    if summary["errors"]:
        print(f"errors: {summary['errors']}")
    print(f"SLO ({slo['rule']}): {'PASS' if slo['passed'] else 'FAIL'} - {slo['reason']}"
          + (" (not enforced: --no-slo)" if args.no_slo else ""))
    print(f"results: {out}")
    if args.record:
        from loadtest.record import record

        record(summary)
        print("recorded in bench/RESULTS.md (section loadtest-slo) and the README")
    return 0 if slo["passed"] or args.no_slo else 1


def _config_path(config: str) -> str:
    """The config as an absolute path: the server runs from the repository root, the caller may not."""
    path = Path(config)
    if not path.is_absolute() and not path.exists() and (ROOT / path).exists():
        path = ROOT / path
    if not path.exists():
        raise FileNotFoundError(f"config {config} not found")
    return str(path.resolve())


def _cpu_list(spec: str) -> set[int]:
    cpus: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _find_max_rate(args: argparse.Namespace, scenario: Scenario, url: str, server: ServerUnderTest | None,
                   out: Path) -> int:
    """Raise the rate by 1.5× a step until two steps fail (or the rate is not met), then bisect once.

    Noise on a shared machine can fail one step and pass the next, so two failures end the sweep and the
    answer is the highest rate that passed.
    """
    steps: list[dict[str, Any]] = []

    def attempt(rate: float) -> bool:
        recorder, _, costs = _phase(args, scenario, url, rate, args.step_duration, args.warmup or 2.0, None, server)
        s = report.summarize(recorder, costs.pop("elapsed_s"))
        verdict = report.slo_verdict(s, rate)
        errors = sum(s["errors"].values())
        hit = s["cache"].get("hit", {})
        if not hit.get("count"):  # a target without the cache header (the floor responder): judge every request
            hit = s["all"]
            verdict = {"passed": hit["p50_us"] < report.SLO_US and hit["p99_us"] < report.SLO_US}
        ok = verdict["passed"] and s["achieved_rate"] >= 0.95 * rate and errors <= 0.001 * max(s["requests"], 1)
        steps.append({"rate": rate, "achieved_rate": s["achieved_rate"], "hit_p50_us": hit.get("p50_us"),
                      "hit_p99_us": hit.get("p99_us"), "all_p99_us": s["all"]["p99_us"], "errors": errors,
                      "passed": ok, **costs})
        print(f"  rate {rate:8.0f}: achieved {s['achieved_rate']:8.0f}  hit p50 {hit.get('p50_us', 0):6.0f} us  "
              f"p99 {hit.get('p99_us', 0):6.0f} us  gen CPU {costs['generator_cpu_us_per_request']:5.0f} us/req  "
              f"{'ok' if ok else 'FAIL'}", flush=True)
        return ok

    print(f"sweeping {args.scenario} with {args.users} user(s), {args.step_duration:g}s per step", flush=True)
    best, fails, rate = 0.0, 0, args.rate
    while rate <= args.max_rate and fails < 2:
        if attempt(rate):
            best, fails = rate, 0
        else:
            fails += 1
            if steps[-1]["achieved_rate"] < 0.9 * rate:
                break  # saturated (the generator or the server): higher rates cannot pass
        rate = round(rate * 1.5 / 50) * 50
    failing: float | None = next((st["rate"] for st in steps if st["rate"] > best and not st["passed"]), None)
    if failing and best and failing > best * 1.15:
        mid = round((best + failing) / 2 / 50) * 50
        if attempt(mid):
            best = mid
        else:
            failing = mid
    lo, hi = best, failing
    result = {"scenario": args.scenario, "users": args.users, "step_duration_s": args.step_duration,
              "max_rate_with_hit_p99_under_1ms": lo, "first_failing_rate": hi, "steps": steps,
              "machine": _machine(), "command": shlex.join(sys.argv)}
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nhighest rate with hit p50 and p99 < 1 ms and the rate met: {lo:.0f} req/s "
          f"({args.users} user(s)); first failing: {hi}\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
