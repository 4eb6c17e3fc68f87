"""The decision pipeline, read top to bottom (`Pipeline.steps`):

    plan        pure    the API and resource from path and method (a browser's CORS preflight is answered here);
                        the bearer token, user name and password or
                        API key the API takes, and the client certificate it takes (one uploaded to the API, or
                        none: a denial where needed)
    principal   memory  the token's principal: cached, or checked with keys at hand ... or `Verify` it (I/O: a
                        JWKS fetch, introspection); a user name and password's: cached ... or `VerifyUser` (I/O:
                        APIM's user store); an API key's, always in memory (APIM's certificates); the
                        certificate's, where it admits the caller by itself and no token or key does
    graphql     memory  a GraphQL API's call: what its document asks, read once per distinct body ... or as a
                        `ReadBody` (CPU a driver may spend off its event loop); its fields' operations, as its resource
    admit       pure    revocation, application, subscription, scopes (a user's: through their roles; a GraphQL
                        call's: each field's operation's); the counters the request is counted on
    deny        pure    an API key's permitted addresses and referers; a GraphQL document's depth and complexity
                        against the subscription tier's limits; APIM's deny policies (API, application, user, client IP)
    conditions  pure    an advanced API policy's condition groups: which of its counters this request is counted on
    count       memory  the counters from this process ... or `Count` them in the shared backend (Redis: I/O)
    conclude    pure    the limits: an allow, or WSO2's denial
    policies    pure    an allow's access-check operation policies, in order: JWT claim validators; Regex
                        Policies, JSON and XML Validators, which read the body (a long one as a `ReadBody`,
                        CPU a driver may spend off its event loop); OPA, whose verdict it may `AskOpa` for (I/O)

Every answer on an API with CORS carries the headers its caller's Origin gets (`with_cors`).

`steps` is a generator: where it needs something that is not in memory it yields what it needs and resumes with
the answer, so the sequence exists once for every driver. A gRPC check thread drives it from memory and hands it
to the event loop only at a yield (`first_step` / `Pipeline.finish`; a `ReadBody` it answers itself); HTTP mode
drives it on the loop, and reads a long body on a worker thread rather than hold the loop. `now` is
passed in once per check: nothing below reads a clock. The result is a frozen `Decision`; the transports render
it (`render.py`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import urllib.parse
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from . import blocking, cors, errors, opa, revocation
from .backend_jwt import caller_claims, end_user
from .cache import TtlCache
from .catalog import (
    API_KEY,
    BASIC_AUTH,
    OAUTH2,
    PRODUCTION,
    UNAUTHENTICATED,
    UNLIMITED,
    Api,
    Application,
    Catalog,
    ClientCertificate,
    KeyMapping,
    Limit,
    Policy,
    Resource,
    Subscription,
)
from .conditions import HEADER, ConditionGroup, Facts
from .config import ApiKeys
from .errors import ErrorCode, Unavailable
from .mediation import (
    NO_BODY,
    SCHEMA_BODY_NOT_WHOLE,
    BodyCheck,
    ClaimCheck,
    JsonCheck,
    OpaCheck,
    RequestBody,
    SchemaCheck,
    ThreatCheck,
    XmlCheck,
    transport_headers,
)
from .ratelimit import Counted, RateLimiter, Times, Usage
from .tokens import Principal, Rejection, application_token, basic_auth, client_certificate, fingerprint
from .tokens.api_key import RESTRICTED, restricted

if TYPE_CHECKING:  # imported where a GraphQL call is read (catalog.py: graphql-core costs ~16 MiB)
    from . import graphql_api


@dataclass(frozen=True)
class CheckInput:
    method: str
    host: str
    path: str
    headers: Mapping[str, str]
    request_id: str = ""
    client_ip: str = ""
    size: int = 0  # the body's bytes, as APIM's gateway counts a bandwidth quota (`transport.body_size`)
    body: RequestBody = NO_BODY  # what the gateway handed over of the body (`transport.request_body`)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the pipeline concluded: allowed when `error` is None. Everything a transport, the metrics, the
    analytics and the backend JWT need; nothing about how Envoy is answered."""

    error: ErrorCode | None
    reason: str
    api: Api | None = None
    resource: Resource | None = None
    principal: Principal | None = None
    application: Application | None = None
    key_mapping: KeyMapping | None = None
    subscription: Subscription | None = None
    usage: Usage | None = None  # the tightest counter: RateLimit-* headers, Retry-After when throttled
    cors: cors.Answer | None = None  # the CORS headers of the answer
    preflight: bool = False  # a CORS preflight, answered here: neither allowed to the backend nor an error
    # An allow whose resource rewrites the backend's path (a Rewrite Resource Path policy): that path, without the
    # client's query (`mediation.PathChange`); '' for the client's path.
    backend_path: str = ""

    @property
    def allowed(self) -> bool:
        return self.error is None and not self.preflight

    @property
    def outcome(self) -> str:
        """`allow`, `preflight` or `deny`: how the metrics and the traces name it."""
        return "allow" if self.allowed else "preflight" if self.preflight else "deny"

    @property
    def status(self) -> int:
        return 200 if self.error is None else self.error.status

    @property
    def code(self) -> str:
        return "" if self.error is None else self.error.code

    @property
    def tier(self) -> str:
        return self.subscription.policy if self.subscription else ""


# A refusal's reason where a policy reads the body and the gateway did not hand it over whole: the operator's to mend
# (includeRequestBodyInCheck), counted apart (metrics.BODIES_UNREAD).
BODY_NOT_WHOLE = "body not handed over whole"


# ---- what the pipeline may ask for ----


@dataclass(frozen=True, slots=True)
class Verify:
    """Validate a token that needs the key manager; answered with a Principal or a Rejection."""

    token: str
    token_sha256: str


@dataclass(frozen=True, slots=True)
class VerifyUser:
    """Ask APIM's user store about a user name and password; answered with a Principal or a Rejection."""

    credential: str
    digest: str
    tenant: str  # the API's: a user of another is refused


@dataclass(frozen=True, slots=True)
class Count:
    """Count a request on counters kept elsewhere; answered with their Usage, in order."""

    counters: tuple[Counted, ...]
    now: float
    size: int  # the request body's bytes (bandwidth quotas)
    times: Times = None  # per counter, how many requests this one counts as (`Counter.times`)


@dataclass(frozen=True, slots=True)
class AskOpa:
    """Ask OPA about an allowed call (an OPA operation policy); answered with None to let it through, else the
    ErrorCode it is refused with."""

    check: OpaCheck
    question: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReadBody:
    """A body-reading policy's verdict on a long body (more than READ_INLINE bytes), or what a GraphQL call's document
    asks (`graphql_call`): pure CPU, up to 0.2 s a MB (bench.body_policies), which the HTTP driver works out on a
    worker thread so that its event loop keeps answering; answered with `read()`: for a policy None to let the call
    through, else the ErrorCode it is refused with."""

    read: Callable[[], Any]


# The longest body a policy reads in line (~3 ms at the slowest, bench.body_policies' worst cases); past it, a
# `ReadBody` (a worker thread's handoff costs ~0.1 ms, a 16 KiB body's reading more).
READ_INLINE = 16 << 10


Need = Verify | VerifyUser | Count | AskOpa | ReadBody
Steps = Generator[Need, Any, Decision]


# ---- the pure steps ----


