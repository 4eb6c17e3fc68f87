"""The APIM double's product REST APIs (harness/apim_rest.py): what the apim_setup role and the mesh sync controller
rely on, as carbon-apimgt 9.31.86 behaves. Every answer is validated against WSO2's specs at teardown (apim_factory).
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from harness import wso2_specs
from harness.apim_double import ApimDouble, fresh_data

PUBLISHER = "/api/am/publisher/v4"
DEVPORTAL = "/api/am/devportal/v3"
ADMIN = "/api/am/admin/v4"
API = {
    "name": "HttpbinAPI",
    "version": "1.0.0",
    "context": "/httpbin",
    "type": "HTTP",
    "policies": ["Gold", "Unlimited"],
    "isDefaultVersion": True,
    "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://httpbin:8000"}},
    "operations": [
        {"target": "/ip", "verb": "GET", "authType": "Application & Application User", "scopes": ["scope_ip"]},
        {"target": "/get", "verb": "GET", "authType": "Application & Application User", "scopes": []},
    ],
}
ALL_SCOPES = (
    "apim:api_view apim:api_create apim:api_manage apim:api_publish apim:subscribe apim:app_manage "
    "apim:sub_manage apim:admin apim:tier_manage apim:keymanagers_manage"
)


class Client:
    """A session against the double, as a user of the product APIs."""

    def __init__(self, double: ApimDouble, ca: str, scopes: str = ALL_SCOPES):
        self.double = double
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
        self.session.verify = ca
        self.token = double.admin_token(scopes)

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.session.request(method, self.double.url + path, headers=headers, timeout=10, **kwargs)


@pytest.fixture
def apim(apim_factory) -> ApimDouble:
    return apim_factory(fresh_data())


@pytest.fixture
def client(apim, test_ca) -> Client:
    return Client(apim, str(test_ca.ca))


def data_api(client: Client, endpoint: str, **params: str) -> requests.Response:
    """The internal data API, as the adapter and the mesh sync controller read it."""
    response = client.double.data_api(endpoint, **params)
    assert response.status_code == 200, response.text
    return response


def create_deploy_publish(client: Client, body: dict | None = None) -> str:
    created = client("POST", f"{PUBLISHER}/apis", json=body or API)
    assert created.status_code == 201, created.text
    api_id = created.json()["id"]
    revision = client("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={"description": "first"})
    assert revision.status_code == 201, revision.text
    deployed = client(
        "POST",
        f"{PUBLISHER}/apis/{api_id}/deploy-revision",
        params={"revisionId": revision.json()["id"]},
        json=[{"name": "Default", "vhost": "localhost", "displayOnDevportal": True}],
    )
    assert deployed.status_code == 201, deployed.text
    published = client("POST", f"{PUBLISHER}/apis/change-lifecycle", params={"apiId": api_id, "action": "Publish"})
    assert published.status_code == 200, published.text
    return api_id


# -- authentication --------------------------------------------------------------------------------------------


def test_product_apis_need_a_valid_token_with_one_of_the_operations_scopes(apim, test_ca) -> None:
    anonymous = requests.get(apim.url + f"{PUBLISHER}/apis", verify=str(test_ca.ca), timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "code": 401,
        "message": "",
        "description": "Unauthenticated request",
        "moreInfo": "",
        "error": [],
    }
    wrong = requests.get(
        apim.url + f"{PUBLISHER}/apis",
        headers={"Authorization": "Bearer not-a-token"},
        verify=str(test_ca.ca),
        timeout=10,
    )
    assert wrong.status_code == 401
    # One of the operation's scopes is enough; none of them is a 401 as well (OAuthOpaqueAuthenticatorImpl).
    viewer = Client(apim, str(test_ca.ca), scopes="apim:api_view")
    assert viewer("GET", f"{PUBLISHER}/apis").status_code == 200
    assert viewer("POST", f"{PUBLISHER}/apis", json=API).status_code == 401
    assert apim.data["apis"] == []
    # The devportal's API listing is open to anonymous users.
    assert requests.get(apim.url + f"{DEVPORTAL}/apis", verify=str(test_ca.ca), timeout=10).status_code == 200


def test_dcr_then_password_grant_gives_the_requested_scopes_the_admin_holds(apim, test_ca) -> None:
    session = requests.Session()
    session.trust_env, session.verify = False, str(test_ca.ca)
    profile = {
        "callbackUrl": "https://localhost/cb",
        "clientName": "setup",
        "owner": "admin",
        "grantType": "client_credentials password refresh_token",
        "saasApp": True,
    }
    assert session.post(apim.url + "/client-registration/v0.17/register", json=profile, timeout=10).status_code == 401
    first = session.post(
        apim.url + "/client-registration/v0.17/register", json=profile, auth=apim.admin_credentials, timeout=10
    )
    again = session.post(
        apim.url + "/client-registration/v0.17/register", json=profile, auth=apim.admin_credentials, timeout=10
    )
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["clientId"] == again.json()["clientId"]  # the existing application, answered again
    client = (again.json()["clientId"], again.json()["clientSecret"])
    user, password = apim.admin_credentials
    form = {"grant_type": "password", "username": user, "password": password, "scope": "apim:api_view no:such"}
    token = session.post(apim.url + "/oauth2/token", data=form, auth=client, timeout=10)
    assert token.status_code == 200
    assert token.json()["scope"] == "apim:api_view"
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert session.get(apim.url + f"{PUBLISHER}/apis", headers=bearer, timeout=10).status_code == 200
    bad = session.post(apim.url + "/oauth2/token", data={**form, "password": "wrong"}, auth=client, timeout=10)
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")
    assert first.json()["clientSecret"] == again.json()["clientSecret"]
    wrong = session.post(apim.url + "/oauth2/token", data=form, auth=(client[0], "wrong"), timeout=10)
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    assert all(s.body.get("clientSecret", "(not kept)") == "(not kept)" for s in apim.responses if s.endpoint == "dcr")


# -- Publisher API -------------------------------------------------------------------------------------------


def test_request_bodies_are_validated_against_the_spec_before_anything_changes(client, apim) -> None:
    typo = {**API, "endpointConfg": {}}
    answer = client("POST", f"{PUBLISHER}/apis", json=typo)
    assert answer.status_code == 400
    assert "endpointConfg" in answer.json()["description"]
    missing = {k: v for k, v in API.items() if k != "context"}
    assert client("POST", f"{PUBLISHER}/apis", json=missing).status_code == 400
    assert (
        client("POST", f"{PUBLISHER}/apis", data="{", headers={"Content-Type": "application/json"}).status_code == 400
    )
    assert apim.data["apis"] == []
    assert wso2_specs.request_errors("publisher", "/apis", "post", API) == []


def test_create_answers_201_and_rejects_duplicates_as_apim_does(client) -> None:
    created = client("POST", f"{PUBLISHER}/apis", json=API)
    assert created.status_code == 201
    assert created.json()["lifeCycleStatus"] == "CREATED"
    same = client("POST", f"{PUBLISHER}/apis", json=API)
    assert (same.status_code, same.json()["code"]) == (409, 900300)
    other_case = client("POST", f"{PUBLISHER}/apis", json={**API, "name": "httpbinapi", "version": "2.0.0"})
    assert (other_case.status_code, other_case.json()["code"]) == (409, 900250)
    same_context = client("POST", f"{PUBLISHER}/apis", json={**API, "name": "Other"})
    assert (same_context.status_code, same_context.json()["code"]) == (409, 900251)
    bad_tier = client(
        "POST", f"{PUBLISHER}/apis", json={**API, "name": "Tiered", "context": "/t", "policies": ["Nope"]}
    )
    assert (bad_tier.status_code, bad_tier.json()["code"]) == (400, 900305)
    # A new version of the same API is allowed.
    assert client("POST", f"{PUBLISHER}/apis", json={**API, "version": "2.0.0"}).status_code == 201


def test_search_by_name_is_a_case_insensitive_substring_unless_quoted(client) -> None:
    client("POST", f"{PUBLISHER}/apis", json=API)
    client("POST", f"{PUBLISHER}/apis", json={**API, "name": "HttpbinAPIv2", "context": "/httpbin2"})

    def names(query: str) -> list[str]:
        return sorted(a["name"] for a in client("GET", f"{PUBLISHER}/apis", params={"query": query}).json()["list"])

    assert names("name:HttpbinAPI") == ["HttpbinAPI", "HttpbinAPIv2"]
    assert names("name:httpbin") == ["HttpbinAPI", "HttpbinAPIv2"]
    assert names('name:"HttpbinAPI"') == ["HttpbinAPI"]
    assert names("v2") == ["HttpbinAPIv2"]
    assert names("name:nothing") == []


def test_a_published_deployed_api_is_in_the_data_api_the_devportal_and_the_events(client, apim) -> None:
    api_id = create_deploy_publish(client)
    [row] = data_api(client, "apis", gatewayLabel="Default").json()["list"]
    assert (row["uuid"], row["context"], row["status"]) == (api_id, "/httpbin/1.0.0", "PUBLISHED")
    assert {(m["httpMethod"], m["urlPattern"]): m["scopes"] for m in row["urlMappings"]}[("GET", "/ip")] == ["scope_ip"]
    assert data_api(client, "apis", gatewayLabel="Production").json()["list"] == []
    deployments = client("GET", f"{PUBLISHER}/apis/{api_id}/deployments").json()
    assert [(d["name"], d["status"]) for d in deployments] == [("Default", "APPROVED")]
    assert [a["id"] for a in client("GET", f"{DEVPORTAL}/apis").json()["list"]] == [api_id]
    assert [(topic, kind) for topic, kind, _ in apim.events] == [
        ("notification", "API_CREATE"),
        ("notification", "DEPLOY_API_IN_GATEWAY"),
        ("notification", "API_LIFECYCLE_CHANGE"),
    ]
    deploy = apim.events[1][2]
    assert (deploy["uuid"], deploy["gatewayLabels"]) == (api_id, ["Default"])
    lifecycle = apim.events[2][2]
    assert (lifecycle["apiStatus"], lifecycle["currentStatus"], lifecycle["lifecycleEvent"]) == (
        "PUBLISHED",
        "CREATED",
        "Publish",
    )


def test_runtime_artifact_follows_the_deployed_revision(client, apim) -> None:
    import io
    import zipfile

    api_id = create_deploy_publish(client)
    label = base64.b64encode(b"Default").decode()
    answer = data_api(client, "runtime-artifacts", type="Envoy", gatewayLabel=label, apiId=api_id)
    assert answer.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as outer:
        [inner_name] = [n for n in outer.namelist() if n.startswith(api_id)]
        assert inner_name == f"{api_id}-revision-1.zip"
        with zipfile.ZipFile(io.BytesIO(outer.read(inner_name))) as inner:
            dto = json.loads(inner.read("HttpbinAPI-1.0.0/api.json"))["data"]
    assert dto["endpointConfig"]["production_endpoints"]["url"] == "http://httpbin:8000"


def test_lifecycle_follows_apims_default_lifecycle(client, apim) -> None:
    api_id = client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    retire = client("POST", f"{PUBLISHER}/apis/change-lifecycle", params={"apiId": api_id, "action": "Retire"})
    assert (retire.status_code, retire.json()["code"]) == (400, 903234)
    for action, state in (
        ("Publish", "PUBLISHED"),
        ("Block", "BLOCKED"),
        ("Re-Publish", "PUBLISHED"),
        ("Deprecate", "DEPRECATED"),
        ("Retire", "RETIRED"),
    ):
        answer = client("POST", f"{PUBLISHER}/apis/change-lifecycle", params={"apiId": api_id, "action": action})
        assert answer.status_code == 200, answer.text
        assert answer.json()["workflowStatus"] == "APPROVED"
        assert client("GET", f"{PUBLISHER}/apis/{api_id}").json()["lifeCycleStatus"] == state
    revision = client("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={}).json()["id"]
    retired = client(
        "POST",
        f"{PUBLISHER}/apis/{api_id}/deploy-revision",
        params={"revisionId": revision},
        json=[{"name": "Default", "vhost": "localhost"}],
    )
    assert retired.status_code == 400
    missing = client("POST", f"{PUBLISHER}/apis/change-lifecycle", params={"apiId": "nope", "action": "Publish"})
    assert missing.status_code == 404


def test_answers_carry_every_dto_field_as_apims_jackson_writes_them(client, apim) -> None:
    """APIM's REST services write each generated DTO whole, unset fields as null, lists as [] (harness/wso2_specs
    .as_written), and read such an answer back when a client sends it (as_read): a null in an optional field is
    accepted, a null in a required one refused by bean validation."""
    api_id = client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    answer = client("GET", f"{PUBLISHER}/apis/{api_id}").json()
    declared = wso2_specs._known_properties(wso2_specs.spec("publisher"), {"$ref": "#/components/schemas/API"})
    assert set(answer) == set(declared)
    assert (answer["monetization"], answer["wsdlUrl"], answer["operations"][0]["id"]) == (None, None, None)
    [gold_item] = data_api(client, "subscription-policies", policyName="Gold").json()["list"]
    internal = wso2_specs.spec("internal-data")
    assert set(gold_item) == set(wso2_specs._known_properties(internal, {"$ref": "#/definitions/SubscriptionPolicy"}))
    assert (gold_item["rateLimitTimeUnit"], gold_item["defaultLimit"]["bandwidth"]) == (None, None)  # no burst
    policies = client("GET", f"{ADMIN}/throttling/policies/subscription").json()["list"]
    gold = next(p for p in policies if p["policyName"] == "Gold")
    assert (gold["customAttributes"], gold["permissions"], gold["monetization"]) == ([], None, None)
    url = f"{ADMIN}/throttling/policies/subscription/{gold['policyId']}"
    assert client("PUT", url, json=client("GET", url).json()).status_code == 200
    refused = client("PUT", url, json={**client("GET", url).json(), "defaultLimit": None})
    assert (refused.status_code, "defaultLimit" in refused.json()["description"]) == (400, True)


def test_update_swagger_and_delete(client, apim) -> None:
    api_id = client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    changed = copy.deepcopy(client("GET", f"{PUBLISHER}/apis/{api_id}").json())
    changed.update(description="changed", name="Renamed")
    updated = client("PUT", f"{PUBLISHER}/apis/{api_id}", json=changed)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["description"], updated.json()["name"]) == ("changed", "HttpbinAPI")
    swagger = client("GET", f"{PUBLISHER}/apis/{api_id}/swagger")
    assert set(swagger.json()["paths"]) == {"/ip", "/get"}  # the document itself, not a JSON string of it
    definition = json.dumps(
        {"openapi": "3.0.1", "info": {"title": "x", "version": "1"}, "paths": {"/uuid": {"get": {}}}}
    )
    put = client("PUT", f"{PUBLISHER}/apis/{api_id}/swagger", files={"apiDefinition": (None, definition)})
    assert put.status_code == 200, put.text
    assert [m["urlPattern"] for m in apim.data["apis"][0]["_urlMappings"]] == ["/uuid"]  # as saved
    assert client("DELETE", f"{PUBLISHER}/apis/{api_id}").status_code == 200
    assert client("GET", f"{PUBLISHER}/apis/{api_id}").status_code == 404
    assert apim.events[-1][1] == "API_DELETE"


def test_a_definition_sent_back_keeps_the_scopes_and_an_update_keeps_what_it_says_of_operations(client) -> None:
    """PUT /apis/{apiId}/swagger takes the resources' scopes from each operation's `default` requirement and the
    API's from the `default` scheme (OAS3Parser.getURITemplates, getScopes), so APIM's own definition with a request
    body laid over it changes nothing else; a PUT of the API then keeps that body (generateAPIDefinition(SwaggerData,
    String) updates only the managed fields of the operations it keeps); an undeclared scope is refused."""
    scoped = {**API, "scopes": [{"shared": False, "scope": {"name": "scope_ip", "displayName": "scope_ip",
                                                             "description": "IP", "bindings": ["admin"]}}]}  # fmt: skip
    api_id = client("POST", f"{PUBLISHER}/apis", json=scoped).json()["id"]
    definition = client("GET", f"{PUBLISHER}/apis/{api_id}/swagger").json()
    implicit = definition["components"]["securitySchemes"]["default"]["flows"]["implicit"]
    assert (implicit["scopes"], implicit["x-scopes-bindings"]) == ({"scope_ip": "IP"}, {"scope_ip": "admin"})
    body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    definition["paths"]["/get"]["get"]["requestBody"] = body
    put = client("PUT", f"{PUBLISHER}/apis/{api_id}/swagger", files={"apiDefinition": (None, json.dumps(definition))})
    assert put.status_code == 200, put.text
    api = client("GET", f"{PUBLISHER}/apis/{api_id}").json()
    assert {op["target"]: op["scopes"] for op in api["operations"]} == {"/ip": ["scope_ip"], "/get": []}
    assert [s["scope"]["bindings"] for s in api["scopes"]] == [["admin"]]
    updated = client("PUT", f"{PUBLISHER}/apis/{api_id}", json={**api, "description": "changed"})
    assert updated.status_code == 200, updated.text
    kept = client("GET", f"{PUBLISHER}/apis/{api_id}/swagger").json()["paths"]["/get"]["get"]
    assert (kept["requestBody"], kept["x-throttling-tier"]) == (body, "Unlimited")
    definition["paths"]["/get"]["get"]["security"] = [{"default": ["scope_nope"]}]
    refused = client("PUT", f"{PUBLISHER}/apis/{api_id}/swagger",
                     files={"apiDefinition": (None, json.dumps(definition))})  # fmt: skip
    assert refused.status_code == 500
    assert refused.json()["description"].endswith("Scope 'scope_nope' not found.")


def test_revision_limit_and_revision_listing(client) -> None:
    api_id = client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    for _ in range(5):
        assert client("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={}).status_code == 201
    sixth = client("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={})
    assert (sixth.status_code, sixth.json()["code"]) == (400, 900351)
    listed = client("GET", f"{PUBLISHER}/apis/{api_id}/revisions").json()
    assert [r["displayName"] for r in listed["list"]] == [f"Revision {n}" for n in range(1, 6)]
    assert client("GET", f"{PUBLISHER}/apis/{api_id}/revisions", params={"query": "deployed:true"}).json()["count"] == 0


def certificate(common_name: str, days: int = 1) -> bytes:
    """A self-signed client certificate as DER, valid for `days` from now (negative: expired)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key, now = ec.generate_private_key(ec.SECP256R1()), datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + datetime.timedelta(days=days)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.DER)


