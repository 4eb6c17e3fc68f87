"""The apim_setup stage converged twice with the dev inventory against the APIM double's product REST APIs
(harness/apim_rest.py, carbon-apimgt 9.31.86's behaviour): the first run creates everything, the second changes
nothing, and what a user would then find in APIM is there.

Why here and not in tests/cluster: the role talks only to APIM over HTTPS (DCR, token, Admin, Publisher and
DevPortal APIs) and never to the Kubernetes API, so its play runs on this machine, outside the cluster tests'
network namespace, against a double started by the test on the host's loopback. The switch is the role's own
inventory variables, given as extra vars: `apim_setup_base_url` (the double's URL), `apim_setup_ca_path` (its test
CA) and the admin credentials (`apim_setup_admin_username`/`_password`); everything else is inventories/dev as a
kind user has it. A real APIM cannot run here (no Docker); this proves the requests, their order, the lookups the
role's idempotence relies on and the answers it parses, against an implementation that validates each body against
WSO2's OpenAPI specs.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from apim_double_vars import extra_vars  # tests/ansible, on sys.path as the tests' own directory

from harness import apim_rest
from harness.apim_double import ApimDouble, fresh_data, make_test_ca
from harness.helpers import run_ansible

PUBLISHER = "/api/am/publisher/v4"
DEVPORTAL = "/api/am/devportal/v3"
KEY_MANAGER = "WSO2-IS-7"  # inventories/dev: stack_key_manager_name
APPS = {"SubscribedApp": "Gold", "ThrottledApp": "Tiny", "UnsubscribedApp": None}  # inventories/dev, role defaults


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory):
    """The double, and the two runs: `playbooks/apim_setup.yml` itself, then again with the clients used."""
    directory = tmp_path_factory.mktemp("apim-setup")
    tls = make_test_ca(directory / "ca")
    double = ApimDouble(fresh_data(), tls=tls).start()
    # The role's own API (inventories/dev exports it from the httpbin Service instead:
    # test_apim_setup_exported.py).
    extra = extra_vars(double, tls, directory, apim_setup_retries=1, apim_setup_delay=0, stack_api_from_service=False)
    env = {"ANSIBLE_NOCOLOR": "1"}
    runs = []
    for playbook in ("playbooks/apim_setup.yml", "tests/ansible/apim_setup_clients.yml"):
        started = time.monotonic()
        result = run_ansible("ansible-playbook", "-i", "inventories/dev", playbook, "-e", f"@{extra}", env=env)
        assert result.returncode == 0, f"{playbook}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
        runs.append((result.stdout, time.monotonic() - started))
    yield double, tls.ca, runs
    double.stop()


def recap(stdout: str) -> dict[str, int]:
    line = re.search(r"^localhost\s*:(.*)$", stdout, re.M)
    assert line, stdout[-2000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def test_first_run_creates_everything_and_the_second_changes_nothing(converged) -> None:
    _, _, [(first, _), (second, _)] = converged
    # Key manager, subscription policy, API, revision, deployment, publish, 3 applications, 2 subscriptions, 3 keys.
    assert recap(first)["changed"] == 14, first[-4000:]
    assert recap(first)["failed"] == 0
    assert recap(second)["changed"] == 0, second[-4000:]


def test_every_request_and_answer_matched_wso2s_specs(converged) -> None:
    double, _, _ = converged
    served = [s for s in double.responses if s.operation is not None]
    assert len(served) > 20
    assert [s for s in served if s.status >= 400] == []
    for answer in served:
        apim_rest.validate_served(*answer.operation, answer.status, answer.body)


@pytest.fixture(scope="module")
def session(converged) -> requests.Session:
    double, ca, _ = converged
    out = requests.Session()
    out.trust_env = False  # REQUESTS_CA_BUNDLE would replace the test CA
    out.verify = str(ca)
    out.headers["Authorization"] = "Bearer " + double.admin_token("apim:api_view apim:subscribe apim:admin")
    return out


def test_the_api_is_published_and_deployed_to_the_gateway_environment(converged, session) -> None:
    double, _, _ = converged
    [api] = session.get(double.url + PUBLISHER + "/apis", params={"query": 'name:"HttpbinAPI"'}).json()["list"]
    assert (api["version"], api["context"], api["lifeCycleStatus"]) == ("1.0.0", "/httpbin", "PUBLISHED")
    deployments = session.get(f"{double.url}{PUBLISHER}/apis/{api['id']}/deployments").json()
    assert [(d["name"], d["vhost"], d["status"]) for d in deployments] == [("Default", "api.istio-apim.local",
                                                                            "APPROVED")]  # fmt: skip
    full = session.get(f"{double.url}{PUBLISHER}/apis/{api['id']}").json()
    assert {"Gold", "Tiny"} <= set(full["policies"])
    assert {op["target"]: op["scopes"] for op in full["operations"]}["/ip"] == ["scope_ip"]
    # What the gateways and the adapter read: the internal data API, for the environment deployed to.
    internal = session.get(f"{double.url}/internal/data/v1/apis", params={"gatewayLabel": "Default"},
                           auth=double.admin_credentials, headers={"xWSO2Tenant": "carbon.super",
                                                                   "Authorization": None})  # fmt: skip
    [row] = internal.json()["list"]
    assert (row["uuid"], row["context"], row["status"]) == (api["id"], "/httpbin/1.0.0", "PUBLISHED")
    kinds = [kind for _, kind, _ in double.events]
    assert kinds.count("DEPLOY_API_IN_GATEWAY") == 1
    assert kinds.count("API_LIFECYCLE_CHANGE") == 1


def test_the_applications_are_subscribed_with_their_tiers_and_have_keys(converged, session) -> None:
    double, _, _ = converged
    apps = {a["name"]: a for a in session.get(double.url + DEVPORTAL + "/applications").json()["list"]}
    assert set(apps) == set(APPS)
    api_id = session.get(double.url + DEVPORTAL + "/apis").json()["list"][0]["id"]
    for name, tier in APPS.items():
        app_id = apps[name]["applicationId"]
        subs = session.get(double.url + DEVPORTAL + "/subscriptions", params={"applicationId": app_id}).json()
        assert [(s["apiId"], s["throttlingPolicy"], s["status"]) for s in subs["list"]] == (
            [(api_id, tier, "UNBLOCKED")] if tier else []
        ), name
        keys = session.get(f"{double.url}{DEVPORTAL}/applications/{app_id}/oauth-keys").json()["list"]
        assert [(k["keyType"], k["keyManager"]) for k in keys] == [("PRODUCTION", KEY_MANAGER)], name
    key_managers = session.get(double.url + "/api/am/admin/v4/key-managers").json()["list"]
    assert KEY_MANAGER in {km["name"] for km in key_managers}


def test_the_exposed_clients_get_tokens_at_the_token_endpoint(converged) -> None:
    double, _, _ = converged
    mapped = {m["consumerKey"] for m in double.data["applicationKeyMappings"] if m["keyManager"] == KEY_MANAGER}
    granted = [t for t in double.products.tokens.values() if t.user is None]  # client_credentials grants
    assert sorted(t.client_id for t in granted) == sorted(mapped)
    assert len(mapped) == len(APPS)
    assert all(t.scopes == ("default",) for t in granted)


def test_the_role_never_logs_a_secret(converged) -> None:
    double, _, runs = converged
    secrets = [m["_consumerSecret"] for m in double.data["applicationKeyMappings"]] + [double.admin_credentials[1]]
    for stdout, _ in runs:
        assert not [s for s in secrets if s in stdout]
