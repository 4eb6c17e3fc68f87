"""APIM 4.5's internal data API (`/internal/data/v1`) as a gateway calls it: HTTPS with a CA bundle, Basic
credentials from files, the `xWSO2Tenant` header, whole lists that are never paged (carbon-apimgt
`internal-data-api` spec, as Choreo Connect's adapter calls it)."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterable
from typing import Any

import aiohttp

from .. import tracing
from ..config import Config, ControlPlane, KeyManager
from ..http_client import HttpClient, basic_authorization
from ..secrets import read_secret

log = logging.getLogger(__name__)

BASE_PATH = "/internal/data/v1"
MAX_RESPONSE_BYTES = 64 << 20


class ControlPlaneError(Exception):
    """APIM's internal data API could not answer."""


def _base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(BASE_PATH) else url + BASE_PATH


def control_plane_authorization(cp: ControlPlane, config: Config) -> str:
    """The control plane user's HTTP Basic credentials, as APIM's services take them (the files read now: a missing
    one stops the start with its error)."""
    user, password = (read_secret(config.resolve(path)) for path in (cp.username_file, cp.password_file))
    return basic_authorization(user, password)


def control_plane_client(cp: ControlPlane, config: Config) -> HttpClient:
    """An HTTPS client to APIM with the control plane's CA bundle and timeout."""
    return HttpClient(str(config.resolve(cp.ca_bundle)) if cp.ca_bundle else None, timeout=cp.timeout_seconds)


class InternalDataApi:
    """GETs on /internal/data/v1 as a gateway makes them."""

    def __init__(self, cp: ControlPlane, config: Config):
        self.base = _base_url(cp.url)
        self.headers = {
            "Authorization": control_plane_authorization(cp, config),
            "xWSO2Tenant": cp.tenant,
            "Accept": "application/json",
        }
        self.client = control_plane_client(cp, config)

    async def get(self, path: str, **query: Any) -> Any:
        params = {k: str(v) for k, v in query.items() if v is not None}
        return await self._get(f"{self.base}/{path}", params)

    @tracing.traced("GET", lambda self, url, *_: {"url.full": url})
    async def _get(self, url: str, params: dict[str, str] | None = None) -> Any:
        try:
            return await self.client.get_json(url, MAX_RESPONSE_BYTES, headers=self.headers, params=params)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise ControlPlaneError(f"GET {urllib.parse.urlsplit(url).path}: {exc or type(exc).__name__}") from exc

    async def items(self, path: str, **query: Any) -> list[dict[str, Any]]:
        """The items of a `{count, list}` answer: the internal service never sets `pagination` (its
        *ApiServiceImpl build whole lists)."""
        body = await self.get(path, **query)
        if not isinstance(body, dict) or not isinstance(body.get("list"), list):
            raise ControlPlaneError(f"GET {path}: not a list answer")
        return [item for item in body["list"] if isinstance(item, dict)]

    async def close(self) -> None:
        await self.client.close()


def key_managers_from(items: Iterable[Any], configured: Iterable[str], ca_bundle: str | None) -> list[KeyManager]:
    """APIM's key managers (`/keymanagers`) for JWT validation; the config's own key managers win by name.

    As APIM's gateway loads them (KeyManagerConfigurationDataRetriever.run, KeyManagerHolder
    .addKeyManagerConfiguration): an enabled one whose `tokenType` is not EXCHANGED. An EXCHANGED key manager's tokens
    are meant to be exchanged for tokens of APIM's own key manager: the gateway builds no validator for it, and takes
    none of them as they are. DIRECT and BOTH are taken, and so is one without a `tokenType` (the internal service
    answers DIRECT where unset: its KeyManagerDTO's default)."""
    out, taken = [], set(configured)
    for item in items:
        if not isinstance(item, dict) or not item.get("enabled", True):
            continue
        name, props = item.get("name"), item.get("additionalProperties") or {}
        if not isinstance(name, str) or name in taken or not isinstance(props, dict):
            continue
        token_type = item.get("tokenType")  # APIUtil.toKeyManagerConfiguration: TokenType.valueOf(toUpperCase())
        if isinstance(token_type, str) and token_type.upper() == "EXCHANGED":
            log.info("key manager from APIM skipped: its tokenType is EXCHANGED", extra={"key_manager": name})
            continue
        jwks = props.get("certificate_value") if props.get("certificate_type") == "JWKS" else None
        jwks = jwks or props.get("jwks_endpoint")
        issuer = props.get("issuer")
        if not isinstance(issuer, str) or not isinstance(jwks, str) or not issuer or not jwks:
            log.warning("key manager from APIM skipped: no issuer or JWKS endpoint", extra={"key_manager": name})
            continue
        out.append(
            KeyManager(
                name=name,
                issuer=issuer,
                jwks_uri=jwks,
                consumer_key_claim=props.get("consumer_key_claim") or "azp",
                scopes_claim=props.get("scopes_claim") or "scope",
                ca_bundle=ca_bundle,
            )
        )
        taken.add(name)
    return out
