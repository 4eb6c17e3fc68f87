"""The config file: defaults, and errors that name the offending key."""

from __future__ import annotations

import pytest
import yaml

from apim_adapter.cli import main
from apim_adapter.config import ConfigError, load, parse

MINIMAL = {
    "keyManagers": [{"name": "IS7", "issuer": "https://is/oauth2/token", "jwksUri": "https://is/oauth2/jwks"}],
    "controlPlane": {"type": "file", "path": "catalog.yaml"},
}


def with_(path: str, value) -> dict:
    raw = yaml.safe_load(yaml.safe_dump(MINIMAL))
    keys = path.split(".")
    node = raw
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[keys[-1]] = value
    return raw


def test_defaults_follow_the_design_contract():
    config = parse(MINIMAL)
    assert (config.server.grpc.port, config.server.http.port, config.server.admin.port) == (8081, 8080, 9090)
    km = config.key_managers[0]
    assert (km.consumer_key_claim, km.scopes_claim) == ("azp", "scope")
    assert km.algorithms == ("RS256", "PS256", "ES256")
    assert config.rate_limit.backend == "local"
    assert config.request.keep_authorization_header is False


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("server.grpc.port", "8081", "server.grpc.port: expected an integer"),
        ("server.grpc.port", 70000, "server.grpc.port: must be at most 65535"),
        ("server.grpc.prot", 1, "server.grpc.prot: unknown key"),
        ("keyManagers.0.algorithms", ["HS256"], "keyManagers[0].algorithms: HS256 is not allowed"),
        ("keyManagers.0.algorithms", ["none"], "keyManagers[0].algorithms: none is not allowed"),
        ("keyManagers.0.issuer", "", "keyManagers[0].issuer: must not be empty"),
        ("keyManagers.0.jwksUri", None, "keyManagers[0]: needs jwksUri"),
        ("controlPlane.type", "etcd", "controlPlane.type: must be one of file, wso2"),
        ("controlPlane.path", None, "controlPlane.path: required"),
        ("rateLimit.backend", "redis", "rateLimit.redis: required when rateLimit.backend is redis"),
        ("backendJwt.enabled", True, "backendJwt.keyFile: required"),
        ("request.keepAuthorizationHeader", "yes", "request.keepAuthorizationHeader: expected a boolean"),
        ("logging.level", "LOUD", "logging.level: must be one of"),
        ("surprise", 1, "surprise: unknown key"),
    ],
)
def test_errors_name_the_bad_key(path, value, message):
    with pytest.raises(ConfigError) as err:
        parse(with_(path, value))
    assert message in str(err.value)


def test_wso2_control_plane_needs_its_url_and_credentials_files():
    with pytest.raises(ConfigError, match=r"controlPlane\.url: required"):
        parse(with_("controlPlane", {"type": "wso2"}))


def test_duplicate_key_manager_names_are_rejected():
    raw = with_("keyManagers", MINIMAL["keyManagers"] * 2)
    with pytest.raises(ConfigError, match="duplicate name 'IS7'"):
        parse(raw)


def test_validate_command_reports_the_file_and_its_catalog(tmp_path, capsys):
    (tmp_path / "catalog.yaml").write_text("apis: []\napplications: []\n")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(MINIMAL))
    assert main(["validate", "--config", str(tmp_path / "config.yaml")]) == 0
    assert "valid (catalog: 0 apis" in capsys.readouterr().out

    (tmp_path / "catalog.yaml").write_text("subscriptions: [{apiUUID: a, applicationUUID: b}]\n")
    assert main(["validate", "--config", str(tmp_path / "config.yaml")]) == 2
    assert "subscriptions[0].subscriptionState: required" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["server: [1, 2", "- just\n- a list\n", ""])
def test_broken_files_are_clear_errors(tmp_path, capsys, text):
    (tmp_path / "config.yaml").write_text(text)
    assert main(["validate", "--config", str(tmp_path / "config.yaml")]) == 2
    assert "invalid configuration" in capsys.readouterr().err


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.yaml")