def test_client_certificates_are_added_listed_and_exported_with_the_next_revision(client, apim) -> None:
    """A certificate is uploaded to the current API and copied into the revisions made after it; the runtime
    artifact carries the deployed revision's as ExportUtils.addClientCertificatesToArchive writes them."""
    import io
    import zipfile

    api_id = create_deploy_publish(client, {**API, "securityScheme": ["oauth2", "mutualssl"]})
    other = client("POST", f"{PUBLISHER}/apis", json={**API, "name": "Other", "context": "/other"}).json()["id"]
    pem = f"-----BEGIN CERTIFICATE-----\n{base64.b64encode(certificate('alice')).decode()}\n-----END CERTIFICATE-----\n"

    def upload(api: str, alias: str, content: bytes, key_type: str | None = None, tier: str = "Gold"):
        path = f"/client-certs/{key_type}" if key_type else "/client-certificates"
        parts = {"certificate": (f"{alias}.crt", content), "alias": (None, alias), "tier": (None, tier)}
        return client("POST", f"{PUBLISHER}/apis/{api}{path}", files=parts)

    added = upload(api_id, "alice", pem.encode())
    assert (added.status_code, added.json()) == (201, {"alias": "alice", "apiId": api_id, "tier": "Gold"})
    assert upload(api_id, "bob", certificate("bob"), "sandbox", "Silver").status_code == 201  # DER, any case
    assert upload(other, "alice", certificate("x")).status_code == 409  # an alias is the tenant's, per key type
    assert upload(other, "alice", certificate("x"), "SANDBOX").status_code == 201
    assert upload(api_id, "eve", certificate("eve", days=-1)).json()["description"].endswith("Certificate Expired.")
    assert upload(api_id, "junk", b"not a certificate").status_code == 500  # CertificateException
    assert upload(api_id, "x", certificate("x"), "TEST").status_code == 400
    assert upload("no-such-api", "y", certificate("y")).status_code == 500  # not 404: the impl's catch-all
    listed = client("GET", f"{PUBLISHER}/apis/{api_id}/client-certs/SANDBOX").json()
    assert listed["certificates"] == [{"alias": "bob", "apiId": "admin-HttpbinAPI-1.0.0", "tier": "Silver"}]
    assert listed["pagination"]["total"] == 2  # the tenant's SANDBOX certificates, not the API's

    label = base64.b64encode(b"Default").decode()

    def project() -> tuple[zipfile.ZipFile, str]:
        answer = data_api(client, "runtime-artifacts", type="Envoy", gatewayLabel=label, apiId=api_id)
        outer = zipfile.ZipFile(io.BytesIO(answer.content))
        [name] = [n for n in outer.namelist() if n.endswith(".zip")]
        return zipfile.ZipFile(io.BytesIO(outer.read(name))), "HttpbinAPI-1.0.0/Client-certificates"

    inner, root = project()
    assert not [n for n in inner.namelist() if "Client-certificates" in n]  # uploaded after the deployed revision
    revision = client("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={}).json()["id"]
    deployed = client("POST", f"{PUBLISHER}/apis/{api_id}/deploy-revision", params={"revisionId": revision},
                      json=[{"name": "Default", "vhost": "localhost"}])  # fmt: skip
    assert deployed.status_code == 201, deployed.text
    inner, root = project()
    production = json.loads(inner.read(f"{root}/PRODUCTION/client_certificates.json"))
    identifier = {"providerName": "admin", "apiName": "HttpbinAPI", "version": "1.0.0", "uuid": api_id, "id": 0}
    assert production == {"type": "client_certificates", "version": "v4.5.0", "data": [
        {"alias": "alice", "certificate": "alice.crt", "tierName": "Gold", "apiIdentifier": identifier}]}  # fmt: skip
    # The stored column is the Base64 of the uploaded file, here PEM text: wrapped once more in the markers.
    crt = inner.read(f"{root}/PRODUCTION/alice.crt").decode()
    assert crt == f"-----BEGIN CERTIFICATE-----\n{base64.b64encode(pem.encode()).decode()}\n-----END CERTIFICATE-----"
    sandbox = json.loads(inner.read(f"{root}/SANDBOX/client_certificates.json"))
    assert [(c["alias"], c["tierName"]) for c in sandbox["data"]] == [("bob", "Silver")]


# -- Admin and DevPortal APIs ----------------------------------------------------------------------------------

POLICY = {"policyName": "Tiny", "displayName": "Tiny", "billingPlan": "FREE", "stopOnQuotaReach": True,
          "defaultLimit": {"type": "REQUESTCOUNTLIMIT",
                           "requestCount": {"requestCount": 5, "unitTime": 1, "timeUnit": "min"}}}  # fmt: skip
KEY_MANAGER = {"name": "WSO2-IS-7", "type": "WSO2-IS-7", "issuer": "https://is.example.com/oauth2/token",
               "certificates": {"type": "JWKS", "value": "https://is.example.com/oauth2/jwks"},
               "consumerKeyClaim": "azp", "scopesClaim": "scope", "enabled": True,
               "additionalProperties": {"Username": "admin", "Password": "is-secret"}}  # fmt: skip


def test_admin_policies_and_key_managers_are_the_data_apis_items(client, apim) -> None:
    names = {p["policyName"] for p in client("GET", f"{ADMIN}/throttling/policies/subscription").json()["list"]}
    assert {"Gold", "Silver", "Bronze", "Unlimited", "Unauthenticated"} <= names
    assert client("POST", f"{ADMIN}/throttling/policies/subscription", json=POLICY).status_code == 201
    assert client("POST", f"{ADMIN}/throttling/policies/subscription", json=POLICY).status_code == 409
    [tiny] = data_api(client, "subscription-policies", policyName="Tiny").json()["list"]
    assert tiny["defaultLimit"]["requestCount"] == {"requestCount": 5, "unitTime": 1, "timeUnit": "min"}
    created = client("POST", f"{ADMIN}/key-managers", json=KEY_MANAGER)
    assert created.status_code == 201
    assert "Password" not in created.json()["additionalProperties"]  # a connector secret is never answered
    assert client("POST", f"{ADMIN}/key-managers", json=KEY_MANAGER).json()["code"] == 901402
    known = data_api(client, "keymanagers").json()
    [km] = [k for k in known if k["name"] == "WSO2-IS-7"]
    assert km["additionalProperties"]["issuer"] == KEY_MANAGER["issuer"]
    assert [(topic, kind) for topic, kind, _ in apim.events] == [
        ("notification", "POLICY_CREATE"),
        ("keyManager", "add"),
    ]


def test_a_subscription_policy_update_replaces_all_but_its_name_and_is_published(client, apim) -> None:
    """throttlingPoliciesSubscriptionPolicyIdPut: the existing name kept, everything else as sent (a burst left out
    is removed), the data API's item changed and a SubscriptionPolicyEvent published; what APIM refuses."""
    bursty = {**POLICY, "rateLimitCount": 2, "rateLimitTimeUnit": "sec"}
    policy_id = client("POST", f"{ADMIN}/throttling/policies/subscription", json=bursty).json()["policyId"]
    url = f"{ADMIN}/throttling/policies/subscription/{policy_id}"
    created = client("GET", url).json()
    # A policy created through the admin API is stored undeployed (Policy's default; no mapping util sets it).
    assert (created["rateLimitTimeUnit"], created["isDeployed"]) == ("sec", False)
    bandwidth = {"type": "BANDWIDTHLIMIT", "bandwidth": {"dataAmount": 1, "dataUnit": "KB", "timeUnit": "min",
                                                         "unitTime": 1}}  # fmt: skip
    updated = client("PUT", url, json={**POLICY, "policyName": "Renamed", "stopOnQuotaReach": False,
                                       "defaultLimit": bandwidth})  # fmt: skip
    assert updated.status_code == 200, updated.text
    # APIM's Jackson writes the other limit kinds' fields as null (harness/wso2_specs.as_written).
    assert (updated.json()["policyName"], updated.json()["defaultLimit"]) == ("Tiny", {
        **bandwidth, "requestCount": None, "eventCount": None, "aiApiQuota": None})  # fmt: skip
    assert client("GET", url).json()["rateLimitTimeUnit"] is None
    [tiny] = data_api(client, "subscription-policies", policyName="Tiny").json()["list"]
    assert (tiny["quotaType"], tiny["defaultLimit"]["bandwidth"]["dataUnit"]) == ("bandwidthVolume", "KB")
    assert (tiny["stopOnQuotaReach"], tiny["rateLimitCount"], tiny["rateLimitTimeUnit"]) == (False, 0, None)
    topic, kind, event = apim.events[-1]
    assert (topic, kind, event["policyName"], event["policyType"]) == ("notification", "POLICY_UPDATE", "Tiny",
                                                                       "SUBSCRIPTION")  # fmt: skip
    assert "defaultLimit" not in event  # SubscriptionPolicyEvent has no limit
    ai_quota = {"type": "AIAPIQUOTALIMIT", "aiApiQuota": {"requestCount": 1, "timeUnit": "min", "unitTime": 1}}
    assert client("PUT", url, json={**POLICY, "defaultLimit": ai_quota}).json()["code"] == 900974
    assert client("GET", f"{ADMIN}/throttling/policies/subscription/no-such-id").status_code == 404
    refused = client("POST", f"{ADMIN}/throttling/policies/subscription", json={**POLICY, "policyName": "Two Words"})
    assert (refused.status_code, refused.json()["code"]) == (400, 900706)
    unbilled = {k: v for k, v in POLICY.items() if k != "billingPlan"} | {"policyName": "Unbilled"}
    events = len(apim.events)
    assert client("POST", f"{ADMIN}/throttling/policies/subscription", json=unbilled).status_code == 500
    listed = client("GET", f"{ADMIN}/throttling/policies/subscription").json()["list"]
    assert "Unbilled" in [p["policyName"] for p in listed]  # stored before addPolicy failed, ...
    assert len(apim.events) == events  # ... and never announced


APP_POLICY = {"policyName": "PerUser", "displayName": "PerUser", "description": "5 a minute, 2 a second",
              "defaultLimit": POLICY["defaultLimit"],
              "burstLimit": {"rateLimitCount": 2, "rateLimitTimeUnit": "sec"}}  # fmt: skip


def test_an_application_policy_is_checked_created_and_published_as_apims_admin_api_does(client, apim) -> None:
    """throttlingPoliciesApplicationPost: APIM's own four listed before, the name checked (900706) and unique (409);
    the policy as fromApplicationThrottlePolicyToDTO answers it, the data API's item (the burstLimit the adapter
    enforces) and the ApplicationPolicyEvent's own fields; an application can then name it."""
    url = f"{ADMIN}/throttling/policies/application"
    own = ["50PerMin", "20PerMin", "10PerMin", "Unlimited"]
    assert [p["policyName"] for p in client("GET", url).json()["list"]] == own
    created = client("POST", url, json=APP_POLICY)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert (answer["type"], answer["isDeployed"], answer["burstLimit"]) == (
        "ApplicationThrottlePolicy", False, {"rateLimitCount": 2, "rateLimitTimeUnit": "sec"})  # fmt: skip
    assert client("GET", f"{url}/{answer['policyId']}").json() == answer
    assert [p["policyName"] for p in client("GET", url).json()["list"]] == [*own, "PerUser"]
    again = client("POST", url, json={**APP_POLICY, "description": "another"})
    assert (again.status_code, again.json()["description"]) == (
        409, "Application Policy with name PerUser already exists")  # fmt: skip
    refused = client("POST", url, json={**APP_POLICY, "policyName": "Per User"})
    assert (refused.status_code, refused.json()["code"]) == (400, 900706)
    [served] = data_api(client, "application-policies", policyName="PerUser").json()["list"]
    assert (served["quotaType"], served["defaultLimit"]["requestCount"]["requestCount"], served["burstLimit"]) == (
        "requestCount", 5, {"rateLimitCount": 2, "rateLimitTimeUnit": "sec"})  # fmt: skip
    [(topic, kind, event)] = [e for e in apim.events if e[1] == "POLICY_CREATE"]
    assert (topic, kind) == ("notification", "POLICY_CREATE")
    assert event == {"policyId": served["id"], "policyName": "PerUser", "quotaType": "requestCount",
                     "rateLimitCount": 2, "rateLimitTimeUnit": "sec", "policyType": "APPLICATION"}  # fmt: skip
    app = client("POST", f"{DEVPORTAL}/applications", json={"name": "OnPerUser", "throttlingPolicy": "PerUser"})
    assert (app.status_code, app.json()["throttlingPolicy"]) == (201, "PerUser")


def test_an_application_policy_update_keeps_its_name_and_replaces_the_rest(client, apim) -> None:
    """throttlingPoliciesApplicationPolicyIdPut: an unknown id → 404; the existing name kept, the rest as sent: a
    burst left out, or without a count above 0, is removed (fromApplicationThrottlePolicyDTOToModel, and
    updateApplicationPolicy writes both columns); POLICY_UPDATE published."""
    url = f"{ADMIN}/throttling/policies/application"
    policy_id = client("POST", url, json=APP_POLICY).json()["policyId"]
    missing = client("GET", f"{url}/no-such-id")
    assert (missing.status_code, missing.json()["description"]) == (
        404, "Requested application policy with Id 'no-such-id' not found")  # fmt: skip
    assert client("PUT", f"{url}/no-such-id", json=APP_POLICY).status_code == 404
    bandwidth = {"type": "BANDWIDTHLIMIT", "bandwidth": {"dataAmount": 1, "dataUnit": "KB", "timeUnit": "min",
                                                         "unitTime": 1}}  # fmt: skip
    unbursted = {k: v for k, v in APP_POLICY.items() if k != "burstLimit"}
    renamed = {**unbursted, "policyName": "Renamed", "defaultLimit": bandwidth}
    updated = client("PUT", f"{url}/{policy_id}", json=renamed)
    assert updated.status_code == 200, updated.text
    no_burst = {"rateLimitCount": 0, "rateLimitTimeUnit": None}
    assert (updated.json()["policyName"], updated.json()["defaultLimit"], updated.json()["burstLimit"]) == (
        "PerUser", {**bandwidth, "requestCount": None, "eventCount": None, "aiApiQuota": None}, no_burst)  # fmt: skip
    [served] = data_api(client, "application-policies", policyName="PerUser").json()["list"]
    assert (served["quotaType"], served["burstLimit"]) == ("bandwidthVolume", no_burst)
    assert not data_api(client, "application-policies", policyName="Renamed").json()["list"]
    topic, kind, event = apim.events[-1]
    assert (topic, kind, event["policyId"], event["policyName"], event["quotaType"], event["rateLimitCount"]) == (
        "notification", "POLICY_UPDATE", served["id"], "PerUser", "bandwidthVolume", 0)  # fmt: skip
    assert "rateLimitTimeUnit" not in event
    no_count = {**APP_POLICY, "burstLimit": {"rateLimitCount": 0, "rateLimitTimeUnit": "min"}}
    assert client("PUT", f"{url}/{policy_id}", json=no_count).json()["burstLimit"] == no_burst


def test_applications_subscriptions_and_keys_land_in_the_data_api(client, apim) -> None:
    client("POST", f"{ADMIN}/key-managers", json=KEY_MANAGER)
    api_id = client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    app = client("POST", f"{DEVPORTAL}/applications", json={"name": "App", "throttlingPolicy": "Unlimited",
                                                             "tokenType": "OAUTH"})  # fmt: skip
    assert (app.status_code, app.json()["tokenType"]) == (201, "JWT")  # the tokenType sent is not honoured
    app_id = app.json()["applicationId"]
    same_name = client("POST", f"{DEVPORTAL}/applications", json={"name": "app", "throttlingPolicy": "Unlimited"})
    assert (same_name.status_code, same_name.json()["message"]) == (409, "Resource Already Exists")
    subscribe = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}
    # Not yet published: the API is not in the devportal, so nobody can subscribe.
    assert client("POST", f"{DEVPORTAL}/subscriptions", json=subscribe).status_code == 404
    client("POST", f"{PUBLISHER}/apis/change-lifecycle", params={"apiId": api_id, "action": "Publish"})
    other_tier = client("POST", f"{DEVPORTAL}/subscriptions", json={**subscribe, "throttlingPolicy": "Bronze"})
    assert (other_tier.status_code, other_tier.json()["code"]) == (403, 902002)  # a tier the API does not offer
    assert client("POST", f"{DEVPORTAL}/subscriptions", json=subscribe).status_code == 201
    assert client("POST", f"{DEVPORTAL}/subscriptions", json=subscribe).status_code == 409
    keys = {"keyType": "PRODUCTION", "keyManager": "WSO2-IS-7", "grantTypesToBeSupported": ["client_credentials"]}
    generated = client("POST", f"{DEVPORTAL}/applications/{app_id}/generate-keys", json=keys)
    assert generated.status_code == 200
    assert client("POST", f"{DEVPORTAL}/applications/{app_id}/generate-keys", json=keys).json()["code"] == 901409
    missing_km = client("POST", f"{DEVPORTAL}/applications/{app_id}/generate-keys", json={**keys, "keyManager": "X"})
    assert missing_km.status_code == 404
    listed = client("GET", f"{DEVPORTAL}/applications/{app_id}/oauth-keys").json()["list"]
    assert [k["consumerKey"] for k in listed] == [generated.json()["consumerKey"]]

    [row] = data_api(client, "applications").json()["list"]
    assert (row["uuid"], row["name"], row["policy"]) == (app_id, "App", "Unlimited")
    [sub] = data_api(client, "subscriptions", apiUUID=api_id, applicationUUID=app_id).json()["list"]
    assert (sub["policyId"], sub["subscriptionState"]) == ("Gold", "UNBLOCKED")
    [mapping] = data_api(client, "application-key-mappings", consumerKey=generated.json()["consumerKey"]).json()["list"]
    assert (mapping["applicationUUID"], mapping["keyManager"]) == (app_id, "WSO2-IS-7")
    assert "_consumerSecret" not in mapping
    devportal_events = ["APPLICATION_CREATE", "SUBSCRIPTIONS_CREATE", "APPLICATION_REGISTRATION_CREATE"]
    assert [kind for _, kind, _ in apim.events if kind in devportal_events] == devportal_events

    session = requests.Session()
    session.trust_env, session.verify = False, client.session.verify
    pair = (generated.json()["consumerKey"], generated.json()["consumerSecret"])
    token = session.post(apim.url + "/oauth2/token", data={"grant_type": "client_credentials"}, auth=pair, timeout=10)
    assert (token.status_code, token.json()["scope"]) == (200, "default")


