"""The wso2 control plane: WSO2 API Manager 4.5's internal data API, kept current by its event hub.

The loop: a full pull of every list the catalog needs at start, after every event hub (re)connection and every
`resyncSeconds`; in between, each event re-pulls the one entity it names (`snapshot.plan` / `snapshot.apply`).
Events and full pulls go through one queue and are applied in order; a burst of events becomes one catalog. If
APIM is down the last good catalog keeps serving and the pull is retried with backoff. Both the loop and the event
hub listener run under a supervisor that logs, counts and restarts a task that ends for any reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pika

from .. import blocking, metrics, tracing
from ..catalog import (
    ALL_AUDIENCES,
    ALL_KEY_MANAGERS,
    GRAPHQL,
    MUTUAL_SSL,
    OTHER_PROTOCOLS,
    CatalogError,
    security_schemes,
)
from ..config import Config, ControlPlane, KeyManager
from ..revocation import BadRevocation, RevocationLimits
from ..secrets import read_secret
from . import Publish, artifacts, snapshot
from .data_api import ControlPlaneError, InternalDataApi, key_managers_from
from .eventhub import EventHubListener, Sleep, connection_parameters
from .events import NOTIFICATION, BadEvent, Event
from .snapshot import POLICY_ENDPOINTS, Context, Plan, Pull, Snapshot

log = logging.getLogger(__name__)

RESYNC = None  # a queue item asking for a full pull
SCHEME_PULLS = 8  # single-API pulls at once, for the security schemes a full pull learns (API keys, mutual TLS, Basic)
ENDPOINT_SECURITY_FIELDS = ("endpointConfig", "apis")  # an API's, a product's (artifacts.Project.endpoint_config)
SCHEMA_VALIDATION, DEFINITION = "enableSchemaValidation", "apiDefinition"  # as the catalog reads them
GRAPHQL_SCHEMA, GRAPHQL_COMPLEXITY = "graphQLSchema", "graphQLComplexity"  # likewise
BACKEND_THROUGHPUT = "maxTps"  # likewise (artifacts.Project.backend_throughput)
KEY_MANAGERS = "keyManagers"  # likewise (artifacts.Project.key_managers)
SECURITY_SCHEME = "securityScheme"  # likewise (artifacts.Project.security_scheme)
AUDIENCES = "audiences"  # likewise (artifacts.Project.audiences)


def _always_stale(warning: str) -> Callable[[Any], str | None]:
    return lambda _kept: warning


# The API's settings as its revision was deployed (what APIM's gateway enforces), each read on its own from the
# runtime artifact: (field, its reader, the warning for a value kept from before when the artifact cannot be read;
# None where the kept value restricts nothing, so keeping it is not worth one). The security scheme comes first:
# whether the API takes client certificates is read from it.
DEPLOYED_SETTINGS: tuple[tuple[str, Callable[[artifacts.Project], Any], Callable[[Any], str | None]], ...] = (
    (SECURITY_SCHEME, artifacts.Project.security_scheme,
     _always_stale("security scheme of an API not read; the one read before applies until its next pull")),
    (BACKEND_THROUGHPUT, artifacts.Project.backend_throughput,
     _always_stale("backend throughput of an API not read; the one read before applies until its next pull")),
    (KEY_MANAGERS, artifacts.Project.key_managers,
     lambda kept: None if ALL_KEY_MANAGERS in kept else
     "key managers of an API not read; those read before apply until its next pull"),
    (AUDIENCES, artifacts.Project.audiences,
     lambda kept: None if not kept or ALL_AUDIENCES in kept else
     "audiences of an API not read; those read before apply until its next pull"),
)  # fmt: skip
ARTIFACT_PULLS = 4  # runtime artifacts at once, for the APIs' client certificates and CORS configuration
HEARTBEAT = 30  # seconds: a broker that went away without closing the socket is noticed within two of them


async def supervise(
    name: str, task: Callable[[], Awaitable[Any]], sleep: Sleep, backoff: float = 1.0, max_backoff: float = 30.0
) -> None:
    """Run `task` forever: if it returns or raises, log and count it, then start it again after a pause that
    doubles each time (a task that keeps failing is a bug: it must not flood the log)."""
    while True:
        try:
            await task()
            log.error("control plane task ended; restarting", extra={"task": name})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("control plane task failed; restarting", extra={"task": name})
        metrics.CONTROLPLANE_TASK_RESTARTS.labels(name).inc()
        await sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


async def _nothing_to_reset(_app_id: int, _user: str, _reset_id: str) -> None:
    return None


def _takes_mutual_tls(api: dict) -> bool:
    """Whether the API's `securityScheme` lists `mutualssl` (the catalog reads it the same way)."""
    scheme = api.get("securityScheme")
    try:
        return isinstance(scheme, (str, list)) and MUTUAL_SSL in security_schemes(scheme)
    except CatalogError:  # the catalog reports it, naming the API
        return False


