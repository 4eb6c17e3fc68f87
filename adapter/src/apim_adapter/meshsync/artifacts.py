"""The production endpoint of an API, read from APIM's gateway runtime artifact (`GET /internal/data/v1/
runtime-artifacts?type=Envoy`, what Choreo Connect and the APK agent call; carbon-apimgt 9.31.86
`internal.service/.../impl/RetrieveRuntimeArtifactsApiServiceImpl.java` and `RuntimeArtifactGeneratorUtil`).

The artifact is `apis.zip`: `deployments.json`, `env_properties.json` and one inner zip per API revision,
`<apiUUID>-<revisionUUID>.zip`, holding `<Name>-<version>/api.json` = `{"type": "api", "data": <APIDTO>}`. The
inner zips carry the endpoint credentials decrypted: this module reads `endpointConfig`'s endpoint type and
production URL(s) and nothing else, keeps no bytes of it, and never logs it.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from .core import Endpoint

MAX_ENTRY_BYTES = 16 << 20


class BadArtifact(ValueError):
    pass


def _json(archive: zipfile.ZipFile, name: str) -> Any:
    info = archive.getinfo(name)
    if info.file_size > MAX_ENTRY_BYTES:
        raise BadArtifact(f"{name}: too large")
    return json.loads(archive.read(info))


def _production_urls(config: dict[str, Any]) -> tuple[str, ...]:
    """`production_endpoints` is an object `{url}` for http/address (and failover), an array for load_balance."""
    endpoints = config.get("production_endpoints")
    items = endpoints if isinstance(endpoints, list) else [endpoints] if isinstance(endpoints, dict) else []
    return tuple(item["url"] for item in items if isinstance(item, dict) and isinstance(item.get("url"), str))


def _env_override(env_properties: Any, api_id: str, environment: str) -> str | None:
    """A per-environment production endpoint set in the Publisher. `env_properties.json` is written by
    MicroGatewayArtifactGenerator (carbon-apimgt `gatewayartifactsynchronizer/MicroGatewayArtifactGenerator.java`)
    under the key `apis`: API uuid → environment → `{envId, envName, configs}`
    (`EnvironmentSpecificAPIPropertyDAO.getEnvironmentSpecificAPIPropertiesOfAPIs`); read as Choreo Connect's
    `synchronizer.parseEnvProps` reads it. The environment is keyed by its name (by its id for the read-only
    environments of deployment.toml, whose id is their name); `configs` is the JSON the Publisher stored."""
    apis = env_properties.get("apis") if isinstance(env_properties, dict) else None
    per_api = apis.get(api_id) if isinstance(apis, dict) else None
    if not isinstance(per_api, dict):
        return None
    props = per_api.get(environment)
    if not isinstance(props, dict):
        props = next((p for p in per_api.values() if isinstance(p, dict) and p.get("envName") == environment), None)
    configs = props.get("configs") if isinstance(props, dict) else None
    url = configs.get("productionEndpoint") if isinstance(configs, dict) else None
    return url if isinstance(url, str) and url else None


def endpoints(body: bytes, environment: str) -> dict[str, Endpoint]:
    """API uuid → its production endpoint, for every API revision in an `apis.zip` deployed to `environment`."""
    try:
        outer = zipfile.ZipFile(io.BytesIO(body))
        names = set(outer.namelist())
        deployments = _json(outer, "deployments.json") if "deployments.json" in names else {}
        env_properties = _json(outer, "env_properties.json") if "env_properties.json" in names else {}
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BadArtifact(f"not an apis.zip: {type(exc).__name__}") from None
    rows = ((deployments.get("data") or {}).get("deployments") or []) if isinstance(deployments, dict) else []
    out: dict[str, Endpoint] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("apiFile"), str) or row["apiFile"] not in names:
            continue
        if not any(isinstance(e, dict) and e.get("name") == environment for e in row.get("environments") or []):
            continue
        api = _api_json(outer, row["apiFile"])
        api_id = api.get("id")
        if not isinstance(api_id, str):
            continue
        raw = api.get("endpointConfig")
        config: dict[str, Any] = raw if isinstance(raw, dict) else {}
        kind = str(config.get("endpoint_type") or "none")
        override = _env_override(env_properties, api_id, environment)
        out[api_id] = Endpoint(
            kind, (override,) if override and kind in ("http", "address") else _production_urls(config)
        )
    return out


def _api_json(outer: zipfile.ZipFile, name: str) -> dict[str, Any]:
    try:
        info = outer.getinfo(name)
        if info.file_size > MAX_ENTRY_BYTES:
            raise BadArtifact(f"{name}: too large")
        inner = zipfile.ZipFile(io.BytesIO(outer.read(info)))
        candidates = [n for n in inner.namelist() if n.count("/") == 1 and n.endswith("/api.json")]
        if len(candidates) != 1:
            raise BadArtifact(f"{name}: no single <Name>-<version>/api.json")
        document = _json(inner, candidates[0])
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BadArtifact(f"{name}: {type(exc).__name__}") from None
    data = document.get("data") if isinstance(document, dict) else None
    return data if isinstance(data, dict) else {}
