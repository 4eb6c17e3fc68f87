"""The config the apim-adapter chart renders is one the real adapter accepts (`apim-adapter validate`), for every
ci values file and for keys the chart's schema once rejected: the schema and config.py must not drift apart."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_helpers import CHARTS, REPO, find, render

from apim_adapter import config as adapter_config

CHART = "apim-adapter"
CI_FILES = sorted((CHARTS / CHART / "ci").glob("*-values.yaml"))
ADAPTER = REPO / ".venv" / "bin" / "apim-adapter"
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
        pytest.fail(f"{ADAPTER.relative_to(REPO)} is missing: run `make setup`", pytrace=False)
    data = find(objects, "ConfigMap")["data"]
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
                "eventHub": {"url": "amqps://apim:5671"},
            },
        },
        "controlPlaneCredentials": {"existingSecret": "apim-admin"},
    },
    "file control plane poll period": {"config": {"controlPlane": {"type": "file", "pollSeconds": 0.5}}},
    "redis timeout": {
        "config": {"rateLimit": {"backend": "redis", "redis": {"url": "redis://redis:6379/0", "timeoutSeconds": 0.2}}}
    },
    "request limits and header prefix": {
        "config": {"request": {"maxTokenBytes": 4096, "maxHeaderBytes": 32768, "headerPrefix": "x-gw-"}}
    },
    "backend JWT issuer and RS512": {
        "config": {"backendJwt": {"enabled": True, "algorithm": "RS512", "issuer": "https://apim"}},
        "backendJwtKey": {"existingSecret": "jwt-key"},
    },
    "lower-case log level": {"config": {"logging": {"level": "debug"}}},
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


def schema_keys(schema: dict, node: dict, path: str = "") -> dict[str, set[str]]:
    """Every object path of the schema (list items as `[]`) with the keys it accepts."""
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    if node.get("type") == "array":
        return schema_keys(schema, node["items"], f"{path}[]")
    if "properties" not in node:
        return {}
    found = {path: set(node["properties"])}
    for key, child in node["properties"].items():
        found |= schema_keys(schema, child, f"{path}.{key}" if path else key)
    return found


def test_schema_accepts_exactly_the_keys_the_adapter_reads(monkeypatch):
    """config.py reads a section's keys (and rejects the rest) before `done()`: record them while it parses a
    config with every section present, and compare with the schema's `config` part."""
    read: dict[str, set[str]] = {}
    done = adapter_config._Section.done

    def record(section):
        read[re.sub(r"\[\d+\]", "[]", section.path)] = set(section.seen)
        done(section)

    monkeypatch.setattr(adapter_config._Section, "done", record)
    rendered = render(CHART, files=(CHARTS / CHART / "ci" / "all-enabled-values.yaml",))
    adapter_config.parse(yaml.safe_load(find(rendered, "ConfigMap")["data"]["config.yaml"]))
    schema = json.loads((CHARTS / CHART / "values.schema.json").read_text())
    accepted = schema_keys(schema, schema["properties"]["config"])
    # The chart owns the listeners (from containerPorts): the only keys config.py reads that values cannot set.
    chart_owned = {"server": {"grpc", "http", "admin"}}
    listeners = {path for path in read if path.startswith("server.")}
    expected = {path: keys - chart_owned.get(path, set()) for path, keys in read.items() if path not in listeners}
    assert accepted == expected
