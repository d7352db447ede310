"""``accelerator export``: a real server, the real command line, the files it leaves."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accelerator.export_cli import ProgressBar
from tests.conftest import boto_client, unique_name
from tests.server_process import ROOT, ServerProcess

COUNT = 1200


@pytest.fixture(scope="module")
def served() -> Iterator[Any]:
    proc = ServerProcess({"kind": "sqlite"}).start()
    yield proc
    proc.stop()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "accelerator.cli", "export", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def make_table(url: str) -> str:
    ddb = boto_client(url)
    name = unique_name("cli")
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    for start in range(0, COUNT, 25):
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}}}
                                                  for i in range(start, start + 25)]})
    return name


def test_export_command_writes_every_item_and_shows_progress(served: Any, tmp_path: Path) -> None:
    table = make_table(served.url)
    done = cli("--url", served.url, "--table", table, "--to", str(tmp_path), "--prefix", "daily",
               "--enable-pitr", "--interval", "0.05")
    assert done.returncode == 0, done.stderr
    manifest = Path(done.stdout.strip())
    assert manifest.name == "manifest-summary.json" and manifest.is_relative_to(tmp_path / "daily")
    summary = json.loads(manifest.read_text())
    assert summary["itemCount"] == COUNT
    assert f"100%  {COUNT:,}/{COUNT:,} items" in done.stderr
    items = set()
    for entry in map(json.loads, (tmp_path / summary["manifestFilesS3Key"]).read_text().splitlines()):
        with gzip.open(tmp_path / entry["dataFileS3Key"], "rt") as f:
            items |= {json.loads(line)["Item"]["pk"]["S"] for line in f}
    assert items == {f"k{i}" for i in range(COUNT)}


def test_export_command_needs_recovery_on_or_the_flag(served: Any, tmp_path: Path) -> None:
    table = make_table(served.url)
    refused = cli("--url", served.url, "--table", table, "--to", str(tmp_path))
    assert refused.returncode == 1
    assert "point-in-time recovery is off" in refused.stderr and "--enable-pitr" in refused.stderr
    missing = cli("--url", served.url, "--table", "nope_none", "--to", str(tmp_path))
    assert missing.returncode == 1 and "DescribeTable: ResourceNotFoundException" in missing.stderr
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_lines() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = ProgressBar(1000, out, clock=lambda: now[0], width=10, every=5.0)
    now[0] = 2.0
    bar.show(250)
    now[0] = 3.0
    bar.show(500)  # within 5 s of the last line: not written (not a terminal)
    now[0] = 4.0
    bar.show(1000, final=True)
    assert out.getvalue().splitlines() == ["[##--------]  25%  250/1,000 items  125 items/s",
                                           "[##########] 100%  1,000/1,000 items  250 items/s"]
    unknown = ProgressBar(None, io.StringIO(), clock=lambda: now[0])
    now[0] = 6.0
    assert unknown.line(10) == "10 items  5 items/s"