def _type_label(event: Event) -> str:
    """Event types come from the wire: only known ones become label values (bounded label sets)."""
    if event.topic != NOTIFICATION:
        return event.topic
    return event.type if event.type in snapshot.NOTIFICATIONS else "other"


class Wso2ControlPlane:
    lenient = True  # APIM's data is served as well as it can be: a bad item is left out, not the whole update

    def __init__(
        self,
        cp: ControlPlane,
        config: Config,
        min_backoff: float = 0.5,
        max_backoff: float | None = None,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ):
        self.cp, self.config = cp, config
        self.api = InternalDataApi(cp, config)
        self.revocation_limits = RevocationLimits(cp.revocation_max_token_lifetime_seconds, cp.revocation_max_entries)
        # Retries never wait longer than a resync period: that period is the operator's bound on staleness.
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff if max_backoff is not None else min(30.0, float(cp.resync_seconds))
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep
        self.snapshot: Snapshot | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._next_resync = 0.0
        self._ca = str(config.resolve(cp.ca_bundle)) if cp.ca_bundle else None
        # Told the SHA-256 of each opaque token revoked, so that the adapter drops it from its introspection cache.
        self.on_token_revoked: Callable[[str], None] = lambda _digest: None
        # Told the users (`user@tenant`) APIM's user store changed, so that the credentials kept for them go.
        self.on_users_changed: Callable[[tuple[str, ...]], object] = lambda _names: None
        # Told an application user's quota was reset in the Developer Portal (the application's numeric id,
        # `user@tenant`, the reset's id), so that the adapter restarts its counter of it.
        self.on_quota_reset: Callable[[int, str, str], Awaitable[None]] = _nothing_to_reset
        # Secrets and the URL are read now, like the data API's: a missing file stops the start with its error.
        self.hub_parameters = self._hub_parameters()
        if cp.event_hub is not None and not cp.gateway_label:
            log.warning(
                "eventHub without gatewayLabel: APIM honours /apis?apiId= only with a label, so every API event "
                "re-pulls the whole API list"
            )

    # -- pulls ----------------------------------------------------------------------------------------------

    @tracing.traced("control-plane pull", lambda self: {"apim.control_plane": "wso2"})
    async def pull(self) -> Snapshot:
        """Everything, from scratch; raises ControlPlaneError and leaves the current snapshot alone."""
        api, cp = self.api, self.cp
        label = {"gatewayLabel": cp.gateway_label} if cp.gateway_label else {}
        apis, apps, subs, keys, *policies, revoked, block, scopes, gateway_policies, api_logging = await asyncio.gather(
            api.items("apis", **label),
            api.items("applications"),
            api.items("subscriptions"),
            api.items("application-key-mappings"),
            *(api.items(endpoint) for endpoint in POLICY_ENDPOINTS.values()),
            api.get("revokedjwt"),
            api.get("block"),
            self._scopes(),
            self._gateway_policies(),
            self._api_logging(),
        )
        if not isinstance(block, dict):
            raise ControlPlaneError("GET block: not an object")
        block = blocking.of_tenant(block, cp.tenant)
        if self.config.api_keys.enabled or self.config.mutual_tls.enabled or self.config.basic_auth.enabled:
            apis = await self._with_security_schemes(apis)
        apis = await self._with_artifact_fields(apis)
        key_managers = await self._key_managers() if cp.key_managers_from_control_plane else None
        try:
            snap = Snapshot.from_lists(
                apis, apps, subs, keys, dict(zip(POLICY_ENDPOINTS, policies, strict=True)), revoked, key_managers,
                self.snapshot, self.clock(), block, self.revocation_limits, scopes, gateway_policies, api_logging,
            )  # fmt: skip
        except BadRevocation as exc:
            raise ControlPlaneError(f"GET revokedjwt: {exc}") from exc
        for why in snap.revocations_skipped:
            log.warning("revocation from APIM left out", extra={"error": why})
        return snap

    async def _with_security_schemes(self, apis: list[dict]) -> list[dict]:
        """The APIs with their security schemes, which APIM's list leaves out but for WebSocket APIs and a single
        API's pull gives (SubscriptionValidationDataUtil.fromAPItoDTO / fromAPIToAPIListDTO): one request per API,
        a few at a time. An API gone meanwhile keeps an unknown scheme (OAuth2 only) until its event or the next
        pull."""
        label, limit = self.cp.gateway_label, asyncio.Semaphore(SCHEME_PULLS)

        async def with_scheme(item: dict) -> dict:
            uuid = item.get("uuid")
            if not isinstance(uuid, str) or item.get("securityScheme") is not None:
                return item
            async with limit:
                found = await self.api.items("apis", apiId=uuid, gatewayLabel=label)
            scheme = next((f.get("securityScheme") for f in found if f.get("uuid") == uuid), None)
            return item if scheme is None else {**item, "securityScheme": scheme}

        return list(await asyncio.gather(*(with_scheme(item) for item in apis)))

    async def _with_artifact_fields(self, apis: list[dict]) -> list[dict]:
        """The APIs with what only the runtime artifact of the revision deployed to the gateway label tells
        (artifacts.py): one request per API that needs it, a few at a time, serving all of these.

        - `clientCertificates`, when mutual TLS is on, for the APIs whose security scheme lists `mutualssl` (only
          those are fetched for it, as APIM's own gateway loads client certificates only for them:
          MutualSSLAuthenticator is engaged by the `mutualssl` scheme).
        - `corsConfiguration` (the DTO's, as exported), with `authorizationHeader` and `apiKeyHeader` where the DTO
          has them, when CORS is on, for every API: the data API has none of them (artifacts.Project
          .cors_settings). Without CORS or a gateway label the keys are left out and the catalog applies the
          global configuration.
        - `operationPolicies`, APIM's mediation policies of the revision (artifacts.Project.operation_policies),
          for every API: the catalog applies Add Header, Remove Header, Add Query Param, the JWT claim validator and
          OPA (mediation.py) and names the others as not applied.
        - `endpointConfig` (a product's `apis`), the endpoint security the adapter sends a backend
          (artifacts.Project.endpoint_config), and `enableSchemaValidation` with, where it is on, the revision's
          OpenAPI definition (`apiDefinition`), which Schema Validation checks requests against, for every API: the
          data API has none of them.
        - `maxTps`, the API's backend throughput (artifacts.Project.backend_throughput), where it has one.
        - `securityScheme`, `keyManagers` and `audiences` as the revision was deployed (artifacts.Project
          .security_scheme, key_managers, audiences), for every API: what APIM's gateway enforces, where the data
          API answers the API's saved scheme (and only to a single API's pull), no key managers and no audiences.

        A failure that is about one API's artifact (APIM answered this request with an error, or the artifact
        cannot be read) leaves that API without `clientCertificates`, with `corsConfiguration` None and with the
        `operationPolicies` read before (none, if never), with a warning naming it: the adapter then admits no
        certificate on it and engages no CORS for it (both fail closed, rather than falling back to the global,
        possibly wider, origins), and applies the policies it knew, until its next event or pull; every other API
        is served. No revision deployed to the
        label (undeployed since the API list was read) is no certificate, no CORS and no operation policy. No answer
        at all (APIM away, TLS, timeout) or an answer about the whole service (401, 503, ...) is ControlPlaneError,
        as for every other list: the pull fails and the last good catalog keeps serving, rather than a passing
        outage dropping every mTLS API's certificates."""
        label = self.cp.gateway_label
        if not label:
            return apis
        mutual_tls, cors = self.config.mutual_tls.enabled, self.config.cors.enabled
        limit = asyncio.Semaphore(ARTIFACT_PULLS)

        async def with_fields(item: dict) -> dict:
            uuid = item.get("uuid")
            # An API of another protocol is left out of the catalog (APIM's own gateway serves it): nothing to read
            # but the certificates of one its list answer says takes them.
            served = str(item.get("apiType") or "HTTP").upper() not in OTHER_PROTOCOLS
            if not isinstance(uuid, str) or not (served or (mutual_tls and _takes_mutual_tls(item))):
                return item
            where = {"api": uuid, "api_name": item.get("name")}
            async with limit:
                try:
                    project, unreadable = await self._deployed_project(uuid, label), None
                except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
                    project, unreadable = None, exc
                found: dict[str, Any] = {}
                last = self.snapshot.apis.get(uuid) if self.snapshot is not None else None
                if served:  # the deployed revision's settings, which APIM's gateway enforces (not the saved ones)
                    for name, read, stale in DEPLOYED_SETTINGS:
                        found.update(self._field_or_kept(name, read, project, unreadable, where, last, stale))
                if mutual_tls and _takes_mutual_tls({**item, **found}):
                    found.update(self._client_certificates(project, unreadable, where))
                if served and cors:
                    found.update(self._cors_settings(project, unreadable, where))
                if served:
                    found.update(self._operation_policies(project, unreadable, where, last))
                    found.update(self._endpoint_config(project, unreadable, where, last))
                    found.update(self._schema_validation(project, unreadable, where, last))
                    if str(item.get("apiType") or "").upper() == GRAPHQL:
                        found.update(self._graphql(project, unreadable, where, last))
            return {**item, **found}

        return list(await asyncio.gather(*(with_fields(item) for item in apis)))

    async def _deployed_project(self, uuid: str, label: str) -> artifacts.Project | None:
        """The project of the API's revision deployed to `label`, None when none is deployed there (as when it was
        undeployed since the API list was read); BadArtifact, ArtifactRefused, ControlPlaneError."""
        body = await artifacts.fetch(self.api, label, uuid)
        if body is None:
            return None
        artifact = artifacts.Artifact.open(body)  # decrypted endpoint credentials too: nothing else of it is kept
        # RuntimeArtifactGeneratorUtil names each revision's zip `<apiUUID>-<revisionUUID>.zip`.
        deployed = [name for name in artifact.deployed(label) if name.startswith(f"{uuid}-")]
        if len(deployed) > 1:
            raise artifacts.BadArtifact(f"{len(deployed)} revisions deployed to one environment")
        return artifact.project(deployed[0]) if deployed else None

    @staticmethod
    def _client_certificates(
        project: artifacts.Project | None, unreadable: Exception | None, where: dict[str, Any]
    ) -> dict[str, Any]:
        """`clientCertificates` of the deployed revision's project ([] when none is deployed); nothing, with a
        warning, where the artifact or its certificates cannot be read (the API then admits none)."""
        try:
            if unreadable is not None:
                raise unreadable
            if project is None:
                return {"clientCertificates": []}
            certificates, problems = project.client_certificates()
        except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
            log.warning("client certificates of an API not read; it admits none until its next pull",
                        extra={**where, "error": str(exc)})  # fmt: skip
            return {}
        for problem in problems:
            log.warning("client certificate of an API left out", extra={"api": where["api"], "error": problem})
        return {"clientCertificates": certificates}

    @staticmethod
    def _cors_settings(
        project: artifacts.Project | None, unreadable: Exception | None, where: dict[str, Any]
    ) -> dict[str, Any]:
        """The CORS fields of the deployed revision's project; `corsConfiguration` None, with a warning, when none
        is deployed or they cannot be read (the warning names the API and the entry, never what the project holds:
        it carries decrypted endpoint credentials)."""
        try:
            if unreadable is not None:
                raise unreadable
            if project is None:
                raise artifacts.BadArtifact("no revision deployed to the gateway label")
            return project.cors_settings()
        except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
            log.warning("CORS configuration of an API not read; it engages no CORS until its next pull",
                        extra={**where, "error": str(exc)})  # fmt: skip
            return {"corsConfiguration": None}

    @staticmethod
    def _endpoint_config(
        project: artifacts.Project | None, unreadable: Exception | None, where: dict[str, Any], last: dict | None
    ) -> dict[str, Any]:
        """The endpoint security of the deployed revision's project (artifacts.Project.endpoint_config; none when none
        is deployed).
        Where the artifact cannot be read, what was read before (`last`: the API's item in the current snapshot),
        with a warning: the backend keeps getting its credential until the API's next event or pull."""
        try:
            if unreadable is not None:
                raise unreadable
            return project.endpoint_config() if project is not None else {}
        except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
            security = {k: last[k] for k in ENDPOINT_SECURITY_FIELDS if k in last} if last is not None else {}
            if security:
                log.warning("endpoint security of an API not read; what was read before applies until its next pull",
                            extra={**where, "error": str(exc)})  # fmt: skip
            return security  # none read before: the warning about its operation policies names the API and the error

    @staticmethod
    def _schema_validation(
        project: artifacts.Project | None, unreadable: Exception | None, where: dict[str, Any], last: dict | None
    ) -> dict[str, Any]:
        """`enableSchemaValidation` of the deployed revision's project (false when none is deployed) and, where it is
        on, its OpenAPI definition (`apiDefinition`: kept only then). Where the artifact or the definition cannot be
        read, what was read before (`last`), with a warning; none read before, nothing (not validated until its next
        pull)."""
        try:
            if unreadable is not None:
                raise unreadable
            if project is None or not project.schema_validation():
                return {SCHEMA_VALIDATION: False}
            return {SCHEMA_VALIDATION: True, DEFINITION: project.definition()}
        except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
            kept = {k: last[k] for k in (SCHEMA_VALIDATION, DEFINITION) if k in last} if last is not None else {}
            if kept.get(DEFINITION) is not None:
                log.warning("OpenAPI definition of an API not read; the one read before validates until its next pull",
                            extra={**where, "error": str(exc)})  # fmt: skip
            return kept  # none read before: unknown, and the warning about its operation policies names the API

    @staticmethod
    def _field_or_kept(
        name: str,
        read: Callable[[artifacts.Project], Any],
        project: artifacts.Project | None,
        unreadable: Exception | None,
        where: dict[str, Any],
        last: dict | None,
        stale: Callable[[Any], str | None],
    ) -> dict[str, Any]:
        """One field of the deployed revision's project (`read`; none where it has none or none is deployed): each
        of DEPLOYED_SETTINGS (security scheme, backend throughput, key managers, audiences). Where the artifact cannot
        be read, the value read before (`last`), with the warning `stale` gives for it (None: nothing worth one);
        none read before, none: the API goes without it until its next pull (the warning about its operation
        policies names the API)."""
        try:
            if unreadable is not None:
                raise unreadable
            found = read(project) if project is not None else None
            return {name: found} if found is not None else {}
        except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
            kept = last.get(name) if last is not None else None
            if kept is None:
                return {}
            warning = stale(kept)
            if warning is not None:
                log.warning(warning, extra={**where, "error": str(exc)})
            return {name: kept}

    @staticmethod
    def _graphql(
        project: artifacts.Project | None, unreadable: Exception | None, where: dict[str, Any], last: dict | None
    ) -> dict[str, Any]:
        """A GraphQL API's schema and complexity values, from its deployed revision's project. Where the artifact
        cannot be read, those read before (`last`), with a warning; none read before, nothing: the catalog leaves
        the API out, naming why, until its next pull (its calls are answered 404, never let through unread)."""
        try:
            if unreadable is not None:
                raise unreadable
            if project is None:
                return {}
            found: dict[str, Any] = {GRAPHQL_SCHEMA: project.graphql_schema()}
            complexity = project.graphql_complexity()
            if complexity is not None:
                found[GRAPHQL_COMPLEXITY] = complexity
            return found
        except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
            kept = {k: last[k] for k in (GRAPHQL_SCHEMA, GRAPHQL_COMPLEXITY) if k in last} if last is not None else {}
            log.warning("GraphQL schema of an API not read; " + ("the one read before serves until its next pull"
                        if kept.get(GRAPHQL_SCHEMA) else "the API is left out until its next pull"),
                        extra={**where, "error": str(exc)})  # fmt: skip
            return kept

    @staticmethod
    def _operation_policies(
        project: artifacts.Project | None, unreadable: Exception | None, where: dict[str, Any], last: dict | None
    ) -> dict[str, Any]:
        """`operationPolicies` of the deployed revision's project ([] when none is deployed: no revision, no
        mediation). Where the artifact cannot be read, those read last (`last`: the API's item in the current
        snapshot), with a warning: the API's claim
        validators keep refusing, its header changes keep being made; none read yet, its calls pass without them
        until its next event or pull."""
        try:
            if unreadable is not None:
                raise unreadable
            return {"operationPolicies": project.operation_policies() if project is not None else []}
        except (artifacts.ArtifactRefused, artifacts.BadArtifact) as exc:
            policies = last.get("operationPolicies") if last is not None else None
            if isinstance(policies, list):
                log.warning("operation policies of an API not read; those read before apply until its next pull",
                            extra={**where, "error": str(exc)})  # fmt: skip
                return {"operationPolicies": policies}
            log.warning("operation policies of an API not read; its calls pass without them until its next pull",
                        extra={**where, "error": str(exc)})  # fmt: skip
            return {}

    async def _scopes(self) -> list[dict] | None:
        """Every scope with its roles (`/scopes`, what APIM's gateway loads for basic authentication's scope checks,
        carbon-apimgt internal.service ScopesApiServiceImpl); None when basic authentication is off."""
        return await self.api.items("scopes") if self.config.basic_auth.enabled else None

    async def _gateway_policies(self) -> list[dict]:
        """The gateway policy mappings deployed to the gateway label (artifacts.gateway_policies), to be named as not
        applied; none without a label. An error answer about them alone keeps those read before, with a warning:
        it must not stop the APIs' pull, and nothing the adapter enforces depends on them."""
        if not self.cp.gateway_label:
            return []
        try:
            return await artifacts.gateway_policies(self.api, self.cp.gateway_label)
        except artifacts.ArtifactRefused as exc:
            return self._read_before("gateway_policies", exc, "gateway policies of the gateway label not read; "
                                     "those read before are named until the next pull")  # fmt: skip

    async def _api_logging(self) -> list[dict]:
        """APIM's per-API logging levels (`/api-logging-configs`, carbon-apimgt internal.service
        ApiLoggingConfigsApiServiceImpl: every API and resource whose level is not OFF), as APIM's gateway loads them
        (APILoggerManager.initializeAPILoggerList). An error answer about them alone keeps those read before, with a
        warning: they decide what is logged, never what is let through."""
        try:
            answer = await self.api.get("api-logging-configs")
            if not isinstance(answer, dict) or not isinstance(answer.get("apis"), list):
                raise ControlPlaneError("GET api-logging-configs: not an object with a list `apis`")
            return [item for item in answer["apis"] if isinstance(item, dict)]
        except ControlPlaneError as exc:
            return self._read_before(
                "api_logging", exc, "per-API log levels not read; those read before are followed until the next pull"
            )

    def _read_before(self, field: str, error: Exception, warning: str) -> list[dict]:
        """A list of the snapshot's (`field`) kept where APIM's answer for it alone failed (none before the first
        pull), with `warning`: an optional list never stops the APIs' pull."""
        log.warning(warning, extra={"error": str(error)})
        return list(getattr(self.snapshot, field)) if self.snapshot is not None else []

    async def _key_managers(self) -> list[KeyManager]:
        items = await self.api.get("keymanagers")
        if not isinstance(items, list):
            raise ControlPlaneError("GET keymanagers: not a list")
        return key_managers_from(items, (km.name for km in self.config.key_managers), self._ca)

    def context(self) -> Context:
        return Context(
            self.cp.gateway_label, self.cp.key_managers_from_control_plane, self.clock(), self.revocation_limits,
            follow_scopes=self.config.basic_auth.enabled, tenant=self.cp.tenant,
        )  # fmt: skip

    async def apply(self, event: Event) -> Plan:
        """Plan the event, make its pulls, and replace the snapshot (ControlPlaneError, BadEvent)."""
        assert self.snapshot is not None
        plan = snapshot.plan(event, self.context())
        pulled: dict[Pull, list[dict]] = {}
        for pull in plan.pulls:
            items = await self.api.items(pull.endpoint, **dict(pull.query))
            if pull.table == "apis":  # the API the event names, with its certificates and CORS (a new revision's own)
                items = await self._with_artifact_fields(pull.matching(items))
            pulled[pull] = items
        key_managers = await self._key_managers() if plan.key_managers else None
        gateway_policies = await self._gateway_policies() if plan.gateway_policies else None
        api_logging = await self._api_logging() if plan.api_logging else None
        self.snapshot = snapshot.apply(self.snapshot, plan, pulled, key_managers, gateway_policies, api_logging)
        if plan.revoked_token is not None:
            self.on_token_revoked(plan.revoked_token)
        if plan.users_changed:
            self.on_users_changed(plan.users_changed)
        if plan.quota_reset is not None:
            await self.on_quota_reset(*plan.quota_reset)
        outcome = "ignored" if plan.ignored else "applied"
        metrics.CONTROLPLANE_EVENTS.labels(event.topic, _type_label(event), outcome).inc()
        if plan.ignored:
            log.debug("event ignored", extra={"type": event.type, "reason": plan.ignored})
        return plan

    # -- the event hub feeds the queue ----------------------------------------------------------------------

    def notify(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def request_resync(self) -> None:
        self._queue.put_nowait(RESYNC)

    def _hub_parameters(self) -> pika.ConnectionParameters | None:
        hub = self.cp.event_hub
        if hub is None:
            return None
        username = read_secret(self.config.resolve(hub.username_file)) if hub.username_file else None
        password = read_secret(self.config.resolve(hub.password_file)) if hub.password_file else None
        return connection_parameters(hub.url, username, password, self._ca, self.cp.timeout_seconds, HEARTBEAT)

    def listener(self) -> EventHubListener | None:
        if self.hub_parameters is None:
            return None
        return EventHubListener(
            self.hub_parameters, self.notify, self.request_resync, sleep=self.sleep, max_backoff=self.max_backoff,
            timeout=self.cp.timeout_seconds,
        )  # fmt: skip

    # -- the loop -------------------------------------------------------------------------------------------

    async def run(self, publish: Publish) -> None:
        listener = self.listener()
        tasks = [asyncio.ensure_future(supervise("sync", lambda: self.sync_forever(publish), self.sleep))]
        if listener is not None:
            tasks.append(asyncio.ensure_future(supervise("event hub", listener.run, self.sleep)))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=2)  # bounded: shutdown must not hang on the broker
            await self.api.close()

    async def sync_forever(self, publish: Publish) -> None:
        backoff = self.min_backoff
        self.request_resync()
        while True:
            timeout = max(0.0, self._next_resync - self.monotonic()) if self.snapshot is not None else None
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                item = RESYNC
            batch = [item]
            while not self._queue.empty():  # apply a burst of events as one new catalog
                batch.append(self._queue.get_nowait())
            try:
                await self._apply_batch(batch, publish)
                backoff = self.min_backoff
            except ControlPlaneError as exc:
                operation = "full" if self.snapshot is None or RESYNC in batch else "event"
                metrics.CONTROLPLANE_SYNC_FAILURES.labels(operation).inc()
                log.error(
                    "APIM sync failed; keeping the last good catalog",
                    extra={"error": str(exc), "retry_in": backoff, "operation": operation},
                )
                await self.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                self.request_resync()  # a full pull repairs whatever the failed step missed

    async def _apply_batch(self, batch: list[Event | None], publish: Publish) -> None:
        if RESYNC in batch or self.snapshot is None:
            self.snapshot = await self.pull()
            self._next_resync = self.monotonic() + self.cp.resync_seconds
            metrics.CONTROLPLANE_LAST_FULL_SYNC.set(self.clock())
            log.info("full sync from APIM", extra={"apis": len(self.snapshot.apis)})
        applied = []
        for event in batch:
            if event is None:
                continue
            try:
                await self.apply(event)
                applied.append(event)
            except BadEvent as exc:  # names nothing we can re-pull: skipped; the periodic resync covers it
                metrics.CONTROLPLANE_EVENTS.labels(event.topic, _type_label(event), "poison").inc()
                log.warning("event skipped", extra={"type": event.type, "error": str(exc)})
        now = self.clock()
        self.snapshot = self.snapshot.without_expired(now)
        if publish(self.snapshot.document(now)):
            for event in applied:
                if event.timestamp is not None:
                    metrics.CONTROLPLANE_SYNC_LAG.observe(max(0.0, now - event.timestamp))
        else:
            metrics.CONTROLPLANE_SYNC_FAILURES.labels("rejected").inc()
