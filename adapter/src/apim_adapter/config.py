"""The adapter's configuration file, declared once: YAML in, frozen dataclasses out, errors that name the bad key.

Every key, default and rule lives in the dataclasses below. The same declaration gives the chart's `config` JSON
Schema (`scripts/generate_config_schema.py`, in `charts/apim-adapter/values.schema.json`) and the key table of
`docs/configuration.md`; a test fails when either differs from what the model generates.

Why pydantic v2 (its dataclasses) rather than msgspec. Measured here (2 shared vCPUs, load average ~17 while
other suites ran, so absolute figures are several times a quiet machine's; the ratios are what count), with the
same keys and rules declared in both libraries (pydantic 2.14.3, msgspec 0.23.0, a full config with every
section), `timeit` best of 5 and `python -c` wall time medians of 9 minus the bare interpreter's:

| | pydantic | msgspec |
|---|---|---|
| validate the parsed YAML | 368 µs | 24 µs |
| YAML parse + validate (`yaml.safe_load` alone: 25 ms) | 29 ms | 21 ms |
| import the library | +770-850 ms | +341 ms |
| import the model module (with PyYAML) | +1,636 ms | +482 ms |

For scale: `import apim_adapter.app` took +4,363 ms and `import grpc` +560 ms in the same run. msgspec is
faster, but the config is read once per process, and what decides is elsewhere:

- pydantic dataclasses are real dataclasses: positional and keyword construction, `dataclasses.replace` and
  attribute access stay exactly as the rest of the code and its tests use them; msgspec Structs would change
  `dataclasses.replace` and the error paths.
- every error comes with its location (`keyManagers[0].algorithms`) and all of them at once; a rule can raise its
  own message (`HS256 is not allowed`); msgspec stops at the first error and reports `$.keyManagers[0]` for a
  rule in `__post_init__`.
- its JSON Schema (constraints, the `oneOf` of the `controlPlane` variants, extra keywords per class) is what the
  chart's `values.schema.json` needs.
- it is already in the lock (ansible-lint and molecule depend on it) and is among the most used, best kept
  Python libraries.

Secrets are never values here: only paths of files (`*File`, `caBundle`) that the components read themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass
from pydantic.json_schema import JsonDict, SkipJsonSchema
from pydantic_core import PydanticCustomError

from .meshsync.core import gateway_api_hostname, parent_ref
from .revocation import DEFAULT_MAX_ENTRIES, DEFAULT_MAX_TOKEN_LIFETIME

ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
# What APIM 4.5's gateway verifies a key manager's JWT with: RS256, RS384, RS512 and PS256, with an RSA key
# (carbon-apimgt impl/utils/JWTUtil.verifyTokenSignature, JWTValidatorImpl.validateSignature); others are opt-in.
DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A configuration problem, with the dotted path of the offending key."""


# camelCase keys in the file, snake_case attributes in Python (either is accepted by the constructors);
# unknown keys are errors.
_KEYS = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="forbid")

# YAML gives real types: "8081" is not a port and "yes" is not a boolean.
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Bool = Annotated[bool, Strict()]
Text = Annotated[str, Field(min_length=1)]
FilePath = Annotated[
    str, Field(min_length=1, description="A file the adapter reads; a relative path is relative to the config file.")
]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s]+$")]


def _requires_when(key: str, value: str, required: str) -> ConfigDict:
    """An object's config whose JSON schema requires `required` when `key` is `value` (the model validator that
    enforces it in the adapter names the key; the schema makes helm and editors say so too)."""
    condition: JsonDict = {"properties": {key: {"const": value}}, "required": [key]}
    return ConfigDict(**_KEYS, json_schema_extra={"if": condition, "then": {"required": [required]}})


def _fail(key: str, message: str) -> PydanticCustomError:
    """An error about `key` of the object being validated (its location is the object's plus `key`)."""
    return PydanticCustomError("config", message, {"key": key})


def _asymmetric(algorithm: str) -> str:
    if algorithm not in ALLOWED_ALGORITHMS:
        raise PydanticCustomError(
            "algorithm_not_allowed",
            "{algorithm} is not allowed (asymmetric algorithms only: {allowed})",
            {"algorithm": algorithm, "allowed": ", ".join(sorted(ALLOWED_ALGORITHMS))},
        )
    return algorithm


Algorithm = Annotated[str, AfterValidator(_asymmetric), WithJsonSchema({"enum": sorted(ALLOWED_ALGORITHMS)})]


def _log_level(level: str) -> str:
    if level.upper() not in LOG_LEVELS:
        raise PydanticCustomError("log_level", "must be one of {levels}", {"levels": ", ".join(LOG_LEVELS)})
    return level


def _amqp_url(url: str) -> str:
    if not AMQP_URL.match(url):  # APIM's broker speaks AMQP 0-9-1 (plain 5672, TLS 8672)
        raise PydanticCustomError(
            "amqp_url", "must be amqp://host:5672/carbon or amqps://…:8672/carbon, got '{url}'", {"url": url}
        )
    return url


AMQP_URL = re.compile(r"^amqps?://[^\s]+$")
AmqpUrl = Annotated[str, AfterValidator(_amqp_url), WithJsonSchema({"type": "string", "pattern": AMQP_URL.pattern})]


