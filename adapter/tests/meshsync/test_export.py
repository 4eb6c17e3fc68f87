"""The pure core of the Kubernetes → APIM direction: annotations in, the API we want or the problem out; our API
as APIM holds it in, the Publisher calls out — none when nothing changed."""

from __future__ import annotations

import copy

import pytest

from apim_adapter.meshsync.export import (
    EXPOSE,
    PREFIX,
    PROPERTY_DEFINITION,
    PROPERTY_OWNER,
    FromConfigMap,
    FromUrl,
    Invalid,
    Port,
    Service,
    Settings,
    create_body,
    definition,
    owner,
    plan_export,
    plan_removal,
    properties,
    spec,
    unwanted,
)

SETTINGS = Settings("Default", "localhost", "cluster.local", ("Unlimited",), "PUBLIC", "retire")
DOC = (
    "openapi: 3.0.1\ninfo: {title: httpbin, version: 1.0.0}\n"
    "paths:\n  /get: {get: {responses: {'200': {description: ok}}}}\n"
)
ANNOTATIONS = {EXPOSE: "true", PREFIX + "context": "/httpbin", PREFIX + "version": "1.0.0",
               PREFIX + "openapi-configmap": "httpbin-openapi"}  # fmt: skip


HTTP = (Port("http", 8000),)


def service(annotations=None, ports=HTTP, name="httpbin", namespace="default") -> Service:
    return Service(namespace, name, ANNOTATIONS if annotations is None else annotations, ports)


def with_(**extra: str) -> dict[str, str]:
    return {**ANNOTATIONS, **{PREFIX + k.replace("_", "-"): v for k, v in extra.items()}}


def test_a_minimal_annotation() -> None:
    want = spec(service(), SETTINGS)
    assert (want.owner, want.name, want.version, want.context) == ("default/httpbin", "httpbin", "1.0.0", "/httpbin")
    assert want.endpoint == "http://httpbin.default.svc.cluster.local:8000"
    assert want.source == FromConfigMap("httpbin-openapi", "openapi.yaml")
    assert (want.tiers, want.visibility, want.default_version) == (("Unlimited",), "PUBLIC", True)


def test_every_annotation() -> None:
    annotations = {
        EXPOSE: "true",
        **{PREFIX + k: v for k, v in {"context": "shop/orders/", "version": "v2", "name": "Orders API",
                                      "openapi-url": "openapi.json", "tiers": "Gold, Silver", "visibility": "private",
                                      "port": "https-api", "default-version": "false"}.items()},
    }  # fmt: skip
    ports = (Port("metrics", 9090), Port("https-api", 8443))
    want = spec(service(annotations, ports, name="orders", namespace="shop"), SETTINGS)
    assert (want.name, want.context, want.tiers, want.visibility) == ("Orders API", "/shop/orders", ("Gold", "Silver"),
                                                                      "PRIVATE")  # fmt: skip
    assert want.default_version is False
    assert want.endpoint == "https://orders.shop.svc.cluster.local:8443"
    assert want.source == FromUrl("https://orders.shop.svc.cluster.local:8443/openapi.json")


def test_a_port_by_number_and_app_protocol() -> None:
    ports = (Port("web", 8080, "https"), Port("admin", 9000))
    assert spec(service(with_(port="8080"), ports), SETTINGS).endpoint.startswith("https://")


@pytest.mark.parametrize(
    ("annotations", "ports", "message"),
    [
        ({EXPOSE: "true"}, None, "context: required"),
        (with_(context="/a/{version}"), None, "is not a context"),
        (with_(context="/a b"), None, "is not a context"),
        ({**ANNOTATIONS, PREFIX + "version": ""}, None, "version: required"),
        (with_(version="1.0/beta"), None, "is not a version"),
        (with_(version="x" * 31), None, "is not a version"),
        (with_(name="bad/name"), None, "is not an API name"),
        (with_(visibility="RESTRICTED"), None, "must be PUBLIC or PRIVATE"),
        (with_(default_version="yes"), None, "must be true or false"),
        (with_(port="grpc"), None, "has no port 'grpc'"),
        (ANNOTATIONS, (Port("a", 1), Port("b", 2)), "port: required when the Service has 2 ports"),
        (with_(openapi_url="/openapi.json"), None, "exactly one is required"),
        ({k: v for k, v in ANNOTATIONS.items() if "openapi" not in k}, None, "exactly one is required"),
        (with_(openapi_configmap="Bad_Name"), None, "is not <configmap name>"),
        (with_(security_scheme="oauth2,apikey"), None, "security-scheme: 'apikey' is not one of api_key, basic_auth"),
        (with_(security_scheme="oauth_basic_auth_api_key_mandatory"), None, "security-scheme: names none of api_key"),
        ({**{k: v for k, v in ANNOTATIONS.items() if "openapi" not in k}, PREFIX + "openapi-url": "http://x/o"}, None,
         "a path on the Service"),
    ],
)  # fmt: skip
def test_annotation_errors_name_the_annotation(annotations, ports, message) -> None:
    svc = service(annotations, ports or (Port("http", 8000),))
    with pytest.raises(Invalid, match=message.replace("{", r"\{").replace("(", r"\(")):
        spec(svc, SETTINGS)