def test_a_tier_change_and_an_application_update_are_applied_and_published_as_apims_devportal_does(client, apim):
    """subscriptionsSubscriptionIdPut (approved at once by the default workflow) and applicationsApplicationIdPut:
    what each refuses, what changes in the data API, and the event each publishes."""
    api_id = create_deploy_publish(client)
    app_id = client("POST", f"{DEVPORTAL}/applications", json={"name": "App", "throttlingPolicy": "Unlimited"}).json()[
        "applicationId"
    ]
    sub = client("POST", f"{DEVPORTAL}/subscriptions",
                 json={"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}).json()  # fmt: skip
    change = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold", "status": "UNBLOCKED",
              "requestedThrottlingPolicy": "Unlimited"}  # fmt: skip

    def put(subscription_id: str, body: dict) -> requests.Response:
        return client("PUT", f"{DEVPORTAL}/subscriptions/{subscription_id}", json=body)

    assert put("no-such-subscription", change).status_code == 400
    assert put(sub["subscriptionId"], {k: v for k, v in change.items() if k != "status"}).status_code == 400
    refused = put(sub["subscriptionId"], {**change, "requestedThrottlingPolicy": "Bronze"})
    assert (refused.status_code, refused.json()["code"]) == (403, 902002)  # a tier the API does not offer
    moved = put(sub["subscriptionId"], change)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["subscriptionId"], moved.json()["throttlingPolicy"], moved.json()["status"]) == (
        sub["subscriptionId"], "Unlimited", "UNBLOCKED")  # fmt: skip
    assert moved.json()["requestedThrottlingPolicy"] is None  # none pending once approved
    [served] = data_api(client, "subscriptions", apiUUID=api_id, applicationUUID=app_id).json()["list"]
    assert (served["policyId"], served["subscriptionState"]) == ("Unlimited", "UNBLOCKED")
    _, kind, event = apim.events[-1]
    assert (kind, event["policyId"], event["subscriptionUUID"]) == ("SUBSCRIPTIONS_UPDATE", "Unlimited",
                                                                    sub["subscriptionId"])  # fmt: skip

    def block(data: dict) -> None:
        data["subscriptions"][-1]["subscriptionState"] = "BLOCKED"

    apim.change(block)
    assert put(sub["subscriptionId"], {**change, "requestedThrottlingPolicy": "Gold"}).status_code == 400

    other = client("POST", f"{DEVPORTAL}/applications", json={"name": "Other", "throttlingPolicy": "Unlimited"})
    app = {"name": "App", "throttlingPolicy": "50PerMin", "description": "moved", "tokenType": "JWT"}
    assert client("PUT", f"{DEVPORTAL}/applications/{app_id}", json={**app, "name": "other"}).status_code == 409
    assert client("PUT", f"{DEVPORTAL}/applications/{app_id}", json={**app, "throttlingPolicy": "X"}).status_code == 500
    updated = client("PUT", f"{DEVPORTAL}/applications/{app_id}", json=app)
    assert (updated.status_code, updated.json()["throttlingPolicy"], updated.json()["description"]) == (
        200, "50PerMin", "moved")  # fmt: skip
    rows = {r["uuid"]: r["policy"] for r in data_api(client, "applications").json()["list"]}
    assert rows == {app_id: "50PerMin", other.json()["applicationId"]: "Unlimited"}
    _, kind, event = apim.events[-1]
    assert (kind, event["uuid"], event["applicationPolicy"]) == ("APPLICATION_UPDATE", app_id, "50PerMin")


