"""Every code block in README.md runs as pasted, against a live server.

Each fenced ``python``, ``sh`` or ``toml`` block is preceded by a marker comment:
``<!-- snippet: run -->`` (executed, in document order, against one server process started here),
``<!-- snippet: config -->`` (a TOML block loaded by the real config loader) or
``<!-- snippet: skip: why -->``. A block without a marker fails the test, so a new snippet cannot slip
in untested. The snippets say ``http://127.0.0.1:8111`` (what ``make run`` serves); the test puts its own
server's address in its place and nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from accelerator.config import load_config
from tests.server_process import ROOT, ServerProcess

README = ROOT / "README.md"
_BLOCK = re.compile(r"(?:<!-- snippet: (?P<mark>[a-z]+)(?::[^>]*)? -->\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)```",
                    re.S)
_CHECKED = {"python", "sh", "toml"}
_ADDRESS = "http://127.0.0.1:8111"


@dataclass(frozen=True)
class Snippet:
    line: int
    lang: str
    mark: str | None
    body: str


def snippets(text: str) -> list[Snippet]:
    return [Snippet(text.count("\n", 0, m.start("lang")) + 1, m["lang"], m["mark"], m["body"])
            for m in _BLOCK.finditer(text) if m["lang"] in _CHECKED]


ALL = snippets(README.read_text())


def test_every_snippet_is_marked() -> None:
    unmarked = [s.line for s in ALL if s.mark not in ("run", "config", "skip")]
    assert not unmarked, f"README.md code blocks without a snippet marker at lines {unmarked}"
    assert any(s.mark == "run" for s in ALL)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "sqlite"}).start()
    yield proc
    proc.stop()


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT)
    env["HOME"] = env.get("HOME", "/tmp")
    return env


@pytest.mark.parametrize("snippet", [s for s in ALL if s.mark == "run"], ids=lambda s: f"line{s.line}")
def test_snippet_runs(snippet: Snippet, server: ServerProcess) -> None:
    body = snippet.body.replace(_ADDRESS, server.url)
    if snippet.lang == "python":
        cmd = [sys.executable, "-c", body]
    else:  # sh: `.venv/bin/X` means the venv that runs this test
        cmd = ["bash", "-euo", "pipefail", "-c", body.replace(".venv/bin/", str(Path(sys.executable).parent) + "/")]
    result = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"README.md line {snippet.line}:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("snippet", [s for s in ALL if s.mark == "config"], ids=lambda s: f"line{s.line}")
def test_config_snippet_loads(snippet: Snippet, tmp_path: Path) -> None:
    path = tmp_path / "snippet.toml"
    path.write_text(snippet.body)
    load_config(path)


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_load(path: Path) -> None:
    load_config(path)
