"""APIM's operation policies the adapter carries out: Add Header, Remove Header, Add Query Param, and the JWT claim
based access validator.

APIM's gateway runs an API's operation policies (its mediation) in the API's sequences, after authentication and
throttling (APIManagerExtensionHandler, last of the API's handlers by default: carbon-apimgt 9.31.86
`TemplateBuilderUtil.getAPITemplateBuilder`, tenant-conf `ExtensionHandlerPosition: bottom`), so only on calls that
pass: the API's own policies first, then those of the operation called, each list in its order
(product-apim v4.5.0 `api_templates/operation_policy_template.j2`; OperationPolicyMappingUtil sorts by `order`).
Three of the policies APIM 4.5 ships are changes to the request or the response that Envoy makes on the adapter's
word; they are folded here, in that order, into one `Mediation` per resource, which the allow carries:

- `addHeader` v2 (request, response): `<property action="set" name="{{headerName}}" value="{{headerValue}}"
  scope="transport"/>` (product-apim v4.5.0 `operation_policies/definitions/addHeader_v2.j2`): the header is set,
  replacing any of that name (Synapse's transport headers are a case-insensitive map). The value is a literal.
- `removeHeader` v1 (request): `<property action="remove" name="{{headerName}}" scope="transport"/>`. On a
  response Envoy's ext_authz cannot remove a header: not applied there.
- `addQueryParam` v1 (request): `?k=v` or `&k=v` appended to the backend's URL (`addQueryParam_v1.j2`), key and
  value "in URL encoded format", as given. Envoy's `query_parameters_to_set` sets the parameter instead: a key
  the client sent already gets the policy's value rather than a second one. Over gRPC only: Envoy's HTTP ext_authz
  client has no way to change the query.

One is an access check the adapter makes itself, after the limits, as APIM's gateway runs it after throttling:

- `jwtClaimBasedAccessValidator` v1 (request): carbon-apimgt 9.31.86 `gateway/mediators
  /ClaimBasedResourceAccessValidationMediator` reads the claim from the JWT access token's claims (`JWT_CLAIMS`, which
  only JWTValidator sets), refuses 403 `900913` "Claim Invalid" (`Token doesn't contain the claim "<claim>"`) where
  it is absent or blank, and, unless `shouldAllowValidation` lets a mismatch through, 403 `900912` "Claim Mismatch"
  where it differs from `accessVerificationClaimValue` — equal strings, or, with
  `accessVerificationClaimValueRegex`, both values matching the whole pattern. Where APIM's mediator fails on the
  call instead (no JWT claims: an opaque token, an API key, a certificate, a user and password, an unsecured
  resource; a claim that is not a string, which its `Map<String, String>` cast cannot hold), the adapter refuses:
  `900913` without claims, `900912` for a claim that is not a string (`ClaimCheck.refusal`).

Every other policy (OPA, threat protection, JSON to XML, a custom one, ...), every fault-flow policy, and one of
these whose parameters a gateway could not send is not applied; the catalog names each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import AUTHORIZATION_OTHER, CLAIM_MISMATCH, ErrorCode

Headers = tuple[tuple[str, str], ...]

# APIOperationPoliciesDTO's flows, in the order APIM's gateway runs them on a call.
FLOWS = ("request", "response", "fault")
ADD_HEADER, REMOVE_HEADER, ADD_QUERY_PARAM = ("addHeader", "v2"), ("removeHeader", "v1"), ("addQueryParam", "v1")
CLAIM_VALIDATOR = ("jwtClaimBasedAccessValidator", "v1")
# The flows each is applied in here (its spec's `applicableFlows` are request, response and fault for the headers).
APPLIED_FLOWS = {ADD_HEADER: ("request", "response"), REMOVE_HEADER: ("request",), ADD_QUERY_PARAM: ("request",),
                 CLAIM_VALIDATOR: ("request",)}  # fmt: skip
# The claim validator's accessVerificationClaim `validationRegex` (specifications/jwtClaimBasedAccessValidator_v1.json).
_CLAIM_NAME = re.compile(r"[a-zA-Z_]+")
# A header name as HTTP has it (RFC 9110 `token`); addHeader's spec allows any (`^.+$`), e.g. Synapse's dynamic
# `{$ctx:...}`, which no gateway but Synapse could evaluate.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers the gateway itself routes or frames the request by: a policy's change to them is not applied.
RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "keep-alive",
                      "proxy-connection"})  # fmt: skip
# addQueryParam's `validationRegex`es (product-apim v4.5.0 `specifications/addQueryParam_v1.json`), which APIM's
# Publisher checks a value against (APIProviderImpl.validateAppliedPolicyWithSpecification): nothing in them could
# break a query string (no `&`, `=`, `#`).
_QUERY_KEY = re.compile(r"[a-zA-Z_%][a-zA-Z\d_\- %]*")
_QUERY_VALUE = re.compile(r"[a-zA-Z\d_%][a-zA-Z\d_\- %]*")


class PolicyError(ValueError):
    """A policy applied here whose parameters no gateway could send: the message says which."""


@dataclass(frozen=True, slots=True)
class Mediation:
    """What an allowed call's operation policies change, in the end: Envoy sets `request_headers` (replacing the
    client's), removes `removed_headers`, sets `query` on the backend's request, and sets `response_headers` on the
    backend's response (replacing the backend's)."""

    request_headers: Headers = ()
    removed_headers: tuple[str, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    response_headers: Headers = ()


@dataclass(frozen=True, slots=True)
class AttachedPolicy:
    """One policy as it is attached: to the API (`verb` and `target` empty) or to one operation."""

    flow: str
    name: str
    version: str
    parameters: Mapping[str, Any]
    verb: str = ""
    target: str = ""

    @property
    def named(self) -> str:
        where = f"{self.verb} {self.target}" if self.target else "the API"
        return f"{self.name} {self.version}".strip() + f" ({self.flow}, {where})"

    def applies_to(self, method: str, pattern: str) -> bool:
        return not self.target or (self.verb.upper() == method and self.target == pattern)


def validate(policy: AttachedPolicy) -> None:
    """PolicyError where an applied policy's parameters are not ones a gateway could carry out."""
    if (policy.name, policy.version) == CLAIM_VALIDATOR:
        claim_check(policy)
    else:
        fold([policy])