def _path_prefix(prefix: str) -> str:
    if prefix and not prefix.startswith("/"):
        raise PydanticCustomError("path_prefix", "must start with '/'")
    return prefix.rstrip("/")


@dataclass(frozen=True, config=_KEYS)
class Listener:
    host: str = Field(default="0.0.0.0", description="Address to listen on.")  # noqa: S104 - a pod listens on all interfaces
    port: Int = Field(default=8081, ge=0, le=65535, description="Port (0: any free port).")


@dataclass(frozen=True, config=_KEYS)
class AdminListener(Listener):
    port: Int = Field(default=9090, ge=0, le=65535, description="Port of /healthz, /readyz and /metrics.")


@dataclass(frozen=True, config=_KEYS)
class HttpListener(Listener):
    port: Int = Field(default=8080, ge=0, le=65535, description="Port of ext_authz HTTP mode.")
    path_prefix: Annotated[str, AfterValidator(_path_prefix)] = Field(
        default="",
        json_schema_extra={"pattern": "^(/.*)?$"},
        description="Prefix Envoy puts before the checked path; stripped before matching.",
    )
    enabled: Bool = Field(default=True, description="Serve ext_authz HTTP mode at all.")


@dataclass(frozen=True, config=_KEYS)
class Server:
    grpc: Listener = Field(default=Listener(), description="ext_authz v3 gRPC and grpc.health.v1.")
    http: HttpListener | None = Field(
        default=HttpListener(), description="ext_authz HTTP mode (`enabled: false` turns it off)."
    )
    admin: AdminListener = Field(default=AdminListener(), description="Admin endpoints.")
    workers: Int = Field(
        default=1,
        ge=1,
        description="Processes sharing the ports (SO_REUSEPORT, which spreads connections, not requests); one core "
        "each. Behind Istio, cap the gateway's streams per connection (the chart's `istio.destinationRule`).",
    )
    grpc_threads: Int = Field(
        default=8, ge=1, description="Threads running gRPC checks; the event loop serves the rest."
    )
    grpc_request_reader: Literal["auto", "compiled", "protobuf"] = Field(
        default="auto",
        description="How a gRPC check reads its request: `compiled` with apim-adapter-native (adapter/native; the "
        "adapter refuses to start without it), `protobuf` always on the protobuf runtime (more CPU per check), "
        "`auto` compiled when installed.",
    )
    max_pending_checks: Int = Field(
        default=1000,
        ge=1,
        description="gRPC checks waiting for or running on `grpcThreads` (on grpcio: every call in flight), and "
        "HTTP-mode checks on the compiled transport waiting for or running on the event loop, beyond which a new "
        "one is refused at once (RESOURCE_EXHAUSTED, HTTP 503; Envoy then fails closed): under a flood, memory "
        "and latency stay bounded instead of a queue growing.",
    )
    grpc_transport: Literal["auto", "compiled", "grpcio"] = Field(
        default="auto",
        description="What serves gRPC: `compiled`, HTTP/2 and gRPC framing in Rust from apim-adapter-native "
        "(adapter/native; warm checks answered on its thread, the rest on `grpcThreads`; several times less CPU "
        "per check; the adapter refuses to start without it), `grpcio` (grpc-python), `auto` compiled when "
        "installed.",
    )
    http_transport: Literal["auto", "compiled", "aiohttp"] = Field(
        default="auto",
        description="What serves HTTP mode: `compiled`, HTTP/1.1 and HTTP/2 (prior knowledge) in Rust from "
        "apim-adapter-native (adapter/native; "
        "warm checks answered on its thread, the rest on the event loop; several times less CPU per check; the "
        "adapter refuses to start without it), `aiohttp`, `auto` compiled when installed.",
    )
    keys_warm_up_seconds: Int = Field(
        default=10,
        ge=0,
        description="At start, /readyz waits this long at most for every key manager's JWKS (and the introspection "
        "token of `bearer` ones), so that no first check fetches them inside Envoy's ext_authz timeout; then ready "
        "anyway, with a warning.",
    )

    def __post_init__(self) -> None:
        if self.http is not None and not self.http.enabled:
            object.__setattr__(self, "http", None)

    @model_validator(mode="after")
    def _ports_apart(self) -> Server:
        # Every listener binds with SO_REUSEPORT (for `workers`): two given one port would both bind it and split
        # its connections between them, with no error.
        ports = [self.grpc.port, self.admin.port] + ([self.http.port] if self.http is not None else [])
        taken = [p for p in ports if p]  # 0: any free port
        if len(set(taken)) != len(taken):
            raise PydanticCustomError("ports", "grpc.port, http.port and admin.port must differ")
        return self


