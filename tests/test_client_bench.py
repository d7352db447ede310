"""The client comparison bench still runs (a tiny run against its own canned-answer responder)."""

from __future__ import annotations

import pytest

from bench import client_compare


def test_client_compare_runs_and_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    client_compare.main(["--server", "stub", "-n", "60", "--rounds", "2", "--warmup", "5"])
    out = capsys.readouterr().out
    for row in ("| boto3 |", "| sync client |", "| async client (asyncio) |"):
        assert row in out
