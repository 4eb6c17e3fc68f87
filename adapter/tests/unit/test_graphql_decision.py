"""GraphQL APIs through the decision pipeline: what a call's document asks, held to its operations' scopes and tiers
and to the subscription tier's depth and complexity (harness.sample_catalog's StarWarsAPI)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from envoy.data.accesslog.v3.accesslog_pb2 import HTTPAccessLogEntry
from google.protobuf.struct_pb2 import Struct

from apim_adapter import analytics, errors
from apim_adapter.access_log import event_of
from apim_adapter.catalog import GRAPHQL_KEPT_CALLS, CatalogError, build
from apim_adapter.config import parse
from apim_adapter.cors import Settings as CorsSettings
from apim_adapter.decision import BODY_NOT_WHOLE, CheckInput, Decision
from apim_adapter.mediation import RequestBody
from apim_adapter.transport.grpc import NAMESPACE
from harness.helpers import ROOT
from harness.pipeline import InProcess, token
from harness.sample_catalog import STARWARS_OPERATIONS, advanced_policy, graphql_catalog, operation_policy, per_minute

pytestmark = pytest.mark.unit

PATH = "/swapi/1.0.0"


def call(
    p: InProcess,
    query: str | None = None,
    bearer: str | None = "default",
    body: bytes | None = None,
    method: str = "POST",
    whole: bool = True,
    operation_name: str | None = None,
    **variables,
) -> Decision:
    if body is None:
        body = json.dumps({"query": query, "operationName": operation_name, "variables": variables}).encode()
    headers = {"content-type": "application/json"}
    if bearer is not None:
        headers["authorization"] = f"Bearer {token() if bearer == 'default' else bearer}"
    req = CheckInput(method, "gw", PATH, headers, body=RequestBody(body, whole, "application/json", True))
    return asyncio.run(p.decide(req))


@pytest.fixture
def p() -> InProcess:
    return InProcess(graphql_catalog())


def test_a_query_of_fields_the_token_may_call_is_allowed_as_their_operations(p):
    d = call(p, "{ hero { name friends(first: 2) { name } } heroes { id } }")
    assert d.allowed, d.reason
    assert (d.resource.method, d.resource.pattern) == ("QUERY", "hero,heroes")  # APIM's API_ELECTED_RESOURCE
    assert [op.pattern for op in d.resource.operations] == ["hero", "heroes"]
    assert d.resource.checks_each_call  # never a prepared allow: the next call's body decides anew


def test_each_field_needs_one_of_its_own_scopes():
    p = InProcess(graphql_catalog())
    refused = call(p, "{ hero { name } secret }")
    assert (refused.status, refused.code) == (403, "900910")
    assert refused.error.description == (
        "User is NOT authorized to access the Resource: hero,secret. Scope validation failed."
    )
    assert call(p, "{ hero { name } secret }", bearer=token(scope="scope_headers scope_secret")).allowed
    # A mutation's field asks for any one of its scopes.
    assert call(p, 'mutation { addHero(name: "R2") { id } }', bearer=token(scope="scope_admin")).allowed
    assert call(p, 'mutation { addHero(name: "R2") { id } }').code == "900910"


def test_a_field_behind_a_fragment_is_held_to_its_scopes(p):
    # APIM's gateway never names `secret` here (its list skips fragments), so its scope is never asked for.
    assert call(p, "{ hero { name } ... on Query { secret } }").code == "900910"
    assert call(p, "query { ...F } fragment F on Query { secret }").code == "900910"


def test_the_operation_checked_is_the_one_the_body_names(p):
    # APIM's gateway checks the first operation, whatever operationName tells the backend to run.
    query = "query Open { hero { id } } query Closed { secret }"
    assert call(p, query, operation_name="Open").allowed
    assert call(p, query, operation_name="Closed").code == "900910"
    refused = call(p, query)
    assert (refused.status, refused.code) == (422, "900422")
    assert refused.error.description == "Must provide operation name if query contains multiple operations."


def test_fields_that_need_no_authentication_need_no_token_only_if_all_of_them_need_none(p):
    assert call(p, "{ name }", bearer=None).allowed
    assert call(p, "{ name hero { id } }", bearer=None).code == "900902"


@pytest.mark.parametrize("bearer", [None, "default"])
def test_a_document_the_schema_refuses_is_422(p, bearer):
    refused = call(p, "{ hero { height } }", bearer=bearer)
    assert (refused.status, refused.code, refused.error.message) == (422, "900422", "INVALID QUERY")
    assert refused.error.description == "Cannot query field 'height' on type 'Character'."
    body = call(p, body=b'{"variables": {}}', bearer=bearer)
    assert (body.code, body.error.description) == ("900422", "Invalid query parameter")


def test_a_call_of_no_operation_of_the_api_is_403_900906(p):
    refused = call(p, "{ __schema { types { name } } }", bearer=None)
    assert (refused.status, refused.code) == (403, "900906")
    assert refused.error.description == (
        "Access failure for API: /swapi/1.0.0, version: 1.0.0 status: (900906) - No matching resource found in the "
        "API for the given request. Check the API documentation and add a proper REST resource path to the "
        "invocation URL"
    )


def test_a_field_with_no_operation_is_refused_not_waved_through():
    # APIM's gateway ignores a field no URL mapping names when another is named: `secret` would go unchecked.
    p = InProcess(graphql_catalog([op for op in STARWARS_OPERATIONS if op["urlPattern"] != "secret"]))
    assert call(p, "{ hero { id } secret }").code == "900906"


def test_a_document_deeper_than_the_tier_allows_is_400_900820(p):
    assert call(p, "{ hero { friends { name } } }").allowed  # depth 3, the tier's limit
    refused = call(p, "{ hero { friends { friends { name } } } }")
    assert (refused.status, refused.code, refused.error.message) == (400, "900820", "QUERY TOO DEEP")
    assert refused.error.description == "[maximum query depth exceeded 4 > 3]"


def test_a_document_more_complex_than_the_tier_allows_is_400_900821(p):
    assert call(p, "{ heroes(first: 10) { name } }").allowed  # 10 x 2 = 20, the tier's limit
    refused = call(p, "{ heroes(first: 10) { name id } }")
    assert (refused.status, refused.code, refused.error.description) == (
        400, "900821", "[maximum query complexity exceeded]"
    )  # fmt: skip
    # The count given by a variable counts (APIM's gateway counts it 0).
    assert call(p, "query($n: Int) { heroes(first: $n) { name id } }", n=10).code == "900821"


def test_each_operation_is_counted_on_its_own_tier():
    operations = [{**op, "throttlingPolicy": "TwoAMinute"} if op["urlPattern"] == "heroes" else op
                  for op in STARWARS_OPERATIONS]  # fmt: skip
    doc = graphql_catalog(operations)
    doc["apiPolicies"] = [advanced_policy("TwoAMinute", 2)]
    p = InProcess(doc)
    assert [call(p, "{ heroes { id } }").status for _ in range(3)] == [200, 200, 429]
    assert call(p, "{ hero { id } heroes { id } }").code == "900802"  # any of its operations throttled: the call
    assert call(p, "{ hero { id } }").allowed  # another operation's tier is its own


THREE_OPERATIONS = "{ hero { id } heroes { id } name }"


@pytest.mark.parametrize(
    ("tier", "code"),
    [("subscription", "900804"), ("application", "900803"), ("api", "900800")],
)
def test_a_call_counts_once_per_operation_on_the_api_subscription_and_application_tiers(tier, code):
    """APIM's gateway publishes one throttle event per operation of a call, each naming the API, subscription and
    application (ThrottleHandler), and the traffic manager counts events: a quota of 4 takes two 3-operation calls
    (3, then 6), not four."""
    doc = graphql_catalog()
    four = advanced_policy("FourAMinute", 4) if tier == "api" else per_minute("FourAMinute", 4)
    if tier == "subscription":
        doc["subscriptionPolicies"].append(four)
        next(s for s in doc["subscriptions"] if s["apiUUID"] == "api-swapi")["policyId"] = "FourAMinute"
    elif tier == "application":
        doc["applicationPolicies"] = [four]
        next(a for a in doc["applications"] if a["uuid"] == "app-subscribed")["policy"] = "FourAMinute"
    else:
        doc["apiPolicies"] = [four]
        next(a for a in doc["apis"] if a["uuid"] == "api-swapi")["policy"] = "FourAMinute"
    p = InProcess(doc)
    first, second = call(p, THREE_OPERATIONS), call(p, THREE_OPERATIONS)
    assert (first.allowed, second.allowed) == (True, True)  # 3 < 4 when the second came: APIM lets it through too
    assert second.usage.used == 6
    refused = call(p, "{ hero { id } }")  # one operation, but 6 already counted
    assert (refused.status, refused.code) == (429, code)


def test_a_spike_arrest_counts_calls_not_operations():
    """ThrottleHandler looks at the subscription's spike arrest once per request (isSubscriptionLevelSpike), before
    its loop over the operations."""
    doc = graphql_catalog()
    tier = next(t for t in doc["subscriptionPolicies"] if t["name"] == "GraphQLSilver")
    tier.update(rateLimitCount=2, rateLimitTimeUnit="min")
    p = InProcess(doc)
    assert [call(p, THREE_OPERATIONS).status for _ in range(3)] == [200, 200, 429]
    assert call(p, THREE_OPERATIONS).code == "900807"


def test_the_apis_own_policies_change_every_call_and_its_operations_own_none():
    """APIM deploys a GraphQL API as one resource (catalog.GRAPHQL_OPERATION_POLICIES_DROPPED): the API's policies
    run on every call, an operation's in no sequence."""
    doc = graphql_catalog(operationPolicies=[
        operation_policy("request", "addHeader", "v2", headerName="X-Env", headerValue="mesh"),
        operation_policy("request", "addHeader", "v2", "QUERY hero", headerName="X-Hero", headerValue="yes"),
        operation_policy("request", "jsonToXML", "v1"),
    ])  # fmt: skip
    p = InProcess(doc)
    for query, bearer in (("{ hero { name } }", "default"), ("{ name }", None), ("{ heroes { id } name }", "default")):
        upstream = dict(p.renderer.allow(call(p, query, bearer=bearer), p.now).upstream)
        assert upstream["x-env"] == "mesh", query
        assert "x-hero" not in upstream, query
    assert [n for n in p.catalog.unenforced if n.startswith("StarWarsAPI")] == [
        "StarWarsAPI 1.0.0: operation policies not applied here, only by APIM's gateway: jsonToXML v1 (request, the "
        "API)",
        "StarWarsAPI 1.0.0: policies of GraphQL operations, which APIM's gateway does not apply either (it deploys a "
        "GraphQL API as one resource; attach them to the API to have them run on every call): addHeader v2 "
        "(request, QUERY hero)",
    ]