@dataclass(frozen=True, slots=True)
class ApiKeyPlaces:
    """Where a request carries an APIM API key: a header, else a query parameter (ApiKeyAuthenticator)."""

    header: str  # lower case
    query_parameter: str  # '' for none

    @staticmethod
    def of(api_keys: ApiKeys) -> ApiKeyPlaces | None:
        """Where the config says keys come, None when API keys are off."""
        return ApiKeyPlaces(api_keys.header.lower(), api_keys.query_parameter) if api_keys.enabled else None


@dataclass(frozen=True, slots=True)
class Planned:
    api: Api
    resource: Resource
    token: str  # '' for a resource that needs none
    token_sha256: str
    api_key: bool = False  # `token` is an API key, not a bearer token
    user: bool = False  # `token` is a Basic credential (user name and password); `token_sha256` its HMAC
    # An API key carried beside the bearer token, on an API that takes both: APIM's gateway tries it when the
    # bearer token fails (APIAuthenticationHandler.isAuthenticate: OAuth2 first, then the API key).
    fallback_key: str = ""
    # The API's client certificate the caller presented, where it admits the caller by itself: then a token or key
    # beside it admits the caller as itself if it can (APIM's later authenticator replaces the certificate's
    # context), and the certificate does if it cannot (an optional authenticator's failure changes nothing).
    certificate: ClientCertificate | None = None
    operation: graphql_api.Operation | None = None  # a GraphQL call's: its depth and complexity meet the tier's limits
    # A GraphQL call without a credential, on an API some of whose operations need none: the missing credentials'
    # denial, answered unless every field the document names needs none.
    anonymous: Decision | None = None

    def keyed(self) -> Planned:
        """The same request, with its API key as the credential."""
        return Planned(self.api, self.resource, self.fallback_key, fingerprint(self.fallback_key), api_key=True,
                       certificate=self.certificate, operation=self.operation)  # fmt: skip

    def by_certificate(self) -> Planned:
        """The same request, with its client certificate as the credential."""
        return Planned(self.api, self.resource, "", "", certificate=self.certificate, operation=self.operation)


@dataclass(frozen=True, slots=True)
class Counter:
    key: str
    limit: Limit
    error: ErrorCode  # answered when the limit is exceeded ...
    enforce: bool  # ... unless the tier only counts (stopOnQuotaReach: false)
    # How many requests one counts as: a GraphQL call's operations on the API, subscription and application tiers,
    # where ThrottleHandler publishes one throttle event per operation (`publishNonThrottledEvent` in its loop over
    # VERB_INFO_DTO, each event carrying the API, subscription and application keys; the traffic manager counts
    # events: `count(messageID)`, `sum(messageSize)`). Spike arrests are looked at once per request.
    times: int = 1


@dataclass(frozen=True, slots=True)
class Conditional:
    """An API or resource tier with condition groups: the request decides which of its counters it is counted on.
    Built with the other counters, once per catalog for each resource and application (`counters`)."""

    unmet: tuple[Counter, ...]  # the policy's own limit: the requests meeting no group
    groups: tuple[tuple[ConditionGroup, tuple[Counter, ...]], ...]  # each group, and its limit's counter
    reads_headers: bool  # a group reads a header (which a warm check does not read)

    def counters(self, facts: Facts) -> list[Counter]:
        """Each group the request meets counts it; the policy's own limit counts the requests meeting none
        (`ThrottleConditionEvaluator.getApplicableConditions`, the traffic manager's `_condition_<id>` and
        `_default` counts)."""
        met = [counter for group, counter in self.groups if group.applies(facts)]
        return [c for found in met for c in found] if met else list(self.unmet)

    def every_counter(self) -> tuple[Counter, ...]:
        """Every counter a request may be counted on, whichever groups it meets."""
        return self.unmet + tuple(c for _, found in self.groups for c in found)


@dataclass(frozen=True, slots=True)
class Admitted:
    decision: Decision  # the allow, before the limits
    counters: tuple[Counter, ...]  # every request's, unless ...
    version: int  # of the catalog it was admitted on
    conditional: tuple[Counter | Conditional, ...] = ()  # ... a tier has condition groups: in order, per request

    @property
    def reads_headers(self) -> bool:
        """Whether its counters depend on request headers (a condition group's header condition)."""
        return any(isinstance(c, Conditional) and c.reads_headers for c in self.conditional)

    @property
    def counts_bytes(self) -> bool:
        """Whether a counter is a bandwidth quota, counted in each request's bytes."""
        every = list(self.counters)
        for c in self.conditional:
            every += c.every_counter() if isinstance(c, Conditional) else (c,)
        return any(c.limit.data for c in every)


def bearer_token(headers: Mapping[str, str], max_bytes: int) -> str | None:
    """The bearer token of the Authorization header; '' when present but not a usable bearer token."""
    return bearer(headers.get("authorization"), max_bytes)


