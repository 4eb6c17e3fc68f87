"""APIM's endpoint security: the credential APIM's gateway adds to each call it sends an API's backend.

In APIM's Publisher (API > Endpoints > Endpoint Security) an API's production and sandbox endpoints each get a
security type; the revision's APIDTO carries it as `endpointConfig.endpoint_security.{production,sandbox}`, the
credential decrypted (the runtime artifact is exported with `preserveCredentials`: carbon-apimgt 9.31.86
`APIProviderImpl.addAPIRevision` → `exportAPI(..., true, ...)`, `APIMappingUtil.fromAPItoDTO` decrypting the API
key value and the OAuth client secret). APIM's gateway template adds it in the API's in-sequence, when the call is
sent to the endpoint of the call's key type (`AM_KEY_TYPE`: the key's; PRODUCTION for a resource without
authentication), so after the operation policies, which its extension handler runs before (product-apim v4.5.0
`api_templates/velocity_template.xml` `draw_endpoint`, `SecurityConfigContext.retrieveEndpointSecurityModel`):

- `basic` / `BASIC`: `Authorization: Basic base64(username:password)` set on the backend's request (`unpw`, or the
  model's `base64EncodedPassword`, written only where neither is blank), replacing the client's.
- `apikey` / `APIKEY` (carbon-apimgt `gateway/mediators/ApiKeyMediator`): `apiKeyIdentifierType` `HEADER` puts
  `apiKeyIdentifier: apiKeyValue` in the transport headers (a case-insensitive map: replacing one of that name);
  `QUERY_PARAMETER` adds `apiKeyIdentifier=apiKeyValue` to the backend's URL (Apache `URIBuilder.addParameter`,
  form-encoded in UTF-8). Envoy sets the parameter, over gRPC only, as for an Add Query Param policy.
- `oauth` / `OAUTH` (`oauth/OAuthMediator`): `Authorization: Bearer <token>`, the token got from the endpoint's
  `tokenUrl` with its client credentials (`grantType` `CLIENT_CREDENTIALS`) or a user's password (`PASSWORD`),
  kept and renewed ahead by backend_tokens.py.
- `digest` / `DIGEST`: the gateway first calls the backend, reads its challenge, and computes the answer
  (`DigestAuthMediator`). An authorization check cannot: named as not applied, its calls reach the backend without
  the credential.

Only an endpoint with `enabled` true is secured. A type spelt otherwise matches none of the template's branches:
APIM's gateway adds nothing, nor does the adapter. What is kept of the DTO is what is sent: a credential of a type
not applied is dropped as soon as it is read. Nothing here logs a credential; a BackendCredential's repr names its
type only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from .http_client import basic_authorization
from .mediation import HEADER_NAME, RESERVED, Headers

# The DTO's keys (APIConstants.ENDPOINT_SECURITY_PRODUCTION, _SANDBOX) by the key type whose calls they secure.
KEY_TYPES = {"production": "PRODUCTION", "sandbox": "SANDBOX"}
BASIC, API_KEY = "basic", "apikey"
OAUTH = "oauth"
NOT_APPLIED = ("digest",)  # the template's other branch: named, not applied
# OAuthClient.generateToken compares grantType with equals (APIConstants.OAuthConstants).
CLIENT_CREDENTIALS, PASSWORD = "CLIENT_CREDENTIALS", "PASSWORD"
# ApiKeyMediator compares apiKeyIdentifierType with equals (APIConstants.AIAPIConstants).
IN_HEADER, IN_QUERY = "HEADER", "QUERY_PARAMETER"


class EndpointSecurityError(ValueError):
    """An endpoint's security no gateway could send as configured (named with the field)."""