def test_a_users_quota_reset_is_published_for_the_traffic_manager_as_apims_devportal_does(client, apim) -> None:
    """applicationsApplicationIdResetThrottlePolicyPost: the user made tenant-aware, a blank one 400, an unknown
    application 404, and POLICY_RESET (ApplicationPolicyResetEvent) with the application's numeric id as a string."""
    created = client("POST", f"{DEVPORTAL}/applications", json={"name": "App", "throttlingPolicy": "10PerMin"}).json()
    path = f"{DEVPORTAL}/applications/{created['applicationId']}/reset-throttle-policy"
    assert client("POST", path, json={"userName": " "}).status_code == 400
    assert (
        client("POST", f"{DEVPORTAL}/applications/nope/reset-throttle-policy", json={"userName": "a"}).status_code
        == 404
    )
    assert client("POST", path, json={"userName": "alice@carbon.super"}).status_code == 200
    [row] = [a for a in apim.data["applications"] if a["uuid"] == created["applicationId"]]
    _, kind, event = apim.events[-1]
    assert (kind, event["appId"], event["userId"], event["appTier"], event["policyType"]) == (
        "POLICY_RESET", str(row["id"]), "alice", "10PerMin", "APPLICATION")  # fmt: skip


def test_an_applications_subscriptions_are_listed_as_apim_45_pages_them(client) -> None:
    """Ordered by API name; `limit` rows from offset 0, and nothing past the first page (ApiMgtDAO keeps rows offset
    to limit - 1, SubscriptionMappingUtil slices them again from offset); `pagination.total` counts them all."""
    app_id = client("POST", f"{DEVPORTAL}/applications", json={"name": "App", "throttlingPolicy": "Unlimited"}).json()[
        "applicationId"
    ]
    for name in ("Zeta", "Alpha", "Mid"):
        api_id = create_deploy_publish(client, {**API, "name": name, "context": f"/{name.lower()}"})
        subscribe = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}
        assert client("POST", f"{DEVPORTAL}/subscriptions", json=subscribe).status_code == 201

    def listed(**params: int) -> tuple[list[str], int, int]:
        answer = client("GET", f"{DEVPORTAL}/subscriptions", params={"applicationId": app_id, **params}).json()
        return [s["apiInfo"]["name"] for s in answer["list"]], answer["count"], answer["pagination"]["total"]

    assert listed() == (["Alpha", "Mid", "Zeta"], 3, 3)
    assert listed(limit=2) == (["Alpha", "Mid"], 2, 3)
    assert listed(limit=2, offset=2) == ([], 0, 3)
    assert listed(limit=3, offset=1) == (["Zeta"], 1, 3)  # rows 1..2, then from 1 again


# -- the adapter's control plane follows what the product APIs do, through a real broker -------------------------


@dataclass
class Follower:
    """The double on a real broker (Qpid), a client of its product APIs, an adapter's WSO2 control plane, and a
    queue bound to the notification topic as APIM's gateways bind theirs: what a test changes through the product
    APIs, it sees arrive as events and applies to the control plane's snapshot."""

    apim: ApimDouble
    client: Client
    cp: Any
    channel: Any
    queue: str

    def events(self, count: int) -> list[Any]:
        from apim_adapter.controlplane.events import decode
        from harness.helpers import eventually

        bodies: list[bytes] = []

        def received() -> bool:
            method, _, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is not None:
                bodies.append(body)
            return len(bodies) == count

        assert eventually(received, 10), len(bodies)
        return [decode("notification", body) for body in bodies]

    def built(self) -> Any:
        import time

        from apim_adapter import catalog

        return catalog.build(self.cp.snapshot.document(time.time()))


@pytest.fixture
def follower(apim_factory, qpid, test_ca, credentials, tmp_path):
    import pika

    from apim_adapter import config
    from apim_adapter.controlplane.wso2 import Wso2ControlPlane

    apim = apim_factory(fresh_data(), amqp_url=qpid.url)
    connection = pika.BlockingConnection(pika.URLParameters(qpid.url))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "amq.topic", "notification")
    user, password = credentials
    cfg = config.parse({"controlPlane": {"type": "wso2", "url": apim.url, "caBundle": str(test_ca.ca),
                                         "usernameFile": str(user), "passwordFile": str(password),
                                         "gatewayLabel": "Default"}}, tmp_path)  # fmt: skip
    cp = Wso2ControlPlane(cfg.control_plane, cfg, min_backoff=0.05, max_backoff=0.2)
    yield Follower(apim, Client(apim, str(test_ca.ca)), cp, channel, queue)
    connection.close()


def test_the_adapter_follows_publisher_and_devportal_changes_through_the_event_hub(follower) -> None:
    import asyncio

    client = follower.client

    def act() -> tuple[str, str, str]:
        api_id = create_deploy_publish(client)
        app = {"name": "App", "throttlingPolicy": "Unlimited"}
        app_id = client("POST", f"{DEVPORTAL}/applications", json=app).json()["applicationId"]
        subscription = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Gold"}
        assert client("POST", f"{DEVPORTAL}/subscriptions", json=subscription).status_code == 201
        keys = {"keyType": "PRODUCTION", "keyManager": "Resident Key Manager", "grantTypesToBeSupported": []}
        generated = client("POST", f"{DEVPORTAL}/applications/{app_id}/generate-keys", json=keys)
        assert generated.status_code == 200, generated.text
        return api_id, app_id, generated.json()["consumerKey"]

    async def scenario() -> tuple[tuple[str, str, str], Any]:
        try:
            follower.cp.snapshot = await follower.cp.pull()  # the catalog of a new APIM
            ids = await asyncio.to_thread(act)
            events = await asyncio.to_thread(follower.events, 6)
            assert [e.type for e in events] == ["API_CREATE", "DEPLOY_API_IN_GATEWAY", "API_LIFECYCLE_CHANGE",
                                                "APPLICATION_CREATE", "SUBSCRIPTIONS_CREATE",
                                                "APPLICATION_REGISTRATION_CREATE"]  # fmt: skip
            for one in events:
                await follower.cp.apply(one)
            return ids, follower.built()
        finally:
            await follower.cp.api.close()

    (api_id, app_id, key), built = asyncio.run(scenario())
    assert [(a.name, a.context) for a in built.apis.values()] == [("HttpbinAPI", "/httpbin/1.0.0")]
    assert built.subscriptions[(app_id, api_id)].state == "UNBLOCKED"
    assert built.key_mappings[(key, "Resident Key Manager")].key_type == "PRODUCTION"


def limit(count: int) -> dict:
    return {"type": "REQUESTCOUNTLIMIT", "requestCount": {"requestCount": count, "unitTime": 1, "timeUnit": "min"}}


