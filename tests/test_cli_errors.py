"""User mistakes at startup and on the command line: one line on stderr, no traceback, a meaningful exit status."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "accelerator.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return done.returncode, done.stderr


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return str(path)


def test_port_in_use_names_it_and_suggests_port(tmp_path: Path, held_port: int) -> None:
    code, err = _cli("serve", "--backend", "memory", "--port", str(held_port), cwd=tmp_path)
    line = _one_line(err)
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{held_port}: the address is already in use" in line and "--port" in line


def test_bad_toml_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = _config(tmp_path, "[server]\nport = 1\nport = 2\n")
    code, err = _cli("serve", "--config", path, cwd=tmp_path)
    assert code == 2 and f"{path}: not valid TOML:" in _one_line(err) and "line 3, column 9" in err


def test_missing_config_file(tmp_path: Path) -> None:
    code, err = _cli("serve", "--config", str(tmp_path / "absent.toml"), cwd=tmp_path)
    assert code == 2 and "absent.toml: cannot read the config file" in _one_line(err)


def test_data_directory_that_cannot_be_created(tmp_path: Path) -> None:
    code, err = _cli("serve", "--backend", "sqlite", "--data-dir", "/proc/no-such/data", "--port", "0",
                     cwd=tmp_path)
    assert code == 1 and "data directory '/proc/no-such/data': cannot create it" in _one_line(err)


def test_unknown_backend_option(tmp_path: Path) -> None:
    path = _config(tmp_path, "[backend]\nkind = 'sqlite'\nsynchronus = 'FULL'\n")
    code, err = _cli("serve", "--config", path, "--port", "0", cwd=tmp_path)
    line = _one_line(err)
    assert code == 2 and f"{path}: [backend] unknown option synchronus for the sqlite backend" in line
    assert "synchronous" in line


def test_wrong_type_and_range(tmp_path: Path) -> None:
    path = _config(tmp_path, '[cache]\nitem_ttl = "5 minutes"\n')
    code, err = _cli("serve", "--config", path, cwd=tmp_path)
    assert code == 2 and "[cache] item_ttl: expected a number >= 0, got '5 minutes'" in _one_line(err)
    code, err = _cli("serve", "--backend", "memory", "--port", "99999", cwd=tmp_path)
    assert code == 2 and "[server] port: expected an integer from 0 to 65535, got 99999" in _one_line(err)


def test_unreachable_postgres_names_host_and_port(tmp_path: Path) -> None:
    path = _config(tmp_path, "[backend]\nkind = 'postgres'\ndsn = 'postgresql://u@127.0.0.1:1/test'\n")
    code, err = _cli("serve", "--config", path, "--port", "0", cwd=tmp_path)
    line = _one_line(err)
    assert code == 1 and "cannot open the postgres backend at 127.0.0.1:1:" in line and "refused" in line


def test_unreachable_redis_names_host_and_port(tmp_path: Path) -> None:
    path = _config(tmp_path, "[backend]\nkind = 'redis'\nurl = 'redis://127.0.0.1:1/0'\n")
    code, err = _cli("serve", "--config", path, "--port", "0", cwd=tmp_path)
    assert code == 1 and "cannot open the redis backend at 127.0.0.1:1:" in _one_line(err)


@pytest.mark.parametrize("dsn", ["garbled dsn", "test", "postgresql://u@host:notaport/db"])
def test_garbled_dsn_is_a_config_error(tmp_path: Path, dsn: str) -> None:
    path = _config(tmp_path, f"[backend]\nkind = 'postgres'\ndsn = '{dsn}'\n")
    code, err = _cli("serve", "--config", path, "--port", "0", cwd=tmp_path)
    assert code == 2 and "[backend] dsn:" in _one_line(err)


def test_debug_logging_adds_the_traceback(tmp_path: Path, held_port: int) -> None:
    code, err = _cli("serve", "--backend", "memory", "--port", str(held_port), "--log-level", "debug", cwd=tmp_path)
    assert code == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("accelerator: error:")


@pytest.mark.parametrize("url, code", [("garbage", 2), ("http://127.0.0.1:1", 1)])
def test_cache_stats_with_a_wrong_url(tmp_path: Path, url: str, code: int) -> None:
    got, err = _cli("cache", "stats", "--url", url, cwd=tmp_path)
    assert got == code and url.split("//")[-1] in _one_line(err)
