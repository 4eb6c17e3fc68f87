"""APIM's operation policies (its gateway's mediation): Add Header, Remove Header and Add Query Param are applied to
an allowed call's request and response as APIM's gateway applies them (the API's first, then the operation's, each
in order: mediation.py); every other policy (OPA, threat protection, JSON to XML, ...) is named, so that an operator
sees what the mesh does not do (`apim_adapter_catalog_unenforced_items`, the log's "catalog item not enforced as
APIM configures it")."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from envoy.config.core.v3.base_pb2 import HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2 as pb

from apim_adapter.catalog import CatalogError, build
from apim_adapter.config import Request
from apim_adapter.decision import claim_refused
from apim_adapter.mediation import AttachedPolicy, Mediation, PathChange, fold
from apim_adapter.render import Renderer
from apim_adapter.transport.grpc import AuthorizationService
from harness.pipeline import InProcess, check_request, in_process_adapter, token, warm
from harness.sample_catalog import TINY_LIMIT, catalog_document
from harness.sample_catalog import operation_policy as policy

IP, HEADERS = "/httpbin/1.0.0/ip", "/httpbin/1.0.0/headers"


def add_header(flow: str, name: str, value: str, where: str = "") -> dict:
    return policy(flow, "addHeader", "v2", where, headerName=name, headerValue=value)


def remove_header(name: str, where: str = "") -> dict:
    return policy("request", "removeHeader", "v1", where, headerName=name)


def with_policies(*policies: dict) -> dict:
    doc = copy.deepcopy(catalog_document())
    doc["apis"][0]["operationPolicies"] = list(policies)
    return doc


def attached(*policies: dict) -> list[AttachedPolicy]:
    return [AttachedPolicy(p["flow"], p["policyName"], p["policyVersion"], p["parameters"]) for p in policies]


# ---- what the policies change, in order ----


def test_a_later_policy_overrides_an_earlier_ones_change_to_the_same_header():
    assert fold(attached(add_header("request", "X-A", "1"), remove_header("x-a"))) == Mediation(
        removed_headers=("x-a",)
    )
    assert fold(attached(remove_header("X-A"), add_header("request", "x-A", "1"))) == Mediation(
        request_headers=(("x-a", "1"),)
    )


def test_the_apis_policies_run_before_the_operations_and_only_the_operation_called_gets_its_own():
    doc = with_policies(add_header("request", "X-Team", "api"), add_header("request", "X-Team", "ip", "GET /ip"))
    catalog = build(doc)
    by_pattern = {r.pattern: r.mediation for r in catalog.apis[doc["apis"][0]["uuid"]].resources}
    assert by_pattern["/ip"] == Mediation(request_headers=(("x-team", "ip"),))
    assert by_pattern["/headers"] == Mediation(request_headers=(("x-team", "api"),))


def test_an_api_without_policies_has_no_mediation_and_no_note():
    catalog = build(catalog_document())
    assert all(r.mediation is None for api in catalog.apis.values() for r in api.resources)
    assert not [n for n in catalog.unenforced if "operation policies" in n]


# ---- what reaches Envoy ----


def test_the_allow_sets_and_removes_the_policies_headers_over_the_adapters_own():
    p = InProcess(with_policies(
        add_header("request", "x-apim-tier", "Premium"),  # APIM runs the policies last: theirs win
        add_header("request", "Authorization", "Basic YmFja2VuZA==", "GET /ip"),  # a backend's credential
        remove_header("X-Debug", "GET /ip"),
        policy("request", "addQueryParam", "v1", "GET /ip", paramKey="team", paramValue="payments"),
        add_header("response", "X-Served-By", "mesh", "GET /ip"),
    ))  # fmt: skip
    allow = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    upstream = dict(allow.upstream)
    assert upstream["x-apim-tier"] == "Premium"
    assert upstream["authorization"] == "Basic YmFja2VuZA=="
    assert "authorization" not in allow.remove  # set by the policy: not taken out after it
    assert "x-debug" in allow.remove
    assert allow.query == (("team", "payments"),)
    assert allow.downstream_replace == (("x-served-by", "mesh"),)
    ok = AuthorizationService(None, p.renderer, clock=lambda: p.now).respond(p.check(IP, bearer=token())).ok_response
    assert [(q.key, q.value) for q in ok.query_parameters_to_set] == [("team", "payments")]
    [served_by] = [h for h in ok.response_headers_to_add if h.header.key == "x-served-by"]
    assert served_by.append_action == served_by.OVERWRITE_IF_EXISTS_OR_ADD

    other = p.renderer.allow(p.check(HEADERS, bearer=token()), p.now)  # another resource: its own prepared allow
    assert "authorization" in other.remove
    assert "x-debug" not in other.remove
    assert (dict(other.upstream)["x-apim-tier"], other.query, other.downstream_replace) == ("Premium", (), ())


def test_a_denied_call_is_not_mediated():
    p = InProcess(with_policies(add_header("response", "X-Served-By", "mesh")))
    denied = p.renderer.deny(p.check(IP), p.now)
    assert "x-served-by" not in dict(denied.headers)


# ---- what is named, and what is refused ----


def test_the_policies_not_applied_here_are_named():
    catalog = build(with_policies(
        policy("request", "jsonToXML", "v1"),  # API-level
        add_header("request", "X-Team", "payments", "GET /ip"),  # applied: not named
        remove_header("X-Team", "GET /ip") | {"flow": "response"},  # Envoy cannot remove a response header
        add_header("fault", "X-Failed", "yes", "GET /ip"),
        add_header("request", "X-Team", "payments", "GET /ip") | {"policyVersion": "v3"},  # a later APIM's
    ))  # fmt: skip
    [note] = [n for n in catalog.unenforced if "operation policies" in n]
    assert note == (
        "HttpbinAPI 1.0.0: operation policies not applied here, only by APIM's gateway: jsonToXML v1 (request, "
        "the API), removeHeader v1 (response, GET /ip), addHeader v2 (fault, GET /ip), addHeader v3 (request, GET /ip)"
    )


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (add_header("request", "{$ctx:team}", "x"), "is not an HTTP header name"),  # Synapse's dynamic name
        (add_header("request", "Host", "evil.example.com"), "is the gateway's own"),
        (add_header("request", "X-A", "line\r\nX-B: injected"), "must be one printable line"),
        (add_header("request", "X-A", ""), "must be a non-empty string"),
        (policy("request", "addQueryParam", "v1", paramKey="a&b", paramValue="1"), "does not match APIM's"),
        (policy("request", "rewriteResourcePath", "v3", newResourcePath="/v2/<items>"), "does not match APIM's"),
        (policy("request", "changeHTTPMethod", "v1", httpMethod="TRACE"), "is not one of APIM's"),
    ],
)
def test_a_policy_no_gateway_could_send_is_refused_by_a_file_and_left_out_of_what_apim_serves(bad, why):
    with pytest.raises(CatalogError, match=why):
        build(with_policies(bad))
    lenient = build(with_policies(bad, add_header("request", "X-Team", "payments")), lenient=True)
    [note] = [n for n in lenient.unenforced if "operation policies" in n]
    assert why in note
    resource = lenient.apis[catalog_document()["apis"][0]["uuid"]].resources[0]
    assert resource.mediation == Mediation(request_headers=(("x-team", "payments"),))  # the rest applied


def test_a_long_list_is_cut_in_its_note():
    doc = with_policies(*(policy("request", f"p{i}", "v1") for i in range(25)))
    [note] = [n for n in build(doc).unenforced if "operation policies" in n]
    assert note.endswith("p19 v1 (request, the API) and 5 more")


def test_a_renderer_keeps_one_allow_per_mediation_not_per_call():
    p = InProcess(with_policies(add_header("request", "X-Team", "payments")))
    renderer = Renderer(Request())
    first = renderer.allow(p.check(IP, bearer=token()), p.now)
    assert renderer.allow(p.check(IP, bearer=token()), p.now) is first


# ---- the JWT claim based access validator ----


def claim_validator(where: str = "GET /ip", **parameters: str) -> dict:
    """The policy as APIM's Publisher fills it in by default (aut = APPLICATION: WSO2 IS's user type claim)."""
    defaults = {"accessVerificationClaim": "aut", "accessVerificationClaimValue": "APPLICATION"}
    return policy("request", "jwtClaimBasedAccessValidator", "v1", where, **(defaults | parameters))


def body_of(p: InProcess, d) -> dict:
    return json.loads(p.renderer.deny(d, p.now).body)


def test_a_claim_validator_admits_the_claims_value_and_refuses_another_after_counting_it():
    p = InProcess(with_policies(claim_validator()))
    assert p.check(IP, bearer=token(aut="APPLICATION")).allowed
    refused = p.check(IP, bearer=token(aut="APPLICATION_USER"))
    assert (refused.status, refused.code) == (403, "900912")
    assert body_of(p, refused) == {
        "code": "900912",
        "message": "Claim Mismatch",
        "description": "The claim configured in the system and the claim provided in the token do not align. "
        "Please ensure the claims match.",
    }
    # APIM's gateway runs the policy after throttling: the refused call was counted (the tightest counter is the
    # same on the next call, one more used).
    assert refused.usage is not None
    after = p.check(IP, bearer=token(aut="APPLICATION"))
    assert after.usage.remaining == refused.usage.remaining - 1
    assert p.check(HEADERS, bearer=token(aut="APPLICATION_USER")).allowed  # another operation: not its policy


def test_a_missing_or_blank_claim_is_refused_naming_the_claim_even_where_mismatches_pass():
    p = InProcess(with_policies(claim_validator(accessVerificationClaim="department", shouldAllowValidation="true")))
    assert p.check(IP, bearer=token(department="sales")).allowed  # a mismatch let through
    for refused in (p.check(IP, bearer=token()), p.check(IP, bearer=token(department="  "))):
        assert (refused.status, refused.code) == (403, "900913")
        assert body_of(p, refused)["description"] == 'Token doesn\'t contain the claim "department"'


def test_with_a_regex_both_the_configured_and_the_sent_value_must_match_it_whole():
    p = InProcess(with_policies(claim_validator(accessVerificationClaimValue="team-a",
                                                accessVerificationClaimValueRegex="team-[a-z]")))  # fmt: skip
    assert p.check(IP, bearer=token(aut="team-b")).allowed
    assert p.check(IP, bearer=token(aut="team-b2")).code == "900912"  # matches in part only
    never = InProcess(with_policies(claim_validator(accessVerificationClaimValue="TEAM",
                                                    accessVerificationClaimValueRegex="team-[a-z]")))  # fmt: skip
    assert never.check(IP, bearer=token(aut="team-b")).code == "900912"  # the configured value does not match it


def test_the_claim_regex_is_javas_a_unicode_word_that_pythons_re_would_take_is_refused():
    p = InProcess(with_policies(claim_validator(accessVerificationClaimValue="sales-EU",
                                                accessVerificationClaimValueRegex=r"\w+(?i)-EU")))  # fmt: skip
    assert p.check(IP, bearer=token(aut="sales-eu")).allowed  # (?i) midway, which Python's re refuses outright
    assert p.check(IP, bearer=token(aut="ventas-eu")).allowed
    assert p.check(IP, bearer=token(aut="vérifié-eu")).code == "900912"  # Java's \w is ASCII; Python's took it


def test_a_caller_without_jwt_claims_or_with_a_claim_that_is_no_string_is_refused():
    p = InProcess(with_policies(claim_validator()))
    assert p.check(IP, bearer=token(aut=["APPLICATION"])).code == "900912"  # APIM's mediator fails on it
    principal = p.check(IP, bearer=token(aut="APPLICATION")).principal
    opaque = dataclasses.replace(principal, introspected=True)
    d = dataclasses.replace(p.check(IP, bearer=token(aut="APPLICATION")), principal=opaque)
    refused = claim_refused(d, d.resource.access_checks[0])
    assert refused is not None
    assert refused.code == "900913"  # an introspected token's answer is not the JWT claims APIM's mediator reads


def test_a_throttled_call_is_throttled_before_its_claims_are_looked_at():
    doc = with_policies(claim_validator())
    p = InProcess(doc)
    for _ in range(TINY_LIMIT):
        assert p.check(IP, bearer=token("throttled-grpc", aut="wrong")).code == "900912"
    assert p.check(IP, bearer=token("throttled-grpc", aut="wrong")).code == "900804"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (claim_validator(accessVerificationClaim="http://wso2.org/claims/role"), "does not match APIM's"),
        (
            claim_validator(accessVerificationClaimValueRegex="(unclosed"),
            "Java refuses accessVerificationClaimValueRegex",
        ),
        (claim_validator(accessVerificationClaimValueRegex="a{,2}"), "Illegal repetition"),  # Python reads a count
    ],
)
def test_a_claim_validator_apim_would_not_take_is_refused_by_a_file(bad, why):
    with pytest.raises(CatalogError, match=why):
        build(with_policies(bad))


# ---- Rewrite Resource Path and Change HTTP Method (gRPC: Envoy sets `:path` and `:method`) ----


def rewrite(new_path: str, include_query: object = "true", where: str = "GET /anything/*") -> dict:
    parameters: dict[str, object] = {"newResourcePath": new_path}
    if include_query is not None:
        parameters["includeQueryParams"] = include_query
    return policy("request", "rewriteResourcePath", "v3", where) | {"parameters": parameters}


@pytest.mark.parametrize(
    ("include_query", "keeps"),
    [(True, True), ("true", True), ("TRUE", True), ("yes", True), (False, False), ("false", False),
     ("False", False), ("", False), (None, False), (0, False)],
)  # fmt: skip
def test_the_query_is_kept_as_the_template_reads_include_query_params(include_query, keeps):
    # Jinjava's `{% if includeQueryParams %}` on the parameter as saved: absent is false, whatever the spec's default.
    mediation = fold(attached(rewrite("/v2/items", include_query)))
    assert mediation is not None
    assert mediation.path == PathChange("/v2/items", keep_query=keeps)


def test_a_path_is_written_as_apims_gateway_writes_it():
    # Query kept: java.net.URI's quoting of a path; dropped: as written, but what a request target cannot carry
    # raw, and nothing after a `#` (never sent).
    kept = fold(attached(rewrite("/a:b%/{id}^?#")))
    assert kept is not None
    assert kept.path == PathChange("/a:b%25/%7Bid%7D%5E%3F%23", keep_query=True)
    dropped = fold(attached(rewrite("/items/{id}?fields=a^b#top", "false")))
    assert dropped is not None
    assert dropped.path == PathChange("/items/%7Bid%7D?fields=a%5Eb", keep_query=False)


@pytest.mark.parametrize(
    ("context", "postfix", "joined"),
    [("/shop/1.0.0", "/items", "/shop/1.0.0/items"), ("/shop/1.0.0", "items", "/shop/1.0.0/items"),
     ("/shop/1.0.0", "?a=1", "/shop/1.0.0?a=1"), ("/shop/", "/items", "/shop/items"), ("/shop/", "?a=1", "/shop?a=1"),
     ("/shop", "", "/shop")],
)  # fmt: skip
def test_the_new_path_is_joined_to_the_context_with_one_slash_as_synapse_joins_an_endpoint(context, postfix, joined):
    assert PathChange(postfix, keep_query=False).under(context) == joined


def test_a_rewrite_that_drops_the_query_drops_the_parameters_added_before_it_not_after():
    add = policy("request", "addQueryParam", "v1", paramKey="team", paramValue="payments")
    assert fold(attached(add, rewrite("/v2", "false"))).query == ()
    assert fold(attached(rewrite("/v2", "false"), add)).query == (("team", "payments"),)
    assert fold(attached(add, rewrite("/v2", "true"))).query == (("team", "payments"),)


def _pseudo_headers(ok: pb.OkHttpResponse) -> dict[str, tuple[str, int]]:
    return {h.header.key: (h.header.value, h.append_action) for h in ok.headers if h.header.key.startswith(":")}


@pytest.mark.parametrize("called", ["/httpbin/1.0.0/anything/old", "/httpbin/anything/old"])
def test_the_allow_sets_path_and_method_under_the_context_called_cold_and_warm(called):
    a, t = in_process_adapter(with_policies(
        rewrite("/v2/new", "true"),
        policy("request", "changeHTTPMethod", "v1", "GET /anything/*", httpMethod="POST"),
    )), token()  # fmt: skip
    service = AuthorizationService(a.check_on_thread, a.renderer, check_prepared=a.check_prepared)
    context = called.removesuffix("/anything/old")
    answers = [pb.CheckResponse.FromString(service.Check(check_request(t, f"{called}?page={n}").SerializeToString(),
                                                         None)) for n in (1, 2)]  # fmt: skip
    assert warm(a, t, called) is not None  # the second was answered from the first's prepared allow
    overwrite = HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    for n, answer in enumerate(answers, start=1):
        assert _pseudo_headers(answer.ok_response) == {":path": (f"{context}/v2/new?page={n}", overwrite),
                                                       ":method": ("POST", overwrite)}  # fmt: skip


def test_a_path_without_the_query_is_set_once_for_every_call():
    a, t = in_process_adapter(with_policies(rewrite("/v2/new?fixed=1", "false"))), token()
    service = AuthorizationService(a.check_on_thread, a.renderer, check_prepared=a.check_prepared)
    for n in (1, 2):
        raw = check_request(t, f"/httpbin/1.0.0/anything/old?page={n}").SerializeToString()
        answer = pb.CheckResponse.FromString(service.Check(raw, None))
        assert _pseudo_headers(answer.ok_response) == {
            ":path": ("/httpbin/1.0.0/v2/new?fixed=1", HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD)
        }


def test_without_the_policies_no_pseudo_header_is_set():
    a, t = in_process_adapter(), token()
    service = AuthorizationService(a.check_on_thread, a.renderer, check_prepared=a.check_prepared)
    raw = check_request(t, "/httpbin/1.0.0/anything/old?page=1").SerializeToString()
    assert _pseudo_headers(pb.CheckResponse.FromString(service.Check(raw, None)).ok_response) == {}


# ---- gateway policy mappings (Policies > Gateway Policies), read from their rendered sequences ----


def sequence(name: str, *mediators: str) -> dict:
    """A flow's sequence as SynapseArtifactGenerator.generateGatewayPolicyArtifact delivers it."""
    return {"name": name, "content": f'<sequence xmlns="http://ws.apache.org/ns/synapse" name="{name}">'
                                     f'{"".join(mediators)}</sequence>'}  # fmt: skip


