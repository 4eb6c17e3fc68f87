"""A thin client of APIM 4.5's Publisher API v4 (`/api/am/publisher/v4`, tests/wso2_specs/publisher-api.yaml) for
the calls `export` plans, with the OAuth2 token APIM's product APIs need.

The token comes from APIM's own `/oauth2/token` (product API tokens always do, even with WSO2 IS as the key
manager), as roles/apim_setup/tasks/token.yml gets it: a client registered by DCR
(`/client-registration/v0.17/register`) with the control plane's user, then the password grant for that user; or,
when client credentials are configured from files, the client credentials grant (the token is then the client's
owner's). The token is kept in memory until shortly before it expires (or APIM answers 401), and never logged.

APIM grants only the requested scopes that the user's roles are mapped to, and drops the rest without an error
(carbon-apimgt `SystemScopesIssuer.getScopes`); a call its token lacks the scope for is then answered 401, as an
invalid token is (`OAuthAuthenticationInterceptor`). So the scopes granted are kept, and a refusal names the ones
missing: the difference between "wrong credentials" and "a user without the publisher's roles".
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import aiohttp

from ..config import Config, ControlPlaneWso2
from ..http_client import HttpClient, basic_authorization, read_at_most
from ..oauth_token import HeldToken
from ..secrets import read_secret
from .export import ApiPlan, updated_body

log = logging.getLogger(__name__)

PUBLISHER = "/api/am/publisher/v4"
DCR = "/client-registration/v0.17/register"
SCOPES = "apim:api_view apim:api_create apim:api_manage apim:api_publish apim:api_delete"
# The calls export makes, each with the scopes publisher-api.yaml lets call it: any one of them will do (APIM checks
# that the token holds one of the resource's scopes). With APIM's default role mappings (carbon-apimgt
# tenant-conf.json, RESTAPIScopes) the admin role holds them all, Internal/creator plus Internal/publisher enough.
CALLS = (
    ("list and read APIs", ("apim:api_view", "apim:api_manage")),
    ("read APIM's gateway environments", ("apim:api_view", "apim:publisher_settings")),
    ("create and update APIs", ("apim:api_create", "apim:api_manage")),
    ("make and deploy revisions", ("apim:api_create", "apim:api_manage", "apim:api_publish")),
    ("publish, deprecate and retire APIs", ("apim:api_publish", "apim:api_manage")),
    ("delete APIs", ("apim:api_delete", "apim:api_manage")),
)
MAX_BYTES = 16 << 20
PAGE = 100


class PublisherError(Exception):
    """APIM refused a call or could not be reached; the message is fit for an Event (no token, no body sent)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def export_environment(config: Config) -> str:
    """The gateway environment export deploys revisions to: its own setting, else the one mesh-sync routes."""
    assert config.mesh_sync is not None
    assert isinstance(config.control_plane, ControlPlaneWso2)
    return config.mesh_sync.export_services.gateway_environment or config.control_plane.gateway_label or "Default"


class Credentials:
    """Where tokens come from: (user, password) for DCR + the password grant, or a client's id and secret."""

    def __init__(
        self,
        user: Callable[[], tuple[str, str]] | None = None,
        client: Callable[[], tuple[str, str]] | None = None,
    ):
        if (user is None) == (client is None):
            raise ValueError("one of user or client credentials")
        self.user, self.client = user, client


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": basic_authorization(user, password)}


def _error(method: str, path: str, status: int, body: bytes) -> PublisherError:
    """APIM's error body is `{code, message, description}` (publisher-api.yaml `Error`), its token endpoint's
    `{error, error_description}` (RFC 6749 §5.2): its words, bounded."""
    detail = ""
    try:
        answer = json.loads(body)
        if isinstance(answer, dict):
            words = answer.get("description") or answer.get("message") or answer.get("error_description")
            detail = str(words or answer.get("error") or "")
    except ValueError:
        pass
    detail = " ".join(detail.split())[:300]
    return PublisherError(f"APIM answered {status} to {method} {path}" + (f": {detail}" if detail else ""), status)


