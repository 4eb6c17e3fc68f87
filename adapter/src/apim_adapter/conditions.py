"""Advanced API policies' condition groups (admin portal: Rate Limiting Policies → Advanced Policies → "Add
Conditional Group"): another limit for the requests that match a header, a query parameter, a JWT claim or the
client's IP. Pure: the catalog parses them, the decision pipeline asks which groups a request meets.

As APIM 4.5 (carbon-apimgt 9.31.86) serves, counts and matches them:
- Served by `GET /internal/data/v1/api-policies` as `conditionGroups: [{conditionGroupId, defaultLimit, condition:
  [{conditionType, name, value, isInverted}]}]` (`SubscriptionValidationDataUtil`, from `ApiMgtDAO
  .createConditionGroupDTO`): `Header` (name: the header, value: a regex), `QueryParameterType` (the parameter, a
  regex), `JWTClaims` (the claim URI, a regex), `IPSpecific` (value: the address), `IPRange` (name: the first
  address, value: the last).
- Counted by the traffic manager (`throttle.policy.deployer` `ThrottlePolicyTemplateBuilder`, the policy_templates
  `throttle_policy_template_resource*.xml`): one count per group, `<resource key>_condition_<id>`, of the requests
  meeting every condition of the group (a request meeting two groups counts on both), and one `_default` count, with
  the policy's own limit, of the requests meeting none; fixed windows aligned to the epoch, as every tier.
- Matched (the templates' Siddhi conditions; the gateway's `ThrottleConditionEvaluator` alike): header, query
  parameter and claim values by `regex:find` — Java's `Pattern.compile(value).matcher(...).find()`, the pattern
  anywhere in the value, read and matched as Java does (java_regex.py) — with header names lower-cased
  (`getPolicyCondition`, and the gateway publishes every header lower-cased); an absent value meets no condition
  (an inverted one: it meets it). An address range includes both ends (`IPCondition.getCondition`: `start <= ip
  AND end >= ip`; APIM's deny policies, `blocking.py`, exclude them). `isInverted` negates one condition.
- Query parameters as the gateway reads them (`GatewayUtils.getQueryParams`): the raw query split on `&` and `=`,
  not URL-decoded, the last of a repeated name kept; a part that is not exactly `name=value` keeps the previous
  part's value.
- JWT claims as the gateway reads them (`JWTUtil.getJWTClaims`): arrays joined with `|`, nested objects flattened
  to `parent.child`; other values as text. APIM reads them from the backend JWT it generates (`callerToken`: without
  backend JWT generation its claim conditions never match); the adapter reads the consumer's access token's claims
  and the `http://wso2.org/claims/*` ones its backend JWT carries (`backend_jwt.caller_claims`), on or off.

APIM's gateway publishes headers, query parameters and JWT claims to its traffic manager only where
`[apim.throttling] enable_header_based_throttling`, `enable_query_param_based_throttling` and
`enable_jwt_claim_based_throttling` are on (all off by default: its conditions on them then never match); the
adapter evaluates every condition an admin configured. `applicableLevel: userLevel` is not read: APIM 4.5's
templates count every policy across all users (`APIProviderImpl.addPolicy` sets `apiLevel`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import java_regex
from .blocking import ip_number

HEADER, QUERY_PARAMETER, JWT_CLAIM, IP_SPECIFIC, IP_RANGE = (
    "Header", "QueryParameterType", "JWTClaims", "IPSpecific", "IPRange"
)  # fmt: skip  # PolicyConstants
if TYPE_CHECKING:
    from .catalog import Limit

KINDS = (HEADER, QUERY_PARAMETER, JWT_CLAIM, IP_SPECIFIC, IP_RANGE)


class BadCondition(ValueError):
    """A condition that cannot be evaluated; the message says which field."""


class Facts:
    """What conditions read of one request; the query and the claims are worked out only if a condition asks."""

    __slots__ = ("_claims", "_query", "claims", "client_ip", "headers", "path")

    def __init__(self, headers: Mapping[str, str], path: str, client_ip: str, claims: Callable[[], Mapping[str, Any]]):
        self.headers = headers  # lower-case names
        self.path = path  # with its query
        self.client_ip = client_ip
        self.claims = claims  # gathered only for a claim condition
        self._query: dict[str, str] | None = None
        self._claims: dict[str, str] | None = None

    def query(self, name: str) -> str | None:
        if self._query is None:
            self._query = query_parameters(self.path)
        return self._query.get(name)

    def claim(self, name: str) -> str | None:
        if self._claims is None:
            self._claims = flat_claims(self.claims())
        return self._claims.get(name)


def query_parameters(path: str) -> dict[str, str]:
    """The query parameters of a path as APIM's gateway reads them (`GatewayUtils.getQueryParams`)."""
    _, mark, query = path.partition("?")
    params: dict[str, str] = {}
    if not mark or not query:
        return params
    value = ""
    for part in _split(query, "&"):
        pieces = _split(part, "=")
        if not pieces:  # "=" alone: the gateway fails reading it (`queryParamArray[0]`); nothing to read here
            continue
        if len(pieces) == 2:
            value = pieces[1]
        params[pieces[0]] = value
    return params


