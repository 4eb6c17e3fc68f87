"""The product REST APIs of the APIM double (harness/apim_double.py), on its own HTTPS server: DCR, the token
endpoint, the Admin v4, Publisher v4 and DevPortal v3 operations the `apim_setup` role and the mesh sync
controller call, and the DevOps v0 API's per-API logging. Behaviour mirrors carbon-apimgt 9.31.86 (APIM 4.5.0, the
commit of tests/wso2_specs/SOURCES.md); each quirk names the upstream file it comes from.

One model of state: everything lives in the double's `data`, the lists the internal data API serves. An API the
Publisher API creates is an `apis` item in the internal data API's shape plus private fields (`_`-prefixed, which
the data API never serves): `_publisher` (its APIDTO), `_urlMappings` (its resources as stored, which the Publisher
answers), `_revisions`, `_deployments`, `_gatewayLabels`, `_revision`, `_endpointConfig`, `_swagger`,
`_clientCertificates` (its AM_API_CLIENT_CERTIFICATE rows of the current API), `_deployedClientCertificates` and
`_corsConfiguration`, `_authorizationHeader`, `_apiKeyHeader`, `_enableSchemaValidation`, `_maxTps` (the deployed
revision's DTO fields of those names), `_deployedSwagger` (the deployed revision's definition),
`_policyClones` (the API's clones of common operation policies, `apply_operation_policies`), `_apiPolicies` and
`_operationPolicies` (the deployed revision's operation policies: the API's, and each operation's by "VERB target"),
`_logLevel` (AM_API.LOG_LEVEL, the DevOps API's per-API logging level; 'OFF' when absent, the column's DEFAULT) and
`_resourceLogLevels` ("VERB pattern" → AM_API_URL_MAPPING.LOG_LEVEL of the API's own resources; see `_log_rows`).
What a gateway reads follows the deployed revision, not the API as last saved: `urlMappings` (the data API's
SubscriptionValidationSQLConstants selects AM_API_URL_MAPPING rows by the deployed REVISION_UUID),
`_endpointConfig`, `_deployedClientCertificates`, the CORS fields and the operation policies (the runtime artifact is
the revision's export) change when a revision is deployed. Applications, subscriptions, key mappings, subscription
policies and key managers are items of their lists in the same way. Only the OAuth clients of DCR and the access
tokens (stored as SHA-256 digests, never raw) live here, as they live in APIM's identity component rather than in
its catalog.

Every request body is validated against the operation's schema (harness/wso2_specs.py) before anything else, and
every answer is kept in the double's `responses` with its operation, so that tests validate it against the spec.
"""

from __future__ import annotations

import base64
import copy
import datetime
import functools
import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import graphql
from aiohttp import web
from cryptography import x509

from . import wso2_specs
from .helpers import ROOT

if TYPE_CHECKING:
    from .apim_double import ApimDouble

DCR_PATH = "/client-registration/v0.17/register"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path
JWKS_PATH = "/oauth2/jwks"  # APIConstants.KeyManager.DEFAULT_JWKS_ENDPOINT
TOKEN_LIFETIME = 3600
# Credentials an answer carries that `responses` (which tests print on failure) never keeps.
NOT_KEPT = frozenset({"access_token", "refresh_token", "clientSecret", "apikey"})
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")  # an OpenAPI path item's operations
RESIDENT_KM = "Resident Key Manager"  # APIConstants.KeyManager.DEFAULT_KEY_MANAGER
# The gateway environments APIM is configured with (deployment.toml `[[apim.gateway.environment]]`, read by
# APIManagerConfiguration.setEnvironmentConfig) → their vhosts' hosts (VHost.fromEndpointUrls: the host of the
# environment's HTTP(S) endpoints). The all-in-one's own: `Default` on localhost; the apim role sets its host to
# apim_gateway_hostname (httpHostname, wsHostname and websubHostname alike, so a vhost's wsHost is its host).
GATEWAY_ENVIRONMENTS: dict[str, tuple[str, ...]] = {"Default": ("localhost",)}
# The default lifecycle: carbon-apimgt `impl/src/main/resources/lifecycle/APILifeCycle.json` (state → action → state).
# fmt: off
LIFECYCLE = {
    "CREATED": {"Publish": "PUBLISHED", "Deploy as a Prototype": "PROTOTYPED"},
    "PROTOTYPED": {"Publish": "PUBLISHED", "Demote to Created": "CREATED", "Deploy as a Prototype": "PROTOTYPED"},
    "PUBLISHED": {"Block": "BLOCKED", "Deploy as a Prototype": "PROTOTYPED", "Demote to Created": "CREATED",
                  "Deprecate": "DEPRECATED", "Publish": "PUBLISHED"},
    "BLOCKED": {"Deprecate": "DEPRECATED", "Re-Publish": "PUBLISHED"},
    "DEPRECATED": {"Retire": "RETIRED"},
    "RETIRED": {},
}
# fmt: on
# Where the implementation answers differently from the spec, the implementation wins (see validate_served).
IMPL_ANSWERS = {
    # rest.api.devops TenantLogsApiServiceImpl.tenantLogsTenantApisApiIdPut answers the LoggingApiInputDTO it was
    # given (`Response.ok().entity(loggingApiInputDTO)`); the spec declares a LoggingApiOutputList.
    ("devops", "/tenant-logs/{tenant}/apis/{apiId}", "put", 200): {"$ref": "#/components/schemas/LoggingApiInput"},
    # ApisApiServiceImpl.getAPIRevisionDeployments returns the bare List<APIRevisionDeploymentDTO>; the spec
    # declares an APIRevisionDeploymentList.
    ("publisher", "/apis/{apiId}/deployments", "get", 200): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/APIRevisionDeployment"},
    },
    # ApiProductsApiServiceImpl.getAPIProductRevisionDeployments likewise returns the bare list.
    ("publisher", "/api-products/{apiProductId}/deployments", "get", 200): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/APIRevisionDeployment"},
    },
    # ApisApiServiceImpl.deployAPIRevision answers Response.Status.CREATED; the spec declares 200.
    ("publisher", "/apis/{apiId}/deploy-revision", "post", 201): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/APIRevisionDeployment"},
    },
    # addAPIClientCertificateOfGivenKeyType answers Response.created(...) with a ClientCertMetadataDTO; the spec
    # declares 200.
    ("publisher", "/apis/{apiId}/client-certificates", "post", 201): {
        "$ref": "#/components/schemas/ClientCertMetadata"
    },
    ("publisher", "/apis/{apiId}/client-certs/{keyType}", "post", 201): {
        "$ref": "#/components/schemas/ClientCertMetadata"
    },
    # updateAPIGraphQLSchema answers the API's operations (fromAPItoDTO(originalAPI).getOperations()); the spec
    # declares no body.
    ("publisher", "/apis/{apiId}/graphql-schema", "put", 200): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/APIOperations"},
    },
}
KEY_TYPES = ("PRODUCTION", "SANDBOX")  # APIConstants.API_KEY_TYPE_PRODUCTION / _SANDBOX
# The global CORS lists of the all-in-one's shipped deployment.toml (product-apim v4.5.0 `[apim.cors]`), which
# api-manager.xml's CORSConfiguration joins with "," and APIUtil.getAllowedOrigins/Headers/Methods read back.
CORS_ALLOW_ORIGINS = ("*",)
CORS_ALLOW_HEADERS = ("authorization", "Access-Control-Allow-Origin", "Content-Type", "SOAPAction", "apikey",
                      "Internal-Key")  # fmt: skip
CORS_ALLOW_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS")
AUTHORIZATION_HEADER_DEFAULT = "Authorization"  # APIConstants.AUTHORIZATION_HEADER_DEFAULT
API_KEY_HEADER_DEFAULT = "ApiKey"  # APIConstants.API_KEY_HEADER_DEFAULT
PRODUCT_REVISION = "/api-products/{apiProductId}/revisions/{revisionId}"
# The common operation policies (mediation: Add Header, Remove Header, ...) the double's APIM ships, as data: each
# specification as product-apim v4.5.0 ships it (the file's `_source`). APIM loads them into every organization at
# start (carbon-apimgt `impl/utils/APIUtil.java` loadCommonOperationPolicies → ApiMgtDAO.addCommonOperationPolicy),
# which gives each an id of that installation's own.
COMMON_OPERATION_POLICIES = ROOT / "harness" / "operation_policies.json"
# Per-API logging (the DevOps API): the levels DevopsAPIUtils.validateLogLevel accepts, in any case
# (APIConstants.APILogHandler OFF, BASIC, STANDARD, FULL), in the order of what they log; AM_API.LOG_LEVEL and
# AM_API_URL_MAPPING.LOG_LEVEL are `VARCHAR(255) DEFAULT 'OFF'` (features/.../core.feature/.../sql/h2.sql).
LOG_LEVELS = ("OFF", "BASIC", "STANDARD", "FULL")
TENANT_API_LOGS = "/tenant-logs/{tenant}/apis/{apiId}"
# An APIOperationPoliciesDTO's lists (APIConstants.OPERATION_SEQUENCE_TYPE_*).
POLICY_FLOWS = ("request", "response", "fault")
# APIProviderImpl.validateAPIPolicyParameters: the operations of these API types take no operation policies.
NO_OPERATION_POLICIES = ("WS", "SSE", "WEBSUB")


class Fault(Exception):
    """An APIManagementException with its ExceptionCodes entry (carbon-apimgt `api/.../ExceptionCodes.java`),
    answered as an ErrorDTO with the code's HTTP status."""

    def __init__(self, status: int, code: int, message: str, description: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.description = status, code, message, description or message

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "description": self.description,
            "moreInfo": "",
            "error": [],
        }


def unauthenticated() -> Fault:
    # rest.api.util `interceptors/auth/OAuthAuthenticationInterceptor.java` throws AuthenticationException
    # ("Unauthenticated request") for a missing or invalid token AND for a token that fails scope validation
    # (`impl/OAuthOpaqueAuthenticatorImpl.authenticate` returns false); `exception/GlobalThrowableMapper.java` maps
    # it to 401 with code 401 and an empty message. APIM never answers 403 for a missing scope.
    return Fault(401, 401, "", "Unauthenticated request")


def conflict(description: str) -> Fault:
    """RestApiUtil.handleResourceAlreadyExistsError: a ConflictException with code 409."""
    return Fault(409, 409, "Resource Already Exists", description)


def vhost_not_provided() -> Fault:
    """ExceptionCodes.GATEWAY_ENVIRONMENT_VHOST_NOT_PROVIDED: a deployment without a vhost, of an API or a product."""
    return Fault(400, 900511, "Gateway Environment virtual hosts name not provided",
                 "Gateway Environment VHOST name not provided")  # fmt: skip


def not_found(what: str, ident: str, code: int = 900308) -> Fault:
    return Fault(404, code, f"{what} Not Found", f"Requested {what} with id '{ident}' not found")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _environment_dto(name: str, hosts: tuple[str, ...]) -> dict[str, Any]:
    """EnvironmentMappingUtil.fromEnvironmentToDTO of an environment configured in deployment.toml
    (APIManagerConfiguration.setEnvironmentConfig): its id is its name (Environment.getUuid), `hybrid`, `Regular`,
    provider `wso2`, shown in the API console, not restricted (EnvironmentPermissionsDTO's initial PUBLIC), its
    service URL the all-in-one's; each vhost as VHost.fromEndpointUrls reads the default endpoints (HTTP 8280,
    HTTPS 8243, WS 9099, WSS 8099, WebSub 9021 and 8021: the all-in-one's deployment.toml) on its host."""
    vhosts = [{"host": host, "httpContext": "", "httpPort": 8280, "httpsPort": 8243, "wsPort": 9099, "wsHost": host,
               "wssPort": 8099, "wssHost": host, "websubHttpPort": 9021, "websubHttpsPort": 8021}
              for host in hosts]  # fmt: skip
    return {"id": name, "name": name, "displayName": name, "type": "hybrid", "gatewayType": "Regular",
            "serverUrl": "https://localhost:9443/services/", "provider": "wso2", "showInApiConsole": True,
            "vhosts": vhosts, "permissions": {"permissionType": "PUBLIC", "roles": []}}  # fmt: skip


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Token:
    user: str | None  # the resource owner (password grant) or the DCR client's owner; None for an application's
    client_id: str
    scopes: tuple[str, ...]
    expires: float


@dataclass
class Client:
    client_id: str
    secret: str  # in this process's memory only, as the identity component keeps it
    name: str
    owner: str
    grant_types: tuple[str, ...]
    record: dict[str, Any] = field(default_factory=dict)  # the DCR answer, without the secret


Handler = Callable[["Call"], Awaitable[tuple[int, Any]]]


@dataclass
class Call:
    """One authenticated, validated request to an operation."""

    request: web.Request
    api: str
    template: str
    method: str
    body: Any
    token: Token | None
    params: dict[str, str]
    user: str | None = None  # who the request authenticated as (the token's user, or a DevOps API caller)

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.query.get(name, default)


# The scopes the admin user's roles (admin, Internal/subscriber, ...) are bound to: every scope the three specs
# declare. APIM's scope issuer (carbon-apimgt `impl/issuers/SystemScopesIssuer.java`, getAuthorizedScopes) grants
# the requested scopes the user's roles allow and drops the rest. Read on first use: the specs are large.
@functools.cache
def admin_scopes() -> frozenset[str]:
    return frozenset().union(*(declared_scopes(api) for api in wso2_specs.BASE_PATHS))


@functools.cache
def declared_scopes(api: str) -> frozenset[str]:
    """The scopes one of the product APIs' definitions declares (its OAuth2Security flows; the DevOps API has none)."""
    schemes = wso2_specs.spec(api)["components"].get("securitySchemes", {})
    flows = schemes.get("OAuth2Security", {}).get("flows", {})
    return frozenset(scope for flow in flows.values() for scope in flow.get("scopes", {}))


