"""APIM's operation policies the adapter carries out: Add Header, Remove Header, Add Query Param, Rewrite Resource
Path, Change HTTP Method, the JWT claim based access validator, Validate Request with OPA, the Regex Policy, the JSON
Validator and the XML Validator.

APIM's gateway runs an API's operation policies (its mediation) in the API's sequences, after authentication and
throttling (APIManagerExtensionHandler, last of the API's handlers by default: carbon-apimgt 9.31.86
`TemplateBuilderUtil.getAPITemplateBuilder`, tenant-conf `ExtensionHandlerPosition: bottom`), so only on calls that
pass: the API's own policies first, then those of the operation called, each list in its order
(product-apim v4.5.0 `api_templates/operation_policy_template.j2`; OperationPolicyMappingUtil sorts by `order`).
Five of the policies APIM 4.5 ships are changes to the request or the response that Envoy makes on the adapter's
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
- `rewriteResourcePath` v3 (request): the path after the API's context (Synapse's `REST_URL_POSTFIX`) becomes
  `newResourcePath` (`rewriteResourcePath_v3.j2`). With `includeQueryParams` the URL rewrite mediator sets the
  path fragment of the postfix and keeps its query, writing the path as `java.net.URI`'s multi-argument
  constructor quotes it (wso2-synapse `mediators/transform/url/URIFragments.toURI`: `#`, `%`, `^`, `?`, `{`, `}`
  percent-encoded); without it the postfix is `newResourcePath` as written, the client's query dropped. The
  template tests the parameter as Jinjava does (`ObjectTruthValue`: absent, false, "", "false" are false), so a
  policy saved without it drops the query, whatever the spec's default. Synapse joins the postfix to the
  endpoint with one slash (wso2-synapse `core/axis2/Axis2FlexibleMEPClient`); here to the context the client
  called, which the gateway's route then maps to the backend as it maps every call. Envoy sets `:path` on the
  adapter's word, over gRPC only (`PathChange`).
- `changeHTTPMethod` v1 (request): `<property name="HTTP_METHOD" value="{{httpMethod}}" scope="axis2"/>`
  (`changeHTTPMethod_v1.j2`): the backend's request has that method; Envoy sets `:method`, over gRPC only.

Five are access checks the adapter makes itself, after the limits, as APIM's gateway runs them after throttling, in
their order (`Resource.access_checks`):

- `jwtClaimBasedAccessValidator` v1 (request): carbon-apimgt 9.31.86 `gateway/mediators
  /ClaimBasedResourceAccessValidationMediator` reads the claim from the JWT access token's claims (`JWT_CLAIMS`, which
  only JWTValidator sets), refuses 403 `900913` "Claim Invalid" (`Token doesn't contain the claim "<claim>"`) where
  it is absent or blank, and, unless `shouldAllowValidation` lets a mismatch through, 403 `900912` "Claim Mismatch"
  where it differs from `accessVerificationClaimValue` — equal strings, or, with
  `accessVerificationClaimValueRegex`, both values matching the whole pattern (Java's `Pattern.matches()`, read and
  matched as Java does: java_regex.py). Where APIM's mediator fails on the
  call instead (no JWT claims: an opaque token, an API key, a certificate, a user and password, an unsecured
  resource; a claim that is not a string, which its `Map<String, String>` cast cannot hold), the adapter refuses:
  `900913` without claims, `900912` for a claim that is not a string (`ClaimCheck.refusal`).

- `opaPolicy` v1 (request), "Validate Request with OPA": wso2-synapse `mediators/opa/OPAMediator` POSTs
  `{"input": ...}` (carbon-apimgt 9.31.86 `gateway/opa/APIMOPARequestGenerator`; built by opa.py) to
  `<serverUrl>/<policy>/<rule>`, with `Authorization: <accessKey>` verbatim where one is set (`OPAClient.publish`), and
  lets the call through where the answer's `result` is true. `false` is 403 `902012` "Forbidden"; anything else (no
  answer, a status but 200, `{}` for an undefined rule, a `result` that is not a boolean) is 500 `902011` (Synapse's
  `OPASecurityException`, answered by product-apim v4.5.0's `_opa_policy_failure_handler_` sequence as
  `{"code", "message"}`). `sendAccessToken` adds the caller's JWT access token (GatewayUtils
  .generateAuthenticationContext sets it for JWTs only). `additionalProperties` name Synapse message context
  properties, which the adapter has none of: not sent (APIM too sends only those set). Its connection timeout is
  `connectionTimeout` seconds, and an answer is awaited 10 more (OPAClient's intent; its code multiplies by 10,000).

- `regexPolicy` v1 (request), "Regex Policy": carbon-apimgt 9.31.86 `gateway/mediators/RegularExpressionProtector`
  with the values product-apim v4.5.0's `regexPolicy_v1.j2` sets (the spec has no parameters): APIM's SQL-injection
  pattern, case-insensitive, searched in the request's transport headers (as Java's `Map.toString` writes them) and
  in its path and query after the API's context, URL-decoded (`REST_URL_POSTFIX`); a match is 400
  `{"code":"400","message":"Bad Request","description":"SQL-Injection Threat detected in HTTP Headers"}` (or "in
  Query Parameters"), GatewayUtils.handleThreat through the `_threat_fault_` sequence. Before those, its body check:
  the body as APIM's message builder reads it (payload.py), "... in Payload" on a match; a body that builder throws
  on fails the call on APIM (its `fault` sequence's code 0, "Runtime Error") and is refused. The gateway hands the
  adapter the body only where the provider includes it (Istio's `includeRequestBodyInCheck`); a request whose body
  the adapter did not get whole (none included, or only its first `maxRequestBytes`) is refused, 400, with the
  answer APIM gives a body over the protector's size limit (`isPayloadSizeExceeded`), rather than let unsearched.

- `jsonValidator` v1 (request), "JSON Validator": carbon-apimgt 9.31.86 `gateway/mediators/JsonSchemaValidator` with
  `threatprotection/analyzer/JSONAnalyzer`: a non-GET request's `application/json` or `text/json` body within the
  policy's limits (`maxPropertyCount`, `maxStringLength`, `maxArrayElementCount`, `maxKeyLength`, `maxJsonDepth`,
  0 to 999, default 100), walked as Jackson's tokens (json_protector.py); past one, 400 with APIM's description
  ("Request is failed due to a JSON schema validation failure: Max String Length [100] Reached"). A custom
  `jsonSchemaValidator` class is not applied.

- `xmlValidator` v1 (request), "XML Validator": carbon-apimgt 9.31.86 `gateway/mediators/XMLSchemaValidator` with
  `threatprotection/analyzer/XMLAnalyzer`: a non-GET request's `application/xml` or `text/xml` body read by Woodstox
  with the values product-apim v4.5.0's `xmlValidator_v1.j2` fixes (its spec has no parameters: no DTD, 100 for
  depth, elements, attributes per element, attribute length and children per element; xml_protector.py); the first
  thing Woodstox refuses is 400 "XML Validation Failed: due to " + its message ("Maximum Element Count limit (100)
  Exceeded"). APIM's mediator answers the client through `_threat_fault_` and still returns true (XMLSchemaValidator
  .mediate); the adapter refuses the call, since the client has had APIM's 400. Schema validation
  (`schemaValidation` false in the template) is not APIM's either.

Every other policy (JSON to XML, a custom one, ...), every fault-flow policy, and one of these
whose parameters a gateway could not send is not applied; the catalog names each.

A gateway policy mapping (Publisher: Policies > Gateway Policies) reaches the adapter rendered, as APIM's gateway gets
it: one Synapse sequence per flow, `WSO2AMGW--Ext--In`, `--Out`, `--Fault` (carbon-apimgt 9.31.86
SynapseArtifactGenerator.generateGatewayPolicyArtifact; product-apim v4.5.0 `templates/gateway_policy_template.j2`
holds each policy's rendered template in turn). APIManagerExtensionHandler.mediate runs that sequence on every API of
the environment, after `WSO2AM--Ext--<flow>` and before the API's own sequence, so a mapping's changes come before
the API's policies and the API's win where both set one header. `gateway_sequence` reads a sequence's mediators: a
transport-scope `property` setting a literal value or removing one (what Add Header v2 and Remove Header v1 render)
becomes that policy, applied as above; any other mediator is named, not run.
"""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import (
    java_regex,
    java_strings,
    json_protector,
    payload,
    schema_validation,
    threats,
    xml_protector,
    xml_without_dtd,
)
from .errors import AUTHORIZATION_OTHER, CLAIM_MISMATCH, STATUS_REPORT, ErrorCode

