"""The wso2 control plane: WSO2 API Manager 4.5's internal data API, kept current by its event hub.

Startup pulls every list the catalog needs from `/internal/data/v1` (HTTPS with a CA bundle, Basic
credentials from files, the `xWSO2Tenant` header; APIM answers whole lists, never pages). Then every
event from the event hub re-pulls the one entity it names through the API's query parameters, as Choreo
Connect does, so an event never carries stale data into the catalog; a periodic full pull repairs anything an
event could not (a lost message, a broker outage). Events and pulls go through one queue, applied in order.
If APIM is down the last good catalog keeps serving and the pull is retried with backoff.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
from prometheus_client import Counter, Gauge, Histogram

from .. import blocking, tracing
from ..config import Config, ControlPlane, KeyManager
from ..http_client import HttpClient
from ..revocation import BadRevocation, RevocationStore
from . import Publish
from .events import KEY_MANAGER, THROTTLE_DATA, TOKEN_REVOCATION, Event, EventHubListener

log = logging.getLogger(__name__)

BASE_PATH = "/internal/data/v1"
MAX_RESPONSE_BYTES = 64 << 20
POLICY_ENDPOINTS = {
    "subscriptionPolicies": "subscription-policies",
    "applicationPolicies": "application-policies",
    "apiPolicies": "api-policies",
}
API_EVENTS = frozenset({"LIFECYCLE_CHANGE", "DEPLOY_API_IN_GATEWAY", "REMOVE_API_FROM_GATEWAY"})
POLICY_TYPES = {"SUBSCRIPTION": "subscriptionPolicies", "APPLICATION": "applicationPolicies", "API": "apiPolicies"}

SYNC_LAG = Histogram(
    "apim_adapter_controlplane_sync_lag_seconds",
    "Time from an APIM event's timestamp until its change serves",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SYNC_FAILURES = Counter(
    "apim_adapter_controlplane_sync_failures", "Failed pulls from APIM's internal data API", ["operation"]
)
EVENTS = Counter("apim_adapter_controlplane_events", "Event hub notifications applied, by event type", ["type"])
LAST_FULL_SYNC = Gauge(
    "apim_adapter_controlplane_last_full_sync_timestamp_seconds", "When the last full pull from APIM succeeded"
)
EVENT_HUB_CONNECTED = Gauge("apim_adapter_controlplane_event_hub_connected", "1 while the event hub is connected")


class ControlPlaneError(Exception):
    """APIM's internal data API could not answer."""


def read_secret(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\r\n")


def _base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(BASE_PATH) else url + BASE_PATH


class InternalDataApi:
    """GETs on /internal/data/v1 as a gateway makes them."""

    def __init__(self, cp: ControlPlane, config: Config):
        self.base = _base_url(cp.url)
        user = read_secret(str(config.resolve(cp.username_file)))
        password = read_secret(str(config.resolve(cp.password_file)))
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "xWSO2Tenant": cp.tenant, "Accept": "application/json"}
        ca = str(config.resolve(cp.ca_bundle)) if cp.ca_bundle else None
        self.client = HttpClient(ca, timeout=cp.timeout_seconds)

    async def get(self, path: str, **query: Any) -> Any:
        params = {k: str(v) for k, v in query.items() if v is not None}
        return await self._get(f"{self.base}/{path}", params)

    @tracing.traced("GET", lambda self, url, *_: {"url.full": url})
    async def _get(self, url: str, params: dict[str, str] | None = None) -> Any:
        try:
            return await self.client.get_json(url, MAX_RESPONSE_BYTES, headers=self.headers, params=params)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise ControlPlaneError(f"GET {urllib.parse.urlsplit(url).path}: {exc or type(exc).__name__}") from exc

    async def items(self, path: str, **query: Any) -> list[dict[str, Any]]:
        """The items of a `{count, list}` answer: the internal service never sets `pagination` (its
        *ApiServiceImpl build whole lists)."""
        body = await self.get(path, **query)
        if not isinstance(body, dict) or not isinstance(body.get("list"), list):
            raise ControlPlaneError(f"GET {path}: not a list answer")
        return [item for item in body["list"] if isinstance(item, dict)]

    async def close(self) -> None:
        await self.client.close()