@dataclass(frozen=True, slots=True)
class BackendCredential:
    """What the adapter adds to an allowed call for the backend: `headers` set (replacing the client's) and `query`
    set on its request (gRPC only)."""

    kind: str  # basic, apikey
    headers: Headers = field(default=(), repr=False)
    query: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class OAuthEndpoint:
    """An OAuth-secured endpoint: where and how its token is got (backend_tokens.py); the adapter sends the backend
    `Authorization: Bearer <token>`. Compared by value: one token per endpoint so configured, however many APIs
    name it (APIM keeps one per API and key type)."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    grant_type: str  # CLIENT_CREDENTIALS or PASSWORD
    username: str = ""
    password: str = field(default="", repr=False)
    custom_parameters: tuple[tuple[str, str], ...] = field(default=(), repr=False)


def _custom_parameters(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    """`customParameters`: an object (the APIDTO parses the stored JSON text: APIMappingUtil.fromAPItoDTO) or that
    text; each value as Java's toString writes it."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise EndpointSecurityError(f"{where}.customParameters: not a JSON object") from None
    if not isinstance(value, Mapping):
        raise EndpointSecurityError(f"{where}.customParameters: not a JSON object")
    return tuple((str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in value.items())


def _oauth(endpoint: Mapping[str, Any], where: str) -> OAuthEndpoint:
    token_url = _text(endpoint, "tokenUrl", where)
    if not token_url.startswith(("https://", "http://")):
        raise EndpointSecurityError(f"{where}.tokenUrl: must be an http:// or https:// URL")
    grant_type = endpoint.get("grantType")
    if grant_type not in (CLIENT_CREDENTIALS, PASSWORD):
        raise EndpointSecurityError(f"{where}.grantType: must be {CLIENT_CREDENTIALS} or {PASSWORD}")
    username = password = ""
    if grant_type == PASSWORD:
        username, password = _text(endpoint, "username", where), _text(endpoint, "password", where)
    return OAuthEndpoint(
        token_url, _text(endpoint, "clientId", where), _text(endpoint, "clientSecret", where), grant_type,
        username, password, _custom_parameters(endpoint.get("customParameters"), f"{where}"),
    )  # fmt: skip


def _text(endpoint: Mapping[str, Any], key: str, where: str) -> str:
    value = endpoint.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EndpointSecurityError(f"{where}.{key}: must be a non-blank string")
    return value


def _one_line(value: str, key: str, where: str) -> str:
    if not value.isprintable():  # no CR, LF or NUL: one header line
        raise EndpointSecurityError(f"{where}.{key}: must be one printable line")
    return value


def _enabled(value: Any) -> bool:
    """EndpointSecurityModel's boolean `enabled`, as Jackson's convertValue reads it: true, or the text "true"."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _kind(endpoint: Mapping[str, Any]) -> str | None:
    """The endpoint's security type in lower case, where it is spelt as a branch of the template compares it (each
    name in lower or in upper case); None for any other."""
    kind = endpoint.get("type")
    if (
        isinstance(kind, str)
        and kind.lower() in (BASIC, API_KEY, OAUTH, *NOT_APPLIED)
        and kind in (kind.lower(), kind.upper())
    ):
        return kind.lower()
    return None


def credential(endpoint: Any, where: str) -> BackendCredential | OAuthEndpoint | str | None:
    """One endpoint's security: the credential to add, the OAuth endpoint whose token to add, the name of a type not
    applied (`digest`), or None where APIM's gateway adds nothing (not enabled, a type none of its branches
    matches). EndpointSecurityError for an enabled security the gateway could not send."""
    if not isinstance(endpoint, Mapping) or not _enabled(endpoint.get("enabled")):
        return None
    kind = _kind(endpoint)
    if kind is None:
        return None
    if kind == BASIC:
        # SecurityConfigContext writes base64EncodedPassword only where both are non-blank; else the template's
        # reference is left unrendered and the backend gets no usable credential: refused here.
        username, password = _text(endpoint, "username", where), _text(endpoint, "password", where)
        return BackendCredential(BASIC, headers=(("authorization", basic_authorization(username, password)),))
    if kind == API_KEY:
        name = _text(endpoint, "apiKeyIdentifier", where)
        value = _one_line(_text(endpoint, "apiKeyValue", where), "apiKeyValue", where)
        placed = endpoint.get("apiKeyIdentifierType")
        if placed == IN_HEADER:
            if not HEADER_NAME.fullmatch(name) or name.lower() in RESERVED:
                raise EndpointSecurityError(f"{where}.apiKeyIdentifier: {name!r} is not a header the backend can get")
            return BackendCredential(API_KEY, headers=((name.lower(), value),))
        if placed == IN_QUERY:
            # URIBuilder.addParameter form-encodes both (URLEncodedUtils, UTF-8: a space as `+`).
            return BackendCredential(API_KEY, query=((quote_plus(name, safe="*"), quote_plus(value, safe="*")),))
        raise EndpointSecurityError(f"{where}.apiKeyIdentifierType: must be {IN_HEADER} or {IN_QUERY}")
    if kind == OAUTH:
        return _oauth(endpoint, where)
    return kind


def of_api(
    endpoint_config: Any, where: str, lenient: bool = False
) -> tuple[dict[str, BackendCredential | OAuthEndpoint], list[str]]:
    """An API's `endpointConfig` (its `endpoint_security`): the credential of each key type that has one, and what
    to name of the rest: a type not applied, with its key type, and, `lenient`, a security no gateway could send as
    configured, left out (strict: EndpointSecurityError)."""
    security = endpoint_config.get("endpoint_security") if isinstance(endpoint_config, Mapping) else None
    if security is None:
        return {}, []
    if not isinstance(security, Mapping):
        problem = EndpointSecurityError(f"{where}.endpoint_security: must be an object")
        if not lenient:
            raise problem
        return {}, [f"endpoint security left out: {problem}"]
    found: dict[str, BackendCredential | OAuthEndpoint] = {}
    named: list[str] = []
    for key, key_type in KEY_TYPES.items():
        try:
            got = credential(security.get(key), f"{where}.endpoint_security.{key}")
        except EndpointSecurityError as exc:
            if not lenient:
                raise
            named.append(f"endpoint security left out: {exc}")
            continue
        if isinstance(got, BackendCredential | OAuthEndpoint):
            found[key_type] = got
        elif isinstance(got, str):
            named.append(f"{got.upper()} endpoint security ({key})")
    return found, named


def kept(endpoint_config: Any) -> dict[str, Any]:
    """What of an APIDTO's `endpointConfig` a catalog keeps: `endpoint_security`, each endpoint's fields only for a
    type the adapter applies (a digest password is dropped as soon as it is read)."""
    security = endpoint_config.get("endpoint_security") if isinstance(endpoint_config, Mapping) else None
    if not isinstance(security, Mapping):
        return {}
    fields = {BASIC: ("username", "password"),
              API_KEY: ("apiKeyIdentifier", "apiKeyIdentifierType", "apiKeyValue"),
              OAUTH: ("tokenUrl", "clientId", "clientSecret", "grantType", "username", "password",
                      "customParameters")}  # fmt: skip
    out: dict[str, Any] = {}
    for key in KEY_TYPES:
        endpoint = security.get(key)
        if not isinstance(endpoint, Mapping):
            continue
        item = {k: endpoint[k] for k in ("enabled", "type") if k in endpoint}
        kind = _kind(endpoint)
        item.update({k: endpoint[k] for k in fields.get(kind or "", ()) if k in endpoint})
        out[key] = item
    return {"endpoint_security": out}