Headers = tuple[tuple[str, str], ...]

# APIOperationPoliciesDTO's flows, in the order APIM's gateway runs them on a call.
FLOWS = ("request", "response", "fault")
ADD_HEADER, REMOVE_HEADER, ADD_QUERY_PARAM = ("addHeader", "v2"), ("removeHeader", "v1"), ("addQueryParam", "v1")
REWRITE_PATH, CHANGE_METHOD = ("rewriteResourcePath", "v3"), ("changeHTTPMethod", "v1")
CLAIM_VALIDATOR, OPA, REGEX = ("jwtClaimBasedAccessValidator", "v1"), ("opaPolicy", "v1"), ("regexPolicy", "v1")
JSON_VALIDATOR, XML_VALIDATOR = ("jsonValidator", "v1"), ("xmlValidator", "v1")
# The policies that refuse calls rather than change them.
ACCESS_CHECKS = (CLAIM_VALIDATOR, OPA, REGEX, JSON_VALIDATOR, XML_VALIDATOR)
# The flows each is applied in here (its spec's `applicableFlows` are request, response and fault for the headers).
APPLIED_FLOWS = {ADD_HEADER: ("request", "response"), REMOVE_HEADER: ("request",), ADD_QUERY_PARAM: ("request",),
                 REWRITE_PATH: ("request",), CHANGE_METHOD: ("request",),
                 CLAIM_VALIDATOR: ("request",), OPA: ("request",), REGEX: ("request",),
                 JSON_VALIDATOR: ("request",), XML_VALIDATOR: ("request",)}  # fmt: skip