def applied(policy: AttachedPolicy) -> bool:
    """Whether this adapter carries the policy out (it may still refuse its parameters: `fold`)."""
    return applies(policy.name, policy.version, policy.flow)


def applies(name: str, version: str, flow: str) -> bool:
    """Whether this adapter carries out the policy `name` `version` in `flow`."""
    return flow in APPLIED_FLOWS.get((name, version), ())


def _text(policy: AttachedPolicy, key: str) -> str:
    value = policy.parameters.get(key)
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{policy.named}: parameter {key} must be a non-empty string")
    return value


def _header_name(policy: AttachedPolicy) -> str:
    name = _text(policy, "headerName")
    if not _TOKEN.fullmatch(name):
        raise PolicyError(f"{policy.named}: headerName {name!r} is not an HTTP header name")
    if name.lower() in RESERVED:
        raise PolicyError(f"{policy.named}: headerName {name!r} is the gateway's own")
    return name.lower()  # Envoy's header names are lower case, and the policy's match any case, as Synapse's do


def _header_value(policy: AttachedPolicy) -> str:
    value = _text(policy, "headerValue")
    if not value.isprintable():  # no CR, LF or NUL: one header line
        raise PolicyError(f"{policy.named}: headerValue must be one printable line")
    return value


def _query_part(policy: AttachedPolicy, key: str, pattern: re.Pattern[str]) -> str:
    value = _text(policy, key)
    if not pattern.fullmatch(value):
        raise PolicyError(f"{policy.named}: {key} {value!r} does not match APIM's {pattern.pattern}")
    return value


