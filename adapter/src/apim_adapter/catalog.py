"""The catalog: APIs, applications, subscriptions, key mappings and tiers in WSO2's internal data API shapes.

`build()` validates a document (the file control plane's YAML, or what the wso2 control plane pulled) and
returns an immutable, indexed `Catalog` that the decision pipeline reads without locks; a new catalog
replaces the old one in a single reference swap.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from . import api_log, blocking, conditions, cors, endpoint_security, mediation, revocation, schema_validation

if TYPE_CHECKING:  # imported where a GraphQL API is read: graphql-core adds ~16 MiB to a process that needs none of it
    from . import graphql_api
from .blocking import DenyPolicies
from .cache import TtlCache
from .conditions import ConditionGroup
from .endpoint_security import BackendCredential, OAuthEndpoint
from .mediation import (
    AccessCheck,
    AttachedPolicy,
    BodyCheck,
    Mediation,
    OpaCheck,
    SchemaCheck,
)
from .revocation import Revocations

UNLIMITED = "Unlimited"
API_PRODUCT = "APIProduct"  # an API Product's apiType (APIConstants.API_PRODUCT)
# How a catalog names an API's `enableSchemaValidation` (APIM's Publisher: API Configurations > Runtime > Schema
# Validation), which the adapter does not reproduce (docs/wso2-control-plane.md, "What the adapter does not enforce").
SCHEMA_VALIDATION_NOT_APPLIED = "schema validation (requests checked against the API's OpenAPI definition)"
UNAUTHENTICATED = "Unauthenticated"  # APIConstants.UNAUTHENTICATED_TIER: the tier of callers without an application
# The Publisher's securityScheme values (carbon-apimgt APIConstants: DEFAULT_API_SECURITY_OAUTH2,
# API_SECURITY_API_KEY, API_SECURITY_BASIC_AUTH, API_SECURITY_MUTUAL_SSL and the two "mandatory" markers); the
# authenticating ones let a caller in.
OAUTH2, API_KEY, BASIC_AUTH, MUTUAL_SSL = "oauth2", "api_key", "basic_auth", "mutualssl"
MUTUAL_SSL_MANDATORY, CREDENTIAL_MANDATORY = "mutualssl_mandatory", "oauth_basic_auth_api_key_mandatory"
AUTHENTICATING_SCHEMES = frozenset({OAUTH2, API_KEY, BASIC_AUTH, MUTUAL_SSL})
SECURITY_SCHEMES = AUTHENTICATING_SCHEMES | {CREDENTIAL_MANDATORY, MUTUAL_SSL_MANDATORY}
KEY_TYPES = ("PRODUCTION", "SANDBOX")  # APIConstants.API_KEY_TYPE_PRODUCTION, _SANDBOX
# The key type of a call without a key (a resource without authentication), as APIM's gateway routes it: the
# production endpoint (`AM_KEY_TYPE` PRODUCTION, velocity_template.xml).
PRODUCTION = KEY_TYPES[0]
SUBSCRIPTION_STATES = frozenset(
    {
        "UNBLOCKED",
        "BLOCKED",
        "PROD_ONLY_BLOCKED",
        "ON_HOLD",
        "REJECTED",
        "TIER_UPDATE_PENDING",
        "DELETE_PENDING",
    }
)
_TIME_UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "day": 86400, "days": 86400,
    "week": 604800, "weeks": 604800,
    "month": 2592000, "months": 2592000,
    "year": 31536000, "years": 31536000,
}  # fmt: skip
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# API types whose calls APIM's gateway reads in a protocol of their own (APIConstants.API_TYPE_*): their URL mappings
# name topics or tools (verbs SUBSCRIBE, PUBLISH, ...), not HTTP methods and paths, so no check here could enforce
# them as APIM does. HTTP, SOAP, SOAPTOREST and API Products are HTTP resources and enforced; GraphQL APIs are
# enforced by their operations.
GRAPHQL = "GRAPHQL"  # a GraphQL API's apiType: its calls are read by graphql_api.py (`GraphQLApi`)
OTHER_PROTOCOLS = {
    "WS": "WebSocket topics", "WEBSUB": "WebSub topics",
    "SSE": "server-sent event topics", "ASYNC": "AsyncAPI topics", "MCP": "MCP tools",
}  # fmt: skip


class CatalogError(ValueError):
    """A catalog document that cannot be served; the message names the item and field."""


@dataclass(frozen=True)
class Limit:
    """At most `count` requests per `window` seconds, in fixed windows as WSO2 counts them; with `data`, `count`
    bytes of request bodies (a bandwidth quota)."""

    count: int
    window: int
    data: bool = False

    def index(self, now: float) -> int:
        """Which window `now` falls in (every replica agrees as far as the clocks agree)."""
        return int(now // self.window)

    def ends(self, now: float) -> float:
        """When the window `now` falls in ends, in seconds since the epoch."""
        return (self.index(now) + 1) * self.window

    def reset(self, now: float) -> int:
        """Whole seconds until the window ends, at least 1: what Retry-After and RateLimit-Reset say."""
        return self.position(now)[1]

    def position(self, now: float) -> tuple[int, int]:
        """`index(now)` and `reset(now)` at once, for the local limiter's per-check path."""
        index = int(now // self.window)
        return index, max(1, int((index + 1) * self.window - now + 0.999))


@dataclass(frozen=True)
class Policy:
    name: str
    limit: Limit | None  # None: unlimited
    stop_on_quota_reach: bool = True
    # Burst control (spike arrest): `rateLimitCount` per `rateLimitTimeUnit`. A subscription policy's, enforced only
    # when it stops on quota reach (ThrottleHandler.isSubscriptionLevelSpike), over it → 429 900807; an application
    # policy's (`burstLimit`, ThrottleHandler.isApplicationLevelSpike) → 429 900809.
    burst: Limit | None = None
    # An advanced API policy's condition groups (conditions.py): other limits for the requests meeting them; `limit`
    # counts the requests meeting none.
    groups: tuple[ConditionGroup, ...] = ()
    # A subscription policy's limits on a GraphQL call's document (`graphQLMaxDepth`, `graphQLMaxComplexity`): 0 for
    # none (AbstractKeyValidationHandler takes a value above 0 only).
    graphql_max_depth: int = 0
    graphql_max_complexity: int = 0


@dataclass(frozen=True)
class Resource:
    method: str
    pattern: str
    scopes: frozenset[str]
    throttling_policy: str
    auth_scheme: str
    regex: re.Pattern[str]
    specificity: tuple[int, int, int]
    mediation: Mediation | None = None  # what the API's and this operation's policies change (mediation.py)
    access_checks: tuple[AccessCheck, ...] = ()  # their JWT claim validators and OPA checks, in order
    # An API Product's resource: the endpoint security of the API it comes from, by key type; None: the API's own
    # (`Api.backend_credentials`).
    backend_credentials: Mapping[str, BackendCredential | OAuthEndpoint] | None = field(default=None, compare=False)
    # A GraphQL call's: the API's operations (URL mappings) it runs, each with its scopes and tier; its own `method`
    # is their verb and `pattern` their fields, as APIM names the call's resource (`graphql_call`).
    operations: tuple[Resource, ...] = ()
    # APIM's per-API logging: what a call here writes (api_log.py: BASIC, STANDARD or FULL), None for nothing.
    log_level: str | None = None

    def credential(self, api: Api, key_type: str) -> BackendCredential | OAuthEndpoint | None:
        """What the backend gets for a call of this key type here (endpoint_security.py)."""
        own = self.backend_credentials if self.backend_credentials is not None else api.backend_credentials
        return own.get(key_type)

    @property
    def checks_each_call(self) -> bool:
        """Whether an allow here depends on more than the caller: OPA's verdict, a Regex Policy reading the
        request's body, headers and query, a JSON or XML Validator its body, Schema Validation all of them. Such an
        allow is never kept for the next call (a prepared allow). Nor is a GraphQL call's: its body decides."""
        return bool(self.operations) or any(isinstance(c, OpaCheck | BodyCheck) for c in self.access_checks)

    @property
    def reads_body(self) -> bool:
        """Whether a check here reads the request's body: a Regex Policy, a JSON or an XML Validator, Schema
        Validation, or a FULL log level (it writes the payload)."""
        return self.log_level == api_log.FULL or any(isinstance(c, BodyCheck) for c in self.access_checks)

    @property
    def secured(self) -> bool:
        return self.auth_scheme.lower() != "none"

    @property
    def throttle_events(self) -> int:
        """How many of APIM's throttle events a call here makes: one, or a GraphQL call's one per operation
        (ThrottleHandler publishes one per VERB_INFO_DTO; decision.Counter.times)."""
        return len(self.operations) or 1


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A certificate uploaded to an API in the Publisher (APIM's `ClientCertificateDTO`): whoever presents it is
    admitted with its tier and key type."""

    alias: str
    tier: str
    key_type: str  # PRODUCTION or SANDBOX
    subject: str  # its subject's common name, as APIM's gateway names the caller (else the whole subject)
    not_after: float  # its expiry (epoch seconds)


@dataclass(frozen=True, slots=True)
class CertificateRule:
    """How an API taking client certificates weighs them (APIAuthenticationHandler.initializeAuthenticators): the
    certificate is mandatory with `mutualssl_mandatory` or when nothing else lets a caller in; a token or key is
    mandatory too with `oauth_basic_auth_api_key_mandatory`. Neither: either one admits."""

    certificate_mandatory: bool
    credential_mandatory: bool


# The distinct calls of one GraphQL API whose analysis and resource are kept: a client choosing its documents cannot
# grow them further (the oldest go first), and the ones it repeats are answered without reading them again.
GRAPHQL_KEPT_CALLS = 2048
GRAPHQL_KEPT_BYTES = 8 << 20


@dataclass(frozen=True, eq=False)
class GraphQLApi:
    """A GraphQL API: its schema, its operations (the URL mappings: verb QUERY, MUTATION or SUBSCRIPTION, the root
    field's name for pattern), and what the calls it has been sent ask of it."""

    schema: graphql_api.Schema
    operations: Mapping[tuple[str, str], Resource]  # (verb, field lower-cased): APIM matches a field ignoring case
    public: bool  # some operation needs no authentication: a call without a credential has its document read
    # A body's SHA-256 → the operation it runs (or why it is refused); (verb, fields) → the call's resource.
    analysed: TtlCache[bytes, graphql_api.Operation | graphql_api.Invalid] = field(
        default_factory=lambda: TtlCache(GRAPHQL_KEPT_CALLS, GRAPHQL_KEPT_BYTES)
    )
    calls: TtlCache[tuple[str, tuple[str, ...]], Resource] = field(
        default_factory=lambda: TtlCache(GRAPHQL_KEPT_CALLS, GRAPHQL_KEPT_BYTES)
    )

    def analyse(self, body: bytes, digest: bytes) -> graphql_api.Operation | graphql_api.Invalid:
        """What the call with this body (its SHA-256 `digest`) runs, or why it is refused; kept for the next."""
        from . import graphql_api  # on first use (the import above)

        call = graphql_api.call_of(body)
        found = call if isinstance(call, graphql_api.Invalid) else graphql_api.operation(self.schema, call)
        size = len(found.description) if isinstance(found, graphql_api.Invalid) else 64 * len(found.fields)
        self.analysed.put(digest, found, math.inf, size)
        return found


@dataclass(frozen=True)
class Api:
    uuid: str
    id: int | None
    name: str
    version: str
    context: str
    provider: str
    policy: str
    status: str
    api_type: str
    organization: str
    subscription_validation: bool
    resources: tuple[Resource, ...]
    # APIM's `securityScheme` (`oauth2`, `api_key`, `basic_auth`, `mutualssl`, ...); None where the source did not
    # say: the data API's list of APIs carries it only for WebSocket APIs, a single API's pull always.
    security_schemes: frozenset[str] | None = None
    # The certificates uploaded to the API, by the SHA-256 (hex) of their DER: what Envoy's XFCC `Hash` names.
    client_certificates: Mapping[str, ClientCertificate] = field(default_factory=dict, compare=False)
    cors: cors.Cors | None = field(default=None, compare=False)  # None: no CORS handler (cors.py)
    # APIM's endpoint security: the credential added to each allowed call for the backend, by the call's key type
    # (endpoint_security.py); none for a key type whose endpoint is not secured.
    backend_credentials: Mapping[str, BackendCredential | OAuthEndpoint] = field(default_factory=dict, compare=False)
    graphql: GraphQLApi | None = field(default=None, compare=False)  # a GraphQL API's schema and operations
    # APIM's backend throughput (the Publisher's "Backend Throughput", APIDTO `maxTps`): at most so many calls of
    # the API reach its backend per unit of time, by the calls' key type; none for a key type it does not limit.
    backend_limits: Mapping[str, Limit] = field(default_factory=dict, compare=False)
    # The key managers whose tokens the API takes (the Publisher's Key Managers of the API, APIDTO `keyManagers`);
    # None for every one (APIM's `all`, and every API Product).
    key_managers: frozenset[str] | None = field(default=None, compare=False)
    # The audiences a JWT must name one of (APIDTO `audiences`); None for any (none set, or APIM's `all`).
    audiences: frozenset[str] | None = field(default=None, compare=False)

    @functools.cached_property
    def certificate_rule(self) -> CertificateRule | None:
        """None unless the API takes client certificates (its scheme lists `mutualssl`)."""
        schemes = self.security_schemes
        if schemes is None or MUTUAL_SSL not in schemes:
            return None
        others = schemes & {OAUTH2, API_KEY, BASIC_AUTH}
        return CertificateRule(MUTUAL_SSL_MANDATORY in schemes or not others, CREDENTIAL_MANDATORY in schemes)

    def accepts(self, scheme: str) -> bool:
        """Whether the API takes this kind of credential: OAuth2 unless its scheme is known to leave it out, other
        kinds only where its scheme is known to list them."""
        if self.security_schemes is None:
            return scheme == OAUTH2
        return scheme in self.security_schemes

    def gateway_methods(self, res: Resource) -> tuple[str, ...]:
        """The methods of the gateway's resource `res` belongs to: an API's each operation is one resource
        (APIMappingUtil.getURITemplates, one URITemplate per operation); an API Product's operations on one path
        are one (ResourceConfigContext merges them)."""
        if self.api_type != API_PRODUCT:
            return (res.method,)
        return tuple(r.method for r in self.resources if r.pattern == res.pattern)

    def has_path(self, subpath: str) -> bool:
        """Whether some resource, of any method, serves this path."""
        return any(res.regex.fullmatch(subpath) for res in self.resources)

    def match(self, method: str, subpath: str) -> Resource | None:
        """The most specific resource for method and path (below the context), if any."""
        best = None
        for res in self.resources:
            if res.method == method and res.regex.fullmatch(subpath):  # noqa: SIM102
                if best is None or res.specificity > best.specificity:
                    best = res
        return best


@dataclass(frozen=True)
class Application:
    uuid: str
    id: int | None
    name: str
    owner: str
    policy: str
    token_type: str
    organization: str


@dataclass(frozen=True)
class Subscription:
    uuid: str
    api_uuid: str
    app_uuid: str
    policy: str
    state: str


@dataclass(frozen=True)
class KeyMapping:
    app_uuid: str
    consumer_key: str
    key_type: str
    key_manager: str


@dataclass(frozen=True)
class Catalog:
    apis: Mapping[str, Api] = field(default_factory=dict)  # by uuid
    contexts: Mapping[str, Api] = field(default_factory=dict)  # context (and default-version context) → API
    applications: Mapping[str, Application] = field(default_factory=dict)
    subscriptions: Mapping[tuple[str, str], Subscription] = field(default_factory=dict)  # (app, api)
    key_mappings: Mapping[tuple[str, str], KeyMapping] = field(default_factory=dict)  # (consumer key, KM)
    subscription_policies: Mapping[str, Policy] = field(default_factory=dict)
    application_policies: Mapping[str, Policy] = field(default_factory=dict)
    api_policies: Mapping[str, Policy] = field(default_factory=dict)
    application_ids: Mapping[int, str] = field(default_factory=dict)  # APIM's numeric id → uuid (API keys name it)
    # Each scope's roles (APIM's `/scopes`): a basic-authentication caller holds a resource's scope through them.
    scope_roles: Mapping[str, frozenset[str]] = field(default_factory=dict)
    revocations: Revocations = revocation.NONE
    deny_policies: DenyPolicies = blocking.NONE
    version: int = 0
    skipped: tuple[str, ...] = ()  # items a lenient build left out, with why
    unenforced: tuple[str, ...] = ()  # items served otherwise than APIM configures them, with how
    # The rate-limit counters of (resource, application, the caller APIM's gateway made it up for), built when a check
    # first needs them and shared by every token of that application (`decision.counters`): at most the catalog's
    # resources times its applications, client certificates and users APIM authenticated, whatever clients send;
    # gone with this catalog.
    counters_kept: dict[tuple[int, str, str], tuple[Any, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def resolve(self, path: str) -> tuple[Api, str] | None:
        """The API whose context is the longest prefix of path (segment-wise) and the rest of the path."""
        path = path.split("?", 1)[0].split("#", 1)[0] or "/"
        end = len(path)
        while end > 0:
            api = self.contexts.get(path[:end])
            if api is not None:
                return api, path[end:] or "/"
            end = path.rfind("/", 0, end)
        return None

    @functools.cached_property
    def oauth_endpoints(self) -> frozenset[OAuthEndpoint]:
        """The OAuth-secured backends of its APIs and of its products' resources, whose tokens the adapter gets ahead
        (backend_tokens.py)."""
        named = [c for api in self.apis.values() for c in api.backend_credentials.values()]
        for api in self.apis.values():
            named += [c for r in api.resources for c in (r.backend_credentials or {}).values()]
        return frozenset(c for c in named if isinstance(c, OAuthEndpoint))

    def reads_body_at(self, path: str) -> bool:
        """Whether a check of `path` may read the request's body: the API it calls is a GraphQL API, or some resource
        of it, of any method, has a policy that does."""
        found = self.resolve(path)
        if found is None:
            return False
        api = found[0]
        return api.graphql is not None or any(res.reads_body for res in api.resources)

    def context_called(self, path: str) -> str:
        """The API context `path` calls (`resolve`'s prefix: a default version's context where it is called so),
        as Synapse's REST_API_CONTEXT names it; '' for none."""
        path = path.split("?", 1)[0].split("#", 1)[0] or "/"
        found = self.resolve(path)
        if found is None:
            return ""
        rest = found[1]
        return path if rest == "/" and not path.endswith("/") else path[: len(path) - len(rest)]

    @property
    def revoked_jtis(self) -> Mapping[str, float]:
        """The revoked jtis (`jti in catalog.revoked_jtis`); `revocation.revoked()` checks every kind."""
        return self.revocations.jtis

    @property
    def counts(self) -> dict[str, int]:
        return {
            "apis": len(self.apis),
            "applications": len(self.applications),
            "subscriptions": len(self.subscriptions),
            "applicationKeyMappings": len(self.key_mappings),
        }


def compile_template(pattern: str) -> tuple[re.Pattern[str], tuple[int, int, int]]:
    """A WSO2 URI template (`/delay/{delay}`, `/pets/*`, `/*`) as a regex plus its specificity.

    Specificity orders matches: templates without a trailing wildcard first, then more literal
    characters, then more segments.
    """
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    wildcard = pattern.endswith("/*")
    body = pattern[:-2] if wildcard else pattern
    out, literal = [], 0
    for part in re.split(r"(\{[^{}/]+\})", body):
        if part.startswith("{") and part.endswith("}"):
            out.append(r"[^/]+")
        elif part:
            out.append(re.escape(part))
            literal += len(part)
    regex = "".join(out) + (r"(?:/.*)?" if wildcard else r"/?")
    if body == "":
        regex = r"(?:/.*)?"
    segments = body.count("/")
    return re.compile(regex, re.DOTALL), (0 if wildcard else 1, literal, segments)


class _Item:
    """One list item of the document, for typed reads with precise error messages."""

    def __init__(self, raw: Any, where: str):
        if not isinstance(raw, Mapping):
            raise CatalogError(f"{where}: must be an object")
        self.raw, self.where = raw, where

    def get(self, key: str, kind: type | tuple[type, ...], required: bool = False, default: Any = None) -> Any:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise CatalogError(f"{self.where}.{key}: required")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise CatalogError(f"{self.where}.{key}: expected {'/'.join(k.__name__ for k in kinds)}")
        if required and isinstance(value, str) and not value.strip():
            raise CatalogError(f"{self.where}.{key}: must not be empty")
        return value


def _items(doc: Mapping[str, Any], key: str) -> list[tuple[_Item, str]]:
    raw = doc.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CatalogError(f"{key}: must be a list")
    out = []
    for i, item in enumerate(raw):
        label = item.get("name") if isinstance(item, Mapping) else None
        where = f"{key}[{i}]" + (f" ({label})" if isinstance(label, str) else "")
        out.append((_Item(item, where), where))
    return out


# Bytes in a bandwidth quota's unit, as APIM's traffic manager reads it (`BandwidthLimit.getStandardDataAmount`:
# MB and KB in any case, any other unit as bytes).
_DATA_UNITS = {"mb": 1024 * 1024, "kb": 1024}


def _limit(item: _Item, where: str) -> Limit | str | None:
    """A policy's limit: requests, or bytes of request bodies (a bandwidth quota); the type of its quota where it
    counts something else (events, AI tokens: what the response carries, which ext_authz never sees); None
    without one."""
    raw = item.get("defaultLimit", Mapping)
    if raw is None:
        return None
    limit = _Item(raw, f"{where}.defaultLimit")
    quota = limit.get("quotaType", str) or limit.get("type", str) or "requestCount"
    if quota.lower() in ("requestcount", "requestcountlimit"):
        field, amount = "requestCount", "requestCount"
    elif quota.lower() in ("bandwidthvolume", "bandwidthlimit"):
        field, amount = "bandwidth", "dataAmount"
    else:
        return quota
    raw_count = limit.get(field, Mapping)
    if raw_count is None:
        return None
    counted = _Item(raw_count, f"{where}.defaultLimit.{field}")
    count = counted.get(amount, int, required=True)
    unit = counted.get("timeUnit", str, required=True)
    per = counted.get("unitTime", int, default=1)
    if unit.lower() not in _TIME_UNITS:
        raise CatalogError(f"{counted.where}.timeUnit: unknown unit {unit!r}")
    if count < 0 or per < 1:
        raise CatalogError(f"{counted.where}: {amount} >= 0 and unitTime >= 1 required")
    if field == "bandwidth":
        data_unit = counted.get("dataUnit", str, default="")
        return Limit(count * _DATA_UNITS.get(data_unit.lower(), 1), per * _TIME_UNITS[unit.lower()], data=True)
    return Limit(count, per * _TIME_UNITS[unit.lower()])


_BURST_UNITS = {"sec": 1, "min": 60}  # the admin portal's two choices (SubscriptionThrottlePolicyDTO)


def _burst(item: _Item, where: str) -> Limit | None:
    count = item.get("rateLimitCount", int, default=0)
    unit = item.get("rateLimitTimeUnit", str, default="")
    if count <= 0 or not unit:  # 0 / absent: no burst control (APIM stores 0 and null)
        return None
    window = _BURST_UNITS.get(unit.lower()) or _TIME_UNITS.get(unit.lower())
    if window is None:
        raise CatalogError(f"{where}.rateLimitTimeUnit: unknown unit {unit!r}")
    return Limit(count, window)


def _policies(
    doc: Mapping[str, Any], key: str, each, unenforced: dict[str, list[str]], lenient: bool = False
) -> dict[str, Policy]:
    """The policies of one kind; what of each cannot be enforced goes to `unenforced`, by policy name."""
    policies = {UNLIMITED: Policy(UNLIMITED, None)}

    def parse(item: _Item, where: str) -> None:
        name = item.get("name", str, required=True)
        # Named, not numbered: the note must read the same when APIM lists the policies in another order.
        named, notes = f"{key} {name!r}", []  # notes kept only if the whole policy parses (lenient builds)
        limit = None if name == UNLIMITED else _limit(item, where)
        if isinstance(limit, str):
            notes.append(f"{named}: its {limit} quota is not enforced; the tier does not limit requests")
            limit = None
        groups = _condition_groups(item, where, named, notes, lenient) if key == "apiPolicies" else ()
        stop = item.get("stopOnQuotaReach", bool, default=True)
        burst = None
        if key == "subscriptionPolicies" and stop:
            burst = _burst(item, where)
        elif key == "applicationPolicies" and (raw_burst := item.get("burstLimit", Mapping)) is not None:
            burst = _burst(_Item(raw_burst, f"{where}.burstLimit"), f"{where}.burstLimit")
        depth = complexity = 0
        if key == "subscriptionPolicies":
            depth = max(0, item.get("graphQLMaxDepth", int, default=0))
            complexity = max(0, item.get("graphQLMaxComplexity", int, default=0))
        policies[name] = Policy(name, limit, stop, burst, groups, depth, complexity)
        if notes:
            unenforced[name] = notes

    each(key, parse)
    return policies


CUSTOM_POLICY_NOT_ENFORCED = "a custom policy is not enforced"


def _custom_policies(doc: Mapping[str, Any], each) -> list[str]:
    """APIM's custom policies (admin portal: Rate Limiting Policies > Custom Policies; the data API's
    `/global-policies`), each named as not enforced: APIM's traffic manager runs its Siddhi query over every request
    of every API, and its gateways refuse a request whose key, made from the policy's key template, the traffic
    manager throttled (ThrottleHandler.validateCustomPolicy). The adapter runs no Siddhi. The query is not repeated
    in the note (it may name users)."""
    notes: list[str] = []

    def parse(item: _Item, where: str) -> None:
        name = item.get("name", str, required=True)
        template = item.get("keyTemplate", str, default="")
        notes.append(
            f"globalPolicies {name!r} (key template {template!r}): {CUSTOM_POLICY_NOT_ENFORCED}, as the adapter runs "
            "no Siddhi query; requests it would throttle on APIM's gateway are let through"
        )

    each("globalPolicies", parse)
    return notes


GATEWAY_POLICY_NOT_APPLIED = "a gateway policy mapping is not applied whole"


def _gateway_policies(doc: Mapping[str, Any], each, lenient: bool) -> tuple[list[AttachedPolicy], list[str]]:
    """APIM's gateway policies (Publisher: Policies > Gateway Policies) deployed to the gateway label
    (`gatewayPolicies`: GatewayPolicyDTO, `{tenantDomain, gatewayPolicySequenceToBeAdded: [{name, content}]}`, the
    rendered sequences APIM's gateway deploys, GatewayPolicyDeployer → APIGatewayAdmin.deployGatewayPolicy): the
    header changes every API's calls get first (mediation.gateway_sequence), and a note naming what else the
    mappings do, which the adapter does not run. A header change no gateway could send refuses a catalog file
    (`lenient`: named)."""
    attached: list[AttachedPolicy] = []
    notes: list[str] = []

    def parse(item: _Item, where: str) -> None:
        applied: list[AttachedPolicy] = []  # the mapping's, kept only once all of it is read
        not_applied: list[str] = []
        for i, raw in enumerate(item.get("gatewayPolicySequenceToBeAdded", list, default=[])):
            sequence = _Item(raw, f"{where}.gatewayPolicySequenceToBeAdded[{i}]")
            name = sequence.get("name", str, required=True)
            try:
                changes, named = mediation.gateway_sequence(name, sequence.get("content", str, required=True))
            except mediation.PolicyError as exc:
                raise CatalogError(f"{sequence.where}: {exc}") from None
            not_applied += named
            for policy in changes:
                try:
                    mediation.validate(policy)
                except mediation.PolicyError as exc:
                    if not lenient:
                        raise CatalogError(f"{sequence.where}: {exc}") from None
                    not_applied.append(str(exc))
                    continue
                applied.append(policy)
        attached.extend(applied)
        if not_applied:
            notes.append(
                f"{where}: {GATEWAY_POLICY_NOT_APPLIED}: {_listed(not_applied)} not applied, as the adapter runs no "
                "Synapse; APIM's gateway runs them on every API of the gateway environment"
            )

    each("gatewayPolicies", parse)
    return attached, notes


LogLevels = Mapping[tuple[str, str | None, str | None], str]  # (context, method, URL pattern) → level


def _log_levels(doc: Mapping[str, Any], each) -> LogLevels:
    """APIM's per-API logging levels (`apiLogging`: the internal data API's `/api-logging-configs` items, what APIM's
    gateway loads, APILoggerManager.initializeAPILoggerList): an API's (by its context, with the version, as
    AM_API.CONTEXT holds it) and a resource's (its method and URL pattern as well)."""
    levels: dict[tuple[str, str | None, str | None], str] = {}

    def parse(item: _Item, where: str) -> None:
        context = "/" + item.get("context", str, required=True).strip("/")
        level = item.get("logLevel", str, required=True).upper()
        if level not in api_log.RANK:
            raise CatalogError(f"{where}.logLevel: one of {', '.join(api_log.RANK)}, not {level!r}")
        method, path = item.get("resourceMethod", str), item.get("resourcePath", str)
        if (method is None) != (path is None):
            raise CatalogError(f"{where}: resourceMethod and resourcePath go together (APILoggingImpl)")
        levels[(context, method.upper() if method else None, path)] = level

    each("apiLogging", parse)
    return levels


def _logged(resources: tuple[Resource, ...], context: str, levels: LogLevels) -> tuple[Resource, ...]:
    """The resources with the level each call of them is written at (api_log.effective)."""
    api_level = levels.get((context, None, None))
    return tuple(
        dataclasses.replace(r, log_level=level)
        if (level := api_log.effective(api_level, levels.get((context, r.method, r.pattern)))) is not None
        else r
        for r in resources
    )


def _condition_groups(
    item: _Item, where: str, named: str, notes: list[str], lenient: bool
) -> tuple[ConditionGroup, ...]:
    """An advanced API policy's condition groups (internal data API `ApiPolicy.conditionGroups`). Lenient (what
    APIM serves), a group with a condition the adapter cannot evaluate (a pattern only Java's regular expressions
    read) is left out of its policy, and said so, rather than the policy and every API on it."""
    groups = []
    for i, raw in enumerate(item.get("conditionGroups", list, default=[])):
        group = _Item(raw, f"{where}.conditionGroups[{i}]")
        group_id = group.get("conditionGroupId", int, required=True)
        limit = _limit(group, group.where)
        if limit is None:  # the traffic manager deploys no count for it, and the default one counts its requests
            continue  # (ThrottlePolicyTemplateBuilder: `if (conditionGroup.getDefaultLimit() == null) continue`)
        if isinstance(limit, str):
            notes.append(f"{named}: the {limit} quota of its condition group {group_id} is not enforced; the "
                         "requests meeting the group are not limited by the policy")  # fmt: skip
            limit = None
        found = []
        for j, raw_condition in enumerate(group.get("condition", list, default=[])):
            at = f"{group.where}.condition[{j}]"
            if not isinstance(raw_condition, Mapping):
                raise CatalogError(f"{at}: must be an object")
            try:
                found.append(conditions.condition(raw_condition, at))
            except conditions.BadCondition as exc:
                if not lenient:
                    raise CatalogError(str(exc)) from exc
                notes.append(f"{named}: its condition group {group_id} is not enforced ({exc}); the requests meeting "
                             "it are counted on the policy's own limit")  # fmt: skip
                break
        else:
            groups.append(ConditionGroup(group_id, tuple(found), limit))
    return tuple(groups)


def _resources(
    api: _Item, where: str, api_policies: Mapping[str, Policy], methods: frozenset[str] = _METHODS
) -> tuple[Resource, ...]:
    mappings = api.get("urlMappings", list, default=[])
    resources = []
    for j, raw in enumerate(mappings):
        m = _Item(raw, f"{where}.urlMappings[{j}]")
        method = m.get("httpMethod", str, required=True).upper()
        if method not in methods:
            raise CatalogError(f"{m.where}.httpMethod: unknown method {method!r}")
        pattern = m.get("urlPattern", str, required=True)
        scopes = m.get("scopes", list, default=[])
        if not all(isinstance(s, str) for s in scopes):
            raise CatalogError(f"{m.where}.scopes: must be a list of strings")
        policy = m.get("throttlingPolicy", str, default="") or UNLIMITED
        if policy not in api_policies:
            raise CatalogError(f"{m.where}.throttlingPolicy: no API policy named {policy!r}")
        regex, specificity = compile_template(pattern)
        resources.append(
            Resource(
                method=method,
                pattern=pattern,
                scopes=frozenset(scopes),
                throttling_policy=policy,
                auth_scheme=m.get("authScheme", str, default="Any"),
                regex=regex,
                specificity=specificity,
            )
        )
    return tuple(resources)


# APIMaxTpsDTO's time units (publisher-api.yaml `APIMaxTps`, SECOND unless given), in seconds: APIMappingUtil
# .getTimeUnitInMilliseconds stores 1000, 60000 or 3600000 ms, the gateway's hard limit's UnitTime.
_BACKEND_TIME_UNITS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600}


ALL_KEY_MANAGERS = "all"  # APIConstants.KeyManager.API_LEVEL_ALL_KEY_MANAGERS
ALL_AUDIENCES = "all"  # APIConstants.ALL_AUDIENCES


def _names(item: _Item, key: str, every: str, where: str) -> frozenset[str] | None:
    """A list of names as the Publisher's APIDTO gives it, `keyManagers` (the key managers whose tokens the API
    takes, default `["all"]`) or `audiences` (one of which a JWT must name): None for any (absent, or naming
    `every`)."""
    raw = item.get(key, list)
    if raw is None:
        return None
    if not all(isinstance(name, str) for name in raw):
        raise CatalogError(f"{where}.{key}: must be a list of names")
    return None if every in raw else frozenset(raw)


def _backend_limits(item: _Item, where: str) -> Mapping[str, Limit]:
    """An API's backend throughput, `maxTps` as the Publisher's APIDTO gives it (`{production, productionTimeUnit,
    sandbox, sandboxTimeUnit}`): a limit per key type it names a count for. 0 refuses every call of that key type,
    as APIM's gateway does (Synapse's CallerContext admits none where MaximumCount is 0)."""
    raw = item.get("maxTps", Mapping)
    if raw is None:
        return {}
    tps = _Item(raw, f"{where}.maxTps")
    limits = {}
    for key_type in KEY_TYPES:
        name = key_type.lower()
        count = tps.get(name, int)
        unit = tps.get(f"{name}TimeUnit", str, default="SECOND")
        if unit.upper() not in _BACKEND_TIME_UNITS:
            raise CatalogError(f"{tps.where}.{name}TimeUnit: one of SECOND, MINUTE, HOUR, not {unit!r}")
        if count is None:
            continue
        if count < 0:
            raise CatalogError(f"{tps.where}.{name}: must be 0 or more")
        limits[key_type] = Limit(count, _BACKEND_TIME_UNITS[unit.upper()])
    return limits


# The one resource APIM's gateway gives a GraphQL API (TemplateBuilderUtil: every URI template replaced by `POST /*`,
# auth type Any): what its calls' path and method resolve to, before the body names their operations.
_GRAPHQL_GATEWAY_RESOURCE = ("POST", "/*")


def _graphql(item: _Item, where: str, api_policies: Mapping[str, Policy]) -> tuple[GraphQLApi, tuple[Resource, ...]]:
    """A GraphQL API's schema and operations, and the gateway's one resource its calls arrive on."""
    from . import graphql_api  # on first use (the import above)

    sdl = item.get("graphQLSchema", str)
    if sdl is None:
        raise CatalogError(f"{where}.graphQLSchema: required for a GraphQL API (its schema's SDL)")
    raw_policy = item.get("graphQLComplexity", Mapping)
    try:
        policy = _complexity(raw_policy, f"{where}.graphQLComplexity") if raw_policy is not None else None
        schema = graphql_api.Schema.of(sdl, policy)
    except graphql_api.SchemaError as exc:
        raise CatalogError(f"{where}.graphQLSchema: {exc}") from None
    operations: dict[tuple[str, str], Resource] = {}
    for res in _resources(item, where, api_policies, frozenset(graphql_api.VERBS.values())):
        operations.setdefault((res.method, res.pattern.lower()), res)
    method, pattern = _GRAPHQL_GATEWAY_RESOURCE
    regex, specificity = compile_template(pattern)
    gateway = Resource(method, pattern, frozenset(), UNLIMITED, "Any", regex, specificity)
    public = any(not op.secured for op in operations.values())
    return GraphQLApi(schema, operations, public), (gateway,)


def _complexity(raw: Mapping[str, Any], where: str) -> Mapping[str, Mapping[str, int]]:
    """The Publisher's complexity values (its REST API's GraphQLQueryComplexityInfo: `{"list": [{"type", "field",
    "complexityValue"}, ...]}`), by type and field as the gateway's calculator reads them."""
    out: dict[str, dict[str, int]] = {}
    for i, raw_entry in enumerate(_Item(raw, where).get("list", list, default=[])):
        entry = _Item(raw_entry, f"{where}.list[{i}]")
        value = entry.get("complexityValue", int, required=True)
        out.setdefault(entry.get("type", str, required=True), {})[entry.get("field", str, required=True)] = value
    return out


def security_schemes(raw: str | list[Any]) -> frozenset[str]:
    """`securityScheme`: a comma-separated string as APIM stores it (`APIProvider.getSecuritySchemeOfAPI`), or a
    list as the Publisher API writes it; each name trimmed and in lower case, as the gateway matches them
    (`APIAuthenticationHandler.initializeAuthenticators`: equalsIgnoreCase). CatalogError for a list of anything
    but strings."""
    names = raw.split(",") if isinstance(raw, str) else raw
    if not all(isinstance(n, str) for n in names):
        raise CatalogError("must be a string or a list of strings")
    return frozenset(n.strip().lower() for n in names if n.strip())


def _security_schemes(api: _Item) -> frozenset[str] | None:
    raw = api.get("securityScheme", (str, list))
    if raw is None:
        return None
    try:
        return security_schemes(raw)
    except CatalogError as exc:
        raise CatalogError(f"{api.where}.securityScheme: {exc}") from None


def _client_certificates(
    api: _Item, where: str, subscription_policies: Mapping[str, Any], skip: Callable[[CatalogError], None] | None
) -> dict[str, Any]:
    """`clientCertificates`: `[{alias, tier, keyType, certificate}]`, the certificate in PEM (as APIM's runtime
    artifact carries them: ExportUtils.addClientCertificatesToArchive). A certificate uploaded twice keeps its first
    alias. With `skip` (a lenient build), a bad certificate is left out and told to it, not the whole API: APIM
    does not check the tier a certificate is uploaded with, and one stale tier must not take its API away."""
    out: dict[str, ClientCertificate] = {}
    for j, raw in enumerate(api.get("clientCertificates", list, default=[])):
        try:
            digest, cert = _client_certificate(_Item(raw, f"{where}.clientCertificates[{j}]"), subscription_policies)
        except CatalogError as exc:
            if skip is None:
                raise
            skip(exc)
            continue
        out.setdefault(digest, cert)
    return out


def _client_certificate(c: _Item, subscription_policies: Mapping[str, Any]) -> tuple[str, ClientCertificate]:
    """One uploaded certificate, keyed by the SHA-256 (hex) of its DER."""
    alias = c.get("alias", str, required=True)
    tier = c.get("tier", str, default="") or UNLIMITED
    if tier not in subscription_policies:
        raise CatalogError(f"{c.where}.tier: no subscription policy named {tier!r}")
    key_type = c.get("keyType", str, default="PRODUCTION").upper()
    if key_type not in KEY_TYPES:
        raise CatalogError(f"{c.where}.keyType: must be PRODUCTION or SANDBOX")
    pem = c.get("certificate", str, required=True)
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii", "strict"))
    except ValueError as exc:
        raise CatalogError(f"{c.where}.certificate: not a PEM certificate ({exc})") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(names[0].value) if names else cert.subject.rfc4514_string()
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    return digest, ClientCertificate(alias, tier, key_type, subject, cert.not_valid_after_utc.timestamp())


def _operation_policies(
    item: _Item, where: str, lenient: bool, graphql: bool
) -> tuple[list[AttachedPolicy], list[str], list[str]]:
    """An API's operation policies (APIM's mediation: `operationPolicies`, as the wso2 control plane reads them from
    the deployed revision: `{flow, policyName, policyVersion, parameters}`, with `verb` and `target` for an
    operation's, the API's first, each list in its order), those this adapter applies (mediation.py) and what to
    name of the others: each policy it does not apply, and, in a lenient build, one it applies whose parameters no
    gateway could send (left out; a strict build refuses it). A GraphQL API's operations' own policies are the
    third list: APIM's gateway runs none of them (see GRAPHQL_OPERATION_POLICIES_DROPPED)."""
    attached: list[AttachedPolicy] = []
    named: list[str] = []
    dropped: list[str] = []
    for i, raw in enumerate(item.get("operationPolicies", list, default=[])):
        p = _Item(raw, f"{where}.operationPolicies[{i}]")
        flow = p.get("flow", str, required=True)
        if flow not in mediation.FLOWS:
            raise CatalogError(f"{p.where}.flow: must be one of {', '.join(mediation.FLOWS)}")
        policy = AttachedPolicy(
            flow=flow,
            name=p.get("policyName", str, required=True),
            version=p.get("policyVersion", str, default=""),
            parameters=p.get("parameters", Mapping, default={}),
            verb=p.get("verb", str, default=""),
            target=p.get("target", str, default=""),
        )
        if graphql and policy.target:
            dropped.append(policy.named)
            continue
        if not mediation.applied(policy):
            named.append(policy.named)
            continue
        try:
            mediation.validate(policy)
        except mediation.PolicyError as exc:
            if not lenient:
                raise CatalogError(f"{p.where}: {exc}") from None
            if mediation.fails_closed(policy):  # kept, to refuse (500 902011) what it cannot ask OPA about
                named.append(f"{exc} (every call it guards fails)")
                attached.append(policy)
                continue
            named.append(str(exc))
            continue
        attached.append(policy)
    return attached, named, dropped


def _mediated(resources: tuple[Resource, ...], policies: list[AttachedPolicy], lenient: bool) -> tuple[Resource, ...]:
    """The resources with what the API's policies and each operation's own change (`Resource.mediation`) and the
    checks they make of the caller (`Resource.access_checks`)."""
    if not policies:
        return resources
    mediated = []
    for r in resources:
        own = [p for p in policies if p.applies_to(r.method, r.pattern)]
        mediated.append(
            dataclasses.replace(r, mediation=mediation.fold(own), access_checks=mediation.access_checks(own, lenient))
        )
    return tuple(mediated)


def _schema_check(item: _Item, where: str, lenient: bool) -> tuple[SchemaCheck | None, str]:
    """APIM's Schema Validation of an API with `enableSchemaValidation` (schema_validation.py), from its OpenAPI
    definition (`apiDefinition`: the document, or its JSON or YAML text); else why not. A definition the adapter
    cannot validate against (not OpenAPI 3.0) is named; a missing or broken one refuses a catalog file (`lenient`:
    named)."""
    definition = item.raw.get("apiDefinition")
    try:
        if definition is None:
            raise schema_validation.DefinitionError("no apiDefinition (the API's OpenAPI definition)")
        if isinstance(definition, str | bytes):
            parsed = schema_validation.Definition.parse(definition)
        elif isinstance(definition, Mapping):
            parsed = schema_validation.Definition(definition)
        else:
            raise schema_validation.DefinitionError("apiDefinition: must be an OpenAPI document or its text")
    except schema_validation.UnsupportedDefinition as exc:
        return None, str(exc)
    except (schema_validation.DefinitionError, RecursionError) as exc:  # a definition nested past Python's stack
        if not lenient:
            raise CatalogError(f"{where}.apiDefinition: {exc}") from None
        return None, str(exc)
    # One digest for one document, however it was written: a catalog's equal checks are equal (its resources too).
    canonical = json.dumps(parsed.document, sort_keys=True, default=str, separators=(",", ":"))
    return SchemaCheck(parsed, hashlib.sha256(canonical.encode()).hexdigest()), ""


def _operation_policies_note(api: Api, named: list[str]) -> str:
    """What to tell of an API's operation policies that nothing here applies: APIM's gateway runs them in the
    API's sequences, after authentication and throttling; each is named, with its flow and the operation it is
    attached to."""
    return f"{api.name} {api.version}: operation policies not applied here, only by APIM's gateway: {_listed(named)}"


def _listed(named: list[str]) -> str:
    """Policies named in one API's note, at most MAX_NAMED_POLICIES of them."""
    more = len(named) - MAX_NAMED_POLICIES
    return ", ".join(named[:MAX_NAMED_POLICIES]) + (f" and {more} more" if more > 0 else "")


MAX_NAMED_POLICIES = 20  # in one API's note

# APIM 4.5 deploys a GraphQL API with one URI template, `POST /*`, in place of its operations, before it renders the
# API's policy sequence from its URI templates (carbon-apimgt `TemplateBuilderUtil.createAPIGatewayDTOtoPublishAPI`,
# then `setCustomSequencesToBeAdded` → `SynapsePolicyAggregator.generatePolicySequenceForUriTemplateSet`): the
# operations' own policies are in no sequence its gateway runs, while the API's are, on every call
# (`APIManagerExtensionHandler`, after authentication, query analysis and throttling). APIM's Publisher attaches
# none of its common policies to a GraphQL API (each lists only HTTP in `supportedApiTypes`:
# `APIProviderImpl.validateAppliedPolicyWithSpecification`): from APIM, such an API carries custom policies only.
GRAPHQL_OPERATION_POLICIES_DROPPED = (
    "policies of GraphQL operations, which APIM's gateway does not apply either (it deploys a GraphQL API as one "
    "resource; attach them to the API to have them run on every call)"
)


def _backend_credentials(
    item: _Item, where: str, lenient: bool
) -> tuple[dict[str, BackendCredential | OAuthEndpoint], list[str]]:
    """An API's endpoint security (`endpointConfig.endpoint_security`, as the APIDTO of its deployed revision has
    it): the credentials the adapter adds, and what to name of the rest. A secured endpoint no gateway could send as
    configured rejects a strict catalog; a lenient one leaves that credential out and names it (its calls reach the
    backend without it, as they reach it without a usable one from APIM's gateway)."""
    try:
        return endpoint_security.of_api(item.raw.get("endpointConfig"), f"{where}.endpointConfig", lenient)
    except endpoint_security.EndpointSecurityError as exc:
        raise CatalogError(str(exc)) from None


def _bundled_credentials(
    item: _Item, where: str, resources: tuple[Resource, ...], lenient: bool
) -> tuple[tuple[Resource, ...], list[str]]:
    """An API Product's resources, each with the endpoint security of the API it comes from: the product's `apis`
    (its APIProductDTO's: `apiId`, the `operations` taken from that API, and that API's `endpointConfig`, as the
    product's revision holds it), matched by verb and target; and what to name, as for an API's."""
    by_operation: dict[tuple[str, str], dict[str, BackendCredential | OAuthEndpoint]] = {}
    named: list[str] = []
    for i, raw in enumerate(item.get("apis", list, default=[])):
        bundled = _Item(raw, f"{where}.apis[{i}]")
        try:
            found, unsecured = endpoint_security.of_api(
                bundled.raw.get("endpointConfig"), f"{bundled.where}.endpointConfig", lenient
            )
        except endpoint_security.EndpointSecurityError as exc:
            raise CatalogError(str(exc)) from None
        named += [f"{n} of the API {bundled.get('apiId', str, default='?')}" for n in unsecured]
        for j, op in enumerate(bundled.get("operations", list, default=[])):
            operation = _Item(op, f"{bundled.where}.operations[{j}]")
            verb = operation.get("verb", str, required=True).upper()
            by_operation[(verb, operation.get("target", str, required=True))] = found
    if not by_operation:
        return resources, named
    return tuple(dataclasses.replace(r, backend_credentials=by_operation.get((r.method, r.pattern), {}))
                 for r in resources), named  # fmt: skip


def _default_context(context: str, version: str, template: str | None) -> str | None:
    if template and "{version}" in template:
        return template.replace("/{version}", "").replace("{version}", "").rstrip("/") or None
    suffix = "/" + version
    return context[: -len(suffix)] or None if context.endswith(suffix) else None


def build(doc: Any, version: int = 0, lenient: bool = False, cors_settings: cors.Settings | None = None) -> Catalog:
    """The catalog of a document. Strict (a file an operator edits): the first bad item rejects the document.
    Lenient (what APIM serves): a bad item is left out and reported in `skipped`, so that one stale
    reference cannot freeze every later update. `cors_settings`: the global CORS configuration, None where CORS is
    off."""
    if not isinstance(doc, Mapping):
        raise CatalogError("catalog: must be an object with lists apis, applications, subscriptions, …")
    skipped: list[str] = []

    def each(key: str, parse: Callable[[_Item, str], None]) -> None:
        for item, where in _items(doc, key):
            try:
                parse(item, where)
            except CatalogError as exc:
                if not lenient:
                    raise
                skipped.append(str(exc))

    unenforced_policies: dict[str, dict[str, list[str]]] = {"sub": {}, "app": {}, "api": {}}
    subscription_policies = _policies(doc, "subscriptionPolicies", each, unenforced_policies["sub"])
    application_policies = _policies(doc, "applicationPolicies", each, unenforced_policies["app"])
    api_policies = _policies(doc, "apiPolicies", each, unenforced_policies["api"], lenient)
    gateway_attached, gateway_not_applied = _gateway_policies(doc, each, lenient)
    policies_not_run = _custom_policies(doc, each) + gateway_not_applied  # named: Siddhi, Synapse
    log_levels = _log_levels(doc, each)

    apis: dict[str, Api] = {}
    contexts: dict[str, Api] = {}
    api_ids: dict[int, str] = {}
    api_notes: list[str] = []  # what of an API is served otherwise than APIM configures it

    def parse_api(item: _Item, where: str) -> None:
        api_type = item.get("apiType", str, default="HTTP")
        if api_type.upper() in OTHER_PROTOCOLS:
            raise CatalogError(
                f"{where}.apiType: a {api_type} API ({OTHER_PROTOCOLS[api_type.upper()]}) is enforced by APIM's own "
                "gateway, not here: left out, its calls are answered 404"
            )
        context = "/" + item.get("context", str, required=True).strip("/")
        version_ = item.get("version", str, required=True)
        try:
            api_cors = cors.of_api(item.raw, cors_settings)
        except ValueError as exc:
            raise CatalogError(f"{where}.{exc}") from None
        is_graphql = api_type.upper() == GRAPHQL
        attached, not_applied, dropped = _operation_policies(item, where, lenient, is_graphql)
        attached = gateway_attached + attached  # APIManagerExtensionHandler: the gateway's sequence, then the API's
        credentials, by_apims_gateway = _backend_credentials(item, where, lenient)
        graphql = None
        if is_graphql:
            graphql, resources = _graphql(item, where, api_policies)
            resources = _mediated(resources, attached, lenient)  # the API's own: its calls' resources carry them
        else:
            resources = _mediated(_resources(item, where, api_policies), attached, lenient)
        if api_type == API_PRODUCT:
            resources, bundled_unsecured = _bundled_credentials(item, where, resources, lenient)
            by_apims_gateway += bundled_unsecured
        if item.get("enableSchemaValidation", bool, default=False):
            check, why_not = _schema_check(item, where, lenient)
            if check is not None:
                resources = tuple(dataclasses.replace(r, access_checks=(check, *r.access_checks)) for r in resources)
            else:
                by_apims_gateway.append(f"{SCHEMA_VALIDATION_NOT_APPLIED}: {why_not}")
        if log_levels:
            resources = _logged(resources, context, log_levels)
        api = Api(
            uuid=item.get("uuid", str, required=True),
            id=item.get("apiId", int),
            name=item.get("name", str, required=True),
            version=version_,
            context=context,
            provider=item.get("provider", str, default=""),
            policy=item.get("policy", str, default="") or UNLIMITED,
            status=item.get("status", str, default="PUBLISHED"),
            api_type=api_type,
            organization=item.get("organization", str, default="carbon.super"),
            subscription_validation=not item.get("isSubscriptionValidationDisabled", bool, default=False),
            resources=resources,
            security_schemes=_security_schemes(item),
            client_certificates=_client_certificates(
                item, where, subscription_policies, (lambda exc: skipped.append(str(exc))) if lenient else None
            ),
            cors=api_cors,
            backend_credentials=credentials,
            graphql=graphql,
            backend_limits=_backend_limits(item, where),
            key_managers=_names(item, "keyManagers", ALL_KEY_MANAGERS, where),
            audiences=_names(item, "audiences", ALL_AUDIENCES, where) or None,
        )
        if api.policy not in api_policies:
            raise CatalogError(f"{where}.policy: no API policy named {api.policy!r}")
        if api.uuid in apis:
            raise CatalogError(f"{where}.uuid: duplicate {api.uuid!r}")
        claimed = [context]
        if item.get("isDefaultVersion", bool, default=False):
            default = _default_context(context, version_, item.get("contextTemplate", str))
            if default:
                claimed.append(default)
        for ctx in claimed:
            if ctx in contexts and (ctx == contexts[ctx].context or ctx == context):
                raise CatalogError(f"{where}.context: {ctx!r} is already served by {contexts[ctx].name}")
        for ctx in claimed:
            contexts.setdefault(ctx, api)
        apis[api.uuid] = api
        if api.id is not None:
            api_ids[api.id] = api.uuid
        if not_applied:
            api_notes.append(_operation_policies_note(api, not_applied))
        if dropped:
            api_notes.append(f"{api.name} {api.version}: {GRAPHQL_OPERATION_POLICIES_DROPPED}: {_listed(dropped)}")
        if by_apims_gateway:
            api_notes.append(
                f"{api.name} {api.version}: not applied here, only by APIM's gateway: {', '.join(by_apims_gateway)}"
            )

    each("apis", parse_api)

    applications: dict[str, Application] = {}
    app_ids: dict[int, str] = {}

    def parse_application(item: _Item, where: str) -> None:
        app = Application(
            uuid=item.get("uuid", str, required=True),
            id=item.get("id", int),
            name=item.get("name", str, required=True),
            owner=item.get("subName", str, default=""),
            policy=item.get("policy", str, default="") or UNLIMITED,
            token_type=item.get("tokenType", str, default="JWT"),
            organization=item.get("organization", str, default="carbon.super"),
        )
        if app.policy not in application_policies:
            raise CatalogError(f"{where}.policy: no application policy named {app.policy!r}")
        applications[app.uuid] = app
        if app.id is not None:
            app_ids[app.id] = app.uuid

    each("applications", parse_application)

    def app_uuid(item: _Item, uuid_key: str, id_key: str) -> str:
        uuid = item.get(uuid_key, str) or app_ids.get(item.get(id_key, int, default=-1))
        if uuid is None:
            raise CatalogError(f"{item.where}.{uuid_key}: required (or a known {id_key})")
        return uuid

    subscriptions: dict[tuple[str, str], Subscription] = {}

    def parse_subscription(item: _Item, where: str) -> None:
        api_uuid = item.get("apiUUID", str) or api_ids.get(item.get("apiId", int, default=-1))
        if api_uuid is None:
            raise CatalogError(f"{where}.apiUUID: required (or a known apiId)")
        state = item.get("subscriptionState", str, required=True)
        if state not in SUBSCRIPTION_STATES:
            raise CatalogError(f"{where}.subscriptionState: unknown state {state!r}")
        policy = item.get("policyId", str, required=True)
        if policy not in subscription_policies:
            raise CatalogError(f"{where}.policyId: no subscription policy named {policy!r}")
        sub = Subscription(
            uuid=item.get("subscriptionUUID", str, default=""),
            api_uuid=api_uuid,
            app_uuid=app_uuid(item, "applicationUUID", "appId"),
            policy=policy,
            state=state,
        )
        subscriptions[(sub.app_uuid, sub.api_uuid)] = sub

    each("subscriptions", parse_subscription)

    key_mappings: dict[tuple[str, str], KeyMapping] = {}

    def parse_key_mapping(item: _Item, _: str) -> None:
        km = KeyMapping(
            app_uuid=app_uuid(item, "applicationUUID", "applicationId"),
            consumer_key=item.get("consumerKey", str, required=True),
            key_type=item.get("keyType", str, default="PRODUCTION").upper(),
            key_manager=item.get("keyManager", str, required=True),
        )
        key_mappings[(km.consumer_key, km.key_manager)] = km

    each("applicationKeyMappings", parse_key_mapping)

    scope_roles: dict[str, frozenset[str]] = {}

    def parse_scope(item: _Item, where: str) -> None:
        roles = item.get("roles", list, default=[])
        if not all(isinstance(r, str) for r in roles):
            raise CatalogError(f"{where}.roles: must be a list of strings")
        scope_roles[item.get("name", str, required=True)] = frozenset(r.strip() for r in roles if r.strip())

    each("scopes", parse_scope)

    revoked = doc.get("revokedJwts") or []
    if not isinstance(revoked, list) or not all(isinstance(j, str) for j in revoked):
        raise CatalogError("revokedJwts: must be a list of jti strings")
    revocations = doc.get("revocations") or revocation.NONE  # the wso2 control plane's RevocationStore.view()
    if not isinstance(revocations, Revocations):
        raise CatalogError("revocations: only the wso2 control plane sets it; a file lists revokedJwts")
    if revoked:  # a file's revokedJwts hold until the file changes
        forever = dict.fromkeys(revoked, float("inf"))
        revocations = dataclasses.replace(revocations, jtis={**revocations.jtis, **forever})
    try:
        deny_policies = blocking.parse(doc.get("blockConditions"))
    except blocking.BadCondition as exc:
        raise CatalogError(str(exc)) from exc
    if deny_policies.skipped and not lenient:
        raise CatalogError(deny_policies.skipped[0])
    skipped += deny_policies.skipped

    # Only what some request can meet: APIM ships tiers for other kinds of APIs (its Async* subscription tiers count
    # events), which no HTTP subscription names.
    used = {
        "sub": {s.policy for s in subscriptions.values()},
        "app": {a.policy for a in applications.values()},
        "api": {a.policy for a in apis.values()} | {r.throttling_policy for a in apis.values() for r in a.resources},
    }
    unenforced = [
        note for kind, by_name in unenforced_policies.items() for name in sorted(used[kind] & by_name.keys())
        for note in by_name[name]
    ]  # fmt: skip
    unenforced += api_notes + policies_not_run
    return Catalog(
        apis=apis,
        contexts=contexts,
        applications=applications,
        subscriptions=subscriptions,
        key_mappings=key_mappings,
        application_ids=app_ids,
        scope_roles=scope_roles,
        subscription_policies=subscription_policies,
        application_policies=application_policies,
        api_policies=api_policies,
        revocations=revocations,
        deny_policies=deny_policies,
        version=version,
        skipped=tuple(skipped),
        unenforced=tuple(unenforced),
    )