def header_group(count: int) -> dict:
    condition = {"type": "HEADERCONDITION", "headerCondition": {"headerName": "x-plan", "headerValue": "^gold$"}}
    return {"description": "Gold plan", "limit": limit(count), "conditions": [condition]}


ADVANCED = {"policyName": "GoldPlan", "description": "1000 a minute, 100 for gold", "defaultLimit": limit(1000),
            "conditionalGroups": [header_group(100)]}  # fmt: skip


def test_advanced_policies_are_checked_as_apims_admin_api_checks_them(client, apim) -> None:
    def post(body: dict) -> tuple[int, Any]:
        answer = client("POST", f"{ADMIN}/throttling/policies/advanced", json=body)
        return answer.status_code, answer.json()

    status, created = post(ADVANCED)
    assert (status, created["policyName"], created["isDeployed"]) == (201, "GoldPlan", False)
    assert post(ADVANCED)[0] == 409
    assert post({**ADVANCED, "policyName": "Gold-Plan"})[1]["code"] == 900706  # [A-Za-z0-9_] only
    # A condition type without its sub-object: the mapping throws, and APIM answers its generic 500.
    broken = {**ADVANCED, "policyName": "Broken", "conditionalGroups": [
        {"limit": limit(1), "conditions": [{"type": "IPCONDITION"}]}]}  # fmt: skip
    assert post(broken)[0] == 500
    # An API's own policy and its operations' must be advanced policies of the tenant.
    assert client("POST", f"{PUBLISHER}/apis", json={**API, "apiThrottlingPolicy": "Gold"}).json()["code"] == 900960
    operations = [{**op, "throttlingPolicy": "Gold"} for op in API["operations"]]
    assert client("POST", f"{PUBLISHER}/apis", json={**API, "operations": operations}).json()["code"] == 900305
    operations = [{**op, "throttlingPolicy": "GoldPlan"} for op in API["operations"]]
    assert client("POST", f"{PUBLISHER}/apis", json={**API, "operations": operations}).status_code == 201
    missing = client("GET", f"{ADMIN}/throttling/policies/advanced/no-such-id")
    assert (missing.status_code, missing.json()["code"]) == (404, 404)