def test_exposed_only_when_the_annotation_says_true() -> None:
    assert service().exposed
    assert not service({**ANNOTATIONS, EXPOSE: "false"}).exposed
    assert not service({}).exposed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openapi: [", "not YAML or JSON at line"),
        ("- a\n- b\n", "not a mapping"),
        ("info: {title: x}\npaths: {/a: {}}\n", "neither `openapi: 3.x`"),
        ("openapi: 3.0.1\npaths: {}\n", "has no paths"),
    ],
)
def test_bad_documents(text, message) -> None:
    with pytest.raises(Invalid, match=message.replace("`", ".").replace("(", r"\(")):
        definition(text)


def test_the_digest_ignores_formatting_and_follows_content() -> None:
    _, digest = definition(DOC)
    _, same = definition('{"paths": {"/get": {"get": {"responses": {"200": {"description": "ok"}}}}}, '
                         '"info": {"version": "1.0.0", "title": "httpbin"}, "openapi": "3.0.1"}')  # fmt: skip
    _, other = definition(DOC.replace("/get", "/ip"))
    assert digest == same != other
    assert definition('swagger: "2.0"\npaths: {/a: {get: {}}}\n')[1]


# -- planning against what APIM holds -----------------------------------------------------------------------------


def apim_api(want=None, digest=None, status="PUBLISHED", **changes):
    """Our API as `GET /apis/{apiId}` answers it after the create body went in (APIM returns the context
    without the version)."""
    want = want or spec(service(), SETTINGS)
    digest = digest or definition(DOC)[1]
    body = copy.deepcopy(create_body(want, digest, definition(DOC)[0]))  # as the update step leaves it
    body.update({"id": "api-1", "lifeCycleStatus": status, **changes})
    return body


def test_a_new_service_creates_deploys_and_publishes() -> None:
    want = spec(service(), SETTINGS)
    text, digest = definition(DOC)
    plan = plan_export(want, text, digest, None, [], SETTINGS)
    assert [s.op for s in plan.steps] == ["create", "definition", "update", "revise", "publish"]
    create = plan.steps[0]
    assert plan.steps[1].definition == text
    assert plan.steps[2].body == (want, digest)
    assert create.body["operations"] == [{"target": "/get", "verb": "GET", "scopes": []}]
    assert create.body["endpointConfig"]["production_endpoints"]["url"] == want.endpoint
    # The digest only once the document is uploaded: a create that stops half-way uploads it on the next pass.
    assert properties(create.body) == {PROPERTY_OWNER: "default/httpbin", PROPERTY_DEFINITION: "pending"}
    halfway = {**create.body, "id": "api-1", "lifeCycleStatus": "CREATED"}
    assert [s.op for s in plan_export(want, text, digest, halfway, [], SETTINGS).steps] == [
        "definition",
        "update",
        "revise",
        "publish",
    ]
    assert all(p["display"] is False for p in create.body["additionalProperties"])
    assert (create.body["name"], create.body["version"], create.body["context"]) == ("httpbin", "1.0.0", "/httpbin")


def test_nothing_to_do_when_nothing_changed() -> None:
    want = spec(service(), SETTINGS)
    text, digest = definition(DOC)
    assert plan_export(want, text, digest, apim_api(), ["Default"], SETTINGS).steps == []


def test_an_undeployed_api_gets_a_revision_only() -> None:
    want = spec(service(), SETTINGS)
    text, digest = definition(DOC)
    plan = plan_export(want, text, digest, apim_api(), ["Other"], SETTINGS)
    assert [s.op for s in plan.steps] == ["revise"]


def test_a_created_api_is_published() -> None:
    want = spec(service(), SETTINGS)
    text, digest = definition(DOC)
    plan = plan_export(want, text, digest, apim_api(status="CREATED"), ["Default"], SETTINGS)
    assert [s.op for s in plan.steps] == ["publish"]


def test_a_new_document_updates_the_definition_then_the_api_then_deploys() -> None:
    want = spec(service(), SETTINGS)
    text, digest = definition(DOC.replace("/get", "/ip"))
    plan = plan_export(want, text, digest, apim_api(), ["Default"], SETTINGS)
    assert [s.op for s in plan.steps] == ["definition", "update", "revise"]
    assert plan.steps[0].definition == text
    assert plan.steps[1].body == (want, digest)
    assert plan.steps[1].definition == text
    assert "OpenAPI document updated" in plan.changes