def with_gateway_policies(*sequences: dict, api_policies: tuple[dict, ...] = ()) -> dict:
    doc = with_policies(*api_policies)
    doc["gatewayPolicies"] = [{"tenantDomain": "carbon.super", "gatewayPolicySequenceToBeAdded": list(sequences)}]
    return doc


def test_a_gateway_mappings_header_changes_reach_every_call_before_the_apis_own():
    doc = with_gateway_policies(
        sequence("WSO2AMGW--Ext--In", '<property action="set" name="X-Env" value="mesh" scope="transport"/>',
                 '<property name="X-Team" value="platform" scope="transport"/>',  # set is the default action
                 '<property action="remove" name="X-Debug" scope="transport"/>'),
        sequence("WSO2AMGW--Ext--Out", '<property action="set" name="X-Served-By" value="gw" scope="transport"/>'),
        api_policies=(add_header("request", "X-Team", "payments", "GET /ip"),),
    )  # fmt: skip
    p = InProcess(doc)
    assert not [n for n in p.catalog.unenforced if "gateway policy" in n]
    allow = p.renderer.allow(p.check(IP, bearer=token()), p.now)
    assert (dict(allow.upstream)["x-env"], dict(allow.upstream)["x-team"]) == ("mesh", "payments")
    assert "x-debug" in allow.remove
    assert allow.downstream_replace == (("x-served-by", "gw"),)
    other = p.renderer.allow(p.check(HEADERS, bearer=token()), p.now)
    assert dict(other.upstream)["x-team"] == "platform"  # no operation policy of its own here