# The claim validator's accessVerificationClaim `validationRegex` (specifications/jwtClaimBasedAccessValidator_v1.json).
_CLAIM_NAME = re.compile(r"[a-zA-Z_]+")
# A header name as HTTP has it (RFC 9110 `token`); addHeader's spec allows any (`^.+$`), e.g. Synapse's dynamic
# `{$ctx:...}`, which no gateway but Synapse could evaluate.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Headers the gateway itself routes or frames the request by: a policy's change to them is not applied.
RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "keep-alive",
                      "proxy-connection"})  # fmt: skip
# addQueryParam's `validationRegex`es (product-apim v4.5.0 `specifications/addQueryParam_v1.json`), which APIM's
# Publisher checks a value against (APIProviderImpl.validateAppliedPolicyWithSpecification): nothing in them could
# break a query string (no `&`, `=`, `#`).
_QUERY_KEY = re.compile(r"[a-zA-Z_%][a-zA-Z\d_\- %]*")
_QUERY_VALUE = re.compile(r"[a-zA-Z\d_%][a-zA-Z\d_\- %]*")
# rewriteResourcePath's and changeHTTPMethod's `validationRegex`es (specifications/rewriteResourcePath_v3.json,
# changeHTTPMethod_v1.json), which APIM's Publisher matches CASE_INSENSITIVE.
_RESOURCE_PATH = re.compile(r"/?([a-zA-Z0-9!@#\$%\^\&*\)\(+=._\-~:,\?{}/]*)", re.IGNORECASE)
_HTTP_METHOD = re.compile(r"GET|PUT|POST|PATCH|DELETE|HEAD|OPTIONS", re.IGNORECASE)
# What java.net.URI's multi-argument constructor percent-encodes of the characters `_RESOURCE_PATH` admits, in a
# path: all but the unreserved, the punctuation, `/` and `@` ("the percent character is always quoted").
_URI_QUOTED = str.maketrans({c: f"%{ord(c):02X}" for c in "#%^?{}"})
# Of those, what a request target cannot carry raw (RFC 9112 `origin-form`), where APIM sends the path as written.
_TARGET_QUOTED = str.maketrans({c: f"%{ord(c):02X}" for c in "^{}"})


class PolicyError(ValueError):
    """A policy applied here whose parameters no gateway could send: the message says which."""


@dataclass(frozen=True, slots=True)
class PathChange:
    """A Rewrite Resource Path policy's outcome: the backend's path after the API's context is `postfix` (written as
    APIM's gateway writes it), followed by the client's query where `keep_query`."""

    postfix: str
    keep_query: bool

    def under(self, context: str) -> str:
        """The backend's path (and a query the postfix itself names) below `context`, the API context the client
        called, joined as Axis2FlexibleMEPClient joins REST_URL_POSTFIX to an endpoint's address: one slash."""
        if not self.postfix:
            return context or "/"
        if context.endswith("/") and self.postfix.startswith("/"):
            return context + self.postfix[1:]
        if context.endswith("/") and self.postfix.startswith("?"):
            return context[:-1] + self.postfix
        if not self.postfix.startswith(("/", "?")):
            return context + "/" + self.postfix
        return context + self.postfix