@pytest.mark.parametrize(
    ("annotations", "changed"),
    [
        (with_(tiers="Gold"), "tiers"),
        (with_(visibility="PRIVATE"), "visibility"),
        (with_(default_version="false"), "default version"),
        (with_(security_scheme="oauth2,api_key,oauth_basic_auth_api_key_mandatory"), "security scheme"),
    ],
)
def test_a_changed_annotation_updates_and_deploys(annotations, changed) -> None:
    want = spec(service(annotations), SETTINGS)
    text, digest = definition(DOC)
    plan = plan_export(want, text, digest, apim_api(), ["Default"], SETTINGS)
    assert [s.op for s in plan.steps] == ["update", "revise"]
    assert plan.changes[0] == f"{changed} updated"


def test_a_security_scheme_is_apims_to_keep_until_the_service_names_one() -> None:
    """Without the annotation the scheme is not ours (APIM's default, or one set in the Publisher, stays); with it,
    it is sent on creation and on update, compared as a set, and taken back from an edit in the Publisher."""
    text, digest = definition(DOC)
    assert "securityScheme" not in create_body(spec(service(), SETTINGS), digest, text)
    edited = apim_api(securityScheme=["basic_auth"])
    assert plan_export(spec(service(), SETTINGS), text, digest, edited, ["Default"], SETTINGS).steps == []
    want = spec(service(with_(security_scheme=" api_key, oauth2 ,api_key")), SETTINGS)
    assert want.security_scheme == ("api_key", "oauth2")
    assert create_body(want, digest, text)["securityScheme"] == ["api_key", "oauth2"]
    assert plan_export(want, text, digest, apim_api(want, securityScheme=["oauth2", "api_key"]), ["Default"],
                       SETTINGS).steps == []  # fmt: skip
    plan = plan_export(want, text, digest, edited, ["Default"], SETTINGS)
    assert ([s.op for s in plan.steps], plan.changes[0]) == (["update", "revise"], "security scheme updated")


def test_an_endpoint_edited_in_the_publisher_is_taken_back() -> None:
    want = spec(service(), SETTINGS)
    text, digest = definition(DOC)
    edited = apim_api()
    edited["endpointConfig"]["production_endpoints"] = {"url": "http://elsewhere:80"}
    assert [s.op for s in plan_export(want, text, digest, edited, ["Default"], SETTINGS).steps] == ["update", "revise"]


def test_fields_not_ours_are_kept_by_the_update_body() -> None:
    from apim_adapter.meshsync.export import updated_body

    want = spec(service(with_(tiers="Gold")), SETTINGS)
    digest = definition(DOC)[1]
    api = apim_api(description="edited by hand", additionalProperties=[{"name": "team", "value": "a", "display": True},
                   {"name": PROPERTY_OWNER, "value": "default/httpbin", "display": False}])  # fmt: skip
    body = updated_body(api, want, digest, definition(DOC)[0])
    assert body["description"] == "edited by hand"
    assert body["policies"] == ["Gold"]
    assert properties(body) == {"team": "a", PROPERTY_OWNER: "default/httpbin", PROPERTY_DEFINITION: digest}
    assert body["operations"] == [{"target": "/get", "verb": "GET", "scopes": []}]


@pytest.mark.parametrize("status", ["BLOCKED", "DEPRECATED", "RETIRED"])
def test_an_api_someone_blocked_or_retired_is_left_alone_and_reported(status) -> None:
    want = spec(service(), SETTINGS)
    text, digest = definition(DOC)
    with pytest.raises(Invalid, match=f"is {status} in APIM: left as it is"):
        plan_export(want, text, digest, apim_api(status=status), ["Default"], SETTINGS)


def test_a_context_apim_cannot_change_is_reported() -> None:
    want = spec(service(with_(context="/other")), SETTINGS)
    text, digest = definition(DOC)
    with pytest.raises(Invalid, match="does not change an API's context"):
        plan_export(want, text, digest, apim_api(), ["Default"], SETTINGS)
    assert plan_export(want, text, digest, apim_api(context="/other/1.0.0"), ["Default"], SETTINGS).steps == []


# -- removal ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "steps"),
    [
        ("PUBLISHED", [("lifecycle", "Deprecate"), ("lifecycle", "Retire")]),
        ("BLOCKED", [("lifecycle", "Deprecate"), ("lifecycle", "Retire")]),
        ("DEPRECATED", [("lifecycle", "Retire")]),
        ("CREATED", [("delete", "")]),
        ("PROTOTYPED", [("delete", "")]),
        ("RETIRED", []),
    ],
)
def test_retirement_follows_the_default_lifecycle(status, steps) -> None:
    plan = plan_removal(apim_api(status=status), SETTINGS)
    assert [(s.op, s.action) for s in plan.steps] == steps


