"""What a Decision tells Envoy, whatever the transport: the backend's headers, the client's, the metadata, and
the denial's status and body. The transports (`transport/grpc.py`, `transport/http.py`) only put these into
their own message shapes.

An allow repeats itself: every request of one application on one API gets the same context headers and
metadata. `Renderer.allow` prepares that part once and hands back the same object for the same caller, so a
transport can keep its own finished message for it; only the rate-limit headers change per request.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from .analytics import decided
from .backend_jwt import end_user
from .backend_tokens import Token
from .cache import TtlCache
from .catalog import BASIC_AUTH, PRODUCTION
from .config import Request
from .decision import ApiKeyPlaces, Decision
from .endpoint_security import OAUTH, BackendCredential, OAuthEndpoint
from .errors import ErrorCode
from .ratelimit import Usage
from .tokens import basic_auth

Headers = tuple[tuple[str, str], ...]
Metadata = tuple[tuple[str, str], ...]
# The metadata key of an allow's analytics fields, which Envoy's access log entry brings back (`access_log.py`):
# one JSON object in a string, which costs the gateway and the adapter less than a struct of a dozen fields.
ANALYTICS = "analytics"
# Beside it, on a resource APIM logs (api_log.py): its level, so that the entry writes the call's response too.
API_LOG_LEVEL = "api_log_level"
JSON = (("content-type", "application/json"),)
CHALLENGE = (("www-authenticate", 'Bearer realm="apim", error="invalid_token"'),)
BASIC_CHALLENGE = (("www-authenticate", basic_auth.CHALLENGE),)
FOREVER = float("inf")


@dataclass(frozen=True, eq=False)  # compared by identity: one object per prepared allow
class Allow:
    upstream: Headers  # headers the backend receives
    remove: tuple[str, ...]  # headers removed before the backend sees the request
    metadata: Metadata  # dynamic metadata for the access log and later filters; () for none
    until: float = FOREVER  # when it must be prepared again (the backend JWT in it expires)
    # Query parameters removed before the backend sees the request (gRPC mode; Envoy's HTTP mode has no way to)
    remove_query: tuple[str, ...] = ()
    # Headers added to the backend's response where it has none of that name (CORS)
    downstream: Headers = ()
    # Query parameters set on the backend's request (an Add Query Param policy; gRPC mode)
    query: tuple[tuple[str, str], ...] = ()
    # Headers set on the backend's response, replacing its own of that name (an Add Header policy's response flow)
    downstream_replace: Headers = ()
    # The backend's path without the query ('' for the client's), and whether the client's query follows it (a
    # Rewrite Resource Path policy; gRPC mode: Envoy's HTTP client cannot change the path)
    path: str = ""
    keep_query: bool = False
    method: str = ""  # the backend's method, '' for the client's (a Change HTTP Method policy; gRPC mode)
    # The API's name where its operation policies or its endpoint's API key change the query, the path or the
    # method, which only the gRPC provider carries out; '' where they do not (HTTP mode counts the calls it cannot
    # mediate so)
    grpc_only: str = ""


@dataclass(frozen=True)
class Deny:
    status: int
    headers: Headers
    body: bytes
    metadata: Metadata


def header_safe(value: str) -> str:
    """Catalog names become header values: keep them to one printable line."""
    if value.isascii() and value.isprintable():
        return value
    return "".join(ch if ch.isprintable() and ch.isascii() else "_" for ch in value)


RATE_LIMIT, RATE_REMAINING, RATE_RESET = "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"


def rate_headers(usage: Usage | None) -> Headers:
    if usage is None:
        return ()
    return (
        (RATE_LIMIT, str(usage.limit.count)),
        (RATE_REMAINING, str(usage.remaining)),
        (RATE_RESET, str(usage.reset)),
    )


# Bounded: a denial's description may hold what the client sent (a Schema Validation message quotes the value that
# failed, an XML Validator's the entity named), so that unique values would otherwise each keep a body alive.
@functools.lru_cache(maxsize=256)
def _body(error: ErrorCode) -> bytes:
    values = {"code": error.code, "type": error.body_type, "message": error.message, "description": error.description}
    return json.dumps({key: values[key] for key in error.body}).encode()


# The throttle-outs whose body says when the client may call again: a quota's (API, resource, application,
# subscription), whose window end APIM's gateway knows from its traffic manager; not burst control, for which it
# sets no THROTTLED_NEXT_ACCESS_TIMESTAMP (ThrottleHandler).
NEXT_ACCESS = frozenset({"900800", "900802", "900803", "900804"})
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def next_access_time(epoch: float) -> str:
    """A time as handleThrottleOut writes it: SimpleDateFormat `yyyy-MMM-dd HH:mm:ssZ` in UTC, then " UTC"."""
    t = time.gmtime(epoch)
    return f"{t.tm_year}-{_MONTHS[t.tm_mon - 1]}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}+0000 UTC"


def _throttled_body(error: ErrorCode, at: str) -> bytes:
    """A quota's throttle-out as APIM's gateway answers it: the description names the time, and so does a field of
    its own (handleThrottleOut: `errorDescription + " .You can access API after " + nextAccessTime`)."""
    description = f"{error.description} .You can access API after {at}"
    body = {"code": error.code, "message": error.message, "description": description, "nextAccessTime": at}
    return json.dumps(body).encode()


class Renderer:
    def __init__(
        self,
        request: Request,
        backend_jwt: Callable[[Decision, float], tuple[str, str, float] | None] | None = None,
        max_prepared: int = 10_000,
        analytics_metadata: bool = False,
        api_keys: ApiKeyPlaces | None = None,  # where an API key comes in; None: keys are off
        basic_auth: bool = False,  # user names and passwords are checked
        backend_tokens: Callable[[OAuthEndpoint, float], Token | None] | None = None,  # OAuth-secured backends'
    ):
        self.basic_auth = basic_auth
        self.backend_tokens = backend_tokens
        p = request.header_prefix
        self.h_api, self.h_version = p + "api", p + "api-version"
        self.h_app_id, self.h_app_name = p + "application-id", p + "application-name"
        self.h_tier, self.h_key_type = p + "tier", p + "key-type"
        self.own_headers = (self.h_api, self.h_version, self.h_app_id, self.h_app_name, self.h_tier, self.h_key_type)
        self.remove_authorization = () if request.keep_authorization_header else ("authorization",)
        self.dynamic_metadata = request.dynamic_metadata
        # An allow's analytics fields in its metadata, for the access log service to write its event from.
        self.analytics_metadata = analytics_metadata and request.dynamic_metadata
        self.backend_jwt = backend_jwt
        self._prepared: TtlCache[tuple[object, ...], Allow] = TtlCache(max_prepared, 64 << 20)
        # An API key leaves the request as APIM's gateway takes it out (ApiKeyAuthenticator.extractApiKey): the
        # header, or the query parameter.
        self.remove_api_key = (api_keys.header,) if api_keys else ()
        self.remove_api_key_query = (api_keys.query_parameter,) if api_keys and api_keys.query_parameter else ()
        self._throttled: dict[str, tuple[float, bytes]] = {}  # code → the window end its body names, the body

    @property
    def not_from_client(self) -> frozenset[str]:
        """The request headers the backend never gets from the client: its credential, which an allow takes out,
        and the context headers the adapter writes (a client's copy of one is not the adapter's)."""
        return frozenset(self.remove_authorization + self.own_headers + self.remove_api_key)

    def allow(self, d: Decision, now: float) -> Allow:
        api, app, key, sub = d.api, d.application, d.key_mapping, d.subscription
        assert api is not None
        by_key = d.principal is not None and d.principal.api_key is not None
        caller: tuple[object, ...] = (api.uuid, api.name, api.version, api.context, by_key, d.cors)
        if app is not None and key is not None:
            caller += (app.uuid, app.name, app.owner, key.key_type, sub.policy if sub else "")
            if self.backend_jwt is not None and d.principal is not None:
                # The backend JWT copies the token's claims: one per token, told apart by what its principal holds
                # (key manager, client, subject, scopes, expiry, jti), as APIM's gateway keeps one per token.
                caller += (d.principal,)
        if d.resource is not None and d.resource.mediation is not None:
            caller += (d.resource.mediation, d.backend_path)  # the API's operation policies differ by resource
        # The endpoint's credential, by the call's key type (a new revision may change it).
        credential = d.resource.credential(api, key.key_type if key is not None else PRODUCTION) if d.resource else None
        if credential is not None:
            caller += (credential,)
        if self.analytics_metadata:
            # The event names the resource and the end user: one prepared allow per resource and user.
            user = end_user(d.principal, app) if d.principal is not None and app is not None else ""
            caller += (d.resource.pattern if d.resource is not None else "", user)
            caller += (d.resource.log_level if d.resource is not None else None,)
        prepared = self._prepared.get(caller, now)
        if prepared is None:
            prepared = self._prepare(d, now, credential)
            # The headers' text, twice over where a backend JWT holds the claims its principal (in the key) holds.
            weight = sum(64 + 2 * (len(name) + len(value)) for name, value in prepared.upstream)
            self._prepared.put(caller, prepared, prepared.until, weight)
        return prepared

    def _prepare(self, d: Decision, now: float, credential: BackendCredential | OAuthEndpoint | None) -> Allow:
        api, app, key, sub = d.api, d.application, d.key_mapping, d.subscription
        assert api is not None
        headers = [(self.h_api, header_safe(api.name)), (self.h_version, header_safe(api.version))]
        meta = {"api": api.name, "api_version": api.version, "api_context": api.context}
        until = FOREVER
        if app is not None and key is not None:
            headers += [
                (self.h_app_id, app.uuid),
                (self.h_app_name, header_safe(app.name)),
                (self.h_key_type, key.key_type),
            ]
            meta.update(application=app.name, application_id=app.uuid, key_type=key.key_type, subscriber=app.owner)
        if sub is not None:
            headers.append((self.h_tier, header_safe(sub.policy)))
            meta["tier"] = sub.policy
        if self.backend_jwt is not None and d.principal is not None:
            signed = self.backend_jwt(d, now)
            if signed is not None:
                name, assertion, until = signed
                headers.append((name, assertion))
        # APIM's gateway runs the operation policies last, on the request its handlers leave (mediation.py): theirs
        # override the context headers, and a header they set is not removed (e.g. a backend's Authorization).
        changed = d.resource.mediation if d.resource is not None else None
        policy_set: frozenset[str] = frozenset()
        if changed is not None:
            policy_set = frozenset(name for name, _ in changed.request_headers)
            policy_changed = policy_set.union(changed.removed_headers)
            headers = [h for h in headers if h[0] not in policy_changed] + list(changed.request_headers)
        # A client must not be able to forge the context headers this decision leaves unset.
        set_names = {name for name, _ in headers}
        remove = self.remove_authorization + tuple(h for h in self.own_headers if h not in set_names)
        remove_query: tuple[str, ...] = ()
        if d.principal is not None and d.principal.api_key is not None:
            remove += self.remove_api_key
            remove_query = self.remove_api_key_query
        query: tuple[tuple[str, str], ...] = ()
        downstream_replace: Headers = ()
        if changed is not None:
            remove = tuple(n for n in remove if n not in policy_set)
            remove += tuple(n for n in changed.removed_headers if n not in remove)
            query, downstream_replace = changed.query, changed.response_headers
            policy_query = {key for key, _ in query}
            remove_query = tuple(n for n in remove_query if n not in policy_query)
        # APIM's endpoint security (`credential`), added when the gateway sends the call to the endpoint of its key
        # type, after the operation policies: its header replaces one a policy set, and is not removed.
        if isinstance(credential, OAuthEndpoint):
            credential, until = self._bearer(credential, now, until)
        if credential is not None:
            names = {name for name, _ in credential.headers}
            headers = [h for h in headers if h[0] not in names] + list(credential.headers)
            remove = tuple(n for n in remove if n not in names)
            query += credential.query
            remove_query = tuple(n for n in remove_query if n not in {k for k, _ in credential.query})
        metadata: Metadata = tuple(meta.items()) if self.dynamic_metadata else ()
        if self.analytics_metadata:
            metadata += ((ANALYTICS, json.dumps(decided(d), separators=(",", ":"))),)
            if d.resource is not None and d.resource.log_level is not None:
                metadata += ((API_LOG_LEVEL, d.resource.log_level),)
        downstream = d.cors.response_headers() if d.cors is not None else ()
        path_change = changed.path if changed is not None else None
        method = changed.method if changed is not None else ""
        return Allow(
            tuple(headers), remove, metadata, until, remove_query, downstream, query, downstream_replace,
            d.backend_path, path_change is not None and path_change.keep_query, method,
            api.name if query or path_change or method else "",
        )  # fmt: skip

    def _bearer(self, endpoint: OAuthEndpoint, now: float, until: float) -> tuple[BackendCredential | None, float]:
        """An OAuth-secured endpoint's credential, the token held for it, and until when the allow may send it:
        until the next token is asked for (or, without one yet, a second: the allow is prepared again then)."""
        token = self.backend_tokens(endpoint, now) if self.backend_tokens is not None else None
        if token is None:
            return None, min(until, now + 1)
        bearer = BackendCredential(OAUTH, headers=(("authorization", f"Bearer {token.access}"),))
        return bearer, min(until, max(token.refresh_at, now + 1))

    def preflight(self, d: Decision) -> Deny:
        """A CORS preflight's answer: 200, its CORS headers, no body (CORSRequestHandler: `Utils.send(..., SC_OK)`)."""
        assert d.cors is not None
        return Deny(200, d.cors.response_headers(), b"", ())

    def deny(self, d: Decision, now: float) -> Deny:
        error = d.error
        assert error is not None
        if error.code in NEXT_ACCESS and d.usage is not None:
            ends = d.usage.limit.ends(now)
            kept = self._throttled.get(error.code)
            if kept is None or kept[0] != ends:  # one body per code and window: the next window's names another time
                kept = self._throttled[error.code] = (ends, _throttled_body(error, next_access_time(ends)))
            body = kept[1]
        else:
            body = _body(error)  # by the whole code: one number may have several descriptions
        headers: Headers = JSON
        if error.status == 401:
            headers += CHALLENGE
            if self.basic_auth and d.api is not None and d.api.accepts(BASIC_AUTH):  # how a browser asks for them
                headers += BASIC_CHALLENGE
        elif error.status == 429 and d.usage is not None:
            headers += (("retry-after", str(d.usage.reset)), *rate_headers(d.usage))
        if d.cors is not None:
            headers += d.cors.response_headers()
        return Deny(error.status, headers, body, (("code", error.code),) if self.dynamic_metadata else ())
