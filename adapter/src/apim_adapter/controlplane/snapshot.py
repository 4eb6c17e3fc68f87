"""The wso2 control plane's view of APIM, and what each event does to it: pure functions, no I/O.

`plan(event, context)` says what an event needs (the entities to re-pull from the internal data API, a change that
needs no pull, or why it changes nothing); the loop makes the pulls; `apply(snapshot, plan, pulled)` returns the
new snapshot. Events only name what changed, and the data API is the truth, as in Choreo Connect's adapter
(product-microgateway `adapter/pkg/messaging/notification_listener.go`): a re-pull never carries a stale event
body into the catalog, and a pulled item is used only when it is the one the event named, whatever filters the
server honoured.

Event types (carbon-apimgt 9.31.86 `APIConstants.EventType`, event classes in `impl/notifier/events/`) are
dispatched through `NOTIFICATIONS`, topics through `TOPICS`: one line adds a handler. The documented list of what
is applied and what is deliberately ignored is docs/wso2-control-plane.md; it must match these tables.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import blocking
from ..config import KeyManager
from ..revocation import DEFAULT_LIMITS, BadRevocation, RevocationLimits, RevocationStore
from .events import CACHE_INVALIDATION, KEY_MANAGER, NOTIFICATION, THROTTLE_DATA, TOKEN_REVOCATION, BadEvent, Event

POLICY_ENDPOINTS = {
    "subscriptionPolicies": "subscription-policies",
    "applicationPolicies": "application-policies",
    "apiPolicies": "api-policies",
    "globalPolicies": "global-policies",  # custom policies: the catalog names them, not enforced (their Siddhi)
}
# PolicyEvent.policyType (APIConstants.PolicyType) → the catalog list it changes.
POLICY_TYPES = {"SUBSCRIPTION": "subscriptionPolicies", "APPLICATION": "applicationPolicies", "API": "apiPolicies",
                "GLOBAL": "globalPolicies"}  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """Everything the catalog is built from, keyed the way events name things."""

    apis: Mapping[Any, dict] = field(default_factory=dict)  # uuid →
    applications: Mapping[Any, dict] = field(default_factory=dict)  # uuid →
    subscriptions: Mapping[tuple, dict] = field(default_factory=dict)  # (applicationUUID, apiUUID) →
    key_mappings: Mapping[tuple, dict] = field(default_factory=dict)  # (consumerKey, keyManager) →
    policies: Mapping[str, Mapping[Any, dict]] = field(default_factory=lambda: {k: {} for k in POLICY_ENDPOINTS})
    # Every revocation kind (revocation.py); replaced, never changed in place, so older snapshots stay as they were.
    revocations: RevocationStore = field(default_factory=RevocationStore)
    block_conditions: Mapping[str, Any] = field(default_factory=dict)  # GET /block's shape, kept by throttleData
    key_managers: tuple[KeyManager, ...] | None = None  # None: not taken from APIM
    # name → `/scopes` item, for basic authentication's scope checks through roles; None: not pulled (it is off).
    scopes: Mapping[Any, dict] | None = None
    # The gateway policy mappings deployed to the gateway label (artifacts.gateway_policies), named as not applied.
    gateway_policies: tuple[dict, ...] = ()
    # APIM's per-API logging levels (`/api-logging-configs` items: context, logLevel, resourceMethod, resourcePath).
    api_logging: tuple[dict, ...] = ()
    revocations_skipped: tuple[str, ...] = field(default=(), compare=False)  # bad /revokedjwt rows, with why

    @classmethod
    def from_lists(
        cls,
        apis: Iterable[dict],
        applications: Iterable[dict],
        subscriptions: Iterable[dict],
        key_mappings: Iterable[dict],
        policies: Mapping[str, Iterable[dict]],
        revoked_jwts: Any,
        key_managers: Sequence[KeyManager] | None,
        previous: Snapshot | None,
        now: float,
        block: Any = None,
        revocation_limits: RevocationLimits = DEFAULT_LIMITS,
        scopes: Iterable[dict] | None = None,
        gateway_policies: Iterable[dict] = (),
        api_logging: Iterable[dict] = (),
    ) -> Snapshot:
        """A full pull's lists as a snapshot (`revocations_skipped` says why `/revokedjwt` rows were left out).
        Revocations learnt from events survive until they end, since APIM's `/revokedjwt` list may not show them
        yet; `block` (GET /block) replaces the blocking conditions. Raises BadRevocation or blocking.BadCondition
        for a malformed answer."""
        revocations = previous.revocations.copy() if previous is not None else RevocationStore(revocation_limits)
        skipped = revocations.load(revoked_jwts, now)
        if block is not None and not isinstance(block, Mapping):
            raise blocking.BadCondition("block: not an object")
        return cls(
            apis={a.get("uuid"): a for a in apis},
            applications={a.get("uuid"): a for a in applications},
            subscriptions={subscription_key(s): s for s in subscriptions},
            key_mappings={key_mapping_key(k): k for k in key_mappings},
            policies={key: {p.get("name"): p for p in policies.get(key, ())} for key in POLICY_ENDPOINTS},
            revocations=revocations,
            block_conditions=dict(block or {}),
            key_managers=tuple(key_managers) if key_managers is not None else None,
            scopes={s.get("name"): s for s in scopes} if scopes is not None else None,
            gateway_policies=tuple(gateway_policies),
            api_logging=tuple(api_logging),
            revocations_skipped=tuple(skipped),
        )

    def document(self, now: float) -> dict[str, Any]:
        """The catalog document (the `file` control plane's format) this snapshot stands for at `now`."""
        doc: dict[str, Any] = {
            "apis": list(self.apis.values()),
            "applications": list(self.applications.values()),
            "subscriptions": list(self.subscriptions.values()),
            "applicationKeyMappings": list(self.key_mappings.values()),
            **{key: list(items.values()) for key, items in self.policies.items()},
            "revocations": self.revocations.copy().view(now),
            "blockConditions": copy.deepcopy(dict(self.block_conditions)),
            "gatewayPolicies": copy.deepcopy(list(self.gateway_policies)),
            "apiLogging": copy.deepcopy(list(self.api_logging)),
        }
        if self.key_managers is not None:
            doc["keyManagers"] = list(self.key_managers)
        if self.scopes is not None:  # only what a scope check needs: its display name and description are not
            doc["scopes"] = [
                {"name": s.get("name"), "roles": copy.deepcopy(s.get("roles") or [])} for s in self.scopes.values()
            ]
        return doc

    def without_expired(self, now: float) -> Snapshot:
        revocations = self.revocations.copy()
        revocations.view(now)  # drops what ended and enforces the cap
        return replace(self, revocations=revocations)


def subscription_key(item: Mapping[str, Any]) -> tuple:
    return (item.get("applicationUUID"), item.get("apiUUID"))


def key_mapping_key(item: Mapping[str, Any]) -> tuple:
    return (item.get("consumerKey"), item.get("keyManager"))


@dataclass(frozen=True)
class Pull:
    """One entity to re-pull: GET `endpoint` with `query`, keep the items carrying every `named` field value
    (the one the event named), and put the first in `table` under `key`, or remove `key` when there is none. A
    `key` of None puts each item kept under its own key (a key mapping's, `key_mapping_key`): for an event that
    does not name the whole key."""

    table: str  # a Snapshot mapping (apis, applications, subscriptions, key_mappings, scopes) or a POLICY_ENDPOINTS key
    key: Hashable | None
    endpoint: str
    query: tuple[tuple[str, str], ...]
    named: tuple[tuple[str, Any], ...]

    def matching(self, items: Iterable[Any]) -> list[dict]:
        return [i for i in items if isinstance(i, dict) and all(i.get(k) == v for k, v in self.named)]


@dataclass(frozen=True)
class Plan:
    """What one event needs. `ignored` says why an event changes nothing (counted per reason)."""

    pulls: tuple[Pull, ...] = ()
    key_managers: bool = False
    gateway_policies: bool = False  # the gateway policy mappings of the gateway label re-pulled
    api_logging: bool = False  # the per-API logging levels re-pulled
    change: Callable[[Snapshot], Snapshot] | None = None
    ignored: str | None = None
    revoked_token: str | None = None  # SHA-256 of an opaque token the event revoked: evict it from the caches
    users_changed: tuple[str, ...] = ()  # users (`user@tenant`) whose password, roles or existence changed
    # An application user's quota restarted in the Developer Portal: (the application's numeric id, `user@tenant`,
    # the reset's own id, which makes replicas sharing counters restart them once).
    quota_reset: tuple[int, str, str] | None = None


@dataclass(frozen=True)
class Context:
    gateway_label: str | None
    key_managers_from_control_plane: bool
    now: float
    revocation_limits: RevocationLimits = DEFAULT_LIMITS
    follow_scopes: bool = False  # `basicAuth.enabled`: scopes and their roles are pulled, SCOPE_* events re-pull one
    tenant: str = "carbon.super"  # the tenant whose APIs are served (`controlPlane.tenant`)


Handler = Callable[[Mapping[str, Any], Context], Plan]


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise BadEvent(f"no {name}")
    return value


# -- notification handlers -------------------------------------------------------------------------------


def subscription(d: Mapping[str, Any], ctx: Context) -> Plan:
    """SubscriptionEvent: re-pulled with both UUIDs, the only filter /subscriptions honours (both or none)."""
    app, api = _text(d, "applicationUUID"), _text(d, "apiUUID")
    named = (("applicationUUID", app), ("apiUUID", api))
    return Plan(
        pulls=(Pull("subscriptions", (app, api), "subscriptions", (("apiUUID", api), ("applicationUUID", app)), named),)
    )


# A key manager's UUID (AM_KEY_MANAGER.UUID), as UUID.randomUUID() writes it.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def key_mapping(d: Mapping[str, Any], ctx: Context) -> Plan:
    """ApplicationRegistrationEvent: the key mapping named by consumer key and key manager name. A key approved
    through a workflow names its key manager by UUID instead (WorkflowUtils.sendNotificationAfterWFComplete, from
    ApiMgtDAO.populateAppRegistrationWorkflowDTO), which `/application-key-mappings` does not filter by (it matches
    the name: GET_AM_KEY_MAPPING_BY_CONSUMER_KEY_SQL): then the organization's mappings are pulled, and those of
    the consumer key kept."""
    key, km = _text(d, "consumerKey"), _text(d, "keyManager")
    if _UUID.fullmatch(km):
        return Plan(pulls=(Pull("key_mappings", None, "application-key-mappings", (), (("consumerKey", key),)),))
    named = (("consumerKey", key), ("keyManager", km))
    return Plan(
        pulls=(
            Pull(
                "key_mappings", (key, km), "application-key-mappings", (("consumerKey", key), ("keymanager", km)), named
            ),
        )
    )


def application(d: Mapping[str, Any], ctx: Context) -> Plan:
    """ApplicationEvent: re-pulled by its numeric id, kept only if the UUID is the event's."""
    uuid, app_id = _text(d, "uuid"), d.get("applicationId")
    query = (("appId", str(app_id)),) if isinstance(app_id, int) and not isinstance(app_id, bool) else ()
    return Plan(pulls=(Pull("applications", uuid, "applications", query, (("uuid", uuid),)),))


def application_delete(d: Mapping[str, Any], ctx: Context) -> Plan:
    """A deleted application takes its subscriptions and key mappings with it (APIM deletes them too)."""
    uuid = _text(d, "uuid")

    def change(s: Snapshot) -> Snapshot:
        return replace(
            s,
            applications={k: a for k, a in s.applications.items() if k != uuid},
            subscriptions={k: v for k, v in s.subscriptions.items() if k[0] != uuid},
            key_mappings={k: m for k, m in s.key_mappings.items() if m.get("applicationUUID") != uuid},
        )

    return Plan(change=change)


def api(d: Mapping[str, Any], ctx: Context) -> Plan:
    """APIEvent / DeployAPIInGatewayEvent: the API re-pulled by UUID. `/apis` honours `apiId` only together with
    `gatewayLabel`; without a label the answer is every API (one row per environment) and only the named one is
    kept — correct, but each API event then costs a whole API list."""
    uuid = _text(d, "uuid")
    labels = d.get("gatewayLabels")
    if ctx.gateway_label and isinstance(labels, list) and labels and ctx.gateway_label not in labels:
        return Plan(ignored="other gateway environment")
    query = (("apiId", uuid), ("gatewayLabel", ctx.gateway_label)) if ctx.gateway_label else ()
    return Plan(pulls=(Pull("apis", uuid, "apis", query, (("uuid", uuid),)),))


def policy(d: Mapping[str, Any], ctx: Context) -> Plan:
    """PolicyEvent subclasses: the one policy of the event's `policyType`, by name."""
    table = POLICY_TYPES.get(d.get("policyType"))  # type: ignore[arg-type]
    if table is None:
        return Plan(ignored="policy type not enforced")
    name = _text(d, "policyName")
    return Plan(pulls=(Pull(table, name, POLICY_ENDPOINTS[table], (("policyName", name),), (("name", name),)),))


def scope(d: Mapping[str, Any], ctx: Context) -> Plan:
    """ScopeEvent (a shared scope created, updated or deleted, or an API's scope created: APIProviderImpl.addScopes,
    updateScope, deleteScope): the scope named `name`, re-pulled by `scopeKey` (ScopesApiServiceImpl answers that
    one or none), when basic authentication checks scopes through their roles. APIM's gateway takes the event's own
    roles (KeyManagerDataServiceImpl.addScope); here, as for every event, the data API is the truth."""
    if not ctx.follow_scopes:
        return Plan(ignored="scopes travel with the API")  # urlMappings[].scopes, re-pulled on DEPLOY
    name = _text(d, "name")
    return Plan(pulls=(Pull("scopes", name, "scopes", (("scopeKey", name),), (("name", name),)),))


def scopes(d: Mapping[str, Any], ctx: Context) -> Plan:
    """ScopesEvent (an API update added local scopes: APIProviderImpl.updateScopes): each scope it lists under
    `scopes`, re-pulled as one ScopeEvent's. Scopes that update deleted send no event: they go at the next full
    pull (no resource names them by then)."""
    if not ctx.follow_scopes:
        return Plan(ignored="scopes travel with the API")
    listed = d.get("scopes")
    if not isinstance(listed, list):
        raise BadEvent("no scopes")
    return Plan(pulls=tuple(p for one in listed if isinstance(one, Mapping) for p in scope(one, ctx).pulls))


def gateway_policy_mapping(d: Mapping[str, Any], ctx: Context) -> Plan:
    """GatewayPolicyEvent (a gateway policy mapping deployed to or removed from gateway environments, after the
    database changed: APIProviderImpl.engageGatewayGlobalPolicies → APIGatewayManager.deployPolicyToGateway,
    undeployPolicyFromGateway): the mappings of the gateway label re-pulled, when the event names it (APIM's gateway
    acts only on the labels it serves: GatewayJMSMessageListener). They are named as not applied; without a label
    the adapter serves every environment's APIs and follows none."""
    labels = d.get("gatewayLabels")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise BadEvent("no gatewayLabels")
    if not ctx.gateway_label:
        return Plan(ignored="gateway policies are followed with a gateway label")
    if ctx.gateway_label not in labels:
        return Plan(ignored="other gateway environment")
    return Plan(gateway_policies=True)


def quota_reset(d: Mapping[str, Any], ctx: Context) -> Plan:
    """ApplicationPolicyResetEvent (a Developer Portal user's "reset" of one user's quota of an application:
    APIConsumerImpl.resetApplicationThrottlePolicy): APIM's traffic manager restarts the counter keyed
    `appId:userId@tenantDomain` (ThrottlePolicyJMSMessageListener), the application tier's quota of that end user as
    the gateway counts it (ThrottleHandler's `applicationId:authorizedUser`); the adapter restarts its own counter of
    that quota (decision.application_quota). Only an application policy is reset; an application of another tenant
    is not served here."""
    if d.get("policyType") != "APPLICATION":
        return Plan(ignored="policy type not reset")
    app_id, user, tenant, reset_id = _text(d, "appId"), _text(d, "userId"), _text(d, "tenantDomain"), _text(d, "uuid")
    if not (app_id.isascii() and app_id.isdigit()):
        raise BadEvent("appId: not an application's numeric id")
    if tenant != ctx.tenant:
        return Plan(ignored="another tenant's application")
    return Plan(quota_reset=(int(app_id), f"{user}@{tenant}", reset_id))


def api_log_level(d: Mapping[str, Any], ctx: Context) -> Plan:
    """APIEvent `UDATE_API_LOG_LEVEL` (an API's or a resource's log level set through APIM's DevOps API, after the
    database changed: APILoggingImpl.addUpdateAPILogger): the levels re-pulled, as the data API's truth. APIM's
    gateway puts the event's own (apiContext, resourceMethod, resourcePath) → logLevel into its map
    (GatewayJMSMessageListener → APILoggerManager.updateLoggerMap); the list it loads at start is the same table's
    (`/api-logging-configs`), so both agree."""
    return Plan(api_logging=True)


def ignore(reason: str) -> Handler:
    def handler(d: Mapping[str, Any], ctx: Context) -> Plan:
        return Plan(ignored=reason)

    return handler


NOTIFICATIONS: dict[str, Handler] = {
    "SUBSCRIPTIONS_CREATE": subscription,
    "SUBSCRIPTIONS_UPDATE": subscription,
    "SUBSCRIPTIONS_DELETE": subscription,
    "APPLICATION_CREATE": application,
    "APPLICATION_UPDATE": application,
    "APPLICATION_DELETE": application_delete,
    "APPLICATION_REGISTRATION_CREATE": key_mapping,
    "REMOVE_APPLICATION_KEYMAPPING": key_mapping,
    "API_UPDATE": api,
    "API_DELETE": api,
    "API_LIFECYCLE_CHANGE": api,
    "DEPLOY_API_IN_GATEWAY": api,
    "REMOVE_API_FROM_GATEWAY": api,
    "POLICY_CREATE": policy,
    "POLICY_UPDATE": policy,
    "POLICY_DELETE": policy,
    # Ignored unless basic authentication is on: an OAuth2 token's scopes are checked against the API's URL mappings.
    "SCOPE_CREATE": scope,
    "SCOPE_UPDATE": scope,
    "SCOPE_DELETE": scope,
    "SCOPES_UPDATE": scopes,
    "POLICY_RESET": quota_reset,
    "DEPLOY_POLICY_MAPPING_IN_GATEWAY": gateway_policy_mapping,
    "REMOVE_POLICY_MAPPING_FROM_GATEWAY": gateway_policy_mapping,
    "UDATE_API_LOG_LEVEL": api_log_level,  # APIConstants.EventType's spelling
    # Deliberately ignored: nothing the adapter enforces changes.
    "API_CREATE": ignore("not deployed yet"),  # DEPLOY_API_IN_GATEWAY follows a deployment
}


def notification(event: Event, ctx: Context) -> Plan:
    handler = NOTIFICATIONS.get(event.type)
    return handler(event.data, ctx) if handler is not None else Plan(ignored="event type not used")


def token_revocation(event: Event, ctx: Context) -> Plan:
    """Every kind APIM announces (revocation.py): a JWT's jti, an opaque token's SHA-256 (also evicted from the
    caches), or a consumer key's or subject's tokens issued before a time. The event is read into a store of its
    own, which the change merges into the snapshot's."""
    learnt = RevocationStore(ctx.revocation_limits)
    try:
        digest = learnt.apply_event(event.data, ctx.now)
    except BadRevocation as exc:
        raise BadEvent(str(exc)) from exc
    if not learnt.view(ctx.now):
        return Plan(ignored="already expired")
    return Plan(change=lambda s: replace(s, revocations=s.revocations.merged(learnt)), revoked_token=digest)


def throttle_data(event: Event, ctx: Context) -> Plan:
    """A blocking condition added, enabled, disabled or deleted (blocking.py), applied to `/block`'s shape."""
    d = event.data
    try:
        if not blocking.apply_event({}, d):  # checked before anything changes
            return Plan(ignored="not a blocking condition")  # throttle decisions and key templates of APIM's TM
    except blocking.BadCondition as exc:
        raise BadEvent(str(exc)) from exc
    if d.get("blockingCondition") in (blocking.IP, blocking.IP_RANGE) and blocking.another_tenants(d, ctx.tenant):
        return Plan(ignored="another tenant's IP condition")

    def change(s: Snapshot) -> Snapshot:
        conditions = copy.deepcopy(dict(s.block_conditions))
        blocking.apply_event(conditions, d)
        return replace(s, block_conditions=conditions)

    return Plan(change=change)


def key_manager(event: Event, ctx: Context) -> Plan:
    if not ctx.key_managers_from_control_plane:
        return Plan(ignored="key managers come from the config")
    return Plan(key_managers=True)


# APIConstants.GATEWAY_USERNAME_CACHE_NAME: the `type` of a cacheInvalidation message naming users.
USERNAME_CACHE = "gatewayUsernameCache"


def cache_invalidation(event: Event, ctx: Context) -> Plan:
    """APIM's user store changed a user (KeyManagerUserOperationListener: a password set, roles changed, the user
    added or deleted) and names them, `user@tenant`, as `{type: gatewayUsernameCache, value: "[...]"}`
    (APIAuthenticationAdminClient.invalidateCachedUsernames; APIMgtGatewayCacheMessageListener reads it): the
    credentials kept for them go. Its other kinds clear caches the adapter does not keep (resources, tokens)."""
    d = event.data
    if d.get("type") != USERNAME_CACHE:
        return Plan(ignored="the adapter keeps no response, resource or token cache")
    if not ctx.follow_scopes:  # `basicAuth.enabled`: without it no credentials of users are kept
        return Plan(ignored="basic authentication is off")
    try:
        names = json.loads(_text(d, "value"))
    except ValueError:
        raise BadEvent("gatewayUsernameCache: value is not a JSON array") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadEvent("gatewayUsernameCache: value is not a JSON array of user names")
    return Plan(users_changed=tuple(names))


TOPICS: dict[str, Callable[[Event, Context], Plan]] = {
    NOTIFICATION: notification,
    TOKEN_REVOCATION: token_revocation,
    KEY_MANAGER: key_manager,
    THROTTLE_DATA: throttle_data,
    CACHE_INVALIDATION: cache_invalidation,
}


def plan(event: Event, ctx: Context) -> Plan:
    """What `event` needs; BadEvent when it lacks the fields that name what changed."""
    handler = TOPICS.get(event.topic)
    return handler(event, ctx) if handler is not None else Plan(ignored="topic not used")


def apply(
    snapshot: Snapshot,
    plan_: Plan,
    pulled: Mapping[Pull, Sequence[Any]],
    key_managers: Sequence[KeyManager] | None = None,
    gateway_policies: Sequence[dict] | None = None,
    api_logging: Sequence[dict] | None = None,
) -> Snapshot:
    """The snapshot after an event: each pull's named item replaces or removes its entry; `key_managers`,
    `gateway_policies` and `api_logging`, pulled for a plan that asks for them, replace theirs."""
    for pull in plan_.pulls:
        found = pull.matching(pulled.get(pull, ()))
        if pull.table in POLICY_ENDPOINTS:
            table = dict(snapshot.policies[pull.table])
            _put(table, pull.key, found)
            snapshot = replace(snapshot, policies={**snapshot.policies, pull.table: table})
        else:
            table = dict(getattr(snapshot, pull.table) or {})  # scopes: None until basic authentication pulls them
            if pull.key is None:
                table.update((key_mapping_key(item), item) for item in found)
            else:
                _put(table, pull.key, found)
            snapshot = replace(snapshot, **{pull.table: table})
    if plan_.key_managers and key_managers is not None:
        snapshot = replace(snapshot, key_managers=tuple(key_managers))
    if plan_.gateway_policies and gateway_policies is not None:
        snapshot = replace(snapshot, gateway_policies=tuple(gateway_policies))
    if plan_.api_logging and api_logging is not None:
        snapshot = replace(snapshot, api_logging=tuple(api_logging))
    if plan_.change is not None:
        snapshot = plan_.change(snapshot)
    return snapshot


def _put(table: dict[Hashable, dict], key: Hashable, found: list[dict]) -> None:
    if found:
        table[key] = found[0]
    else:
        table.pop(key, None)