def test_the_apis_access_checks_hold_each_call_after_its_documents_limits():
    """The API's JWT claim based access validator runs after query analysis and throttling, as
    APIManagerExtensionHandler runs the API's sequence after GraphQLQueryAnalysisHandler and ThrottleHandler."""
    validator = operation_policy("request", "jwtClaimBasedAccessValidator", "v1", accessVerificationClaim="team",
                                 accessVerificationClaimValue="rebels")  # fmt: skip
    p = InProcess(graphql_catalog(operationPolicies=[validator]))
    assert call(p, "{ hero { name } }", bearer=token(team="rebels")).allowed
    refused = call(p, "{ hero { name } }", bearer=token(team="empire"))
    assert (refused.status, refused.code) == (403, "900912")
    assert call(p, "{ hero { friends { friends { name } } } }", bearer=token(team="empire")).code == "900820"


def test_a_body_the_gateway_did_not_hand_over_whole_is_refused_and_named(p):
    refused = call(p, "{ hero { id } }", whole=False)
    assert (refused.status, refused.code, refused.reason) == (422, "900422", BODY_NOT_WHOLE)
    assert "include bodies in its check" in refused.error.description


def test_a_call_other_than_post_is_not_a_graphql_call(p):
    assert call(p, "{ name }", method="GET").status == 404  # the gateway's one resource is POST /*