@dataclass(frozen=True, config=_requires_when("authentication", "bearer", "tokenUrl"))
class Introspection:
    url: HttpUrl = Field(description="RFC 7662 introspection endpoint, for opaque tokens.")
    client_id_file: FilePath = Field(
        description="File holding the client id (or, with `basic`, a user name) the adapter calls it with."
    )
    client_secret_file: FilePath = Field(description="File holding that client's secret (or that user's password).")
    authentication: Literal["basic", "bearer"] = Field(
        default="basic",
        description="`basic`: the pair as HTTP Basic (IS 7 takes a user granted `internal_oauth2_introspect`, a "
        "client only where its deployment.toml allows it). `bearer`: a client-credentials token from `tokenUrl`, "
        "for an application authorized for IS 7's OAuth2 Introspection API.",
    )
    token_url: HttpUrl | None = Field(default=None, description="Token endpoint; required with `bearer`.")
    token_scope: Text = Field(
        default="internal_oauth2_introspect", description="Scope the `bearer` token is asked for (space-separated)."
    )
    cache_seconds: Int = Field(default=300, ge=0, description="How long an active result is cached (capped by `exp`).")
    negative_cache_seconds: Int = Field(default=10, ge=0, description="How long an inactive result is cached.")

    @model_validator(mode="after")
    def _token_url_for_bearer(self) -> Introspection:
        if self.authentication == "bearer" and self.token_url is None:
            raise _fail("tokenUrl", "required when authentication is bearer")
        return self


@dataclass(
    frozen=True,
    config=ConfigDict(
        **_KEYS, json_schema_extra={"anyOf": [{"required": ["jwksUri"]}, {"required": ["introspection"]}]}
    ),
)
class KeyManager:
    name: Text = Field(description="The `keyManager` of applicationKeyMappings.")
    issuer: Text = Field(description="The tokens' `iss`; routes a JWT to this key manager.")
    jwks_uri: HttpUrl | None = Field(default=None, description="JWKS of the key manager (JWTs).")
    consumer_key_claim: Text = Field(default="azp", description="Claim holding the client id (consumer key).")
    scopes_claim: Text = Field(
        default="scope",
        description="Claim holding the scopes (space-separated string or list); a JWT without it has APIM's "
        "`default` scope.",
    )
    algorithms: tuple[Algorithm, ...] = Field(
        default=DEFAULT_ALGORITHMS,
        min_length=1,
        description="Allowed `alg`s (the default: those APIM's gateway verifies); HMAC and none are refused.",
    )
    audiences: tuple[str, ...] = Field(default=(), description="Accepted `aud` values; checked when not empty.")
    clock_skew_seconds: Int = Field(default=30, ge=0, description="Leeway on `exp`, `nbf` and `iat`.")
    ca_bundle: FilePath | None = Field(default=None, description="CA bundle for TLS to the key manager.")
    jwks_refresh_seconds: Int = Field(default=600, ge=1, description="Background JWKS refresh period.")
    jwks_min_refetch_seconds: Int = Field(
        default=10, ge=0, description="An unknown `kid` refetches the JWKS at most this often (single-flight)."
    )
    jwks_refetch_burst: Int = Field(
        default=3, ge=1, description="Refetches allowed at once before `jwksMinRefetchSeconds` paces them."
    )
    introspection: Introspection | None = Field(default=None, description="Introspection of opaque tokens.")

    @model_validator(mode="after")
    def _can_verify(self) -> KeyManager:
        if self.jwks_uri is None and self.introspection is None:
            raise PydanticCustomError("config", "needs jwksUri (JWTs) or introspection (opaque tokens)")
        return self


@dataclass(frozen=True, config=_KEYS)
class EventHub:
    url: AmqpUrl = Field(
        description="APIM's event hub (AMQP 0-9-1): amqp://host:5672/carbon, or amqps://host:8672/carbon."
    )
    username_file: FilePath | None = Field(
        default=None, description="File holding its user (default: the control plane's)."
    )
    password_file: FilePath | None = Field(default=None, description="File holding its password.")


@dataclass(frozen=True, kw_only=True, config=_KEYS)
class ControlPlaneFile:
    type: Literal["file"] = Field(default="file", description="The catalog from one YAML or JSON file.")
    path: FilePath = Field(description="The catalog file; reloaded on change, a broken file keeps the last good one.")
    poll_seconds: Number = Field(default=1.0, ge=0.05, description="How often the file is checked for changes.")


@dataclass(frozen=True, kw_only=True, config=_KEYS)
class ControlPlaneWso2:
    type: Literal["wso2"] = Field(description="The catalog from WSO2 APIM's internal data API and event hub.")
    url: HttpUrl = Field(description="APIM's base URL, e.g. https://apim:9443.")
    ca_bundle: FilePath | None = Field(default=None, description="CA bundle for TLS to APIM.")
    username_file: FilePath = Field(description="File holding the APIM user.")
    password_file: FilePath = Field(description="File holding its password.")
    tenant: Text = Field(default="carbon.super", description="Tenant domain (`xWSO2Tenant`).")
    gateway_label: Text | None = Field(default=None, description="Only APIs deployed to this gateway environment.")
    key_managers_from_control_plane: Bool = Field(default=False, description="Also trust the key managers APIM lists.")
    event_hub: EventHub | None = Field(default=None, description="Follow APIM's events; without it, only resyncs.")
    resync_seconds: Int = Field(default=300, ge=1, description="Full pull period.")
    timeout_seconds: Number = Field(default=10.0, ge=0.1, description="Timeout of each APIM call.")
    revocation_max_entries: Int = Field(
        default=DEFAULT_MAX_ENTRIES, ge=1, description="Revocations kept in memory; the soonest to end go first."
    )
    revocation_max_token_lifetime_seconds: Int = Field(
        default=int(DEFAULT_MAX_TOKEN_LIFETIME),
        ge=60,
        description="The longest access token lifetime of your key managers: how long a revocation without an "
        "expiry, or of a consumer key's or subject's earlier tokens, is kept.",
    )