@dataclass(frozen=True, slots=True)
class Mediation:
    """What an allowed call's operation policies change, in the end: Envoy sets `request_headers` (replacing the
    client's), removes `removed_headers`, sets `query` on the backend's request, sets `response_headers` on the
    backend's response (replacing the backend's); and, over gRPC, the path after the API's context (`path`) and
    the method (`method`, '' for the client's)."""

    request_headers: Headers = ()
    removed_headers: tuple[str, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    response_headers: Headers = ()
    path: PathChange | None = None
    method: str = ""


@dataclass(frozen=True, slots=True)
class AttachedPolicy:
    """One policy as it is attached: to the API (`verb` and `target` empty) or to one operation."""

    flow: str
    name: str
    version: str
    parameters: Mapping[str, Any]
    verb: str = ""
    target: str = ""
    # Rendered into a gateway policy mapping's sequence, which runs on every API of the environment.
    gateway: bool = False

    @property
    def named(self) -> str:
        where = f"{self.verb} {self.target}" if self.target else "the API"
        if self.gateway:
            where = "the gateway policy mapping"
        return f"{self.name} {self.version}".strip() + f" ({self.flow}, {where})"

    def applies_to(self, method: str, pattern: str) -> bool:
        return not self.target or (self.verb.upper() == method and self.target == pattern)


SYNAPSE = "{http://ws.apache.org/ns/synapse}"
# A gateway policy mapping's sequence per flow: "WSO2AMGW--Ext" + APIConstants.API_CUSTOM_SEQ_{IN,OUT,FAULT}_EXT
# (SynapseArtifactGenerator.retrieveGatewayPolicySequence).
GATEWAY_SEQUENCE_FLOWS = {"WSO2AMGW--Ext--In": "request", "WSO2AMGW--Ext--Out": "response",
                          "WSO2AMGW--Ext--Fault": "fault"}  # fmt: skip
# The attributes of a property mediator read here (its syntax, docs-apim `reference/mediators/property-mediator.md`:
# `name [action=set|remove] [type] (value | expression) [scope] [pattern [group]]`); `expression`, `pattern`, `group`
# or a `type` other than STRING make a value this adapter cannot compute.
_PROPERTY_ATTRIBUTES = frozenset({"name", "value", "scope", "action", "type", "description"})


def gateway_sequence(name: str, content: str) -> tuple[list[AttachedPolicy], list[str]]:
    """A gateway policy mapping's rendered sequence `name`: the header changes it makes, as the policies that
    render them (Add Header v2: `<property action="set" name=".." value=".." scope="transport"/>`, Remove Header v1:
    `action="remove"`, product-apim v4.5.0 `operation_policies/definitions/`), in order, and what it does that is
    not applied here, named without its values (a header's value may be a secret). PolicyError where the content is
    not a Synapse sequence."""
    flow = GATEWAY_SEQUENCE_FLOWS.get(name)
    if flow is None:
        raise PolicyError(f"sequence {name!r}: not one of {', '.join(GATEWAY_SEQUENCE_FLOWS)}")
    try:
        root = xml_without_dtd.parse(content)
    except (ElementTree.ParseError, ValueError) as exc:
        raise PolicyError(f"sequence {name}: not XML ({exc})") from None
    if root.tag != f"{SYNAPSE}sequence":
        raise PolicyError(f"sequence {name}: not a Synapse <sequence>")
    attached: list[AttachedPolicy] = []
    named: list[str] = []
    for mediator in root:
        kind = mediator.tag.removeprefix(SYNAPSE)
        attributes = mediator.attrib
        action = attributes.get("action", "set")  # set where none is written
        understood = (
            kind == "property"
            and attributes.get("scope") == "transport"  # the HTTP headers (Synapse's TRANSPORT_HEADERS)
            and set(attributes) <= _PROPERTY_ATTRIBUTES
            and attributes.get("type", "STRING") == "STRING"
            and len(mediator) == 0
            and (action == "remove" or (action == "set" and "value" in attributes))
        )
        if not understood:
            named.append(f"a {kind} mediator ({flow} flow)")
            continue
        header = {"headerName": attributes.get("name", "")}
        if action == "set":
            policy = AttachedPolicy(flow, *ADD_HEADER, {**header, "headerValue": attributes["value"]}, gateway=True)
        else:
            policy = AttachedPolicy(flow, *REMOVE_HEADER, header, gateway=True)
        if applied(policy):
            attached.append(policy)
        else:
            named.append(policy.named)
    return attached, named


def validate(policy: AttachedPolicy) -> None:
    """PolicyError where an applied policy's parameters are not ones a gateway could carry out."""
    if (policy.name, policy.version) in ACCESS_CHECKS:
        access_checks([policy])
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
    if not HEADER_NAME.fullmatch(name):
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


def rendered_true(value: Any) -> bool:
    """A parameter as a policy template's `{% if %}` reads it: Jinjava's ObjectTruthValue (APIM renders the
    templates with Jinjava, SynapsePolicyAggregator.renderPolicyTemplate, from the parameters as saved)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return int(value) != 0
    if isinstance(value, str):
        return value != "" and value.lower() != "false"
    return bool(value) if isinstance(value, list | dict) else True


def path_change(policy: AttachedPolicy) -> PathChange:
    """A Rewrite Resource Path policy's change; PolicyError for a path its spec refuses."""
    raw = policy.parameters.get("newResourcePath")
    if not isinstance(raw, str) or not _RESOURCE_PATH.fullmatch(raw):
        raise PolicyError(f"{policy.named}: newResourcePath {raw!r} does not match APIM's {_RESOURCE_PATH.pattern}")
    if rendered_true(policy.parameters.get("includeQueryParams")):
        return PathChange(raw.translate(_URI_QUOTED), keep_query=True)
    sent = raw.partition("#")[0]  # java.net.URL: what follows `#` is never sent
    return PathChange(sent.translate(_TARGET_QUOTED), keep_query=False)


def fold(policies: Iterable[AttachedPolicy]) -> Mediation | None:
    """The policies' changes, applied in order to one request and its response (a later one overrides an earlier
    one's: `[addHeader X, removeHeader X]` leaves no X); None when they change nothing. Policies not `applied` are
    skipped; PolicyError for an applied one with parameters no gateway could send."""
    request: dict[str, str | None] = {}  # header → its value, None once removed
    response: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    path: PathChange | None = None
    method = ""
    for policy in policies:
        if not applied(policy):
            continue
        key = (policy.name, policy.version)
        if key in ACCESS_CHECKS:  # a check, not a change (access_checks)
            continue
        if key == ADD_HEADER:
            (request if policy.flow == "request" else response)[_header_name(policy)] = _header_value(policy)
        elif key == REMOVE_HEADER:
            request[_header_name(policy)] = None
        elif key == REWRITE_PATH:
            path = path_change(policy)
            if not path.keep_query:  # the postfix replaced whole: parameters added to it before are gone too
                query.clear()
        elif key == CHANGE_METHOD:
            chosen = policy.parameters.get("httpMethod")
            if not isinstance(chosen, str) or not _HTTP_METHOD.fullmatch(chosen):
                raise PolicyError(f"{policy.named}: httpMethod {chosen!r} is not one of APIM's {_HTTP_METHOD.pattern}")
            method = chosen  # as written: APIM's Publisher takes it in any case
        else:
            query.append((_query_part(policy, "paramKey", _QUERY_KEY), _query_part(policy, "paramValue", _QUERY_VALUE)))
    if not (request or response or query or path or method):
        return None
    return Mediation(
        request_headers=tuple((name, value) for name, value in request.items() if value is not None),
        removed_headers=tuple(name for name, value in request.items() if value is None),
        query=tuple(query),
        response_headers=tuple(response.items()),
        path=path,
        method=method,
    )


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """A JWT claim based access validator on a resource: the `claim` of the caller's JWT access token must be `value`
    (or, with `pattern`, both must match it whole), unless `allow_mismatch`; it must be there in any case."""

    claim: str
    value: str
    pattern: java_regex.JavaPattern | None
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
            matches = self.pattern.matches(self.value) and self.pattern.matches(sent)
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
        try:  # Pattern.compile, as the mediator calls it on each call
            pattern = java_regex.compile(str(regex)) if str(regex).strip() else None
        except java_regex.PatternError as exc:
            raise PolicyError(f"{policy.named}: Java refuses accessVerificationClaimValueRegex ({exc})") from None
        except java_regex.Untranslatable as exc:
            raise PolicyError(f"{policy.named}: accessVerificationClaimValueRegex is not a regular expression the "
                              f"adapter can match as Java does ({exc})") from None  # fmt: skip
    # The mediator's boolean property, as Synapse sets it from the rendered text (Boolean.parseBoolean).
    allow = str(policy.parameters.get("shouldAllowValidation", "")).strip().lower() == "true"
    description = f'Token doesn\'t contain the claim "{claim}"'
    missing = ErrorCode("900913", 403, "Claim Invalid", description, *AUTHORIZATION_OTHER)
    return ClaimCheck(claim, value, pattern, allow, missing)


@dataclass(frozen=True, slots=True)
class OpaCheck:
    """A "Validate Request with OPA" policy on a resource: OPA at `url` must answer `{"result": true}` to the call's
    input (opa.py builds it, and asks)."""

    url: str  # <serverUrl>/<policy>/<rule>
    access_key: str | None = field(repr=False)  # the Authorization header's value for OPA: a secret, never shown
    send_access_token: bool
    connect_timeout: float  # seconds
    max_connections: int
    # Why APIM's gateway could not deploy this policy (APIM itself would not serve the API): every call fails, closed,
    # with OPA asked nothing; '' for a usable one.
    unusable: str = ""


# opaPolicy's `policy` and `rule` become path segments of the URL (OPAMediator concatenates them): a package path
# (`a/b`) and a rule name, nothing a URL would read otherwise.
_OPA_PATH = re.compile(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*")


def _number(policy: AttachedPolicy, key: str, default: int) -> int:
    """An Integer parameter (`^\\d{1,3}$` in the spec): the template renders a missing one not at all."""
    raw = policy.parameters.get(key)
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if isinstance(raw, bool) or not re.fullmatch(r"\d{1,3}", text):
        raise PolicyError(f"{policy.named}: {key} must be a whole number of at most 3 digits")
    return int(text)


def opa_check(policy: AttachedPolicy) -> OpaCheck:
    """An OPA policy's check; PolicyError for parameters with which APIM's gateway could not deploy or call it (a
    server URL `java.net.URL` refuses fails the mediator's `init`)."""
    server = _text(policy, "serverUrl").rstrip("/")
    url = urllib.parse.urlsplit(server)
    if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment or " " in server:
        raise PolicyError(f"{policy.named}: serverUrl must be an http:// or https:// URL, e.g. "
                          "http://opa.opa.svc:8181/v1/data")  # fmt: skip
    name, rule = _text(policy, "policy"), str(policy.parameters.get("rule") or "allow")
    for part, value in (("policy", name), ("rule", rule)):
        if not _OPA_PATH.fullmatch(value):
            raise PolicyError(f"{policy.named}: {part} {value!r} is not an OPA package path or rule name")
    raw = policy.parameters.get("accessKey")
    key = raw if isinstance(raw, str) and raw else None
    if raw not in (None, "") and (key is None or not key.isprintable()):
        raise PolicyError(f"{policy.named}: accessKey must be one printable line")
    # `{% if sendAccessToken %}` renders it; the generator reads it with Axis2's JavaUtils.isTrueExplicitly.
    send = str(policy.parameters.get("sendAccessToken", "")).strip().lower() in ("true", "1", "yes")
    timeout = _number(policy, "connectionTimeout", 30)
    connections = _number(policy, "maxOpenConnections", 500)
    return OpaCheck(f"{server}/{name}/{rule}", key, send, float(timeout), max(1, connections))


_THREAT = "SQL-Injection"  # the template's threatType


def _threat(description: str) -> ErrorCode:
    """GatewayUtils.handleThreat's answer (`_threat_fault_`): code "400", message Bad Request; outside every range
    SynapseAnalyticsDataProvider.getFaultType knows (OTHER, unclassified)."""
    return ErrorCode("400", 400, "Bad Request", description, "OTHER", "UNCLASSIFIED")


# APIMgtGatewayConstants' HTTP_HEADER_THREAT_MSG, QPARAM_THREAT_MSG and PAYLOAD_THREAT_MSG after the threat type.
THREAT_IN_HEADERS, THREAT_IN_QUERY = (
    _threat(f"{_THREAT} Threat detected in HTTP Headers"),
    _threat(f"{_THREAT} Threat detected in Query Parameters"),
)
THREAT_IN_BODY = _threat(f"{_THREAT} Threat detected in Payload")
# A body APIM's builder throws on: AbstractListMediator.buildMessage, before the protector, raises "Error while
# building message. " and the builder's words; FaultHandler.handleFault sets ERROR_CODE 0 (SynapseConstants
# .DEFAULT_ERROR: no Woodstox, staxon or Jackson exception in the stack, MSG_BUILD_FAILURE_EXCEPTION_PATTERN) and the
# API's fault sequence, `fault` unless the API has its own (velocity_template.xml, ResourceConfigContext), answers
# `{"code":"0","type":"Status report","message":"Runtime Error","description":...}` (product-apim v4.5.0
# sequences/fault.xml). Its code, type, message and the description's first words here; its status 500 is a 400
# here, as a client's malformed body is, and the builder's own words are left out (Java's exception texts).
BODY_NOT_BUILT = ErrorCode(
    "0", 400, "Runtime Error", "Error while building message", "OTHER", "UNCLASSIFIED", *STATUS_REPORT
)
# RegularExpressionProtector.isPayloadSizeExceeded's words: here, a body the gateway did not hand over whole.
BODY_NOT_SEARCHED = _threat(
    "Exceeded Request Payload size limit allowed to be used with the enabledCheckBody option of Regular Expression "
    "Threat Protector mediator"
)


@dataclass(frozen=True, slots=True)
class RequestBody:
    """What the gateway handed over of a request's body: `sent` (none unless the provider includes bodies), and
    whether that is all of it (`whole`: no body at all counts as whole)."""

    sent: bytes = b""
    whole: bool = True
    content_type: str = ""  # the request's Content-Type, as sent
    # Whether the gateway told what the body is: it included bodies (Envoy's PARTIAL_BODY), sent one, or the client's
    # Content-Length came with the check. Not known: a gateway that includes no bodies, in HTTP mode (its check has a
    # Content-Length of its own) or for a body without Content-Length (chunked, HTTP/2), may have left one out.
    known: bool = True

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, as Axis2's TransportUtils.getContentType gives APIM's threat
        protectors the REST content type (case kept: they compare it as is)."""
        return self.content_type.partition(";")[0].strip()


NO_BODY = RequestBody()


@dataclass(frozen=True, slots=True)
class ThreatCheck:
    """A Regex Policy on a resource: APIM's pattern (threats.py) must not be found in the request's body (as APIM's
    message builder reads it, payload.py), its headers, nor its path and query after the API's context
    (`refusal`)."""

    def refusal(self, headers: Mapping[str, str], postfix: str, body: RequestBody = NO_BODY) -> ErrorCode | None:
        """Why the request is refused (None: it is not), from the transport headers it reaches the policies with
        (lower-case names), its path and query after the API's context, and its body (RegularExpressionProtector:
        the body's size, then the body, the headers, the path)."""
        if not body.whole:
            return BODY_NOT_SEARCHED
        if body.sent:
            searched = payload.as_searched(body.content_type, body.sent, postfix)
            if searched is None:
                return BODY_NOT_BUILT
            if threats.found(searched):
                return THREAT_IN_BODY
        # TreeMap(CASE_INSENSITIVE_ORDER).toString(): `{name=value, name=value}`, in name order.
        written = "{" + ", ".join(f"{name}={headers[name]}" for name in sorted(headers)) + "}"
        if threats.found(written):
            return THREAT_IN_HEADERS
        if threats.found(urllib.parse.unquote_plus(postfix)):  # URLDecoder.decode: `+` is a space
            return THREAT_IN_QUERY
        return None


# The JSON Validator's own mediator class (specifications/jsonValidator_v1.json `jsonSchemaValidator` default); any
# other is a custom one, which only APIM's gateway can run.
_JSON_ANALYZER = "org.wso2.carbon.apimgt.gateway.mediators.JsonSchemaValidator"
JSON_MEDIA_TYPES = ("application/json", "text/json")  # ThreatProtectorConstants: the types it reads


@dataclass(frozen=True, slots=True)
class JsonCheck:
    """A JSON Validator on a resource: a non-GET request's JSON body within its limits (json_protector.py)."""

    limits: json_protector.JsonLimits

    def refusal(self, method: str, body: RequestBody, api_context: str) -> ErrorCode | None:
        """Why the request is refused (None: it is not): JsonSchemaValidator reads the body of any method but GET
        whose media type (the Content-Type without its parameters, as Axis2's TransportUtils.getContentType gives
        it) is JSON's. A body the gateway did not hand over whole cannot be read: refused as one APIM could not
        read."""
        if method.upper() == "GET" or body.media_type not in JSON_MEDIA_TYPES:
            return None
        found = json_protector.problem(body.sent, self.limits, api_context) if body.whole else json_protector.READ_ERROR
        return None if found is None else _threat(f"Request is failed due to a JSON schema validation failure: {found}")


def json_check(policy: AttachedPolicy) -> JsonCheck:
    """A JSON Validator's check; PolicyError for a limit its spec refuses, or another mediator class."""
    analyzer = str(policy.parameters.get("jsonSchemaValidator") or _JSON_ANALYZER).strip()
    if analyzer != _JSON_ANALYZER:
        raise PolicyError(f"{policy.named}: jsonSchemaValidator {analyzer} is a custom mediator, not APIM's analyzer")
    return JsonCheck(
        json_protector.JsonLimits(
            max_property_count=_number(policy, "maxPropertyCount", 100),
            max_string_length=_number(policy, "maxStringLength", 100),
            max_array_element_count=_number(policy, "maxArrayElementCount", 100),
            max_key_length=_number(policy, "maxKeyLength", 100),
            max_json_depth=_number(policy, "maxJsonDepth", 100),
        )
    )


XML_MEDIA_TYPES = ("application/xml", "text/xml")  # ThreatProtectorConstants: the types XMLSchemaValidator reads
# A body the gateway did not hand over whole, which Woodstox would have read to its end: the adapter's own words
# (APIM's gateway always has the whole body), after APIM's prefix.
XML_NOT_WHOLE = "the request body was not handed over whole, so it was not read"


@dataclass(frozen=True, slots=True)
class XmlCheck:
    """An XML Validator on a resource: a non-GET request's XML body as Woodstox reads it with APIM's fixed limits
    (xml_protector.py)."""

    def refusal(self, method: str, body: RequestBody) -> ErrorCode | None:
        """Why the request is refused (None: it is not): XMLSchemaValidator reads the body of any method but GET whose
        media type (the REST content type: no parameters) is XML's. A body the gateway did not hand over whole cannot
        be read: refused as one Woodstox could not read to its end."""
        if method.upper() == "GET" or body.media_type not in XML_MEDIA_TYPES:
            return None
        found = xml_protector.problem(body.sent) if body.whole else XML_NOT_WHOLE
        return None if found is None else _threat(xml_protector.PREFIX + found)


# A body APIM's SchemaValidator would read, which the gateway did not hand over whole, or may have left out: it
# cannot be validated (refused, as the body checks above refuse one).
SCHEMA_BODY_NOT_WHOLE = _threat(
    schema_validation.PREFIX
    + "the gateway did not hand the adapter the whole request body (include bodies in its check), so it cannot be "
    "validated, "
)


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    """Schema Validation of an API (`enableSchemaValidation`): each request checked against the API's OpenAPI
    definition as APIM's SchemaValidator handler checks it (schema_validation.py), before its operation policies,
    answered 400 with the validator's messages (GatewayUtils.handleThreat)."""

    definition: schema_validation.Definition = field(compare=False)
    digest: str = ""  # the definition's SHA-256: two checks are equal when their definitions are

    def refusal(self, method: str, headers: Mapping[str, str], postfix: str, body: RequestBody) -> ErrorCode | None:
        """Why the request is refused (None: it is not), from its transport headers, its path and query after the
        API's context and its body. A body not handed over whole cannot be validated: refused. Nor can a body not
        known (the gateway may include none) where the operation requires one: refused too, rather than answered
        "none found" to a client that may have sent it; where the body is optional, the request is validated as one
        without (a gateway that includes no bodies then lets an optional body by unchecked)."""
        text = java_strings.utf8(body.sent) if body.sent else None  # Synapse's reading of the body, in Java
        request = schema_validation.request_of(method, postfix, headers, text, body.sent)
        if not body.whole or (not body.known and self.definition.requires_body(request)):
            return SCHEMA_BODY_NOT_WHOLE
        detail = self.definition.detail(request)
        return None if detail is None else _threat(detail)


# The checks that read the request's body (the gateway must include it), decided by the adapter itself.
BodyCheck = ThreatCheck | JsonCheck | XmlCheck | SchemaCheck
AccessCheck = ClaimCheck | OpaCheck | BodyCheck


def transport_headers(headers: Mapping[str, str], hidden: Iterable[str]) -> dict[str, str]:
    """The request's headers as APIM's policies find them (Synapse's transport headers), from those the gateway
    handed the adapter (lower-case names): without the pseudo-headers, and without `hidden`, the headers the backend
    does not get from the client (APIM's authenticators took its credential out); HTTP/2's `:authority` as `host`."""
    drop = set(hidden)
    out = {name: value for name, value in headers.items() if name[:1] != ":" and name not in drop}
    if ":authority" in headers and "host" not in out:
        out["host"] = headers[":authority"]
    return out


def fails_closed(policy: AttachedPolicy) -> bool:
    """Whether a lenient catalog keeps this policy when its parameters are unusable, to refuse every call: OPA's,
    whose absence would admit what OPA was to decide."""
    return (policy.name, policy.version) == OPA and applied(policy)


def access_checks(policies: Iterable[AttachedPolicy], lenient: bool = False) -> tuple[AccessCheck, ...]:
    """The claim validators and OPA checks among the policies, in order (the first refusal answers). `lenient`: an
    OPA policy with unusable parameters becomes a check every call fails (`OpaCheck.unusable`), else PolicyError."""
    out: list[AccessCheck] = []
    for p in policies:
        if applied(p) and (p.name, p.version) == CLAIM_VALIDATOR:
            out.append(claim_check(p))
        elif applied(p) and (p.name, p.version) == REGEX:
            out.append(ThreatCheck())  # its spec has no parameters: the template's values
        elif applied(p) and (p.name, p.version) == JSON_VALIDATOR:
            out.append(json_check(p))
        elif applied(p) and (p.name, p.version) == XML_VALIDATOR:
            out.append(XmlCheck())  # its spec has no parameters: the template's values
        elif applied(p) and (p.name, p.version) == OPA:
            try:
                out.append(opa_check(p))
            except PolicyError as exc:
                if not lenient:
                    raise
                out.append(OpaCheck("", None, False, 0.0, 1, unusable=str(exc)))
    return tuple(out)