def test_gateways_see_an_update_once_a_revision_of_it_is_deployed(client, apim, test_ca) -> None:
    """The data API serves the deployed revision's resources (SubscriptionValidationSQLConstants selects URL
    mappings by the deployed REVISION_UUID) and the API's security scheme as saved (getSecuritySchemeOfAPI); a
    revision is deleted only while deployed nowhere (900348), and a published API changes only with a publisher's
    scope (900380)."""
    api_id = create_deploy_publish(client)

    def served() -> tuple[set[str], str]:
        [row] = data_api(client, "apis", gatewayLabel="Default", apiId=api_id).json()["list"]
        return {m["urlPattern"] for m in row["urlMappings"]}, row["securityScheme"]

    api = client("GET", f"{PUBLISHER}/apis/{api_id}").json()
    api["operations"].append({"target": "/uuid", "verb": "GET", "authType": "Application & Application User"})
    api["securityScheme"] = ["oauth2", "api_key", "oauth_basic_auth_api_key_mandatory"]
    assert client("PUT", f"{PUBLISHER}/apis/{api_id}", json=api).status_code == 200
    assert served() == ({"/ip", "/get"}, "oauth2,api_key,oauth_basic_auth_api_key_mandatory")
    [first] = client("GET", f"{PUBLISHER}/apis/{api_id}/revisions").json()["list"]
    second = client("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={"description": "with /uuid"}).json()
    assert served()[0] == {"/ip", "/get"}  # a revision alone changes nothing
    deployment = [{"name": "Default", "vhost": "localhost", "displayOnDevportal": True}]
    deploy = client("POST", f"{PUBLISHER}/apis/{api_id}/deploy-revision", params={"revisionId": second["id"]},
                    json=deployment)  # fmt: skip
    assert deploy.status_code == 201
    assert served()[0] == {"/ip", "/get", "/uuid"}

    refused = client("DELETE", f"{PUBLISHER}/apis/{api_id}/revisions/{second['id']}")
    assert (refused.status_code, refused.json()["code"]) == (400, 900348)
    left = client("DELETE", f"{PUBLISHER}/apis/{api_id}/revisions/{first['id']}")
    assert left.status_code == 200, left.text
    assert [r["id"] for r in left.json()["list"]] == [second["id"]]
    gone = client("DELETE", f"{PUBLISHER}/apis/{api_id}/revisions/{first['id']}")
    assert (gone.status_code, gone.json()["code"]) == (404, 900347)
    creator = Client(apim, str(test_ca.ca), scopes="apim:api_view apim:api_create")
    forbidden = creator("PUT", f"{PUBLISHER}/apis/{api_id}", json=api)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, 900380)
    assert creator("DELETE", f"{PUBLISHER}/apis/{api_id}/revisions/{second['id']}").json()["code"] == 900380
    assert creator("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={}).json()["code"] == 900380


def test_a_resources_policy_comes_from_the_api_the_operation_or_the_definition_as_apim_stores_it(client, apim):
    """APIProviderImpl.validateAndUpdateURITemplates: the API's own policy on every resource where it has one, else
    the operation's, else the default (Unlimited); a definition upload sets the policies its operations name
    (`x-throttling-tier`) and resets the others; a policy APIM does not have is refused on each path."""
    assert client("POST", f"{ADMIN}/throttling/policies/advanced", json=ADVANCED).status_code == 201

    def stored(api_id: str) -> dict[str, str]:
        [item] = [a for a in apim.data["apis"] if a["uuid"] == api_id]
        return {m["urlPattern"]: m["throttlingPolicy"] for m in item["_urlMappings"]}  # as saved

    ip, get = API["operations"]
    api_id = client("POST", f"{PUBLISHER}/apis", json={**API, "operations": [{**ip, "throttlingPolicy": "GoldPlan"},
                                                                             get]}).json()["id"]  # fmt: skip
    assert stored(api_id) == {"/ip": "GoldPlan", "/get": "Unlimited"}
    api = client("GET", f"{PUBLISHER}/apis/{api_id}").json()
    assert [op["throttlingPolicy"] for op in api["operations"]] == ["GoldPlan", "Unlimited"]
    updated = client("PUT", f"{PUBLISHER}/apis/{api_id}", json={**api, "apiThrottlingPolicy": "10KPerMin"})
    assert updated.status_code == 200, updated.text
    assert stored(api_id) == {"/ip": "10KPerMin", "/get": "10KPerMin"}
    api = {k: v for k, v in updated.json().items() if k != "apiThrottlingPolicy"}
    api["operations"][0]["throttlingPolicy"] = "NoSuchPolicy"
    assert client("PUT", f"{PUBLISHER}/apis/{api_id}", json=api).json()["code"] == 900305

    def upload(tier: str) -> requests.Response:
        paths = {"/ip": {"get": {"x-throttling-tier": tier}}, "/get": {"get": {}}}
        definition = json.dumps({"openapi": "3.0.1", "info": {"title": "x", "version": "1"}, "paths": paths})
        return client("PUT", f"{PUBLISHER}/apis/{api_id}/swagger", files={"apiDefinition": (None, definition)})

    assert upload("20KPerMin").status_code == 200
    assert stored(api_id) == {"/ip": "10KPerMin", "/get": "10KPerMin"}  # the API's own policy still wins
    api = {k: v for k, v in client("GET", f"{PUBLISHER}/apis/{api_id}").json().items() if k != "apiThrottlingPolicy"}
    api["operations"] = [{k: v for k, v in op.items() if k != "throttlingPolicy"} for op in api["operations"]]
    assert client("PUT", f"{PUBLISHER}/apis/{api_id}", json=api).status_code == 200
    assert upload("GoldPlan").status_code == 200
    assert stored(api_id) == {"/ip": "GoldPlan", "/get": "Unlimited"}
    refused = upload("NoSuchPolicy")
    assert (refused.status_code, "Invalid x-throttling tier NoSuchPolicy" in refused.json()["description"]) == (
        500, True)  # fmt: skip


def test_the_adapter_follows_advanced_policies_through_the_event_hub(follower) -> None:
    """APIM's APIPolicyEvent carries the policy's name and no limits (its policyId is -1): the adapter pulls the
    policy by name, on creation and on update."""
    import asyncio

    client = follower.client

    def create() -> str:
        created = client("POST", f"{ADMIN}/throttling/policies/advanced", json=ADVANCED)
        assert created.status_code == 201, created.text
        return created.json()["policyId"]

    def tighten(policy_id: str) -> None:
        tighter = {**ADVANCED, "conditionalGroups": [header_group(10)]}
        updated = client("PUT", f"{ADMIN}/throttling/policies/advanced/{policy_id}", json=tighter)
        assert updated.status_code == 200, updated.text

    async def followed() -> tuple[Any, Any]:
        [event] = await asyncio.to_thread(follower.events, 1)
        await follower.cp.apply(event)
        return (event.type, event.data["policyId"]), follower.built()

    async def scenario() -> tuple[list[Any], list[Any]]:
        try:
            follower.cp.snapshot = await follower.cp.pull()
            policy_id = await asyncio.to_thread(create)
            created = await followed()
            await asyncio.to_thread(tighten, policy_id)
            updated = await followed()
            return [created[0], updated[0]], [created[1], updated[1]]
        finally:
            await follower.cp.api.close()

    kinds, (after_create, after_update) = asyncio.run(scenario())
    assert kinds == [("POLICY_CREATE", -1), ("POLICY_UPDATE", -1)]
    [group] = after_create.api_policies["GoldPlan"].groups
    assert group.limit.count == 100
    [group] = after_update.api_policies["GoldPlan"].groups
    assert group.limit.count == 10
    assert after_update.api_policies["GoldPlan"].limit.count == 1000


def test_the_adapter_follows_a_bandwidth_subscription_policy_through_the_event_hub(follower) -> None:
    """A bandwidth tier as the admin portal creates it (SubscriptionThrottlePolicyDTO with a BANDWIDTHLIMIT), served
    by the data API as `bandwidthVolume`: the adapter counts its limit in bytes, MB as 1024² as APIM does."""
    import asyncio

    from apim_adapter.catalog import Limit

    policy = {"policyName": "FiveMegs", "displayName": "FiveMegs", "billingPlan": "FREE", "stopOnQuotaReach": True,
              "defaultLimit": {"type": "BANDWIDTHLIMIT", "bandwidth": {
                  "dataAmount": 5, "dataUnit": "MB", "timeUnit": "min", "unitTime": 1}}}  # fmt: skip

    def create() -> None:
        created = follower.client("POST", f"{ADMIN}/throttling/policies/subscription", json=policy)
        assert created.status_code == 201, created.text

    async def scenario() -> Any:
        try:
            follower.cp.snapshot = await follower.cp.pull()
            await asyncio.to_thread(create)
            [event] = await asyncio.to_thread(follower.events, 1)
            await follower.cp.apply(event)
            return event.type, follower.built()
        finally:
            await follower.cp.api.close()

    kind, built = asyncio.run(scenario())
    assert kind == "POLICY_CREATE"
    assert built.subscription_policies["FiveMegs"].limit == Limit(5 << 20, 60, data=True)


def test_the_adapter_follows_an_application_policy_through_the_event_hub(follower) -> None:
    """An application policy created and then updated through the admin API: the adapter pulls it by the name in
    each ApplicationPolicyEvent (policyType APPLICATION) and enforces its quota and its burstLimit."""
    import asyncio

    from apim_adapter.catalog import Limit

    url = f"{ADMIN}/throttling/policies/application"

    def create() -> str:
        created = follower.client("POST", url, json=APP_POLICY)
        assert created.status_code == 201, created.text
        return created.json()["policyId"]

    def update(policy_id: str) -> None:
        sent = {**APP_POLICY, "burstLimit": {"rateLimitCount": 1, "rateLimitTimeUnit": "min"}}
        assert follower.client("PUT", f"{url}/{policy_id}", json=sent).status_code == 200

    async def scenario() -> list[Any]:
        seen = []
        try:
            follower.cp.snapshot = await follower.cp.pull()
            policy_id = await asyncio.to_thread(create)
            [created] = await asyncio.to_thread(follower.events, 1)
            await follower.cp.apply(created)
            seen.append((created.type, follower.built().application_policies["PerUser"]))
            await asyncio.to_thread(update, policy_id)
            [updated] = await asyncio.to_thread(follower.events, 1)
            await follower.cp.apply(updated)
            seen.append((updated.type, follower.built().application_policies["PerUser"]))
            return seen
        finally:
            await follower.cp.api.close()

    [(first, created), (second, updated)] = asyncio.run(scenario())
    assert (first, created.limit, created.burst) == ("POLICY_CREATE", Limit(5, 60), Limit(2, 1))
    assert (second, updated.burst) == ("POLICY_UPDATE", Limit(1, 60))


def test_an_api_with_subscriptions_cannot_be_deleted_and_sample_apis_are_in_the_publisher(apim_factory, test_ca):
    from harness.apim_double import sample_data

    apim = apim_factory(sample_data())
    client = Client(apim, str(test_ca.ca))
    [api] = client("GET", f"{PUBLISHER}/apis", params={"query": "name:HttpbinAPI"}).json()["list"]
    assert (api["id"], api["context"], api["lifeCycleStatus"]) == ("api-httpbin", "/httpbin", "PUBLISHED")
    full = client("GET", f"{PUBLISHER}/apis/api-httpbin").json()
    assert {op["target"] for op in full["operations"]} >= {"/ip", "/headers"}
    refused = client("DELETE", f"{PUBLISHER}/apis/api-httpbin")
    assert (refused.status_code, refused.json()["message"]) == (409, "Conflict")
    assert [a["uuid"] for a in apim.data["apis"]] == ["api-httpbin"]


# -- operation policies (APIM's mediation) -----------------------------------------------------------------------

POLICY_SCOPES = ALL_SCOPES + " apim:common_operation_policy_view"


@pytest.fixture
def policy_client(apim, test_ca) -> Client:
    return Client(apim, str(test_ca.ca), POLICY_SCOPES)


def common_policy_ids(client: Client) -> dict[tuple[str, str], str]:
    answer = client("GET", f"{PUBLISHER}/operation-policies")
    assert answer.status_code == 200, answer.text
    return {(p["name"], p["version"]): p["id"] for p in answer.json()["list"]}


def applied(name: str, version: str, policy_id: str | None = None, **parameters: Any) -> dict:
    """An OperationPolicyDTO as a client sends it."""
    return {"policyName": name, "policyVersion": version, "parameters": parameters} | (
        {"policyId": policy_id} if policy_id else {}
    )


def with_policies(dto: dict, api_policies: dict | None, ip_policies: dict | None) -> dict:
    """An APIDTO (a GET answer) with the API's and GET /ip's operation policies replaced."""
    body = copy.deepcopy(dto) | {"apiPolicies": api_policies}
    for op in body["operations"]:
        if (op["verb"], op["target"]) == ("GET", "/ip"):
            op["operationPolicies"] = ip_policies
    return body


def deployed_api_json(client: Client, api_id: str) -> dict:
    """The `api.json` of the API's revision deployed to Default, as the adapter reads it."""
    import io
    import zipfile

    label = base64.b64encode(b"Default").decode()
    answer = data_api(client, "runtime-artifacts", type="Envoy", gatewayLabel=label, apiId=api_id)
    with zipfile.ZipFile(io.BytesIO(answer.content)) as outer:
        [inner_name] = [n for n in outer.namelist() if n.startswith(api_id)]
        with zipfile.ZipFile(io.BytesIO(outer.read(inner_name))) as inner:
            return json.loads(inner.read("HttpbinAPI-1.0.0/api.json"))["data"]


def test_the_common_operation_policies_are_listed_paged_and_found_by_name_and_version(policy_client) -> None:
    """getAllCommonOperationPolicies: APIM 4.5's shipped specifications with ids; offset and limit page them; a
    query `name:X&version:Y` answers that one, and 404 903004 where there is none."""
    everything = policy_client("GET", f"{PUBLISHER}/operation-policies").json()
    assert everything["count"] == everything["pagination"]["total"] == len(everything["list"]) >= 5
    by_name = {(p["name"], p["version"]): p for p in everything["list"]}
    add_query_param = by_name[("addQueryParam", "v1")]
    assert (add_query_param["applicableFlows"], add_query_param["supportedApiTypes"]) == (["request"], ["HTTP"])
    assert [a["name"] for a in add_query_param["policyAttributes"]] == ["paramKey", "paramValue"]
    assert by_name[("addHeader", "v2")]["applicableFlows"] == ["request", "response", "fault"]
    assert by_name[("jsonToXML", "v1")]["policyAttributes"] == []
    assert not any(p["isAPISpecific"] for p in everything["list"])

    page = policy_client("GET", f"{PUBLISHER}/operation-policies", params={"offset": 1, "limit": 2}).json()
    assert [p["id"] for p in page["list"]] == [p["id"] for p in everything["list"][1:3]]
    assert page["pagination"] | {"next": "", "previous": ""} == {
        "offset": 1,
        "limit": 2,
        "total": everything["count"],
        "next": "",
        "previous": "",
    }

    found = policy_client("GET", f"{PUBLISHER}/operation-policies", params={"query": "name:addHeader&version:v2"})
    assert [p["id"] for p in found.json()["list"]] == [by_name[("addHeader", "v2")]["id"]]
    missing = policy_client("GET", f"{PUBLISHER}/operation-policies", params={"query": "name:addHeader&version:v9"})
    assert (missing.status_code, missing.json()["code"], missing.json()["description"]) == (
        404, 903004, "Requested api policy with name 'addHeader' and version 'v9 not found")  # fmt: skip


def test_applied_policies_are_resolved_cloned_and_answered_as_apim_stores_them(policy_client) -> None:
    """A common policy named by its id or, without one, by name and version is stored as the API's clone of it: GET
    answers the clone's id (the same on every update), policyType common, the parameters as sent and every flow;
    an operation without policies, and an API without API-level ones, answer none; a PUT without them clears them."""
    ids = common_policy_ids(policy_client)
    api_id = policy_client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    url = f"{PUBLISHER}/apis/{api_id}"
    add_header = applied("addHeader", "v2", ids[("addHeader", "v2")], headerName="X-Env", headerValue="mesh")
    remove_header = {"policyName": "removeHeader", "parameters": {"headerName": "X-Debug"}}  # v1, the DTO's default
    body = with_policies(policy_client("GET", url).json(), {"request": [add_header], "response": [add_header]},
                         {"request": [remove_header]})  # fmt: skip
    updated = policy_client("PUT", url, json=body)
    assert updated.status_code == 200, updated.text

    answer = policy_client("GET", url).json()
    [clone] = {p["policyId"] for p in answer["apiPolicies"]["request"] + answer["apiPolicies"]["response"]}
    assert clone not in ids.values()
    assert answer["apiPolicies"] == {
        "request": [{"policyName": "addHeader", "policyVersion": "v2", "policyType": "common", "policyId": clone,
                     "parameters": {"headerName": "X-Env", "headerValue": "mesh"}}],
        "response": [{"policyName": "addHeader", "policyVersion": "v2", "policyType": "common", "policyId": clone,
                      "parameters": {"headerName": "X-Env", "headerValue": "mesh"}}],
        "fault": []}  # fmt: skip
    operations = {op["target"]: op["operationPolicies"] for op in answer["operations"]}
    assert operations["/get"] is None
    assert [(p["policyName"], p["policyVersion"], p["parameters"]) for p in operations["/ip"]["request"]] == [
        ("removeHeader", "v1", {"headerName": "X-Debug"})]  # fmt: skip

    # The answer put back (the clones' ids), then the common id again: the same clone.
    assert policy_client("PUT", url, json=answer).status_code == 200
    again = with_policies(answer, {"request": [add_header]}, operations["/ip"])
    assert policy_client("PUT", url, json=again).json()["apiPolicies"]["request"][0]["policyId"] == clone

    cleared = policy_client("PUT", url, json=with_policies(answer, None, None)).json()
    assert cleared["apiPolicies"] is None
    assert all(op["operationPolicies"] is None for op in cleared["operations"])


@pytest.mark.parametrize(
    ("flow", "policy", "code", "description"),
    [
        ("response", applied("addQueryParam", "v1", paramKey="a", paramValue="b"), 902008,
         "%s policy is not allowed in response flow"),
        ("request", applied("addHeader", "v2", headerName="X-Env"), 902009,
         "Required attributes(s) %s for api policy specification %s are either missing or empty"),
        ("request", applied("removeHeader", "v1", headerName="X-Debug!"), 903212,
         "Invalid value provided for the operation policy parameter headerName"),
        ("request", applied("addHeader", "v2", headerName="X-Env", headerValue=5), 903212,
         "Invalid value provided for the operation policy parameter headerValue"),
        ("request", applied("addHeader", "v2", headerName="X-Env", headerValue=""), 903212,
         "Invalid value provided for the operation policy parameter headerValue"),
        ("request", applied("rewriteEverything", "v1"), 902005, "Selected api policy is not found"),
        ("request", applied("removeHeader", "v2", headerName="X-Debug"), 902005, "Selected api policy is not found"),
    ],
)  # fmt: skip
def test_apim_refuses_a_policy_its_specification_does_not_allow(policy_client, flow, policy, code, description):
    """validateAppliedPolicyWithSpecification and validatePolicies: 400 with the code's message and description
    (902008 and 902009 unformatted, as APIM answers them), and the API keeps what it had."""
    api_id = policy_client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    url = f"{PUBLISHER}/apis/{api_id}"
    refused = policy_client("PUT", url, json=with_policies(policy_client("GET", url).json(), None, {flow: [policy]}))
    assert (refused.status_code, refused.json()["code"], refused.json()["description"]) == (400, code, description)
    assert all(op["operationPolicies"] is None for op in policy_client("GET", url).json()["operations"])


def test_a_common_policys_id_with_another_name_is_refused_and_unrequired_attributes_are_not_checked(policy_client):
    """A common policy's id must name that policy (903211); an attribute that is not required is not validated
    (opaPolicy's sendAccessToken against ^(true|false)$), while a required one's regex matches case-insensitively."""
    ids = common_policy_ids(policy_client)
    api_id = policy_client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    url = f"{PUBLISHER}/apis/{api_id}"
    dto = policy_client("GET", url).json()
    wrong = applied("addHeader", "v2", ids[("removeHeader", "v1")], headerName="X-Env", headerValue="mesh")
    refused = policy_client("PUT", url, json=with_policies(dto, {"request": [wrong]}, None))
    assert (refused.status_code, refused.json()["code"]) == (400, 903211)
    assert refused.json()["description"] == (
        "policyName and/or policyVersion provided for the applied policy addHeader_v2 does not match the policy "
        f"specification identified by the given policyId {ids[('removeHeader', 'v1')]}")  # fmt: skip
    opa = applied("opaPolicy", "v1", serverUrl="https://opa.example.com", policy="apim", rule="allow",
                  sendAccessToken="maybe")  # fmt: skip
    accepted = policy_client("PUT", url, json=with_policies(dto, {"request": [opa]}, None))
    assert accepted.status_code == 200, accepted.text


def test_a_revision_holds_the_policies_it_was_made_with_and_the_artifact_the_deployed_ones(policy_client):
    """ApiMgtDAO.revisionAPIPolicies: a revision clones the API's policies (new ids); the runtime artifact carries
    the deployed revision's, not those saved since, until a revision of those is deployed."""
    api_id = create_deploy_publish(policy_client)
    url = f"{PUBLISHER}/apis/{api_id}"
    assert "apiPolicies" not in deployed_api_json(policy_client, api_id)
    first = applied("addHeader", "v2", headerName="X-Env", headerValue="mesh")
    ip_policies = {"request": [applied("removeHeader", "v1", headerName="X-Debug")]}
    saved = policy_client("PUT", url, json=with_policies(policy_client("GET", url).json(), {"request": [first]},
                                                         ip_policies))  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert "apiPolicies" not in deployed_api_json(policy_client, api_id)  # saved, not deployed

    revision = policy_client("POST", f"{url}/revisions", json={"description": "policies"}).json()["id"]
    deployment = [{"name": "Default", "vhost": "localhost", "displayOnDevportal": True}]
    assert policy_client("POST", f"{url}/deploy-revision", params={"revisionId": revision},
                         json=deployment).status_code == 201  # fmt: skip
    second = applied("addHeader", "v2", headerName="X-Env", headerValue="changed")
    policy_client("PUT", url, json=with_policies(policy_client("GET", url).json(), {"request": [second]}, None))

    dto = deployed_api_json(policy_client, api_id)
    [deployed] = dto["apiPolicies"]["request"]
    assert (deployed["policyName"], deployed["parameters"]) == (
        "addHeader",
        {"headerName": "X-Env", "headerValue": "mesh"},
    )
    assert dto["apiPolicies"]["response"] == dto["apiPolicies"]["fault"] == []
    assert deployed["policyId"] != saved.json()["apiPolicies"]["request"][0]["policyId"]  # the revision's clone
    operations = {op["target"]: op.get("operationPolicies") for op in dto["operations"]}
    assert [p["parameters"] for p in operations["/ip"]["request"]] == [{"headerName": "X-Debug"}]
    assert operations["/get"] is None


def test_a_revision_is_deployed_only_to_a_configured_environment_and_one_of_its_vhosts(apim_factory, test_ca) -> None:
    """ApisApiServiceImplUtils.mapAPIRevisionDeploymentWithValidation, in its order: the environment (900504), the
    vhost given (900511) and one of the environment's (900512); each a 400 in APIM's words. The double configured as
    the apim role configures APIM: `Default` on the gateway's hostname."""
    client = Client(apim_factory(fresh_data(), gateway_environments={"Default": ("api.example.com",)}), str(test_ca.ca))
    api_id = client("POST", f"{PUBLISHER}/apis", json=API).json()["id"]
    revision = client("POST", f"{PUBLISHER}/apis/{api_id}/revisions", json={}).json()["id"]

    def deploy(**deployment: str) -> requests.Response:
        return client("POST", f"{PUBLISHER}/apis/{api_id}/deploy-revision", params={"revisionId": revision},
                      json=[{"displayOnDevportal": True, **deployment}])  # fmt: skip

    refusals = [deploy(name="Production", vhost="api.example.com"), deploy(name="Default"),
                deploy(name="Default", vhost="localhost")]  # fmt: skip
    assert [(r.status_code, r.json()["code"], r.json()["description"]) for r in refusals] == [
        (400, 900504, "Gateway Environment with name 'name 'Production'' not found"),
        (400, 900511, "Gateway Environment VHOST name not provided"),
        (400, 900512, "Virtual host with provided vhost name does not exist"),
    ]
    assert client("GET", f"{PUBLISHER}/apis/{api_id}/deployments").json() == []
    deployed = deploy(name="Default", vhost="api.example.com")
    assert deployed.status_code == 201, deployed.text
    assert [(d["name"], d["vhost"]) for d in deployed.json()] == [("Default", "api.example.com")]
    # An API Product's deployment (ApiProductsApiServiceImpl.deployAPIProductRevision) checks the environment with
    # its own code (903233) and that a vhost is given, not that the environment has it.
    body = {"name": "Bundle", "context": "/bundle", "policies": ["Gold"],
            "apis": [{"apiId": api_id, "operations": [{"target": "/get", "verb": "GET"}]}]}  # fmt: skip
    product = client("POST", f"{PUBLISHER}/api-products", json=body).json()["id"]
    product_revision = client("POST", f"{PUBLISHER}/api-products/{product}/revisions", json={}).json()["id"]

    def deploy_product(name: str) -> requests.Response:
        return client("POST", f"{PUBLISHER}/api-products/{product}/deploy-revision",
                      params={"revisionId": product_revision}, json=[{"name": name, "vhost": "localhost"}])  # fmt: skip

    refused = deploy_product("Production")
    assert (refused.status_code, refused.json()["code"], refused.json()["description"]) == (
        400, 903233, "Provided gateway environment Production is not found")  # fmt: skip
    assert deploy_product("Default").status_code == 201


def test_settings_name_the_configured_gateway_environments_and_their_vhosts(apim_factory, test_ca) -> None:
    """GET /settings as a publisher reads it: each environment as EnvironmentMappingUtil writes it (validated against
    the spec at teardown), and the scopes of the Publisher API."""
    environments = {"Default": ("api.example.com",), "Internal": ("internal.example.com", "localhost")}
    client = Client(apim_factory(fresh_data(), gateway_environments=environments), str(test_ca.ca), "apim:api_view")
    settings = client("GET", f"{PUBLISHER}/settings")
    assert settings.status_code == 200, settings.text
    written = {e["name"]: (e["type"], e["gatewayType"], [v["host"] for v in e["vhosts"]])
               for e in settings.json()["environment"]}  # fmt: skip
    assert written == {"Default": ("hybrid", "Regular", ["api.example.com"]),
                       "Internal": ("hybrid", "Regular", ["internal.example.com", "localhost"])}  # fmt: skip
    assert {"apim:api_publish", "apim:api_view"} <= set(settings.json()["scopes"])
    assert "apim:app_manage" not in settings.json()["scopes"]  # the DevPortal API's, not the Publisher API's


def test_a_client_registered_by_the_admin_gets_the_admins_scopes_with_client_credentials(apim, test_ca) -> None:
    """AccessTokenIssuer makes a client_credentials token its client's owner's, and SystemScopesIssuer grants it the
    requested scopes the owner's roles allow; a grant type the client was not registered for is unauthorized."""
    with requests.Session() as session:
        session.trust_env, session.verify = False, str(test_ca.ca)

        def token(client: tuple[str, str]) -> requests.Response:
            form = {"grant_type": "client_credentials", "scope": "apim:api_view apim:api_publish not:declared"}
            return session.post(apim.url + "/oauth2/token", data=form, auth=client, timeout=10)

        granted = token(apim.register_client("exporter", "client_credentials"))
        refused = token(apim.register_client("password-only", "password refresh_token"))
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "apim:api_view apim:api_publish"  # no product API declares the third
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")


# -- DevOps API v0: per-API logging ------------------------------------------------------------------------------

DEVOPS = "/api/am/devops/v0"
LOGS = f"{DEVOPS}/tenant-logs/carbon.super/apis"
ADMIN_BASIC = "admin"  # Devops' default `auth`: the double's admin credentials


@dataclass
class Devops:
    """Calls of the DevOps API as its docs' curl samples make them: Basic credentials of the admin."""

    apim: ApimDouble
    ca: str

    def __call__(self, method: str, path: str, auth: Any = ADMIN_BASIC, **kwargs: Any) -> requests.Response:
        with requests.Session() as session:
            session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
            credentials = self.apim.admin_credentials if auth == ADMIN_BASIC else auth
            return session.request(method, self.apim.url + path, auth=credentials, verify=self.ca, timeout=10, **kwargs)


@pytest.fixture
def sample_apim(apim_factory) -> ApimDouble:
    """The sample catalog's HttpbinAPI (`api-httpbin`, /httpbin/1.0.0, GET /ip and eight more resources), and an API
    of another organization (`api-other`, /other/1.0.0, GET /menu)."""
    from harness.apim_double import sample_data

    data = sample_data()
    other = {"uuid": "api-other", "apiId": 7, "name": "OtherAPI", "version": "1.0.0", "context": "/other/1.0.0",
             "provider": "admin", "apiType": "HTTP", "status": "PUBLISHED", "organization": "other.com",
             "urlMappings": [{"httpMethod": "GET", "urlPattern": "/menu", "scopes": []}]}  # fmt: skip
    data["apis"].append(other)
    return apim_factory(data)


@pytest.fixture
def devops(sample_apim, test_ca) -> Devops:
    return Devops(sample_apim, str(test_ca.ca))


def api_row(level: str, api_id: str = "api-httpbin", context: str = "/httpbin/1.0.0", **resource: str) -> dict:
    """A LoggingApiOutputDTO as APIM writes it (no @JsonInclude: the unset method and path are null)."""
    return {"context": context, "logLevel": level, "apiId": api_id, "resourceMethod": None, "resourcePath": None,
            **resource}  # fmt: skip


def fault(status: int, code: int, message: str, description: str) -> tuple[int, dict]:
    return status, {"code": code, "message": message, "description": description, "moreInfo": "", "error": []}


def answered(response: requests.Response) -> tuple[int, Any]:
    """An answer's status and JSON body."""
    return response.status_code, response.json()


def test_the_devops_api_takes_basic_credentials_or_any_valid_token_and_checks_the_logging_permission(
    devops, sample_apim, test_ca
) -> None:
    """rest.api.devops `WEB-INF/web.xml`/`beans.xml`: OAuth, Basic and PostAuthentication interceptors (rest.api.util);
    no scope is checked under /api/am/devops (RestApiCommonUtil.getURITemplatesForBasePath), and APILoggingImpl
    checks `/permission/protected/configure/logging` after the API exists."""
    unauthenticated = fault(401, 401, "", "Unauthenticated request")
    assert answered(devops("GET", LOGS, auth=None)) == unauthenticated  # PostAuthenticationInterceptor
    assert answered(devops("GET", LOGS, auth=("admin", "wrong"))) == unauthenticated
    bad_token = devops("GET", LOGS, auth=None, headers={"Authorization": "Bearer not-a-token"})
    assert answered(bad_token) == unauthenticated
    # The admin's Basic credentials, and the admin's token whatever its scopes; with or without the template's '/'.
    assert devops("GET", LOGS).status_code == 200
    assert devops("GET", LOGS + "/").status_code == 200
    assert Client(sample_apim, str(test_ca.ca), scopes="apim:api_view")("GET", LOGS).status_code == 200
    # Another user of the user store authenticates, but lacks the permission (INVALID_PERMISSION), which is checked
    # after the API is found.
    sample_apim.set_user("alice", "alice-secret", roles=("Internal/subscriber",))
    alice = ("alice", "alice-secret")
    refused = fault(403, 900915, "Invalid Permission", " You are not authorized to access the resource.")
    assert answered(devops("GET", LOGS, auth=alice)) == refused
    assert answered(devops("PUT", f"{LOGS}/api-httpbin", auth=alice, json={"logLevel": "FULL"})) == refused
    missing = devops("PUT", f"{LOGS}/nope", auth=alice, json={"logLevel": "FULL"})
    assert answered(missing) == fault(404, 900308, "API Not Found", "Requested API with id 'nope' not found")
    assert sample_apim.events == []
    assert "_logLevel" not in sample_apim.data["apis"][0]


def test_an_apis_own_level_and_its_resources_levels_are_set_and_read_as_apims_devops_api_does(
    devops, sample_apim
) -> None:
    """TenantLogsApiServiceImpl + APILoggingImpl + LoggingMgtDAO: the PUT answers the body it was given, stores the
    level upper-cased; a GET of the API answers its own row unless resources outrank it
    (retrieveAPILoggerByAPIID); the list is every row of the tenant, OFF ones included, or those of one level."""
    put = devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "full"})
    assert answered(put) == (200, {"logLevel": "full", "resourceMethod": None, "resourcePath": None})
    assert answered(devops("GET", f"{LOGS}/api-httpbin")) == (200, {"apis": [api_row("FULL")]})
    ip = {"resourceMethod": "GET", "resourcePath": "/ip"}
    put = devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "Standard", "resourceMethod": "get",
                                                        "resourcePath": "/ip"})  # fmt: skip
    assert answered(put) == (200, {"logLevel": "Standard", "resourceMethod": "get", "resourcePath": "/ip"})
    # STANDARD does not outrank the API's FULL: the API's own row.
    assert devops("GET", f"{LOGS}/api-httpbin").json() == {"apis": [api_row("FULL")]}
    assert devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "BASIC"}).status_code == 200
    assert devops("GET", f"{LOGS}/api-httpbin").json() == {"apis": [api_row("STANDARD", **ip)]}
    headers = {"resourceMethod": "GET", "resourcePath": "/headers"}
    assert devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "FULL", **headers}).status_code == 200
    assert devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "FULL"}).status_code == 200
    # FULL always outranks, even the API's FULL.
    assert devops("GET", f"{LOGS}/api-httpbin").json() == {"apis": [api_row("FULL", **headers)]}
    # The tenant's list: the APIs' rows, then the resources'; a level in any case; another tenant's API is not in it.
    full = devops("GET", LOGS, params={"log-level": "full"}).json()
    assert full == {"apis": [api_row("FULL"), api_row("FULL", **headers)]}
    everything = devops("GET", LOGS).json()["apis"]
    assert everything[:3] == [api_row("FULL"), api_row("STANDARD", **ip), api_row("FULL", **headers)]
    assert len(everything) == 1 + len(sample_apim.data["apis"][0]["urlMappings"])
    assert {row["logLevel"] for row in everything[3:]} == {"OFF"}
    assert devops("GET", LOGS, params={"log-level": "OFF"}).json()["apis"] == everything[3:]
    other = devops("GET", f"{DEVOPS}/tenant-logs/other.com/apis").json()
    assert other == {"apis": [api_row("OFF", "api-other", "/other/1.0.0"),
                              api_row("OFF", "api-other", "/other/1.0.0", resourceMethod="GET",
                                      resourcePath="/menu")]}  # fmt: skip
    # The levels are stored apart from what the data API serves of the API.
    assert "logLevel" not in json.dumps(sample_apim.data_api("apis").json())