def _control_plane_type(value: Any) -> Any:
    """`type` selects the variant; it defaults to `file`."""
    if isinstance(value, Mapping):
        return value.get("type", "file")
    return getattr(value, "type", None)


ControlPlane = Annotated[
    Annotated[ControlPlaneFile, Tag("file")] | Annotated[ControlPlaneWso2, Tag("wso2")],
    Discriminator(_control_plane_type),
]


@dataclass(frozen=True, config=_KEYS)
class Redis:
    url: str = Field(
        pattern=r"^(rediss?|unix)://[^\s]+$", description="Redis URL (`redis://`, `rediss://`, `unix://`)."
    )
    password_file: FilePath | None = Field(default=None, description="File holding the Redis password.")
    on_error: Literal["local", "deny"] = Field(default="local", description="When Redis fails: count locally, or deny.")
    timeout_seconds: Number = Field(default=0.05, ge=0.001, description="Timeout of each Redis round trip.")


@dataclass(frozen=True, config=_requires_when("backend", "redis", "redis"))
class RateLimit:
    backend: Literal["local", "redis"] = Field(default="local", description="`local` per process, or `redis` shared.")
    redis: Redis | None = Field(default=None, description="Required when `backend` is `redis`.")

    @model_validator(mode="after")
    def _redis_when_shared(self) -> RateLimit:
        if self.backend == "redis" and self.redis is None:
            raise _fail("redis", "required when rateLimit.backend is redis")
        return self


@dataclass(frozen=True, config=_KEYS)
class Request:
    keep_authorization_header: Bool = Field(default=False, description="Pass the token on to the backend.")
    max_token_bytes: Int = Field(default=8192, ge=1, description="Longer tokens are refused without parsing.")
    max_header_bytes: Int = Field(default=65536, ge=1, description="Larger request headers are refused (HTTP mode).")
    header_prefix: str = Field(default="x-apim-", description="Prefix of the context headers sent to the backend.")
    num_trusted_proxies: Int = Field(
        default=0,
        ge=0,
        description="How many proxies in front of the gateway append to x-forwarded-for "
        "(as Istio's meshConfig numTrustedProxies).",
    )
    dynamic_metadata: Bool = Field(
        default=True,
        description="gRPC mode: tell Envoy the decision as dynamic metadata under `envoy.filters.http.ext_authz` "
        "(API, application, tier, key type, subscriber; a denial's error code) for its access log and later filters. "
        "It costs the gateway ~12 µs of CPU a request, ~13% of its throughput (`python -m bench.answer_cost`): "
        "false where nothing reads it.",
    )


@dataclass(frozen=True, config=_KEYS)
class BackendJwt:
    enabled: Bool = Field(default=False, description="Send a signed JWT with WSO2's claims to the backend.")
    header: Text = Field(default="X-JWT-Assertion", description="Header carrying it.")
    algorithm: Algorithm = Field(default="ES256", description="Signing algorithm.")
    key_file: FilePath | None = Field(default=None, description="PEM private key; required when enabled.")
    issuer: str = Field(default="wso2.org/products/am", description="Its `iss`.")
    ttl_seconds: Int = Field(default=900, ge=1, description="Its lifetime; cached per token and API meanwhile.")
    published_key_files: tuple[FilePath, ...] = Field(
        default=(),
        description="More keys `/jwks` publishes beside `keyFile`'s (PEM public keys, certificates or private "
        "keys) for a rotation: publish the next key here, switch `keyFile` to it once verifiers have the new JWKS "
        "(istiod refetches every 20 minutes), keep the old one here until what it signed expires.",
    )
    excluded_claims: tuple[Text, ...] = Field(
        default=(),
        description="Claims of the consumer's JWT not copied into it (APIM's "
        "`[apim.jwt.gateway_generator] excluded_claims`); `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `aut` "
        "and APIM's own `application`, `tierInfo`, `subscribedAPIs` never are.",
    )

    @model_validator(mode="after")
    def _key_when_enabled(self) -> BackendJwt:
        if self.enabled and not self.key_file:
            raise _fail("keyFile", "required when backendJwt.enabled is true")
        return self


@dataclass(frozen=True, config=_KEYS)
class ApiKeyCertificate:
    alias: Text = Field(
        description="The alias APIM's keys name in their header's `kid` (api-manager.xml `APIStore.ApiKeyAlias`, "
        "by default `gateway_certificate_alias`)."
    )
    file: FilePath = Field(description="PEM certificate (or public key) of APIM's API key signing key, RSA.")


