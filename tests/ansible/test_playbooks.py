"""Lint, syntax and argument specs of the Ansible content (what can be checked without Docker)."""

import json

import pytest
import yaml
from local_play import run_local_play  # tests/ansible, on sys.path as the tests' own directory

from harness.helpers import ROOT, VENV_BIN, run_ansible

INVENTORIES = sorted(p.name for p in (ROOT / "inventories").iterdir() if (p / "hosts.yml").exists())


def test_ansible_lint_production_profile_passes_on_the_whole_repository() -> None:
    result = run_ansible("ansible-lint", "--offline", "--profile", "production")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def test_yamllint_passes_on_ansible_content() -> None:
    result = run_ansible("yamllint", "-s", "roles", "playbooks", "inventories", "molecule", "site.yml", ".github")
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_site_playbook_syntax_with_each_inventory(inventory: str) -> None:
    result = run_ansible("ansible-playbook", "--syntax-check", "-i", f"inventories/{inventory}", "site.yml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# Set in the same run by a role before the secured flow (apim_setup_clients: a fact of apim_setup).
RUN_TIME_INPUTS = {"secured_flow_clients"}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_the_secured_flows_inputs_resolve_in_its_own_play(inventory: str) -> None:
    """playbooks/secured_flow.yml runs the secured_flow role alone, so what an inventory gives it may read the
    inventory's variables but no other role's defaults (a tier read from apim_setup's defaults broke it once)."""
    names = sorted(
        {
            name
            for path in (ROOT / "inventories" / inventory / "group_vars").rglob("*.yml")
            for name in (yaml.safe_load(path.read_text()) or {})
            if name.startswith("secured_flow_") and name not in RUN_TIME_INPUTS
        }
    )
    if not names:
        pytest.skip(f"inventories/{inventory} gives the secured flow nothing")
    shown = "{{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}"
    result = run_ansible("ansible", "-i", f"inventories/{inventory}", "secured_flow", "-m", "debug", "-a",
                         f"msg={shown}")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# What apim_setup gives the secured flow at run time (apim_setup_clients), in the shape its argument spec takes.
RUN_TIME_CLIENTS = {name: {"client_id": "id", "client_secret": "secret"} for name in ("subscribed", "throttled",
                                                                                       "unsubscribed")}  # fmt: skip


@pytest.mark.parametrize("api_from_service", ["true", "false"])
def test_the_dev_secured_flow_passes_its_argument_spec_whatever_the_apis_source(api_from_service: str) -> None:
    """The kind workflow runs the dev inventory with the API exported from the Service and with apim_setup creating
    it (STACK_API_FROM_SERVICE, stack.yml); either way the secured flow's role, with its defaults, takes what the
    inventory gives it. A row the inventory leaves out is null, not {}: an empty dict fails its options' required
    keys (as the OPA row's did on kind)."""
    result = run_ansible("ansible-playbook", "-i", "inventories/dev", "playbooks/secured_flow.yml", "--check",
                         "--tags", "never", "-e", json.dumps({"secured_flow_clients": RUN_TIME_CLIENTS}),
                         env={"STACK_API_FROM_SERVICE": api_from_service})  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Validating arguments against arg spec 'main'" in output, output[-3000:]  # it ran: --tags never spares it


# What apim_setup requires, for the cases that test one of its other variables.
APIM_SETUP_REQUIRED = {
    "apim_setup_base_url": "https://x",
    "apim_setup_admin_password": "x",
    "apim_setup_key_manager": {"name": "k", "issuer": "i", "base_url": "b", "username": "u", "password": "p"},
}
# A role given a missing or mistyped variable stops before its first task with the spec's message.
BAD_VARS = [
    (
        "kind_cluster",
        {
            "kind_cluster_version": "v0.31.0",
            "kind_cluster_node_image": "x",
            "kind_cluster_kubeconfig": "/tmp/k",
            "kind_cluster_config_dir": "/tmp",
            "kind_cluster_state": "running",
        },
        "kind_cluster_state must be one of",
    ),
    ("istio", {"istio_kubeconfig": "/tmp/k"}, "missing required arguments: istio_version"),
    (
        "istio",
        {
            "istio_kubeconfig": "/tmp/k",
            "istio_version": "1.31.4",
            "istio_ext_authz_providers": [{"name": "a", "service": "s", "port": "grpc"}],
        },
        "port",
    ),
    (
        "pki",
        {
            "pki_dir": "/tmp/p",
            "pki_keystores": [
                {
                    "name": "a",
                    "server": "a",
                    "format": "jceks",
                    "keystore_file": "k",
                    "truststore_file": "t",
                    "password": "p",
                    "secret": {},
                }
            ],
        },
        "format must be one of",
    ),
    (
        "identity_server",
        {
            "identity_server_kubeconfig": "/tmp/k",
            "identity_server_chart_version": "7.1.0-1",
            "identity_server_hostname": "is",
        },
        "identity_server_admin_password",
    ),
    (
        "apim",
        {
            "apim_kubeconfig": "/tmp/k",
            "apim_chart_version": "4.5.0-10",
            "apim_hostname": "am",
            "apim_gateway_hostname": "gw",
            "apim_admin_password": "x",
            "apim_keystore_password": "x",
            "apim_databases": {"type": "h2"},
        },
        "apim_db",
    ),
    ("analytics", {"analytics_kubeconfig": "/tmp/k", "analytics_enabled": "sometimes"}, "analytics_enabled"),
    ("httpbin", {"httpbin_kubeconfig": "/tmp/k"}, "missing required arguments: httpbin_chart_path"),
    # debug would log request bodies, the caller's JWT among them.
    (
        "local_opa",
        {"local_opa_state_dir": "/tmp/o", "local_opa_token": "t", "local_opa_log_level": "debug"},
        "local_opa_log_level must be one of",
    ),
    (
        "apim_adapter",
        {
            "apim_adapter_kubeconfig": "/tmp/k",
            "apim_adapter_chart_path": "/tmp/c",
            "apim_adapter_key_managers": "WSO2-IS-7",
        },
        "apim_adapter_key_managers",
    ),
    (
        "apim_setup",
        {
            **APIM_SETUP_REQUIRED,
            "apim_setup_subscription_policies": [
                {"name": "Tiny", "request_count": 5, "unit_time": 1, "time_unit": "week"}
            ],
        },
        "time_unit must be one of",
    ),
    (
        "apim_setup",
        {
            **APIM_SETUP_REQUIRED,
            "apim_setup_subscription_policies": [
                {"name": "Huge", "data_amount": 5, "data_unit": "GB", "unit_time": 1, "time_unit": "min"}
            ],
        },
        "data_unit must be one of",
    ),
    (
        "apim_setup",
        {
            **APIM_SETUP_REQUIRED,
            "apim_setup_application_policies": [
                {
                    "name": "PerUser",
                    "request_count": 5,
                    "unit_time": 1,
                    "time_unit": "min",
                    "burst": {"count": 1, "time_unit": "hour"},
                }
            ],
        },
        "time_unit must be one of: sec, min",
    ),
    (
        "apim_setup",
        {
            **APIM_SETUP_REQUIRED,
            "apim_setup_api": {
                "name": "A",
                "version": "1",
                "context": "/a",
                "endpoint_url": "http://b",
                "gateway_environment": "D",
                "vhost": "v",
                "tiers": [],
                "scopes": [],
                "resources": [{"target": "/ip", "verb": "GET"}],
                "operation_policies": {
                    "operations": [{"target": "/ip", "verb": "GET", "request": [{"version": "v2"}]}]
                },
            },
        },
        "missing required arguments: name",
    ),
]


@pytest.mark.parametrize(
    ("role", "bad_vars", "message"), BAD_VARS, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BAD_VARS)]
)
def test_role_rejects_bad_variables_with_its_argument_spec(tmp_path, role: str, bad_vars: dict, message: str) -> None:
    result = _run_role_in_check_mode(tmp_path, role, bad_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Validation of arguments failed" in output, output[-3000:]
    assert message in output, output[-3000:]


def _run_role_in_check_mode(tmp_path, role: str, extra_vars: dict):
    playbook = tmp_path / "play.yml"
    playbook.write_text(f"- hosts: localhost\n  gather_facts: false\n  roles: [{role}]\n")
    return run_local_play(playbook, extra_vars, "--check")


def test_identity_server_refuses_the_revocation_listener_without_its_jar(tmp_path) -> None:
    extra = {
        "identity_server_kubeconfig": "/tmp/k",
        "identity_server_chart_version": "7.1.0-1",
        "identity_server_hostname": "is",
        "identity_server_admin_password": "x",
        "identity_server_keystore_password": "x",
        "identity_server_apim_notification": {"enabled": True, "endpoint": "https://apim/notify"},
    }
    result = _run_role_in_check_mode(tmp_path, "identity_server", extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the stock wso2/wso2is image does not have it" in output, output[-3000:]


def test_helm_release_shows_helms_error_and_never_the_values(tmp_path) -> None:
    # A cluster that refuses connections (loopback port 1): helm fails, and the user must see why.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    playbook = tmp_path / "play.yml"
    helm = ROOT / ".tools" / "bin" / "helm"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n"
        f"  module_defaults: {{group/kubernetes.core.helm: {{binary_path: '{helm}'}}}}\n"
        "  roles: [helm_release]\n"
    )
    extra = {
        "helm_release_name": "demo",
        "helm_release_chart_ref": str(ROOT / "charts" / "httpbin"),
        "helm_release_namespace": "demo",
        "helm_release_kubeconfig": str(kubeconfig),
        "helm_release_values": {"adminPassword": "not-for-the-log-4217"},
        "ansible_python_interpreter": str(VENV_BIN / "python"),
    }
    result = run_local_play(playbook, extra, TMPDIR=str(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "127.0.0.1:1" in output, output[-3000:]
    assert "censored" not in output
    assert "not-for-the-log-4217" not in output
    assert not list(tmp_path.rglob("*.values.yaml")), "the values file is removed after a failure too"
