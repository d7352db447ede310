"""Config files: every shipped file loads, and command-line overrides win over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelerator.cli import build_parser
from accelerator.config import ConfigError, load_config
from tests.server_process import write_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.parametrize("name, kind", [("default", "sqlite"), ("postgres", "postgres"), ("redis", "redis"),
                                        ("redis-cluster", "redis-cluster"), ("dynamodb", "dynamodb"),
                                        ("dynamodb-local", "dynamodb")])
def test_shipped_configs_load(name: str, kind: str) -> None:
    config = load_config(CONFIGS / f"{name}.toml")
    assert config.backend.kind == kind
    assert config.server.port == 8111 and config.server.host == "127.0.0.1"
    assert config.cache.enabled


def test_overrides() -> None:
    config = load_config(CONFIGS / "default.toml").override(
        host="0.0.0.0", port=9000, backend="memory", data_dir="/tmp/x", upstream_url="http://u:1", cache=False)
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.backend.kind == "memory" and config.backend.data_dir == "/tmp/x"
    assert config.backend.options["endpoint_url"] == "http://u:1"
    assert not config.cache.enabled


def test_unknown_keys_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server]\nprot = 1\n")
    with pytest.raises(ValueError, match="prot"):
        load_config(path)


def test_cli_help_lists_options() -> None:
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for option in ("--config", "--host", "--port", "--backend", "--data-dir", "--upstream-url"):
        assert option in help_text


@pytest.mark.parametrize("server, message", [
    ('auth = "basic"', 'auth must be "none" or "sigv4", not \'basic\''),
    ('auth = "sigv4"', 'auth = "sigv4" needs access keys in [server.credentials]'),
    ('tls_cert = "c.pem"', "tls_cert and tls_key go together"),
    ('tls_key = "k.pem"', "tls_cert and tls_key go together"),
    ('metrics_listen = "9111"', 'metrics_listen must be "host:port"'),
    ('metrics_listen = "127.0.0.1:99999"', 'metrics_listen must be "host:port"'),
    ("auth_max_skew = 0", "auth_max_skew must be a positive number"),
])
def test_security_keys_are_checked(tmp_path: Path, server: str, message: str) -> None:
    from accelerator.config import ConfigError

    path = tmp_path / "c.toml"
    path.write_text(f"[server]\n{server}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_security_keys_load(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[server]\nauth = "sigv4"\ntls_cert = "c.pem"\ntls_key = "k.pem"\nmetrics_listen = "[::1]:9111"\n'
                    '[server.credentials]\nAKID = "secret"\n')
    server = load_config(path).server
    assert (server.tls_cert, server.tls_key, server.credentials) == ("c.pem", "k.pem", {"AKID": "secret"})
    from accelerator.config import metrics_address

    assert metrics_address(server.metrics_listen or "") == ("::1", 9111)


@pytest.mark.parametrize("text, message", [
    ('[server]\nport = "eighty"\n', "[server] port: expected an integer from 0 to 65535, got 'eighty'"),
    ("[server]\nport = 99999\n", "[server] port: expected an integer from 0 to 65535, got 99999"),
    ("[server]\nrequest_timeout = -1\n", "[server] request_timeout: expected a number >= 0, got -1"),
    ("[server]\nidle_timeout = true\n", "[server] idle_timeout: expected a number >= 0, got True"),
    ("[server]\nmax_connections = 1.5\n", "[server] max_connections: expected an integer >= 0, got 1.5"),
    ('[cache]\nitem_ttl = "5 minutes"\n', "[cache] item_ttl: expected a number >= 0, got '5 minutes'"),
    ("[cache]\nenabled = 1\n", "[cache] enabled: expected true or false, got 1"),
    ("[cache]\nbroadcast = 5\n", "[cache] broadcast: expected a string, got 5"),
    ("[cache.tables.users]\nquery_ttl = -2\n", "[cache.tables.users] query_ttl: expected a number >= 0"),
    ("[cache.tables.users]\nttl = 2\n", "unknown keys in [cache.tables.users]: ttl"),
    ("[backend]\nkind = 'mongo'\n", "[backend] kind: expected one of memory, sqlite"),
    ("[backend]\nttl_sweep_interval = 'often'\n", "[backend] ttl_sweep_interval: expected a number >= 0"),
    ("[servr]\nport = 1\n", "unknown sections: servr"),
    ("[server]\nport = 1\nport = 2\n", "not valid TOML: Cannot overwrite a value (at line 3, column 9)"),
    ("server = 3\n", "[server] must be a table, got 3"),
])
def test_bad_values_are_one_line_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absent.toml: cannot read the config file: No such file"):
        load_config(tmp_path / "absent.toml")


def test_command_line_overrides_are_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"\[server\] port: expected an integer from 0 to 65535, got 99999"):
        load_config(None).override(port=99999)


@pytest.mark.parametrize("options, message", [
    ({"kind": "sqlite", "foo": 1}, "unknown option foo for the sqlite backend (it takes: busy_timeout, path, "
                                   "synchronous)"),
    ({"kind": "postgres", "dsn": 5}, "[backend] dsn: expected a string, got 5"),
    ({"kind": "redis-cluster"}, "the redis-cluster backend needs cluster_nodes"),
    ({"kind": "redis-cluster", "cluster_nodes": ["127.0.0.1:7000"], "bogus": 1}, "unknown option bogus"),
    ({"kind": "memory", "path": "x"}, "unknown option path for the memory backend (it takes: no options)"),
    ({"kind": "dynamodb", "endpoint_url": 3}, "[backend] endpoint_url: expected a string, got 3"),
    # values only the constructor knows are wrong: still one line before anything starts
    ({"kind": "postgres", "batch_slots": 0}, "[backend] batch_slots must be between 1 and pool_size"),
    ({"kind": "postgres", "pool_size": 4, "batch_slots": 5}, "[backend] batch_slots must be between 1 and pool_size"),
    ({"kind": "postgres", "pool_size": 0}, "[backend] pool_size must be at least 1"),
    ({"kind": "postgres", "schema": "Bad-Name"}, "[backend] schema must match"),
    ({"kind": "redis", "batch_slots": 0}, "[backend] batch_slots must be at least 1, not 0"),
    ({"kind": "redis", "prefix": "a b"}, "[backend] prefix must match"),
    ({"kind": "sqlite", "synchronous": "SOMETIMES"}, "[backend] synchronous must be one of"),
])
def test_backend_options_are_bound_against_the_constructor(tmp_path: Path, options: dict[str, object],
                                                            message: str) -> None:
    from accelerator.app import check_backend

    path = tmp_path / "backend.toml"
    write_config(path, {"backend": options})
    with pytest.raises(ConfigError) as exc:
        check_backend(load_config(path))
    assert message in str(exc.value)


def test_every_shipped_config_binds_its_backend_options() -> None:
    from accelerator.app import check_backend

    for path in CONFIGS.glob("*.toml"):
        check_backend(load_config(path))