@dataclass(frozen=True, config=_KEYS)
class ApiKeys:
    enabled: Bool = Field(
        default=False,
        description="Accept APIM's API keys on the APIs whose security scheme lists `api_key`, and refuse OAuth2 "
        "tokens on those whose scheme leaves `oauth2` out (a WSO2 control plane learns the schemes only with "
        "`gatewayLabel`).",
    )
    header: Text = Field(default="apikey", description="Request header carrying the key (APIM's default).")
    query_parameter: str = Field(
        default="apikey",
        description="Query parameter carrying the key when the header is absent (APIM reads `apikey`); empty: none.",
    )
    certificates: tuple[ApiKeyCertificate, ...] = Field(
        default=(), description="APIM's API key signing certificates, by alias; one is required when enabled."
    )
    clock_skew_seconds: Int = Field(default=30, ge=0, description="Leeway on a key's `exp`.")

    @model_validator(mode="after")
    def _certificate_when_enabled(self) -> ApiKeys:
        if self.enabled and not self.certificates:
            raise _fail("certificates", "at least one is required when apiKeys.enabled is true")
        return self


@dataclass(frozen=True, config=_KEYS)
class AccessLogService(Listener):
    port: Int = Field(
        default=18090,
        ge=0,
        le=65535,
        description="Port of Envoy's gRPC access log service (18090, as WSO2's Choreo Connect receives it).",
    )
    enabled: Bool = Field(
        default=False,
        description="Receive the gateways' access logs (Istio's `envoyHttpAls` provider) and write an allowed gRPC "
        "check's event from its access log entry, with the response's code and latencies, as WSO2's Envoy-based "
        "gateway does; denials are still written at the check. Needs `request.dynamicMetadata`.",
    )
    max_streams: Int = Field(
        default=64,
        ge=1,
        description="Streams open at once (each gateway thread keeps one, for as long as it runs; on grpcio each "
        "holds a thread here, on the compiled transport they share one); more are refused until one ends.",
    )


@dataclass(frozen=True, config=_KEYS)
class Analytics:
    enabled: Bool = Field(default=True, description="Write WSO2 analytics events.")
    output: Text = Field(default="stdout", description="`stdout` or a file (WSO2 ELK `apimMetrics:` lines).")
    access_log_service: AccessLogService = Field(
        default=AccessLogService(),
        description="Envoy's gRPC access log service (ALS): allowed requests' events completed with the response.",
    )


@dataclass(frozen=True, config=_KEYS)
class Logging:
    level: Annotated[str, AfterValidator(_log_level)] = Field(
        default="INFO",
        # The same rule for the chart's schema, which has no case-insensitive enum.
        json_schema_extra={
            "pattern": r"^([Dd][Ee][Bb][Uu][Gg]|[Ii][Nn][Ff][Oo]|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]|[Ee][Rr][Rr][Oo][Rr])$"
        },
        description="DEBUG, INFO, WARNING or ERROR, in any case; JSON lines on stderr.",
    )


@dataclass(frozen=True, config=_KEYS)
class Tracing:
    enabled: Bool = Field(default=False, description="Export OpenTelemetry spans of checks and of the adapter's I/O.")
    endpoint: HttpUrl | None = Field(
        default=None,
        description="OTLP endpoint; default `http://localhost:4317` (grpc), `http://localhost:4318/v1/traces` (HTTP).",
    )
    protocol: Literal["grpc", "http/protobuf"] = Field(default="grpc", description="OTLP over gRPC or HTTP.")
    sampler_ratio: Number = Field(
        default=1.0, ge=0, le=1, description="Share of the traces no caller sampled already that are sampled."
    )
    service_name: Text = Field(default="apim-adapter", description="The spans' `service.name`.")
    headers_file: FilePath | None = Field(
        default=None, description="Headers sent with every export (`name: value` lines), e.g. a backend's API key."
    )
    ca_bundle: FilePath | None = Field(default=None, description="CA bundle for a TLS endpoint.")


@dataclass(frozen=True, config=_KEYS)
class ExportServices:
    """Services annotated `apim.istio-apim.io/expose: "true"` become APIs in APIM (docs/mesh-sync.md)."""

    enabled: Bool = Field(default=False, description="Export annotated Services to APIM through the Publisher API.")
    namespaces: tuple[Text, ...] = Field(
        default=(), description="Namespaces whose Services are watched; empty: every namespace (a ClusterRole)."
    )
    publisher_url: HttpUrl | None = Field(
        default=None,
        description="APIM's base URL for the Publisher API and `/oauth2/token`; default: `controlPlane.url`.",
    )
    client_id_file: FilePath | None = Field(
        default=None,
        description="File holding an OAuth2 client id (client credentials grant); without it, a client is "
        "registered (DCR) with the control plane's user, which then gets tokens by the password grant.",
    )
    client_secret_file: FilePath | None = Field(default=None, description="File holding that client's secret.")
    gateway_environment: Text | None = Field(
        default=None, description="Gateway environment revisions are deployed to; default: `controlPlane.gatewayLabel`."
    )
    vhost: Text = Field(
        default="localhost",
        description="The gateway environment's vhost the revisions are deployed on: one APIM configures that "
        "environment with (`apim-adapter probe --mesh-sync` checks).",
    )
    on_removal: Literal["retire", "delete"] = Field(
        default="retire",
        description="What happens to an API whose Service loses its annotation or is deleted: `retire` "
        "(lifecycle Deprecate, then Retire: subscriptions and history stay) or `delete`.",
    )
    tiers: tuple[Text, ...] = Field(
        default=("Unlimited",), min_length=1, description="Subscription tiers when a Service does not name any."
    )
    visibility: Literal["PUBLIC", "PRIVATE"] = Field(
        default="PUBLIC", description="Developer portal visibility when a Service does not set it."
    )
    max_revisions: Int = Field(
        default=5, ge=1, description="APIM's revision limit per API: the oldest undeployed revision is deleted first."
    )

    @model_validator(mode="after")
    def _both_client_files(self) -> ExportServices:
        if (self.client_id_file is None) != (self.client_secret_file is None):
            raise _fail("clientSecretFile" if self.client_id_file else "clientIdFile", "set with its pair")
        return self


