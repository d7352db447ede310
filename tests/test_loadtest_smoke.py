"""Smoke test of the load-testing suite: every scenario for a few seconds against a real server process.

Each scenario runs as its own ``python -m loadtest.runner`` process (Locust monkey-patches the process it
runs in, so it must not run inside pytest), all three at once against one memory-backend server.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_process import ROOT, ServerProcess

# find_spec, not importorskip: importing locust would monkey-patch this pytest process with gevent.
pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("locust", "matplotlib", "tqdm")),
    reason="the loadtest extra is not installed")

SCENARIOS = ["session-store", "shopping-cart", "hot-keys"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    proc = ServerProcess({"kind": "memory"}, data_dir=str(tmp_path_factory.mktemp("loadtest-server"))).start()
    yield proc
    proc.stop()


def test_every_scenario_runs_and_writes_results(server: ServerProcess, tmp_path: Path) -> None:
    runs = {}
    for scenario in SCENARIOS:
        out = tmp_path / scenario
        runs[scenario] = (out, subprocess.Popen(
            [sys.executable, "-m", "loadtest.runner", "--scenario", scenario, "--target", server.url,
             "--duration", "3", "--rate", "40", "--users", "2", "--keys", "300", "--no-slo",
             "--results", str(out)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for scenario, (out, proc) in runs.items():
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{scenario} exited {proc.returncode}:\n{output.decode()}"
        [run_dir] = list(out.iterdir())
        assert run_dir.name.startswith(scenario + "-")
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["requests"] > 0 and summary["achieved_rate"] > 0
        assert all(op["all"]["count"] > 0 for op in summary["operations"].values())
        assert not summary["errors"], f"{scenario}: {summary['errors']}"
        assert "slo" in summary and "passed" in summary["slo"]
        for name in ("latency_over_time.png", "latency_distribution.png", "locust.html"):
            assert (run_dir / name).stat().st_size > 1000, name


def test_generators_merge_exact_samples(server: ServerProcess, tmp_path: Path) -> None:
    """--generators 2: Locust's master with two worker processes; both workers' exact samples reach summary.json."""
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest.runner", "--scenario", "hot-keys", "--target", server.url,
         "--duration", "3", "--rate", "60", "--users", "2", "--generators", "2", "--keys", "200", "--no-slo",
         "--results", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=180)
    assert proc.returncode == 0, proc.stdout.decode()
    [run_dir] = list(tmp_path.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    generator = summary["generator"]
    assert generator["generators"] == 2
    counts = generator["samples_per_generator"]
    assert len(counts) == 2 and all(c > 0 for c in counts)
    assert summary["requests"] == sum(counts)  # every merged sample is in the summary, none twice
    assert not summary["errors"]


def test_generators_must_not_exceed_users(server: ServerProcess, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest.runner", "--scenario", "hot-keys", "--target", server.url,
         "--duration", "1", "--users", "1", "--generators", "2", "--results", str(tmp_path)],
        cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip().splitlines() == [
        "loadtest: --generators must be 0 or at most --users (each generator runs whole users)"]


_BAD_REPLIES = r"""
import socket, sys, threading
from locust.env import Environment
from loadtest.hot_keys import HotKeysUser

replies = [b"not http at all\r\n\r\n", b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n{}", b""]
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)

def serve():
    for reply in replies:
        conn, _ = listener.accept()
        conn.recv(65536)
        if reply:
            conn.sendall(reply)
        conn.close()

threading.Thread(target=serve, daemon=True).start()
env = Environment(user_classes=[HotKeysUser], host=f"http://127.0.0.1:{listener.getsockname()[1]}")
seen = []
env.events.request.add_listener(lambda **kw: seen.append(type(kw["exception"]).__name__))
user = HotKeysUser(env)
for _ in replies:
    assert user.call("GetItem", {"TableName": "t", "Key": {"k": {"S": "a"}}}, "x") is None
print(",".join(seen))
"""


def test_a_bad_reply_is_a_failed_request_not_a_crash() -> None:
    """Garbage, an unexpected error status and a connection closed without a reply each count as one failed
    request on Locust's request event; the user carries on (run in a subprocess: Locust patches its process)."""
    done = subprocess.run([sys.executable, "-c", _BAD_REPLIES], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    failures = done.stdout.strip().split(",")
    assert len(failures) == 3 and "NoneType" not in failures, failures