def fold(policies: Iterable[AttachedPolicy]) -> Mediation | None:
    """The policies' changes, applied in order to one request and its response (a later one overrides an earlier
    one's: `[addHeader X, removeHeader X]` leaves no X); None when they change nothing. Policies not `applied` are
    skipped; PolicyError for an applied one with parameters no gateway could send."""
    request: dict[str, str | None] = {}  # header → its value, None once removed
    response: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    for policy in policies:
        if not applied(policy):
            continue
        key = (policy.name, policy.version)
        if key == CLAIM_VALIDATOR:  # an access check, not a change (claim_checks)
            continue
        if key == ADD_HEADER:
            (request if policy.flow == "request" else response)[_header_name(policy)] = _header_value(policy)
        elif key == REMOVE_HEADER:
            request[_header_name(policy)] = None
        else:
            query.append((_query_part(policy, "paramKey", _QUERY_KEY), _query_part(policy, "paramValue", _QUERY_VALUE)))
    if not (request or response or query):
        return None
    return Mediation(
        request_headers=tuple((name, value) for name, value in request.items() if value is not None),
        removed_headers=tuple(name for name, value in request.items() if value is None),
        query=tuple(query),
        response_headers=tuple(response.items()),
    )


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """A JWT claim based access validator on a resource: the `claim` of the caller's JWT access token must be `value`
    (or, with `pattern`, both must match it whole), unless `allow_mismatch`; it must be there in any case."""

    claim: str
    value: str
    pattern: re.Pattern[str] | None
    allow_mismatch: bool
    missing: ErrorCode  # 900913, naming the claim

    def refusal(self, claims: Mapping[str, Any] | None) -> ErrorCode | None:
        """Why the caller is refused (None: it is not), from its JWT access token's claims (None: it has none)."""
        sent = claims.get(self.claim) if claims is not None else None
        if sent is None or (isinstance(sent, str) and not sent.strip()):
            return self.missing
        if not isinstance(sent, str):
            return CLAIM_MISMATCH
        if self.pattern is not None:
            matches = bool(self.pattern.fullmatch(self.value) and self.pattern.fullmatch(sent))
        else:
            matches = sent == self.value
        return None if matches or self.allow_mismatch else CLAIM_MISMATCH


def claim_check(policy: AttachedPolicy) -> ClaimCheck:
    """A claim validator policy's check; PolicyError for parameters no gateway could read as APIM's does."""
    claim = _text(policy, "accessVerificationClaim")
    if not _CLAIM_NAME.fullmatch(claim):
        raise PolicyError(
            f"{policy.named}: accessVerificationClaim {claim!r} does not match APIM's {_CLAIM_NAME.pattern}"
        )
    value = _text(policy, "accessVerificationClaimValue")
    regex = policy.parameters.get("accessVerificationClaimValueRegex")
    pattern = None
    if regex not in (None, ""):  # the template renders a missing one empty: StringUtils.isNotBlank decides
        try:
            pattern = re.compile(str(regex)) if str(regex).strip() else None
        except re.error as exc:
            raise PolicyError(f"{policy.named}: accessVerificationClaimValueRegex is not a regular expression the "
                              f"adapter reads ({exc})") from None  # fmt: skip
    # The mediator's boolean property, as Synapse sets it from the rendered text (Boolean.parseBoolean).
    allow = str(policy.parameters.get("shouldAllowValidation", "")).strip().lower() == "true"
    description = f'Token doesn\'t contain the claim "{claim}"'
    missing = ErrorCode("900913", 403, "Claim Invalid", description, *AUTHORIZATION_OTHER)
    return ClaimCheck(claim, value, pattern, allow, missing)


def claim_checks(policies: Iterable[AttachedPolicy]) -> tuple[ClaimCheck, ...]:
    """The claim validators among the policies, in order (the first refusal answers)."""
    return tuple(claim_check(p) for p in policies if applied(p) and (p.name, p.version) == CLAIM_VALIDATOR)
