"""The Publisher API client of the export direction against the APIM double over TLS: tokens (DCR + password grant,
kept until they expire, renewed on a 401), the listing, the plans applied, APIM's refusals in its own words; no
token in any message; the client credentials grant of a client the admin registered; `check`, what the probe asks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from apim_adapter.meshsync.export import (
    ApiPlan,
    Port,
    Service,
    Settings,
    Step,
    definition,
    plan_export,
    plan_removal,
    spec,
)
from apim_adapter.meshsync.publisher import Credentials, Publisher, PublisherError
from harness.apim_double import ApimDouble, fresh_data, make_test_ca

SETTINGS = Settings("Default")
DOC = "openapi: 3.0.1\ninfo: {title: t, version: v}\npaths: {/get: {get: {responses: {'200': {description: ok}}}}}\n"
ANNOTATIONS = {"apim.istio-apim.io/expose": "true", "apim.istio-apim.io/context": "/orders",
               "apim.istio-apim.io/version": "1.0.0", "apim.istio-apim.io/openapi-configmap": "o"}  # fmt: skip


@pytest.fixture
def apim(tmp_path: Path):
    double = ApimDouble(fresh_data(), tls=make_test_ca(tmp_path / "ca")).start()
    yield double
    double.stop()


def publisher(apim: ApimDouble, tmp_path: Path, credentials: Credentials | None = None) -> Publisher:
    user = Credentials(user=lambda: apim.admin_credentials)
    return Publisher(apim.url, credentials or user, str(tmp_path / "ca" / "ca.crt"))


def run(coro):
    return asyncio.run(coro)


async def export(client: Publisher, version: str = "1.0.0", existing: str | None = None, **more: str) -> str:
    """Export the Service (with `more` annotations), planned against the API `existing` names as APIM holds it."""
    annotations = {**ANNOTATIONS, "apim.istio-apim.io/version": version,
                   **{f"apim.istio-apim.io/{k.replace('_', '-')}": v for k, v in more.items()}}  # fmt: skip
    want = spec(Service("shop", "orders", annotations, (Port("http", 80),)), SETTINGS)
    text, digest = definition(DOC)
    try:
        held = await client.api(existing) if existing else None
        deployed = await client.deployed_to(existing) if existing else []
        return await client.apply(plan_export(want, text, digest, held, deployed, SETTINGS), "Default", "localhost", 5)
    finally:
        await client.close()


def test_a_plan_creates_deploys_and_publishes_with_a_registered_client(apim: ApimDouble, tmp_path: Path) -> None:
    api_id = run(export(publisher(apim, tmp_path)))
    [api] = [a for a in apim.data["apis"] if a["uuid"] == api_id]
    assert (api["status"], api["_gatewayLabels"], len(api["_revisions"])) == ("PUBLISHED", ["Default"], 1)
    assert not [s for s in apim.responses if s.status >= 400]
    assert len(apim.products.tokens) == 1  # one token for every call of the plan


def test_a_security_scheme_named_on_the_service_reaches_what_the_adapter_reads(apim: ApimDouble, tmp_path) -> None:
    """The scheme goes in with the API, and a changed one with an update and a revision; the internal data API's
    single-API answer (what the adapter reads with apiKeys on) carries it, as APIM stores it."""
    scheme = "oauth2,api_key,oauth_basic_auth_api_key_mandatory"
    api_id = run(export(publisher(apim, tmp_path), security_scheme=scheme))

    def served() -> str:
        answer = apim.data_api("apis", gatewayLabel="Default", apiId=api_id)
        return answer.json()["list"][0]["securityScheme"]

    assert served() == scheme
    assert run(export(publisher(apim, tmp_path), existing=api_id, security_scheme="api_key")) == api_id
    assert served() == "api_key"
    [api] = [a for a in apim.data["apis"] if a["uuid"] == api_id]
    assert len(api["_revisions"]) == 2
    assert not [s for s in apim.responses if s.status >= 400]


def test_at_the_revision_limit_the_oldest_idle_revision_makes_room(apim: ApimDouble, tmp_path: Path) -> None:
    """APIM keeps a limited number of revisions per API (900351 beyond it) and deletes only a revision deployed
    nowhere (900348): each new revision past the limit replaces the oldest idle one, and the newest is deployed."""
    api_id = run(export(publisher(apim, tmp_path)))

    async def revise_three_times() -> None:
        client = publisher(apim, tmp_path)
        try:
            for _ in range(3):
                await client.apply(ApiPlan(api_id, "orders 1.0.0", [Step("revise")]), "Default", "localhost", 2)
        finally:
            await client.close()

    run(revise_three_times())
    [api] = [a for a in apim.data["apis"] if a["uuid"] == api_id]
    assert [r["displayName"] for r in api["_revisions"]] == ["Revision 3", "Revision 4"]
    assert api["_deployments"][0]["revisionUuid"] == api["_revisions"][-1]["id"]
    assert not [s for s in apim.responses if s.status >= 400]


def test_listing_reading_and_retiring(apim: ApimDouble, tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[str], str]:
        client = publisher(apim, tmp_path)
        try:
            api_id = await export(publisher(apim, tmp_path))
            listed = [a["id"] for a in await client.apis()]
            deployed = await client.deployed_to(api_id)
            api = await client.api(api_id)
            await client.apply(plan_removal(api, SETTINGS), "Default", "localhost", 5)
            return listed, deployed, (await client.api(api_id))["lifeCycleStatus"]
        finally:
            await client.close()

    listed, deployed, status = run(scenario())
    assert len(listed) == 1
    assert (deployed, status) == (["Default"], "RETIRED")


def test_a_revoked_token_is_renewed_once(apim: ApimDouble, tmp_path: Path) -> None:
    async def scenario() -> int:
        client = publisher(apim, tmp_path)
        try:
            await client.apis()
            apim.products.tokens.clear()  # APIM forgot it (a restart): the next call answers 401
            return len(await client.apis())
        finally:
            await client.close()

    assert run(scenario()) == 0
    assert len(apim.products.tokens) == 1


def test_apims_refusal_in_its_own_words_and_no_token_in_it(apim: ApimDouble, tmp_path: Path) -> None:
    run(export(publisher(apim, tmp_path)))
    client = publisher(apim, tmp_path)
    with pytest.raises(PublisherError) as raised:
        run(export(client))  # the same name and version again
    assert raised.value.status == 409
    assert str(raised.value).startswith("APIM answered 409 to POST /api/am/publisher/v4/apis: ")
    issued = len(apim.products.tokens)
    token = run(client.token())  # the token the refused call carried, still held
    assert len(apim.products.tokens) == issued
    assert token not in str(raised.value)


def test_wrong_user_credentials_are_reported(apim: ApimDouble, tmp_path: Path) -> None:
    client = publisher(apim, tmp_path, Credentials(user=lambda: ("admin", "wrong")))
    with pytest.raises(PublisherError, match=r"APIM answered 401 to POST /client-registration/v0\.17/register"):
        run(export(client))


def faked(answers: list[tuple[int, bytes]]) -> Publisher:
    """A client whose APIM answers `answers` in order, for what the double cannot be made to answer: a broken token
    endpoint, a user whose roles APIM maps to fewer scopes than export asks for (the double's admin holds all)."""
    client = Publisher("https://apim.invalid", Credentials(client=lambda: ("id", "secret")))

    async def answer(method: str, path: str, **kwargs) -> tuple[int, bytes]:
        return answers.pop(0)

    client._raw = answer  # type: ignore[method-assign]
    return client


def test_a_token_answer_without_a_token_is_reported_not_raised_raw(tmp_path: Path) -> None:
    """A token endpoint answering 200 without `access_token` (or not JSON) is a PublisherError, which the export
    reports and retries like any refusal, instead of an exception no caller expects."""
    client = faked([(200, b'{"token_type": "Bearer"}'), (200, b"<html>")])
    for expected in ("no access_token", "Expecting value"):
        with pytest.raises(PublisherError, match=f"POST /oauth2/token: .*{expected}"):
            run(client.token())


def registered_client(apim: ApimDouble, grant_types: str) -> Credentials:
    """A client registered by DCR with the admin's credentials (as an operator registers one for
    exportServices.clientIdFile), for `grant_types`."""
    client = apim.register_client(f"export-{grant_types.replace(' ', '-')}", grant_types)
    return Credentials(client=lambda: client)


def test_a_client_of_the_admin_exports_with_the_client_credentials_grant(apim: ApimDouble, tmp_path: Path) -> None:
    """exportServices.clientIdFile: the client's token is its owner's, with the scopes the owner's roles allow
    (AccessTokenIssuer, SystemScopesIssuer), so the whole plan runs on it."""
    client = publisher(apim, tmp_path, registered_client(apim, "client_credentials"))
    api_id = run(export(client))
    [api] = [a for a in apim.data["apis"] if a["uuid"] == api_id]
    assert (api["status"], api["_gatewayLabels"]) == ("PUBLISHED", ["Default"])
    assert client.refused_calls() == []


def test_a_client_not_registered_for_client_credentials_is_refused_in_apims_words(
    apim: ApimDouble, tmp_path: Path
) -> None:
    client = publisher(apim, tmp_path, registered_client(apim, "password refresh_token"))
    with pytest.raises(PublisherError, match=r"^APIM answered 400 to POST /oauth2/token: The authenticated client "
                                             r"is not authorized to use this authorization grant type$"):  # fmt: skip
        run(export(client))


def test_check_finds_what_export_needs(apim: ApimDouble, tmp_path: Path) -> None:
    run(export(publisher(apim, tmp_path)))

    async def check(environment: str, vhost: str) -> str:
        client = publisher(apim, tmp_path)
        try:
            return await client.check(environment, vhost)
        finally:
            await client.close()

    assert run(check("Default", "localhost")) == (
        "a token that may make every call export makes; gateway environment 'Default' serves vhost 'localhost'; 1 APIs"
    )
    with pytest.raises(PublisherError, match=r"^APIM has no gateway environment 'Production' \(it has: Default\)$"):
        run(check("Production", "localhost"))
    with pytest.raises(PublisherError, match=r"^APIM's gateway environment 'Default' has no vhost 'gw\.example' "
                                             r"\(it has: localhost\)$"):  # fmt: skip
        run(check("Default", "gw.example"))
    assert not [s for s in apim.responses if s.status >= 400]  # nothing asked that APIM refused


def test_export_to_a_vhost_apim_does_not_have_is_refused_in_its_words(apim: ApimDouble, tmp_path: Path) -> None:
    async def deploy_to(vhost: str) -> None:
        client = publisher(apim, tmp_path)
        want = spec(Service("shop", "orders", ANNOTATIONS, (Port("http", 80),)), SETTINGS)
        text, digest = definition(DOC)
        try:
            await client.apply(plan_export(want, text, digest, None, [], SETTINGS), "Default", vhost, 5)
        finally:
            await client.close()

    with pytest.raises(PublisherError, match=r"APIM answered 400 to POST /api/am/publisher/v4/apis/[^/]+/"
                                             r"deploy-revision: Virtual host with provided vhost name does not "
                                             r"exist$"):  # fmt: skip
        run(deploy_to("gw.example"))


def test_a_token_without_exports_scopes_is_named_by_check_and_by_a_refused_call() -> None:
    """APIM drops the requested scopes the user's roles are not mapped to (SystemScopesIssuer.getScopes) and answers
    a call the token lacks the scope for 401, as it does an invalid token (OAuthAuthenticationInterceptor)."""
    fewer = (200, b'{"access_token": "t", "expires_in": 3600, "scope": "apim:api_view default"}')
    lacking = ("its token may not create and update APIs; make and deploy revisions; publish, deprecate and retire "
               "APIs; delete APIs (granted: apim:api_view default): APIM grants only the scopes its client's owner's "
               "roles are mapped to (Admin Portal, Settings, Scope Assignments)")  # fmt: skip
    with pytest.raises(PublisherError) as raised:
        run(faked([fewer]).check("Default", "localhost"))
    assert str(raised.value) == lacking
    refused = (401, b'{"code": 401, "message": "", "description": "Unauthenticated request"}')
    with pytest.raises(PublisherError) as raised:
        run(faked([fewer, refused, fewer, refused]).lifecycle("id", "Publish"))
    assert str(raised.value) == (
        "APIM answered 401 to POST /api/am/publisher/v4/apis/change-lifecycle: Unauthenticated request: " + lacking
    )


def test_any_one_of_a_calls_scopes_will_do() -> None:
    """APIM lets a call through with any one of its resource's scopes (publisher-api.yaml lists them): APIM's default
    creator and publisher roles (tenant-conf.json) make every call of export without apim:api_manage; without
    apim:api_delete as well, deleting is what they may not do."""

    def refused(scopes: str) -> list[str]:
        client = faked([(200, json.dumps({"access_token": "t", "scope": scopes}).encode())])
        run(client.token())
        return client.refused_calls()

    assert refused("apim:api_view apim:api_create apim:api_publish apim:api_delete") == []
    assert refused("apim:api_view apim:api_create apim:api_publish") == ["delete APIs"]
    assert refused("apim:api_view apim:api_create apim:api_manage apim:api_publish apim:api_delete") == []