class ProductApis:
    """Routes and handlers; state is the double's `data` (see the module docstring)."""

    def __init__(self, double: ApimDouble):
        self.double = double
        self.clients: dict[str, Client] = {}
        self.tokens: dict[str, Token] = {}  # SHA-256 of the access token → its grant
        self._ids = iter(range(1, 1 << 30))
        shipped = json.loads(COMMON_OPERATION_POLICIES.read_text())["specifications"]
        self.common_policies: dict[str, dict[str, Any]] = {str(uuid.uuid4()): spec for spec in shipped}
        self.handlers: dict[tuple[str, str, str], Handler] = {
            ("publisher", "get", "/apis"): self.list_apis,
            ("publisher", "post", "/apis"): self.create_api,
            ("publisher", "post", "/apis/import-graphql-schema"): self.import_graphql_schema,
            ("publisher", "get", "/apis/{apiId}/graphql-policies/complexity"): self.get_graphql_complexity,
            ("publisher", "put", "/apis/{apiId}/graphql-policies/complexity"): self.put_graphql_complexity,
            ("publisher", "get", "/apis/{apiId}/graphql-schema"): self.get_graphql_schema,
            ("publisher", "put", "/apis/{apiId}/graphql-schema"): self.put_graphql_schema,
            ("publisher", "get", "/apis/{apiId}"): self.get_api,
            ("publisher", "put", "/apis/{apiId}"): self.update_api,
            ("publisher", "delete", "/apis/{apiId}"): self.delete_api,
            ("publisher", "get", "/apis/{apiId}/swagger"): self.get_swagger,
            ("publisher", "put", "/apis/{apiId}/swagger"): self.put_swagger,
            ("publisher", "get", "/apis/{apiId}/revisions"): self.list_revisions,
            ("publisher", "post", "/apis/{apiId}/revisions"): self.create_revision,
            ("publisher", "delete", "/apis/{apiId}/revisions/{revisionId}"): self.delete_revision,
            ("publisher", "post", "/apis/{apiId}/deploy-revision"): self.deploy_revision,
            ("publisher", "get", "/apis/{apiId}/deployments"): self.list_deployments,
            ("publisher", "get", "/settings"): self.get_settings,
            ("publisher", "get", "/apis/{apiId}/client-certificates"): self.list_client_certificates,
            ("publisher", "post", "/apis/{apiId}/client-certificates"): self.add_client_certificate,
            ("publisher", "get", "/apis/{apiId}/client-certs/{keyType}"): self.list_client_certificates,
            ("publisher", "post", "/apis/{apiId}/client-certs/{keyType}"): self.add_client_certificate,
            ("publisher", "post", "/apis/change-lifecycle"): self.change_lifecycle,
            ("publisher", "get", "/operation-policies"): self.list_common_operation_policies,
            ("publisher", "post", "/gateway-policies"): self.create_gateway_policy_mapping,
            ("publisher", "get", "/gateway-policies"): self.list_gateway_policy_mappings,
            ("publisher", "get", "/gateway-policies/{gatewayPolicyMappingId}"): self.get_gateway_policy_mapping,
            ("publisher", "put", "/gateway-policies/{gatewayPolicyMappingId}"): self.update_gateway_policy_mapping,
            ("publisher", "post", "/gateway-policies/{gatewayPolicyMappingId}/deploy"): self.engage_gateway_policies,
            ("publisher", "get", "/api-products"): self.list_products,
            ("publisher", "post", "/api-products"): self.create_product,
            ("publisher", "get", "/api-products/{apiProductId}"): self.get_product,
            ("publisher", "put", "/api-products/{apiProductId}"): self.update_product,
            ("publisher", "get", "/api-products/{apiProductId}/revisions"): self.list_product_revisions,
            ("publisher", "post", "/api-products/{apiProductId}/revisions"): self.create_product_revision,
            ("publisher", "delete", PRODUCT_REVISION): self.delete_product_revision,
            ("publisher", "post", "/api-products/{apiProductId}/deploy-revision"): self.deploy_product_revision,
            ("publisher", "get", "/api-products/{apiProductId}/deployments"): self.list_product_deployments,
            ("publisher", "post", "/api-products/change-lifecycle"): self.change_product_lifecycle,
            ("admin", "get", "/key-managers"): self.list_key_managers,
            ("admin", "post", "/key-managers"): self.create_key_manager,
            ("admin", "get", "/throttling/policies/subscription"): self.list_subscription_policies,
            ("admin", "post", "/throttling/policies/subscription"): self.create_subscription_policy,
            ("admin", "get", "/throttling/policies/subscription/{policyId}"): self.get_subscription_policy,
            ("admin", "put", "/throttling/policies/subscription/{policyId}"): self.update_subscription_policy,
            ("admin", "get", "/throttling/policies/application"): self.list_application_policies,
            ("admin", "post", "/throttling/policies/application"): self.create_application_policy,
            ("admin", "get", "/throttling/policies/application/{policyId}"): self.get_application_policy,
            ("admin", "put", "/throttling/policies/application/{policyId}"): self.update_application_policy,
            ("admin", "get", "/throttling/policies/advanced"): self.list_advanced_policies,
            ("admin", "post", "/throttling/policies/advanced"): self.create_advanced_policy,
            ("admin", "get", "/throttling/policies/advanced/{policyId}"): self.get_advanced_policy,
            ("admin", "put", "/throttling/policies/advanced/{policyId}"): self.update_advanced_policy,
            ("devportal", "get", "/apis"): self.devportal_apis,
            ("devportal", "get", "/applications"): self.list_applications,
            ("devportal", "post", "/applications"): self.create_application,
            ("devportal", "get", "/applications/{applicationId}"): self.get_application,
            ("devportal", "put", "/applications/{applicationId}"): self.update_application,
            ("devportal", "post", "/applications/{applicationId}/reset-throttle-policy"): self.reset_throttle_policy,
            ("devportal", "get", "/subscriptions"): self.list_subscriptions,
            ("devportal", "post", "/subscriptions"): self.create_subscription,
            ("devportal", "put", "/subscriptions/{subscriptionId}"): self.update_subscription,
            ("devportal", "get", "/applications/{applicationId}/oauth-keys"): self.list_keys,
            ("devportal", "post", "/applications/{applicationId}/generate-keys"): self.generate_keys,
            ("devportal", "post", "/applications/{applicationId}/api-keys/{keyType}/generate"): self.generate_api_key,
            ("devops", "put", TENANT_API_LOGS): self.put_api_log_level,
            ("devops", "get", TENANT_API_LOGS): self.get_api_log_levels,
            ("devops", "get", "/tenant-logs/{tenant}/apis/"): self.list_api_log_levels,
        }

    @property
    def data(self) -> dict[str, Any]:
        return self.double.data

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(DCR_PATH, self.register_client)
        app.router.add_post(TOKEN_PATH, self.issue_token)
        app.router.add_get(JWKS_PATH, self.jwks)
        for api, base in wso2_specs.BASE_PATHS.items():
            app.router.add_route("*", base + "{tail:/.*}", self._dispatcher(api))

    # -- answers -----------------------------------------------------------------------------------------------

    def _answer(self, api: str, template: str, method: str, status: int, body: Any) -> web.Response:
        from .apim_double import Served

        self.double.responses.append(
            Served(f"{api} {method.upper()} {template}", status, body, operation=(api, template, method))
        )
        if body is None:
            return web.Response(status=status)
        if isinstance(body, str):
            # A String entity goes out as it is, whatever the media type (JAX-RS; CXF's StringTextProvider): an API's
            # definition (getAPISwagger, updateAPISwagger) reaches the client as the JSON document, not a JSON string.
            return web.Response(text=body, status=status, content_type="application/json")
        written = wso2_specs.as_written(wso2_specs.spec(api), answer_schema(api, template, method, status), body)
        return web.json_response(written, status=status)

    # -- DCR and tokens ----------------------------------------------------------------------------------------

    def _basic(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except ValueError:
            return None
        return user, password

    def _is_admin(self, credentials: tuple[str, str] | None) -> bool:
        return credentials is not None and secrets.compare_digest(
            f"{credentials[0]}:{credentials[1]}", f"{self.double.username}:{self.double.password}"
        )

    async def register_client(self, request: web.Request) -> web.Response:
        """rest.api.dcr `web/impl/RegistrationServiceImpl.register`: Basic credentials of the owner; an existing
        application of the same clientName is answered again (200 both times), with its secret; the body is a
        RegistrationProfile (`web/dto/RegistrationProfile.java`: clientName, owner, grantType, callbackUrl,
        saasApp, ...). No OpenAPI definition of DCR is vendored, so the profile's own fields are checked."""
        endpoint = "dcr"
        if not self._is_admin(self._basic(request)):
            return self._plain(endpoint, 401, unauthenticated().body())
        try:
            profile = await request.json()
        except ValueError:
            return self._plain(endpoint, 400, Fault(400, 400, "Bad Request", "Malformed request body.").body())
        allowed = {
            "clientName",
            "owner",
            "grantType",
            "callbackUrl",
            "saasApp",
            "tokenScope",
            "supportedGrantTypes",
            "isUserStoreDomainInSubject",
            "applicationDisplayName",
        }
        unknown = sorted(set(profile) - allowed) if isinstance(profile, dict) else ["(body)"]
        if unknown or not profile.get("clientName") or not profile.get("owner"):
            fault = Fault(400, 400, "Bad Request", f"invalid registration profile: {unknown or 'clientName/owner'}")
            return self._plain(endpoint, 400, fault.body())
        if profile["owner"] != self.double.username:
            # "Logged in user ... and application owner ... should be same."
            return self._plain(endpoint, 403, Fault(403, 403, "Forbidden", "owner differs").body())
        existing = next((c for c in self.clients.values() if c.name == profile["clientName"]), None)
        if existing is None:
            secret = secrets.token_urlsafe(24)
            client_id = secrets.token_urlsafe(18)
            grants = tuple(str(profile.get("grantType", "")).split())
            record = {
                "clientId": client_id,
                "clientName": profile["clientName"],
                "callBackURL": profile.get("callbackUrl"),
                "isSaasApplication": bool(profile.get("saasApp")),
                "appOwner": profile["owner"],
                "jsonString": json.dumps({"grant_types": " ".join(grants)}),
                "jsonAppAttribute": "{}",
                "tokenType": None,
            }
            existing = Client(client_id, secret, profile["clientName"], profile["owner"], grants, record)
            self.clients[client_id] = existing
        # An existing OAuth app is answered with its own key and secret (getExistingApp).
        return self._plain(endpoint, 200, {**existing.record, "clientSecret": existing.secret})

    def _plain(self, endpoint: str, status: int, body: Any) -> web.Response:
        """An answer no vendored spec defines (DCR, token endpoint): kept, but not spec-validated."""
        from .apim_double import Served

        kept = {k: "(not kept)" if k in NOT_KEPT else v for k, v in body.items()}
        self.double.responses.append(Served(endpoint, status, kept, operation=None))
        return web.json_response(body, status=status)

    def client_authenticates(self, client_id: str, secret: str) -> bool:
        client = self.clients.get(client_id)
        if client is not None:
            return secrets.compare_digest(client.secret, secret)
        mapping = self._mapping_by_key(client_id)
        return mapping is not None and secrets.compare_digest(mapping["_consumerSecret"], secret)

    def _mapping_by_key(self, consumer_key: str) -> dict[str, Any] | None:
        return next((m for m in self.data["applicationKeyMappings"] if m.get("consumerKey") == consumer_key), None)

    async def issue_token(self, request: web.Request) -> web.Response:
        """RFC 6749 token endpoint as WSO2's OAuth component answers it: client authentication by Basic header,
        `invalid_client` 401, `invalid_grant` 400 for wrong user credentials, `unsupported_grant_type` 400. Opaque
        access tokens; the granted scopes are the requested scopes the user's roles allow (the admin holds every
        product API scope), `default` when none is left. A client registered by DCR may use only the grant types it
        registered (AccessTokenIssuer.issue: isAuthorizedClient, 400 `unauthorized_client`); its client_credentials
        token is its owner's (AccessTokenIssuer sets the application owner as the authorized user of a grant that is
        not of an application user; SystemScopesIssuer.getScopes then reads that user's roles), so it carries the
        requested scopes the owner's roles allow. A DevPortal application's client_credentials token carries the
        scopes asked for among those of the application's subscribed APIs; the double grants it `default` only."""
        form = {k: v[0] for k, v in parse_qs(await request.text()).items()}
        credentials = self._basic(request) or (form.get("client_id", ""), form.get("client_secret", ""))
        if not credentials[0] or not self.client_authenticates(*credentials):
            invalid = {"error": "invalid_client", "error_description": "A valid OAuth client could not be found"}
            return self._plain("token", 401, invalid)
        grant = form.get("grant_type")
        requested = tuple(form.get("scope", "").split())
        registered = self.clients.get(credentials[0])
        if registered is not None and grant not in registered.grant_types:
            refused = {"error": "unauthorized_client",
                       "error_description": "The authenticated client is not authorized to use this authorization "
                                            "grant type"}  # fmt: skip
            return self._plain("token", 400, refused)
        if grant == "password":
            if not self._is_admin((form.get("username", ""), form.get("password", ""))):
                return self._plain(
                    "token",
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Error in getting "
                        "Access Token: Authentication failed for " + form.get("username", ""),
                    },
                )
            scopes = tuple(s for s in requested if s in admin_scopes()) or ("default",)
            user: str | None = form["username"]
        elif grant == "client_credentials" and registered is not None:  # its owner is the double's admin
            scopes, user = tuple(s for s in requested if s in admin_scopes()) or ("default",), registered.owner
        elif grant == "client_credentials":
            scopes, user = ("default",), None
        else:
            return self._plain(
                "token", 400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type value"}
            )
        token = secrets.token_hex(16)  # a UUID-like opaque token, as WSO2's default token issuer makes
        self.tokens[_digest(token)] = Token(user, credentials[0], scopes, time.monotonic() + TOKEN_LIFETIME)
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(scopes),
        }
        if grant == "password":
            body["refresh_token"] = secrets.token_hex(16)
        return self._plain("token", 200, body)

    async def jwks(self, request: web.Request) -> web.Response:
        """The JWKS of APIM's OAuth server (the Resident Key Manager's `certificate_value`): open to anyone, the
        primary keystore's public key."""
        return web.json_response({"keys": [self.double.api_key_signer.key_manager_key.jwk()]})

    def token_for(self, scopes: str) -> str:
        """An access token of the admin user with `scopes` (space-separated), as a password grant would give."""
        token = secrets.token_hex(16)
        granted = tuple(s for s in scopes.split() if s in admin_scopes()) or ("default",)
        self.tokens[_digest(token)] = Token(self.double.username, "double", granted, time.monotonic() + TOKEN_LIFETIME)
        return token

    def introspect(self, token: str) -> Token | None:
        grant = self.tokens.get(_digest(token))
        return grant if grant is not None and grant.expires > time.monotonic() else None

    # -- dispatch ----------------------------------------------------------------------------------------------

    def _dispatcher(self, api: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def dispatch(request: web.Request) -> web.Response:
            tail = request.match_info["tail"]
            method = request.method.lower()
            template = wso2_specs.path_template(api, tail)
            if template is None or method not in wso2_specs.spec(api)["paths"][template]:
                return self._answer(
                    api,
                    template or tail,
                    method,
                    404,
                    Fault(404, 404, "Not Found", f"no resource {request.method} {tail}").body(),
                )
            try:
                call = await self._call(request, api, template, method, tail)
                handler = self.handlers.get((api, method, template))
                if handler is None:
                    raise Fault(501, 501, "Not Implemented", "The requested resource has not been implemented")
                status, body = await handler(call)
            except Fault as fault:
                status, body = fault.status, fault.body()
            return self._answer(api, template, method, status, body)

        return dispatch

    async def _call(self, request: web.Request, api: str, template: str, method: str, tail: str) -> Call:
        header = request.headers.get("Authorization", "")
        token = self.introspect(header[7:]) if header.startswith("Bearer ") else None
        if api == "devops":
            user = self._devops_user(request, token)
        else:
            scopes = wso2_specs.required_scopes(api, template, method)
            if scopes and (token is None or not set(token.scopes) & set(scopes)):
                raise unauthenticated()
            user = token.user if token is not None else None
        if not self.double.up:
            raise Fault(503, 503, "Service Unavailable", "APIM is unavailable")
        operation = wso2_specs.operation(api, template, method)
        body = None
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            try:
                body = json.loads(await request.text() or "null")
            except ValueError:
                raise Fault(400, 400, "Bad Request", "Malformed request body.") from None
            body = wso2_specs.as_read(wso2_specs.spec(api), wso2_specs.request_schema(api, template, method), body)
            errors = wso2_specs.request_errors(api, template, method, body, read_only_allowed=True)
            if errors:
                # GlobalThrowableMapper: an unrecognized property or a disallowed value is a 400 before the impl.
                raise Fault(400, 400, "Bad Request", "; ".join(errors))
        params = _path_params(template, tail)
        return Call(request, api, template, method, body, token, params, user)

    def _devops_user(self, request: web.Request, token: Token | None) -> str | None:
        """Who a DevOps API request is from. The webapp's interceptors (rest.api.devops `WEB-INF/web.xml` and
        `beans.xml`: rest.api.util OAuthAuthenticationInterceptor, BasicAuthenticationInterceptor,
        PostAuthenticationInterceptor) take a bearer token valid with any scope (RestApiCommonUtil
        .getURITemplatesForBasePath knows no templates under `/api/am/devops`, so validateScopes passes; the token's
        user, None for an application's), or the Basic credentials of any user of the user store
        (BasicAuthenticationInterceptor.authenticate: UserStoreManager.authenticate, its validateRoles passing for
        the same reason): the admin, or a `data["users"]` row. A request with neither is refused by
        PostAuthenticationInterceptor, a token or credentials that do not authenticate by their interceptor: 401
        "Unauthenticated request" (GlobalThrowableMapper). What the user may do is APILoggingImpl's check
        (`_check_logging_permission`)."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            if token is None:
                raise unauthenticated()
            return token.user
        credentials = self._basic(request)
        if credentials is None or not (self._is_admin(credentials) or self.double._user(*credentials) is not None):
            raise unauthenticated()
        return credentials[0]

    # -- Publisher API v4 --------------------------------------------------------------------------------------

    def _api(self, api_id: str | None) -> dict[str, Any]:
        # The /apis operations look up APIs; what they would make of an API Product's id is not modelled.
        item = next((a for a in self.data["apis"] if a.get("uuid") == api_id and not _is_product(a)), None)
        if item is None:
            raise not_found("API", str(api_id))
        return item

    def api_dto(self, item: dict[str, Any]) -> dict[str, Any]:
        """The APIDTO of a catalog item: the stored one, or one built from the data API's fields for items that
        were put in `data` directly (the sample catalog). An API Product the Publisher API made: its APIProductDTO."""
        if _is_product(item) and "_publisher" in item:
            return self.product_dto(item)
        if "_publisher" in item:
            dto = copy.deepcopy(item["_publisher"])
            _mask_endpoint_credentials(dto)
            # The operations' policies are the resources' as stored (`_url_mappings`), not as sent.
            stored = {(m["urlPattern"], m["httpMethod"]): m["throttlingPolicy"] for m in item["_urlMappings"]}
            for op in dto.get("operations", []):
                op["throttlingPolicy"] = stored.get((op.get("target"), op.get("verb")), op.get("throttlingPolicy"))
        else:
            dto = {
                "name": item["name"],
                "version": item["version"],
                "provider": item.get("provider", "admin"),
                "context": item.get("contextTemplate", item["context"]).replace("/{version}", ""),
                "type": item.get("apiType", "HTTP"),
                "isDefaultVersion": item.get("isDefaultVersion", False),
                "policies": [],
                "operations": [
                    {
                        "target": m["urlPattern"],
                        "verb": m["httpMethod"],
                        "scopes": m.get("scopes", []),
                        "throttlingPolicy": m.get("throttlingPolicy", "Unlimited"),
                        "authType": "None" if m.get("authScheme") == "None" else "Application & Application User",
                    }
                    for m in item.get("urlMappings", [])
                ],
            }
            if item.get("policy"):
                dto["apiThrottlingPolicy"] = item["policy"]
            dto.update(deployed_dto_fields(item))
        dto.update(id=item["uuid"], lifeCycleStatus=item.get("status", "CREATED"))
        return dto

    def _api_info(self, item: dict[str, Any]) -> dict[str, Any]:
        dto = self.api_dto(item)
        keys = (
            "id",
            "name",
            "description",
            "context",
            "version",
            "provider",
            "type",
            "lifeCycleStatus",
            "securityScheme",
            "createdTime",
            "gatewayVendor",
            "gatewayType",
        )
        info = {"hasThumbnail": False, "advertiseOnly": False, **{k: dto[k] for k in keys if dto.get(k) is not None}}
        if dto.get("lastUpdatedTime"):
            info["updatedTime"] = dto["lastUpdatedTime"]
        return info

    async def list_apis(self, call: Call) -> tuple[int, Any]:
        """getAllAPIs → APIProvider.searchPaginatedAPIs. The query's criteria go through persistence
        `utils/RegistrySearchUtil.getSingleSearchCriteria`: `key:value` (a bare value searches `name`), a value not
        in double quotes becomes `*value*` (a substring match; the registry's Solr index matches case-insensitively),
        a quoted one matches exactly; criteria separated by spaces must all match."""
        limit, offset = int(call.query("limit") or 25), int(call.query("offset") or 0)
        query = call.query("query") or ""
        if query.startswith("content:"):  # searched as name, as the impl rewrites it
            query = "name:" + query[len("content:") :]
        # API Products are left out: whether the search lists them too is not modelled (they have /api-products).
        apis = [a for a in self.data["apis"] if not _is_product(a)]
        matched = [a for a in apis if all(_matches_criterion(self.api_dto(a), c) for c in query.split())]
        page = matched[offset : offset + limit]
        return 200, {
            "count": len(page),
            "list": [self._api_info(a) for a in page],
            "pagination": {"offset": offset, "limit": limit, "total": len(matched), "next": "", "previous": ""},
        }

    def _valid_tiers(self) -> set[str]:
        return {p["name"] for p in self.data["subscriptionPolicies"]}

    def _advanced_names(self) -> set[str]:
        return {p["name"] for p in self.data.get("apiPolicies", [])}

    def _check_api_policies(self, body: dict[str, Any]) -> None:
        """On creation, the API's own policy must be an advanced policy of the tenant (PublisherCommonUtils
        .prepareToCreateAPIByDTO: getAPIPolicy → UNSUPPORTED_THROTTLE_LIMIT_TYPE; not checked on an update), and
        so must each operation's (`_check_operation_policies`)."""
        if body.get("apiThrottlingPolicy") is not None and body["apiThrottlingPolicy"] not in self._advanced_names():
            raise Fault(400, 900960, "Throttle Policy Error", "Throttle Limit type is not supported")
        self._check_operation_policies(body.get("operations", []))

    def _check_operation_policies(self, operations: list[dict[str, Any]]) -> None:
        """APIProviderImpl.addAPI/updateAPI → validateResourceThrottlingTiers: an operation's policy, where it names
        one, must be an advanced policy of the tenant (TIER_NAME_INVALID, whose description names nothing)."""
        advanced = self._advanced_names()
        if any(op.get("throttlingPolicy") not in advanced | {None} for op in operations):
            raise Fault(400, 900305, "The tier name is invalid.", "The tier name is invalid")

    async def create_api(self, call: Call) -> tuple[int, Any]:
        """createAPI → PublisherCommonUtils.addAPIWithGeneratedSwaggerDefinition / prepareToCreateAPIByDTO: the
        name is trimmed; a context must not end with '/'; an API name that exists in another case → 409 900250; the
        same name and version → 409 900300; without earlier versions, a context already used → 409 900251; unknown
        subscription tiers → 400 900305; the state starts CREATED; the contextTemplate gets `/{version}` appended
        unless it has one. Then API_CREATE is published (APIProviderImpl.addAPI) — but not deployed anywhere."""
        return self._create_api(copy.deepcopy(call.body))

    async def import_graphql_schema(self, call: Call) -> tuple[int, Any]:
        """importGraphQLSchema (ApisApiServiceImpl, carbon-apimgt 9.31.86): multipart `additionalProperties` (the
        APIDTO: name, version, context, policies, and the operations, verb QUERY, MUTATION or SUBSCRIPTION and the
        root field's name for target, as the Publisher portal extracts them from the schema) and the schema as
        `file` or `schema`. No additionalProperties: 400 "Api details cannot be empty."; no schema: an
        APIManagementException (GRAPHQL_SCHEMA_CANNOT_BE_NULL), answered as an internal error naming it. The API is
        created as createAPI creates one (`_create_api`), of type GRAPHQL, and the schema saved as sent
        (saveGraphqlSchemaDefinition: not validated here; the Publisher portal validates it first)."""
        form = await call.request.post()
        raw = form.get("additionalProperties")
        if not isinstance(raw, str) or not raw.strip():
            raise Fault(400, 400, "Bad Request", "Api details cannot be empty.")
        body = json.loads(raw)
        schema = form.get("schema") or form.get("file")
        if not isinstance(schema, str):  # a file part: its text
            schema = schema.file.read().decode("utf-8") if schema is not None else ""
        if not schema:
            raise Fault(500, 500, "Internal server error", f"Error while adding new API : {body.get('provider')}-"
                        f"{body.get('name')}-{body.get('version')} - GraphQL Schema cannot be empty or null to "
                        "validate it")  # fmt: skip
        body["type"] = "GRAPHQL"
        return self._create_api(body, _graphQLSchema=schema)

    async def get_graphql_complexity(self, call: Call) -> tuple[int, Any]:
        """getGraphQLPolicyComplexityOfAPI (ApisApiServiceImpl, carbon-apimgt 9.31.86): the API's values as stored
        (APIManager.getComplexityDetails → GraphqlQueryAnalysisMappingUtil.fromGraphqlComplexityInfotoDTO), `{list:
        [{type, field, complexityValue}]}`, empty where none was set; API_NOT_GRAPHQL on another type, answered as
        an internal error naming the API."""
        item = self._api(call.params["apiId"])
        if item.get("apiType") != "GRAPHQL":
            raise Fault(500, 500, "Internal server error", f"Error while retrieving complexity details of API "
                        f"{item['uuid']}")  # fmt: skip
        return 200, {"list": copy.deepcopy(item.get("_graphQLComplexity") or [])}

    async def get_graphql_schema(self, call: Call) -> tuple[int, Any]:
        """getAPIGraphQLSchema (ApisApiServiceImpl, carbon-apimgt 9.31.86): the schema as saved
        (getGraphqlSchemaDefinition reads the registry's file) and its file name, `<provider>--<name><version>.graphql`
        (GRAPHQL_SCHEMA_PROVIDER_SEPERATOR, GRAPHQL_SCHEMA_FILE_EXTENSION)."""
        item = self._api(call.params["apiId"])
        dto = self.api_dto(item)
        name = f"{dto.get('provider', 'admin')}--{item['name']}{item['version']}.graphql"
        return 200, {"name": name, "schemaDefinition": item.get("_graphQLSchema") or ""}

    async def put_graphql_schema(self, call: Call) -> tuple[int, Any]:
        """updateAPIGraphQLSchema (ApisApiServiceImpl, carbon-apimgt 9.31.86): permitted as an update is
        (validateAPIOperationsPerLC), the multipart `schemaDefinition` saved as sent, and the API updated
        (PublisherCommonUtils.addGraphQLSchema): its operations become the schema's root fields
        (GraphQLSchemaDefinition.extractGraphQLOperationList: the schema definition's operation types, else the
        types named Query, Mutation and Subscription; the verb the operation type's name upper-cased, the target
        the field's name), each keeping the throttling policy, auth type and scopes of the operation it had of the
        same verb and target (APIMappingUtil.getOperationListWithOldData, names compared ignoring case), a new one
        the tenant's default API-level policy (Unlimited) and no auth type (APIMappingUtil.getURITemplates: "Any",
        answered "Application & Application User"). The answer is the operations (fromAPItoDTO().getOperations())."""
        item = self._api(call.params["apiId"])
        _check_update_permitted(call, item)
        form = await call.request.post()
        schema = form.get("schemaDefinition")
        if not isinstance(schema, str):  # a file part: its text
            schema = schema.file.read().decode("utf-8") if schema is not None else ""
        try:
            document = graphql.parse(schema)
        except graphql.GraphQLError as error:  # SchemaParser's SchemaProblem, answered as an internal error
            raise Fault(500, 500, "Internal server error", f"Error while uploading schema of the API: "
                        f"{item['uuid']}: {error.message}") from None  # fmt: skip
        old = {(op["verb"].upper(), op["target"].lower()): op for op in self.api_dto(item).get("operations", [])}
        operations = []
        for verb, root_field in _graphql_root_fields(document):
            kept = old.get((verb, root_field.lower()), {})
            operations.append({"target": root_field, "verb": verb, "authType": kept.get("authType") or
                               "Application & Application User", "throttlingPolicy": kept.get("throttlingPolicy")
                               or "Unlimited", "scopes": list(kept.get("scopes") or [])})  # fmt: skip
        body = copy.deepcopy(item["_publisher"]) | {"operations": operations}
        item["_graphQLSchema"] = schema
        self._save_update(item, body)
        return 200, self.api_dto(item)["operations"]

    async def put_graphql_complexity(self, call: Call) -> tuple[int, Any]:
        """updateGraphQLPolicyComplexityOfAPI (ApisApiServiceImpl, carbon-apimgt 9.31.86): permitted as an update is
        (validateAPIOperationsPerLC); the values whose `type` is no type of the API's schema are dropped
        (GraphqlQueryAnalysisMappingUtil.fromDTOtoValidatedGraphqlComplexityInfo: SchemaParser's `types()`, type
        extensions not among them), the others stored as sent (APIManager.addOrUpdateComplexityDetails); 200, no
        body. On an API of another type, API_NOT_GRAPHQL, answered as an internal error naming the API. A revision
        made after carries them (its project is exported when it is made: ExportUtils, getComplexityDetails)."""
        item = self._api(call.params["apiId"])
        _check_update_permitted(call, item)
        if item.get("apiType") != "GRAPHQL":
            raise Fault(500, 500, "Internal server error", f"Error while updating complexity details of API : "
                        f"{item['uuid']}")  # fmt: skip
        document = graphql.parse(item.get("_graphQLSchema") or "")
        types = {d.name.value for d in document.definitions if isinstance(d, graphql.language.TypeDefinitionNode)}
        values = (call.body or {}).get("list", [])
        item["_graphQLComplexity"] = [copy.deepcopy(v) for v in values if v.get("type") in types]
        return 200, None

    def _create_api(self, body: dict[str, Any], **held: Any) -> tuple[int, Any]:
        """An API created from its APIDTO (createAPI's checks above), with what else `held` names kept on it."""
        body["name"] = " ".join(body["name"].split())
        context = body["context"] if body["context"].startswith("/") else "/" + body["context"]
        if context.endswith("/"):
            raise Fault(400, 900346, "Invalid context", f"Context cannot end with '/' character: {context}")
        apis = self.data["apis"]
        same_name = [a for a in apis if a["name"].lower() == body["name"].lower()]
        if any(a["name"] != body["name"] for a in same_name):
            raise Fault(
                409, 900250, "The API name already exists.", f"An API with name '{body['name']}' already exists"
            )
        template = context if "{version}" in context else context + "/{version}"
        if any(a["version"].lower() == body["version"].lower() for a in same_name):
            raise Fault(409, 900300, "The API already exists.", "The API already exists")
        if not same_name and any(a.get("contextTemplate", a["context"]) == template for a in apis):
            raise Fault(
                409, 900251, "The API context already exists.", f"An API with context '{context}' already exists"
            )
        invalid = [t for t in body.get("policies", []) if t not in self._valid_tiers()]
        if invalid:
            raise Fault(400, 900305, "The tier name is invalid.", f"Specified tier(s) {invalid} are invalid")
        self._check_api_policies(body)
        now = _now_ms()
        api_id = str(uuid.uuid4())
        # APIProviderImpl.addAPI → addAPIPolicies: validated and cloned as on an update.
        clones = self.apply_operation_policies(body, {})
        numeric_id = max((a.get("apiId", 0) for a in apis), default=0) + 1
        body.update(
            context=context,
            provider=self.double.username,
            createdTime=str(now),
            lastUpdatedTime=str(now),
            lastUpdatedTimestamp=str(now),
            gatewayVendor="wso2",
            gatewayType="wso2/synapse",
            advertiseInfo={"advertised": False},
        )
        body.setdefault("isDefaultVersion", False)
        body.setdefault("type", "HTTP")
        _set_cors_and_headers(body, creating=True)
        _set_max_tps(body)
        item = {
            "uuid": api_id,
            "apiId": numeric_id,
            "name": body["name"],
            "version": body["version"],
            "context": template.replace("{version}", body["version"]),
            "contextTemplate": template,
            "provider": body["provider"],
            "apiType": body["type"],
            "status": "CREATED",
            "isDefaultVersion": body["isDefaultVersion"],
            "policy": body.get("apiThrottlingPolicy"),
            "organization": self.double.tenant,
            "urlMappings": [],  # served once a revision is deployed
            "_urlMappings": _url_mappings(body),
            "_publisher": body,
            "_revisions": [],
            "_deployments": [],
            "_gatewayLabels": [],
            "_clientCertificates": [],
            "_endpointConfig": body.get("endpointConfig", {}),
            "_swagger": _swagger(body),
            "_policyClones": clones,
            **held,
        }
        if item["policy"] is None:  # no API-level tier: the data API's APIDTO leaves `policy` out
            del item["policy"]
        self.data["apis"].append(item)  # on the double's loop, where the data API reads it
        self.double.notify_soon("API_CREATE", _api_event(item))
        # APIProviderImpl.addLocalScopes, then addScopes: the API's local scopes into the tenant's (ScopesDAO, what
        # the data API's /scopes serves), a SCOPE_CREATE event each.
        for scope in _local_scopes(body):
            self.data["scopes"] = [s for s in self.data["scopes"] if s["name"] != scope["name"]] + [scope]
            self.double.notify_soon("SCOPE_CREATE", {**scope, "mappings": {}})
        return 201, self.api_dto(item)

    async def get_api(self, call: Call) -> tuple[int, Any]:
        return 200, self.api_dto(self._api(call.params["apiId"]))

    async def update_api(self, call: Call) -> tuple[int, Any]:
        """updateAPI: name, version, context and provider cannot change (PublisherCommonUtils.updateApi keeps the
        stored ones); the lifecycle state is not changed by an update, and a published API is updated only with a
        token carrying a publisher's scope (`_check_update_permitted`). API_UPDATE is published. Gateways see the
        new resources and endpoints only once a revision of them is deployed (see the module's docstring); the
        security scheme is read from the API as saved (getSecuritySchemeOfAPI reads its registry artifact)."""
        item = self._api(call.params["apiId"])
        _check_update_permitted(call, item)
        body = copy.deepcopy(call.body)
        stored = self.api_dto(item)
        for key in ("name", "version", "context", "provider", "createdTime"):
            if key in stored:
                body[key] = stored[key]
        invalid = [t for t in body.get("policies", []) if t not in self._valid_tiers()]
        if invalid:
            raise Fault(400, 900305, "The tier name is invalid.", f"Specified tier(s) {invalid} are invalid")
        self._check_operation_policies(body.get("operations", []))
        return 200, self._save_update(item, body)

    def _save_update(self, item: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """An update of the API's APIDTO saved (APIProviderImpl.updateAPI), API_UPDATE published; its new DTO."""
        clones = self.apply_operation_policies(body, item.get("_policyClones", {}))
        body["lastUpdatedTime"] = body["lastUpdatedTimestamp"] = str(_now_ms())
        body.pop("id", None)
        body.pop("lifeCycleStatus", None)
        _set_cors_and_headers(body, creating=False)
        _set_max_tps(body)
        self._replace_scopes(item["_publisher"], body)
        item.update(
            _publisher=body,
            _urlMappings=_url_mappings(body),
            _swagger=_swagger(body, item["_swagger"]),
            isDefaultVersion=body.get("isDefaultVersion", False),
            _policyClones=clones,
        )
        _reset_resource_log_levels(item)
        _set_api_policy(item, body)
        self.double.notify_soon("API_UPDATE", _api_event(item))
        return self.api_dto(item)

    def _replace_scopes(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """APIProviderImpl.updateScopes: the old APIDTO's local scopes go, the new one's are added, and one
        SCOPES_UPDATE names the added ones (the removed ones get no event)."""
        old_scopes = {scope["name"] for scope in _local_scopes(old)}
        new_scopes = _local_scopes(new)
        self.data["scopes"] = [s for s in self.data["scopes"] if s["name"] not in old_scopes] + new_scopes
        if new_scopes:
            self.double.notify_soon("SCOPES_UPDATE", {"scopes": [{**s, "mappings": {}} for s in new_scopes]})

    async def delete_api(self, call: Call) -> tuple[int, Any]:
        """deleteAPI: 409 while applications are subscribed (ApisApiServiceImpl.deleteAPI: "Cannot remove the API
        ... as active subscriptions exist"), otherwise the API and its deployments go, and API_DELETE is published
        (APIProviderImpl.deleteAPI)."""
        item = self._api(call.params["apiId"])
        if any(s["apiUUID"] == item["uuid"] for s in self.data["subscriptions"]):
            # RestApiUtil.handleConflict: code 409, message "Conflict".
            raise Fault(409, 409, "Conflict", f"Cannot remove the API {item['uuid']} as active subscriptions exist")
        self.data["apis"].remove(item)
        self.double.notify_soon("API_DELETE", _api_event(item))
        return 200, None

    async def get_swagger(self, call: Call) -> tuple[int, Any]:
        return 200, self._api(call.params["apiId"])["_swagger"]

    async def put_swagger(self, call: Call) -> tuple[int, Any]:
        """updateAPISwagger takes multipart `apiDefinition`; the API's resources and scopes follow the definition
        (PublisherCommonUtils.prepareForUpdateSwagger, `_definition_resources`), each resource keeping the operation
        policies the API had on it (APIProviderImpl.setOperationPoliciesToURITemplates), and the definition is kept
        as sent. A scope an operation names but the definition does not declare, or a policy APIM does not have
        (validateResourceThrottlingTiers), is an APIManagementException, which updateAPISwagger answers as an
        internal error (500, the reason in the description). Then APIProviderImpl.updateAPI: the scopes updated as
        on a PUT of the API (`_replace_scopes`), API_UPDATE published."""
        item = self._api(call.params["apiId"])
        form = await call.request.post()
        definition = form.get("apiDefinition")
        if not isinstance(definition, str):
            raise Fault(400, 900328, "Bad Request", "apiDefinition is required")
        try:
            parsed = json.loads(definition)
        except ValueError:
            raise Fault(400, 900754, "Invalid OpenAPI definition", "the definition is not JSON") from None

        def refused(reason: str) -> Fault:
            detail = f"Error while updating the swagger definition of the API: {item['uuid']} - {reason}"
            return Fault(500, 500, "Internal server error", detail)

        try:
            operations, scopes = _definition_resources(parsed)
        except ValueError as exc:
            raise refused(str(exc)) from None
        for op in operations:
            if op["throttlingPolicy"] is not None and op["throttlingPolicy"] not in self._advanced_names():
                raise refused(f"Invalid x-throttling tier {op['throttlingPolicy']} found in api definition for "
                              f"resource {op['verb']} {op['target']}")  # fmt: skip
        kept = {(op["verb"].upper(), op["target"]): op.get("operationPolicies")
                for op in item["_publisher"].get("operations", [])}  # fmt: skip
        for op in operations:
            if kept.get((op["verb"], op["target"])):
                op["operationPolicies"] = kept[(op["verb"], op["target"])]
        self._replace_scopes(item["_publisher"], {"scopes": scopes})
        item["_publisher"].update(operations=operations, scopes=scopes)
        item.update(_urlMappings=_url_mappings(item["_publisher"]), _swagger=definition)
        _reset_resource_log_levels(item)
        self.double.notify_soon("API_UPDATE", _api_event(item))
        return 200, definition

    async def list_revisions(self, call: Call) -> tuple[int, Any]:
        return self._revision_list(self._api(call.params["apiId"]), call.query("query") or "")

    def _revision_list(self, item: dict[str, Any], query: str) -> tuple[int, Any]:
        """An API's or an API Product's revisions, `deployed:true|false` filtered
        (ApisApiServiceImplUtils.filterAPIRevisionsByDeploymentStatus)."""
        revisions = [self._revision_dto(item, r) for r in item["_revisions"]]
        if query.startswith("deployed:"):
            deployed = query.endswith("true")
            revisions = [r for r in revisions if bool(r["deploymentInfo"]) == deployed]
        return 200, {"count": len(revisions), "list": revisions}

    def _revision_dto(self, item: dict[str, Any], revision: dict[str, Any]) -> dict[str, Any]:
        deployments = [d for d in item["_deployments"] if d["revisionUuid"] == revision["id"]]
        return {**revision, "apiInfo": {"id": item["uuid"]}, "deploymentInfo": copy.deepcopy(deployments)}

    async def create_revision(self, call: Call) -> tuple[int, Any]:
        """createAPIRevision: permitted on a published API as an update is (validateAPIOperationsPerLC); at most five
        revisions per API (APIConstants.REVISION_LIMIT → 400 900351), numbered "Revision N" from 1."""
        item = self._api(call.params["apiId"])
        _check_update_permitted(call, item)
        if len(item["_revisions"]) >= 5:
            raise Fault(400, 900351, "Can not create API Revision ", "Maximum number of revisions per API has reached.")
        # ApiMgtDAO.addAPIRevision copies the current API's AM_API_CLIENT_CERTIFICATE rows of each key type
        # (GET_CLIENT_CERTIFICATES_OF_KEY_TYPE, REMOVED false) under the revision's REVISION_UUID, and
        # APIProviderImpl.addAPIRevision then exports the revision's artifact with those certificates.
        # ApiMgtDAO.revisionAPIPolicies: the API's operation policies are cloned again under the revision
        # (handlePolicyCloningWhenRevisioning: one new id per policy id), the revision's mappings a snapshot.
        # The revision holds the API's definition as it is now (APIProviderImpl.addAPIRevision copies the API's
        # registry artifact, its swagger with it), which its export writes to Definitions/swagger.json.
        # A GraphQL API's revision holds its schema as well (the registry artifact's, exported by ExportUtils).
        return self._add_revision(item, call, _snapshot=_with_revision_policy_ids(item["_publisher"]),
                                  _clientCertificates=copy.deepcopy(item.get("_clientCertificates", [])),
                                  _swagger=item["_swagger"], _graphQLSchema=item.get("_graphQLSchema"),
                                  _graphQLComplexity=copy.deepcopy(item.get("_graphQLComplexity")))  # fmt: skip

    def _add_revision(self, item: dict[str, Any], call: Call, **held: Any) -> tuple[int, Any]:
        """A new revision of an API or an API Product, "Revision N" numbered from the most recent one's, holding the
        current resources and what else `held` names; 201 with it."""
        number = max((r["_number"] for r in item["_revisions"]), default=0) + 1
        revision = {
            "id": str(uuid.uuid4()),
            "displayName": f"Revision {number}",
            "description": (call.body or {}).get("description", ""),
            "createdTime": _iso(_now_ms()),
            "_number": number,
            "_urlMappings": copy.deepcopy(item["_urlMappings"]),
            **held,
        }
        item["_revisions"].append(revision)
        return 201, self._public_revision(self._revision_dto(item, revision))

    async def delete_revision(self, call: Call) -> tuple[int, Any]:
        """deleteAPIRevision: permitted on a published API as an update is (validateAPIOperationsPerLC); the revision
        must exist (APIProviderImpl.deleteAPIRevision: 404 900347) and be deployed nowhere (400 900348, "undeploy
        ... before attempting deleting"); 200 with the revisions left (fromListAPIRevisiontoDTO)."""
        item = self._api(call.params["apiId"])
        _check_update_permitted(call, item)
        return self._delete_revision(item, call.params["revisionId"])

    def _delete_revision(self, item: dict[str, Any], revision_id: str) -> tuple[int, Any]:
        """An API's or an API Product's revision deleted: it must exist (404 900347) and be deployed nowhere (400
        900348, "undeploy ... before attempting deleting"); 200 with the revisions left (fromListAPIRevisiontoDTO)."""
        revision = next((r for r in item["_revisions"] if r["id"] == revision_id), None)
        if revision is None:
            raise not_found("API Revision", revision_id, 900347)
        if any(d["revisionUuid"] == revision_id for d in item["_deployments"]):
            raise Fault(400, 900348, "Can not delete API Revision ",
                        "Couldn't delete API revision since API revision is currently deployed to a gateway. You need "
                        f"to undeploy the API Revision from the gateway before attempting deleting API Revision: "
                        f"{revision_id}")  # fmt: skip
        item["_revisions"].remove(revision)
        revisions = [self._public_revision(self._revision_dto(item, r)) for r in item["_revisions"]]
        return 200, {"count": len(revisions), "list": revisions}

    @staticmethod
    def _public_revision(dto: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in dto.items() if not k.startswith("_")}

    async def deploy_revision(self, call: Call) -> tuple[int, Any]:
        """deployAPIRevision, in its order: a RETIRED API cannot be deployed; each deployment is checked by
        ApisApiServiceImplUtils.mapAPIRevisionDeploymentWithValidation (`_check_deployment`); the revision must exist
        (APIProviderImpl.deployAPIRevision: 404 900347); a revision replaces whatever revision the environment had;
        the default workflow executor approves at once (status APPROVED); 201 with every deployment of the API.
        APIGatewayManager.sendDeploymentEvent then publishes DEPLOY_API_IN_GATEWAY with the gateway labels, whatever
        the lifecycle state."""
        item = self._api(call.params["apiId"])
        revision_id = call.query("revisionId") or ""
        if not revision_id:
            raise Fault(400, 400, "Bad Request", "Revision Id is not provided")
        if item.get("status") == "RETIRED":
            raise Fault(
                400,
                902006,
                "Deploying API Revisions is not supported for retired APIs",
                f"Deploying API Revisions is not supported for retired APIs. ApiId: {item['uuid']}",
            )
        for wanted in call.body:
            self._check_deployment(wanted)
        revision = next((r for r in item["_revisions"] if r["id"] == revision_id), None)
        if revision is None:
            raise not_found("API Revision", revision_id, 900347)
        labels = self._record_deployments(item, revision_id, call.body)
        item["_revision"] = f"revision-{revision['_number']}"
        item["_endpointConfig"] = revision["_snapshot"].get("endpointConfig", {})
        item["urlMappings"] = copy.deepcopy(revision["_urlMappings"])
        item["_deployedClientCertificates"] = copy.deepcopy(revision["_clientCertificates"])
        item["_deployedSwagger"] = revision["_swagger"]
        item["_deployedGraphQLSchema"] = revision.get("_graphQLSchema")
        item["_deployedGraphQLComplexity"] = revision.get("_graphQLComplexity")
        item.update(_deployed_fields(revision["_snapshot"]))
        # DeployAPIInGatewayEvent's own fields (impl/notifier/events/DeployAPIInGatewayEvent.java); its constructor
        # never sets the base Event's tenantId, so Gson writes the int's default 0.
        event = {"apiId": item.get("apiId"), "uuid": item["uuid"], "name": item["name"], "version": item["version"],
                 "provider": item["provider"], "apiType": item.get("apiType", "HTTP"), "gatewayLabels": labels,
                 "context": item["context"], "tenantId": 0}  # fmt: skip
        self.double.notify_soon("DEPLOY_API_IN_GATEWAY", event)
        return 201, copy.deepcopy(item["_deployments"])

    def _check_deployment(self, wanted: dict[str, Any]) -> None:
        """ApisApiServiceImplUtils.mapAPIRevisionDeploymentWithValidation (mandatoryVHOST: deploying), in its order:
        the environment must be configured (ExceptionCodes.INVALID_GATEWAY_ENVIRONMENT, 400 900504, its description
        formatted with "name '<name>'" as the impl passes it), the vhost given (GATEWAY_ENVIRONMENT_VHOST_NOT_PROVIDED,
        400 900511) and one of the environment's (INVALID_VHOST, 400 900512). GlobalThrowableMapper writes each
        ErrorHandler as it is."""
        name = wanted["name"]
        if name not in self.double.gateway_environments:
            raise Fault(400, 900504, "Invalid Gateway Environment",
                        f"Gateway Environment with name 'name '{name}'' not found")  # fmt: skip
        if not wanted.get("vhost"):
            raise vhost_not_provided()
        if wanted["vhost"] not in self.double.gateway_environments[name]:
            raise Fault(400, 900512, "Invalid virtual host name provided",
                        "Virtual host with provided vhost name does not exist")  # fmt: skip

    def _record_deployments(self, item: dict[str, Any], revision_id: str, wanted_list: list[dict]) -> list[str]:
        """The deployments of a revision (an API's or an API Product's, each checked by its operation first),
        replacing what the environment had; the gateway labels that follow. The environments named."""
        now = _iso(_now_ms())
        labels = []
        for wanted in wanted_list:
            labels.append(wanted["name"])
            item["_deployments"] = [d for d in item["_deployments"] if d["name"] != wanted["name"]]
            item["_deployments"].append(
                {
                    "revisionUuid": revision_id,
                    "name": wanted["name"],
                    "vhost": wanted["vhost"],
                    "status": "APPROVED",
                    "displayOnDevportal": wanted.get("displayOnDevportal", True),
                    "deployedTime": now,
                    "successDeployedTime": now,
                }
            )
        item["_gatewayLabels"] = sorted({d["name"] for d in item["_deployments"]})
        return labels

    async def get_settings(self, call: Call) -> tuple[int, Any]:
        """SettingsApiServiceImpl.getSettings for a logged-in user: SettingsMappingUtil.fromSettingstoDTO's
        `environment` (APIUtil.getEnvironments: the configured gateway environments, each written by
        EnvironmentMappingUtil.fromEnvironmentToDTO) and the impl's `scopes` (getScopeList: the scopes the Publisher
        API's own definition declares). Not modelled, left at their DTO's initial values: the fields read from
        deployment.toml (the devportal URL, default policies, monetization and audit properties, the gateway types
        and feature catalog, the design assistant), which no caller of the double reads."""
        environments = [_environment_dto(name, hosts) for name, hosts in self.double.gateway_environments.items()]
        return 200, {"environment": environments, "scopes": sorted(declared_scopes("publisher"))}

    async def list_deployments(self, call: Call) -> tuple[int, Any]:
        """getAPIRevisionDeployments: a bare list (see IMPL_ANSWERS)."""
        return 200, copy.deepcopy(self._api(call.params["apiId"])["_deployments"])

    async def add_client_certificate(self, call: Call) -> tuple[int, Any]:
        """addAPIClientCertificate (deprecated, always PRODUCTION) / addAPIClientCertificateOfGivenKeyType
        (ApisApiServiceImpl), multipart `certificate` (a file), `alias`, `tier`, in the impl's order: the key type
        must be PRODUCTION or SANDBOX in any case (validateKeyType: 400); an empty alias or a part without a file
        name is 400; an unknown API (validateAPIExistence) and an API its lifecycle state keeps from changing
        (validateAPIOperationsPerLC, `_check_update_permitted`) throw APIManagementExceptions that the impl's
        catch-all answers as an internal error (500), not 404 or 403; the tier is not checked. The file is stored
        Base64-encoded as uploaded (CertificateRestApiUtils.generateEncodedCertificate), DER or PEM alike;
        CertificateManagerImpl.addClientCertificate → CertificateMgtUtils.validateCertificate: bytes Java's
        CertificateFactory cannot read are INTERNAL_SERVER_ERROR (500), an expired certificate 400; then an alias
        already used for the key type anywhere in the tenant (CertificateMgtDAO.checkWhetherAliasExist) is 409.
        The row is the current API's (AM_API_CLIENT_CERTIFICATE, REVISION_UUID 'Current API', KEY_TYPE
        upper-cased): gateways see it once a revision made after it is deployed. 201 with ClientCertMetadataDTO
        (alias, the API's UUID, tier). No event is published (APIProviderImpl.addClientCertificate sends none).
        APIM's gateway trust store (an alias `<alias>_<tenantId>` already in it is a 409 too) is not modelled."""
        key_type = call.params.get("keyType", KEY_TYPES[0])
        _check_key_type(key_type)
        form = await call.request.post()
        alias, tier, upload = form.get("alias"), form.get("tier"), form.get("certificate")
        if not isinstance(alias, str) or not alias:
            raise Fault(400, 400, "Bad Request", "The alias and/ or apiId should not be empty")
        if not isinstance(upload, web.FileField) or not upload.filename.strip():
            raise Fault(
                400, 400, "Bad Request", "Certificate addition failed. Proper Certificate file should be provided"
            )
        if not isinstance(tier, str):  # the spec's required part; CXF's binding of a missing one is not modelled
            raise Fault(400, 400, "Bad Request", "tier is required")
        item = next((a for a in self.data["apis"] if a.get("uuid") == call.params["apiId"]), None)
        try:
            if item is None:
                raise not_found("API", call.params["apiId"])
            _check_update_permitted(call, item)
        except Fault:  # both APIManagementExceptions, which the impl's catch-all answers handleInternalServerError
            message = f"APIManagement exception while adding the certificate to the API {call.params['apiId']} due "
            raise Fault(500, 500, "Internal server error", message + "to an internal server error") from None
        content = upload.file.read()
        if not content:
            # CERTIFICATE_NOT_FOUND matches none of the impl's branches: it returns null (204, nothing stored).
            raise Fault(501, 501, "Not Implemented", "an empty certificate file is not modelled by the double")
        try:
            certificates = _uploaded_certificates(content)
        except ValueError:
            message = f"Internal server error while adding the client certificate to API {item['uuid']}"
            raise Fault(500, 500, "Internal server error", message) from None
        now = datetime.datetime.now(datetime.UTC)
        if any(c.not_valid_after_utc <= now for c in certificates):
            message = f"Error while adding the certificate to the API {item['uuid']}. Certificate Expired."
            raise Fault(400, 400, "Bad Request", message)
        stored = key_type.upper()
        if any(r["keyType"] == stored and r["alias"] == alias for _, r in self._client_certificate_rows()):
            raise conflict(f"The alias '{alias}' already exists in the trust store for {key_type} key type.")
        row = {"alias": alias, "certificate": base64.b64encode(content).decode(), "tierName": tier, "keyType": stored}
        item.setdefault("_clientCertificates", []).append(row)
        return 201, {"alias": alias, "apiId": item["uuid"], "tier": tier}

    async def list_client_certificates(self, call: Call) -> tuple[int, Any]:
        """getAPIClientCertificates (PRODUCTION) / getAPIClientCertificatesByKeyType: the API's current certificates
        of the key type (SELECT_CERTIFICATE_FOR_TENANT_APIID, or _ALIAS_APIID with `alias`), paged by
        CertificateRestApiUtils.getPaginatedClientCertificates (an offset past the end starts at 0); each `apiId` is
        APIIdentifier.toString(), `provider-name-version`. `pagination` holds the request's limit and offset and,
        as `total`, the tenant's count of the key type (getClientCertificateCount), never next/previous. With no
        certificate of the key type in the tenant the API is not looked up; otherwise an unknown API fails
        getAPIbyUUID, which the impl answers as an internal error (500)."""
        key_type = call.params.get("keyType", KEY_TYPES[0])
        _check_key_type(key_type)
        limit, offset = int(call.query("limit") or 25), int(call.query("offset") or 0)
        total = sum(1 for _, r in self._client_certificate_rows() if r["keyType"] == key_type)
        certificates: list[dict[str, Any]] = []
        if total:
            item = next((a for a in self.data["apis"] if a.get("uuid") == call.params["apiId"]), None)
            if item is None:
                raise Fault(500, 500, "Internal server error", "Error while retrieving the client certificates.")
            alias = call.query("alias")
            rows = [r for r in item.get("_clientCertificates", [])
                    if r["keyType"] == key_type and (not alias or r["alias"] == alias)]  # fmt: skip
            start = offset if offset <= len(rows) else 0
            identifier = f"{item.get('provider', self.double.username)}-{item['name']}-{item['version']}"
            certificates = [{"alias": r["alias"], "apiId": identifier, "tier": r["tierName"]}
                            for r in rows[start : start + limit]]  # fmt: skip
        return 200, {"count": len(certificates), "certificates": certificates,
                     "pagination": {"limit": limit, "offset": offset, "total": total}}  # fmt: skip

    def _client_certificate_rows(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The tenant's current AM_API_CLIENT_CERTIFICATE rows, with their API."""
        return [(api, row) for api in self.data["apis"] for row in api.get("_clientCertificates", [])]

    # -- operation policies (APIM's mediation: Add Header, Remove Header, ...) ---------------------------------

    async def list_common_operation_policies(self, call: Call) -> tuple[int, Any]:
        """getAllCommonOperationPolicies (publisher.v1 `impl/OperationPoliciesApiServiceImpl.java`): every common
        policy, `offset` (0) and `limit` (all of them) paging (OperationPolicyMappingUtil
        .fromOperationPolicyDataListToDTO); `query` "name:X&version:Y" (OperationPoliciesApiServiceImplUtils
        .getQueryParams: pairs split on "&", then ":") answers that policy, or without a version every version of the
        name; none found is 404 903004, whose description formats the name and version as
        OPERATION_POLICY_NOT_FOUND_WITH_NAME_AND_VERSION spells it (one quote missing; "null" without a version)."""
        policies = list(self.common_policies.items())
        query = call.query("query")
        if query is not None:
            criteria = dict(pair.split(":") for pair in query.split("&") if pair.count(":") == 1)
            name, version = criteria.get("name"), criteria.get("version")
            policies = [(i, s) for i, s in policies if s["name"] == name and version in (None, "", s["version"])]
            if not policies:
                raise Fault(404, 903004, "API Policy Not Found with given name and version",
                            f"Requested api policy with name '{name}' and version '{version} not found")  # fmt: skip
            offset = 0
            limit = int(call.query("limit") or len(policies)) if version in (None, "") else 1
        else:
            offset = int(call.query("offset") or 0)
            limit = int(call.query("limit") or len(policies))
        page = [_policy_data_dto(i, s) for i, s in policies[offset : offset + limit]]
        return 200, {"count": len(page), "list": page,
                     "pagination": {"offset": offset, "limit": limit, "total": len(policies)}}  # fmt: skip

    def apply_operation_policies(self, body: dict[str, Any], clones: dict[str, str]) -> dict[str, str]:
        """An APIDTO's operation policies (`apiPolicies`, each operation's `operationPolicies`) as APIM validates and
        stores them on creating or updating an API, rewritten in `body`; the API's clones of common policies
        after it (common policy id → clone id), `clones` those before it.

        carbon-apimgt `impl/APIProviderImpl.java` validateAPIPolicyParameters → validatePolicies, per policy: with a
        policyId, the API's own policies first (here: its clones), then the common ones (a name or version other
        than the common policy's: 903211), neither: 902005; without one, an own policy of that name and version
        first, then a common one (policyId is not required). Then validateAppliedPolicyWithSpecification
        (`_check_applied_policy`). The operations of a WS, SSE or WEBSUB API lose theirs without an error.
        `impl/dao/ApiMgtDAO.java` addAPIPoliciesMapping → handlePolicyCloning: a common policy is cloned into an
        API-specific policy once per API (getClonedPolicyIdForCommonPolicyId reuses the clone) and the mapping
        stores the clone's id, which GET answers; clones no policy uses any more are deleted
        (cleanUnusedClonedOperationPolicies). A policy reads back as its name, version, the clone's id, the
        parameters as sent (the mapping's PARAMETERS JSON) and policyType "common" (APIProviderImpl
        .populatePolicyTypeInAPI: a clone of a common policy). APIMappingUtil.fromAPItoDTO writes apiPolicies only
        where the API has some (APIProviderImpl.populateAPILevelPolicies) and an operation's operationPolicies only
        where it has some (setOperationPoliciesToOperationsDTO), then with all three flows
        (OperationPolicyMappingUtil.fromOperationPolicyListToDTO); a body without them clears them
        (ApiMgtDAO.updateAPIPoliciesMapping deletes the API's mappings before adding the body's)."""
        if body.get("type", "HTTP") in NO_OPERATION_POLICIES:
            for op in body.get("operations", []):
                op.pop("operationPolicies", None)
        common_of_clone = {clone: common for common, clone in clones.items()}
        used: dict[str, str] = {}

        def stored(policy: dict[str, Any], flow: str) -> dict[str, Any]:
            common_id = self._applied_common_policy(policy, common_of_clone)
            spec = self.common_policies[common_id]
            _check_applied_policy(spec, policy, flow, body.get("type", "HTTP"))
            used[common_id] = clones.get(common_id) or used.get(common_id) or str(uuid.uuid4())
            parameters = copy.deepcopy(policy.get("parameters") or {})
            return {"policyName": spec["name"], "policyVersion": spec["version"], "policyType": "common",
                    "policyId": used[common_id], "parameters": parameters}  # fmt: skip

        def flows(holder: dict[str, Any], key: str) -> None:
            sent = holder.pop(key, None) or {}
            kept = {flow: [stored(p, flow) for p in sent.get(flow) or []] for flow in POLICY_FLOWS}
            if any(kept.values()):
                holder[key] = kept

        flows(body, "apiPolicies")
        for op in body.get("operations", []):
            flows(op, "operationPolicies")
        return used

    def _applied_common_policy(self, policy: dict[str, Any], common_of_clone: dict[str, str]) -> str:
        """The id of the common policy an applied OperationPolicyDTO names, directly or through the API's clone of
        it (APIProviderImpl.validatePolicies, `apply_operation_policies`). A policy sent without a version has v1,
        the generated publisher `dto/OperationPolicyDTO.java`'s initial policyVersion."""
        name, version, policy_id = policy.get("policyName"), policy.get("policyVersion", "v1"), policy.get("policyId")
        if policy_id is not None:
            if policy_id in common_of_clone:
                spec = self.common_policies[common_of_clone[policy_id]]
                if (spec["name"], spec["version"]) != (name, version):
                    # "Applied policy ... does not match the specification": an APIManagementException without
                    # an ErrorHandler, which GlobalThrowableMapper answers as an unknown exception.
                    raise _internal_error()
                return common_of_clone[policy_id]
            if policy_id in self.common_policies:
                spec = self.common_policies[policy_id]
                if (spec["name"], spec["version"]) != (name, version):
                    raise Fault(400, 903211, "Invalid operation policy name or version",
                                f"policyName and/or policyVersion provided for the applied policy {name}_{version} "
                                f"does not match the policy specification identified by the given policyId "
                                f"{policy_id}")  # fmt: skip
                return policy_id
        else:
            named = [i for i, s in self.common_policies.items() if (s["name"], s["version"]) == (name, version)]
            if named:
                return named[0]
        raise Fault(400, 902005, "Cannot find the selected api policy", "Selected api policy is not found")

    # -- gateway policies (Publisher: Policies > Gateway Policies) -------------------------------------------

    async def create_gateway_policy_mapping(self, call: Call) -> tuple[int, Any]:
        """addGatewayPoliciesToFlows (publisher.v1 `impl/GatewayPoliciesApiServiceImpl.java`) → APIProviderImpl
        .applyGatewayGlobalPolicies → ApiMgtDAO.addGatewayGlobalPolicy: a new mapping UUID, its policies stored by
        `policyId`. An id no common policy has (addGatewayPolicyMapping: getCommonOperationPolicyByPolicyID finds
        none) throws APIMgtResourceNotFoundException before the commit, which the impl answers 404 "One or more
        policy IDs in the policy mapping are invalid. Couldn't retrieve an existing common policy with ID: <id>"
        (RestApiUtil.handleResourceNotFoundError); the double stores nothing then. 201 with GatewayPolicyMappingInfo
        (id, name, description; AM_GATEWAY_POLICY_METADATA.DESCRIPTION null where none is sent). Deployed nowhere
        until engaged."""
        body = call.body
        flows = {flow: copy.deepcopy(body["policyMapping"].get(flow) or []) for flow in POLICY_FLOWS}
        for policy in (p for listed in flows.values() for p in listed):
            if policy.get("policyId") not in self.common_policies:
                missing = f"Couldn't retrieve an existing common policy with ID: {policy.get('policyId')}"
                invalid = f"One or more policy IDs in the policy mapping are invalid. {missing}"
                raise Fault(404, 404, "Not Found", invalid)
        mapping = {"id": str(uuid.uuid4()), "displayName": body["displayName"], "policyMapping": flows,
                   "description": body.get("description"), "_gatewayLabels": []}  # fmt: skip
        self.data.setdefault("gatewayPolicyMappings", []).append(mapping)
        return 201, _without_none({k: mapping[k] for k in ("id", "displayName", "description")})

    async def engage_gateway_policies(self, call: Call) -> tuple[int, Any]:
        """engageGlobalPolicy: every label must be a gateway environment (validateGatewayLabels: 404 "Invalid
        gateway labels: ..."); a deployment to a label that already has a mapping deployed (this one or another:
        ApiMgtDAO.hasExistingDeployments) is dropped without an error, so a label holds at most one mapping; the
        mapping must exist with a policy (404 otherwise: getGatewayPolicyDataListByPolicyId found none);
        APIProviderImpl.engageGatewayGlobalPolicies records the deployments, then APIGatewayManager
        .deployPolicyToGateway / undeployPolicyFromGateway publish DEPLOY_POLICY_MAPPING_IN_GATEWAY /
        REMOVE_POLICY_MAPPING_FROM_GATEWAY (GatewayPolicyEvent: the mapping UUID and the labels); 200 with the
        deployments, each with `mappingUUID`."""
        mapping_id, wanted = call.params["gatewayPolicyMappingId"], call.body
        invalid = [d["gatewayLabel"] for d in wanted if d["gatewayLabel"] not in self.double.gateway_environments]
        if invalid:
            raise Fault(404, 404, "Not Found", f"Invalid gateway labels: {', '.join(invalid)}")
        mappings = self.data.setdefault("gatewayPolicyMappings", [])
        taken = {label for m in mappings for label in m["_gatewayLabels"]}
        wanted = [d for d in wanted if not (d["gatewayDeployment"] and d["gatewayLabel"] in taken)]
        mapping = next((m for m in mappings if m["id"] == mapping_id), None)
        if mapping is None or not any(mapping["policyMapping"].values()):  # getGatewayPolicyDataListByPolicyId: none
            raise Fault(404, 404, "Not Found", f"Policy mapping not found for the given ID : {mapping_id}")
        added = [d["gatewayLabel"] for d in wanted if d["gatewayDeployment"]]
        removed = [d["gatewayLabel"] for d in wanted if not d["gatewayDeployment"]]
        mapping["_gatewayLabels"] = [label for label in mapping["_gatewayLabels"] if label not in removed] + added
        for event_type, labels in (("DEPLOY_POLICY_MAPPING_IN_GATEWAY", added),
                                   ("REMOVE_POLICY_MAPPING_FROM_GATEWAY", removed)):  # fmt: skip
            if labels:
                self._gateway_policy_event(event_type, mapping_id, labels)
        return 200, [{**d, "mappingUUID": mapping_id} for d in wanted]

    def _gateway_policy_event(self, event_type: str, mapping_id: str, labels: list[str]) -> None:
        """APIGatewayManager.sendGatewayPolicyDeploymentEvent / sendGatewayPolicyUndeploymentEvent: a
        GatewayPolicyEvent with the mapping UUID and the labels. Its constructor sets no tenantId: Gson writes the
        int's default 0."""
        self.double.notify_soon(event_type, {"gatewayPolicyMappingUuid": mapping_id, "gatewayLabels": labels,
                                             "tenantId": 0})  # fmt: skip

    def _gateway_policy_mapping(self, mapping_id: str) -> dict[str, Any] | None:
        return next((m for m in self.data.get("gatewayPolicyMappings", []) if m["id"] == mapping_id), None)

    async def list_gateway_policy_mappings(self, call: Call) -> tuple[int, Any]:
        """getAllGatewayPolicies (publisher.v1 `impl/GatewayPoliciesApiServiceImpl.java`) without `query`:
        APIProviderImpl.getAllLightweightGatewayPolicyMappings (ApiMgtDAO
        .getGatewayPolicyMappingMetadataForOrganization: the metadata rows in the order they were added, each with
        the labels it is deployed to, getGatewayPolicyMappingDeploymentsByPolicyMappingId), then
        GatewayPolicyMappingUtil.fromGatewayPolicyDataListToDTO: a GatewayPolicyMappingDataList whose entries
        (GatewayPolicyMappingDeploymentInfo) carry id, displayName, description and `appliedGatewayLabels` (a
        HashSet upstream: in no particular order; here sorted), none of the policies; `offset` (0) and `limit` (all
        of them) page it, an offset past the end giving none, `pagination.total` the number of mappings. The
        `query` form ("gatewayLabel:X", getLightweightGatewayPolicyMappings) is not mirrored: 501."""
        if call.query("query") is not None:
            raise Fault(501, 501, "Not Implemented", "The APIM double does not answer GET /gateway-policies?query=")
        mappings = self.data.get("gatewayPolicyMappings", [])
        offset = int(call.query("offset") or 0)
        limit = int(call.query("limit") or len(mappings))
        start = offset if 0 <= offset < len(mappings) else len(mappings)
        page = [_without_none({"id": m["id"], "displayName": m["displayName"], "description": m["description"],
                               "appliedGatewayLabels": sorted(m["_gatewayLabels"])})
                for m in mappings[start : max(start, offset + limit)]]  # fmt: skip
        return 200, {"count": len(page), "list": page,
                     "pagination": {"offset": offset, "limit": limit, "total": len(mappings)}}  # fmt: skip

    async def get_gateway_policy_mapping(self, call: Call) -> tuple[int, Any]:
        """getGatewayPolicyMappingContentByPolicyMappingId → APIProviderImpl
        .getGatewayPolicyMappingDataByPolicyMappingId, then GatewayPolicyMappingUtil.fromGatewayPolicyDataToDTO: a
        GatewayPolicyMappings with id, displayName, description, `appliedGatewayLabels` (as the list's) and
        `policyMapping`, all three flows (OperationPolicyMappingUtil.fromOperationPolicyListToDTO), each policy as
        ApiMgtDAO.getGatewayPoliciesOfPolicyMapping reads it (populateOperationPolicyWithRS): the common policy's
        name and version (AM_OPERATION_POLICY, joined on the stored id), its id, the stored parameters, no
        policyType, in the order sent. An unknown id is no error: getGatewayPolicyMappingMetadataByPolicyMappingUUID
        answers an empty GatewayPolicyData, so 200 with no id, no displayName (which the spec requires), no labels
        and empty flows."""
        mapping = self._gateway_policy_mapping(call.params["gatewayPolicyMappingId"])
        if mapping is None:
            return 200, {"appliedGatewayLabels": [], "policyMapping": {flow: [] for flow in POLICY_FLOWS}}
        flows = {}
        for flow in POLICY_FLOWS:
            flows[flow] = []
            for policy in mapping["policyMapping"].get(flow) or []:
                spec = self.common_policies[policy["policyId"]]
                flows[flow].append({"policyName": spec["name"], "policyVersion": spec["version"],
                                    "policyId": policy["policyId"],
                                    "parameters": copy.deepcopy(policy.get("parameters"))})  # fmt: skip
        return 200, _without_none({"id": mapping["id"], "displayName": mapping["displayName"],
                                   "description": mapping["description"], "policyMapping": flows,
                                   "appliedGatewayLabels": sorted(mapping["_gatewayLabels"])})  # fmt: skip

    async def update_gateway_policy_mapping(self, call: Call) -> tuple[int, Any]:
        """updateGatewayPoliciesToFlows: a mapping without policies (getGatewayPolicyDataListByPolicyId found none;
        an unknown id too) is 404 "Gateway policy mapping not found for the given Mapping ID : <id>". Then
        APIProviderImpl.updateGatewayGlobalPolicies keeps the labels the mapping is deployed to, deletes its
        policies (ApiMgtDAO.deleteGatewayPolicyMappingByPolicyId without the metadata, committed at once) and
        stores the body's (ApiMgtDAO.updateGatewayGlobalPolicy: displayName and description replaced, each policy
        by `policyId`; addGatewayPolicyMapping finds no common policy of a missing or unknown id and throws an
        APIMgtResourceNotFoundException, which the impl answers as a generic 500, the old policies already gone).
        A mapping deployed anywhere is deployed again where it is (APIGatewayManager.deployPolicyToGateway:
        DEPLOY_POLICY_MAPPING_IN_GATEWAY with every one of its labels), whatever changed. 200 with the body as sent,
        its `id` set to the mapping's."""
        mapping_id = call.params["gatewayPolicyMappingId"]
        mapping = self._gateway_policy_mapping(mapping_id)
        if mapping is None or not any(mapping["policyMapping"].values()):
            raise Fault(
                404, 404, "Not Found", f"Gateway policy mapping not found for the given Mapping ID : {mapping_id}"
            )
        body = call.body
        sent = body.get("policyMapping") or {}
        flows = {flow: copy.deepcopy(sent.get(flow) or []) for flow in POLICY_FLOWS}
        mapping["policyMapping"] = {flow: [] for flow in POLICY_FLOWS}
        if any(p.get("policyId") not in self.common_policies for listed in flows.values() for p in listed):
            raise _internal_error()
        mapping.update(displayName=body["displayName"], description=body.get("description"), policyMapping=flows)
        if mapping["_gatewayLabels"]:
            self._gateway_policy_event("DEPLOY_POLICY_MAPPING_IN_GATEWAY", mapping_id, list(mapping["_gatewayLabels"]))
        return 200, _without_none({**body, "id": mapping_id})

    async def change_lifecycle(self, call: Call) -> tuple[int, Any]:
        """changeAPILifecycle → PublisherCommonUtils.changeApiOrApiProductLifecycle: the action must be one of the
        state's next actions (400 903234 "Unsupported state change action"); 200 with a WorkflowResponse
        (APPROVED by the default executor) and the new LifecycleState. LifeCycleUtils.sendLCStateChangeNotification
        publishes API_LIFECYCLE_CHANGE with the target status and the current one."""
        return self._change_lifecycle(self._api(call.query("apiId")), call.query("action") or "")

    def _change_lifecycle(self, item: dict[str, Any], action: str) -> tuple[int, Any]:
        current = item.get("status", "CREATED")
        allowed = LIFECYCLE[current]
        if action not in allowed:
            raise Fault(
                400,
                903234,
                "Unsupported state change action",
                f"Action '{action}' is not allowed. Allowed actions are {sorted(allowed)}",
            )
        target = allowed[action]
        item["status"] = target
        self.double.notify_soon(
            "API_LIFECYCLE_CHANGE",
            # LifeCycleUtils.sendLCStateChangeNotification: apiStatus the target, the action as lifecycleEvent.
            # An API Product's event has no securityScheme (LifeCycleUtils.changeLifecycle passes the API's only).
            {**_api_event(item), "lifecycleEvent": action, "currentStatus": current, "apiStatus": target}
            | ({"securityScheme": None} if _is_product(item) else {}),
        )
        state = {
            "state": target.capitalize(),
            "checkItems": [],
            "availableTransitions": [{"event": e, "targetState": t.capitalize()} for e, t in LIFECYCLE[target].items()],
        }
        return 200, {"workflowStatus": "APPROVED", "jsonPayload": "", "lifecycleState": state}

    # -- API Products (Publisher API v4) -----------------------------------------------------------------------
    # An API Product is an `apis` item of apiType APIProduct (AM_API holds both since APIM 4.x; the internal data
    # API serves it as one more API, SubscriptionValidationDAO), with `_publisher` its APIProductDTO as stored, the
    # current resources in `_urlMappings` (each bundled API's URL mapping it took, AM_API_PRODUCT_MAPPING), and what
    # its deployed revision holds in `urlMappings` and `_bundledApis` (attachURlMappingDetailsOfApiProduct reads the
    # deployed revision's mappings; the revision's export holds the bundled APIs, harness/apim_double.py
    # _write_product_project).

    def _product(self, product_id: str | None) -> dict[str, Any]:
        item = next((a for a in self.data["apis"] if a.get("uuid") == product_id and _is_product(a)), None)
        if item is None:
            raise not_found("API Product", str(product_id), 900360)  # ExceptionCodes.API_PRODUCT_NOT_FOUND
        return item

    def _api_or_product(self, api_id: str | None) -> dict[str, Any]:
        item = next((a for a in self.data["apis"] if a.get("uuid") == api_id), None)
        if item is None:  # ExceptionCodes.API_OR_API_PRODUCT_NOT_FOUND
            raise Fault(404, 900359, "API or API Product Not Found",
                        f"Requested API or API Product with id '{api_id}' not found")  # fmt: skip
        return item

    def product_dto(self, item: dict[str, Any]) -> dict[str, Any]:
        """APIMappingUtil.fromAPIProducttoDTO: the product as stored, `state` its lifecycle state, `context` the
        context template without `/{version}`, `apis` its resources aggregated by bundled API (ProductAPIDTO: apiId,
        name, version, operations). The DTO's apiType (ApiTypeEnum.fromValue("APIProduct"), an enum of API and
        APIPRODUCT) is left out: what the generated enum makes of it is not read from source."""
        dto = copy.deepcopy(item["_publisher"])
        apis: dict[str, dict[str, Any]] = {}
        for resource in item["_resources"]:
            bundled = apis.setdefault(
                resource["apiId"],
                {
                    "apiId": resource["apiId"],
                    "name": resource["apiName"],
                    "version": resource["apiVersion"],
                    "operations": [],
                },
            )
            bundled["operations"].append(copy.deepcopy(resource["operation"]))
        dto.update(id=item["uuid"], state=item.get("status", "CREATED"), apis=list(apis.values()),
                   context=item["contextTemplate"].replace("/{version}", ""))  # fmt: skip
        return dto

    def _product_resources(self, body: dict[str, Any], on_missing: str) -> list[dict[str, Any]]:
        """The product's resources from the body's `apis` (APIMappingUtil.fromDTOtoAPIProduct: a verb and target
        twice is 400 900341), each checked against its API's resources (ApiMgtDAO.getURITemplatesForAPI, keyed
        VERB:target). A bundled API must exist (getAPIbyUUID: 404) and not be BLOCKED, PROTOTYPED, DEPRECATED or
        RETIRED (validateApiLifeCycleForApiProducts: 409 900343, checked on creation). A resource its API lacks is
        dropped on creation (addAPIProductWithoutPublishingToGateway logs a warning) and refused on an update
        (updateAPIProduct: 400 903235): `on_missing` "drop" or "refuse"."""
        seen: set[tuple[str, str]] = set()
        resources = []
        for bundled in body.get("apis") or []:
            for op in bundled.get("operations") or []:
                if (op.get("verb"), op.get("target")) in seen:
                    raise Fault(400, 900341, "Cannot create API Product with duplicate resource",
                                f"Cannot create API Product with duplicate resource: {op.get('target')} , verb: "
                                f"{op.get('verb')} combination")  # fmt: skip
                seen.add((op.get("verb"), op.get("target")))
        for bundled in body.get("apis") or []:
            api = self._api(bundled["apiId"])
            if on_missing == "drop" and api.get("status") in ("BLOCKED", "PROTOTYPED", "DEPRECATED", "RETIRED"):
                raise Fault(409, 900343, "Cannot create API Product, due to resources parent API being in an "
                            "unsupported Life Cycle state", "Cannot create API Product, due to resources parent API "
                            f"being in an unsupported Life Cycle state: {api['status']}")  # fmt: skip
            mappings = {(m["httpMethod"], m["urlPattern"]): m for m in api["_urlMappings"]}
            operations = {(op["verb"], op["target"]): op for op in self.api_dto(api).get("operations", [])}
            for op in bundled.get("operations") or []:
                key = (op.get("verb"), op.get("target"))
                if key not in mappings:
                    if on_missing == "drop":
                        continue
                    raise Fault(400, 903235, "No corresponding resource found in API",
                                f"API with id {api['uuid']} does not have a resource {key[1]} with http method "
                                f"{key[0]}")  # fmt: skip
                # getOperationFromURITemplate: the API's resource as stored (its tier, scopes, auth type).
                operation = {
                    k: v
                    for k, v in operations[key].items()
                    if k in ("target", "verb", "authType", "throttlingPolicy", "scopes")
                }
                resources.append({"apiId": api["uuid"], "apiName": api["name"], "apiVersion": api["version"],
                                  "operation": operation, "mapping": copy.deepcopy(mappings[key])})  # fmt: skip
        return resources

    def _invalid_tiers(self, body: dict[str, Any]) -> None:
        """PublisherCommonUtils.getInvalidTierNames on creation and update: 400 903248."""
        invalid = [t for t in body.get("policies") or [] if t not in self._valid_tiers()]
        if invalid:
            raise Fault(400, 903248, "The tier name is invalid.", f"The tier name(s) {invalid} are invalid")

    async def list_products(self, call: Call) -> tuple[int, Any]:
        """getAllAPIProducts → APIProvider.searchPaginatedAPIProducts, its query read as the /apis search reads it
        (`list_apis`); each item an APIProductInfoDTO."""
        limit, offset = int(call.query("limit") or 25), int(call.query("offset") or 0)
        query = call.query("query") or ""
        products = [a for a in self.data["apis"] if _is_product(a) and "_publisher" in a]
        matched = [p for p in products if all(_matches_criterion(self.product_dto(p), c) for c in query.split())]
        keys = ("id", "name", "context", "description", "provider", "version", "state", "securityScheme",
                "gatewayVendor")  # fmt: skip
        page = [{"hasThumbnail": False, **{k: v for k, v in self.product_dto(p).items() if k in keys}}
                for p in matched[offset : offset + limit]]  # fmt: skip
        return 200, {"count": len(page), "list": page,
                     "pagination": {"offset": offset, "limit": limit, "total": len(matched)}}  # fmt: skip

    async def create_product(self, call: Call) -> tuple[int, Any]:
        """createAPIProduct → PublisherCommonUtils.addAPIProductWithGeneratedSwaggerDefinition: unknown tiers 400
        903248; checkDuplicateContext: the name and version taken → 409 900300, else the context taken → 409
        900251; isDefaultVersion is set true, visibility defaults to PUBLIC; the state starts CREATED
        (fromDTOtoAPIProduct puts `/{version}` after the context, the context served is `<context>/<version>`, and
        addAPIProductWithoutPublishingToGateway stores the template without it). No event is published and nothing
        is deployed until a revision is."""
        body = copy.deepcopy(call.body)
        context = body["context"].replace("/{version}", "")
        context = context if context.startswith("/") else "/" + context
        body.setdefault("version", "1.0.0")  # the spec's default
        self._invalid_tiers(body)
        apis = self.data["apis"]
        if any(a["name"] == body["name"] and a["version"] == body["version"] for a in apis):
            raise Fault(409, 900300, "The API already exists.", "The API already exists")
        if any(a.get("contextTemplate", a["context"]).replace("/{version}", "") == context for a in apis):
            raise Fault(409, 900251, "The API context already exists.",
                        f"An API with context '{context}' already exists")  # fmt: skip
        resources = self._product_resources(body, "drop")
        now = str(_now_ms())
        body.update(context=context, provider=self.double.username, isDefaultVersion=True, createdTime=now,
                    lastUpdatedTime=now, lastUpdatedTimestamp=now, gatewayVendor="wso2")  # fmt: skip
        body.setdefault("visibility", "PUBLIC")
        body.pop("apis", None)
        body.pop("state", None)
        _set_cors_and_headers(body, creating=True)
        item = {
            "uuid": str(uuid.uuid4()),
            "apiId": max((a.get("apiId", 0) for a in apis), default=0) + 1,
            "name": body["name"],
            "version": body["version"],
            "context": f"{context}/{body['version']}",
            "contextTemplate": context,
            "provider": body["provider"],
            "apiType": "APIProduct",
            "status": "CREATED",
            "isDefaultVersion": True,
            "organization": self.double.tenant,
            "urlMappings": [],  # served once a revision is deployed
            "_publisher": body,
            "_resources": resources,
            "_urlMappings": [r["mapping"] for r in resources],
            "_bundledApis": [],
            "_revisions": [],
            "_deployments": [],
            "_gatewayLabels": [],
        }
        _set_api_policy(item, body)
        apis.append(item)
        return 201, self.product_dto(item)

    async def get_product(self, call: Call) -> tuple[int, Any]:
        return 200, self.product_dto(self._product(call.params["apiProductId"]))

    async def update_product(self, call: Call) -> tuple[int, Any]:
        """updateAPIProduct → PublisherCommonUtils.updateApiProduct: the body's securityScheme is read unchecked
        (without one, a NullPointerException: 500); unknown tiers 400 903248; name, version, provider and state stay
        the stored ones; each resource must be one its API has (400 903235). APIProviderImpl.updateAPIProduct
        publishes API_UPDATE with the product's uuid, name, version, context and security scheme (its status field,
        which that APIEvent overload fills from APIConstants.LC_PUBLISH_LC_STATE and the state, is given here as an
        API's). Gateways see the new resources once a revision is deployed."""
        item = self._product(call.params["apiProductId"])
        body = copy.deepcopy(call.body)
        if body.get("securityScheme") is None:
            raise Fault(500, 500, "Internal server error", "Error while updating API Product")
        self._invalid_tiers(body)
        resources = self._product_resources(body, "refuse")
        stored = item["_publisher"]
        for key in ("name", "version", "provider", "context", "createdTime", "isDefaultVersion"):
            if key in stored:
                body[key] = stored[key]
        for key in ("id", "state", "apis"):
            body.pop(key, None)
        body["lastUpdatedTime"] = body["lastUpdatedTimestamp"] = str(_now_ms())
        _set_cors_and_headers(body, creating=False)
        item.update(_publisher=body, _resources=resources, _urlMappings=[r["mapping"] for r in resources])
        _set_api_policy(item, body)
        self.double.notify_soon("API_UPDATE", _api_event(item))
        return 200, self.product_dto(item)

    async def list_product_revisions(self, call: Call) -> tuple[int, Any]:
        """getAPIProductRevisions, filtered as an API's (ApiProductsApiServiceImplUtils.getAPIRevisionListDTO)."""
        return self._revision_list(self._product(call.params["apiProductId"]), call.query("query") or "")

    async def create_product_revision(self, call: Call) -> tuple[int, Any]:
        """createAPIProductRevision → APIProviderImpl.addAPIProductRevision: no lifecycle check (unlike an API's);
        more than four revisions → 400 900351; numbered from the most recent one's. The revision holds the product's
        resources, bundled APIs and DTO as they are now (its export, ExportUtils.exportApiProduct)."""
        item = self._product(call.params["apiProductId"])
        if len(item["_revisions"]) > 4:
            raise Fault(400, 900351, "Can not create API Revision ",
                        "Maximum number of revisions per API has reached.Need to remove any revision to create a new "
                        f"Revision for API with API UUID: {item['uuid']}")  # fmt: skip
        return self._add_revision(item, call, _bundledApis=sorted({r["apiId"] for r in item["_resources"]}),
                                  _snapshot=copy.deepcopy(item["_publisher"]))  # fmt: skip

    async def delete_product_revision(self, call: Call) -> tuple[int, Any]:
        """deleteAPIProductRevision → APIProviderImpl.deleteAPIProductRevision: as an API's revision (404 900347,
        400 900348 while deployed), without a lifecycle check; 200 with the revisions left."""
        item = self._product(call.params["apiProductId"])
        return self._delete_revision(item, call.params["revisionId"])

    async def deploy_product_revision(self, call: Call) -> tuple[int, Any]:
        """deployAPIProductRevision: each environment a configured one (PROVIDED_GATEWAY_ENVIRONMENT_NOT_FOUND,
        400 903233) with a vhost (400 900511), which this operation does not hold to the environment's; the
        revision must exist (APIProviderImpl.deployAPIProductRevision: 404 900347); no lifecycle check; it replaces
        the environment's revision; 201 with the revision's deployments. APIGatewayManager.deployToGateway →
        sendDeploymentEvent(APIProduct, ...): DEPLOY_API_IN_GATEWAY with the product's id, its uuid, the labels,
        `prod` as the provider (PRODUCT_PREFIX), apiType APIProduct and its context."""
        item = self._product(call.params["apiProductId"])
        revision_id = call.query("revisionId") or ""
        for wanted in call.body:
            if wanted["name"] not in self.double.gateway_environments:
                raise Fault(400, 903233, "Gateway environment not found",
                            f"Provided gateway environment {wanted['name']} is not found")  # fmt: skip
            if not wanted.get("vhost"):
                raise vhost_not_provided()
        revision = next((r for r in item["_revisions"] if r["id"] == revision_id), None)
        if revision is None:
            raise not_found("API Revision", revision_id, 900347)
        labels = self._record_deployments(item, revision_id, call.body)
        item.update(_revision=f"revision-{revision['_number']}", urlMappings=copy.deepcopy(revision["_urlMappings"]),
                    _bundledApis=list(revision["_bundledApis"]), **_deployed_fields(revision["_snapshot"]))  # fmt: skip
        event = {"apiId": item["apiId"], "uuid": item["uuid"], "name": item["name"], "version": item["version"],
                 "provider": "prod", "apiType": "APIProduct", "gatewayLabels": labels, "context": item["context"],
                 "tenantId": 0}  # fmt: skip
        self.double.notify_soon("DEPLOY_API_IN_GATEWAY", event)
        return 201, [copy.deepcopy(d) for d in item["_deployments"] if d["revisionUuid"] == revision_id]

    async def list_product_deployments(self, call: Call) -> tuple[int, Any]:
        """getAPIProductRevisionDeployments: a bare list (see IMPL_ANSWERS)."""
        return 200, copy.deepcopy(self._product(call.params["apiProductId"])["_deployments"])

    async def change_product_lifecycle(self, call: Call) -> tuple[int, Any]:
        """changeAPIProductLifecycle → PublisherCommonUtils.changeApiOrApiProductLifecycle, as an API's."""
        return self._change_lifecycle(self._product(call.query("apiProductId")), call.query("action") or "")

    # -- Admin API v4 ------------------------------------------------------------------------------------------

    async def list_key_managers(self, call: Call) -> tuple[int, Any]:
        items = [
            {
                "id": km["uuid"],
                "name": km["name"],
                "type": km["type"],
                "description": km.get("_admin", {}).get("description", ""),
                "enabled": km.get("enabled", True),
                "isGlobal": False,
                "isUsed": True,
                "tokenType": km.get("tokenType", "DIRECT"),
            }
            for km in self.data["keyManagers"]
        ]
        return 200, {"count": len(items), "list": items}

    async def create_key_manager(self, call: Call) -> tuple[int, Any]:
        """KeyManagersApiServiceImpl.keyManagersPost → APIAdminImpl.addKeyManagerConfiguration: a name already used
        in the organization → 409 901402; the configuration is kept (the endpoints as additionalProperties, as the
        internal data API serves them), and a `keyManager` event `action: add` is published
        (KeyManagerConfigurationDataRetriever reads it on the gateways)."""
        body = call.body
        if any(km["name"] == body["name"] for km in self.data["keyManagers"]):
            raise Fault(409, 901402, "Key Manager Already Exists", "Key Manager Already Exists")
        props = {
            "issuer": body.get("issuer"),
            "token_endpoint": body.get("tokenEndpoint"),
            "introspection_endpoint": body.get("introspectionEndpoint"),
            "client_registration_endpoint": body.get("clientRegistrationEndpoint"),
            "revoke_endpoint": body.get("revokeEndpoint"),
            "consumer_key_claim": body.get("consumerKeyClaim"),
            "scopes_claim": body.get("scopesClaim"),
            "self_validate_jwt": body.get("enableSelfValidationJWT", True),
        }
        certificates = body.get("certificates") or {}
        if certificates:
            props.update(certificate_type=certificates.get("type"), certificate_value=certificates.get("value"))
        item = {
            "uuid": str(uuid.uuid4()),
            "name": body["name"],
            "type": body["type"],
            "enabled": body.get("enabled", True),
            "organization": self.double.tenant,
            "tokenType": body.get("tokenType", "DIRECT"),
            "additionalProperties": {k: v for k, v in props.items() if v is not None},
            "_admin": _without_secrets(body),
        }
        self.data["keyManagers"].append(item)
        self.double.key_manager_event_soon(item, "add")
        return 201, {**_without_secrets(body), "id": item["uuid"]}

    # Subscription and application policies, kept by the double in the data API's lists and named by the admin API
    # by their UUID: the admin API's kind → (the data API list, RestApiConstants' resource name for its 404).
    _POLICY_KINDS = {
        "Subscription": ("subscriptionPolicies", "subscription policy"),
        "Application": ("applicationPolicies", "application policy"),
    }

    def _policy_by_uuid(self, kind: str, policy_id: str) -> dict[str, Any]:
        """APIProviderImpl.getSubscriptionPolicyByUUID/getApplicationPolicyByUUID: none → PolicyNotFoundException,
        which the handlers answer with RestApiUtil.handleResourceNotFoundError (RestApiConstants
        .RESOURCE_SUBSCRIPTION_POLICY, RESOURCE_APP_POLICY), 404."""
        table, resource = self._POLICY_KINDS[kind]
        for item in self.data.setdefault(table, []):
            if _policy_uuid(item) == policy_id:
                return item
        raise Fault(404, 404, "Not Found", f"Requested {resource} with Id '{policy_id}' not found")

    def _new_policy(self, kind: str, name: str) -> dict[str, Any]:
        """What throttlingPoliciesSubscriptionPost and throttlingPoliciesApplicationPost check before adding: the name
        (RestApiAdminUtils.validateThrottlePolicyNameProperty), then a policy of that name of the tenant → 409
        ("<Kind> Policy with name X already exists", before APIProviderImpl.addPolicy's own check). The new item,
        not yet kept: its numeric id (the table's auto-increment POLICY_ID) and its UUID (setCommonParametersForPolicy
        draws one)."""
        _check_policy_name(name)
        policies = self.data.setdefault(self._POLICY_KINDS[kind][0], [])
        if any(p["name"] == name for p in policies):
            raise conflict(f"{kind} Policy with name {name} already exists")
        from .apim_double import TENANT_ID

        numeric_id = max((p.get("id", 0) for p in policies), default=0) + 1
        return {"id": numeric_id, "tenantId": TENANT_ID, "tenantDomain": self.double.tenant, "name": name,
                "_admin": {"policyId": str(uuid.uuid4())}}  # fmt: skip

    # Subscription policies: admin.v1 `ThrottlingApiServiceImpl.throttlingPoliciesSubscription*`, mapped by
    # `SubscriptionThrottlePolicyMappingUtil`/`CommonThrottleMappingUtil`, kept in AM_POLICY_SUBSCRIPTION (the data
    # API's subscriptionPolicies, `SubscriptionValidationDataUtil.fromSubscriptionPolicyToSubscriptionPolicyListDTO`),
    # published by APIProviderImpl.addPolicy/updatePolicy as a SubscriptionPolicyEvent.

    async def list_subscription_policies(self, call: Call) -> tuple[int, Any]:
        items = [_admin_policy(p) for p in self.data["subscriptionPolicies"]]
        return 200, {"count": len(items), "list": items}

    async def get_subscription_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesSubscriptionPolicyIdGet: the policy as fromSubscriptionThrottlePolicyToDTO maps it."""
        return 200, _admin_policy(self._policy_by_uuid("Subscription", call.params["policyId"]))

    async def create_subscription_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesSubscriptionPost: the checks of `_new_policy`; kept in AM_POLICY_SUBSCRIPTION and
        published as POLICY_CREATE (APIProviderImpl.addPolicy). Without a billingPlan, addPolicy stores the policy and
        then fails (`subPolicy.getBillingPlan().equalsIgnoreCase(...)` after `apiMgtDAO.addSubscriptionPolicy`, an
        NPE that GlobalThrowableMapper answers 500) before its event: the policy exists, unannounced."""
        body = call.body
        item = self._new_policy("Subscription", body["policyName"])
        _set_subscription(item, body)
        self.data["subscriptionPolicies"].append(item)
        if body.get("billingPlan") is None:
            raise _internal_error()
        self.double.notify_soon("POLICY_CREATE", _subscription_policy_event(item))
        return 201, _admin_policy(item)

    async def update_subscription_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesSubscriptionPolicyIdPut: an unknown id → 404; a policy's quota type cannot change to or
        from an AI API quota (900974); the name stays the existing one (body.setPolicyName(existing name)), everything
        else is replaced as sent (ApiMgtDAO.updateSubscriptionPolicy writes every column: a burst left out of the
        body is removed); published as POLICY_UPDATE (APIProviderImpl.updatePolicy). Answers 200 with the policy as
        read back."""
        item = self._policy_by_uuid("Subscription", call.params["policyId"])
        was_ai_quota = item["quotaType"] == _QUOTA_TYPES["AIAPIQUOTALIMIT"][0]
        if was_ai_quota != (call.body["defaultLimit"]["type"] == "AIAPIQUOTALIMIT"):
            raise Fault(400, 900974, "Bad Request",
                        "Subscription quota type can not be changed for AI Subscription policies.")  # fmt: skip
        _set_subscription(item, call.body)
        self.double.notify_soon("POLICY_UPDATE", _subscription_policy_event(item))
        return 200, _admin_policy(item)

    # Application policies: admin.v1 `ThrottlingApiServiceImpl.throttlingPoliciesApplication*`, mapped by
    # `ApplicationThrottlePolicyMappingUtil`/`CommonThrottleMappingUtil`, kept in AM_POLICY_APPLICATION (the data
    # API's applicationPolicies, `SubscriptionValidationDataUtil.fromApplicationPolicyToApplicationPolicyListDTO`),
    # published by APIProviderImpl.addPolicy/updatePolicy as an ApplicationPolicyEvent.

    async def list_application_policies(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesApplicationGet: ApiMgtDAO.getApplicationPolicies (GET_APP_POLICIES, no ORDER BY: as
        stored), each as fromApplicationThrottlePolicyToDTO maps it."""
        items = [_application_policy_dto(p) for p in self.data.setdefault("applicationPolicies", [])]
        return 200, {"count": len(items), "list": items}

    async def get_application_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesApplicationPolicyIdGet: the policy as fromApplicationThrottlePolicyToDTO maps it."""
        return 200, _application_policy_dto(self._policy_by_uuid("Application", call.params["policyId"]))

    async def create_application_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesApplicationPost: the checks of `_new_policy` and nothing else (no billing plan, no
        permissions); kept in AM_POLICY_APPLICATION (ApiMgtDAO.addApplicationPolicy) and published as POLICY_CREATE
        (APIProviderImpl.addPolicy). Answers 201 with the policy as read back (its Location header, which no caller
        here reads, is not sent)."""
        item = self._new_policy("Application", call.body["policyName"])
        _set_application(item, call.body)
        self.data["applicationPolicies"].append(item)
        self.double.notify_soon("POLICY_CREATE", _application_policy_event(item))
        return 201, _application_policy_dto(item)

    async def update_application_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesApplicationPolicyIdPut: an unknown id → 404; the name stays the existing one
        (body.setPolicyName(existingPolicy.getPolicyName())), everything else is replaced as sent
        (ApiMgtDAO.updateApplicationPolicy writes every column: a burst left out is removed); published as
        POLICY_UPDATE (APIProviderImpl.updatePolicy). Answers 200 with the policy as read back."""
        item = self._policy_by_uuid("Application", call.params["policyId"])
        _set_application(item, call.body)
        self.double.notify_soon("POLICY_UPDATE", _application_policy_event(item))
        return 200, _application_policy_dto(item)

    # Advanced (API-level) policies: admin.v1 `ThrottlingApiServiceImpl.throttlingPoliciesAdvanced*`, mapped by
    # `AdvancedThrottlePolicyMappingUtil`/`CommonThrottleMappingUtil`, kept in AM_API_THROTTLE_POLICY and
    # AM_CONDITION_GROUP (the data API's apiPolicies, `SubscriptionValidationDataUtil`), published by
    # APIProviderImpl.addPolicy/updatePolicy as an APIPolicyEvent.

    def _advanced(self, policy_id: str) -> dict[str, Any]:
        """getAPIPolicyByUUID: none → PolicyNotFoundException, 404."""
        for item in self.data.setdefault("apiPolicies", []):
            if item.get("_admin", {}).get("policyId") == policy_id:
                return item
        raise Fault(404, 404, "Not Found", f"Requested advanced policy with Id '{policy_id}' not found")

    async def list_advanced_policies(self, call: Call) -> tuple[int, Any]:
        """getPolicies(tenantId, "api"): `SELECT * FROM AM_API_THROTTLE_POLICY ... ORDER BY NAME`, as
        AdvancedThrottlePolicyInfo (no condition groups)."""
        items = sorted(self.data.setdefault("apiPolicies", []), key=lambda p: p["name"])
        infos = [_advanced_dto(p, info=True) for p in items]
        return 200, {"count": len(infos), "list": infos}

    async def get_advanced_policy(self, call: Call) -> tuple[int, Any]:
        return 200, _advanced_dto(self._advanced(call.params["policyId"]))

    async def create_advanced_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesAdvancedPost: the name checked by RestApiAdminUtils.validateThrottlePolicyNameProperty
        (blank → 900705, a character outside [A-Za-z0-9_] → 900706), an existing name → 409; nothing else is
        validated (addresses are not checked; a group without conditions is kept). Answers 201 with the policy as
        read back (its Location header, which no caller here reads, is not sent)."""
        body = call.body
        name = body["policyName"]
        _check_policy_name(name)
        policies = self.data.setdefault("apiPolicies", [])
        if any(p["name"] == name for p in policies):
            raise conflict(f"Advanced Policy with name {name} already exists")
        numeric_id = max((p.get("_policyId", 0) for p in policies), default=0) + 1
        from .apim_double import TENANT_ID

        item = {"tenantId": TENANT_ID, "tenantDomain": self.double.tenant, "name": name,
                "applicableLevel": "apiLevel", "_policyId": numeric_id,
                "_admin": {"policyId": str(uuid.uuid4())}}  # fmt: skip
        added = self._set_advanced(item, body, keep_empty_groups=True)
        policies.append(item)
        # APIPolicyEvent: the DAO never sets the model's id, so policyId is the constructor's -1.
        self.double.notify_soon("POLICY_CREATE", {"policyId": -1, "policyName": name, "quotaType": item["quotaType"],
                                                  "addedConditionGroupIds": added, "policyType": "API"})  # fmt: skip
        return 201, _advanced_dto(item)

    async def update_advanced_policy(self, call: Call) -> tuple[int, Any]:
        """throttlingPoliciesAdvancedPolicyIdPut: the name stays the existing one; APIProviderImpl.updatePolicy
        drops groups without conditions; ApiMgtDAO.updateAPIPolicy deletes the condition groups and inserts them
        again (new ids); POLICY_UPDATE names both."""
        item = self._advanced(call.params["policyId"])
        deleted = [g["conditionGroupId"] for g in item["conditionGroups"]]
        added = self._set_advanced(item, call.body, keep_empty_groups=False)
        event = {
            "policyId": -1,
            "policyName": item["name"],
            "quotaType": item["quotaType"],
            "addedConditionGroupIds": added,
            "deletedConditionGroupIds": deleted,
            "policyType": "API",
        }
        self.double.notify_soon("POLICY_UPDATE", event)
        return 200, _advanced_dto(item)

    def _set_advanced(self, item: dict[str, Any], body: dict[str, Any], keep_empty_groups: bool) -> list[int]:
        """The DTO's limit, description and groups into a data API item; the new condition groups' ids."""
        default = _data_limit(body["defaultLimit"])
        groups = [g for g in body.get("conditionalGroups", []) if keep_empty_groups or g["conditions"]]
        used = [g["conditionGroupId"] for p in self.data["apiPolicies"] for g in p.get("conditionGroups", [])]
        first = max(used, default=0) + 1
        item.update(quotaType=default["quotaType"], defaultLimit=default, conditionGroups=[
            {"policyId": item["_policyId"], "quotaType": _data_limit(g["limit"])["quotaType"],
             "conditionGroupId": first + i, "condition": [_data_condition(c) for c in g["conditions"]],
             "defaultLimit": _data_limit(g["limit"])}
            for i, g in enumerate(groups)
        ])  # fmt: skip
        _set_common_fields(item, body, groupDescriptions=[g.get("description") for g in groups])
        return [g["conditionGroupId"] for g in item["conditionGroups"]]

    # -- DevPortal API v3 --------------------------------------------------------------------------------------

    async def devportal_apis(self, call: Call) -> tuple[int, Any]:
        """The APIs a developer sees: PUBLISHED and PROTOTYPED ones (persistence `RegistrySearchUtil
        .getDevPortalSearchQuery`, without DisplayMultipleStatus). Anonymous access is allowed (no scope on the
        operation)."""
        limit, offset = int(call.query("limit") or 25), int(call.query("offset") or 0)
        # API Products are left out as on the Publisher's /apis (not modelled).
        visible = [a for a in self.data["apis"]
                   if a.get("status") in ("PUBLISHED", "PROTOTYPED") and not _is_product(a)]  # fmt: skip
        query = call.query("query") or ""
        visible = [a for a in visible if all(_matches_criterion(self.api_dto(a), c) for c in query.split())]
        page = visible[offset : offset + limit]
        items = [
            {
                k: v
                for k, v in self._api_info(a).items()
                if k
                in (
                    "id",
                    "name",
                    "description",
                    "context",
                    "version",
                    "type",
                    "provider",
                    "lifeCycleStatus",
                    "createdTime",
                    "gatewayVendor",
                )
            }
            | {"throttlingPolicies": self.api_dto(a).get("policies", []), "isSubscriptionAvailable": True}
            for a in page
        ]
        return 200, {
            "count": len(items),
            "list": items,
            "pagination": {"offset": offset, "limit": limit, "total": len(visible)},
        }

    def _app(self, app_id: str | None) -> dict[str, Any]:
        item = next((a for a in self.data["applications"] if a.get("uuid") == app_id), None)
        if item is None:
            raise Fault(404, 900307, "Application not found", f"Application with id {app_id} not found")
        return item

    def _app_dto(self, item: dict[str, Any]) -> dict[str, Any]:
        extra = item.get("_devportal", {})
        return {
            "applicationId": item["uuid"],
            "name": item["name"],
            "throttlingPolicy": item.get("policy"),
            "description": extra.get("description", ""),
            "tokenType": item.get("tokenType", "JWT"),
            "status": "APPROVED",
            "groups": [],
            "owner": item.get("subName", self.double.username),
            "subscriptionCount": sum(1 for s in self.data["subscriptions"] if s["applicationUUID"] == item["uuid"]),
            "attributes": copy.deepcopy(item.get("attributes", {})),
            "subscriptionScopes": [],
            "hashEnabled": False,
            "createdTime": extra.get("createdTime", "0"),
            "updatedTime": extra.get("createdTime", "0"),
            "visibility": "PRIVATE",
        }

    async def list_applications(self, call: Call) -> tuple[int, Any]:
        """applicationsGet → ApiMgtDAO.getApplicationsWithPagination: the query matches names by
        `LIKE %query%` (a substring), sorted by name."""
        query = (call.query("query") or "").lower()
        limit, offset = int(call.query("limit") or 25), int(call.query("offset") or 0)
        mine = sorted((a for a in self.data["applications"] if query in a["name"].lower()), key=lambda a: a["name"])
        page = mine[offset : offset + limit]
        keys = (
            "applicationId",
            "name",
            "throttlingPolicy",
            "description",
            "status",
            "groups",
            "subscriptionCount",
            "attributes",
            "owner",
            "tokenType",
            "createdTime",
            "updatedTime",
        )
        items = [{k: v for k, v in self._app_dto(a).items() if k in keys} for a in page]
        return 200, {
            "count": len(items),
            "list": items,
            "pagination": {"offset": offset, "limit": limit, "total": len(mine)},
        }

    def _application_tiers(self) -> set[str]:
        """APIM's own application policies and the tenant's."""
        return {"Unlimited", "10PerMin", "20PerMin", "50PerMin"} | {
            p["name"] for p in self.data.get("applicationPolicies", [])
        }

    async def create_application(self, call: Call) -> tuple[int, Any]:
        """applicationsPost: the tokenType sent is not honoured (always JWT); an application name the user already
        has, in any case (SQLConstants.GET_APPLICATION_ID_PREFIX compares LOWER(NAME)), → 409; an unknown
        application tier → 400. APIConsumerImpl.addApplication publishes APPLICATION_CREATE (ApplicationEvent)."""
        body = call.body
        if any(a["name"].lower() == body["name"].lower() for a in self.data["applications"]):
            raise conflict(f"An application already exists with name {body['name']}")
        if body["throttlingPolicy"] not in self._application_tiers():
            raise Fault(400, 900305, "The tier name is invalid.", f"Invalid tier {body['throttlingPolicy']}")
        numeric_id = max((a.get("id", 0) for a in self.data["applications"]), default=0) + 1
        item = {
            "uuid": str(uuid.uuid4()),
            "id": numeric_id,
            "name": body["name"],
            "subName": self.double.username,
            "policy": body["throttlingPolicy"],
            "tokenType": "JWT",
            "groupIds": [],
            "attributes": copy.deepcopy(body.get("attributes") or {}),
            "organization": self.double.tenant,
            "_devportal": {"description": body.get("description", ""), "createdTime": str(_now_ms())},
        }
        self.data["applications"].append(item)
        self._application_event_soon("APPLICATION_CREATE", item)
        return 201, self._app_dto(item)

    def _application_event_soon(self, event_type: str, item: dict[str, Any]) -> None:
        """APIM's ApplicationEvent (impl/notifier/events/ApplicationEvent.java) for the application as now stored."""
        self.double.notify_soon(
            event_type,
            {
                "uuid": item["uuid"],
                "applicationId": item["id"],
                "applicationName": item["name"],
                "tokenType": "JWT",
                "applicationPolicy": item["policy"],
                "groupId": "",
                "attributes": item["attributes"],
                "subscriber": item["subName"],
            },
        )

    async def get_application(self, call: Call) -> tuple[int, Any]:
        return 200, self._app_dto(self._app(call.params["applicationId"]))

    async def reset_throttle_policy(self, call: Call) -> tuple[int, Any]:
        """applicationsApplicationIdResetThrottlePolicyPost (devportal.v1 `impl/ApplicationsApiServiceImpl.java`): the
        user name made tenant-aware (MultitenantUtils.getTenantAwareUsername: `alice@carbon.super` is `alice`), a
        blank one 400 "Username cannot be empty"; APIConsumerImpl.resetApplicationThrottlePolicy takes the
        application (404 where there is none) and publishes POLICY_RESET, an ApplicationPolicyResetEvent: a random
        `uuid`, the application's numeric id as a string, the user, the application's tier and policyType
        APPLICATION, for APIM's traffic manager (ThrottlePolicyJMSMessageListener) and gateways; 200, no body."""
        item, user = self._app(call.params["applicationId"]), (call.body.get("userName") or "").strip()
        suffix = f"@{self.double.tenant}"
        user = user.removesuffix(suffix) if user.endswith(suffix) else user
        if not user:
            raise Fault(400, 400, "Bad Request", "Username cannot be empty")
        event = {"uuid": str(uuid.uuid4()), "appId": str(item["id"]), "userId": user, "appTier": item.get("policy"),
                 "policyType": "APPLICATION"}  # fmt: skip
        self.double.notify_soon("POLICY_RESET", event)
        return 200, None

    async def update_application(self, call: Call) -> tuple[int, Any]:
        """applicationsApplicationIdPut → APIConsumerImpl.updateApplication: the application as sent replaces its
        name, tier, description and attributes (its id and owner are not taken from the body); a name another
        application has, in any case, → 409; a JWT application's token type cannot change, and a tier that is not
        an application policy (validateApplicationPolicy, TIER_NAME_INVALID) is not among the errors the impl maps,
        so both answer 500 "Error while updating application". APPLICATION_UPDATE (ApplicationEvent) is published."""
        item, body = self._app(call.params["applicationId"]), call.body
        if body["name"].lower() != item["name"].lower() and any(
            a["name"].lower() == body["name"].lower() for a in self.data["applications"]
        ):
            raise conflict(f"An application already exists with name {body['name']}")
        if body.get("tokenType", "JWT") != "JWT" or body["throttlingPolicy"] not in self._application_tiers():
            raise Fault(500, 500, "Internal server error", f"Error while updating application {item['uuid']}")
        item.update(name=body["name"], policy=body["throttlingPolicy"],
                    attributes=copy.deepcopy(body.get("attributes") or {}))  # fmt: skip
        item.setdefault("_devportal", {})["description"] = body.get("description", "")
        self._application_event_soon("APPLICATION_UPDATE", item)
        return 200, self._app_dto(item)

    def _sub_dto(self, sub: dict[str, Any]) -> dict[str, Any]:
        api = next((a for a in self.data["apis"] if a["uuid"] == sub["apiUUID"]), None)
        dto = {
            "subscriptionId": sub["subscriptionUUID"],
            "applicationId": sub["applicationUUID"],
            "apiId": sub["apiUUID"],
            "throttlingPolicy": sub["policyId"],
            "status": sub["subscriptionState"],
        }
        # SubscriptionMappingUtil sets the pending tier (TIER_ID_PENDING), which an approved update clears (written
        # as null, as every unset field: wso2_specs.as_written).
        requested = sub.get("_requestedPolicy", sub["policyId"])
        if requested is not None:
            dto["requestedThrottlingPolicy"] = requested
        if api is not None:
            dto["apiInfo"] = {
                "id": api["uuid"],
                "name": api["name"],
                "version": api["version"],
                "context": self.api_dto(api)["context"],
                "lifeCycleStatus": api.get("status"),
            }
        return dto

    async def list_subscriptions(self, call: Call) -> tuple[int, Any]:
        """subscriptionsGet: by applicationId (its subscriptions) or apiId; neither → 400 (SubscriptionsApiServiceImpl
        "Either applicationId or apiId should be available"). `limit` defaults to 25, `offset` to 0
        (RestApiConstants.PAGINATION_LIMIT_DEFAULT). By application, APIM 4.5 pages twice: the DAO keeps the rows
        from `offset` to `limit` - 1 of the application's subscriptions ordered by API name
        (ApiMgtDAO.getPaginatedSubscribedAPIsByApplication, GET_PAGINATED_SUBSCRIBED_APIS_BY_APP_ID_SQL), then
        SubscriptionMappingUtil.fromSubscriptionListToDTO slices that page again from `offset`; so past the first page
        nothing comes back, and only `pagination.total` (getSubscriptionCount) tells how many there are."""
        app_id, api_id = call.query("applicationId"), call.query("apiId")
        limit, offset = int(call.query("limit") or 25), int(call.query("offset") or 0)
        if app_id:
            self._app(app_id)
            names = {a["uuid"]: a["name"] for a in self.data["apis"]}
            subs = sorted((s for s in self.data["subscriptions"] if s["applicationUUID"] == app_id),
                          key=lambda s: names.get(s["apiUUID"], ""))  # fmt: skip
            total, page = len(subs), subs[offset:limit]
        elif api_id:
            subs = [s for s in self.data["subscriptions"] if s["apiUUID"] == api_id]
            total, page = len(subs), subs
        else:
            raise Fault(400, 400, "Bad Request", "Either applicationId or apiId should be available")
        items = [self._sub_dto(s) for s in page[offset : offset + limit]]
        return 200, {
            "count": len(items),
            "list": items,
            "pagination": {"offset": offset, "limit": limit, "total": total},
        }

    async def create_subscription(self, call: Call) -> tuple[int, Any]:
        """subscriptionsPost → APIConsumerImpl.addSubscription: the API must be PUBLISHED or PROTOTYPED, else an
        APIMgtResourceNotFoundException "Subscriptions not allowed on APIs/API Products in the state" (404);
        checkSubscriptionAllowed: the tier must be one the API offers (403 902002 SUBSCRIPTION_TIER_NOT_ALLOWED);
        one subscription per application and API (SubscriptionAlreadyExistingException → 409); approved at once
        (UNBLOCKED) by the default workflow executor; SUBSCRIPTIONS_CREATE is published. `apiId` may be an API
        Product's (SubscriptionsApiServiceImpl.subscriptionsPost: APIConsumer.getAPIorAPIProductByUUID), whose tiers
        are its own `policies`."""
        body = call.body
        app = self._app(body["applicationId"])
        api = self._api_or_product(body.get("apiId"))
        if api.get("status") not in ("PUBLISHED", "PROTOTYPED"):
            state = api.get("status")
            raise Fault(404, 404, "Not Found", f"Subscriptions not allowed on APIs/API Products in the state: {state}")
        self._check_tier_offered(api, body["throttlingPolicy"])
        if any(s["apiUUID"] == api["uuid"] and s["applicationUUID"] == app["uuid"] for s in self.data["subscriptions"]):
            raise conflict(
                f"Specified subscription already exists for API {api['uuid']}, for application {app['uuid']}"
            )
        numeric_id = max((s.get("subscriptionId", 0) for s in self.data["subscriptions"]), default=0) + 1
        sub = {
            "subscriptionId": numeric_id,
            "subscriptionUUID": str(uuid.uuid4()),
            "apiUUID": api["uuid"],
            "apiId": api.get("apiId"),
            "appId": app["id"],
            "applicationUUID": app["uuid"],
            "policyId": body["throttlingPolicy"],
            "subscriptionState": "UNBLOCKED",
            "_requestedPolicy": body.get("requestedThrottlingPolicy", body["throttlingPolicy"]),
        }
        self.double.put_subscription_soon(sub)
        return 201, self._sub_dto(sub)

    def _check_tier_offered(self, api: dict[str, Any], tier: str) -> None:
        """APIConsumerImpl.checkSubscriptionAllowed: the tier must be one the API (or API Product) offers."""
        if tier not in self.api_dto(api).get("policies", []):
            raise Fault(403, 902002, "Subscription Tier is not allowed for user",
                        f"Tier {tier} is not allowed for API {api['name']}")  # fmt: skip

    async def update_subscription(self, call: Call) -> tuple[int, Any]:
        """subscriptionsSubscriptionIdPut → APIConsumerImpl.updateSubscription, a change of tier: the body must carry a
        `status`, and neither it nor the subscription's may be BLOCKED, ON_HOLD or REJECTED (400; an unknown
        subscription id gives the same 400 "Request must contain status", as the impl's null check reads); the
        application must exist (404), the API be PUBLISHED or PROTOTYPED (404) and offer `requestedThrottlingPolicy`
        (checkSubscriptionAllowed). ApiMgtDAO.updateSubscription marks it TIER_UPDATE_PENDING with the requested tier
        pending; the default SubscriptionUpdateSimpleWorkflowExecutor approves at once
        (updateSubscriptionStatusAndTier: the pending tier becomes the tier, none is pending, UNBLOCKED), and
        SUBSCRIPTIONS_UPDATE is published with the new tier. The impl matches the subscription by its id alone, not
        by the body's apiId or applicationId. Answers 200 with the subscription."""
        body = call.body
        sub = next((s for s in self.data["subscriptions"] if s["subscriptionUUID"] == call.params["subscriptionId"]),
                   None)  # fmt: skip
        refused = ("BLOCKED", "ON_HOLD", "REJECTED")
        if body.get("status") is None or sub is None:
            raise Fault(400, 400, "Bad Request", "Request must contain status of the subscription")
        if body["status"] in refused or sub["subscriptionState"] in refused:
            raise Fault(400, 400, "Bad Request", "Cannot update subscriptions with provided or existing status")
        self._app(body["applicationId"])
        api = self._api_or_product(body.get("apiId"))
        if api.get("status") not in ("PUBLISHED", "PROTOTYPED"):
            state = api.get("status")
            raise Fault(404, 404, "Not Found", f"Subscriptions not allowed on APIs/API Products in the state: {state}")
        requested = body.get("requestedThrottlingPolicy")
        self._check_tier_offered(api, requested)
        sub.update(policyId=requested, subscriptionState="UNBLOCKED", _requestedPolicy=None)
        self.double.subscription_changed_soon("SUBSCRIPTIONS_UPDATE", sub)
        return 200, self._sub_dto(sub)

    def _key_dto(self, mapping: dict[str, Any]) -> dict[str, Any]:
        # ApplicationKeyDTO as the devportal spec defines it; that oauth-keys answers carry the consumer secret is
        # assumed, not read from the impl (apim_setup's second run reads the secret from there; with secret
        # hashing on, APIM would not return it).
        return {
            "keyMappingId": mapping["_keyMappingId"],
            "keyManager": mapping["keyManager"],
            "consumerKey": mapping["consumerKey"],
            "consumerSecret": mapping["_consumerSecret"],
            "supportedGrantTypes": list(mapping["_grantTypes"]),
            "callbackUrl": mapping["_callbackUrl"],
            "keyState": "COMPLETED",
            "keyType": mapping["keyType"],
            "mode": "CREATED",
            "groupId": "",
            "additionalProperties": {},
        }

    async def list_keys(self, call: Call) -> tuple[int, Any]:
        app = self._app(call.params["applicationId"])
        keys = [
            self._key_dto(m)
            for m in self.data["applicationKeyMappings"]
            if m["applicationUUID"] == app["uuid"] and "_keyMappingId" in m
        ]
        return 200, {"count": len(keys), "list": keys}

    async def generate_api_key(self, call: Call) -> tuple[int, Any]:
        """applicationsApplicationIdApiKeysKeyTypeGeneratePost: the application (404 900307), the key type PRODUCTION
        or SANDBOX in any case (else 400 "Invalid keyType..."), a `validityPeriod` over 0 (else -1: never expires),
        `permittedIP` / `permittedReferer` from `additionalProperties`; the key APIConsumerImpl.generateApiKey mints
        (ApimDouble.generate_api_key), answered as ApplicationKeyMappingUtil.formApiKeyToDTO: {apikey,
        validityTime}. APIM stores nothing and publishes no event."""
        app = self._app(call.params["applicationId"])
        key_type = call.params["keyType"].upper()
        if key_type not in ("PRODUCTION", "SANDBOX"):
            raise Fault(400, 400, "Bad Request", "Invalid keyType. KeyType should be either PRODUCTION or SANDBOX")
        body = call.body or {}
        validity = body.get("validityPeriod") or 0
        validity = validity if validity > 0 else -1
        restrictions = body.get("additionalProperties") or {}
        key = self.double.generate_api_key(
            app["uuid"], key_type, validity, restrictions.get("permittedIP"), restrictions.get("permittedReferer")
        )
        return 200, {"apikey": key, "validityTime": validity}

    async def generate_keys(self, call: Call) -> tuple[int, Any]:
        """applicationsApplicationIdGenerateKeysPost → APIConsumerImpl.requestApprovalForApplicationRegistration: the
        key manager must exist (404 901411) and be enabled (400 901406); one key pair per key type and key manager
        (409 901409 "Key Mappings already exists"); the key manager's DCR creates the OAuth client (here the double
        mints it, so its client_credentials grant works at the double's token endpoint); APPLICATION_REGISTRATION_
        CREATE is published. The answer carries the consumer secret."""
        app = self._app(call.params["applicationId"])
        body = call.body
        km_name = body.get("keyManager") or RESIDENT_KM
        km = next((k for k in self.data["keyManagers"] if k["name"] == km_name), None)
        if km is None:
            raise Fault(404, 901411, "Key Manager not Found", "Key Manager not found")
        if not km.get("enabled", True):
            raise Fault(400, 901406, "Key Manager is not enabled in the system", f"{km_name} is not enabled")
        if any(
            m["applicationUUID"] == app["uuid"] and m["keyType"] == body["keyType"] and m["keyManager"] == km_name
            for m in self.data["applicationKeyMappings"]
        ):
            raise Fault(409, 901409, "Key Mappings already exists", "Key Mappings already exists")
        consumer_key, consumer_secret = secrets.token_urlsafe(18), secrets.token_urlsafe(24)
        mapping = {
            "applicationUUID": app["uuid"],
            "applicationId": app["id"],
            "consumerKey": consumer_key,
            "keyType": body["keyType"],
            "keyManager": km_name,
            "_keyMappingId": str(uuid.uuid4()),
            "_consumerSecret": consumer_secret,
            "_grantTypes": list(body.get("grantTypesToBeSupported") or ["client_credentials"]),
            "_callbackUrl": body.get("callbackUrl") or "",
        }
        self.data["applicationKeyMappings"].append(mapping)
        self.double.notify_soon(
            "APPLICATION_REGISTRATION_CREATE",
            {
                "applicationId": app["id"],
                "applicationUUID": app["uuid"],
                "consumerKey": consumer_key,
                "keyType": body["keyType"],
                "keyManager": km_name,
            },
        )
        return 200, self._key_dto(mapping)

    # -- DevOps API v0: per-API logging ---------------------------------------------------------------------------

    def _check_logging_permission(self, call: Call) -> None:
        """APILoggingImpl's check (devops.impl `logging/APILoggingImpl.java`): APIUtil.hasPermission(the logged-in
        user, `/permission/protected/configure/logging`), a super tenant permission the admin's role holds (it holds
        `/permission` whole); the double grants it to no other user. Refused: INVALID_PERMISSION."""
        if call.user != self.double.username:
            raise Fault(403, 900915, "Invalid Permission", " You are not authorized to access the resource.")

    def _logged_api(self, call: Call) -> dict[str, Any] | None:
        """APILoggingImpl's first checks, in order: ApiMgtDAO.getAPIInfoByUUID finds the path's `apiId` among the APIs
        and API Products of every organization, or as a revision's id (getRevisionByRevisionUUID: that revision's
        API), else API_NOT_FOUND (404); then `_check_logging_permission`. The AM_API row of that UUID (None for a
        revision's id, which has none)."""
        ident = call.params["apiId"]
        item = next((a for a in self.data["apis"] if a["uuid"] == ident), None)
        if item is None and not any(r["id"] == ident for a in self.data["apis"] for r in a.get("_revisions", [])):
            raise not_found("API", ident)
        self._check_logging_permission(call)
        return item

    def _log_rows(self, organization: str | None, api_id: str | None = None) -> tuple[list[dict], list[dict]]:
        """LoggingMgtDAO's two reads (impl `dao/LoggingMgtDAO.java`, its SQL in `dao/constants/SQLConstants.java`): the
        AM_API rows, each an APILogInfoDTO of `apiId` (API_UUID), `context` (AM_API.CONTEXT: the context with its
        version, the data API's `context`) and `logLevel` (`_logLevel`, else the column's DEFAULT 'OFF'), then the
        AM_API_URL_MAPPING rows of the APIs' own resources (`REVISION_UUID IS NULL`: `_url_mapping_rows`), each with
        `resourceMethod` (HTTP_METHOD), `resourcePath` (URL_PATTERN) and its level (`_resourceLogLevels["VERB
        pattern"]`, else 'OFF'). `organization` None: every organization's (the RETRIEVE_ALL_* queries); `api_id`:
        that API's rows only (the *_BY_UUID queries)."""
        apis = [
            a
            for a in self.data["apis"]
            if (organization is None or a.get("organization", self.double.tenant) == organization)
            and (api_id is None or a["uuid"] == api_id)
        ]
        api_rows = [{"apiId": a["uuid"], "context": a["context"], "logLevel": a.get("_logLevel", "OFF")} for a in apis]
        resource_rows = [
            {"apiId": a["uuid"], "context": a["context"],
             "logLevel": a.get("_resourceLogLevels", {}).get(f"{m['httpMethod']} {m['urlPattern']}", "OFF"),
             "resourceMethod": m["httpMethod"], "resourcePath": m["urlPattern"]}
            for a in apis for m in _url_mapping_rows(a)
        ]  # fmt: skip
        return api_rows, resource_rows

    def api_logging_configs(self) -> dict[str, Any]:
        """The internal data API's `/api-logging-configs` (internal.service `impl/ApiLoggingConfigsApiServiceImpl
        .java` → LoggingMgtDAO.retrieveAllAPILoggerList): of every organization, the API rows and then the resource
        rows whose level is not OFF (RETRIEVE_ALL_PER_API_LOGGING_SQL, RETRIEVE_ALL_PER_API_RESOURCE_LOGGING_SQL:
        `LOG_LEVEL <> 'OFF'`), each an APILoggingConfigDTO of context, logLevel, resourceMethod and resourcePath (an
        API's own row has no method or path: the DTO, which has no @JsonInclude, writes them as null). A gateway
        loads it at start (gateway `APILoggerManager.initializeAPILoggerList`: (context, method, path) → level, the
        method and path null unless both are given) and follows UDATE_API_LOG_LEVEL from then on."""
        api_rows, resource_rows = self._log_rows(None)
        rows = [r for r in api_rows + resource_rows if r["logLevel"] != "OFF"]
        return {"apis": [{k: v for k, v in r.items() if k != "apiId"} for r in rows]}

    async def put_api_log_level(self, call: Call) -> tuple[int, Any]:
        """tenantLogsTenantApisApiIdPut (rest.api.devops `impl/TenantLogsApiServiceImpl.java`): the level checked by
        DevopsAPIUtils.validateLogLevel (OFF, BASIC, STANDARD or FULL in any case, else LOGGING_API_INCORRECT_LOG_LEVEL,
        400), then APILoggingImpl.addUpdateAPILogger with it upper-cased: `_logged_api`; with both resourceMethod and
        resourcePath, the resource must be a row under the tenant's API of that UUID (LoggingMgtDAO
        .checkAPILoggerPerResourceAvailable, CHECK_PER_API_RESOURCE_IS_AVAILABLE_LOGGING_SQL: HTTP_METHOD the method
        upper-cased, URL_PATTERN the path exactly, the revisions' rows as well, as the query does not leave them
        out; else LOGGING_API_RESOURCE_NOT_FOUND, 404) and its level is set (ADD_PER_API_RESOURCE_LOGGING_SQL); with
        neither, the API must be the tenant's (checkIfAPIExists, else LOGGING_API_NOT_FOUND_IN_TENANT, 404) and its
        own level is set (ADD_PER_API_LOGGING_SQL); one without the other: LOGGING_API_MISSING_DATA (400). Then
        UDATE_API_LOG_LEVEL (`_log_level_event`). 200 with the body as sent (IMPL_ANSWERS; the level as written,
        not upper-cased). No body at all: the impl's NullPointerException, the generic 500."""
        body = call.body
        if body is None:
            raise _internal_error()
        if body["logLevel"].upper() not in LOG_LEVELS:
            raise Fault(400, 901401, "Bad Request", "Log level should be either OFF, BASIC, STANDARD or FULL")
        item = self._logged_api(call)
        level, method, path = body["logLevel"].upper(), body.get("resourceMethod"), body.get("resourcePath")
        tenant = call.params["tenant"]
        own = item if item is not None and item.get("organization", self.double.tenant) == tenant else None
        if method is not None and path is not None:
            rows = _url_mapping_rows(own, revisions=True) if own is not None else []
            if not any(m["httpMethod"] == method.upper() and m["urlPattern"] == path for m in rows):
                raise Fault(404, 901403, "Requested Resource Not Found", "Requested API Resource Not Found")
            own.setdefault("_resourceLogLevels", {})[f"{method.upper()} {path}"] = level
        elif method is None and path is None:
            if own is None:
                raise Fault(404, 901404, "Requested API Not Found", "Requested API Not Found")
            own["_logLevel"] = level
        else:
            raise Fault(400, 901402, "Missing data", "API context or log level is missing")
        self._log_level_event(own, level, method, path)
        return 200, body

    def _log_level_event(self, item: dict[str, Any], level: str, method: str | None, path: str | None) -> None:
        """APILoggingImpl.publishLogAPIData: `new APIEvent(uuid, logLevel, "UDATE_API_LOG_LEVEL", ApiMgtDAO
        .getAPIContext(uuid) (AM_API.CONTEXT), resourceMethod, resourcePath)` (impl `notifier/events/APIEvent.java`),
        through ApisNotifier (AbstractNotifier.publishEventToEventHub: Gson). That constructor sets no Event field
        but `type`, so Gson writes no `eventId` or `tenantDomain` (null), `timeStamp` and `tenantId` 0, APIEvent's
        primitive `apiId` 0 and none of its other fields; the method and path as sent (the method not upper-cased,
        unlike the stored row's), absent for the API's own level; the stream's `timestamp` is the event's, 0. A
        gateway puts (apiContext, resourceMethod, resourcePath) → logLevel into its map (gateway
        `listeners/GatewayJMSMessageListener.java` → APILoggerManager.updateLoggerMap), OFF included."""
        event: dict[str, Any] = {"apiId": 0, "uuid": item["uuid"], "apiContext": item["context"], "logLevel": level}
        if method is not None:
            event.update(resourceMethod=method, resourcePath=path)
        event.update(timeStamp=0, type="UDATE_API_LOG_LEVEL", tenantId=0)
        self.double.notify_soon("UDATE_API_LOG_LEVEL", event, whole=True)

    async def get_api_log_levels(self, call: Call) -> tuple[int, Any]:
        """tenantLogsTenantApisApiIdGet → APILoggingImpl.getAPILoggerListByApiId: `_logged_api`, then LoggingMgtDAO
        .retrieveAPILoggerByAPIID: the API's own row in the tenant and its resources' (`_log_rows`); the resources
        whose level outranks the API's are answered instead of the API's row where there are any: FULL always,
        STANDARD over BASIC or OFF, BASIC over OFF (the method's switch). Another tenant's API, or a revision's id:
        no rows. Each row a LoggingApiOutputDTO (DevopsAPIUtils.getLoggingAPIList)."""
        self._logged_api(call)
        api_rows, resource_rows = self._log_rows(call.params["tenant"], call.params["apiId"])
        api_level = api_rows[0]["logLevel"] if api_rows else "OFF"  # no API row, no resource row either
        outranking = [
            r for r in resource_rows
            if r["logLevel"] == "FULL" or LOG_LEVELS.index(r["logLevel"]) > LOG_LEVELS.index(api_level)
        ]  # fmt: skip
        return 200, {"apis": outranking or api_rows}

    async def list_api_log_levels(self, call: Call) -> tuple[int, Any]:
        """tenantLogsTenantApisGet → APILoggingImpl.getAPILoggerList: `_check_logging_permission`, then LoggingMgtDAO
        .retrieveAPILoggerList for the path's tenant: without `log-level`, every API's own row and every resource
        row of its APIs, OFF ones included (RETRIEVE_PER_API_LOGGING_ALL_SQL and RETRIEVE_PER_API_RESOURCE_LOGGING_
        ALL_SQL); with one, in any case, the rows of that level (RETRIEVE_PER_API_{,RESOURCE_}LOGGING_<LEVEL>_SQL);
        any other value, an empty one too, LOGGING_API_INCORRECT_LOG_LEVEL (400). The APIs' rows, then the
        resources'."""
        self._check_logging_permission(call)
        wanted = call.query("log-level")
        if wanted is not None and wanted.upper() not in LOG_LEVELS:
            raise Fault(400, 901401, "Bad Request", "Log level should be either OFF, BASIC, STANDARD or FULL")
        api_rows, resource_rows = self._log_rows(call.params["tenant"])
        return 200, {"apis": [r for r in api_rows + resource_rows if wanted is None or r["logLevel"] == wanted.upper()]}


# -- helpers ---------------------------------------------------------------------------------------------------


def _url_mapping_rows(item: dict[str, Any], revisions: bool = False) -> list[dict[str, Any]]:
    """The AM_API_URL_MAPPING rows under an API's own API_ID: its resources as last saved (REVISION_UUID NULL:
    `_urlMappings`; for an item put in `data` directly, the `urlMappings` it serves) and, with `revisions`, each
    revision's copy. An API Product has none: its resources are rows under its bundled APIs' API_IDs, their
    REVISION_UUID the product's id (ApiMgtDAO.addAPIProductResourceMappings)."""
    if _is_product(item):
        return []
    rows = list(item.get("_urlMappings", item.get("urlMappings", [])))
    if revisions:
        rows += [m for revision in item.get("_revisions", []) for m in revision.get("_urlMappings", [])]
    return rows


def _reset_resource_log_levels(item: dict[str, Any]) -> None:
    """An update of an API (APIProviderImpl.updateAPI → updateAPIResources → ApiMgtDAO.updateURITemplates) deletes
    its own AM_API_URL_MAPPING rows (REMOVE_FROM_URI_TEMPLATES_SQL) and inserts them anew without a LOG_LEVEL
    (addURITemplates, ADD_URL_MAPPING_SQL): every resource's level is back to the column's DEFAULT 'OFF', and no event
    says so. The API's own level (AM_API.LOG_LEVEL) stays."""
    item.pop("_resourceLogLevels", None)


def _path_params(template: str, path: str) -> dict[str, str]:
    names = template.strip("/").split("/")
    values = path.strip("/").split("/")
    return {n[1:-1]: v for n, v in zip(names, values, strict=False) if n.startswith("{")}


def _matches_criterion(dto: dict[str, Any], criterion: str) -> bool:
    # Quoted values match exactly and bare ones as a substring (RegistrySearchUtil.getSingleSearchCriteria);
    # case-insensitivity of the bare match is assumed from the search index, not read from its source.
    key, _, value = criterion.partition(":") if ":" in criterion else ("name", "", criterion)
    field_value = str(dto.get({"status": "lifeCycleStatus"}.get(key, key), ""))
    if len(value) > 1 and value.startswith('"') and value.endswith('"'):
        return field_value == value[1:-1]
    return value.strip("*").lower() in field_value.lower()


def _local_scopes(body: dict[str, Any]) -> list[dict[str, Any]]:
    """An APIDTO's local scopes (`shared` false) as the tenant keeps them (ScopesDAO.addScopes: the key, display
    name, description, and the role bindings joined) and the data API's /scopes serves them."""
    out = []
    for entry in body.get("scopes") or []:
        scope = entry.get("scope") if isinstance(entry, dict) and not entry.get("shared") else None
        if isinstance(scope, dict) and scope.get("name"):
            name = scope["name"]
            roles = list(scope.get("bindings") or [])
            described = {"displayName": scope.get("displayName") or name, "description": scope.get("description") or ""}
            out.append({"name": name, **described, "roles": roles})
    return out


def _url_mappings(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations as the internal data API serves an API's URL mappings. Their policies as
    APIProviderImpl.validateAndUpdateURITemplates stores them: the API's own policy on every resource where it has
    one, else the operation's, else the tenant's default (APIUtil.getDefaultAPILevelPolicy: Unlimited, as APIM is
    configured out of the box)."""
    auth = {"None": "None", "Application": "Application", "Application User": "Application_User"}
    return [
        {
            "httpMethod": op["verb"],
            "urlPattern": op["target"],
            "scopes": list(op.get("scopes", [])),
            "throttlingPolicy": body.get("apiThrottlingPolicy") or op.get("throttlingPolicy") or "Unlimited",
            "authScheme": auth.get(op.get("authType", ""), "Any"),
        }
        for op in body.get("operations", [])
    ]


def _swagger(body: dict[str, Any], existing: str | None = None) -> str:
    """The OpenAPI 3 definition APIM keeps for an API, reduced to its paths, operations and scopes: generated for an
    API created without one (OAS3Parser.generateAPIDefinition(SwaggerData)), or, on an update, `existing` brought
    to the body's resources (generateAPIDefinition(SwaggerData, String)): an operation the body keeps keeps what the
    definition says of it (its parameters, request body, responses) with APIM's managed fields written again
    (updateOperationManagedInfo: `x-auth-type`, `x-throttling-tier`, the `default` requirement's scopes), one it
    drops goes, a new one is created (createOperation: its path parameters, strings, and a 200 response), and the
    paths follow the body's order (preserveResourcePathOrderFromAPI). The `default` OAuth2 scheme carries the
    API's scopes and their role bindings (updateSwaggerSecurityDefinition, setScopesToOAuthFlow)."""
    document = json.loads(existing) if existing else {"openapi": "3.0.1", "servers": [{"url": "/"}]}
    old_paths = document.get("paths") or {}
    paths: dict[str, dict[str, Any]] = {}
    for op in body.get("operations", []):
        target, verb = op["target"], op["verb"].lower()
        kept = (old_paths.get(target) or {}).get(verb)
        operation = dict(kept) if isinstance(kept, dict) else {
            **({"parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                               for name in re.findall(r"{([^}]+)}", target)]} if "{" in target else {}),
            "responses": {"200": {"description": "OK"}}}  # fmt: skip
        others = [r for r in operation.get("security") or [] if isinstance(r, dict) and "default" not in r]
        auth = _X_AUTH_TYPES.get(op.get("authType") or "", "Application & Application User")
        operation.update(
            security=[*others, {"default": list(op.get("scopes", []))}],
            **{"x-auth-type": auth, "x-throttling-tier": op.get("throttlingPolicy") or "Unlimited"},
        )
        if target not in paths:  # the path's own fields (its `parameters`) kept, its operations as the body says
            old = old_paths.get(target) if isinstance(old_paths.get(target), dict) else {}
            paths[target] = {k: v for k, v in old.items() if k not in HTTP_METHODS}
        paths[target][verb] = operation
    scopes = _local_scopes(body)
    flow: dict[str, Any] = {"authorizationUrl": "https://test.com",  # OAS3Parser.OPENAPI_DEFAULT_AUTHORIZATION_URL
                            "scopes": {s["name"]: s["description"] for s in scopes}}  # fmt: skip
    if scopes:
        flow["x-scopes-bindings"] = {s["name"]: ",".join(s["roles"]) for s in scopes}
    schemes = dict((document.get("components") or {}).get("securitySchemes") or {})
    schemes["default"] = {"type": "oauth2", "flows": {"implicit": flow}}
    document.setdefault("security", [{"default": []}])
    info = {**(document.get("info") or {}), "title": body["name"], "version": body["version"]}
    components = {**(document.get("components") or {}), "securitySchemes": schemes}
    document.update(info=info, paths=paths, components=components)
    return json.dumps(document)


# updateOperationManagedInfo: the auth type APIM writes as `x-auth-type` for an operation's `authType`.
_X_AUTH_TYPES = {"Application User": "Application User", "Application": "Application", "None": "None"}


def _definition_resources(definition: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What PUT /apis/{apiId}/swagger takes from a definition (PublisherCommonUtils.prepareForUpdateSwagger): its
    operations (OAS3Parser.getURITemplates: the scopes of the `default` requirement, else of `OAuth2Security`; the
    auth type of `x-auth-type`, else Any; the policy of `x-throttling-tier`, which OASParserUtil.preProcess renames
    `x-wso2-throttling-tier` to) and the API's scopes (getScopes: the `default` scheme's implicit flow, its role
    bindings in `x-scopes-bindings`), as APIDTO entries. An operation naming a scope the definition does not declare
    is APIManagementException "Scope '<name>' not found." (ValueError here)."""
    flows = ((((definition.get("components") or {}).get("securitySchemes") or {}).get("default") or {})
             .get("flows") or {})  # fmt: skip
    implicit = flows.get("implicit") or {}
    bindings = implicit.get("x-scopes-bindings") or {}
    scopes = [{"shared": False, "scope": {"name": name, "displayName": name, "description": description or "",
                                          "bindings": [r for r in str(bindings.get(name) or "").split(",") if r]}}
              for name, description in (implicit.get("scopes") or {}).items()]  # fmt: skip
    declared = {entry["scope"]["name"] for entry in scopes}
    operations = []
    for path, methods in (definition.get("paths") or {}).items():
        for verb, operation in methods.items():
            if verb not in HTTP_METHODS or not isinstance(operation, dict):  # path-level `parameters`, ...
                continue
            requirements = [r for r in operation.get("security") or [] if isinstance(r, dict)]
            named = next((r[k] for k in ("default", "OAuth2Security") for r in requirements if r.get(k)), [])
            for name in named:
                if name and name not in declared:
                    raise ValueError(f"Scope '{name}' not found.")
            tiers = [operation.get(k) for k in ("x-throttling-tier", "x-wso2-throttling-tier")]
            auth = str(operation.get("x-auth-type") or "Any")
            operations.append({"target": path, "verb": verb.upper(), "scopes": [n for n in named if n],
                               "throttlingPolicy": next((t for t in tiers if t), None),
                               "authType": "Application & Application User" if auth == "Any" else auth})  # fmt: skip
    return operations, scopes


# RestApiConstants: the scopes that may change a published or deprecated API (ApisApiServiceImpl
# .validateAPIOperationsPerLC; without one of them: 403 API_UPDATE_FORBIDDEN_PER_LC).
LIFECYCLE_UPDATE_SCOPES = frozenset({"apim:api_publish", "apim:api_import_export", "apim:api_manage", "apim:admin"})


def _check_key_type(key_type: str) -> None:
    """ApisApiServiceImpl.validateKeyType: PRODUCTION or SANDBOX, in any case (RestApiUtil.handleBadRequest)."""
    if key_type.upper() not in KEY_TYPES:
        raise Fault(400, 400, "Bad Request", "The key type is invalid. It should be either PRODUCTION or SANDBOX")


def _uploaded_certificates(content: bytes) -> list[x509.Certificate]:
    """The certificates of an uploaded file as Java's CertificateFactory reads them in CertificateMgtUtils
    .validateCertificate (one after another, PEM or DER); ValueError when it reads none."""
    if content.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificates(content)
    return [x509.load_der_x509_certificate(content)]


def _check_update_permitted(call: Call, item: dict[str, Any]) -> None:
    if item.get("status") in ("PUBLISHED", "DEPRECATED") and not (
        call.token and LIFECYCLE_UPDATE_SCOPES.intersection(call.token.scopes)
    ):
        raise Fault(403, 900380, "Insufficient permission to update the API",
                    f"Updating the API is restricted as as it is {item['status']}.")  # fmt: skip


def _set_api_policy(item: dict[str, Any], body: dict[str, Any]) -> None:
    """The data API's `policy` of an API or an API Product: the body's apiThrottlingPolicy (AM_API.API_TIER), none
    without one."""
    item.pop("policy", None)
    if body.get("apiThrottlingPolicy"):
        item["policy"] = body["apiThrottlingPolicy"]


def security_scheme(item: dict[str, Any]) -> str:
    """An API's security scheme as APIM stores it (`APIProvider.getSecuritySchemeOfAPI`): the Publisher's list,
    comma-separated; for an item put in `data` directly, its own `securityScheme`; `oauth2` when neither says."""
    scheme = item["_publisher"].get("securityScheme") if "_publisher" in item else item.get("securityScheme")
    if isinstance(scheme, str):
        return scheme
    return ",".join(scheme or ["oauth2"])


def default_cors_configuration() -> dict[str, Any]:
    """A new API's or API Product's CORS configuration when its DTO has none (carbon-apimgt `impl/utils/APIUtil.java`
    getDefaultCorsConfiguration: disabled, credentials false, the global origins, headers and methods copied in), as
    APIMappingUtil.fromAPItoDTO writes it."""
    return {"corsConfigurationEnabled": False, "accessControlAllowOrigins": list(CORS_ALLOW_ORIGINS),
            "accessControlAllowCredentials": False, "accessControlAllowHeaders": list(CORS_ALLOW_HEADERS),
            "accessControlAllowMethods": list(CORS_ALLOW_METHODS)}  # fmt: skip


def _set_cors_and_headers(body: dict[str, Any], creating: bool) -> None:
    """The CORS fields of an APIDTO or APIProductDTO as the Publisher stores them. APIMappingUtil.fromDTOtoAPI /
    fromDTOtoAPIProduct (on creation and on every update): the DTO's corsConfiguration (APICorsConfigurationDTO: a
    field left out takes the DTO's default, false or []), or default_cors_configuration() without one; apiKeyHeader
    API_KEY_HEADER_DEFAULT without one. On creation only (PublisherCommonUtils.prepareToCreateAPIByDTO /
    addAPIProductWithGeneratedSwaggerDefinition), authorizationHeader AUTHORIZATION_HEADER_DEFAULT without one (the
    double's APIM configures no `apim.oauth_config.auth_header`)."""
    sent = body.get("corsConfiguration")
    if sent is None:
        body["corsConfiguration"] = default_cors_configuration()
    else:
        lists = ("accessControlAllowOrigins", "accessControlAllowHeaders", "accessControlAllowMethods")
        body["corsConfiguration"] = {
            "corsConfigurationEnabled": bool(sent.get("corsConfigurationEnabled", False)),
            **{key: list(sent.get(key) or []) for key in lists},
            "accessControlAllowCredentials": bool(sent.get("accessControlAllowCredentials", False)),
        }
    if body.get("apiKeyHeader") is None:
        body["apiKeyHeader"] = API_KEY_HEADER_DEFAULT
    if creating and body.get("authorizationHeader") is None:
        body["authorizationHeader"] = AUTHORIZATION_HEADER_DEFAULT


def _set_max_tps(body: dict[str, Any]) -> None:
    """An APIDTO's backend throughput as the Publisher stores and answers it (APIMappingUtil
    .setMaxTpsFromApiDTOToModel on every save, setMaxTpsFromModelToApiDTO on every answer): each time unit the DTO
    leaves out is SECOND (APIMaxTpsDTO's default, publisher-api.yaml `APIMaxTps`), so both are answered; without a
    production or sandbox count the API has none, and no `maxTps` is answered. The token-based configuration of AI
    APIs is not kept (the double serves no AI API)."""
    sent = body.pop("maxTps", None)
    if not isinstance(sent, dict) or (sent.get("production") is None and sent.get("sandbox") is None):
        return
    body["maxTps"] = {**{k: sent[k] for k in ("production", "sandbox") if sent.get(k) is not None},
                      "productionTimeUnit": sent.get("productionTimeUnit") or "SECOND",
                      "sandboxTimeUnit": sent.get("sandboxTimeUnit") or "SECOND"}  # fmt: skip


def _deployed_fields(dto: dict[str, Any]) -> dict[str, Any]:
    """A deployed revision's DTO fields of CORS, schema validation, backend throughput, key managers and its
    operation policies (the API's, and each operation's by "VERB target"), as the item keeps them for its runtime
    artifact (harness/apim_double.py `_api_project_file`)."""
    return {
        "_enableSchemaValidation": dto.get("enableSchemaValidation") is True,
        "_maxTps": copy.deepcopy(dto.get("maxTps")),
        # APIMappingUtil.fromDTOtoAPI: an API saved without key managers takes every one (`all`).
        "_keyManagers": list(dto.get("keyManagers") or ["all"]),
        "_securityScheme": copy.deepcopy(dto.get("securityScheme")),
        # APIMappingUtil.fromDTOtoAPI: audiences sent empty are stored as `all`; none sent, none.
        "_audiences": (list(dto["audiences"]) or ["all"]) if isinstance(dto.get("audiences"), list) else None,
        "_corsConfiguration": copy.deepcopy(dto.get("corsConfiguration")),
        "_authorizationHeader": dto.get("authorizationHeader"),
        "_apiKeyHeader": dto.get("apiKeyHeader"),
        "_apiPolicies": copy.deepcopy(dto.get("apiPolicies") or {}),
        "_operationPolicies": {
            f"{op['verb']} {op['target']}": copy.deepcopy(op["operationPolicies"])
            for op in dto.get("operations", [])
            if op.get("operationPolicies")
        },
    }


def _policy_data_dto(policy_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A common policy as OperationPolicyMappingUtil.fromOperationPolicyDataToDTO answers it: its specification's
    fields, its id, isAPISpecific false, each attribute as fromOperationPolicySpecAttributesToDTO writes it
    (allowedValues for an Enum only; defaultValue a String in OperationPolicySpecAttribute, so the shipped JSON's
    false or 500 reads as Gson reads them into one, "false", "500"). No md5: APIM hashes the policy's gateway
    definitions (APIUtil.getHashOfOperationPolicy), which the double does not ship."""
    keys = ("name", "version", "displayName", "description", "applicableFlows", "supportedGateways",
            "supportedApiTypes", "category")  # fmt: skip
    attribute_keys = ("name", "displayName", "description", "type", "validationRegex", "required")
    attributes = []
    for attribute in spec.get("policyAttributes") or []:
        dto = {k: attribute[k] for k in attribute_keys if k in attribute}
        if "defaultValue" in attribute:
            dto["defaultValue"] = json.dumps(attribute["defaultValue"]).strip('"')
        if attribute.get("type") == "Enum":
            dto["allowedValues"] = attribute.get("allowedValues", [])
        attributes.append(dto)
    return {"id": policy_id, "isAPISpecific": False, **{k: spec[k] for k in keys if k in spec},
            "policyAttributes": attributes}  # fmt: skip


def _check_applied_policy(spec: dict[str, Any], policy: dict[str, Any], flow: str, api_type: str) -> None:
    """APIProviderImpl.validateAppliedPolicyWithSpecification: the flow must be one of the policy's applicableFlows
    and the API's type one of its supportedApiTypes (902008, whose description is ExceptionCodes' unformatted
    template: the exception is given the code, not ExceptionCodes.from(...)); each REQUIRED attribute must be in
    the parameters (902009, unformatted likewise) and, where it has a validationRegex, a string the whole of which
    matches it, compiled CASE_INSENSITIVE (903212, naming the attribute). Attributes not required are not checked.
    GlobalThrowableMapper answers each as RestApiUtil.getErrorDTO of the code."""
    supported = [t if isinstance(t, str) else t.get("apiType") for t in spec.get("supportedApiTypes", [])]
    if flow not in spec.get("applicableFlows", []) or api_type not in supported:
        raise Fault(400, 902008, "API policy is not allowed in the applied flow",
                    "%s policy is not allowed in response flow")  # fmt: skip
    parameters = policy.get("parameters") or {}
    for attribute in spec.get("policyAttributes") or []:
        if not attribute.get("required"):
            continue
        value = parameters.get(attribute["name"])
        if value is None:
            missing = "Required attributes(s) %s for api policy specification %s are either missing or empty"
            raise Fault(400, 902009, "Missing mandatory api policy attribute", missing)
        regex = attribute.get("validationRegex")
        if regex is not None and not (isinstance(value, str) and re.fullmatch(regex, value, re.IGNORECASE)):
            raise Fault(400, 903212, "Invalid operation policy parameters",
                        f"Invalid value provided for the operation policy parameter {attribute['name']}")  # fmt: skip


def _with_revision_policy_ids(dto: dict[str, Any]) -> dict[str, Any]:
    """A copy of an API's DTO for a revision, its operation policies under the revision's clones of them
    (ApiMgtDAO.revisionAPIPolicies → handlePolicyCloningWhenRevisioning: a new id for each policy id, the same
    for a policy applied twice)."""
    snapshot = copy.deepcopy(dto)
    revision_ids: dict[str, str] = {}
    holders = [snapshot.get("apiPolicies")] + [op.get("operationPolicies") for op in snapshot.get("operations", [])]
    for holder in filter(None, holders):
        for policy in (p for flow in POLICY_FLOWS for p in holder.get(flow, [])):
            policy["policyId"] = revision_ids.setdefault(policy["policyId"], str(uuid.uuid4()))
    return snapshot


def deployed_dto_fields(item: dict[str, Any]) -> dict[str, Any]:
    """The CORS fields of an item's deployed DTO (its `_corsConfiguration`, `_authorizationHeader`, `_apiKeyHeader`),
    as APIMappingUtil.fromAPItoDTO / fromAPIProducttoDTO write them: corsConfiguration always (the default where the
    item has none, e.g. one put in `data` directly), a header name only where there is one (Gson and Jackson leave
    a null out); `enableSchemaValidation` (its `_enableSchemaValidation`), which both always write
    (`dto.setEnableSchemaValidation(model.isEnabledSchemaValidation())`, a primitive boolean: false unless set); and
    an API's `maxTps` (its `_maxTps`) where it has one (setMaxTpsFromModelToApiDTO)."""
    fields: dict[str, Any] = {"corsConfiguration": copy.deepcopy(item.get("_corsConfiguration")),
                              "enableSchemaValidation": bool(item.get("_enableSchemaValidation", False))}  # fmt: skip
    if fields["corsConfiguration"] is None:
        fields["corsConfiguration"] = default_cors_configuration()
    for key in ("authorizationHeader", "apiKeyHeader", "maxTps"):  # maxTps: an API's where it has one (_set_max_tps)
        if item.get(f"_{key}") is not None:
            fields[key] = copy.deepcopy(item[f"_{key}"])
    return fields


def _graphql_root_fields(document: graphql.language.DocumentNode) -> list[tuple[str, str]]:
    """(verb, field) of each root field of a schema, as GraphQLSchemaDefinition.extractGraphQLOperationList finds
    them: the object types the schema definition names for its operations (the verb the operation's name
    upper-cased), else the types named Query, Mutation and Subscription (case ignored)."""
    types = {d.name.value: d for d in document.definitions if isinstance(d, graphql.language.ObjectTypeDefinitionNode)}
    schemas = [d for d in document.definitions if isinstance(d, graphql.language.SchemaDefinitionNode)]
    if schemas:
        roots = [(t.operation.value.upper(), t.type.name.value) for t in schemas[0].operation_types]
    else:
        roots = [(name.upper(), name) for name in types if name.lower() in ("query", "mutation", "subscription")]
    return [(verb, f.name.value) for verb, name in roots for f in (types[name].fields or []) if name in types]


def _is_product(item: dict[str, Any]) -> bool:
    return item.get("apiType") == "APIProduct"


def _api_event(item: dict[str, Any]) -> dict[str, Any]:
    """An APIEvent's own fields (carbon-apimgt `impl/notifier/events/APIEvent.java`)."""
    return {
        "apiId": item.get("apiId"),
        "uuid": item["uuid"],
        "apiName": item["name"],
        "apiVersion": item["version"],
        "apiContext": item["context"],
        "apiProvider": item.get("provider"),
        "apiType": item.get("apiType", "HTTP"),
        "apiStatus": item.get("status"),
        "securityScheme": security_scheme(item),
        "apiVisibility": item.get("_publisher", {}).get("visibility", "PUBLIC"),
    }


def _without_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """KeyManagerMappingUtil hides the connector's secret properties in answers; the double never keeps them."""
    out = copy.deepcopy(body)
    props = out.get("additionalProperties")
    if isinstance(props, dict):
        for key in list(props):
            if "password" in key.lower() or "secret" in key.lower():
                props.pop(key)
    return out


def _check_policy_name(name: str) -> None:
    """RestApiAdminUtils.validateThrottlePolicyNameProperty, before a policy is added: blank → 900705, a character
    outside [A-Za-z0-9_] → 900706."""
    if not name.strip():
        raise Fault(400, 900705, "Blank value for required property",
                    "policyName property value of payload cannot be blank")  # fmt: skip
    if re.search(r"[^A-Za-z0-9_]", name):
        raise Fault(400, 900706, "contain invalid characters",
                    "policyName property value of payload cannot contain invalid characters")  # fmt: skip


def _policy_uuid(item: dict[str, Any]) -> str:
    """The UUID the admin API names a subscription or application policy by (the tables' UUID column); the seeded
    ones get a stable stand-in."""
    return item.get("_admin", {}).get("policyId", f"policy-{item.get('id', item['name'])}")


def _set_common_fields(item: dict[str, Any], body: dict[str, Any], **admin: Any) -> None:
    """CommonThrottleMappingUtil.updateFieldsFromDTOToPolicy (display name and description as sent), stored by the
    DAO's insert (setCommonParametersForPolicy) or update, where an empty display name becomes the policy's name;
    `admin`: the kind's other fields the data API does not serve (a seeded policy gets them on its first update)."""
    stored = item.setdefault("_admin", {})
    stored.update(displayName=body.get("displayName") or item["name"], description=body.get("description", ""),
                  **admin)  # fmt: skip


def _set_subscription(item: dict[str, Any], body: dict[str, Any]) -> None:
    """A SubscriptionThrottlePolicy DTO into a data API item, as SubscriptionThrottlePolicyMappingUtil
    .fromSubscriptionThrottlePolicyDTOToModel maps it and ApiMgtDAO.addSubscriptionPolicy/updateSubscriptionPolicy
    store it: the limit by CommonThrottleMappingUtil.fromDTOToQuotaPolicy (a bandwidth limit's dataAmount and
    dataUnit kept as sent, QUOTA and QUOTA_UNIT), stopOnQuotaReach as sent (the DTO's default false); burst control
    (rateLimitCount, rateLimitTimeUnit) as sent, except for an AI API quota, whose model keeps the int's 0 and a null
    unit. A null unit (no burst control) is left unset; the answer writes it as null (wso2_specs.as_written)."""
    default_limit = _data_limit(body["defaultLimit"])
    ai_quota = body["defaultLimit"]["type"] == "AIAPIQUOTALIMIT"
    item.update(quotaType=default_limit["quotaType"], defaultLimit=default_limit,
                stopOnQuotaReach=body.get("stopOnQuotaReach", False),
                rateLimitCount=0 if ai_quota else body.get("rateLimitCount", 0),
                graphQLMaxDepth=0 if ai_quota else body.get("graphQLMaxDepth", 0),
                graphQLMaxComplexity=0 if ai_quota else body.get("graphQLMaxComplexity", 0))  # fmt: skip
    item.pop("rateLimitTimeUnit", None)
    if not ai_quota and body.get("rateLimitTimeUnit") is not None:
        item["rateLimitTimeUnit"] = body["rateLimitTimeUnit"]
    _set_common_fields(item, body, billingPlan=body.get("billingPlan"),
                       subscriberCount=0 if ai_quota else body.get("subscriberCount", 0))  # fmt: skip


def _set_application(item: dict[str, Any], body: dict[str, Any]) -> None:
    """An ApplicationThrottlePolicy DTO into a data API item, as ApplicationThrottlePolicyMappingUtil
    .fromApplicationThrottlePolicyDTOToModel maps it and ApiMgtDAO.addApplicationPolicy/updateApplicationPolicy
    store it: the limit by CommonThrottleMappingUtil.fromDTOToQuotaPolicy; the burstLimit only with a count above 0
    and a unit, otherwise the model's 0 and null, which the DAO writes too (a burst left out is removed). The data
    API serves it as `burstLimit` (fromApplicationPolicyToApplicationPolicyListDTO), a null unit left unset and
    written as null (wso2_specs.as_written)."""
    default_limit = _data_limit(body["defaultLimit"])
    sent = body.get("burstLimit") or {}
    burst = {"rateLimitCount": 0}
    if (sent.get("rateLimitCount") or 0) > 0 and sent.get("rateLimitTimeUnit") is not None:
        burst = {"rateLimitCount": sent["rateLimitCount"], "rateLimitTimeUnit": sent["rateLimitTimeUnit"]}
    item.update(quotaType=default_limit["quotaType"], defaultLimit=default_limit, burstLimit=burst)
    _set_common_fields(item, body)


def _policy_event(item: dict[str, Any], policy_type: str, burst: dict[str, Any], **own: Any) -> dict[str, Any]:
    """What a SubscriptionPolicyEvent and an ApplicationPolicyEvent share (carbon-apimgt `impl/notifier/events/`):
    the policy's numeric id (APIProviderImpl.addPolicy/updatePolicy read it back), name, quota type and burst
    control (`burst`: where the item keeps it), and no limit (a consumer reads it from the data API); `own`: the
    kind's other fields. AbstractNotifier's Gson leaves a null burst unit out."""
    event = {"policyId": item["id"], "policyName": item["name"], "quotaType": item["quotaType"],
             "rateLimitCount": burst.get("rateLimitCount", 0), **own, "policyType": policy_type}  # fmt: skip
    if burst.get("rateLimitTimeUnit") is not None:
        event["rateLimitTimeUnit"] = burst["rateLimitTimeUnit"]
    return event


def _subscription_policy_event(item: dict[str, Any]) -> dict[str, Any]:
    """SubscriptionPolicyEvent (`SubscriptionPolicyEvent.java`): its own fields besides the shared ones."""
    return _policy_event(item, "SUBSCRIPTION", item, subscriberCount=item.get("_admin", {}).get("subscriberCount", 0),
                         stopOnQuotaReach=item.get("stopOnQuotaReach", False),
                         graphQLMaxDepth=item.get("graphQLMaxDepth", 0),
                         graphQLMaxComplexity=item.get("graphQLMaxComplexity", 0))  # fmt: skip


def _application_policy_event(item: dict[str, Any]) -> dict[str, Any]:
    """ApplicationPolicyEvent (`ApplicationPolicyEvent.java`): only the shared fields, policyType APPLICATION."""
    return _policy_event(item, "APPLICATION", item["burstLimit"])


def _throttle_policy_dto(item: dict[str, Any], policy_type: str) -> dict[str, Any]:
    """The fields every admin ThrottlePolicy DTO shares: CommonThrottleMappingUtil.updateFieldsFromToPolicyToDTO
    (policyId the UUID, displayName, isDeployed, description, policyName), the kind's `type` and the limit as
    fromQuotaPolicyToDTO maps the stored one (a bandwidth limit as `bandwidth` {dataAmount, dataUnit, timeUnit,
    unitTime}). isDeployed is the stored flag, false for every policy the double holds: APIM stores its
    request-count default tiers and default application and advanced policies with setDeployed(false)
    (APIUtil.addDefaultTenantAdvancedThrottlePolicies), a policy created through this API keeps Policy's default
    false (the mapping utils never set it), and only tests call ApiMgtDAO.setPolicyDeploymentStatus; APIM's
    event-count and AI-quota default tiers, stored deployed, are not seeded here."""
    admin = item.get("_admin", {})
    return {
        "policyId": _policy_uuid(item),
        "policyName": item["name"],
        "displayName": admin.get("displayName", item["name"]),
        "description": admin.get("description", ""),
        "isDeployed": False,
        "type": policy_type,
        "defaultLimit": _admin_limit(item["defaultLimit"]),
    }


def _admin_policy(item: dict[str, Any]) -> dict[str, Any]:
    """A subscription policy as the Admin API shows it (admin.v1 `SubscriptionThrottlePolicyMappingUtil
    .fromSubscriptionThrottlePolicyToDTO`); a null burst unit, which the spec refuses, is left unset and written
    as null (wso2_specs.as_written)."""
    admin = item.get("_admin", {})
    dto = {
        **_throttle_policy_dto(item, "SubscriptionThrottlePolicy"),
        "rateLimitCount": item.get("rateLimitCount", 0),
        "stopOnQuotaReach": item.get("stopOnQuotaReach", False),
        "billingPlan": admin.get("billingPlan", "FREE"),  # APIM's own tiers: APIConstants.BILLING_PLAN_FREE
        "customAttributes": [],
        "graphQLMaxComplexity": item.get("graphQLMaxComplexity", 0),
        "graphQLMaxDepth": item.get("graphQLMaxDepth", 0),
        "subscriberCount": admin.get("subscriberCount", 0),
    }
    if item.get("rateLimitTimeUnit") is not None:
        dto["rateLimitTimeUnit"] = item["rateLimitTimeUnit"]
    if dto["billingPlan"] is None:  # an update without one stores null (updateSubscriptionPolicy)
        del dto["billingPlan"]
    return dto


def _application_policy_dto(item: dict[str, Any]) -> dict[str, Any]:
    """An application policy as the Admin API shows it (admin.v1 `ApplicationThrottlePolicyMappingUtil
    .fromApplicationThrottlePolicyToDTO`): a burstLimit always, its count 0 without burst control (its null unit,
    which the spec refuses, left unset as in the data API's item, and written as null)."""
    return {**_throttle_policy_dto(item, "ApplicationThrottlePolicy"),
            "burstLimit": copy.deepcopy(item.get("burstLimit") or {"rateLimitCount": 0})}  # fmt: skip


_QUOTA_TYPES = {  # PolicyConstants: the admin API's limit type → the quota type stored and served
    "REQUESTCOUNTLIMIT": ("requestCount", "requestCount"),
    "BANDWIDTHLIMIT": ("bandwidthVolume", "bandwidth"),
    "EVENTCOUNTLIMIT": ("eventCount", "eventCount"),
    "AIAPIQUOTALIMIT": ("aiApiQuota", "aiApiQuota"),
}
# CommonThrottleMappingUtil.fromDTOToCondition: a condition type, the sub-object it needs, its model type (the data
# API's conditionType); IP conditions by their ipConditionType.
_CONDITIONS = {
    "HEADERCONDITION": ("headerCondition", "Header", "headerName", "headerValue"),
    "QUERYPARAMETERCONDITION": ("queryParameterCondition", "QueryParameterType", "parameterName", "parameterValue"),
    "JWTCLAIMSCONDITION": ("jwtClaimsCondition", "JWTClaims", "claimUrl", "attribute"),
}
# ApiMgtDAO.getConditions reads a group's conditions back table by table: IP, header, query parameter, JWT claim.
_CONDITION_ORDER = ("IPSpecific", "IPRange", "Header", "QueryParameterType", "JWTClaims")


def _without_none(dto: dict[str, Any]) -> dict[str, Any]:
    """A DTO without its null fields, which the double leaves out (`wso2_specs.as_written` writes them null, as
    Jackson does): the spec's schemas declare none nullable."""
    return {key: value for key, value in dto.items() if value is not None}


def _internal_error() -> Fault:
    """handleInternalServerError (an UnsupportedThrottle*TypeException or an NPE in the mapping): the generic 500."""
    return Fault(500, 500, "Internal server error",
                 "The server encountered an internal error. Please contact administrator.")  # fmt: skip


def _data_limit(limit: dict[str, Any]) -> dict[str, Any]:
    """A ThrottleLimit DTO as the data API serves a policy's limit (SubscriptionValidationDataUtil)."""
    if limit["type"] not in _QUOTA_TYPES:
        raise _internal_error()
    quota, field_name = _QUOTA_TYPES[limit["type"]]
    return {"quotaType": quota, field_name: copy.deepcopy(limit.get(field_name) or {})}


def _data_condition(condition: dict[str, Any]) -> dict[str, Any]:
    """A ThrottleCondition DTO as the data API serves it (ApiMgtDAO.createConditionGroupDTO): name and value of
    the header, parameter or claim; an IPSpecific's name is the literal "IPSpecific", an IPRange's the two ends."""
    kind = condition["type"]
    inverted = bool(condition.get("invertCondition", False))
    if kind == "IPCONDITION":
        ip = condition.get("ipCondition")
        if ip is None or ip.get("ipConditionType") not in ("IPSPECIFIC", "IPRANGE"):
            raise _internal_error()
        if ip["ipConditionType"] == "IPSPECIFIC":
            return {"conditionType": "IPSpecific", "name": "IPSpecific", "value": ip.get("specificIP"),
                    "isInverted": inverted}  # fmt: skip
        return {"conditionType": "IPRange", "name": ip.get("startingIP"), "value": ip.get("endingIP"),
                "isInverted": inverted}  # fmt: skip
    sub, model, name, value = _CONDITIONS[kind]
    if condition.get(sub) is None:
        raise _internal_error()
    return {"conditionType": model, "name": condition[sub][name], "value": condition[sub][value],
            "isInverted": inverted}  # fmt: skip


def _admin_limit(limit: dict[str, Any]) -> dict[str, Any]:
    """CommonThrottleMappingUtil.fromQuotaPolicyToDTO (the sibling fields left unset: written as null)."""
    admin_type = next(t for t, (quota, _) in _QUOTA_TYPES.items() if quota == limit["quotaType"])
    field_name = _QUOTA_TYPES[admin_type][1]
    return {"type": admin_type, field_name: copy.deepcopy(limit[field_name])}


def _admin_condition(condition: dict[str, Any]) -> dict[str, Any]:
    kind, inverted = condition["conditionType"], condition["isInverted"]
    if kind in ("IPSpecific", "IPRange"):
        ip = (
            {"ipConditionType": "IPSPECIFIC", "specificIP": condition["value"]}
            if kind == "IPSpecific"
            else {"ipConditionType": "IPRANGE", "startingIP": condition["name"], "endingIP": condition["value"]}
        )
        return {"type": "IPCONDITION", "invertCondition": inverted, "ipCondition": ip}  # fmt: skip
    admin_type, (sub, _, name, value) = next((t, c) for t, c in _CONDITIONS.items() if c[1] == kind)
    return {"type": admin_type, "invertCondition": inverted,
            sub: {name: condition["name"], value: condition["value"]}}  # fmt: skip


def _advanced_dto(item: dict[str, Any], info: bool = False) -> dict[str, Any]:
    """AdvancedThrottlePolicyMappingUtil.fromAdvancedPolicyToDTO (or ...ToInfoDTO)."""
    dto = _throttle_policy_dto(item, "AdvancedThrottlePolicyInfo" if info else "AdvancedThrottlePolicy")
    if not info:
        descriptions = item.get("_admin", {}).get("groupDescriptions", [])
        groups = []
        for i, g in enumerate(item.get("conditionGroups", [])):
            ordered = sorted(g["condition"], key=lambda c: _CONDITION_ORDER.index(c["conditionType"]))
            group = {"limit": _admin_limit(g["defaultLimit"]), "conditions": [_admin_condition(c) for c in ordered]}
            if i < len(descriptions) and descriptions[i] is not None:  # a null is written by as_written
                group["description"] = descriptions[i]
            groups.append(group)
        dto["conditionalGroups"] = groups
    return dto


def answer_schema(api: str, template: str, method: str, status: int) -> dict[str, Any] | None:
    """The schema of an answer of the product APIs: an error's is `Error`, a success's the operation's answer for
    its status, unless IMPL_ANSWERS records that the implementation answers otherwise; None: no JSON body."""
    if status >= 400:
        return {"$ref": "#/components/schemas/Error"}
    if (api, template, method, status) in IMPL_ANSWERS:
        return IMPL_ANSWERS[(api, template, method, status)]
    return wso2_specs.response_schema(api, template, method, status)


def validate_served(api: str, template: str, method: str, status: int, body: Any) -> None:
    """An answer of the product APIs, as the double decided it (before `wso2_specs.as_written`), against its
    schema."""
    wso2_specs.validate_response(api, template, method, status, body, answer_schema(api, template, method, status))


def _mask_endpoint_credentials(dto: dict[str, Any]) -> None:
    """The Publisher's APIDTO hides the endpoints' credentials: carbon-apimgt 9.31.86 APIMappingUtil.fromAPItoDTO
    (preserveCredentials false) → handleEndpointSecurity blanks each endpoint's `password` and `apiKeyValue` where it
    has one, and an OAuth endpoint's `clientSecret`, unless the tenant config's EnableEndpointSecurityPasswordExpose
    (checkEndpointSecurityPasswordEnabled; off by default) says otherwise. A runtime artifact keeps them (exported
    with preserveCredentials: apim_double._api_project_file)."""
    security = (dto.get("endpointConfig") or {}).get("endpoint_security")
    for endpoint in (security or {}).values():
        if not isinstance(endpoint, dict):
            continue
        if str(endpoint.get("type", "")).upper() == "OAUTH":
            endpoint["clientSecret"] = ""
        for key in ("password", "apiKeyValue"):
            if endpoint.get(key) is not None:
                endpoint[key] = ""