def test_unique_documents_do_not_grow_what_the_api_keeps(p):
    api = p.catalog.contexts[PATH]
    for i in range(GRAPHQL_KEPT_CALLS + 50):
        call(p, body=b'{"query": "{ h%d }"}' % i, bearer=None)
    assert len(api.graphql.analysed) == GRAPHQL_KEPT_CALLS
    assert call(p, "{ hero { id } }").allowed


def test_a_graphql_api_without_its_schema_or_with_a_broken_one_is_named():
    with pytest.raises(CatalogError, match=r"apis\[1\] \(StarWarsAPI\)\.graphQLSchema: required"):
        build(graphql_catalog(graphQLSchema=None))
    with pytest.raises(CatalogError, match="graphQLSchema: not a GraphQL schema"):
        build(graphql_catalog(graphQLSchema="type Query {"))
    with pytest.raises(CatalogError, match=r"urlMappings\[0\]\.httpMethod: unknown method 'GET'"):
        build(graphql_catalog([{"httpMethod": "GET", "urlPattern": "/hero"}]))


def test_the_publishers_complexity_values_price_the_fields():
    complexity = {"list": [{"type": "Query", "field": "hero", "complexityValue": 19}]}
    p = InProcess(graphql_catalog(graphQLComplexity=complexity))
    assert call(p, "{ hero { id } }").allowed  # 19 + 1
    assert call(p, "{ hero { id name } }").error is errors.GRAPHQL_TOO_COMPLEX


