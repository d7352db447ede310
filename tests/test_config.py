"""Config files: every shipped file loads, and command-line overrides win over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelerator.cli import build_parser
from accelerator.config import load_config

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
