"""The decision pipeline: resolve the API and resource, authenticate, then subscription, scopes and limits.

Transports hand it a `CheckInput` and turn the `Decision` it returns into Envoy's CheckResponse (gRPC) or
an HTTP answer. Everything here works on the in-memory catalog and caches; the only awaits are the cold
paths (a JWKS refetch, an introspection) and the shared rate-limit backend when configured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .catalog import Api, Application, Catalog, KeyMapping, Limit, Resource, Subscription
from .config import Request
from .errors import ErrorCode, SharedCounters, TokenNotCached, Unavailable
from .ratelimit import RateLimiter, Usage
from .tokens import Principal, TokenRejected


@dataclass(frozen=True)
class CheckInput:
    method: str
    host: str
    path: str
    headers: Mapping[str, str]
    request_id: str = ""
    client_ip: str = ""


@dataclass
class Decision:
    allowed: bool
    status: int = 200
    error: ErrorCode | None = None
    reason: str = ""
    upstream_headers: list[tuple[str, str]] = field(default_factory=list)
    client_headers: list[tuple[str, str]] = field(default_factory=list)  # on deny, and added on allow
    remove_headers: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    api: Api | None = None
    resource: Resource | None = None
    application: Application | None = None
    key_mapping: KeyMapping | None = None
    subscription: Subscription | None = None
    principal: Principal | None = None

    @property
    def body(self) -> bytes:
        if self.error is None:
            return b""
        e = self.error
        return json.dumps({"code": e.code, "message": e.message, "description": e.description}).encode()

    @property
    def code(self) -> str:
        return self.error.code if self.error else ""

    @property
    def tier(self) -> str:
        return self.subscription.policy if self.subscription else ""


def bearer_token(headers: Mapping[str, str], max_bytes: int) -> str | None:
    """The bearer token of the Authorization header; '' when present but not a usable bearer token."""
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return ""
    if len(token) > max_bytes or not token.isascii() or not token.isprintable() or " " in token:
        return ""
    return token


def subscription_error(sub: Subscription | None, key: KeyMapping) -> ErrorCode | None:
    """WSO2's subscription state rules (Choreo Connect's KeyValidator)."""
    if sub is None:
        return errors.FORBIDDEN
    if sub.state == "BLOCKED" or (sub.state == "PROD_ONLY_BLOCKED" and key.key_type == "PRODUCTION"):
        return errors.BLOCKED
    if sub.state in ("ON_HOLD", "REJECTED"):
        return errors.SUBSCRIPTION_INACTIVE
    return None


def counters(
    catalog: Catalog, api: Api, res: Resource, app: Application, sub: Subscription | None
) -> list[tuple[str, Limit, ErrorCode, bool]]:
    """Rate-limit counters for this request: (key, limit, error when exceeded, enforce)."""
    out = []
    api_policy = catalog.api_policies[api.policy]
    if api_policy.limit:
        out.append((f"api:{api.uuid}", api_policy.limit, errors.THROTTLED_API, True))
    res_policy = catalog.api_policies[res.throttling_policy]
    if res_policy.limit:
        key = f"res:{api.uuid}:{res.method}:{res.pattern}"
        out.append((key, res_policy.limit, errors.THROTTLED_RESOURCE, True))
    if sub is not None:
        sub_policy = catalog.subscription_policies[sub.policy]
        if sub_policy.limit:
            key = f"sub:{app.uuid}:{api.uuid}"
            out.append((key, sub_policy.limit, errors.THROTTLED_SUBSCRIPTION, sub_policy.stop_on_quota_reach))
    app_policy = catalog.application_policies[app.policy]
    if app_policy.limit:
        out.append((f"app:{app.uuid}", app_policy.limit, errors.THROTTLED_APPLICATION, True))
    return out


def rate_headers(usage: Usage) -> list[tuple[str, str]]:
    return [
        ("ratelimit-limit", str(usage.limit.count)),
        ("ratelimit-remaining", str(usage.remaining)),
        ("ratelimit-reset", str(usage.reset)),
    ]


def header_safe(value: str) -> str:
    """Catalog names become header values: keep them to one printable line."""
    if value.isascii() and value.isprintable():
        return value
    return "".join(ch if ch.isprintable() and ch.isascii() else "_" for ch in value)


def deny(error: ErrorCode, reason: str, decision: Decision | None = None, extra=()) -> Decision:
    d = decision or Decision(allowed=False)
    d.allowed, d.status, d.error, d.reason = False, error.status, error, reason
    d.client_headers = [("content-type", "application/json"), *extra]
    if error.status == 401:
        d.client_headers.append(("www-authenticate", 'Bearer realm="apim", error="invalid_token"'))
    return d


async def _settled(awaitable) -> Callable[..., Any]:
    """What an awaited answer gives the next decide(): a callable returning it, or raising its rejection."""
    try:
        value = await awaitable
    except TokenRejected as rejected:
        error = rejected

        def reject(*_: Any) -> Any:
            raise error

        return reject
    return lambda *_: value


class Enforcer:
    def __init__(
        self,
        catalog: Callable[[], Catalog | None],
        authenticator: Any,
        limiter: RateLimiter,
        request: Request,
        backend_jwt: Callable[[Decision], tuple[str, str] | None] | None = None,
    ):
        self.catalog, self.authenticator, self.limiter = catalog, authenticator, limiter
        self.request, self.backend_jwt = request, backend_jwt
        p = request.header_prefix
        self.h_api, self.h_version = p + "api", p + "api-version"
        self.h_app_id, self.h_app_name = p + "application-id", p + "application-name"
        self.h_tier, self.h_key_type = p + "tier", p + "key-type"
        self.own_headers = (
            self.h_api,
            self.h_version,
            self.h_app_id,
            self.h_app_name,
            self.h_tier,
            self.h_key_type,
        )
        self.remove = () if request.keep_authorization_header else ("authorization",)

    def decide_now(self, req: CheckInput) -> Decision:
        """The decision from memory alone; raises NeedsIO when a token or a shared counter is not there."""
        return self.decide(req, self.authenticator.cached, self.limiter.hit_now)

    async def check(self, req: CheckInput) -> Decision:
        """The decision, fetching what memory lacks (a token to verify, shared counters) on the way."""
        authenticate, hit = self.authenticator.cached, self.limiter.hit_now
        while True:
            try:
                return self.decide(req, authenticate, hit)
            except TokenNotCached as need:
                authenticate = await _settled(self.authenticator.authenticate(need.token))
            except SharedCounters as need:
                hit = await _settled(self.limiter.hit(need.counters, need.now))

    def decide(
        self,
        req: CheckInput,
        authenticate: Callable[[str], Principal],
        hit: Callable[[list[tuple[str, Limit]], float], list[Usage]],
    ) -> Decision:
        """The pipeline, pure: reads the catalog; tokens and counters come from the two callables."""
        catalog = self.catalog()
        if catalog is None:
            raise Unavailable("no catalog loaded yet")
        d = Decision(allowed=False)
        found = catalog.resolve(req.path)
        if found is None:
            return deny(errors.NOT_FOUND, "no API for path", d)
        api, subpath = found
        d.api = api
        res = api.match(req.method.upper(), subpath)
        if res is None:
            return deny(errors.NOT_FOUND, "no resource for method and path", d)
        d.resource = res
        if api.status == "BLOCKED":
            return deny(errors.API_BLOCKED, "API blocked", d)
        if not res.secured:
            return self._allow(d, None)

        token = bearer_token(req.headers, self.request.max_token_bytes)
        if token is None:
            return deny(errors.MISSING, "no credentials", d)
        if not token:
            return deny(errors.INVALID, "not a usable bearer token", d)
        try:
            principal = authenticate(token)
        except TokenRejected as rejected:
            return deny(rejected.error, rejected.reason, d)
        d.principal = principal
        if principal.jti and principal.jti in catalog.revoked_jtis:
            return deny(errors.INVALID, "token revoked", d)

        key = catalog.key_mappings.get((principal.consumer_key, principal.key_manager))
        app = catalog.applications.get(key.app_uuid) if key else None
        if key is None or app is None:
            return deny(errors.FORBIDDEN, "no application for the consumer key", d)
        d.key_mapping, d.application = key, app
        sub = catalog.subscriptions.get((app.uuid, api.uuid))
        if api.subscription_validation:
            error = subscription_error(sub, key)
            if error is not None:
                return deny(error, f"subscription {sub.state if sub else 'missing'}", d)
            d.subscription = sub
        if res.scopes and not (res.scopes & principal.scopes):
            return deny(errors.SCOPE, "scope missing", d)

        limits = counters(catalog, api, res, app, d.subscription)
        if limits:
            usages = hit([(k, lim) for k, lim, _, _ in limits], time.time())
            for (_, _, error, enforce), usage in zip(limits, usages, strict=True):
                if enforce and usage.exceeded:
                    extra = [("retry-after", str(usage.reset)), *rate_headers(usage)]
                    return deny(error, "throttled", d, extra)
            tightest = min(usages, key=lambda u: u.remaining)
            d.client_headers = rate_headers(tightest)
        return self._allow(d, principal)

    def _allow(self, d: Decision, principal: Principal | None) -> Decision:
        api, app, key = d.api, d.application, d.key_mapping
        assert api is not None
        d.allowed, d.status, d.reason = True, 200, "allowed"
        headers = [(self.h_api, header_safe(api.name)), (self.h_version, header_safe(api.version))]
        meta: dict[str, Any] = {"api": api.name, "api_version": api.version, "api_context": api.context}
        if app is not None and key is not None:
            headers += [
                (self.h_app_id, app.uuid),
                (self.h_app_name, header_safe(app.name)),
                (self.h_key_type, key.key_type),
            ]
            meta.update(application=app.name, application_id=app.uuid, key_type=key.key_type, subscriber=app.owner)
        if d.subscription is not None:
            headers.append((self.h_tier, header_safe(d.subscription.policy)))
            meta["tier"] = d.subscription.policy
        if self.backend_jwt is not None and principal is not None:
            assertion = self.backend_jwt(d)
            if assertion is not None:
                headers.append(assertion)
        # A client must not be able to forge the context headers this decision leaves unset.
        set_names = {name for name, _ in headers}
        d.remove_headers = self.remove + tuple(h for h in self.own_headers if h not in set_names)
        d.upstream_headers, d.metadata = headers, meta
        return d