@dataclass(frozen=True, config=_KEYS)
class MeshSync:
    """`apim-adapter mesh-sync`: APIs deployed to `controlPlane.gatewayLabel` routed on Istio's ingress gateway."""

    namespace: Text = Field(description="Namespace of the routes, the Lease and the status ConfigMap.")
    gateways: tuple[Text, ...] = Field(
        min_length=1,
        description="Gateways the routes attach to (`namespace/name`, e.g. istio-system/istio-ingressgateway): "
        "Istio Gateways, or Gateway API Gateways with `routeKind: HTTPRoute` (`namespace/name/listener`: one "
        "listener).",
    )
    route_kind: Literal["VirtualService", "HTTPRoute"] = Field(
        default="VirtualService",
        description="`VirtualService` routes on Istio Gateways (networking.istio.io); `HTTPRoute` on Gateway API "
        "Gateways (gateway.networking.k8s.io; its CRDs installed, a ReferenceGrant in each backend namespace).",
    )
    hosts: tuple[Text, ...] = Field(
        default=("*",),
        min_length=1,
        description="The VirtualServices' `hosts`, or the HTTPRoutes' `hostnames` (`*`: none, every host).",
    )
    cluster_domain: Text = Field(
        default="cluster.local", description="Domain of in-cluster endpoints (`<svc>.<ns>.svc.<domain>`)."
    )
    traffic_policy: dict[str, Any] | None = Field(
        default=None, description="Istio `trafficPolicy` set on every route's destination."
    )
    resync_seconds: Int = Field(default=60, ge=1, description="Full pull and repair period.")
    lease_name: Text = Field(default="apim-mesh-sync", description="Lease shared by the replicas; its holder writes.")
    lease_duration_seconds: Int = Field(
        default=15, ge=3, description="How long a leader that stopped renewing holds the Lease."
    )
    kubeconfig: FilePath | None = Field(
        default=None, description="Kubeconfig; default: in-cluster, then ~/.kube/config."
    )
    metrics_port: Int = Field(default=9091, ge=0, le=65535, description="Port of its /metrics (0: none).")
    health_port: Int = Field(
        default=9092,
        ge=0,
        le=65535,
        description="Port of its /healthz and /readyz (ready after its first sync, or as a standby replica; 0: none).",
    )
    export_services: ExportServices = Field(
        default=ExportServices(), description="Kubernetes → APIM: annotated Services become APIs."
    )

    @model_validator(mode="after")
    def _gateway_api_names(self) -> MeshSync:
        # What an HTTPRoute's parentRefs and hostnames accept (meshsync.core, from gateway-api's own rules), refused
        # here rather than by the API server on every pass.
        if self.route_kind != "HTTPRoute":
            return self
        for gateway in self.gateways:
            if parent_ref(gateway) is None:
                raise _fail("gateways", f"{gateway!r} is not a Gateway API parent (`[namespace/]name` or "
                                        "`namespace/name/listener`)")  # fmt: skip
        for host in self.hosts:
            if host != "*" and not gateway_api_hostname(host):
                raise _fail("hosts", f"{host!r} is not a Gateway API hostname (`*`, a DNS name or `*.domain`)")
        return self


@dataclass(frozen=True, config=_KEYS)
class BasicAuth:
    enabled: Bool = Field(
        default=False,
        description="Check HTTP Basic credentials on the APIs whose security scheme lists `basic_auth`, as APIM's "
        "gateway does: against APIM's user store (its `APIKeyMgtRemoteUserStoreMgtService`, called as the control "
        "plane's user, who needs `/permission/admin/manage`), the resource's scopes against the user's roles, the "
        "`Unauthenticated` subscription tier per user. Needs `controlPlane.type: wso2` with `gatewayLabel`.",
    )
    cache_seconds: Int = Field(
        default=900,
        ge=1,
        description="How long an accepted user name and password are trusted without asking APIM again (APIM's "
        "gateway token cache: 15 minutes), unless the event hub tells of a change to the user first; a refused pair "
        "is remembered for 10 seconds. Only a keyed hash of the password is kept.",
    )
    max_entries: Int = Field(default=10_000, ge=1, description="Accepted and refused pairs kept, each.")
    email_user_names: Bool = Field(
        default=False,
        description="Set as APIM's `EnableEmailUserName` is: then a user name with one `@` is an e-mail address of "
        "the super tenant, and only a second `@` names a tenant (`alice@example.com@tenant.org`); off, the text "
        "after the last `@` is the tenant.",
    )


