"""The Publisher API client of the export direction against the APIM double over TLS: tokens (DCR + password grant,
kept until they expire, renewed on a 401), the listing, the plans applied, APIM's refusals in its own words; no
token in any message. (The client credentials grant is not exercised: the double grants such tokens only the
`default` scope, which no Publisher operation accepts.)"""

from __future__ import annotations

import asyncio
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


def test_a_token_answer_without_a_token_is_reported_not_raised_raw(tmp_path: Path) -> None:
    """A token endpoint answering 200 without `access_token` (or not JSON) is a PublisherError, which the export
    reports and retries like any refusal, instead of an exception no caller expects."""
    client = Publisher("https://apim.invalid", Credentials(client=lambda: ("id", "secret")))

    async def answer(method: str, path: str, **kwargs) -> tuple[int, bytes]:
        return 200, answers.pop(0)

    client._raw = answer  # type: ignore[method-assign]
    answers = [b'{"token_type": "Bearer"}', b"<html>"]
    for expected in ("no access_token", "Expecting value"):
        with pytest.raises(PublisherError, match=f"POST /oauth2/token: .*{expected}"):
            run(client.token())
