"""APIM's deny policies (admin portal "Blocking Conditions"), and the pure check of a request against them.

Where they come from (carbon-apimgt 9.31.86):
- `GET /internal/data/v1/block` (`internal/service/impl/BlockApiServiceImpl.java` →
  `utils/BlockConditionDBUtil.getBlockConditions`): enabled conditions only, as `{api: [context], application:
  ["owner:name"], user: [username], ip: [IPLevel], custom: [...], subscription: [...]}`; an `IPLevel` is `{id, type:
  "IP"|"IPRANGE", fixedIp | startingIp + endingIp, invert, tenantDomain}`.
- topic `throttleData` (`blockingEventJMSPublisher.xml`, JSON mapping of `org.wso2.blocking.request.stream`), one
  message per condition added, enabled, disabled or deleted: `{id, blockingCondition, conditionValue, state:
  "true"|"false", tenantDomain}` (`jms/listener/utils/JMSMessageListener.handleBlockingMessage`). An IP
  condition's `conditionValue` is itself JSON (`{"fixedIp": ..., "invert": ...}` or `{"startingIp": ...,
  "endingIp": ..., "invert": ...}`) and is removed by its `id`; the others are removed by value.

How the gateway matches them (`gateway/handlers/throttling/ThrottleHandler`, `throttling/ThrottleDataHolder
.isRequestBlocked`/`isIpLevelBlocked`): the API's context (with its version), `subscriber:applicationName`, the
end user, the client IP. A fixed IP blocks that address (inverted: every other one). An IP range blocks the
addresses strictly between its ends — APIM compares with `>` and `<`, so the two end addresses themselves are not
blocked — and inverted, every address outside. A blocked request is answered 403 `900805` "Message blocked".
`custom` (Siddhi key templates) and `subscription` conditions are not evaluated here.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

API, APPLICATION, USER, IP, IP_RANGE = "API", "APPLICATION", "USER", "IP", "IPRANGE"  # APIConstants
SUPER_TENANT = "carbon.super"
LISTS = {API: "api", APPLICATION: "application", USER: "user"}  # event condition type → /block list

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BadCondition(ValueError):
    """A blocking condition that cannot be applied."""


@dataclass(frozen=True)
class IpCondition:
    id: int | None
    start: Address  # a fixed IP: start == end
    end: Address
    invert: bool
    fixed: bool
    version: int = field(init=False)
    low: int = field(init=False)  # the bounds as integers, like APIM's BigIntegers
    high: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", self.start.version)
        object.__setattr__(self, "low", int(self.start))
        object.__setattr__(self, "high", int(self.end))

    def blocks(self, version: int, number: int) -> bool:
        """For an address as (IP version, integer value)."""
        if version != self.version:
            return self.invert
        if self.fixed:
            return (number == self.low) != self.invert
        return (self.low < number < self.high) != self.invert  # ThrottleDataHolder: both bounds exclusive


@dataclass(frozen=True)
class DenyPolicies:
    apis: frozenset[str] = frozenset()
    applications: frozenset[str] = frozenset()  # "owner:name"
    users: frozenset[str] = frozenset()  # without the super tenant's "@carbon.super"
    ips: tuple[IpCondition, ...] = ()
    skipped: tuple[str, ...] = field(default=(), compare=False)

    def __bool__(self) -> bool:
        return bool(self.apis or self.applications or self.users or self.ips)


NONE = DenyPolicies()


def _user(name: str) -> str:
    """APIM stores a super-tenant user with or without `@carbon.super`; compare them the same."""
    suffix = "@" + SUPER_TENANT
    return name[: -len(suffix)] if name.endswith(suffix) else name


def _address(value: str | None) -> Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def blocked(
    policies: DenyPolicies,
    api_context: str | None,
    application: str | None,
    user: str | None,
    client_ip: str | None,
) -> bool:
    """Whether a request is denied: `application` is `owner:name`, `user` the end user, `client_ip` the
    address the gateway saw (empty or unparsable: the IP conditions cannot match it)."""
    if not policies:
        return False
    if api_context is not None and api_context in policies.apis:
        return True
    if application is not None and application in policies.applications:
        return True
    if user and _user(user) in policies.users:
        return True
    if policies.ips and client_ip:
        ip = ip_number(client_ip)
        if ip is not None:
            return any(condition.blocks(*ip) for condition in policies.ips)
    return False


@functools.lru_cache(maxsize=8192)  # bounded; callers repeat, and parsing costs more than the checks
def ip_number(value: str) -> tuple[int, int] | None:
    """(IP version, integer value) of an address (None: not one); an IPv4 client seen on an IPv6 socket as IPv4."""
    ip = _address(value)
    if ip is None:
        return None
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return ip.version, int(ip)


def ip_condition(raw: Mapping[str, Any], condition_id: int | None = None) -> IpCondition:
    """An `IPLevel` of `/block`, or the parsed `conditionValue` of an IP event (with its `type` and `id`)."""
    kind = raw.get("type")
    invert = raw.get("invert") is True or str(raw.get("invert")).lower() == "true"
    cid = raw.get("id", condition_id)
    cid = cid if isinstance(cid, int) and not isinstance(cid, bool) else condition_id
    fixed = _address(raw.get("fixedIp")) if isinstance(raw.get("fixedIp"), str) else None
    if kind == IP or (kind is None and fixed is not None):
        if fixed is None:
            raise BadCondition("IP condition without a valid fixedIp")
        return IpCondition(cid, fixed, fixed, invert, True)
    start = _address(raw.get("startingIp")) if isinstance(raw.get("startingIp"), str) else None
    end = _address(raw.get("endingIp")) if isinstance(raw.get("endingIp"), str) else None
    if start is None or end is None or start.version != end.version:
        raise BadCondition("IP range condition without valid startingIp and endingIp of one IP version")
    return IpCondition(cid, start, end, invert, False)


def parse(doc: Any) -> DenyPolicies:
    """The deny policies of a `/block`-shaped object; a bad IP entry is left out and reported in `skipped`."""
    if doc is None:
        return NONE
    if not isinstance(doc, Mapping):
        raise BadCondition("blockConditions: must be an object with lists api, application, user, ip")

    def strings(key: str) -> list[str]:
        value = doc.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadCondition(f"blockConditions.{key}: must be a list of strings")
        return value

    ips, skipped = [], []
    raw_ips = doc.get("ip") or []
    if not isinstance(raw_ips, list):
        raise BadCondition("blockConditions.ip: must be a list")
    for i, raw in enumerate(raw_ips):
        try:
            if not isinstance(raw, Mapping):
                raise BadCondition("must be an object")
            ips.append(ip_condition(raw))
        except BadCondition as exc:
            skipped.append(f"blockConditions.ip[{i}]: {exc}")
    return DenyPolicies(
        apis=frozenset(strings("api")),
        applications=frozenset(strings("application")),
        users=frozenset(_user(u) for u in strings("user")),
        ips=tuple(ips),
        skipped=tuple(skipped),
    )


def apply_event(conditions: dict[str, Any], payload: Mapping[str, Any]) -> bool:
    """One `throttleData` blocking message applied to a `/block`-shaped dict in place. Returns False for
    `throttleData` messages that are not blocking conditions (throttle decisions, key templates); raises
    BadCondition for a blocking message that cannot be applied."""
    kind = payload.get("blockingCondition")
    if kind is None:
        return False
    value, state = payload.get("conditionValue"), payload.get("state")
    if not isinstance(kind, str) or not isinstance(value, str) or not isinstance(state, str):
        raise BadCondition("blocking message needs blockingCondition, conditionValue and state")
    # APIM sends "true" for a condition added or enabled, "false" for one disabled (publishBlockingEventUpdate) and
    # "delete" for one deleted (unpublishBlockCondition); its gateway adds on "true" and removes on anything else
    # (JMSMessageListener.handleBlockingMessage).
    enable = state.lower() == "true"
    if kind in LISTS:
        values: list[str] = conditions.setdefault(LISTS[kind], [])
        values[:] = [v for v in values if v != value] + ([value] if enable else [])
        return True
    if kind in (IP, IP_RANGE):
        cid = payload.get("id")
        cid = int(cid) if isinstance(cid, int | str) and str(cid).lstrip("-").isdigit() else None
        entry = None
        if enable:
            try:
                parsed = json.loads(value)
            except ValueError:  # a migrated fixed-IP condition: "tenant:ip" (BlockConditionDBUtil)
                parts = value.split(":")
                parsed = {"fixedIp": parts[1]} if kind == IP and len(parts) == 2 else None
            if isinstance(parsed, str) and kind == IP:
                parsed = {"fixedIp": parsed}
            if not isinstance(parsed, dict):
                raise BadCondition(f"{kind} condition value is not an object")
            entry = {**parsed, "type": kind, "id": cid, "tenantDomain": payload.get("tenantDomain")}
            ip_condition(entry)  # rejected before anything changes
        ips: list[dict[str, Any]] = conditions.setdefault("ip", [])
        if cid is not None:
            ips[:] = [ip for ip in ips if ip.get("id") != cid]
        if entry is not None:
            ips.append(entry)
        return True
    return True  # custom and subscription conditions: known, not evaluated here


def another_tenants(condition: Mapping[str, Any], tenant: str) -> bool:
    """Whether an IP condition (a `/block` IPLevel entry, or a blocking message of type IP or IPRANGE) is another
    tenant's. `/block` answers every tenant's (BlockConditionDBUtil.getBlockConditions), and APIM's gateway files
    IP conditions by their tenant and checks a call against its API's tenant's alone (ThrottleDataHolder
    .addIpBlockingCondition, isIpLevelBlocked(apiTenantDomain, ip)); the other kinds name their tenant in their
    value (an API's context, `owner:application`, `user@tenant`)."""
    owner = condition.get("tenantDomain")
    return isinstance(owner, str) and bool(owner) and owner != tenant


def of_tenant(doc: Mapping[str, Any], tenant: str) -> dict[str, Any]:
    """`/block`'s answer as one tenant's gateway enforces it: the other tenants' IP conditions left out."""
    ips = doc.get("ip")
    if not isinstance(ips, list):
        return dict(doc)
    return {**doc, "ip": [c for c in ips if not (isinstance(c, Mapping) and another_tenants(c, tenant))]}


def application_key(owner: str, name: str) -> str:
    """How an application condition names an application (`subscriber:applicationName`)."""
    return f"{owner}:{name}"
