"""APIM's "Validate Request with OPA" operation policy (mediation.OpaCheck): what the adapter asks Open Policy Agent
about an allowed call, and how it reads the answer.

The question is carbon-apimgt 9.31.86 `gateway/opa/APIMOPARequestGenerator.generateRequest`'s: `{"input": {...}}`
with the caller as APIM's authentication context knows it (`apiContext`), the client's address (`requestOrigin`),
`method`, `path` (the request URI, query included: Synapse's `TransportInURL`), `transportHeaders` and the resource's
URI template (`electedResource`). Fields APIM would leave null are left out, as org.json's `put` does. Where the
adapter differs, on purpose:

- `requestOrigin` is the client address the adapter trusts (`request.numTrustedProxies`), not the first entry of an
  `X-Forwarded-For` a client may write itself (wso2-synapse OPAUtils.getRequestIp).
- `transportHeaders` are the request's headers as the gateway hands them to the adapter: lower-case names (as HTTP/2
  has them; APIM keeps an HTTP/1.1 client's spelling), without the credential the backend never sees
  (`Authorization` unless kept, the API key's header) and without the context headers the adapter itself writes
  (a client's copy of `X-JWT-Assertion` is not the adapter's), as APIM's authenticators have removed them too.

The answer is `OPAClient.extractResponse` and `handleResponse`'s: 200 with `result` true lets the call through,
false refuses it (403 `902012`), anything else fails it (500 `902011`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import aiohttp

from . import errors, tracing
from .backend_jwt import SUPER_TENANT, end_user
from .errors import ErrorCode
from .http_client import ANY_STATUS, HttpClient  # read as OPAClient.extractResponse reads it: 200 or not
from .mediation import OpaCheck, transport_headers

if TYPE_CHECKING:
    from .decision import Decision

log = logging.getLogger("apim_adapter")

MAX_ANSWER_BYTES = 64 << 10  # OPA's answer to one decision: `{"result": ...}` and a decision id
ANSWER_WAIT_SECONDS = 10  # beyond the connection timeout (OPAClient: "10 seconds addition to connection timeout")
MAX_POOLS = 64  # connection pools kept: one per OPA server and settings the catalog names; the oldest goes first
ANONYMOUS = "anonymous"  # APIConstants.END_USER_ANONYMOUS: the user of an unsecured resource


def question(
    decision: Decision,
    method: str,
    path: str,
    headers: Mapping[str, str],
    client_ip: str,
    hidden: Iterable[str],
    access_token: str | None,
) -> dict[str, Any]:
    """The `input` APIM's gateway sends OPA about an allowed call (`decision`): `hidden` are the
    header names the backend does not get from the client (lower case); `access_token` the caller's JWT, sent only
    where the policy says so."""
    api, res, principal, app, key = (decision.api, decision.resource, decision.principal, decision.application,
                                     decision.key_mapping)  # fmt: skip
    assert api is not None  # an allow names its API
    context: dict[str, Any] = {"apiName": api.name, "apiVersion": api.version, "isAuthenticated": True,
                               "apiPublisher": api.provider}  # fmt: skip
    if principal is None:  # an unsecured resource: APIAuthenticationHandler's anonymous context
        context.update(keyType="PRODUCTION", username=ANONYMOUS)
    else:
        if app is not None:
            context.update(subscriberOrganization=app.organization or SUPER_TENANT, subscriber=app.owner,
                           applicationUUID=app.uuid, applicationName=app.name)  # fmt: skip
            context["username"] = end_user(principal, app)
        if key is not None:
            context["keyType"] = key.key_type
        if principal.consumer_key:
            context["consumerKey"] = principal.consumer_key
        issuer = principal.claims.get("iss") if not principal.introspected else None
        if isinstance(issuer, str):
            context["issuer"] = issuer
        if access_token is not None:
            context["accessToken"] = access_token
    transport = transport_headers(headers, hidden)
    out: dict[str, Any] = {"apiContext": context, "method": method, "path": path, "transportHeaders": transport}
    if client_ip:
        out["requestOrigin"] = client_ip
    if res is not None:
        out["electedResource"] = res.pattern
    return {"input": out}


def verdict(status: int, body: bytes) -> ErrorCode | None:
    """What OPA's answer means for the call: None lets it through, else the error it is answered with."""
    if status != 200:
        return errors.OPA_FAILED
    text = body.decode("utf-8", "replace").replace("\r", "").replace("\n", "")  # extractResponse joins the lines
    if text == "{}":  # EMPTY_OPA_RESPONSE: the policy or rule is not defined
        return errors.OPA_FAILED
    try:
        result = json.loads(text).get("result")
    except (ValueError, AttributeError):
        return errors.OPA_FAILED
    # org.json's getBoolean: a boolean, or the string "true" or "false" in any case.
    if isinstance(result, str) and result.lower() in ("true", "false"):
        result = result.lower() == "true"
    if not isinstance(result, bool):
        return errors.OPA_FAILED
    return None if result else errors.OPA_REFUSED


class OpaClient:
    """Asks the OPA servers the catalog's policies name: one connection pool per server and policy settings (as
    each APIM mediator has its own client), made when first needed; at most MAX_POOLS, so that a catalog changed
    over and over does not keep every pool it ever named."""

    def __init__(self, ca_bundle: str | None = None):
        self.ca_bundle = ca_bundle
        self._pools: dict[tuple[str, float, int], HttpClient] = {}
        self._closing: set[asyncio.Future[None]] = set()

    def _pool(self, check: OpaCheck) -> HttpClient:
        origin = check.url.split("/", 3)[:3]
        key = ("/".join(origin), check.connect_timeout, check.max_connections)
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= MAX_POOLS:
                closing = asyncio.ensure_future(self._pools.pop(next(iter(self._pools))).close())
                self._closing.add(closing)  # held until done: a task only the loop refers to may be collected
                closing.add_done_callback(self._closing.discard)
            connect = check.connect_timeout or None  # 0: Apache HttpClient's "no timeout"
            total = connect + ANSWER_WAIT_SECONDS if connect else None
            timeout = aiohttp.ClientTimeout(total=total, connect=connect, sock_read=ANSWER_WAIT_SECONDS)
            pool = self._pools[key] = HttpClient(self.ca_bundle, timeout, limit=check.max_connections)
        return pool

    @tracing.traced("OPA query", lambda self, check, *_: {"url.full": check.url})
    async def ask(self, check: OpaCheck, question: Mapping[str, Any]) -> ErrorCode | None:
        """OPA's verdict on `question`: None lets the call through, else its error. Never raises: an OPA that
        cannot be asked fails the call (902011), as APIM's mediator does."""
        headers = {"Content-Type": "application/json"}
        if check.access_key is not None:
            headers["Authorization"] = check.access_key
        try:
            pool = self._pool(check)
            status, _, body = await pool.post_bytes(check.url, json.dumps(question).encode(), MAX_ANSWER_BYTES,
                                                    accept=ANY_STATUS, headers=headers)  # fmt: skip
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            log.warning("OPA not asked", extra={"url": check.url, "error": f"{type(exc).__name__}: {exc}"[:300]})
            return errors.OPA_FAILED
        refused = verdict(status, body)
        if refused is errors.OPA_FAILED:
            log.warning("OPA answered no decision", extra={"url": check.url, "status": status})
        return refused

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
        await asyncio.gather(*self._closing)  # the pools evicted before