def test_devops_refusals_are_apims_in_apims_order(devops, sample_apim) -> None:
    """DevopsAPIUtils.validateLogLevel before the API is looked up; APILoggingImpl.addUpdateAPILogger's checks; the
    ExceptionCodes entries (LOGGING_API_*) and bean validation of LoggingApiInputDTO. Nothing is stored or
    published."""
    incorrect = fault(400, 901401, "Bad Request", "Log level should be either OFF, BASIC, STANDARD or FULL")
    assert answered(devops("PUT", f"{LOGS}/nope", json={"logLevel": "DEBUG"})) == incorrect
    assert answered(devops("GET", LOGS, params={"log-level": "DEBUG"})) == incorrect
    assert answered(devops("GET", LOGS, params={"log-level": ""})) == incorrect
    missing = fault(404, 900308, "API Not Found", "Requested API with id 'nope' not found")
    assert answered(devops("PUT", f"{LOGS}/nope", json={"logLevel": "FULL"})) == missing
    assert answered(devops("GET", f"{LOGS}/nope")) == missing
    no_resource = fault(404, 901403, "Requested Resource Not Found", "Requested API Resource Not Found")
    for method, path in (("DELETE", "/ip"), ("GET", "/ip/"), ("GET", "/IP")):  # the pattern exactly
        body = {"logLevel": "FULL", "resourceMethod": method, "resourcePath": path}
        assert answered(devops("PUT", f"{LOGS}/api-httpbin", json=body)) == no_resource
    half = fault(400, 901402, "Missing data", "API context or log level is missing")
    assert answered(devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "FULL", "resourceMethod": "GET"})) == half
    assert answered(devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "FULL", "resourcePath": "/ip"})) == half
    # An API of another organization: found by its UUID, but not the path's tenant's (checkIfAPIExists, and the
    # resource check's organization); its GET has no rows.
    not_in_tenant = fault(404, 901404, "Requested API Not Found", "Requested API Not Found")
    assert answered(devops("PUT", f"{LOGS}/api-other", json={"logLevel": "FULL"})) == not_in_tenant
    menu = {"logLevel": "FULL", "resourceMethod": "GET", "resourcePath": "/menu"}
    assert answered(devops("PUT", f"{LOGS}/api-other", json=menu)) == no_resource
    assert answered(devops("GET", f"{LOGS}/api-other")) == (200, {"apis": []})
    # Bean validation and Jackson before the impl; no body at all is the impl's NullPointerException.
    assert devops("PUT", f"{LOGS}/api-httpbin", json={}).status_code == 400
    assert devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "FULL", "level": "x"}).status_code == 400
    empty = devops("PUT", f"{LOGS}/api-httpbin", headers={"Content-Type": "application/json"})
    generic = "The server encountered an internal error. Please contact administrator."
    assert answered(empty) == fault(500, 500, "Internal server error", generic)
    assert sample_apim.events == []
    assert all("_logLevel" not in a and "_resourceLogLevels" not in a for a in sample_apim.data["apis"])