def test_analytics_name_the_operations_sorted_and_their_verb_once_the_caller_is_authenticated(p):
    query = "{ heroes { id } hero { id } }"
    allowed = call(p, query)
    req = CheckInput("POST", "gw", PATH, {})
    event = analytics.event(req, allowed, 1.0)
    assert (event["apiResourceTemplate"], event["apiMethod"]) == ("hero,heroes", "QUERY")
    refused = analytics.event(req, call(p, query, bearer=token("unsubscribed")), 1.0)
    assert (refused["apiResourceTemplate"], refused["apiMethod"]) == ("hero,heroes", "POST")


def test_a_call_without_a_valid_credential_costs_no_reading_where_every_operation_needs_one():
    # APIM's gateway validates the document first (422 before 401); here a caller must be known before its document
    # costs any CPU, unless the API has operations that need no authentication.
    secured = [{**op, "authScheme": "Any"} for op in STARWARS_OPERATIONS]
    p = InProcess(graphql_catalog(secured))
    analysed = p.catalog.contexts[PATH].graphql.analysed
    assert call(p, "{ hero { height } }", bearer=None).code == "900902"
    assert call(p, "{ hero { height } }", bearer="not-a-jwt").code == "900901"
    assert len(analysed) == 0
    assert call(p, "{ hero { height } }").code == "900422"  # a valid token's document is read
    assert len(analysed) == 1


def test_a_refused_credential_matters_only_where_a_field_needs_one(p):
    # As APIM's gateway takes a call of operations that need no authentication (handleNoAuthentication): anonymous.
    assert call(p, "{ name }", bearer="not-a-jwt").allowed
    refused = call(p, "{ name hero { id } }", bearer="not-a-jwt")
    assert (refused.status, refused.code) == (401, "900901")
    assert call(p, "{ name }", bearer=token("unsubscribed")).allowed  # nor is the subscription asked for


def test_a_document_quadratic_to_validate_is_refused_before_it_is_validated(p):
    refused = call(p, "{ " + " ".join("hero { id }" for _ in range(200)) + " }")
    assert (refused.status, refused.code) == (422, "900422")
    assert "past what is validated" in refused.error.description
    # 4,950 comparisons: validated, then counted as graphql-java counts it, each selection apart (100 x 2 > 20)
    assert call(p, "{ " + " ".join("hero { id }" for _ in range(100)) + " }").code == "900821"


def test_the_gateways_access_log_event_names_the_operations_verb_for_its_method(p):
    """An allowed call's event written from Envoy's access log (analytics.accessLogService): the decision's fields
    ride in its metadata, the GraphQL verb among them, where the request's own method is POST."""
    allowed = call(p, "{ heroes { id } hero { id } }")
    log = HTTPAccessLogEntry()
    log.request.request_method = 3  # POST
    log.response.response_code.value = 200
    log.response.response_code_details = "via_upstream"
    ours = Struct()
    ours.update({"analytics": json.dumps(analytics.decided(allowed))})
    log.common_properties.metadata.filter_metadata[NAMESPACE].CopyFrom(ours)
    served, props = event_of(log)
    assert served
    assert (props["apiMethod"], props["apiResourceTemplate"]) == ("QUERY", "hero,heroes")


def test_a_browsers_preflight_is_answered_before_any_document_is_read():
    """CORSRequestHandler runs before GraphQLAPIHandler: an OPTIONS call asking for POST is answered at once."""
    defaults = parse({"controlPlane": {"type": "file", "path": "c.yaml"}}).cors  # APIM's, as the adapter's default
    settings = CorsSettings(defaults.allow_origins, defaults.allow_methods, defaults.allow_headers,
                            defaults.allow_credentials)  # fmt: skip
    p = InProcess(graphql_catalog(), cors=settings)
    d = asyncio.run(
        p.decide(CheckInput("OPTIONS", "gw", PATH, {"origin": "https://app.example.com",
                                                     "access-control-request-method": "POST"}))
    )  # fmt: skip
    assert d.preflight
    assert d.cors is not None
    assert len(p.catalog.contexts[PATH].graphql.analysed) == 0


def test_graphql_core_is_loaded_only_where_a_graphql_api_is_served():
    """graphql-core adds megabytes to every replica: the adapter imports it with the first GraphQL API it reads."""
    probe = (
        "import sys\n"
        "from apim_adapter import app, catalog, cli\n"
        "from harness.sample_catalog import catalog_document, graphql_catalog\n"
        "catalog.build(catalog_document())\n"
        "print('graphql' in sys.modules)\n"
        "catalog.build(graphql_catalog())\n"
        "print('graphql' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "True"]