def key_managers_from(items: Iterable[Any], configured: Iterable[str], ca_bundle: str | None) -> list[KeyManager]:
    """APIM's key managers (`/keymanagers`) for JWT validation; the config's own key managers win by name."""
    out, taken = [], set(configured)
    for item in items:
        if not isinstance(item, dict) or not item.get("enabled", True):
            continue
        name, props = item.get("name"), item.get("additionalProperties") or {}
        if not isinstance(name, str) or name in taken or not isinstance(props, dict):
            continue
        jwks = props.get("certificate_value") if props.get("certificate_type") == "JWKS" else None
        jwks = jwks or props.get("jwks_endpoint")
        issuer = props.get("issuer")
        if not isinstance(issuer, str) or not isinstance(jwks, str) or not issuer or not jwks:
            log.warning("key manager from APIM skipped: no issuer or JWKS endpoint", extra={"key_manager": name})
            continue
        out.append(
            KeyManager(
                name=name,
                issuer=issuer,
                jwks_uri=jwks,
                consumer_key_claim=props.get("consumer_key_claim") or "azp",
                scopes_claim=props.get("scopes_claim") or "scope",
                ca_bundle=ca_bundle,
            )
        )
        taken.add(name)
    return out


def _sub_key(item: dict[str, Any]) -> tuple[Any, Any]:
    return (item.get("applicationUUID") or item.get("appId"), item.get("apiUUID") or item.get("apiId"))


def _km_key(item: dict[str, Any]) -> tuple[Any, Any]:
    return (item.get("consumerKey"), item.get("keyManager"))


class Snapshot:
    """The control plane's view of APIM, keyed the way events name things."""

    def __init__(self) -> None:
        self.apis: dict[Any, dict] = {}
        self.applications: dict[Any, dict] = {}
        self.subscriptions: dict[tuple, dict] = {}
        self.key_mappings: dict[tuple, dict] = {}
        self.policies: dict[str, dict[Any, dict]] = {key: {} for key in POLICY_ENDPOINTS}
        self.revocations = RevocationStore()
        self.block_conditions: dict[str, Any] = {}  # GET /block's shape, kept current by throttleData events
        self.key_managers: list[KeyManager] | None = None

    def document(self, now: float) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "apis": list(self.apis.values()),
            "applications": list(self.applications.values()),
            "subscriptions": list(self.subscriptions.values()),
            "applicationKeyMappings": list(self.key_mappings.values()),
            **{key: list(items.values()) for key, items in self.policies.items()},
            "revocations": self.revocations.view(now),
            "blockConditions": self.block_conditions,
        }
        if self.key_managers is not None:
            doc["keyManagers"] = list(self.key_managers)
        return doc