@dataclass(frozen=True, config=_KEYS)
class MutualTls:
    enabled: Bool = Field(
        default=False,
        description="Check client certificates on the APIs whose security scheme lists `mutualssl`, as APIM's "
        "gateway does: the certificate the caller presented to the gateway must be one uploaded to the API (its tier "
        "and key type then apply). A WSO2 control plane learns the schemes and certificates only with "
        "`gatewayLabel`. The gateway must terminate the caller's TLS (`tls.mode: MUTUAL` or `OPTIONAL_MUTUAL`) and "
        "write the header itself: Istio's gateways do (`forwardClientCertDetails` `SANITIZE_SET`, the default, or "
        "`APPEND_FORWARD`; never `FORWARD_ONLY` or `ALWAYS_FORWARD_ONLY`, which pass on what the caller sent).",
    )
    header: Text = Field(
        default="x-forwarded-client-cert",
        description="Header in which the gateway describes the caller's certificate (Envoy's XFCC); the adapter "
        "matches the `Hash` of the element the gateway wrote, and refuses a header naming more than one.",
    )


@dataclass(frozen=True, config=_KEYS)
class Cors:
    """APIM's `[apim.cors]` (deployment.toml; api-manager.xml `CORSConfiguration`), with its shipped values."""

    enabled: Bool = Field(
        default=True,
        description="Answer browsers' CORS preflights and add CORS headers as APIM's gateway does "
        "(CORSRequestHandler): an API's own CORS configuration where it enables one (a WSO2 control plane reads it "
        "from the revision deployed to `gatewayLabel`; a catalog file from `corsConfiguration`), else these values. "
        "False where the gateway's own CORS policy (Istio's `corsPolicy`) answers browsers.",
    )
    allow_origins: tuple[Text, ...] = Field(
        default=("*",),
        description="Origins allowed: `*` (answered `*`), an exact origin, or a pattern with `*`.",
    )
    allow_methods: tuple[Text, ...] = Field(
        default=("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"),
        description="Methods a preflight may be allowed.",
    )
    allow_headers: tuple[Text, ...] = Field(
        default=(
            "authorization",
            "Access-Control-Allow-Origin",
            "Content-Type",
            "SOAPAction",
            "apikey",
            "Internal-Key",
        ),
        description="Headers a preflight allows (each API's authorization and API key headers are added).",
    )
    allow_credentials: Bool = Field(
        default=False, description="Send `Access-Control-Allow-Credentials: true` to an allowed origin other than `*`."
    )
    expose_headers: tuple[Text, ...] = Field(
        default=(), description="`Access-Control-Expose-Headers` of preflights (APIM sends it only there)."
    )


@dataclass(frozen=True, config=_KEYS)
class Opa:
    ca_bundle: FilePath | None = Field(
        default=None,
        description='CA bundle for the `https://` OPA servers APIM\'s "Validate Request with OPA" operation policies '
        "name (their `serverUrl`); default: the system's trusted CAs.",
    )


@dataclass(frozen=True, config=_KEYS)
class EndpointSecurity:
    ca_bundle: FilePath | None = Field(
        default=None,
        description="CA bundle for the `https://` token URLs of the OAuth-secured backends APIM's endpoint security "
        "names (their `tokenUrl`); default: the system's trusted CAs.",
    )


