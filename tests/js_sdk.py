"""Run tests/js/sdk_scenarios.mjs (the AWS SDK for JavaScript v3) under Node, installing the SDK on first use.

The SDK is pinned by tests/js/package-lock.json and installed with ``npm ci`` into tests/js/node_modules (not in
git); a stamp holding the lock file's hash says the install is complete and current. Without Node a developer's
run skips these tests; under ``CI=true`` it fails, as does an ``npm ci`` that cannot reach the registry.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.backend_services import IN_CI

__all__ = ["JS_DIR", "NodeSdk", "install_sdk"]

JS_DIR = Path(__file__).resolve().parent / "js"
_STAMP = JS_DIR / "node_modules" / ".accelerator-lock-sha256"
_NODE_MAJOR = 20


def _lock_hash() -> str:
    return hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()


def install_sdk() -> str:
    """The path of ``node`` once the pinned SDK is installed; skips (fails under CI) without Node and npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout if node else ""
    major = int(version.lstrip("v").partition(".")[0] or 0)
    if node is None or npm is None or major < _NODE_MAJOR:
        message = (f"Node {_NODE_MAJOR}+ and npm are needed for the JavaScript SDK tests (the pinned SDK's engines); "
                   f"found node {version.strip() or 'none'}, npm {npm or 'none'}")
        if IN_CI:
            pytest.fail(message + "; CI=true, so this is a failure, not a skip")
        pytest.skip(message)
    with open(JS_DIR / ".install.lock", "w") as lock:  # pytest processes sharing a checkout install once
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = _lock_hash()
        if not _STAMP.exists() or _STAMP.read_text() != wanted:
            run = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True, text=True,
                                 timeout=600)
            if run.returncode != 0:
                pytest.fail(f"`npm ci` in {JS_DIR} failed (is the npm registry reachable?):\n{run.stderr[-3000:]}")
            _STAMP.write_text(wanted)
    return node


class NodeSdk:
    """Runs one scenario of sdk_scenarios.mjs and returns the JSON it printed."""

    def __init__(self, node: str) -> None:
        self.node = node

    def run(self, scenario: str, endpoint: str, extra_env: dict[str, str] | None = None,
            **options: Any) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NODE_"))}
        env.update(extra_env or {})
        argument = json.dumps({"scenario": scenario, "endpoint": endpoint, **options})
        done = subprocess.run([self.node, str(JS_DIR / "sdk_scenarios.mjs"), argument], cwd=JS_DIR, env=env,
                              capture_output=True, text=True, timeout=180)
        try:
            out: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"node exited {done.returncode} without its JSON:\n{done.stdout}\n{done.stderr[-3000:]}")
        assert "unexpected" not in out, json.dumps(out["unexpected"], indent=1)
        assert done.returncode == 0, done.stderr[-3000:]
        return out
