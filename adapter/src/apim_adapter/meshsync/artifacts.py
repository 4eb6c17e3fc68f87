"""The production endpoint of an API, read from APIM's gateway runtime artifact (`controlplane/artifacts.py` opens
it and describes its format), and of each API an API Product bundles. This module reads `endpointConfig`'s
endpoint type and production URL(s), `env_properties.json`'s per-environment overrides and a product's operations,
nothing else, keeps no bytes of the artifact, and never logs it.
"""

from __future__ import annotations

from typing import Any

from ..controlplane.artifacts import Artifact, BadArtifact, Project
from .core import PRODUCT, Bundled, Endpoint

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


def _endpoint(api: dict[str, Any], override: str | None) -> Endpoint:
    raw = api.get("endpointConfig")
    config: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = str(config.get("endpoint_type") or "none")
    return Endpoint(kind, (override,) if override and kind in ("http", "address") else _production_urls(config))


def _bundled(project: Project, product: dict[str, Any], env_properties: Any, environment: str) -> Endpoint:
    """An API Product's endpoint: each API it bundles (the APIProductDTO's `apis`, ProductAPIDTO `apiId` and the
    `target`s of the `operations` taken from it) with that API's production endpoint as the product's revision
    holds it (its project under `APIs/`). A bundled API with a per-environment endpoint is `overridden`: which of
    the two the product's gateway calls is not guessed."""
    projects = project.bundled_apis()
    bundled = []
    for item in product.get("apis") or []:
        api_id = item.get("apiId") if isinstance(item, dict) else None
        if not isinstance(api_id, str):
            continue
        operations = item.get("operations") or []
        targets = tuple(
            str(o["target"]) for o in operations if isinstance(o, dict) and isinstance(o.get("target"), str)
        )
        api = projects.get(api_id)
        if api is None:
            endpoint = Endpoint("none")
        elif _env_override(env_properties, api_id, environment):
            endpoint = Endpoint("overridden")
        else:
            endpoint = _endpoint(api, None)
        bundled.append(Bundled(api_id, endpoint, targets))
    return Endpoint(PRODUCT, bundled=tuple(bundled))


def endpoints(body: bytes, environment: str) -> dict[str, Endpoint]:
    """API uuid → its production endpoint, for every API revision in an `apis.zip` deployed to `environment`; an API
    Product's names the endpoints of the APIs it bundles."""
    artifact = Artifact.open(body)
    env_properties = artifact.document("env_properties.json")
    out: dict[str, Endpoint] = {}
    for name in artifact.deployed(environment):
        project = artifact.project(name)
        api = project.api()
        api_id = api.get("id")
        if not isinstance(api_id, str):
            continue
        if project.kind == "api_product":
            out[api_id] = _bundled(project, api, env_properties, environment)
        elif project.kind == "api":
            out[api_id] = _endpoint(api, _env_override(env_properties, api_id, environment))
        # an MCP server's: not routed, core.plan reports its type
    return out
