"""The chart's `config` schema is generated from the adapter's model (adapter/src/apim_adapter/config.py), and the
config the chart renders is one the real adapter accepts (`apim-adapter validate`), for every ci values file and
for keys the chart's schema once rejected."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from chart_helpers import CHARTS, find, render

from harness.helpers import ROOT
from scripts import generate_config_schema as generate

CHART = "apim-adapter"
CI_FILES = sorted((CHARTS / CHART / "ci").glob("*-values.yaml"))
ADAPTER = ROOT / ".venv" / "bin" / "apim-adapter"
# Keys whose values are files the adapter opens; `server.http.pathPrefix` also starts with `/` but is a URL path.
FILE_KEYS = {"path", "caBundle", "keyFile", "usernameFile", "passwordFile", "clientIdFile", "clientSecretFile"}


def into(root: Path, node):
    """The config with every absolute file path moved under `root`, as if `root` were the pod's filesystem."""
    if isinstance(node, dict):
        return {
            key: str(root / value.lstrip("/")) if key in FILE_KEYS and str(value).startswith("/") else into(root, value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [into(root, item) for item in node]
    return node


def validate(objects: list[dict], root: Path) -> subprocess.CompletedProcess:
    """Lay out the ConfigMap's files where the Deployment mounts them, under `root`, and run the adapter's
    validate. Secret files are not laid out: validate only reads the catalog of the `file` control plane."""
    if not ADAPTER.exists():
        pytest.fail(f"{ADAPTER.relative_to(ROOT)} is missing: run `make setup`", pytrace=False)
    data = find(objects, "ConfigMap", "-apim-adapter")["data"]
    config = yaml.safe_load(data["config.yaml"])
    if "catalog.yaml" in data:
        catalog = root / config["controlPlane"]["path"].lstrip("/")
        catalog.parent.mkdir(parents=True)
        catalog.write_text(data["catalog.yaml"])
    config_file = root / "config.yaml"
    config_file.write_text(yaml.safe_dump(into(root, config)))
    return subprocess.run(
        [str(ADAPTER), "validate", "--config", str(config_file)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("values_file", CI_FILES, ids=[path.name for path in CI_FILES])
def test_ci_values_render_a_config_the_adapter_accepts(values_file, tmp_path):
    result = validate(render(CHART, files=(values_file,)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


ONCE_REJECTED = {
    "JWKS refetch bounds": {
        "config": {
            "keyManagers": [
                {
                    "name": "km",
                    "issuer": "https://is/oauth2/token",
                    "jwksUri": "https://is/oauth2/jwks",
                    "jwksRefreshSeconds": 60,
                    "jwksMinRefetchSeconds": 5,
                    "clockSkewSeconds": 600,
                }
            ]
        }
    },
    "workers and gRPC threads": {"config": {"server": {"workers": 4, "grpcThreads": 16}}},
    "opaque tokens only, introspection from a chart Secret": {
        "config": {
            "keyManagers": [
                {"name": "km", "issuer": "https://is/oauth2/token", "introspection": {"url": "https://is/introspect"}}
            ]
        },
        "introspectionCredentials": {"clientId": "client", "clientSecret": "not-a-secret"},
    },
    "key managers only from APIM": {
        "config": {
            "keyManagers": [],
            "controlPlane": {
                "type": "wso2",
                "url": "https://apim:9443",
                "gatewayLabel": "Default",
                "keyManagersFromControlPlane": True,
                "timeoutSeconds": 2.5,
                "eventHub": {"url": "amqps://apim:8672/carbon"},
            },
        },
        "controlPlaneCredentials": {"existingSecret": "apim-admin"},
    },
    "file control plane poll period": {"config": {"controlPlane": {"type": "file", "pollSeconds": 0.5}}},
    "redis timeout": {
        "config": {"rateLimit": {"backend": "redis", "redis": {"url": "redis://redis:6379/0", "timeoutSeconds": 0.2}}}
    },
    "request limits and header prefix": {
        "config": {
            "request": {"maxTokenBytes": 4096, "maxHeaderBytes": 32768, "headerPrefix": "x-gw-", "numTrustedProxies": 2}
        }
    },
    "backend JWT issuer and RS512": {
        "config": {"backendJwt": {"enabled": True, "algorithm": "RS512", "issuer": "https://apim"}},
        "backendJwtKey": {"existingSecret": "jwt-key"},
    },
    "lower-case log level": {"config": {"logging": {"level": "debug"}}},
    "access log service on its own port": {
        "config": {"analytics": {"accessLogService": {"enabled": True}}},
        "containerPorts": {"accessLog": 18500},
    },
}


@pytest.mark.parametrize("values", ONCE_REJECTED.values(), ids=ONCE_REJECTED.keys())
def test_keys_the_adapter_accepts_render_and_validate(values, tmp_path):
    result = validate(render(CHART, values=values), tmp_path)
    assert result.returncode == 0, result.stderr


def test_validate_catches_what_the_schema_cannot(tmp_path):
    """The drift check itself can fail: a key mapping whose `keyManager` is a number passes the chart schema."""
    mapping = {"applicationId": 1, "applicationUUID": "a", "consumerKey": "c", "keyType": "PRODUCTION"}
    values = {"catalog": {"inline": {"applicationKeyMappings": [{**mapping, "keyManager": 7}]}}}
    result = validate(render(CHART, values=values), tmp_path)
    assert result.returncode != 0
    assert "catalog: applicationKeyMappings[0].keyManager" in result.stderr


# Rules of the access log service the chart's schema cannot state: the adapter's own validation refuses them.
ACCESS_LOG_SERVICE_REFUSED = {
    "without dynamic metadata": (
        {"config": {"analytics": {"accessLogService": {"enabled": True}}, "request": {"dynamicMetadata": False}}},
        "analytics.accessLogService.enabled: needs request.dynamicMetadata: true",
    ),
    "without analytics": (
        {"config": {"analytics": {"enabled": False, "accessLogService": {"enabled": True}}}},
        "analytics.accessLogService.enabled: needs analytics.enabled: true",
    ),
    "on the gRPC port": (
        {"config": {"analytics": {"accessLogService": {"enabled": True}}}, "containerPorts": {"accessLog": 8081}},
        "analytics.accessLogService.port: must differ from the server's ports",
    ),
}


@pytest.mark.parametrize(("values", "error"), ACCESS_LOG_SERVICE_REFUSED.values(), ids=ACCESS_LOG_SERVICE_REFUSED)
def test_validate_refuses_an_access_log_service_the_adapter_cannot_serve(values, error, tmp_path):
    result = validate(render(CHART, values=values), tmp_path)
    assert result.returncode != 0
    assert error in result.stderr


def test_committed_schema_and_docs_are_the_generated_ones():
    """The chart's `config` schema and docs/configuration.md come from the adapter's model (`make generate`)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_config_schema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_generated_check_sees_a_hand_edit():
    """A key added to the chart schema by hand, or a stale docs table, is not what the model generates."""
    schema = json.loads(generate.CHART_SCHEMA.read_text())
    schema["properties"]["config"]["properties"]["request"]["properties"]["stripAuthorization"] = {"type": "boolean"}
    edited = json.dumps(schema, indent=2) + "\n"
    assert generate.schema_text(edited) != edited
    docs = generate.DOCS.read_text().replace("`request.maxTokenBytes`", "`request.maxTokenSize`")
    assert generate.docs_text(docs) != docs


def test_chart_schema_is_the_model_without_what_the_chart_fills():
    """Exactly the listeners are missing (the server's and the access log service's come from `containerPorts`),
    and the secret file paths the chart writes are optional in values; every other key of the model is in the
    chart's schema."""
    chart = json.loads(generate.CHART_SCHEMA.read_text())["properties"]["config"]
    model = generate.model_schema()
    assert set(model["properties"]["server"]["properties"]) - set(chart["properties"]["server"]["properties"]) == {
        "grpc",
        "http",
        "admin",
    }
    als_model = model["properties"]["analytics"]["properties"]["accessLogService"]["properties"]
    als_chart = chart["properties"]["analytics"]["properties"]["accessLogService"]["properties"]
    assert set(als_model) - set(als_chart) == {"host", "port"}
    assert set(chart["properties"]) == set(model["properties"])
    wso2 = next(v for v in chart["properties"]["controlPlane"]["oneOf"] if v["properties"]["type"]["const"] == "wso2")
    assert wso2["required"] == ["type", "url"]
