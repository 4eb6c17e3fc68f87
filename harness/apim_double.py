"""A test double of WSO2 API Manager 4.5 for the adapter's `wso2` control plane, the mesh sync controller and the
`apim_setup` role: APIM cannot run here.

- The internal data API (`/internal/data/v1`, reference/wso2/specs/internal-data-api.yaml) as carbon-apimgt
  9.31.86 serves it (components/apimgt/org.wso2.carbon.apimgt.internal.service/.../impl/*ApiServiceImpl.java):
  HTTPS with a test CA, HTTP Basic, the required `xWSO2Tenant` header, list answers `{count, list}` with no
  `pagination` (the impls never set it), search conditions only where the impl honours them (see `LISTS`),
  `/keymanagers` a bare array, `/revokedjwt` its three lists, `/block` the enabled blocking conditions,
  `/api-logging-configs` every organization's per-API logging levels but OFF ones, as the DevOps API set them
  (apim_rest.ProductApis.api_logging_configs; no tenant header needed), and answers over 1 KiB gzipped as CXF's
  GZIP feature does. Every answer is kept in `responses` so that tests validate each one against the spec's
  definitions.
- The user store's SOAP admin service `APIKeyMgtRemoteUserStoreMgtService` (POST /services/...), its one operation
  the gateway calls for HTTP Basic credentials, `getUserAuthenticationInfo`, answered from `data["users"]` (see
  `_user_store`); `user_store_calls` counts the calls.
- The event hub: events published to `amq.topic` on a real AMQP broker as APIM 4.5 publishes them, after the data
  changed, as APIM publishes after its database commit (each quirk cites the carbon-apimgt 9.31.86 file it mirrors
  at the method that publishes it): the topic names APIM uses (`notification`, `tokenRevocation`, `keyManager`,
  `throttleData`), the event publisher's JSON mapping `{"event": {"payloadData": {...}}}`, a notification's
  `timestamp` attribute and base64 Gson event body with its own `timeStamp`, no publisher confirms (Andes has none).

- The product REST APIs on the same server (DCR, /oauth2/token, Admin v4, Publisher v4, DevPortal v3, DevOps v0): see
  harness/apim_rest.py. They change the same `data` the internal data API serves and publish the events APIM
  publishes. `admin_credentials` and `admin_token()` give tests the admin's access; `fresh_data()` is a new APIM's
  catalog (default tiers and the Resident Key Manager).

Runs its own event loop in a thread, so that synchronous tests and adapter processes can both use it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime
import io
import ipaddress
import itertools
import json
import re
import ssl
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import jwt
import pika
import requests
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from apim_adapter.http_client import basic_authorization

from . import oidc, wso2_specs
from .api_keys import ApiKeySigner
from .apim_rest import (
    DCR_PATH,
    GATEWAY_ENVIRONMENTS,
    JWKS_PATH,
    POLICY_FLOWS,
    RESIDENT_KM,
    TOKEN_PATH,
    Fault,
    ProductApis,
    deployed_dto_fields,
    security_scheme,
)
from .processes import free_port
from .sample_catalog import APPS, KM, catalog_document

BASE_PATH = "/internal/data/v1"
# APIConstants.KeyManager.UUID_REGEX: the format of the Resident Key Manager's opaque tokens
UUID_REGEX = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
# endpoint → (catalog key, spec definition of the answer, search conditions → item fields, the conditions the
# impl needs before it filters at all: without them it answers the whole list).
LISTS = {
    # ApisApiServiceImpl: apiId/context/version only together with gatewayLabel; without it every API, one row per
    # gateway environment it is deployed to.
    "apis": (
        "apis",
        "APIList",
        {"apiId": ("uuid", "apiId"), "context": ("context",), "version": ("version",)},
        ("gatewayLabel",),
    ),
    "applications": ("applications", "ApplicationList", {"appId": ("id",)}, ()),  # ApplicationsApiServiceImpl
    # SubscriptionsApiServiceImpl: a filter only when both UUIDs are given; otherwise the organisation's list.
    "subscriptions": (
        "subscriptions",
        "SubscriptionList",
        {"apiUUID": ("apiUUID",), "applicationUUID": ("applicationUUID",)},
        ("apiUUID", "applicationUUID"),
    ),
    # ApplicationKeyMappingsApiServiceImpl: consumerKey selects one mapping (with keymanager when given).
    "application-key-mappings": (
        "applicationKeyMappings",
        "ApplicationKeyMappingList",
        {"consumerKey": ("consumerKey",), "keymanager": ("keyManager",)},
        ("consumerKey",),
    ),
    # *PoliciesApiServiceImpl: policyName selects one policy of the tenant.
    "subscription-policies": ("subscriptionPolicies", "SubscriptionPolicyList", {"policyName": ("name",)}, ()),
    "application-policies": ("applicationPolicies", "ApplicationPolicyList", {"policyName": ("name",)}, ()),
    "api-policies": ("apiPolicies", "ApiPolicyList", {"policyName": ("name",)}, ()),
    "global-policies": ("globalPolicies", "GlobalPolicyList", {"policyName": ("name",)}, ()),  # custom policies
    # ScopesApiServiceImpl: scopeKey selects the one scope of the tenant (ScopesDAO.getScope), or none.
    "scopes": ("scopes", "ScopesList", {"scopeKey": ("name",)}, ()),
}
SPEC_OF = {
    "keymanagers": "KeyManager[]",
    "revokedjwt": "RevokedEvents",
    "block": "BlockConditions",
    "api-logging-configs": "APILoggingConfigList",
    **{k: v[1] for k, v in LISTS.items()},
}


def _with_security_scheme(api: dict[str, Any], single: bool) -> dict[str, Any]:
    """An API as the data API describes it: its `securityScheme` (APIProvider.getSecuritySchemeOfAPI, the
    comma-separated string the Publisher's list is stored as) only in a single API's answer
    (SubscriptionValidationDataUtil.fromAPIToAPIListDTO) or for a WebSocket API in a list (fromAPItoDTO: "The
    security schema is necessary only for the websocket APIs")."""
    if not single and api.get("apiType") != "WS":
        return {k: v for k, v in api.items() if k != "securityScheme"}
    return {**api, "securityScheme": security_scheme(api)}


def data_api_schema(endpoint: str, status: int) -> dict[str, Any]:
    """The internal data API's schema of an answer (Swagger 2.0 `#/definitions`): `Error` for a failure, else the
    endpoint's definition (SPEC_OF; `X[]` a bare array of X)."""
    definition = SPEC_OF[endpoint] if status == 200 else "Error"
    schema: dict[str, Any] = {"$ref": f"#/definitions/{definition.removesuffix('[]')}"}
    return {"type": "array", "items": schema} if definition.endswith("[]") else schema


GZIP_OVER = 1024  # bytes: CXF's GZIPOutInterceptor threshold, as APIM's internal service enables it
REVOKED_LISTS = ("revokedJWTList", "revokedJWTConsumerKeyList", "revokedJWTSubjectEntityList")
BLOCK_LISTS = ("api", "application", "ip", "user", "custom", "subscription")  # BlockConditionsDTO
TENANT_ID = -1234  # carbon.super
# APIKeyMgtRemoteUserStoreMgtService (carbon-apimgt impl `META-INF/services.xml`, keymgt.stub
# `APIKeyMgtRemoteUserStoreMgtService.wsdl`): its path, the SOAP 1.1 envelope, the service's schema namespace
# (elementFormDefaultQualified) and that of BasicAuthValidationInfoDTO's fields.
USER_STORE_PATH = "/services/APIKeyMgtRemoteUserStoreMgtService"
SOAP_11 = "http://schemas.xmlsoap.org/soap/envelope/"
AXIS2_XSD = "http://org.apache.axis2/xsd"
DTO_XSD = "http://dto.impl.apimgt.carbon.wso2.org/xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
EVERYONE_ROLE = "Internal/everyone"  # every user holds it (the user core's everyone role)
_event_ids = itertools.count(1)


@dataclass(frozen=True)
class TestCa:
    ca: Path
    cert: Path
    key: Path


def make_test_ca(directory: Path, hostnames: tuple[str, ...] = ("localhost",), rsa_key: bool = False) -> TestCa:
    """A CA and a server certificate for 127.0.0.1 (and hostnames), written as PEM files. `rsa_key`: an RSA server
    key, for servers that read no EC keys from PEM (Qpid Broker-J's `NonJavaKeyStore`)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "istio-apim test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), *(x509.DNSName(h) for h in hostnames)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = TestCa(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    out.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return out


@dataclass
class Served:
    """One answer of the double, for validation against the spec."""

    endpoint: str
    status: int
    body: Any
    gzipped: bool = False
    # A product REST API answer: (api, path template, method) of its operation in tests/wso2_specs; None for the
    # internal data API (validated against internal-data-api.yaml by SPEC_OF) and for DCR and the token endpoint.
    operation: tuple[str, str, str] | None = None


def _matches(item: dict[str, Any], fields: tuple[str, ...], wanted: str) -> bool:
    return any(field in item and str(item[field]) == wanted for field in fields)


class ApimDouble:
    """The internal data API and event hub publisher of one APIM; `data` holds the catalog-shaped lists."""

    def __init__(
        self,
        data: dict[str, Any],
        tls: TestCa | None = None,
        username: str = "admin",
        password: str = "admin-secret",  # noqa: S107 - the double's own test credentials
        tenant: str = "carbon.super",
        amqp_url: str | None = None,
        gateway_environments: dict[str, tuple[str, ...]] | None = None,
    ):
        """`gateway_environments`: name → vhost hosts, as deployment.toml configures them (default: the
        all-in-one's, apim_rest.GATEWAY_ENVIRONMENTS)."""
        self.data = copy.deepcopy(data)
        self.gateway_environments = dict(gateway_environments or GATEWAY_ENVIRONMENTS)
        self.data.setdefault("keyManagers", [])
        for key in REVOKED_LISTS:
            self.data.setdefault(key, [])
        self.data.setdefault("blockConditions", [])  # rows of AM_BLOCK_CONDITIONS: {id, type, value, enabled}
        for key, *_ in LISTS.values():
            self.data.setdefault(key, [])
        # The user store: {"username" (tenant-aware, as stored), "password", "roles", optional "domain"}.
        self.data.setdefault("users", [])
        self.tls, self.username, self.password, self.tenant = tls, username, password, tenant
        self.amqp_url = amqp_url
        self.up = True
        self.responses: list[Served] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.nothing_deployed_as_404 = False
        # API UUIDs whose stored revision artifact cannot be read: generating a runtime artifact that holds one fails.
        self.unreadable_artifacts: set[str] = set()
        # A gateway policy's stored template cannot be rendered: generating the gateway policy artifacts fails.
        self.unreadable_gateway_policies = False
        self.user_store_calls = 0  # getUserAuthenticationInfo calls, admitted or not: tests assert caching by it
        self.user_store_failing = False  # the user store throws: getUserAuthenticationInfo answers a fault
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._amqp: pika.BlockingConnection | None = None
        self._amqp_lock = threading.Lock()
        # Events the product REST APIs caused, in order, as (topic, event type, payload): kept whether or not a
        # broker is attached; published to it (off the loop, in order) when there is one.
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self._publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="apim-double-events")
        self.products = ProductApis(self)
        # APIM's API key signing key (its primary keystore's) and certificate, under the default API key alias.
        self.api_key_signer = ApiKeySigner()

    @property
    def url(self) -> str:
        """The one server: the internal data API, DCR, /oauth2/token and the product REST APIs under
        /api/am/{publisher/v4,devportal/v3,admin/v4}."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def resident_issuer(self) -> str:
        """The Resident Key Manager's issuer, and the `iss` of APIM's API keys: APIM's OIDC issuer identifier,
        `[oauth.oidc] id_token.issuer` (identity.xml's IDTokenIssuerID), by default this server's `/oauth2/token`."""
        return self.url + TOKEN_PATH

    def key_managers(self) -> list[dict[str, Any]]:
        """`/keymanagers` (internal.service KeymanagersApiServiceImpl → APIAdminImpl
        .getKeyManagerConfigurationsByOrganization): the tenant's key managers, the Resident Key Manager moved last
        with the properties APIUtil.getAndSetDefaultKeyManagerConfiguration gives it at each read: APIM's OAuth
        endpoints (always), and where the stored row has none of its own, the issuer and JWKS endpoint of APIM's
        OIDC discovery (`/oauth2/token/.well-known/openid-configuration`), JWKS certificates, self-validated JWTs
        and the server's defaults (`claim_mappings`, default-claim-mapping.json, is left out: nothing reads it).
        The deployment.toml keys named below are those of carbon-apimgt's api-manager.xml.j2 (defaults in
        org.wso2.carbon.apimgt.core.default.json) and, for `[oauth...]`, of WSO2's identity.xml documentation."""
        stored = copy.deepcopy(self.data["keyManagers"])
        residents = [km for km in stored if km.get("name") == RESIDENT_KM]
        for km in residents:
            server = self.url
            defaults = {
                "grant_types": ["password", "client_credentials"],  # what this server's /oauth2/token grants
                "enable_token_hash": False,  # [oauth] hash_tokens_and_secrets, off by default
                "enable_oauth_app_creation": True,
                "enable_map_oauth_consumer_apps": False,  # [apim.devportal] enable_key_provisioning, off
                "enable_token_generation": True,
                "VALIDITY_PERIOD": "3600",  # [oauth.token_validation] app_access_token_validity
                "validation_enable": True,
                "self_validate_jwt": True,
                "issuer": self.resident_issuer,
                "certificate_type": "JWKS",
                "certificate_value": server + JWKS_PATH,
            }
            endpoints = {
                "ServerURL": server + "/services/",  # [apim.key_manager] service_url
                "OAuthConfigurations.EncryptPersistedTokens": False,
                "RevokeURL": server + "/oauth2/revoke",
                "TokenURL": server + TOKEN_PATH,
                "token_endpoint": server + TOKEN_PATH,
                "revoke_endpoint": server + "/oauth2/revoke",
            }
            km["additionalProperties"] = {**defaults, **km.get("additionalProperties", {}), **endpoints}
        return [km for km in stored if km.get("name") != RESIDENT_KM] + residents

    def resident_token(self, consumer_key: str, scope: str = "", **claims: Any) -> str:
        """A JWT access token of the Resident Key Manager for an application's consumer key, as APIM's OAuth
        component issues one (the claims of identity-inbound-auth-oauth's JWTTokenIssuer, oidc.claims), signed with
        APIM's primary keystore key, which its JWKS endpoint serves."""
        signer = self.api_key_signer.key_manager_key
        return signer.sign(oidc.claims(self.resident_issuer, consumer_key, scope, **claims))

    @property
    def admin_credentials(self) -> tuple[str, str]:
        """The admin user's name and password: Basic credentials of the internal data API and of DCR, and the
        resource owner of the password grant at /oauth2/token."""
        return self.username, self.password

    def data_api(self, endpoint: str, **params: str) -> requests.Response:
        """GET an internal data API endpoint (`apis`, `api-policies`, ...) as the adapter and APIM's gateways call
        it: the admin's Basic credentials and the tenant header; the caller judges the answer."""
        with requests.Session() as session:
            session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
            return session.get(f"{self.url}{BASE_PATH}/{endpoint}", params=params, auth=self.admin_credentials,
                               headers={"xWSO2Tenant": self.tenant}, verify=str(self.tls.ca) if self.tls else True,
                               timeout=10)  # fmt: skip

    def set_log_level(self, api_id: str, level: str, method: str | None = None, path: str | None = None) -> None:
        """An operator's per-API logging level for an API, or one of its resources, through the DevOps API with the
        admin's Basic credentials (as the API's own curl samples call it); asserts APIM took it."""
        body = {"logLevel": level, **({"resourceMethod": method, "resourcePath": path} if method else {})}
        with requests.Session() as session:
            session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
            answer = session.put(f"{self.url}/api/am/devops/v0/tenant-logs/{self.tenant}/apis/{api_id}", json=body,
                                 auth=self.admin_credentials, verify=str(self.tls.ca) if self.tls else True,
                                 timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text

    def register_client(self, name: str, grant_types: str) -> tuple[str, str]:
        """A client registered by DCR with the admin's credentials for `grant_types` (space-separated), as an operator
        registers one: its id and secret."""
        body = {"clientName": name, "owner": self.username, "grantType": grant_types, "saasApp": True}
        with requests.Session() as session:
            session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
            answer = session.post(f"{self.url}{DCR_PATH}", json=body, auth=self.admin_credentials,
                                  verify=str(self.tls.ca) if self.tls else True, timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()["clientId"], answer.json()["clientSecret"]

    def admin_token(self, scopes: str = "apim:api_view apim:api_create apim:api_manage apim:api_publish") -> str:
        """An opaque access token of the admin user with `scopes` (space-separated), as DCR plus a password grant
        would give; for tests that call the product APIs directly."""
        return self.call(self._token, scopes)

    async def _token(self, scopes: str) -> str:
        return self.products.token_for(scopes)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> ApimDouble:
        self._thread.start()
        self.call(self._start)
        return self

    def stop(self) -> None:
        self.call(self._stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def call(self, coro_fn: Callable[..., Any], *args: Any, timeout: float = 15) -> Any:
        """Run a coroutine function on the double's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self._loop).result(timeout)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get(BASE_PATH + "/{endpoint}", self._handle)
        app.router.add_post(USER_STORE_PATH, self._user_store)
        self.products.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = None
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.tls.cert, self.tls.key)
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=context).start()

    async def _stop(self) -> None:
        with self._amqp_lock:
            if self._amqp is not None and self._amqp.is_open:
                self._amqp.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._publisher.shutdown(wait=True)

    # -- the internal data API ---------------------------------------------------------------------------

    def _answer(self, endpoint: str, status: int, body: Any) -> web.Response:
        written = wso2_specs.as_written(wso2_specs.spec("internal-data"), data_api_schema(endpoint, status), body)
        response = web.json_response(written, status=status)
        gzipped = response.body is not None and len(response.body) > GZIP_OVER
        if gzipped:
            response.enable_compression(web.ContentCoding.gzip)
        self.responses.append(Served(endpoint, status, body, gzipped))
        return response

    def _error(self, endpoint: str, status: int, message: str) -> web.Response:
        return self._answer(endpoint, status, {"code": status, "message": message})

    async def _handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        self.requests.append((endpoint, dict(request.query)))
        expected = basic_authorization(self.username, self.password)
        if request.headers.get("Authorization") != expected:
            # carbon-apimgt internal.service WEB-INF/beans.xml: BasicAuthenticationInterceptor throws CXF's
            # AuthenticationException ("Unauthenticated request"), which GlobalThrowableMapper answers with 401.
            return self._error(endpoint, 401, "Unauthenticated")
        if not self.up:
            return self._error(endpoint, 503, "APIM is unavailable")
        if endpoint == "api-logging-configs":
            # Every organization's rows, whatever the tenant: the spec declares no xWSO2Tenant for it, and the impl
            # reads none (ApiLoggingConfigsApiServiceImpl; the gateway sends carbon.super, APILoggerManager).
            return self._answer(endpoint, 200, self.products.api_logging_configs())
        if request.headers.get("xWSO2Tenant") != self.tenant:
            return self._error(endpoint, 400, "xWSO2Tenant header missing or unknown")
        if endpoint == "keymanagers":
            return self._answer(endpoint, 200, self.key_managers())
        if endpoint == "revokedjwt":  # RevokedjwtApiServiceImpl → BlockConditionDBUtil.getRevokedJWTEvents
            return self._answer(endpoint, 200, {key: copy.deepcopy(self.data[key]) for key in REVOKED_LISTS})
        if endpoint == "block":  # BlockApiServiceImpl → BlockConditionDBUtil.getBlockConditions
            return self._answer(endpoint, 200, self._block_conditions())
        if endpoint == "runtime-artifacts":
            return self._runtime_artifacts(request)
        if endpoint == "gateway-policy-artifacts":
            return self._gateway_policy_artifacts(request)
        if endpoint not in LISTS:
            return self._error(endpoint, 404, f"no such resource: {endpoint}")
        key, _, conditions, needed = LISTS[endpoint]
        items = self.data.setdefault(key, [])  # a list a test's data leaves out: none of them
        if all(request.query.get(q) for q in needed):
            items = [
                item
                for item in items
                if all(
                    _matches(item, fields, request.query[q]) for q, fields in conditions.items() if q in request.query
                )
            ]
        if endpoint == "apis":
            label = request.query.get("gatewayLabel")
            items = [
                item
                for item in items
                for environment in item.get("_gatewayLabels", ["Default"])
                if label is None or environment == label
            ]
            # ApisApiServiceImpl.apisGet: one API (fromAPIToAPIListDTO) for a label with apiId, or with context and
            # version; any other query is the list (fromAPIListToAPIListDTO).
            query = request.query
            single = bool(label) and bool(query.get("apiId") or (query.get("context") and query.get("version")))
            items = [_with_security_scheme(item, single) for item in items]
        items = [{k: v for k, v in item.items() if not k.startswith("_")} for item in items]
        return self._answer(endpoint, 200, {"count": len(items), "list": copy.deepcopy(items)})

    def _gateway_policy_artifacts(self, request: web.Request) -> web.Response:
        """GatewayPolicyArtifactsApiServiceImpl → GatewayPolicyArtifactGeneratorUtil.generateRuntimeArtifact, for
        `gatewayLabel` (Base64 of `|`-joined labels, decoded by commons-codec, which reads either alphabet): the
        mappings deployed to those labels (`gatewayPolicyMappings[]._gatewayLabels`), each a GatewayPolicyDTO as
        SynapseArtifactGenerator.generateGatewayPolicyArtifact writes it with Gson, `{count, list}` of those JSON
        strings (SynapseArtifactListDTO): one sequence per flow that has a rendered policy, named `WSO2AMGW--Ext` +
        `--In`, `--Out`, `--Fault` (retrieveGatewayPolicySequence), each policy's Synapse template rendered with its
        parameters in turn (`_rendered_policy`) inside product-apim v4.5.0's `templates/gateway_policy_template.j2`
        (SynapsePolicyAggregator.generateGatewayPolicySequenceForPolicyMapping). `type` Envoy has no gateway policy
        artifact (MicroGatewayArtifactGenerator answers null): a bare 404, as for no organization; any other type is
        GATEWAY_TYPE_NOT_FOUND (404, 900903). With
        `unreadable_gateway_policies`, rendering fails (SynapsePolicyAggregator's IOException, rethrown as
        APIManagementException by SynapseArtifactGenerator.retrieveGatewayPolicySequence): the internal service's
        generic 500."""
        kind = request.query.get("type")
        if kind == "Envoy":
            return web.Response(status=404)
        if kind != "Synapse":
            return _fault(Fault(404, 900903, "Gateway type not found"))
        if self.unreadable_gateway_policies:
            return _fault(Fault(500, 500, "Internal server error", "Error while rendering gateway policies"))
        encoded = request.query.get("gatewayLabel", "")
        try:
            labels = set(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode().split("|"))
        except ValueError:
            labels = set()
        sequence_of = {
            "request": "WSO2AMGW--Ext--In",
            "response": "WSO2AMGW--Ext--Out",
            "fault": "WSO2AMGW--Ext--Fault",
        }
        artifacts = []
        for mapping in self.data.get("gatewayPolicyMappings", []):
            if not labels & set(mapping["_gatewayLabels"]):
                continue
            sequences = []
            for flow, policies in mapping["policyMapping"].items():
                rendered = [text for text in map(_rendered_policy, policies) if text]
                if rendered:  # generateGatewayPolicySequenceForPolicyMapping: "" (no sequence) when none rendered
                    name = sequence_of[flow]
                    content = f'<sequence xmlns="{SYNAPSE_NAMESPACE}" name="{name}">{"".join(rendered)}</sequence>'
                    sequences.append({"name": name, "content": content})
            artifacts.append(json.dumps({"gatewayPolicySequenceToBeAdded": sequences, "tenantDomain": self.tenant}))
        return web.json_response({"count": len(artifacts), "list": artifacts})

    def _runtime_artifacts(self, request: web.Request) -> web.Response:
        """RetrieveRuntimeArtifactsApiServiceImpl → RuntimeArtifactGeneratorUtil.generateRuntimeArtifact: the
        revisions deployed to the labels (`gatewayLabel` is Base64 of `|`-joined labels; plain text matches
        nothing), of one API (`apiId`) or all, as `apis.zip`; nothing deployed is 200 `{"count": 0, "list": []}`. An
        API's artifact comes from its `_endpointConfig`, `_revision`, `_deployedClientCertificates`,
        `_corsConfiguration`, `_authorizationHeader`, `_apiKeyHeader`, `_apiPolicies` and `_operationPolicies`
        (`_api_project_file`; `_gatewayLabels` as for /apis), its per-environment overrides from `_envProperties`
        (environment → configs); an API Product's project (`apiType` APIProduct) from its `_bundledApis`
        (`_write_product_project`), an MCP server's (`apiType` MCP) as an API's with `mcp_server.json`. An API in
        `unreadable_artifacts` fails the whole answer:
        MicroGatewayArtifactGenerator.generateGatewayArtifact rethrows an IOException as APIManagementException
        ("Error while Generating API artifact"), which the internal service answers 500. A `type` with no artifact
        generator is APIManagementException GATEWAY_TYPE_NOT_FOUND: 404, code 900903 (RuntimeArtifactGeneratorUtil,
        ExceptionCodes). Other carbon-apimgt lines answer nothing deployed with NO_API_ARTIFACT_FOUND (404, 900910)
        instead of the empty list: `nothing_deployed_as_404` plays them."""
        if request.query.get("type") != "Envoy":
            return _fault(Fault(404, 900903, "Gateway type not found"))
        try:
            labels = set(base64.b64decode(request.query.get("gatewayLabel", ""), validate=True).decode().split("|"))
        except ValueError:
            labels = set()
        api_id = request.query.get("apiId")
        deployments, files = [], {}
        for api in self.data["apis"]:
            environments = [label for label in api.get("_gatewayLabels", ["Default"]) if label in labels]
            if not environments or (api_id and api["uuid"] != api_id):
                continue
            if api["uuid"] in self.unreadable_artifacts:
                return _fault(Fault(500, 500, "Internal server error", "Error while Generating API artifact"))
            api_file = f"{api['uuid']}-{api.get('_revision', 'revision-1')}.zip"
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as z:
                if api.get("apiType") == "APIProduct":
                    self._write_product_project(z, api)
                else:  # ExportUtils.addAPIMetaInformationToArchive: an MCP server's as `mcp_server`
                    kind = "mcp_server" if api.get("apiType") == "MCP" else "api"
                    z.writestr(f"{api['name']}-{api['version']}/{kind}.json", json.dumps(_api_project_file(api, kind)))
                root = f"{api['name']}-{api['version']}"
                if api.get("apiType") == "GRAPHQL":
                    # ExportUtils.addAPIMetaInformationToArchive (carbon-apimgt 9.31.86, l.1042-1061): a GraphQL API's
                    # schema as stored, Definitions/schema.graphql, no swagger; its complexity values where it has some.
                    if api.get("_deployedGraphQLSchema") is not None:
                        z.writestr(f"{root}/Definitions/schema.graphql", api["_deployedGraphQLSchema"])
                    if api.get("_deployedGraphQLComplexity"):
                        complexity = {"type": "graphql-complexity", "version": "v4.5.0",
                                      "data": {"list": api["_deployedGraphQLComplexity"]}}  # fmt: skip
                        z.writestr(f"{root}/Definitions/graphql-complexity.json", json.dumps(complexity))
                elif api.get("_deployedSwagger") is not None:
                    # ExportUtils.addAPIMetaInformationToArchive: the revision's definition
                    # (RestApiCommonUtil.retrieveSwaggerDefinition), as JSON: Definitions/swagger.json.
                    z.writestr(f"{root}/Definitions/swagger.json", api["_deployedSwagger"])
                _write_client_certificates(z, api, self.username)
            files[api_file] = inner.getvalue()
            envs = [{"name": e, "vhost": "localhost", "type": "hybrid", "deployedTimeStamp": 0} for e in environments]
            deployments.append({"apiFile": api_file, "environments": envs})
        if not deployments:
            if self.nothing_deployed_as_404:
                return _fault(Fault(404, 900910, "No Api artifacts found for given criteria"))
            return web.json_response({"count": 0, "list": []})  # a zip otherwise: not kept in `responses`
        outer = io.BytesIO()
        with zipfile.ZipFile(outer, "w") as z:
            z.writestr("deployments.json", json.dumps({"type": "deployments", "data": {"deployments": deployments}}))
            # MicroGatewayArtifactGenerator: the map under `apis`, API uuid → environment → {envId, envName, configs}.
            env_properties = {
                api["uuid"]: {env: {"envId": env, "envName": env, "configs": configs}
                              for env, configs in api.get("_envProperties", {}).items()}
                for api in self.data["apis"] if api.get("_envProperties")
            }  # fmt: skip
            z.writestr("env_properties.json", json.dumps({"type": "env_properties", "apis": env_properties}))
            for name, body in files.items():
                z.writestr(name, body)
        return web.Response(body=outer.getvalue(), content_type="application/zip")

    def _write_product_project(self, project: zipfile.ZipFile, product: dict[str, Any]) -> None:
        """An API Product's revision as ExportUtils.exportApiProduct writes it: `<Name>-<version>/api_product.json`
        (addAPIProductMetaInformationToArchive: CommonUtil.writeDtoToFile, type `api_product`, the APIProductDTO
        with `apis`, each bundled API's ProductAPIDTO: name, apiId, version and the operations taken from it), and
        each bundled API's own project under `APIs/` (addDependentAPIsToArchive). `_bundledApis` names the bundled
        APIs by uuid; an API's operations here are those of the product's URL mappings it also has."""
        root = f"{product['name']}-{product['version']}"
        taken = {(m["httpMethod"], m["urlPattern"]) for m in product.get("urlMappings", [])}
        bundled = [a for a in self.data["apis"] if a["uuid"] in product.get("_bundledApis", [])]
        own = product.get("_operationPolicies", {})
        flows = {"request": [], "response": [], "fault": []}
        apis = [{"name": a["name"], "apiId": a["uuid"], "version": a["version"],
                 "operations": [{"target": m["urlPattern"], "verb": m["httpMethod"],
                                 "operationPolicies": {**flows, **own.get(f"{m['httpMethod']} {m['urlPattern']}", {})}}
                                for m in a.get("urlMappings", []) if (m["httpMethod"], m["urlPattern"]) in taken]}
                for a in bundled]  # fmt: skip
        dto = {**_api_project_file(product)["data"], "apis": apis}
        # An APIProductDTO has no endpoint of its own (each bundled API's project has one), and neither `operations`
        # nor `apiPolicies`: its operations, with their policies, are its ProductAPIDTOs' (APIMappingUtil
        # .fromAPIProducttoDTO, getOperationFromURITemplate, which writes all three flows, an empty one as an empty
        # list: OperationPolicyMappingUtil.fromOperationPolicyListToDTO). `_operationPolicies` ("VERB target" → the
        # operation's).
        for key in ("endpointConfig", "operations", "apiPolicies"):
            dto.pop(key, None)
        project.writestr(f"{root}/api_product.json", json.dumps({"type": "api_product", "data": dto}))
        for api in bundled:
            project.writestr(f"{root}/APIs/{api['name']}-{api['version']}/api.json", json.dumps(_api_project_file(api)))

    # -- the user store's admin service ------------------------------------------------------------------

    async def _user_store(self, request: web.Request) -> web.Response:
        """getUserAuthenticationInfo as carbon-apimgt `impl/service/APIKeyMgtRemoteUserStoreMgtService.java`
        answers it, through Axis2 (SOAP 1.1, document/literal, the messages of keymgt.stub
        `APIKeyMgtRemoteUserStoreMgtService.wsdl`). services.xml sets DoAuthentication with AuthorizationAction
        `/permission/admin/manage`: only the admin's Basic credentials get in (refused with 401 here; whether Carbon
        answers refused credentials with a 401 or an "Access Denied" fault is not mirrored, a client must take
        either as an outage). The operation is dispatched by the body's element and the SOAPAction, both of which
        must be the WSDL's, in a SOAP 1.1 request (`text/xml`); anything else is a fault, as Axis2 answers a request
        it cannot dispatch or bind."""
        self.user_store_calls += 1
        expected = basic_authorization(self.username, self.password)
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="Unauthenticated")
        if not self.up:
            return web.Response(status=503, text="APIM is unavailable")
        if request.content_type != "text/xml":  # SOAP 1.1's; Axis2 reads application/soap+xml as SOAP 1.2
            return _soap_fault("soapenv:VersionMismatch", "Transport level information does not match with SOAP"
                               " Message namespace URI")  # fmt: skip
        if request.headers.get("SOAPAction", "").strip('"') != "urn:getUserAuthenticationInfo":
            return _soap_fault("soapenv:Client", "The endpoint reference (EPR) for the Operation not found")
        try:
            envelope = ET.fromstring(await request.read())  # noqa: S314 - the test's own client sends it
        except ET.ParseError as exc:
            return _soap_fault("soapenv:Client", f"Error while parsing the request: {exc}")
        body = envelope.find(f"{{{SOAP_11}}}Body") if envelope.tag == f"{{{SOAP_11}}}Envelope" else None
        operation = body[0] if body is not None and len(body) else None
        if operation is None or operation.tag != f"{{{AXIS2_XSD}}}getUserAuthenticationInfo":
            return _soap_fault("soapenv:Client", "The endpoint reference (EPR) for the Operation not found")
        fields = {child.tag: child.text or "" for child in operation}
        username = fields.get(f"{{{AXIS2_XSD}}}username")
        password = fields.get(f"{{{AXIS2_XSD}}}password")
        if username is None or password is None or len(fields) != 2:  # ADB's parse: "Unexpected subelement"
            return _soap_fault("soapenv:Client", "org.apache.axis2.databinding.ADBException: Unexpected subelement")
        if self.user_store_failing:  # a UserStoreException, rethrown by APIUtil.handleException
            return _soap_fault(
                "soapenv:Server",
                f"Error occurred while retrieving user authentication info of user {username}",
                "APIKeyMgtRemoteUserStoreMgtServiceAPIManagementException",
            )
        return _soap_envelope(_user_authentication_info(self._user(username, password), username), 200)

    def _user(self, username: str, password: str) -> dict[str, Any] | None:
        """The user whose name and password these are. MultitenantUtils: the tenant is what follows the last `@`
        (the super tenant without one), getTenantAwareUsername what precedes it; the double has one tenant, a user
        of another is in none of its stores. A secondary user store's user may be named with its domain."""
        name, at, tenant = username.rpartition("@")
        if not at:
            name, tenant = username, "carbon.super"
        if tenant != self.tenant:
            return None
        for user in self.data["users"]:
            names = {user["username"], f"{user.get('domain', 'PRIMARY')}/{user['username']}"}
            if name in names:
                return user if user["password"] == password else None
        return None

    def set_user(self, username: str, password: str, roles: tuple[str, ...] = (), domain: str = "PRIMARY") -> None:
        """Add or change a user of the user store (`username` tenant-aware, e.g. `alice`), then tell the gateways."""
        row = {"username": username, "password": password, "roles": list(roles), "domain": domain}
        self._put_row("users", "username", username, row)
        self._users_changed(username)

    def remove_user(self, username: str) -> None:
        self._put_row("users", "username", username, None)
        self._users_changed(username)

    def _users_changed(self, username: str) -> None:
        # KeyManagerUserOperationListener (doPostAddUser, doPostUpdateCredential*, doPostUpdateRoleListOfUser,
        # doPostDeleteUser) names the user `name@tenant` to APIAuthenticationAdminClient.invalidateCachedUsernames,
        # which publishes {type: gatewayUsernameCache, value: the names' JSON array} on cacheInvalidation.
        if self.amqp_url:
            self._publish("cacheInvalidation", {"type": "gatewayUsernameCache",
                                                "value": json.dumps([f"{username}@{self.tenant}"])})  # fmt: skip

    def _put_row(self, key: str, field: str, value: str, row: dict[str, Any] | None) -> None:
        """Replace the rows of `data[key]` whose `field` is `value` with `row` (none: remove them)."""

        def mutate(data: dict[str, Any]) -> None:
            data[key] = [r for r in data[key] if r[field] != value] + ([row] if row is not None else [])

        self.change(mutate)

    def _block_conditions(self) -> dict[str, Any]:
        """The enabled rows by type, of every tenant (BlockConditionDBUtil.getBlockConditions reads the whole table;
        `/block` takes no tenant); an IP row's value is JSON, answered as an IPLevel object naming the row's tenant
        (a row's `domain`, AM_BLOCK_CONDITIONS.DOMAIN; this double's own tenant where unset)."""
        out: dict[str, list[Any]] = {key: [] for key in BLOCK_LISTS}
        for row in self.data["blockConditions"]:
            if not row["enabled"]:
                continue
            if row["type"] in ("IP", "IPRANGE"):
                value = json.loads(row["value"])
                addresses = {k: value[k] for k in ("fixedIp", "startingIp", "endingIp") if k in value}
                out["ip"].append({"id": row["id"], "type": row["type"], "tenantDomain": row.get("domain", self.tenant),
                                  "invert": bool(value.get("invert", False)), **addresses})  # fmt: skip
            else:
                out[row["type"].lower()].append(row["value"])
        return out

    # -- changes in APIM, each followed by its event -----------------------------------------------------

    def _publish(self, topic: str, payload_data: dict[str, Any]) -> None:
        """One JMS text message as APIM's event publishers send it: the JSON mapping of the stream's attributes
        (product-apim `repository/deployment/server/eventpublishers/*JMSPublisher.xml`, `mapping type="json"`),
        to `amq.topic` with the topic name as routing key. No publisher confirms: Andes has no confirm class.
        Reconnects once if the broker went away (a restart in a test)."""
        assert self.amqp_url, "the double was started without amqp_url"
        body = json.dumps({"event": {"payloadData": payload_data}}).encode()
        with self._amqp_lock:
            for attempt in (1, 2):
                try:
                    if self._amqp is None or not self._amqp.is_open:
                        self._amqp = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
                    self._amqp.channel().basic_publish("amq.topic", topic, body)
                    return
                except pika.exceptions.AMQPError:
                    self._amqp = None
                    if attempt == 2:
                        raise

    def notify(self, event_type: str, payload: dict[str, Any], whole: bool = False) -> None:
        """A `notification` event: `payload` is the event object's own fields (impl/notifier/events/*.java).
        carbon-apimgt `impl/notifier/AbstractNotifier.java` `publishEventToEventHub`: the stream attributes are
        `eventType`, `timestamp` (the event's `timeStamp`) and `event`, the base64 of the event's Gson JSON, which
        carries `eventId`, `timeStamp`, `type`, `tenantId`, `tenantDomain` (`Event.java`). `whole`: `payload` is
        already the whole Gson JSON, Event's fields as its constructor left them (an unset String left out, an unset
        long or int 0: APILoggingImpl's APIEvent)."""
        now = int(time.time() * 1000)
        event = payload if whole else {"eventId": str(uuid.uuid4()), "timeStamp": now, "type": event_type,
                                       "tenantId": TENANT_ID, "tenantDomain": self.tenant, **payload}  # fmt: skip
        encoded = base64.b64encode(json.dumps(event).encode()).decode()
        self._publish("notification", {"eventType": event_type, "timestamp": event["timeStamp"], "event": encoded})

    def notify_soon(self, event_type: str, payload: dict[str, Any], whole: bool = False) -> None:
        """A `notification` event caused on the double's loop (a product REST API call, after its change): recorded
        at once, published to the broker (if any) by the publishing thread, in order, without blocking the loop.
        `whole`: as for `notify`."""
        self.events.append(("notification", event_type, copy.deepcopy(payload)))
        if self.amqp_url:
            self._publisher.submit(self.notify, event_type, copy.deepcopy(payload), whole)

    def key_manager_event_soon(self, key_manager: dict[str, Any], action: str) -> None:
        """A `keyManager` event (carbon-apimgt `impl/notifier/events/KeyManagerEvent.java`, published by
        APIAdminImpl through KeyManagerConfigurationPublisher): the stream attributes `event_type`, `action`,
        `name`, `type`, `enabled`, `value` (base64 of the configuration JSON), `tenantDomain`."""
        config = {k: v for k, v in key_manager.items() if not k.startswith("_")}
        payload = {
            "event_type": "key_manager_configuration",
            "action": action,
            "name": key_manager["name"],
            "type": key_manager["type"],
            "enabled": key_manager.get("enabled", True),
            "value": base64.b64encode(json.dumps(config).encode()).decode(),
            "tenantDomain": self.tenant,
        }
        self.events.append(("keyManager", action, payload))
        if self.amqp_url:
            self._publisher.submit(self._publish, "keyManager", payload)

    def put_subscription_soon(self, sub: dict[str, Any]) -> None:
        """put_subscription for code already on the double's loop (the DevPortal API)."""
        self.data["subscriptions"].append(sub)
        self.subscription_changed_soon("SUBSCRIPTIONS_CREATE", sub)

    def subscription_changed_soon(self, event_type: str, sub: dict[str, Any]) -> None:
        """The SubscriptionEvent APIM publishes once a subscription is created or changed, from the double's loop."""
        self.notify_soon(event_type, _subscription_event(sub))

    def change(self, mutate: Callable[[dict[str, Any]], None]) -> None:
        """Change the data on the double's own loop (where the API reads it), before any event is sent."""

        async def run() -> None:
            mutate(self.data)

        self.call(run)

    def put_scope(self, name: str, roles: tuple[str, ...] = (), event_type: str = "SCOPE_UPDATE") -> None:
        """A shared scope created or updated (ScopesDAO, then APIProviderImpl.addScopes / updateScope publish a
        ScopeEvent: `name` the scope key, `displayName`, `description`, `roles` split from the stored comma-joined
        list, `mappings` empty), recorded in `events` and published if a broker is attached."""
        scope = {"name": name, "displayName": name, "description": "", "roles": list(roles)}
        self._put_row("scopes", "name", name, scope)
        self.notify_soon(event_type, {**copy.deepcopy(scope), "mappings": {}})

    def delete_scope(self, name: str) -> None:
        """A scope deleted (APIProviderImpl.deleteScope: a SCOPE_DELETE ScopeEvent naming only the key)."""
        self._put_row("scopes", "name", name, None)
        self.notify_soon("SCOPE_DELETE", {"name": name, "roles": [], "mappings": {}})

    def put_subscription(self, sub: dict[str, Any], event_type: str = "SUBSCRIPTIONS_CREATE") -> None:
        """Create or update a subscription (matched by application and API UUID), then tell the gateways."""

        def mutate(data: dict[str, Any]) -> None:
            key = (sub["applicationUUID"], sub["apiUUID"])
            subs = data["subscriptions"]
            subs[:] = [s for s in subs if (s["applicationUUID"], s["apiUUID"]) != key] + [copy.deepcopy(sub)]

        self.change(mutate)
        self.notify(event_type, _subscription_event(sub))

    def delete_subscription(self, application_uuid: str, api_uuid: str) -> None:
        gone: list[dict[str, Any]] = []

        def mutate(data: dict[str, Any]) -> None:
            subs = data["subscriptions"]
            gone.extend(s for s in subs if (s["applicationUUID"], s["apiUUID"]) == (application_uuid, api_uuid))
            subs[:] = [s for s in subs if s not in gone]

        self.change(mutate)
        for sub in gone:
            self.notify("SUBSCRIPTIONS_DELETE", _subscription_event(sub))

    def generate_api_key(
        self,
        application_uuid: str,
        key_type: str = "PRODUCTION",
        validity_seconds: int = -1,
        permitted_ip: str | None = None,
        permitted_referer: str | None = None,
    ) -> str:
        """An API key of an application, as APIConsumerImpl.generateApiKey mints it (DefaultApiKeyGenerator,
        harness/api_keys.py; a validity of -1 never expires). Nothing is stored or published: APIM keeps no record of
        a key until it is revoked. The Developer Portal's operation is `ProductApis.generate_api_key`."""
        app = next(a for a in self.data["applications"] if a["uuid"] == application_uuid)
        owner, tier = app.get("subName") or self.username, app.get("policy") or "Unlimited"
        application = {"id": app["id"], "uuid": app["uuid"], "name": app["name"], "tier": tier, "owner": owner}
        subject, issuer = f"{self.username}@{self.tenant}", self.resident_issuer
        return self.api_key_signer.mint(
            application, key_type, validity_seconds, permitted_ip, permitted_referer, subject, issuer=issuer
        )

    def revoke_api_key(self, api_key: str) -> None:
        """An API key revoked in the Developer Portal (`applicationsApplicationIdApiKeysKeyTypeRevokePost` →
        APIConsumerImpl.revokeAPIKey): its jti stored and published with type `API_KEY`, until its `exp` as the key
        has it, in seconds (ApplicationsApiServiceImpl passes APIUtil.getExpiryifJWT, the claim itself), or
        Long.MAX_VALUE for a key that never expires."""
        claims = jwt.decode(api_key, options={"verify_signature": False})
        expiry = int(claims["exp"]) if "exp" in claims else (1 << 63) - 1
        self.revoke_token(claims["jti"], expiry, "API_KEY")

    def revoke_token(self, revoked_token: str, expiry: int, token_type: str = "JWT", ttl: int = 3600) -> None:  # noqa: S107
        """Token revocation as APIM stores it (AM_REVOKED_JWT, served by /revokedjwt) and publishes it: carbon-apimgt
        `impl/token/TokenRevocationNotifierImpl.java` sends the stream attributes `eventId`, `revokedToken`, `ttl`,
        `expiryTime`, `type`, `tenantId` themselves, on topic `tokenRevocation`. `revokedToken` is the jti for a
        JWT (`token_type` JWT) and the raw token for an opaque one (`Default`); `expiry` is in ms but for an API key
        (revoke_api_key)."""
        self.change(lambda data: data["revokedJWTList"].append({"jwt_signature": revoked_token, "expiry_time": expiry}))
        self._publish_revocation(revoked_token, token_type, expiry, str(ttl))

    def revoke_consumer_key(self, consumer_key: str, revocation_ms: int) -> None:
        """Every token of a consumer key issued before `revocation_ms` (AM_APP_REVOKED_EVENT, then the event)."""
        self.change(
            lambda data: data["revokedJWTConsumerKeyList"].append(
                {"consumer_key": consumer_key, "revocation_time": revocation_ms, "organization": self.tenant}
            )
        )
        event = {"consumer_key": consumer_key, "revocationTime": str(revocation_ms)}
        self._publish_entity_revocation("consumer_app_revocation_event", event)

    def revoke_subject(self, entity_id: str, revocation_ms: int, entity_type: str = "USER_ID") -> None:
        """Every token of a subject (`entity_id` claim) issued before `revocation_ms`: a user's (`USER_ID`) or, with
        `CLIENT_ID`, an application's own (AbstractKeyManagerEventHandler stores the row, TokenRevocationNotifierImpl
        publishes the event)."""
        row = {"entity_id": entity_id, "entity_type": entity_type, "revocation_time": revocation_ms,
               "organization": self.tenant}  # fmt: skip
        self.change(lambda data: data["revokedJWTSubjectEntityList"].append(row))
        event = {"entityId": entity_id, "entityType": entity_type, "revocationTime": str(revocation_ms)}
        self._publish_entity_revocation("subject_entity_revocation_event", event)

    def _publish_entity_revocation(self, kind: str, fields: dict[str, str]) -> None:
        # revokedToken is the base64 JSON of these fields alone, under APIConstants.NotificationEvent's names
        # (consumer_key, entityId, entityType, revocationTime), and expiryTime is 0
        # (TokenRevocationNotifierImpl.sendMessageOnRealtime).
        encoded = base64.b64encode(json.dumps(fields).encode()).decode()
        self._publish_revocation(encoded, kind, 0, "0")

    def _publish_revocation(self, revoked_token: str, kind: str, expiry: int, ttl: str) -> None:
        payload = {"eventId": str(next(_event_ids)), "revokedToken": revoked_token, "ttl": ttl,
                   "expiryTime": expiry, "type": kind, "tenantId": TENANT_ID}  # fmt: skip
        self._publish("tokenRevocation", payload)

    def add_block_condition(self, condition_type: str, value: str) -> int:
        """A deny policy added in the admin portal (AM_BLOCK_CONDITIONS, then APIProviderImpl
        .publishBlockingEvent on throttleData); returns its condition id. An IP value is its JSON."""
        added: list[int] = []

        def mutate(data: dict[str, Any]) -> None:
            rows = data["blockConditions"]
            added.append(max((r["id"] for r in rows), default=0) + 1)
            rows.append({"id": added[0], "type": condition_type, "value": value, "enabled": True})

        self.change(mutate)
        self._publish_blocking(added[0], condition_type, value, "true")
        return added[0]

    def delete_block_condition(self, condition_id: int) -> None:
        """A deny policy deleted (APIProviderImpl.deleteBlockConditionByUUID → unpublishBlockCondition: state
        `delete`, which the gateway's JMSMessageListener.handleBlockingMessage treats as any state but `true`)."""
        gone: list[dict[str, Any]] = []

        def mutate(data: dict[str, Any]) -> None:
            rows = data["blockConditions"]
            gone.extend(r for r in rows if r["id"] == condition_id)
            rows[:] = [r for r in rows if r["id"] != condition_id]

        self.change(mutate)
        for row in gone:
            self._publish_blocking(row["id"], row["type"], row["value"], "delete")

    def _publish_blocking(self, condition_id: int, condition_type: str, value: str, state: str) -> None:
        # The attributes of org.wso2.blocking.request.stream under blockingEventJMSPublisher.xml's JSON mapping, as
        # jms/listener/utils/JMSMessageListener.handleBlockingMessage reads them.
        payload = {"id": condition_id, "blockingCondition": condition_type, "conditionValue": value,
                   "state": state, "tenantDomain": self.tenant}  # fmt: skip
        self._publish("throttleData", payload)

    def publish_raw(self, topic: str, body: bytes) -> None:
        """Any bytes on a topic: a message APIM would never send, for the listener's poison handling."""
        with self._amqp_lock:
            if self._amqp is None or not self._amqp.is_open:
                self._amqp = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
            self._amqp.channel().basic_publish("amq.topic", topic, body)


def _api_project_file(api: dict[str, Any], kind: str = "api") -> dict[str, Any]:
    """An API project's `api.json` (ExportUtils.exportApi: CommonUtil.writeDtoToFile, type `api`, or `mcp_server`
    for an MCP server's `mcp_server.json`): the APIDTO's fields a reader of the runtime artifact uses. Its
    `corsConfiguration`, `authorizationHeader` and `apiKeyHeader` are the deployed revision's (apim_rest
    deployed_dto_fields: APIMappingUtil.fromAPItoDTO writes corsConfiguration always, the stored one or
    APIUtil.getDefaultCorsConfiguration(); Gson leaves a null header name out). Its `endpointConfig` is the item's
    `_endpointConfig` as stored, its `endpoint_security` credentials in the clear: APIProviderImpl.addAPIRevision
    exports the revision with `preserveCredentials` true (ImportExportAPI.exportAPI(..., true, ...)), so
    fromAPItoDTO keeps the passwords and decrypts the API key value and the OAuth client secret
    (handleEndpointSecurity masks them only without it). Its operation policies (APIM's
    mediation, where carbon-apimgt 9.31.86 `rest.api.publisher.v1.common/.../mappings/APIMappingUtil.fromAPItoDTO`
    puts them: APIDTO.apiPolicies and each APIOperationsDTO.operationPolicies, an APIOperationPoliciesDTO of
    `request`, `response` and `fault` lists of OperationPolicyDTO in their `order`,
    OperationPolicyMappingUtil.fromOperationPolicyListToDTO) are the deployed revision's: the item's `_apiPolicies`
    and `_operationPolicies` ("VERB target" → the operation's; apim_rest `_deployed_fields`), on `operations` made
    from its URL mappings. As fromAPItoDTO writes them, apiPolicies only where the API has some
    (APIProviderImpl.populateAPILevelPolicies) and an operation's operationPolicies only where it has some
    (setOperationPoliciesToOperationsDTO), each then with all three flows, an empty one as an empty list. Its
    `keyManagers` is the item's `_keyManagers`, else `["all"]`, which fromDTOtoAPI gives an API created without
    any (APIMappingUtil: APIConstants.KeyManager.API_LEVEL_ALL_KEY_MANAGERS). Its `securityScheme` is the deployed
    revision's (`_securityScheme`), else, for an item put in `data` directly, its stored scheme split at commas
    (fromAPItoDTO: `apiSecurity.split(",")`). Its `audiences` are the deployed revision's (`_audiences`), where it
    has some (fromAPItoDTO writes them only then)."""
    operations = []
    by_operation = api.get("_operationPolicies", {})
    for mapping in api.get("urlMappings", []):
        operation = {"target": mapping["urlPattern"], "verb": mapping["httpMethod"]}
        own = _with_every_flow(by_operation.get(f"{mapping['httpMethod']} {mapping['urlPattern']}"))
        operations.append(operation | ({"operationPolicies": own} if own else {}))
    dto = {"id": api["uuid"], "name": api["name"], "version": api["version"],
           "context": api.get("contextTemplate", api["context"]).replace("/{version}", ""),
           "endpointConfig": api.get("_endpointConfig", {}), "operations": operations,
           "keyManagers": api.get("_keyManagers", ["all"]),
           "securityScheme": api.get("_securityScheme") or security_scheme(api).split(","),
           **({"audiences": api["_audiences"]} if api.get("_audiences") else {}),
           **deployed_dto_fields(api)}  # fmt: skip
    if api_policies := _with_every_flow(api.get("_apiPolicies")):
        dto["apiPolicies"] = api_policies
    return {"type": kind, "data": dto}


def _with_every_flow(policies: dict[str, list] | None) -> dict[str, list] | None:
    """An APIOperationPoliciesDTO with its request, response and fault lists; None where it holds no policy."""
    if not any((policies or {}).values()):
        return None
    return {flow: list(policies.get(flow, [])) for flow in POLICY_FLOWS}


def _write_client_certificates(project: zipfile.ZipFile, api: dict[str, Any], provider: str) -> None:
    """The deployed revision's client certificates in its API project, as carbon-apimgt `rest.api.publisher.v1.common
    /.../mappings/ExportUtils.java` addClientCertificatesToArchive writes them when the revision is exported: per key
    type with certificates (PRODUCTION, then SANDBOX), `<Name>-<version>/Client-certificates/<KEYTYPE>/` holds
    `<alias>.crt` = BEGIN CERTIFICATE, the stored column (the Base64 of the uploaded file), END CERTIFICATE, joined
    by line separators (getClientCertificateContentAndMetaData), and `client_certificates.json` as
    CommonUtil.writeDtoToFile writes it: `{"type": "client_certificates", "version": "v4.5.0"
    (ImportExportConstants.APIM_VERSION), "data": [...]}`, each item a ClientCertificateDTO in pretty Gson (null
    fields left out: no `uniqueId`) with `certificate` set to the file name and `apiIdentifier` the
    APIIdentifier(provider, name, version, uuid) of ApiMgtDAO.getAPIIdentifierFromUUID (its int `id` 0)."""
    root = f"{api['name']}-{api['version']}/Client-certificates"
    rows = api.get("_deployedClientCertificates", [])
    identifier = {"providerName": api.get("provider", provider), "apiName": api["name"], "version": api["version"],
                  "uuid": api["uuid"], "id": 0}  # fmt: skip
    for key_type in ("PRODUCTION", "SANDBOX"):
        data = []
        for row in (r for r in rows if r["keyType"] == key_type):
            pem = "\n".join(("-----BEGIN CERTIFICATE-----", row["certificate"], "-----END CERTIFICATE-----"))
            project.writestr(f"{root}/{key_type}/{row['alias']}.crt", pem)
            data.append({"alias": row["alias"], "certificate": f"{row['alias']}.crt", "tierName": row["tierName"],
                         "apiIdentifier": identifier})  # fmt: skip
        if data:
            document = {"type": "client_certificates", "version": "v4.5.0", "data": data}
            project.writestr(f"{root}/{key_type}/client_certificates.json", json.dumps(document, indent=2))


def _user_authentication_info(user: dict[str, Any] | None, username: str) -> str:
    """getUserAuthenticationInfo's BasicAuthValidationInfoDTO as Axis2's ADB writes it: every field, null ones as
    `xsi:nil` (a null role array as one nil element). A wrong password or an unknown user: `authenticated` false and
    nothing else. Otherwise domainQualifiedUsername is UserCoreUtil.addDomainToName(username as sent, domain): the
    name unchanged for the PRIMARY domain or one that names its domain already, else `DOMAIN/` before it; the roles
    getRoleListOfUser's, which always hold the everyone role."""
    nil = ' xsi:nil="true"'
    if user is None:
        fields = (
            "<ax:authenticated>false</ax:authenticated><ax:cached>false</ax:cached>"
            f"<ax:domainQualifiedUsername{nil}/><ax:hashedPassword{nil}/><ax:userRoleList{nil}/>"
        )
    else:
        domain = user.get("domain", "PRIMARY")
        qualified = username if domain == "PRIMARY" or "/" in username else f"{domain.upper()}/{username}"
        roles = list(user["roles"]) + ([EVERYONE_ROLE] if EVERYONE_ROLE not in user["roles"] else [])
        fields = (
            "<ax:authenticated>true</ax:authenticated><ax:cached>false</ax:cached>"
            f"<ax:domainQualifiedUsername>{escape(qualified)}</ax:domainQualifiedUsername><ax:hashedPassword{nil}/>"
            + "".join(f"<ax:userRoleList>{escape(role)}</ax:userRoleList>" for role in roles)
        )
    return (
        f'<ns:getUserAuthenticationInfoResponse xmlns:ns="{AXIS2_XSD}"><ns:return xmlns:ax="{DTO_XSD}" '
        f'xmlns:xsi="{XSI}" xsi:type="ax:BasicAuthValidationInfoDTO">{fields}</ns:return>'
        "</ns:getUserAuthenticationInfoResponse>"
    )


def _soap_envelope(body: str, status: int) -> web.Response:
    """An Axis2 answer: a SOAP 1.1 envelope, UTF-8, `text/xml`."""
    text = (
        f"<?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope xmlns:soapenv=\"{SOAP_11}\">"
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
    return web.Response(status=status, body=text.encode(), content_type="text/xml", charset="UTF-8")


def _soap_fault(code: str, reason: str, detail: str | None = None) -> web.Response:
    """A SOAP 1.1 fault as Axis2 answers an AxisFault, with HTTP 500; an operation's declared exception (the WSDL's
    fault element) in `detail`."""
    detail_xml = f'<detail><ns:{detail} xmlns:ns="{AXIS2_XSD}"/></detail>' if detail else ""
    return _soap_envelope(
        f"<soapenv:Fault><faultcode>{code}</faultcode><faultstring>{escape(reason)}</faultstring>{detail_xml}"
        "</soapenv:Fault>",
        500,
    )


SYNAPSE_NAMESPACE = "http://ws.apache.org/ns/synapse"
# The Synapse templates of shipped common policies (product-apim v4.5.0 all-in-one-apim/modules/distribution/resources
# /operation_policies/definitions/<name>_<version>.j2), for the gateway policy mappings this double renders.
SYNAPSE_DEFINITIONS = {
    ("addHeader", "v2"): '<property action="set" name="{{headerName}}" value="{{headerValue}}" scope="transport" />',
    ("removeHeader", "v1"): '<property action="remove" name="{{headerName}}" scope="transport" />',
    ("jsonToXML", "v1"): '<property name="messageType" value="application/xml" scope="axis2"/>',
}


def _rendered_policy(policy: dict[str, Any]) -> str:
    """A policy of a gateway policy mapping as SynapsePolicyAggregator.renderGatewayPolicyMapping renders it: its
    template with the parameters put in as Jinjava puts them (unescaped; an unset one empty), then each top-level
    element as Axiom serializes it (sanitizeOMElementWithSuperParentNode). What is not XML then (a `"` or `&` in a
    value) fails to parse twice and is logged and left out: ''."""
    template = SYNAPSE_DEFINITIONS[(policy["policyName"], policy["policyVersion"])]
    parameters = policy.get("parameters") or {}
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(parameters.get(m[1], "")), template)
    try:
        root = ET.fromstring(f"<root>{text}</root>")  # noqa: S314 - the double's own template and the test's values
    except ET.ParseError:
        return ""
    return "".join(ET.tostring(element, encoding="unicode") for element in root)


def _fault(fault: Fault) -> web.Response:
    """An APIManagementException as the internal API's exception mapper answers it (the product APIs' one ErrorDTO)."""
    return web.json_response(fault.body(), status=fault.status)


def _subscription_event(sub: dict[str, Any]) -> dict[str, Any]:
    """A SubscriptionEvent's own fields (carbon-apimgt `impl/notifier/events/SubscriptionEvent.java`; the 4.5 class
    has no `applicationName`)."""
    return {
        "subscriptionId": sub.get("subscriptionId"),
        "subscriptionUUID": sub.get("subscriptionUUID"),
        "apiId": sub.get("apiId"),
        "apiUUID": sub["apiUUID"],
        "applicationId": sub.get("appId"),
        "applicationUUID": sub["applicationUUID"],
        "policyId": sub.get("policyId"),
        "subscriptionState": sub.get("subscriptionState"),
    }


def sample_data(
    issuer: str = "https://is.example.com/oauth2/token",
    jwks: str = "https://is.example.com/jwks",
    apps: dict[str, tuple[str | None, str | None]] = APPS,
    policies: tuple[dict[str, Any], ...] = (),
) -> dict:
    """The sample catalog as APIM 4.5 would serve it, plus the IS 7 key manager APIM knows."""
    data = catalog_document(apps)
    data["subscriptionPolicies"] += copy.deepcopy(list(policies))
    data["apiPolicies"] = default_api_policies() + data.get("apiPolicies", [])
    data["applicationPolicies"] = default_application_policies() + data.get("applicationPolicies", [])
    for i, sub in enumerate(data["subscriptions"], start=1):
        sub["subscriptionId"] = i
        sub["apiId"] = 1
        sub["appId"] = next(a["id"] for a in data["applications"] if a["uuid"] == sub["applicationUUID"])
    for mapping in data["applicationKeyMappings"]:
        mapping["applicationId"] = next(
            a["id"] for a in data["applications"] if a["uuid"] == mapping["applicationUUID"]
        )
    for i, policy in enumerate(data["subscriptionPolicies"], start=1):
        # No `type` in defaultLimit: the spec requires one, SubscriptionValidationDataUtil never sets it.
        policy.update(id=i, tenantId=-1234, tenantDomain="carbon.super", quotaType="requestCount")
        policy.setdefault("rateLimitCount", 0)  # no burst control (AM_POLICY_SUBSCRIPTION.RATE_LIMIT_COUNT 0)
    data["keyManagers"] = [
        {
            "uuid": "km-1",
            "name": KM,
            "type": "WSO2-IS-7",
            "enabled": True,
            "organization": "carbon.super",
            "tokenType": "DIRECT",
            "additionalProperties": {
                "issuer": issuer,
                "certificate_type": "JWKS",
                "certificate_value": jwks,
                "consumer_key_claim": "azp",
                "scopes_claim": "scope",
                "introspection_endpoint": issuer.replace("/token", "/introspect"),
                "self_validate_jwt": True,
            },
        }
    ]
    return data


def default_api_policies() -> list[dict]:
    """The advanced policies APIM creates for a tenant (APIUtil.addDefaultTenantAdvancedThrottlePolicies,
    APIConstants DEFAULT_API_POLICY_*): what an API or a resource can name before any other is added. The data
    API serves such a policy with one empty condition group (conditionGroupId 0, its limit null: the LEFT JOIN of
    SubscriptionValidationDAO), which the spec's schemas refuse; the double serves none."""
    from .sample_catalog import advanced_policy

    return [
        {**advanced_policy(name, count), "tenantId": TENANT_ID, "tenantDomain": "carbon.super",
         "quotaType": "requestCount", "applicableLevel": "apiLevel", "_policyId": i}
        for i, (name, count) in enumerate(
            (("50KPerMin", 50000), ("20KPerMin", 20000), ("10KPerMin", 10000), ("Unlimited", 2**31 - 1)), start=1
        )
    ]  # fmt: skip


def default_application_policies() -> list[dict]:
    """The application policies APIM creates for a tenant (APIUtil.addDefaultTenantAdvancedThrottlePolicies,
    APIConstants DEFAULT_APP_POLICY_*), as the data API serves them (SubscriptionValidationDataUtil
    .fromApplicationPolicyToApplicationPolicyListDTO: a `burstLimit` always, its count 0 without burst control; its
    unit is then null, which the spec's schema refuses: the double leaves it unset, and its answer writes the null
    as APIM's Jackson does, wso2_specs.as_written)."""
    from .sample_catalog import requests_per_minute

    return [
        {"id": i, "tenantId": TENANT_ID, "tenantDomain": "carbon.super", "name": name, "quotaType": "requestCount",
         "defaultLimit": requests_per_minute(count), "burstLimit": {"rateLimitCount": 0}}
        for i, (name, count) in enumerate(
            (("50PerMin", 50), ("20PerMin", 20), ("10PerMin", 10), ("Unlimited", 2**31 - 1)), start=1
        )
    ]  # fmt: skip


def fresh_data() -> dict:
    """A new APIM 4.5's catalog: no APIs or applications, the default subscription tiers APIM creates for a tenant
    (carbon-apimgt `impl/APIConstants.java` DEFAULT_SUB_POLICY_*: Gold 5000, Silver 2000, Bronze 1000 and
    Unauthenticated 500 requests a minute, Unlimited), its default advanced and application policies and its
    Resident Key Manager."""
    from .sample_catalog import per_minute

    policies = [
        per_minute(name, count)
        for name, count in (
            ("Gold", 5000),
            ("Silver", 2000),
            ("Bronze", 1000),
            ("Unauthenticated", 500),
            ("Unlimited", 2**31 - 1),
        )
    ]
    for i, policy in enumerate(policies, start=1):
        policy.update(id=i, tenantId=TENANT_ID, tenantDomain="carbon.super", quotaType="requestCount", rateLimitCount=0)
    return {
        "apis": [],
        "applications": [],
        "subscriptions": [],
        "applicationKeyMappings": [],
        "subscriptionPolicies": policies,
        "apiPolicies": default_api_policies(),
        "applicationPolicies": default_application_policies(),
        "globalPolicies": [],  # APIM ships no custom policy
        "keyManagers": [resident_key_manager()],
    }


def resident_key_manager() -> dict:
    """APIM's own key manager as it stores it for a tenant (AM_KEY_MANAGER; KeyMgtRegistrationService
    .registerDefaultKeyManager): DIRECT, of type `default`, and of its properties only `token_format_string`, the
    opaque-token format; the rest is filled in at every read (ApimDouble.key_managers)."""
    uuid_format = [{"enable": True, "type": "REFERENCE", "value": UUID_REGEX}]
    return {
        "uuid": str(uuid.uuid4()),
        "name": RESIDENT_KM,
        "type": "default",
        "enabled": True,
        "organization": "carbon.super",
        "tokenType": "DIRECT",
        "additionalProperties": {"token_format_string": json.dumps(uuid_format, separators=(",", ":"))},  # Gson
    }