@pytest.mark.parametrize(
    ("mediator", "named"),
    [
        ('<property name="messageType" value="application/xml" scope="axis2"/>', "a property mediator"),
        ('<property name="X-Id" expression="get-property(\'MessageID\')" scope="transport"/>', "a property mediator"),
        ('<log level="full"/>', "a log mediator"),
        ('<property action="set" name="Host" value="evil.example.com" scope="transport"/>', "is the gateway's own"),
    ],
)
def test_what_a_gateway_mapping_does_that_is_not_run_here_is_named_and_a_file_refuses_a_bad_header(mediator, named):
    doc = with_gateway_policies(sequence("WSO2AMGW--Ext--In", mediator,
                                         '<property name="X-Env" value="mesh" scope="transport"/>'))  # fmt: skip
    lenient = build(doc, lenient=True)
    [note] = [n for n in lenient.unenforced if "gateway policy" in n]
    assert named in note
    resource = lenient.apis[catalog_document()["apis"][0]["uuid"]].resources[0]
    assert resource.mediation == Mediation(request_headers=(("x-env", "mesh"),))
    if "gateway's own" in named:
        with pytest.raises(CatalogError, match=r"gatewayPolicies\[0\]\.gatewayPolicySequenceToBeAdded\[0\]: .*Host"):
            build(doc)


def test_a_gateway_sequence_that_is_not_synapse_is_refused_naming_it():
    for broken, why in (
        ({"name": "WSO2AMGW--Ext--In", "content": "<sequence"}, "not XML"),
        ({"name": "WSO2AMGW--Ext--In", "content": "<sequence/>"}, "not a Synapse <sequence>"),
        # Entities are declared only in a DTD: none is read, so none is expanded (billion laughs) or fetched.
        ({"name": "WSO2AMGW--Ext--In", "content": '<!DOCTYPE s [<!ENTITY a "b">]><sequence/>'}, "a DTD is refused"),
        ({"name": "WSO2AM--Ext--In", "content": "<sequence/>"}, "not one of WSO2AMGW--Ext--In"),
    ):
        with pytest.raises(CatalogError, match=rf"gatewayPolicies\[0\]\.gatewayPolicySequenceToBeAdded\[0\]: .*{why}"):
            build(with_gateway_policies(broken))
        header = sequence("WSO2AMGW--Ext--Out", '<property name="X-A" value="1" scope="transport"/>')
        lenient = build(with_gateway_policies(broken, header), lenient=True)  # the mapping left out whole
        assert all(r.mediation is None for r in lenient.apis[catalog_document()["apis"][0]["uuid"]].resources)
