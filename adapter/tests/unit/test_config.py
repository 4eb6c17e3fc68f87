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
INTROSPECTION = {"url": "https://is/oauth2/introspect", "clientIdFile": "id", "clientSecretFile": "secret"}


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
    assert km.algorithms == ("RS256", "RS384", "RS512", "PS256")  # APIM's gateway's (JWTUtil.verifyTokenSignature)
    assert config.rate_limit.backend == "local"
    assert config.request.keep_authorization_header is False
    assert config.request.num_trusted_proxies == 0
    assert (config.control_plane.type, config.control_plane.poll_seconds) == ("file", 1.0)


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
        ("server.http.pathPrefix", "authz", "server.http.pathPrefix: must start with '/'"),
        ("keyManagers.0.jwksUri", "is/oauth2/jwks", "keyManagers[0].jwksUri: must match ^https?://"),
        ("keyManagers.0.algorithms", [], "keyManagers[0].algorithms: must not be empty"),
        ("backendJwt.algorithm", "HS256", "backendJwt.algorithm: HS256 is not allowed"),
        ("request.numTrustedProxies", -1, "request.numTrustedProxies: must be at least 0"),
        ("request.numTrustedProxies", 1.5, "request.numTrustedProxies: expected an integer, got float"),
        ("controlPlane.pollSeconds", 0.01, "controlPlane.pollSeconds: must be at least 0.05"),
        ("rateLimit.backend", "memcached", "rateLimit.backend: must be one of local, redis, got 'memcached'"),
        ("server", [1], "server: expected a mapping, got list"),
        ("server.admin.port", 8081, "server: grpc.port, http.port and admin.port must differ"),
        (
            "keyManagers.0.introspection",
            {**INTROSPECTION, "authentication": "bearer"},
            "keyManagers[0].introspection.tokenUrl: required when authentication is bearer",
        ),
        (
            "keyManagers.0.introspection",
            {**INTROSPECTION, "authentication": "mtls"},
            "keyManagers[0].introspection.authentication: must be one of basic, bearer",
        ),
    ],
)
def test_errors_name_the_bad_key(path, value, message):
    with pytest.raises(ConfigError) as err:
        parse(with_(path, value))
    assert message in str(err.value)


def test_wso2_control_plane_needs_its_url_and_credentials_files():
    with pytest.raises(ConfigError) as err:
        parse(with_("controlPlane", {"type": "wso2"}))
    assert str(err.value).splitlines() == [
        "controlPlane.url: required",
        "controlPlane.usernameFile: required",
        "controlPlane.passwordFile: required",
    ]


def test_control_plane_type_decides_which_keys_are_allowed():
    wso2 = {"type": "wso2", "url": "https://apim:9443", "usernameFile": "u", "passwordFile": "p"}
    config = parse(with_("controlPlane", wso2))
    assert (config.control_plane.type, config.control_plane.tenant) == ("wso2", "carbon.super")
    with pytest.raises(ConfigError, match=r"controlPlane\.path: unknown key"):
        parse(with_("controlPlane", {**wso2, "path": "catalog.yaml"}))
    with pytest.raises(ConfigError, match=r"controlPlane\.url: unknown key"):
        parse(with_("controlPlane.url", "https://apim:9443"))


def test_type_defaults_to_the_file_control_plane():
    assert parse(with_("controlPlane", {"path": "catalog.yaml"})).control_plane.type == "file"


def test_secrets_are_file_paths_never_values():
    with pytest.raises(ConfigError, match=r"rateLimit\.redis\.password: unknown key"):
        parse(with_("rateLimit", {"backend": "redis", "redis": {"url": "redis://r", "password": "hunter2"}}))


def test_every_bad_key_is_reported_at_once():
    raw = with_("server.workers", 0)
    raw["request"] = {"maxTokenBytes": "8k"}
    with pytest.raises(ConfigError) as err:
        parse(raw)
    assert str(err.value).splitlines() == [
        "server.workers: must be at least 1",
        "request.maxTokenBytes: expected an integer, got str",
    ]


def test_http_mode_can_be_turned_off_and_its_prefix_is_normalised():
    assert parse(with_("server.http", {"enabled": False})).server.http is None
    assert parse(with_("server.http.pathPrefix", "/authz/")).server.http.path_prefix == "/authz"


def test_null_keys_count_as_not_set():
    assert parse(with_("request", None)).request.max_token_bytes == 8192


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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"request": {"dynamicMetadata": False}}, "enabled: needs request.dynamicMetadata: true"),
        ({"analytics": {"enabled": False, "accessLogService": {"enabled": True}}}, "enabled: needs analytics.enabled"),
        ({"server": {"admin": {"port": 18090}}}, "port: must differ from the server's ports"),
    ],
)
def test_the_access_log_service_needs_what_writes_its_events(changes, message):
    raw = {**MINIMAL, "analytics": {"accessLogService": {"enabled": True}}, **changes}
    with pytest.raises(ConfigError, match=message):
        parse(raw)
    raw["analytics"] = {"accessLogService": {"enabled": False}}
    parse(raw)  # off, nothing is asked of the rest
