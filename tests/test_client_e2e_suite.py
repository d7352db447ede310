"""The project's end-to-end suite (tests/test_e2e_*.py) again, through the client wrapper instead of boto3.

The same test bodies run with ``ddb`` being the sync client and the async client (behind blocking calls),
against one memory-backend server; boto3 runs them in their own modules, so all three must give the same
results.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accelerator.client import AcceleratorClient
from tests.client_adapters import blocking_async_client
from tests.e2e_backends import E2E_BACKENDS
from tests.server_process import ServerProcess

# every tests/test_e2e_*.py module: the suite grows, this follows
for _path in sorted(Path(__file__).parent.glob("test_e2e_*.py")):
    _module = importlib.import_module(f"tests.{_path.stem}")
    # a test that names a fixture of its own module (its own server, a streams client) is that module's alone
    _own = {n for n, o in vars(_module).items() if type(o).__name__ == "FixtureFunctionDefinition"} - {"ddb"}
    for _name, _obj in vars(_module).items():
        if _name.startswith("test_") and callable(_obj) and not _own & set(inspect.signature(_obj).parameters):
            globals()[_name] = _obj

@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """One memory-backend server: the client does not care which backend answers, and the suite's own
    modules already run every backend through boto3."""
    proc = ServerProcess(E2E_BACKENDS["memory"]()).start()
    yield proc
    proc.stop()


_KEYS = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


@pytest.fixture(params=["sync", "async"])
def ddb(server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "sync":
        client = AcceleratorClient(server.url, **_KEYS)
        yield client
        client.close()
    else:
        client, loop = blocking_async_client(server.url, **_KEYS)
        yield client
        client.close()
        loop.close()
