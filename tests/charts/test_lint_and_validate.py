"""Every chart, with every values file in its ci/ folder, lints strictly and renders objects that are valid
against the pinned Kubernetes version's schemas and the pinned Istio / Prometheus Operator CRD schemas."""

import pytest
from chart_helpers import CHART_NAMES, CHARTS, lint, render
from crd_schemas import schema_errors

CI_VALUES = [(chart, path) for chart in CHART_NAMES for path in sorted((CHARTS / chart / "ci").glob("*-values.yaml"))]
CI_IDS = [f"{chart}/{path.name}" for chart, path in CI_VALUES]


def test_every_chart_has_ci_values():
    for chart in CHART_NAMES:
        names = {path.name for c, path in CI_VALUES if c == chart}
        assert {"default-values.yaml", "all-enabled-values.yaml"} <= names, chart


@pytest.mark.parametrize(("chart", "values_file"), CI_VALUES, ids=CI_IDS)
def test_lint_strict(chart, values_file):
    result = lint(chart, "-f", str(values_file))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("chart", "values_file"), CI_VALUES, ids=CI_IDS)
def test_rendered_objects_match_schemas(chart, values_file):
    objects = render(chart, files=(values_file,))
    assert objects, "nothing rendered"
    errors = {f"{o['kind']}/{o['metadata']['name']}": schema_errors(o) for o in objects}
    assert not {name: errs for name, errs in errors.items() if errs}


def test_crd_schemas_reject_unknown_and_mistyped_fields():
    """The generated CRD schemas are strict: without that, the validation above would prove little."""
    policy = {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "p"},
        "spec": {"action": "CUSTOM", "provider": {"name": "apim-adapter"}, "rules": [{}]},
    }
    assert schema_errors(policy) == []
    assert schema_errors({**policy, "spec": {**policy["spec"], "provder": {"name": "x"}}})
    assert schema_errors({**policy, "spec": {**policy["spec"], "action": "CUSTOMISED"}})
    assert schema_errors({**policy, "spec": {**policy["spec"], "rules": [{"to": [{"operation": {"paths": "/a"}}]}]}})


def test_kubernetes_schemas_are_strict():
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "appProtocol": "http"}]},
    }
    assert schema_errors(service) == []
    assert schema_errors({**service, "spec": {"ports": [{"port": 80, "appProtocl": "http"}]}})
    assert schema_errors({**service, "spec": {"ports": [{"port": "eighty"}]}})
