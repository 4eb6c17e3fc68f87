"""APIM's per-API logging, followed: the calls of an API (or of one of its resources) written at the level APIM's
DevOps API sets for it (`PUT /api/am/devops/v0/tenant-logs/{tenant}/apis/{apiId}`).

APIM's gateway keeps the levels it reads from the internal data API (`/api-logging-configs`) and learns from
`UDATE_API_LOG_LEVEL` events (gateway `APILoggerManager`, `GatewayJMSMessageListener`); `LogsHandler` finds a call's
level (`LogUtils.getMatchingLogLevel`) and `APILogHandler.logAPI` writes one JSON object per flow to its API logger:

    BASIC       apiTo (the path as called, with its query), correlationId, flow, verb, sourceIP (a request's) or
                statusCode (a response's)
    STANDARD    BASIC and the transport headers
    FULL        STANDARD and the payload

with the API's id, name, context and version, the resource (apiTo past the context) and the tenant beside it.
Here the check writes a call's `REQUEST_IN`, and a `RESPONSE_OUT` for what it answers itself (a denial, a CORS
preflight), as APIM's gateway logs its own fault responses. An allowed call's response is the backend's, through
Envoy: with the access log service on (`analytics.accessLogService`, gRPC checks), the allow names the level in the
check's metadata and the gateway's access log entry writes the call's `RESPONSE_OUT` (access_log.py: the status,
and at STANDARD the response headers the gateway logs); otherwise Istio's own access log (Telemetry API) tells it,
under the same `x-request-id` as `correlationId`. No response payload is written: the check never sees it.

Unlike APIM, a credential never reaches the log: the values of the Authorization, Proxy-Authorization, Cookie,
Set-Cookie and Internal-Key headers, of the API key header and of the API key query parameter are written as `***`
(APIM writes every header as sent). A FULL level's payload is what the gateway handed over (Istio's
`includeRequestBodyInCheck` decides it; `payloadWhole` says whether it is all of the body). Each value is cut to
`MAX_VALUE` characters.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the catalog reads the levels here; the decision module reads the catalog
    from .decision import ApiKeyPlaces, CheckInput, Decision

log = logging.getLogger("apim_adapter.api_log")

# APIConstants.LOG_LEVEL_*: what a level writes grows with its rank; OFF writes nothing.
OFF, BASIC, STANDARD, FULL = "OFF", "BASIC", "STANDARD", "FULL"
RANK = {OFF: 0, BASIC: 1, STANDARD: 2, FULL: 3}
MAX_VALUE = 8192  # characters of one header value, of the path, of the payload
HIDDEN = "***"
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "internal-key"})


def effective(api_level: str | None, resource_level: str | None) -> str | None:
    """A call's level from its API's and its resource's (LogUtils.getMatchingLogLevel: the resource's wins where it
    writes more, the API's otherwise; OFF and none write nothing alike), None for none."""
    level = max((api_level or OFF, resource_level or OFF), key=RANK.__getitem__)
    return None if level == OFF else level


class ApiLog:
    """Writes the calls of APIs whose level is set (`Resource.log_level`)."""

    def __init__(self, api_keys: ApiKeyPlaces | None):
        self.hidden_headers = CREDENTIAL_HEADERS | ({api_keys.header} if api_keys is not None else set())
        self.hidden_query = api_keys.query_parameter if api_keys is not None else ""

    def write(self, req: CheckInput, d: Decision, level: str) -> None:
        """A check's call: its request, and the answer where the check gave it."""
        if not log.isEnabledFor(logging.INFO):
            return
        api = d.api
        api_fields = (api.uuid, api.name, api.context, api.version, api.organization) if api is not None else None
        common = self._common(req.path, req.request_id, req.method, level, api_fields)
        request = {**common, "flow": "REQUEST_IN", "sourceIP": req.client_ip}
        if RANK[level] >= RANK[STANDARD]:
            request["headers"] = self._headers(req.headers)
        if level == FULL:
            request["payload"] = req.body.sent[:MAX_VALUE].decode("utf-8", "replace")
            request["payloadWhole"] = req.body.whole and len(req.body.sent) <= MAX_VALUE
        log.info("REQUEST_IN", extra=request)
        if not d.allowed:  # answered here: a denial, or a CORS preflight
            response = {**common, "flow": "RESPONSE_OUT", "statusCode": d.status}
            if d.error is not None:
                response.update(errorCode=d.error.code, errorMessage=d.error.message)
            log.info("RESPONSE_OUT", extra=response)

    def response(
        self,
        level: str,
        path: str,
        request_id: str,
        method: str,
        status: int,
        headers: Mapping[str, str],
        api_fields: tuple[str, str, str, str, str],
    ) -> None:
        """An allowed call's response, as Envoy's access log entry tells it (access_log.py): `headers` are those the
        gateway logs (the ALS provider's `additionalResponseHeadersToLog`); `api_fields` the API's id, name,
        context, version and tenant."""
        if not log.isEnabledFor(logging.INFO):
            return
        response = {**self._common(path, request_id, method, level, api_fields), "flow": "RESPONSE_OUT",
                    "statusCode": status}  # fmt: skip
        if RANK[level] >= RANK[STANDARD]:
            response["headers"] = self._headers(headers)
        log.info("RESPONSE_OUT", extra=response)

    def _common(
        self, path: str, request_id: str, method: str, level: str, api: tuple[str, str, str, str, str] | None
    ) -> dict[str, Any]:
        """What each line of a call says: the call, and its API (APILogHandler's ThreadContext)."""
        api_to = self._called(path)
        common: dict[str, Any] = {"apiTo": api_to, "correlationId": request_id, "verb": method, "logLevel": level}
        if api is not None:
            uuid, name, context, version, tenant = api
            resource = api_to[len(context) :] if api_to.startswith(context) else api_to
            common.update(apiId=uuid, apiName=name, apiContext=context, apiVersion=version,
                          resourceName=resource or "/", tenantDomain=tenant)  # fmt: skip
        return common

    def _headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {
            name: self._hidden(value) if name in self.hidden_headers else value[:MAX_VALUE]
            for name, value in headers.items()
            if not name.startswith(":")  # HTTP/2 pseudo-headers: the path and method are written apart
        }

    @staticmethod
    def _hidden(value: str) -> str:
        scheme, _, credential = value.partition(" ")
        return f"{scheme} {HIDDEN}" if credential and scheme.isalpha() else HIDDEN

    def _called(self, path: str) -> str:
        path = path[:MAX_VALUE]
        if not self.hidden_query or "?" not in path:
            return path
        base, _, query = path.partition("?")
        parts = [
            f"{name}={HIDDEN}" if name == self.hidden_query else part
            for part in query.split("&")
            for name in (part.partition("=")[0],)
        ]
        return f"{base}?{'&'.join(parts)}"