@dataclass(frozen=True, kw_only=True, config=_KEYS)
class Config:
    server: Server = Field(default=Server(), description="Listeners and processes.")
    key_managers: tuple[KeyManager, ...] = Field(default=(), description="Key managers whose tokens are accepted.")
    control_plane: ControlPlane = Field(description="Where APIs, applications, subscriptions and tiers come from.")
    rate_limit: RateLimit = Field(default=RateLimit(), description="Where rate-limit counters live.")
    request: Request = Field(default=Request(), description="Request handling.")
    backend_jwt: BackendJwt = Field(default=BackendJwt(), description="Signed backend JWT.")
    api_keys: ApiKeys = Field(default=ApiKeys(), description="APIM's API keys (off by default).")
    mutual_tls: MutualTls = Field(default=MutualTls(), description="Client certificates (off by default).")
    basic_auth: BasicAuth = Field(default=BasicAuth(), description="HTTP Basic authentication (off by default).")
    cors: Cors = Field(default=Cors(), description="CORS, for browsers (on by default, as in APIM).")
    opa: Opa = Field(default=Opa(), description="Open Policy Agent, as APIM's OPA operation policies ask it.")
    endpoint_security: EndpointSecurity = Field(
        default=EndpointSecurity(), description="The backends' credentials APIM's endpoint security names."
    )
    analytics: Analytics = Field(default=Analytics(), description="Analytics events.")
    logging: Logging = Field(default=Logging(), description="Logging.")
    tracing: Tracing = Field(default=Tracing(), description="OpenTelemetry tracing (off by default).")
    mesh_sync: MeshSync | None = Field(
        default=None,
        description="`apim-adapter mesh-sync` (needs `controlPlane.type: wso2`); the adapter itself ignores it.",
    )
    # Not a key of the file: `parse` sets it, `resolve` uses it.
    base_dir: SkipJsonSchema[Path] = Path()

    @model_validator(mode="after")
    def _access_log_service_fits(self) -> Config:
        als = self.analytics.access_log_service
        if not als.enabled:
            return self
        if not self.analytics.enabled:
            raise _fail("analytics.accessLogService.enabled", "needs analytics.enabled: true")
        if not self.request.dynamic_metadata:
            # The access log entry knows the request and the response; only the check's metadata names the API.
            raise _fail("analytics.accessLogService.enabled", "needs request.dynamicMetadata: true")
        server = self.server
        taken = [server.grpc.port, server.admin.port] + ([server.http.port] if server.http is not None else [])
        if als.port and als.port in taken:
            raise _fail("analytics.accessLogService.port", "must differ from the server's ports")
        return self

    @model_validator(mode="after")
    def _schemes_learnt(self) -> Config:
        cp = self.control_plane
        if self.basic_auth.enabled and not isinstance(cp, ControlPlaneWso2):
            raise _fail("basicAuth.enabled", "needs controlPlane.type: wso2: the users are APIM's")
        if not isinstance(cp, ControlPlaneWso2) or cp.gateway_label:
            return self
        # ApisApiServiceImpl answers a single API, the only answer naming its securityScheme, only to a label (and
        # the runtime artifact carrying an API's client certificates is served per label).
        for key, on in (
            ("apiKeys.enabled", self.api_keys.enabled),
            ("mutualTls.enabled", self.mutual_tls.enabled),
            ("basicAuth.enabled", self.basic_auth.enabled),
        ):
            if on:
                raise _fail(key, "needs controlPlane.gatewayLabel: APIM names an API's security scheme only to a "
                            "gateway environment")  # fmt: skip
        return self

    @model_validator(mode="after")
    def _unique_key_manager_names(self) -> Config:
        names = [km.name for km in self.key_managers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _fail("keyManagers", f"duplicate name {dupes[0]!r}")
        return self

    def resolve(self, path: str) -> Path:
        """Relative paths in the config file are relative to the file itself."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


CONFIG = TypeAdapter(Config)
_NOT_KEYS = ("base_dir", "baseDir")
_TYPE_NAMES = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "string_type": "a string",
    "tuple_type": "a list",
    "dataclass_type": "a mapping",
    "dict_type": "a mapping",
}


def _without_nulls(raw: Any) -> Any:
    """A key set to null (`jwksUri:` with nothing after it) is a key not set."""
    if isinstance(raw, Mapping):
        return {k: _without_nulls(v) for k, v in raw.items() if v is not None}
    if isinstance(raw, list):
        return [_without_nulls(v) for v in raw]
    return raw


def _where(loc: tuple[int | str, ...]) -> str:
    path = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif i and loc[i - 1] == "controlPlane" and part in ("file", "wso2"):
            continue  # the union's tag, not a key
        else:
            path += f".{part}" if path else part
    return path or "config"


def _message(error: Any) -> tuple[str, str]:
    """Where a pydantic error is (the file's key path) and what is wrong, in the adapter's words."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    loc = tuple(error["loc"])
    if kind == "config" and "key" in ctx:
        loc += (ctx["key"],)
    if kind == "algorithm_not_allowed" and loc and isinstance(loc[-1], int):
        loc = loc[:-1]  # the message names the value: `keyManagers[0].algorithms: HS256 is not allowed`
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        loc += ("type",)
        message = f"must be one of file, wso2, got {ctx.get('tag', value)!r}"
    elif kind in _TYPE_NAMES:
        got = "a boolean" if isinstance(value, bool) else type(value).__name__
        message = f"expected {_TYPE_NAMES[kind]}, got {got}"
    elif kind == "missing":
        message = "required"
    elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
        message = "unknown key"
    elif kind in ("greater_than_equal", "greater_than"):
        message = f"must be at least {ctx['ge' if 'ge' in ctx else 'gt']}"
    elif kind in ("less_than_equal", "less_than"):
        message = f"must be at most {ctx['le' if 'le' in ctx else 'lt']}"
    elif kind in ("string_too_short", "too_short"):
        message = "must not be empty"
    elif kind == "string_pattern_mismatch":
        message = f"must match {ctx['pattern']}, got {value!r}"
    elif kind == "literal_error":
        expected = str(ctx["expected"]).replace("'", "").replace(" or ", ", ")
        message = f"must be one of {expected}, got {value!r}"
    else:
        message = error["msg"]
    return _where(loc), message


def parse(raw: Any, base_dir: Path = Path()) -> Config:
    raw = {} if raw is None else _without_nulls(raw)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: must be a mapping, got {type(raw).__name__}")
    for key in _NOT_KEYS:
        if key in raw:
            raise ConfigError(f"{key}: unknown key")
    try:
        return CONFIG.validate_python({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        # One message per key: the first (an item's bad value rather than the list then being too short).
        messages: dict[str, str] = {}
        for error in exc.errors():
            where, message = _message(error)
            messages.setdefault(where, f"{where}: {message}")
        raise ConfigError("\n".join(messages.values())) from None


def load(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse(raw, path.parent)