def _split(text: str, separator: str) -> list[str]:
    """Java's `String.split`: trailing empty strings dropped (all of them for a text of separators only)."""
    if not text:
        return [""]
    pieces = text.split(separator)
    while pieces and not pieces[-1]:
        pieces.pop()
    return pieces


def flat_claims(claims: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, str]:
    """A token's claims as APIM's gateway reads them for conditions (`JWTUtil.getJWTClaims`)."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        key = prefix + str(name)
        if isinstance(value, Mapping):
            if depth < 8:  # the token validators refuse deeper nesting already (`too_deep`)
                out.update(flat_claims(value, key + ".", depth + 1))
        elif isinstance(value, list):
            out[key] = "|".join(_text(v) for v in value)
        else:
            out[key] = _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Condition:
    kind: str
    name: str  # the header (lower case), query parameter or claim; empty for an address
    pattern: java_regex.JavaPattern | None  # header, query parameter, claim
    version: int = 0  # an address or range: IP version and bounds, as integers
    low: int = 0
    high: int = 0
    inverted: bool = False

    def holds(self, facts: Facts) -> bool:
        return self._matches(facts) != self.inverted

    def _matches(self, facts: Facts) -> bool:
        if self.pattern is not None:
            if self.kind == HEADER:
                value = facts.headers.get(self.name)
            elif self.kind == QUERY_PARAMETER:
                value = facts.query(self.name)
            else:
                value = facts.claim(self.name)
            return value is not None and self.pattern.find(value)
        ip = ip_number(facts.client_ip) if facts.client_ip else None
        return ip is not None and ip[0] == self.version and self.low <= ip[1] <= self.high


@dataclass(frozen=True)
class ConditionGroup:
    id: int
    conditions: tuple[Condition, ...]
    limit: Limit | None  # None: a quota ext_authz cannot count (bandwidth): its requests are not limited

    def applies(self, facts: Facts) -> bool:
        """Every condition holds (a group without conditions meets no request: `isConditionGroupApplicable`)."""
        return bool(self.conditions) and all(c.holds(facts) for c in self.conditions)


def condition(raw: Mapping[str, Any], where: str) -> Condition:
    """One `condition` of the data API's `ApiPolicyConditionGroup`."""
    kind, name, value = raw.get("conditionType"), raw.get("name"), raw.get("value")
    inverted = raw.get("isInverted", False)
    if not isinstance(inverted, bool):
        raise BadCondition(f"{where}.isInverted: expected bool")
    if kind not in KINDS:
        raise BadCondition(f"{where}.conditionType: unknown type {kind!r} (one of {', '.join(KINDS)})")
    if kind in (HEADER, QUERY_PARAMETER, JWT_CLAIM):
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise BadCondition(f"{where}: a {kind} condition needs a name and a value")
        try:
            pattern = java_regex.compile(value)
        except java_regex.PatternError as exc:
            raise BadCondition(f"{where}.value: Java refuses the regular expression ({exc})") from None
        except java_regex.Untranslatable as exc:
            raise BadCondition(f"{where}.value: the adapter cannot match the regular expression as Java does "
                               f"({exc})") from None  # fmt: skip
        return Condition(kind, name.lower() if kind == HEADER else name, pattern, inverted=inverted)
    first, last = (value, value) if kind == IP_SPECIFIC else (name, value)
    start = ip_number(first) if isinstance(first, str) else None
    end = ip_number(last) if isinstance(last, str) else None
    if start is None or end is None or start[0] != end[0]:
        raise BadCondition(f"{where}: a {kind} condition needs IP addresses of one version")
    return Condition(kind, "", None, start[0], start[1], end[1], inverted)