def test_a_level_set_is_published_as_apims_gson_writes_its_apievent(devops, sample_apim) -> None:
    """APILoggingImpl.publishLogAPIData: APIEvent(uuid, logLevel, UDATE_API_LOG_LEVEL, apiContext, resourceMethod,
    resourcePath), which sets no other Event field: no eventId or tenantDomain, timeStamp and tenantId 0, apiId 0;
    the resource's method as sent, the level upper-cased."""
    devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "full"})
    devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "basic", "resourceMethod": "get", "resourcePath": "/ip"})
    devops("PUT", f"{DEVOPS}/tenant-logs/other.com/apis/api-other", json={"logLevel": "OFF"})
    common = {"apiId": 0, "timeStamp": 0, "type": "UDATE_API_LOG_LEVEL", "tenantId": 0}
    assert sample_apim.events == [
        ("notification", "UDATE_API_LOG_LEVEL",
         {"uuid": "api-httpbin", "apiContext": "/httpbin/1.0.0", "logLevel": "FULL", **common}),
        ("notification", "UDATE_API_LOG_LEVEL",
         {"uuid": "api-httpbin", "apiContext": "/httpbin/1.0.0", "logLevel": "BASIC", "resourceMethod": "get",
          "resourcePath": "/ip", **common}),
        ("notification", "UDATE_API_LOG_LEVEL",
         {"uuid": "api-other", "apiContext": "/other/1.0.0", "logLevel": "OFF", **common}),
    ]  # fmt: skip


def test_the_log_level_event_is_sent_on_the_notification_topic_as_apim_sends_it(
    apim_factory, test_ca, monkeypatch
) -> None:
    """AbstractNotifier.publishEventToEventHub: the stream's `timestamp` is the event's timeStamp (0 here), `event`
    the base64 of the Gson JSON, which carries no eventId or tenantDomain. What reaches the broker is the double's
    `_publish` mapping (the event hub tests cover it on a real broker); here it is recorded instead."""
    from harness.apim_double import sample_data
    from harness.helpers import eventually

    apim = apim_factory(sample_data(), amqp_url="amqp://unused")
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(apim, "_publish", lambda topic, payload_data: sent.append((topic, payload_data)))
    body = {"logLevel": "FULL", "resourceMethod": "GET", "resourcePath": "/ip"}
    assert Devops(apim, str(test_ca.ca))("PUT", f"{LOGS}/api-httpbin", json=body).status_code == 200
    assert eventually(lambda: sent, 10)
    [(topic, data)] = sent
    assert (topic, data["eventType"], data["timestamp"]) == ("notification", "UDATE_API_LOG_LEVEL", 0)
    assert json.loads(base64.b64decode(data["event"])) == {
        "apiId": 0, "uuid": "api-httpbin", "apiContext": "/httpbin/1.0.0", "logLevel": "FULL",
        "resourceMethod": "GET", "resourcePath": "/ip", "timeStamp": 0, "type": "UDATE_API_LOG_LEVEL", "tenantId": 0,
    }  # fmt: skip


def test_api_logging_configs_serve_every_organizations_levels_but_off_apis_first(devops, sample_apim) -> None:
    """internal.service ApiLoggingConfigsApiServiceImpl → LoggingMgtDAO.retrieveAllAPILoggerList: the API rows, then
    the resource rows, of every organization, `LOG_LEVEL <> 'OFF'`; an API's own row with null method and path."""
    assert sample_apim.data_api("api-logging-configs").json() == {"apis": []}
    ip = {"logLevel": "BASIC", "resourceMethod": "GET", "resourcePath": "/ip"}
    assert devops("PUT", f"{LOGS}/api-httpbin", json=ip).status_code == 200
    assert devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "FULL"}).status_code == 200
    other = f"{DEVOPS}/tenant-logs/other.com/apis/api-other"
    assert devops("PUT", other, json={"logLevel": "STANDARD"}).status_code == 200
    api_level = {"resourceMethod": None, "resourcePath": None}
    assert sample_apim.data_api("api-logging-configs").json() == {"apis": [
        {"context": "/httpbin/1.0.0", "logLevel": "FULL", **api_level},
        {"context": "/other/1.0.0", "logLevel": "STANDARD", **api_level},
        {"context": "/httpbin/1.0.0", **ip},
    ]}  # fmt: skip
    # OFF removes a row; the endpoint needs no tenant header (the spec declares none, the impl reads every tenant's).
    assert devops("PUT", f"{LOGS}/api-httpbin", json={"logLevel": "OFF"}).status_code == 200
    assert devops("PUT", f"{LOGS}/api-httpbin", json={**ip, "logLevel": "off"}).status_code == 200
    with requests.Session() as session:
        session.trust_env = False
        bare = session.get(f"{sample_apim.url}/internal/data/v1/api-logging-configs",
                           auth=sample_apim.admin_credentials, verify=devops.ca, timeout=10)  # fmt: skip
    assert bare.json() == {"apis": [{"context": "/other/1.0.0", "logLevel": "STANDARD", **api_level}]}


def test_an_api_update_sets_its_resources_levels_back_to_off(client, apim, test_ca) -> None:
    """ApiMgtDAO.updateURITemplates deletes and re-adds an API's own URL mappings, LOG_LEVEL back to its DEFAULT
    'OFF'; the API's level stays. The resource check (CHECK_PER_API_RESOURCE_IS_AVAILABLE_LOGGING_SQL) also finds a
    revision's rows, whose level no read shows."""
    devops = Devops(apim, str(test_ca.ca))
    api_id = create_deploy_publish(client)
    get = {"resourceMethod": "GET", "resourcePath": "/get"}
    assert devops("PUT", f"{LOGS}/{api_id}", json={"logLevel": "FULL", **get}).status_code == 200
    assert devops("PUT", f"{LOGS}/{api_id}", json={"logLevel": "BASIC"}).status_code == 200
    context = "/httpbin/1.0.0"
    assert [r["logLevel"] for r in apim.data_api("api-logging-configs").json()["apis"]] == ["BASIC", "FULL"]
    dto = client("GET", f"{PUBLISHER}/apis/{api_id}").json()
    dto["operations"] = [op for op in dto["operations"] if op["target"] != "/get"]
    assert client("PUT", f"{PUBLISHER}/apis/{api_id}", json=dto).status_code == 200
    assert apim.data_api("api-logging-configs").json() == {
        "apis": [{"context": context, "logLevel": "BASIC", "resourceMethod": None, "resourcePath": None}]
    }
    # GET /get is gone from the API but not from its revision: accepted, and not listed.
    assert devops("PUT", f"{LOGS}/{api_id}", json={"logLevel": "FULL", **get}).status_code == 200
    listed = devops("GET", LOGS).json()["apis"]
    assert [(r["resourceMethod"], r["logLevel"]) for r in listed] == [(None, "BASIC"), ("GET", "OFF")]