class Wso2ControlPlane:
    lenient = True  # APIM's data is served as well as it can be: a bad item is left out, not the whole update

    def __init__(self, cp: ControlPlane, config: Config, min_backoff: float = 0.5, max_backoff: float | None = None):
        self.cp, self.config = cp, config
        self.api = InternalDataApi(cp, config)
        # Retries never wait longer than a resync period: that period is the operator's bound on staleness.
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff if max_backoff is not None else min(30.0, float(cp.resync_seconds))
        self.snapshot: Snapshot | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()  # None: full resync
        self._next_resync = time.monotonic() + cp.resync_seconds
        self._ca = str(config.resolve(cp.ca_bundle)) if cp.ca_bundle else None
        # Told the SHA-256 of each opaque token revoked, so that the adapter drops it from its introspection cache.
        self.on_token_revoked: Callable[[str], None] = lambda _digest: None

    # -- full pull ---------------------------------------------------------------------------------------

    @tracing.traced("control-plane pull", lambda self: {"apim.control_plane": "wso2"})
    async def pull(self) -> Snapshot:
        """Everything, from scratch; raises ControlPlaneError and leaves the current snapshot alone."""
        cp, snap = self.cp, Snapshot()
        lists = await asyncio.gather(
            self.api.items("apis", gatewayLabel=cp.gateway_label),
            self.api.items("applications"),
            self.api.items("subscriptions"),
            self.api.items("application-key-mappings"),
            *(self.api.items(endpoint) for endpoint in POLICY_ENDPOINTS.values()),
            self.api.get("revokedjwt"),
            self.api.get("block"),
        )
        apis, apps, subs, keys, *policies, revoked, block = lists
        snap.apis = {a.get("uuid"): a for a in apis}
        snap.applications = {a.get("uuid"): a for a in apps}
        snap.subscriptions = {_sub_key(s): s for s in subs}
        snap.key_mappings = {_km_key(k): k for k in keys}
        for key, items in zip(POLICY_ENDPOINTS, policies, strict=True):
            snap.policies[key] = {p.get("name"): p for p in items}
        if self.snapshot is not None:  # revocations learnt from events stay: they end on their own
            snap.revocations = self.snapshot.revocations
        try:
            for why in snap.revocations.load(revoked, time.time()):
                log.warning("revocation from APIM left out", extra={"error": why})
        except BadRevocation as exc:
            raise ControlPlaneError(f"GET revokedjwt: {exc}") from exc
        if not isinstance(block, dict):
            raise ControlPlaneError("GET block: not an object")
        snap.block_conditions = block
        if cp.key_managers_from_control_plane:
            snap.key_managers = await self._key_managers()
        return snap

    async def _key_managers(self) -> list[KeyManager]:
        items = await self.api.get("keymanagers")
        if not isinstance(items, list):
            raise ControlPlaneError("GET keymanagers: not a list")
        return key_managers_from(items, (km.name for km in self.config.key_managers), self._ca)

    # -- events ------------------------------------------------------------------------------------------

    async def apply(self, event: Event) -> None:
        """Re-pull what the event names and replace it in the snapshot (raises ControlPlaneError)."""
        snap, d, kind = self.snapshot, event.data, event.type
        assert snap is not None
        if kind == TOKEN_REVOCATION:
            try:
                digest = snap.revocations.apply_event(d, time.time())
            except BadRevocation as exc:
                log.warning("token revocation ignored", extra={"error": str(exc)})
                return
            if digest is not None:
                self.on_token_revoked(digest)
        elif kind == THROTTLE_DATA:
            try:
                if not blocking.apply_event(snap.block_conditions, d):
                    return  # throttle decisions and key templates of APIM's traffic manager: not ours
            except blocking.BadCondition as exc:
                log.warning("blocking condition ignored", extra={"error": str(exc)})
                return
        elif kind == KEY_MANAGER:
            if self.cp.key_managers_from_control_plane:
                snap.key_managers = await self._key_managers()
        elif kind.startswith("SUBSCRIPTIONS_"):
            key = (d.get("applicationUUID"), d.get("apiUUID"))
            found = await self.api.items("subscriptions", apiUUID=key[1], applicationUUID=key[0])
            # APIM filters only when both UUIDs are given, else answers every subscription: keep the named one.
            _replace(snap.subscriptions, key, [sub for sub in found if _sub_key(sub) == key])
        elif kind == "APPLICATION_DELETE":
            uuid = d.get("uuid")
            snap.applications.pop(uuid, None)
            snap.subscriptions = {k: s for k, s in snap.subscriptions.items() if k[0] != uuid}
            snap.key_mappings = {k: m for k, m in snap.key_mappings.items() if m.get("applicationUUID") != uuid}
        elif kind in ("APPLICATION_REGISTRATION_CREATE", "REMOVE_APPLICATION_KEYMAPPING"):
            key = (d.get("consumerKey"), d.get("keyManager"))
            found = await self.api.items("application-key-mappings", consumerKey=key[0], keymanager=key[1])
            _replace(snap.key_mappings, key, found)
        elif kind.startswith("APPLICATION_"):
            found = await self.api.items("applications", appId=d.get("applicationId"))
            _replace(snap.applications, d.get("uuid"), [a for a in found if a.get("uuid") == d.get("uuid")])
        elif kind.startswith("API_") or kind in API_EVENTS:
            uuid = d.get("uuid") or d.get("apiId")
            found = await self.api.items("apis", apiId=uuid, gatewayLabel=self.cp.gateway_label)
            _replace(snap.apis, uuid, [a for a in found if a.get("uuid") == uuid])
        elif kind.startswith("POLICY_"):
            name = d.get("policyName")
            kinds = [POLICY_TYPES[d["policyType"]]] if d.get("policyType") in POLICY_TYPES else list(POLICY_ENDPOINTS)
            for key in kinds:
                found = await self.api.items(POLICY_ENDPOINTS[key], policyName=name)
                _replace(snap.policies[key], name, [p for p in found if p.get("name") == name])
        else:
            return  # scopes, webhooks, … do not change a decision
        EVENTS.labels(kind).inc()

    async def notify(self, event: Event) -> None:
        await self._queue.put(event)

    async def request_resync(self) -> None:
        await self._queue.put(None)

    # -- the loop ----------------------------------------------------------------------------------------

    async def run(self, publish: Publish) -> None:
        hub_task = None
        hub = self.cp.event_hub
        if hub is not None:
            listener = EventHubListener(
                hub.url,
                read_secret(str(self.config.resolve(hub.username_file))) if hub.username_file else None,
                read_secret(str(self.config.resolve(hub.password_file))) if hub.password_file else None,
                self._ca,
                self.notify,
                self.request_resync,
                lambda up: EVENT_HUB_CONNECTED.set(1 if up else 0),
                self.max_backoff,
            )
            hub_task = asyncio.ensure_future(listener.run())
        try:
            await self._sync_forever(publish)
        finally:
            if hub_task is not None:
                hub_task.cancel()
                await asyncio.wait({hub_task}, timeout=2)  # bounded: shutdown must not hang on the broker
            await self.api.close()

    async def _sync_forever(self, publish: Publish) -> None:
        backoff = self.min_backoff
        await self._queue.put(None)
        while True:
            try:
                item = await asyncio.wait_for(self._queue.get(), max(0.0, self._next_resync - time.monotonic()))
            except TimeoutError:
                item = None
            batch = [item]
            while not self._queue.empty():  # apply a burst of events as one new catalog
                batch.append(self._queue.get_nowait())
            try:
                await self._apply_batch(batch, publish)
                backoff = self.min_backoff
            except ControlPlaneError as exc:
                operation = "full" if self.snapshot is None or None in batch else "event"
                SYNC_FAILURES.labels(operation).inc()
                log.error(
                    "APIM sync failed; keeping the last good catalog",
                    extra={"error": str(exc), "retry_in": backoff, "operation": operation},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                await self._queue.put(None)  # a full pull repairs whatever the failed step missed

    async def _apply_batch(self, batch: list[Event | None], publish: Publish) -> None:
        if None in batch or self.snapshot is None:
            self.snapshot = await self.pull()
            self._next_resync = time.monotonic() + self.cp.resync_seconds
            LAST_FULL_SYNC.set_to_current_time()
            log.info("full sync from APIM", extra={"apis": len(self.snapshot.apis)})
        for event in batch:
            if event is not None:
                await self.apply(event)
        now = time.time()
        if publish(self.snapshot.document(now)):
            for event in batch:
                if event is not None and event.timestamp is not None:
                    SYNC_LAG.observe(max(0.0, now - event.timestamp))
        else:
            SYNC_FAILURES.labels("rejected").inc()


def _replace(table: dict[Any, dict], key: Any, found: list[dict[str, Any]]) -> None:
    if found:
        table[key] = found[0]
    else:
        table.pop(key, None)