def bearer(value: str | None, max_bytes: int) -> str | None:
    """The bearer token of an Authorization header's value (None: no header); '' when not a usable one."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return ""
    return token if usable(token, max_bytes) else ""


def usable(token: str, max_bytes: int) -> bool:
    return len(token) <= max_bytes and token.isascii() and token.isprintable() and " " not in token


def api_key_of(req: CheckInput, places: ApiKeyPlaces, max_bytes: int) -> str | None:
    """The API key of a request (None: none); '' when present but not usable."""
    key = req.headers.get(places.header)
    if key is None and places.query_parameter and "?" in req.path:
        query = req.path.partition("?")[2].partition("#")[0]
        key = next((v for k, v in urllib.parse.parse_qsl(query) if k == places.query_parameter), None)
    if key is None:
        return None
    key = key.strip()
    return key if key and usable(key, max_bytes) else ""


def deny(error: ErrorCode, reason: str, **context: Any) -> Decision:
    return Decision(error, reason, **context)


def plan(
    catalog: Catalog,
    req: CheckInput,
    max_token_bytes: int,
    api_keys: ApiKeyPlaces | None = None,
    certificate_header: str | None = None,
    user_digest: Callable[[str], str] | None = None,
) -> Planned | Decision:
    found = catalog.resolve(req.path)
    if found is None:
        return deny(errors.NOT_FOUND, "no API for path")
    api, subpath = found
    method = req.method.upper()
    if method == "OPTIONS" and api.cors is not None:
        res = preflight_resource(api, subpath, req)
        if isinstance(res, Decision):
            return res
    else:
        res = api.match(method, subpath)
    if res is None:
        if api.cors is None:
            return deny(errors.NOT_FOUND, "no resource for method and path", api=api)
        if api.has_path(subpath):  # CORSRequestHandler.handleResourceNotFound: 405, else 404
            return deny(errors.METHOD_NOT_ALLOWED, "no resource for method", api=api)
        return deny(errors.RESOURCE_NOT_FOUND, "no resource for method and path", api=api)
    if api.status == "BLOCKED":
        return deny(errors.API_BLOCKED, "API blocked", api=api, resource=res)
    if not res.secured:
        return Planned(api, res, "", "")
    # The security scheme decides only with API keys, client certificates or basic authentication on: then every full
    # pull learns it; without them APIM tells it now and then (an API event's pull), and an API's answers must not
    # change with that.
    schemes_known = api_keys is not None or certificate_header is not None or user_digest is not None
    rule = api.certificate_rule if certificate_header is not None else None
    certificate = None
    if rule is not None:
        assert certificate_header is not None
        digest = client_certificate.presented(req.headers.get(certificate_header))
        certificate = api.client_certificates.get(digest) if digest is not None else None
        if certificate is None and rule.certificate_mandatory:  # MutualSSLAuthenticator: 900901, no further
            return deny(errors.INVALID, "no client certificate of the API", api=api, resource=res)
        if rule.credential_mandatory:
            certificate = None  # the token or key decides; the certificate, checked, adds nothing
    key = api_key_of(req, api_keys, max_token_bytes) if api_keys is not None and api.accepts(API_KEY) else None
    # A `Basic` segment of the Authorization header is the caller's user name and password where the API takes them
    # (OAuthAuthenticator finds no bearer token in it; BasicAuthAuthenticator, next, reads it).
    credential = None
    if user_digest is not None and api.accepts(BASIC_AUTH):
        credential = basic_auth.credential_of(req.headers.get("authorization"))
    if credential is not None and not usable(credential, max_token_bytes):
        if not key:  # else the API key, next, may admit the caller
            return deny(errors.INVALID, "not a usable user name and password", api=api, resource=res)
        credential = None
    if credential is not None:
        assert user_digest is not None
        return Planned(api, res, credential, user_digest(credential), user=True, fallback_key=key or "",
                       certificate=certificate)  # fmt: skip
    token = bearer_token(req.headers, max_token_bytes) if not schemes_known or api.accepts(OAUTH2) else None
    if token:
        return Planned(api, res, token, fingerprint(token), fallback_key=key or "", certificate=certificate)
    if key:
        return Planned(api, res, key, fingerprint(key), api_key=True, certificate=certificate)
    if certificate is not None:
        return Planned(api, res, "", "", certificate=certificate)
    if token is None and key is None:
        # On an API taking certificates, APIM answers the certificate's failure (900901) unless a token or key was
        # mandatory (APIAuthenticationHandler.getError: then "missing credentials").
        if rule is not None and not rule.credential_mandatory:
            return deny(errors.INVALID, "no client certificate of the API, nor a token", api=api, resource=res)
        missing = errors.missing_credentials(api_keys.header if api_keys else "ApiKey")
        if api.graphql is not None and api.graphql.public:  # its fields may all need none: read the document first
            return Planned(api, res, "", "", anonymous=deny(missing, "no credentials", api=api, resource=res))
        return deny(missing, "no credentials", api=api, resource=res)
    return deny(errors.INVALID, "not a usable bearer token or API key", api=api, resource=res)


GRAPHQL_REFUSED = "GraphQL document refused"
# Where the gateway did not include the body: the operator's to mend (includeRequestBodyInCheck), as for every policy
# that reads bodies.
GRAPHQL_BODY_NOT_WHOLE = errors.graphql_invalid(
    "the gateway did not hand the adapter the whole request body (include bodies in its check), "
    "so the GraphQL document cannot be read"
)


def graphql_call(
    api: Api, gateway: Resource, body: RequestBody
) -> Generator[Need, Any, tuple[Resource, graphql_api.Operation] | Decision]:
    """What a call of a GraphQL API runs, as its resource: the operations (URL mappings) of its fields, each with its
    scopes and tier (GraphQLAPIHandler, then APIKeyValidator.findMatchingVerb), and the operation, whose depth and
    complexity the subscription tier limits. A document the API's schema refuses is answered 422 `900422`; one
    naming a field the API has no operation for (introspection alone, say), 403 `900906`: APIM's gateway answers
    that where no field has one, and lets the call through unchecked where some have (graphql_api.py: the
    gateway's slips not copied). Each distinct body is read once (`GraphQLApi.analysed`), as a `ReadBody`: a
    document costs milliseconds of CPU to validate, which the HTTP driver spends off its event loop."""
    from . import graphql_api  # on first use (the import above)

    graphql = api.graphql
    assert graphql is not None
    if not body.whole or not (body.sent or body.known):
        return deny(GRAPHQL_BODY_NOT_WHOLE, BODY_NOT_WHOLE, api=api, resource=gateway)
    digest = hashlib.sha256(body.sent).digest()
    found = graphql.analysed.get(digest, 0.0)
    if found is None:
        found = yield ReadBody(functools.partial(graphql.analyse, body.sent, digest))
    if isinstance(found, graphql_api.Invalid):
        return deny(errors.graphql_invalid(found.description), GRAPHQL_REFUSED, api=api, resource=gateway)
    called = (found.verb, found.fields)
    res = graphql.calls.get(called, 0.0)
    if res is None:
        operations = tuple(graphql.operations.get((found.verb, name.lower())) for name in found.fields)
        if not operations or None in operations:
            error = errors.access_failure(errors.NO_MATCHING_OPERATION, api.context, api.version)
            return deny(error, "no operation of the API for a GraphQL field", api=api, resource=gateway)
        ops = cast("tuple[Resource, ...]", operations)
        res = Resource(
            method=found.verb,
            pattern=found.elected,
            scopes=frozenset().union(*(op.scopes for op in ops)),
            throttling_policy=UNLIMITED,
            # APIKeyValidator.getResourceAuthenticationScheme: none only where every operation needs none.
            auth_scheme="Any" if any(op.secured for op in ops) else "None",
            regex=gateway.regex,
            specificity=gateway.specificity,
            operations=ops,
            mediation=gateway.mediation,  # the API's own policies, run on every call (its operations' run nowhere)
            access_checks=gateway.access_checks,
            log_level=gateway.log_level,  # the gateway's one resource: APIM finds the call's level there
        )
        graphql.calls.put(called, res, math.inf, 64 * len(ops))
    return res, found


def preflight_resource(api: Api, subpath: str, req: CheckInput) -> Resource | Decision | None:
    """An OPTIONS request on an API with CORS (CORSRequestHandler.handleRequest): a resource declaring OPTIONS
    itself takes it as any call (no CORS headers are added to its answer); otherwise a resource of the method the
    preflight names (`Access-Control-Request-Method`, as spelt) is answered at once, without a credential; None
    when neither serves the path (then 405 or 404)."""
    explicit = api.match("OPTIONS", subpath)
    wanted = req.headers.get(cors.REQUEST_METHOD)
    res = api.match(wanted, subpath) if wanted else None
    # Utils.getAcceptableResources puts the resources declaring OPTIONS first: on a tie, they win.
    if explicit is not None and (res is None or explicit.specificity >= res.specificity):
        return explicit
    if res is None:
        return None
    assert api.cors is not None
    answer = api.cors.preflight(req.headers.get("origin"), api.gateway_methods(res))
    return Decision(None, "CORS preflight", api=api, resource=res, cors=answer, preflight=True)


def with_cors(d: Decision, req: CheckInput) -> Decision:
    """The answer with the CORS headers of its caller's Origin, where APIM's gateway writes them: on an allow and on
    the authentication, authorization and throttling denials of an API with CORS (the sequences of those failures
    call `_cors_request_handler_`); not on the handler's own 404 and 405, a blocked API's 503, nor on an OPTIONS
    call a resource declares itself (the handler then sets none)."""
    api = d.api
    if api is None or api.cors is None or d.preflight or d.resource is None:
        return d
    if d.error is errors.API_BLOCKED or req.method.upper() == "OPTIONS":
        return d
    return replace(d, cors=api.cors.call(req.headers.get("origin")))


# A revoked token: JWTValidator's words for a JWT in RevokedJWTDataHolder's maps; an API key's
# (ApiKeyAuthenticatorUtils) are any invalid credential's; an opaque token is inactive to the key manager.
REVOKED_JWT = Rejection(
    errors.described(errors.INVALID, "Invalid JWT token. Make sure you have provided the correct security credentials"),
    "token revoked",
)
REVOKED = Rejection(errors.INVALID, "token revoked")
REVOKED_OPAQUE = Rejection(errors.INVALID, "token revoked", access_failure=True)


def refusal(error: ErrorCode, principal: Principal, api: Api, res: Resource) -> ErrorCode:
    """A subscription or scope refusal in the words of the authenticator that took the credential: an API key's
    (ApiKeyAuthenticator through GatewayUtils.validateAPISubscription: 900908 "Resource forbidden " whatever the
    subscription's state), an opaque token's (OAuthAuthenticator: the key manager's validation status, "Access
    failure for API: ..."), a JWT's (JWTValidator: the subscription's words in `error`, the resource named for a
    scope)."""
    if principal.api_key is not None:
        return errors.RESOURCE_FORBIDDEN
    if principal.introspected:
        return errors.access_failure(error, api.context, api.version)
    return errors.scope_refused(res.pattern) if error is errors.SCOPE else error


def subscription_error(sub: Subscription | None, key: KeyMapping) -> ErrorCode | None:
    """WSO2's subscription state rules (Choreo Connect's KeyValidator)."""
    if sub is None:
        return errors.FORBIDDEN
    if sub.state == "BLOCKED" or (sub.state == "PROD_ONLY_BLOCKED" and key.key_type == "PRODUCTION"):
        return errors.BLOCKED
    if sub.state in ("ON_HOLD", "REJECTED"):
        return errors.SUBSCRIPTION_INACTIVE
    return None


# The callers APIM's gateway makes an application up for (`stand_in`), which it counts otherwise (`counters`).
CERTIFICATE, USER = "certificate", "user"


def counters(
    catalog: Catalog,
    api: Api,
    res: Resource,
    app: Application | None,
    sub: Subscription | None,
    made_up_for: str = "",
) -> tuple[Counter | Conditional, ...]:
    """The tiers this request is counted on but the application's: API or resource, subscription. Built once per
    catalog for each resource and application (the catalog decides the subscription): every cached admission of
    that application's tokens shares them, rather than each keeping copies for the garbage collector to walk.
    `made_up_for`: the caller APIM's gateway makes the application up for (`stand_in`), CERTIFICATE or USER; "" for
    an application of APIM's."""
    if res.operations:  # a GraphQL call's: the client chose its fields, so not kept for the catalog's lifetime
        return _counters(catalog, api, res, app, sub, made_up_for)
    key = (id(res), app.uuid if app is not None else "", made_up_for)  # the resource belongs to this catalog
    kept = catalog.counters_kept.get(key)
    if kept is None:
        kept = catalog.counters_kept.setdefault(key, _counters(catalog, api, res, app, sub, made_up_for))
    return kept


def _counters(
    catalog: Catalog,
    api: Api,
    res: Resource,
    app: Application | None,
    sub: Subscription | None,
    made_up_for: str,
) -> tuple[Counter | Conditional, ...]:
    out: list[Counter | Conditional] = []
    # An API's own policy, unless Unlimited, replaces its resources' (gateway ThrottleHandler: "If API level
    # throttle policy is present then it will apply and no resource level policy will apply for it"). A caller
    # admitted by certificate is held to no resource's (MutualSSLAuthenticator sets the resource tier Unlimited).
    # A GraphQL call is counted on each of its operations' tiers (ThrottleHandler: one resource key per operation),
    # and once per operation on the API's, the subscription's and the application's (`Counter.times`).
    times = res.throttle_events
    if api.policy != UNLIMITED:
        out += _tier(f"api:{api.uuid}", catalog.api_policies[api.policy], errors.THROTTLED_API, times)
    elif made_up_for != CERTIFICATE:
        for op in res.operations or (res,):
            op_policy = catalog.api_policies[op.throttling_policy]
            out += _tier(f"res:{api.uuid}:{op.method}:{op.pattern}", op_policy, errors.THROTTLED_RESOURCE)
    # Then the subscription's quota and its spike arrest, in ThrottleHandler's order (the spike arrest is checked only
    # when the quota is not reached: a request over both is answered 900804). The application's counters are the
    # caller's (`application_counters`). A caller APIM's gateway makes the application up for is stopped at the quota
    # whatever the tier says, and has no spike arrest: MutualSSLAuthenticator.setAuthenticationContext and
    # BasicAuthAuthenticator.authenticate set stopOnQuotaReach and leave the context's spikeArrestLimit 0, which only
    # the OAuth2 and API key contexts set (GatewayUtils.generateAuthenticationContext), and ThrottleHandler checks
    # the subscription's spike arrest only where it is above 0.
    sub_policy = catalog.subscription_policies.get(sub.policy) if sub is not None else None
    if app is not None and sub is not None and sub_policy is not None:  # a user's tier may not exist: APIM's default
        if sub_policy.limit:
            key = f"sub:{app.uuid}:{api.uuid}"
            stops = bool(made_up_for) or sub_policy.stop_on_quota_reach
            out.append(Counter(key, sub_policy.limit, errors.THROTTLED_SUBSCRIPTION, stops, times))
        if sub_policy.burst and not made_up_for:
            key = f"burst:{app.uuid}:{api.uuid}"
            out.append(Counter(key, sub_policy.burst, errors.BURST_SUBSCRIPTION, True))
    return tuple(out)


def application_counters(catalog: Catalog, app: Application, user: str, times: int = 1) -> tuple[Counter, ...]:
    """The application tier's quota and spike arrest, counted for each of its users: APIM's gateway keys both by
    application and end user (ThrottleHandler: `applicationLevelThrottleKey = applicationId + ":" + authorizedUser`;
    `user` is `authorized_user`), so each user of an application has the whole tier. `times`: `Counter.times` of the
    quota."""
    policy = catalog.application_policies[app.policy]
    quota = application_quota(catalog, app, user, times)
    out = [quota] if quota is not None else []
    if policy.burst:
        out.append(Counter(f"appburst:{app.uuid}:{user}", policy.burst, errors.BURST_APPLICATION, True))
    return tuple(out)


def application_quota(catalog: Catalog, app: Application, user: str, times: int = 1) -> Counter | None:
    """The application tier's quota of one user of the application (none where the tier has none): also what a
    Developer Portal "reset" of that user's quota restarts (APIM's traffic manager resets this key alone; the spike
    arrest is the gateway's own)."""
    limit = catalog.application_policies[app.policy].limit
    return Counter(f"app:{app.uuid}:{user}", limit, errors.THROTTLED_APPLICATION, True, times) if limit else None


def reset_quota(catalog: Catalog, app_id: int, user: str) -> tuple[Counted, ...]:
    """The counters a Developer Portal "reset" of an application user's quota restarts (snapshot.quota_reset names
    the application by its numeric id and the user as `user@tenant`, as APIM's traffic manager keys it): that user's
    quota of the application's tier; none for an application or tier the catalog does not have."""
    app = catalog.applications.get(catalog.application_ids.get(app_id, ""))
    if app is None or app.policy not in catalog.application_policies:
        return ()
    quota = application_quota(catalog, app, user)
    return ((quota.key, quota.limit),) if quota is not None else ()


def authorized_user(principal: Principal, app: Application | None, tenant: str) -> str:
    """The end user APIM's gateway counts an application's quota for and matches user deny policies against
    (ThrottleHandler's `authorizedUser`): the authentication context's user name (`end_user`, the one the backend JWT
    names: an application's token names the application's owner), with `@<the API's tenant>` added where it does not
    contain it."""
    user = end_user(principal, app) if app is not None else principal.subject
    return user if tenant in user else f"{user}@{tenant}"


def _tier(key: str, policy: Policy, error: ErrorCode, times: int = 1) -> list[Counter | Conditional]:
    def limited(key: str, limit: Limit | None) -> tuple[Counter, ...]:
        return (Counter(key, limit, error, True, times),) if limit else ()

    if not policy.groups:
        return list(limited(key, policy.limit))
    groups = tuple((g, limited(f"{key}:condition:{g.id}", g.limit)) for g in policy.groups)
    reads_headers = any(c.kind == HEADER for g in policy.groups for c in g.conditions)
    return [Conditional(limited(key, policy.limit), groups, reads_headers)]


def _admission(allowed: Decision, kept: tuple[Counter | Conditional, ...], version: int) -> Admitted:
    backend = backend_counter(allowed)
    if backend is not None:
        kept += (backend,)
    if any(isinstance(c, Conditional) for c in kept):
        return Admitted(allowed, (), version, kept)
    return Admitted(allowed, cast("tuple[Counter, ...]", kept), version)  # no Conditional among them


def backend_counter(allowed: Decision) -> Counter | None:
    """The API's backend throughput for the caller's key type (`Api.backend_limits`), looked at last, once every
    tier has let the call through: ThrottleHandler checks its hard limit (`isHardLimitThrottled`) only then, keyed
    by API context, version and key type, for every caller (an unsecured resource's calls are PRODUCTION:
    APIAuthenticationHandler), once per operation of a GraphQL call. Over it: 503 `900801`."""
    api, res, key = allowed.api, allowed.resource, allowed.key_mapping
    if api is None or not api.backend_limits:
        return None
    key_type = key.key_type if key is not None else PRODUCTION
    limit = api.backend_limits.get(key_type)
    if limit is None:
        return None
    times = res.throttle_events if res is not None else 1
    return Counter(f"backend:{api.uuid}:{key_type}", limit, errors.HARD_LIMIT, True, times)


def applied(admission: Admitted, req: CheckInput) -> tuple[Counter, ...]:
    """The counters this request is counted on: the admission's, with its condition groups met."""
    if not admission.conditional:
        return admission.counters
    d = admission.decision

    def claims() -> dict[str, Any]:  # the token's, and WSO2's about the caller (as its backend JWT carries them)
        return {**d.principal.claims, **(caller_claims(d) or {})} if d.principal is not None else {}

    facts = Facts(req.headers, req.path, req.client_ip, claims)
    out: list[Counter] = []
    for c in admission.conditional:
        out += c.counters(facts) if isinstance(c, Conditional) else [c]
    return tuple(out)


def stand_in(
    api: Api, name: str, owner: str, who: str, key_type: str, issuer: str, tier: str
) -> tuple[Application, KeyMapping, Subscription]:
    """The application, key mapping and subscription APIM's gateway makes up for a caller that brings none of its
    own (a client certificate, a user name and password): one application `name` per `who`, on no application
    tier, subscribed to the API on `tier`."""
    uuid = f"{name}:{who}"
    app = Application(uuid, None, name, owner, UNLIMITED, "", api.organization)
    return app, KeyMapping(uuid, "", key_type, issuer), Subscription("", api.uuid, uuid, tier, "UNBLOCKED")


# MutualSSLAuthenticator.setAuthenticationContext: a caller admitted by certificate is of this application
# (APIConstants.MUTUAL_SSL_AUTH_APPLICATION_NAME, _OWNER), subscribed on the certificate's tier.
CERTIFICATE_APPLICATION, CERTIFICATE_APPLICATION_OWNER = "MutualSSLAuthApplication", "MutualSSLAuthApplicationOwner"
CERTIFICATE_ISSUER = "mutual TLS"  # the key manager a certificate's "key mapping" names


def admit_certificate(catalog: Catalog, planned: Planned, principal: Principal) -> Admitted:
    """A caller admitted by one of the API's client certificates: on its tier, with its key type. Its subscription
    quota is the certificate's own — APIM's gateway keys it by the application it names every such caller
    (`MutualSSLAuthApplication`), so that all of an API's certificates would share one — and no application tier
    applies (the context names none); nor do scopes, which APIM checks on OAuth2 tokens only."""
    api, res, cert = planned.api, planned.resource, principal.certificate
    assert cert is not None
    app, key, sub = stand_in(api, CERTIFICATE_APPLICATION, CERTIFICATE_APPLICATION_OWNER, cert.alias, cert.key_type,
                             CERTIFICATE_ISSUER, cert.tier)  # fmt: skip
    allowed = Decision(None, "allowed", api, res, principal, app, key, sub)
    return _admission(allowed, counters(catalog, api, res, app, sub, made_up_for=CERTIFICATE), catalog.version)


# BasicAuthAuthenticator.authenticate: a caller admitted by user name and password is of this application, named
# by the user (APIConstants.BASIC_AUTH_APPLICATION_NAME, _OWNER: its leading space is APIM's), on the
# `Unauthenticated` subscription tier (APIM's default tier, 500 requests a minute unless changed), with no
# application tier.
USER_APPLICATION, USER_APPLICATION_OWNER = "BasicAuthApplication", " BasicAuthApplicationOwner"
USER_SCOPE_REFUSED = errors.described(errors.SCOPE, "Scope validation failed")  # BasicAuthAuthenticator's words


def admit_user(catalog: Catalog, planned: Planned, principal: Principal) -> Admitted | Decision:
    """A user APIM's user store authenticated: held to the resource's scopes through their roles, then counted on the
    API or resource tier and, per user and API, on the `Unauthenticated` subscription tier. No subscription is
    needed."""
    api, res, roles = planned.api, planned.resource, principal.user_roles
    assert roles is not None
    app, key, sub = stand_in(api, USER_APPLICATION, USER_APPLICATION_OWNER, principal.subject, "PRODUCTION",
                             basic_auth.ISSUER, UNAUTHENTICATED)  # fmt: skip
    if res.scopes and not all(holds_scope(catalog, op.scopes, roles) for op in _scoped(res)):
        return Decision(USER_SCOPE_REFUSED, "scope missing", api, res, principal, app, key, sub)
    allowed = Decision(None, "allowed", api, res, principal, app, key, sub)
    return _admission(allowed, counters(catalog, api, res, app, sub, made_up_for=USER), catalog.version)


def _scoped(res: Resource) -> tuple[Resource, ...]:
    """The resources whose scopes a caller must hold one of each: the resource, or a GraphQL call's operations that
    have scopes (DefaultKeyValidationHandler.validateScopes: any scope of each operation, every operation)."""
    return tuple(op for op in res.operations if op.scopes) if res.operations else (res,)


def holds_scope(catalog: Catalog, scopes: frozenset[str], roles: frozenset[str]) -> bool:
    """Whether a user's roles grant one of a resource's scopes (BasicAuthCredentialValidator.validateScopes): a scope
    APIM does not know grants nothing; one without roles grants itself to every user; else the user must have one of
    its roles — an `Internal/` role in any case (validateInternalUserRoles), any other as spelt."""
    for scope in scopes:
        allowed = catalog.scope_roles.get(scope)
        if allowed is None:
            continue
        if not allowed or roles & allowed:
            return True
        internal = {r.lower() for r in allowed if r.partition("/")[0].lower() == "internal" and "/" in r}
        if internal and any(r.lower() in internal for r in roles):
            return True
    return False


def admit(catalog: Catalog, planned: Planned, principal: Principal | None) -> Admitted | Decision:
    """Who may call this resource: the principal's application, its subscription and the resource's scopes."""
    api, res = planned.api, planned.resource
    if principal is None:  # an unsecured resource
        allowed = Decision(None, "allowed", api=api, resource=res)
        return _admission(allowed, counters(catalog, api, res, None, None), catalog.version)
    if principal.certificate is not None:
        return admit_certificate(catalog, planned, principal)
    if principal.user_roles is not None:
        return admit_user(catalog, planned, principal)
    if principal.api_key is not None:
        key, app = api_key_application(catalog, principal)
        if key is None or app is None:
            refused = refusal(errors.FORBIDDEN, principal, api, res)
            return deny(refused, "no application for the API key", api=api, resource=res, principal=principal)
    else:
        if api.key_managers is not None and principal.key_manager not in api.key_managers:
            # OAuthAuthenticator.authenticate: a JWT of a key manager the API does not list is invalid credentials
            # (an opaque one is validated only by the API's: DefaultKeyValidationHandler.getAccessTokenInfo).
            return deny(refusal(errors.INVALID, principal, api, res), "a key manager the API does not take",
                        api=api, resource=res, principal=principal)  # fmt: skip
        if principal.introspected and not token_type_fits(res.auth_scheme, principal):
            return deny(refusal(errors.INCORRECT_TOKEN_TYPE, principal, api, res), "a token of the other type",
                        api=api, resource=res, principal=principal)  # fmt: skip
        key = catalog.key_mappings.get((principal.consumer_key, principal.key_manager))
        app = catalog.applications.get(key.app_uuid) if key else None
        if key is None or app is None:
            return deny(refusal(errors.FORBIDDEN, principal, api, res), "no application for the consumer key",
                        api=api, resource=res, principal=principal)  # fmt: skip
    sub = None
    if api.subscription_validation:
        sub = catalog.subscriptions.get((app.uuid, api.uuid))
        error = subscription_error(sub, key)
        if error is not None:
            refused = refusal(error, principal, api, res)
            return Decision(refused, f"subscription {sub.state if sub else 'missing'}", api, res, principal, app, key)
    # An API key is not held to the resource's scopes: ApiKeyAuthenticator marks the resource as needing no
    # authentication of its own (`AUTH_NO_AUTHENTICATION`), and scopes are checked by the OAuth2 validator only.
    if res.scopes and principal.api_key is None and any(not (op.scopes & principal.scopes) for op in _scoped(res)):
        return Decision(refusal(errors.SCOPE, principal, api, res), "scope missing", api, res, principal, app, key, sub)
    # JWTValidator.validateAudiences, after the subscription and the scopes: a JWT naming none of the API's audiences.
    is_jwt = principal.api_key is None and not principal.introspected
    if is_jwt and api.audiences is not None and api.audiences.isdisjoint(audiences_of(principal.claims)):
        return Decision(errors.AUDIENCE, "audience not accepted", api, res, principal, app, key, sub)
    allowed = Decision(None, "allowed", api, res, principal, app, key, sub)
    kept = counters(catalog, api, res, app, sub) + application_counters(
        catalog, app, authorized_user(principal, app, api.organization), res.throttle_events
    )
    return _admission(allowed, kept, catalog.version)


API_KEY_ISSUER = "APIM API key"  # the key manager an API key's "key mapping" names: APIM itself


def audiences_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """A JWT's `aud`, one string or a list of them (as nimbus's JWTClaimsSet.getAudience reads it)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return frozenset((aud,))
    return frozenset(a for a in aud if isinstance(a, str)) if isinstance(aud, list) else frozenset()


def token_type_fits(auth_scheme: str, principal: Principal) -> bool:
    """Whether an opaque token is of the type the resource asks for (AbstractKeyValidationHandler
    .hasTokenRequiredAuthLevel, which the key manager's validation runs for opaque tokens only): an application's
    token (introspection's `aut` APPLICATION, equalsIgnoreCase: AMDefaultKeyManagerImpl.getTokenMetaData) for
    `Application`, a user's for `Application_User`, either for any other scheme."""
    application = application_token(principal)
    if auth_scheme == "Application":
        return application
    return not application if auth_scheme == "Application_User" else True


def api_key_application(catalog: Catalog, principal: Principal) -> tuple[KeyMapping | None, Application | None]:
    """The application an API key names by its numeric id (GatewayUtils.validateAPISubscription, APIKeyValidator
    .validateSubscription), and its key type as a key mapping would give it."""
    assert principal.api_key is not None
    uuid = catalog.application_ids.get(principal.api_key.application_id)
    app = catalog.applications.get(uuid) if uuid is not None else None
    if app is None:
        return None, None
    return KeyMapping(app.uuid, "", principal.api_key.key_type, API_KEY_ISSUER), app


def anonymous_counter(catalog: Catalog, admitted: Admitted, client_ip: str) -> Counter | None:
    """A caller of an unsecured resource is counted by address on the `Unauthenticated` tier, per API, after the API or
    resource tier: APIAuthenticationHandler gives such a request the tier `Unauthenticated` and the client's address
    as its application, and ThrottleHandler keys the subscription quota by application, API context and version.
    None where the resource is secured, the address unknown, or the catalog has no such tier."""
    d = admitted.decision
    if d.principal is not None or not client_ip or d.api is None:
        return None
    policy = catalog.subscription_policies.get(UNAUTHENTICATED)
    if policy is None or policy.limit is None:
        return None
    # stopOnQuotaReach is set, whatever the tier says ("we don't have details on unauthenticated tier").
    times = d.resource.throttle_events if d.resource is not None else 1
    key = f"sub:anonymous:{client_ip}:{d.api.uuid}"
    return Counter(key, policy.limit, errors.THROTTLED_SUBSCRIPTION, True, times)


def outside_key_terms(admitted: Admitted, req: CheckInput) -> Decision | None:
    """An API key used from an address or page it does not permit (per request: neither is part of a kept
    admission)."""
    a = admitted.decision
    terms = a.principal.api_key if a.principal is not None else None
    if terms is None or not restricted(terms, req.client_ip, req.headers.get("referer")):
        return None
    return Decision(RESTRICTED, "API key restriction", a.api, a.resource, a.principal, a.application, a.key_mapping,
                    a.subscription)  # fmt: skip


def beyond_graphql_limits(
    catalog: Catalog, admitted: Admitted, operation: graphql_api.Operation | None
) -> Decision | None:
    """A GraphQL document deeper or more complex than the caller's subscription tier allows
    (GraphQLQueryAnalysisHandler, after authentication, before throttling: depth first). Held to every caller with a
    tier; APIM's gateway holds only OAuth2 callers to it (the limits reach it from the key manager's validation), so
    an API key's call passes there whatever its document."""
    if operation is None:
        return None
    a = admitted.decision
    policy = catalog.subscription_policies.get(a.subscription.policy) if a.subscription is not None else None
    if policy is None:
        return None
    if 0 < policy.graphql_max_depth < operation.depth:
        error = errors.graphql_too_deep(operation.depth, policy.graphql_max_depth)
    elif 0 < policy.graphql_max_complexity < operation.complexity:
        error = errors.GRAPHQL_TOO_COMPLEX
    else:
        return None
    return Decision(error, "GraphQL document beyond the tier's limits", a.api, a.resource, a.principal, a.application,
                    a.key_mapping, a.subscription)  # fmt: skip


def denied(catalog: Catalog, admitted: Admitted, client_ip: str) -> Decision | None:
    """APIM's deny policies, per request (the client address is not part of a kept admission)."""
    if not catalog.deny_policies:
        return None
    a = admitted.decision
    app = blocking.application_key(a.application.owner, a.application.name) if a.application else None
    assert a.api is not None
    user = authorized_user(a.principal, a.application, a.api.organization) if a.principal else None
    if blocking.blocked(catalog.deny_policies, a.api.context, app, user, client_ip):
        return Decision(errors.DENY_POLICY, "deny policy", a.api, a.resource, a.principal, a.application,
                        a.key_mapping, a.subscription)  # fmt: skip
    return None


def conclude(admission: Admitted, counters: tuple[Counter, ...], usages: list[Usage]) -> Decision:
    """The limits, in APIM's gateway's order: the first counter whose limit was reached decides — a tier that
    denies throttles; one that only counts (stopOnQuotaReach: false) lets the request go on and no later tier is
    looked at (`ThrottleHandler`) — otherwise allow. Either allow reports the tightest counter (of requests, where
    there is one: RateLimit-* count requests, a bandwidth quota's bytes only without them)."""
    a = admission.decision
    requests = [u for u in usages if not u.limit.data]
    error, reason, usage = None, "allowed", min(requests or usages, key=lambda u: u.remaining)
    for counter, counted in zip(counters, usages, strict=True):
        if counted.exceeded:
            if counter.enforce:
                error, reason, usage = counter.error, "throttled", counted
            break
    return Decision(error, reason, a.api, a.resource, a.principal, a.application, a.key_mapping, a.subscription, usage)


def jwt_claims(d: Decision) -> Mapping[str, Any] | None:
    """The caller's JWT access token's claims, as APIM's policies read them (JWTValidator's `JWT_CLAIMS`); None for an
    opaque token, an API key, a certificate, a user and password or an unsecured resource."""
    p = d.principal
    by_jwt = p is not None and not (p.introspected or p.api_key or p.certificate or p.user_roles is not None)
    return p.claims if by_jwt and p is not None else None


def claim_refused(d: Decision, check: ClaimCheck) -> Decision | None:
    """A JWT claim based access validator's refusal of an allow (mediation.ClaimCheck); None when it lets it be."""
    error = check.refusal(jwt_claims(d))
    return None if error is None else replace(d, error=error, reason=f"claim {check.claim} refused")


def checked(d: Decision, req: CheckInput, token: str, hidden: frozenset[str], catalog: Catalog) -> Steps:
    """An allow's access checks (APIM's gateway runs them after throttling, so a refused call was counted): Schema
    Validation first (its handler comes after the throttle handler, before the API's policies), then the
    access-check operation policies, in order; the first refusal answers. Schema Validation, a JWT claim validator,
    a Regex Policy, a JSON and an XML Validator decide here (all but the claim validator on the body the gateway
    handed over, `req.body`); an OPA policy is asked (`AskOpa`). `hidden`: the request headers they do not see,
    those the backend does not get from the client (`Renderer.not_from_client`)."""
    checks = d.resource.access_checks if d.resource is not None else ()
    if not checks or d.error is not None:
        return d
    for check in checks:
        if isinstance(check, ClaimCheck):
            refused = claim_refused(d, check)
            if refused is not None:
                return refused
            continue
        if isinstance(check, BodyCheck):
            read = _body_reading(check, req, hidden, catalog)
            error = (yield ReadBody(read)) if len(req.body.sent) > READ_INLINE else read()
            if error is not None:
                unread = not req.body.whole or error is SCHEMA_BODY_NOT_WHOLE
                reason = BODY_NOT_WHOLE if unread else _BODY_REFUSAL[type(check)]
                return replace(d, error=error, reason=reason)
            continue
        if check.unusable:
            return replace(d, error=errors.OPA_FAILED, reason="OPA policy unusable")
        jwt = token if check.send_access_token and token and jwt_claims(d) is not None else None
        ask = opa.question(d, req.method, req.path, req.headers, req.client_ip, hidden, jwt)
        error = yield AskOpa(check, ask)
        if error is not None:
            return replace(d, error=error, reason="refused by OPA" if error is errors.OPA_REFUSED else "OPA failed")
    return d


def rewritten(d: Decision, path: str, catalog: Catalog) -> Decision:
    """An allow with the backend's path its resource's Rewrite Resource Path policy gives (`backend_path`): below
    the API context the client called, as APIM's gateway joins its REST_URL_POSTFIX to the endpoint."""
    change = d.resource.mediation.path if d.allowed and d.resource and d.resource.mediation else None
    if change is None:
        return d
    return replace(d, backend_path=change.under(catalog.context_called(path)))


_BODY_REFUSAL = {ThreatCheck: "threat detected", JsonCheck: "JSON limit reached", XmlCheck: "XML refused",
                 SchemaCheck: "schema validation failed"}  # fmt: skip


def _body_reading(
    check: BodyCheck, req: CheckInput, hidden: frozenset[str], catalog: Catalog
) -> Callable[[], ErrorCode | None]:
    """A body-reading check's verdict on this request, to be worked out (in line, or as a `ReadBody`)."""
    if isinstance(check, JsonCheck):
        return functools.partial(check.refusal, req.method, req.body, catalog.context_called(req.path))
    if isinstance(check, XmlCheck):
        return functools.partial(check.refusal, req.method, req.body)
    found = catalog.resolve(req.path)
    query = req.path.partition("?")[2].partition("#")[0]
    postfix = (found[1] if found else req.path.partition("?")[0]) + (f"?{query}" if query else "")
    headers = transport_headers(req.headers, hidden)
    if isinstance(check, SchemaCheck):
        return functools.partial(check.refusal, req.method, headers, postfix, req.body)
    return functools.partial(check.refusal, headers, postfix, req.body)


# ---- the sequence, once for every driver ----


class Pipeline:
    def __init__(
        self,
        catalog: Callable[[], Catalog | None],
        authenticator: Any,
        limiter: RateLimiter,
        max_token_bytes: int = 8192,
        max_admitted: int = 50_000,
        api_keys: ApiKeyPlaces | None = None,
        certificate_header: str | None = None,
        users: basic_auth.BasicAuthenticator | None = None,
        opa_client: opa.OpaClient | None = None,
        hidden_headers: frozenset[str] = frozenset({"authorization"}),
    ):
        self.catalog, self.authenticator, self.limiter = catalog, authenticator, limiter
        self.opa = opa_client or opa.OpaClient()  # OPA operation policies: asked after the limits
        self.hidden_headers = hidden_headers  # what the access-check policies do not see (`checked`)
        self.users = users  # None: user names and passwords are not taken
        self.max_token_bytes = max_token_bytes
        self.api_keys = api_keys  # None: API keys are not taken
        self.certificate_header = certificate_header  # None: client certificates are not checked
        # A warm check repeats the previous identical one: the same token on the same resource of the same
        # catalog is admitted the same way, so its admission is kept (until the token expires).
        self._admitted: TtlCache[tuple[str, int], Admitted] = TtlCache(max_admitted, 64 << 20)

    def steps(self, req: CheckInput, now: float) -> Steps:
        d = yield from self._steps(req, now)
        return with_cors(d, req)

    def _steps(self, req: CheckInput, now: float) -> Steps:
        catalog = self.catalog()
        if catalog is None:
            raise Unavailable("no catalog loaded yet")
        users = self.users
        user_digest = users.digest if users is not None else None
        planned = plan(catalog, req, self.max_token_bytes, self.api_keys, self.certificate_header, user_digest)
        if isinstance(planned, Decision):
            return planned

        principal: Principal | None = None
        # A GraphQL call's credential missing or refused, on an API some of whose operations need none: answered
        # once its document is read, unless every field it names needs none (as APIM's gateway takes such a call).
        refused = planned.anonymous
        if planned.token:
            if planned.api_key:
                found = self.authenticator.lookup_api_key(planned.token, planned.token_sha256, now)
            elif planned.user:
                assert users is not None
                found = users.lookup(planned.token, planned.token_sha256, planned.api.organization, now)
                if found is None:
                    found = yield VerifyUser(planned.token, planned.token_sha256, planned.api.organization)
                if isinstance(found, Rejection) and planned.fallback_key:  # BasicAuthAuthenticator, then the API key
                    planned, found = self._keyed(planned, found, now)
            else:
                found = self.authenticator.lookup(planned.token, planned.token_sha256, now)
                if found is None:
                    found = yield Verify(planned.token, planned.token_sha256)
                if isinstance(found, Rejection) and planned.fallback_key:  # the API key beside it, as APIM tries it
                    planned, found = self._keyed(planned, found, now)
            if (
                not isinstance(found, Rejection)
                and found.user_roles is None
                and revocation.revoked(catalog.revocations, found, planned.token_sha256, now)
            ):
                found = REVOKED_OPAQUE if found.introspected else REVOKED_JWT if found.api_key is None else REVOKED
            if isinstance(found, Rejection):
                if planned.certificate is None:
                    api, error = planned.api, found.error
                    if found.access_failure:
                        error = errors.access_failure(error, api.context, api.version)
                    refused = deny(error, found.reason, api=api, resource=planned.resource)
                    if api.graphql is None or not api.graphql.public:
                        return refused
                else:
                    planned = planned.by_certificate()  # the certificate admits the caller by itself
            else:
                principal = found
        if planned.certificate is not None and principal is None:
            principal = client_certificate.principal(planned.certificate)

        # A GraphQL API's call: its document read once its caller is known (a call without a valid credential costs
        # no parsing, unless the API has operations that need none), then held to its fields' operations.
        if planned.api.graphql is not None:
            called = yield from graphql_call(planned.api, planned.resource, req.body)
            if isinstance(called, Decision):
                return called
            res, operation = called
            if not res.secured:  # no field needs authentication: APIM's gateway takes the call as anonymous
                planned, principal = Planned(planned.api, res, "", "", operation=operation), None
            elif refused is not None:
                return refused
            else:
                planned = replace(planned, resource=res, operation=operation)

        admitted = self._admit(catalog, planned, principal, now)
        certificate = planned.certificate
        if isinstance(admitted, Decision) and certificate is not None and planned.token:
            planned = planned.by_certificate()  # a token or key admitted nowhere: the certificate admits by itself
            admitted = self._admit(catalog, planned, client_certificate.principal(certificate), now)
        if isinstance(admitted, Decision):
            return admitted
        blocked = (
            outside_key_terms(admitted, req)
            or beyond_graphql_limits(catalog, admitted, planned.operation)
            or denied(catalog, admitted, req.client_ip)
        )
        if blocked is not None:
            return blocked

        counted = applied(admitted, req)
        anonymous = anonymous_counter(catalog, admitted, req.client_ip)
        if anonymous is not None:  # the subscription's quota: before the backend throughput, which comes last
            last = len(counted) - (1 if counted and counted[-1].error is errors.HARD_LIMIT else 0)
            counted = (*counted[:last], anonymous, *counted[last:])
        if not counted:
            d = yield from checked(admitted.decision, req, planned.token, self.hidden_headers, catalog)
            return rewritten(d, req.path, catalog)
        wanted = tuple((c.key, c.limit) for c in counted)
        times = tuple(c.times for c in counted) if any(c.times != 1 for c in counted) else None
        usages = self.limiter.hit_now(wanted, now, req.size, times)
        if usages is None:
            usages = yield Count(wanted, now, req.size, times)
        d = yield from checked(conclude(admitted, counted, usages), req, planned.token, self.hidden_headers, catalog)
        return rewritten(d, req.path, catalog)

    def _keyed(self, planned: Planned, failed: Rejection, now: float) -> tuple[Planned, Principal | Rejection]:
        """The API key beside a credential that failed: its answer if it admits, else the first failure stands."""
        keyed = planned.keyed()
        by_key = self.authenticator.lookup_api_key(keyed.token, keyed.token_sha256, now)
        return (planned, failed) if isinstance(by_key, Rejection) else (keyed, by_key)

    def _admit(
        self, catalog: Catalog, planned: Planned, principal: Principal | None, now: float
    ) -> Admitted | Decision:
        if principal is None or principal.certificate is not None:
            return admit(catalog, planned, principal)
        kept = self.admission(planned.token_sha256, planned.resource, catalog.version, now)
        if kept is not None:
            return kept
        admitted = admit(catalog, planned, principal)
        if isinstance(admitted, Admitted):
            key = (planned.token_sha256, id(planned.resource))  # the resource belongs to this catalog
            self._admitted.put(key, admitted, principal.expires_at, 512)
        return admitted

    def admission(self, token_sha256: str, resource: Resource, version: int, now: float) -> Admitted | None:
        """The admission kept for this token on this resource of catalog `version`: shared with the prepared
        allow made from it (one copy of each token's admission, not one per cache)."""
        kept = self._admitted.get((token_sha256, id(resource)), now)
        return kept if kept is not None and kept.version == version else None

    async def answer(self, need: Need) -> Any:
        if isinstance(need, Verify):
            return await self.authenticator.verify(need.token, need.token_sha256)
        if isinstance(need, VerifyUser):
            assert self.users is not None
            return await self.users.verify(need.credential, need.digest, need.tenant)
        if isinstance(need, AskOpa):
            return await self.opa.ask(need.check, need.question)
        if isinstance(need, ReadBody):  # CPU the loop should not wait out: on a worker thread
            return await asyncio.get_running_loop().run_in_executor(None, need.read)
        return await self.limiter.hit(need.counters, need.now, need.size, need.times)

    async def finish(self, steps: Steps, need: Need) -> Decision:
        """Drive the rest of a check that stopped at `need`: on the event loop, where the I/O lives."""
        try:
            while True:
                need = steps.send(await self.answer(need))
        except StopIteration as done:
            return done.value
        finally:
            steps.close()

    async def decide(self, req: CheckInput, now: float) -> Decision:
        """A check driven on the event loop: its I/O awaited, a long body read on a worker thread."""
        steps = self.steps(req, now)
        first = first_step(steps, read_bodies=False)
        return first if isinstance(first, Decision) else await self.finish(steps, first)


def first_step(steps: Steps, read_bodies: bool = True) -> Decision | Need:
    """Run a check as far as memory allows: its decision, or the first thing it needs from outside. A long body's
    reading (`ReadBody`) is done here, on the caller's thread, unless `read_bodies` is off (the event loop's driver,
    which hands it to a worker thread)."""
    try:
        step = next(steps)
        while read_bodies and isinstance(step, ReadBody):
            step = steps.send(step.read())
        return step
    except StopIteration as done:
        return done.value