class Publisher:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        ca_bundle: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base = base_url.rstrip("/")
        self.credentials = credentials
        self.http = HttpClient(ca_bundle, timeout=timeout)
        self._client: tuple[str, str] | None = None
        self._token = HeldToken(self._grant, clock)
        # The scopes of the last token APIM issued; None before one, or where its answer does not list them (RFC 6749
        # §5.1 lets it leave out a scope identical to the one asked for).
        self.granted: frozenset[str] | None = None

    @classmethod
    def from_config(cls, config: Config) -> Publisher:
        """The Publisher API client `meshSync.exportServices` describes: its client credentials where it names them,
        else the control plane's user; the control plane's CA bundle and timeout."""
        cp = config.control_plane
        assert config.mesh_sync is not None
        assert isinstance(cp, ControlPlaneWso2)
        export = config.mesh_sync.export_services
        if export.client_id_file and export.client_secret_file:
            id_file, secret_file = config.resolve(export.client_id_file), config.resolve(export.client_secret_file)
            credentials = Credentials(client=lambda: (read_secret(id_file), read_secret(secret_file)))
        else:
            user_file, password_file = config.resolve(cp.username_file), config.resolve(cp.password_file)
            credentials = Credentials(user=lambda: (read_secret(user_file), read_secret(password_file)))
        ca = str(config.resolve(cp.ca_bundle)) if cp.ca_bundle else None
        # The token's user decides the tenant (admin@tenant.example): the Publisher API needs no tenant header.
        return cls(export.publisher_url or cp.url, credentials, ca, cp.timeout_seconds)

    async def close(self) -> None:
        await self.http.close()

    # -- the token --------------------------------------------------------------------------------------------

    async def _raw(self, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
        url = path if path.startswith("http") else self.base + path
        try:
            async with self.http.session.request(method, url, **kwargs) as resp:
                return resp.status, await read_at_most(resp.content, MAX_BYTES)
        except ValueError:
            raise PublisherError(f"{method} {urllib.parse.urlsplit(url).path}: answer too large") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PublisherError(f"{method} {urllib.parse.urlsplit(url).path}: {exc or type(exc).__name__}") from None

    async def _register(self, user: str, password: str) -> tuple[str, str]:
        body = {"callbackUrl": "https://localhost/callback", "clientName": "istio_apim_mesh_sync", "owner": user,
                "grantType": "password refresh_token", "saasApp": True}  # fmt: skip
        status, answer = await self._raw("POST", DCR, json=body, headers=_basic(user, password))
        if status not in (200, 201):
            raise _error("POST", DCR, status, answer)
        registered = json.loads(answer)
        return str(registered["clientId"]), str(registered["clientSecret"])

    async def token(self) -> str:
        try:
            return await self._token.get()
        except ValueError as exc:  # an answer that is not JSON, or has no access_token: APIM's fault, reported as one
            raise PublisherError(f"POST /oauth2/token: {exc}") from None

    async def _grant(self) -> dict[str, Any]:
        if self.credentials.client is not None:
            client_id, secret = self.credentials.client()
            form = {"grant_type": "client_credentials", "scope": SCOPES}
        else:
            assert self.credentials.user is not None
            user, password = self.credentials.user()
            if self._client is None:
                self._client = await self._register(user, password)
            client_id, secret = self._client
            form = {"grant_type": "password", "username": user, "password": password, "scope": SCOPES}
        status, answer = await self._raw("POST", "/oauth2/token", data=form, headers=_basic(client_id, secret))
        if status != 200:
            if status in (400, 401) and self.credentials.user is not None:
                self._client = None  # the registered client may be gone (APIM's database reset): register again
            raise _error("POST", "/oauth2/token", status, answer)
        issued: dict[str, Any] = json.loads(answer)
        scope = issued.get("scope") if isinstance(issued, dict) else None
        self.granted = frozenset(scope.split()) if isinstance(scope, str) else None
        return issued

    def refused_calls(self) -> list[str]:
        """The calls of export that the token it holds may not make: none of their scopes granted (none where APIM
        did not say which it granted)."""
        granted = self.granted
        return [] if granted is None else [what for what, scopes in CALLS if not granted.intersection(scopes)]

    # -- calls ------------------------------------------------------------------------------------------------

    async def call(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """One Publisher API call with the bearer token (a 401 renews the token once); its JSON answer."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self.token()}", "Accept": "application/json"}
            status, answer = await self._raw(method, PUBLISHER + path, headers=headers, **kwargs)
            if status == 401 and attempt == 1:
                self._token.forget()
                continue
            if status not in ok:
                refused = _error(method, PUBLISHER + path.split("?")[0], status, answer)
                if status == 401 and self.refused_calls():
                    refused = PublisherError(f"{refused}: {self._lacking()}", status)
                raise refused
            return json.loads(answer) if answer.strip() else None
        raise AssertionError("unreachable")

    def _lacking(self) -> str:
        whose = "its client's owner" if self.credentials.client is not None else "its user"
        granted = " ".join(sorted(self.granted or ())) or "none"
        return (f"its token may not {'; '.join(self.refused_calls())} (granted: {granted}): APIM grants only the "
                f"scopes {whose}'s roles are mapped to (Admin Portal, Settings, Scope Assignments)")  # fmt: skip

    async def check(self, environment: str, vhost: str) -> str:
        """What export needs of APIM, asked without changing anything: a token that may make each call of export, the
        target (`target`), and the API list. What it found, or PublisherError naming what is missing."""
        await self.token()
        if self.refused_calls():
            raise PublisherError(self._lacking())
        await self.target(environment, vhost)
        listed = await self.call("GET", "/apis", params={"limit": "1", "offset": "0"})
        total = ((listed or {}).get("pagination") or {}).get("total")
        return (
            f"a token that may make every call export makes; gateway environment {environment!r} "
            f"serves vhost {vhost!r}; {total if isinstance(total, int) else 'some'} APIs"
        )

    async def target(self, environment: str, vhost: str) -> None:
        """PublisherError unless APIM has the gateway environment and it the vhost revisions are deployed on
        (`GET /settings`: the environments APIM is configured with). APIM refuses a deployment to any other only
        once the revision is made (400 900504, 900512: ApisApiServiceImplUtils.mapAPIRevisionDeploymentWithValidation);
        it takes a vhost's WebSocket host for it too."""
        settings = await self.call("GET", "/settings")
        environments = {str(e.get("name")): e for e in (settings or {}).get("environment") or [] if isinstance(e, dict)}
        if environment not in environments:
            raise PublisherError(f"APIM has no gateway environment {environment!r} (it has: "
                                 f"{', '.join(sorted(environments)) or 'none'})")  # fmt: skip
        vhosts = [v for v in environments[environment].get("vhosts") or [] if isinstance(v, dict)]
        hosts = {str(v.get("host")) for v in vhosts}
        if vhost not in hosts | {str(v.get("wsHost")) for v in vhosts}:
            raise PublisherError(f"APIM's gateway environment {environment!r} has no vhost {vhost!r} (it has: "
                                 f"{', '.join(sorted(hosts)) or 'none'})")  # fmt: skip

    async def apis(self) -> list[dict[str, Any]]:
        """Every API (`GET /apis`, paged by `limit`/`offset` until `pagination.total` or a short page)."""
        out: list[dict[str, Any]] = []
        while True:
            page = await self.call("GET", "/apis", params={"limit": str(PAGE), "offset": str(len(out))})
            items = [i for i in (page or {}).get("list") or [] if isinstance(i, dict)]
            out += items
            total = ((page or {}).get("pagination") or {}).get("total")
            if len(items) < PAGE or (isinstance(total, int) and len(out) >= total):
                return out

    async def api(self, api_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("GET", f"/apis/{api_id}")
        return answer

    async def deployed_to(self, api_id: str) -> list[str]:
        answer = await self.call("GET", f"/apis/{api_id}/deployments")
        # ApisApiServiceImpl.getAPIRevisionDeployments answers a bare list where the spec declares
        # APIRevisionDeploymentList ({list}): either is read.
        items = answer.get("list") if isinstance(answer, dict) else answer
        return [str(d.get("name")) for d in items or [] if isinstance(d, dict)]

    async def apply(self, plan: ApiPlan, environment: str, vhost: str, max_revisions: int) -> str:
        """Run a plan's steps in order; the API's id (a created API's new one)."""
        api_id = plan.api_id
        for step in plan.steps:
            if step.op == "create":
                created = await self.call("POST", "/apis", ok=(201,), json=step.body)
                api_id = str(created["id"])
                continue
            assert api_id is not None
            if step.op == "definition":
                form = aiohttp.FormData()
                form.add_field("apiDefinition", step.definition)
                await self.call("PUT", f"/apis/{api_id}/swagger", data=form)
            elif step.op == "update":
                want, digest = step.body
                body = updated_body(await self.api(api_id), want, digest, step.definition)
                await self.call("PUT", f"/apis/{api_id}", json=body)
            elif step.op == "revise":
                await self._revise(api_id, plan.label, environment, vhost, max_revisions)
            elif step.op == "publish":
                await self.lifecycle(api_id, "Publish")
            elif step.op == "lifecycle":
                await self.lifecycle(api_id, step.action)
            elif step.op == "delete":
                await self.call("DELETE", f"/apis/{api_id}", ok=(200, 204))
        return str(api_id)

    async def lifecycle(self, api_id: str, action: str) -> None:
        await self.call("POST", "/apis/change-lifecycle", ok=(200, 202), params={"apiId": api_id, "action": action})

    async def _revise(self, api_id: str, label: str, environment: str, vhost: str, max_revisions: int) -> None:
        """A revision of the API as it is now, deployed to the environment (which replaces the revision deployed
        there). APIM refuses a revision beyond its limit (ExceptionCodes.MAXIMUM_REVISIONS_REACHED, 900351):
        the oldest revision not deployed anywhere makes room."""
        revisions = await self.call("GET", f"/apis/{api_id}/revisions")
        listed = [r for r in (revisions or {}).get("list") or [] if isinstance(r, dict)]
        if len(listed) >= max_revisions:
            idle = [r for r in listed if not r.get("deploymentInfo")]
            if idle:
                oldest = min(idle, key=lambda r: str(r.get("createdTime") or ""))  # ISO 8601: sorts as text
                await self.call("DELETE", f"/apis/{api_id}/revisions/{oldest['id']}", ok=(200, 204))
        body = {"description": f"{label}, exported by apim-adapter mesh-sync"}
        revision = await self.call("POST", f"/apis/{api_id}/revisions", ok=(201,), json=body)
        deployment = [{"name": environment, "vhost": vhost, "displayOnDevportal": True}]
        await self.call("POST", f"/apis/{api_id}/deploy-revision", ok=(200, 201), json=deployment,
                        params={"revisionId": str(revision["id"])})  # fmt: skip