def test_deletion_when_configured() -> None:
    settings = Settings("Default", on_removal="delete")
    assert [s.op for s in plan_removal(apim_api(), settings).steps] == ["delete"]


def test_unwanted_apis() -> None:
    v1 = apim_api()
    v2 = {**apim_api(spec(service(with_(version="2.0.0")), SETTINGS)), "id": "api-2"}
    gone = {**apim_api(), "id": "api-3", "additionalProperties": [{"name": PROPERTY_OWNER, "value": "default/old"}]}
    foreign = {**apim_api(), "id": "api-4", "additionalProperties": []}
    retired = {**apim_api(status="RETIRED"), "id": "api-5"}
    owned = [v1, v2, gone, foreign, retired]
    assert owner(foreign) is None
    now_v2 = {"default/httpbin": spec(service(with_(version="2.0.0")), SETTINGS)}
    assert [a["id"] for a in unwanted(owned, now_v2)] == ["api-1", "api-3"]
    # The Service's annotation is broken right now: its APIs stay.
    assert [a["id"] for a in unwanted(owned, {}, failing={"default/httpbin"})] == ["api-3"]
    assert [a["id"] for a in unwanted(owned, {})] == ["api-1", "api-2", "api-3"]


def test_scopes_come_from_the_document_as_apim_writes_them() -> None:
    from apim_adapter.meshsync.export import scopes, updated_body

    doc = (
        "openapi: 3.0.1\npaths:\n"
        "  /ip: {get: {security: [{default: [scope_ip]}], x-throttling-tier: Unlimited}}\n"
        "  /admin: {post: {security: [{default: [scope_admin, scope_ip]}]}}\n"
        "  /get: {get: {security: [{default: []}]}}\n"
        "components: {securitySchemes: {default: {type: oauth2, flows: {implicit: {authorizationUrl: https://x,\n"
        "  scopes: {scope_ip: Read the IP}, x-scopes-bindings: {scope_ip: 'admin, Internal/subscriber'}}}}}}\n"
    )
    text, digest = definition(doc)
    assert scopes(text) == [
        {"scope": {"name": "scope_admin", "displayName": "scope_admin", "description": "", "bindings": []},
         "shared": False},
        {"scope": {"name": "scope_ip", "displayName": "scope_ip", "description": "Read the IP",
                   "bindings": ["admin", "Internal/subscriber"]}, "shared": False},
    ]  # fmt: skip
    want = spec(service(), SETTINGS)
    body = create_body(want, digest, text)
    assert {(o["verb"], o["target"]): o["scopes"] for o in body["operations"]} == {
        ("GET", "/ip"): ["scope_ip"], ("POST", "/admin"): ["scope_admin", "scope_ip"], ("GET", "/get"): []}  # fmt: skip
    # An update takes the scopes from the document and keeps what APIM holds for an operation otherwise.
    api = apim_api(operations=[{"target": "/admin", "verb": "POST", "authType": "None", "scopes": []}])
    [admin] = [o for o in updated_body(api, want, digest, text)["operations"] if o["target"] == "/admin"]
    assert admin == {"target": "/admin", "verb": "POST", "authType": "None", "scopes": ["scope_admin", "scope_ip"]}


def test_a_resources_policy_named_in_the_document_is_sent_and_wins_over_apims_copy() -> None:
    """APIM reads an operation's advanced policy from `x-throttling-tier` (or `x-wso2-throttling-tier`) of the
    definition it is given (OAS3Parser.getURITemplates) and resets the others to its default: the export sends the
    document's in its API bodies too, and keeps APIM's where the document names none."""
    from apim_adapter.meshsync.export import updated_body

    doc = (
        "openapi: 3.0.1\npaths:\n"
        "  /status/{code}: {get: {x-throttling-tier: GoldPlan}}\n"
        "  /delay/{n}: {get: {x-wso2-throttling-tier: 10KPerMin}}\n"
        "  /get: {get: {x-throttling-tier: ''}}\n"
    )
    text, digest = definition(doc)
    want = spec(service(), SETTINGS)
    tiers = {o["target"]: o.get("throttlingPolicy") for o in create_body(want, digest, text)["operations"]}
    assert tiers == {"/status/{code}": "GoldPlan", "/delay/{n}": "10KPerMin", "/get": None}
    held = [{"target": t, "verb": "GET", "throttlingPolicy": "Unlimited", "scopes": []} for t in tiers]
    body = updated_body(apim_api(operations=held), want, digest, text)
    assert {o["target"]: o["throttlingPolicy"] for o in body["operations"]} == {
        "/status/{code}": "GoldPlan", "/delay/{n}": "10KPerMin", "/get": "Unlimited"}  # fmt: skip
