"""The production endpoint of an API, read from APIM's gateway runtime artifact (`controlplane/artifacts.py` opens
it and describes its format). This module reads `endpointConfig`'s endpoint type and production URL(s) and
`env_properties.json`'s per-environment overrides, nothing else, keeps no bytes of the artifact, and never logs it.
"""

from __future__ import annotations

from typing import Any

from ..controlplane.artifacts import Artifact, BadArtifact
from .core import Endpoint

__all__ = ["BadArtifact", "endpoints"]


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
    artifact = Artifact.open(body)
    env_properties = artifact.document("env_properties.json")
    out: dict[str, Endpoint] = {}
    for name in artifact.deployed(environment):
        project = artifact.project(name)
        if project.product:  # its resources go to the bundled APIs' endpoints: core.plan reports it, unrouted
            continue
        api = project.api()
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
