"""JSON schemas of the CRDs the charts render, generated from the upstream CRDs at the pinned versions.

The CRDs come through the Go module proxy (`go mod download`), the only route to them here, and the
generated schemas are cached under .cache/, so nothing large is committed. Kubernetes prunes unknown fields
instead of rejecting them; like `kubeconform -strict`, the generated schemas reject them, so a misspelt
field fails the test instead of vanishing silently on the cluster. CEL rules (`x-kubernetes-validations`)
are not evaluated.
"""

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from chart_helpers import KUBERNETES_VERSION

from harness.helpers import ROOT, version

CACHE = ROOT / ".cache" / "chart-schemas"

# module, version key in versions.env, CRD files inside the module
SOURCES = {
    "istio": ("istio.io/api", "ISTIO_VERSION", ["kubernetes/customresourcedefinitions.gen.yaml"]),
    "gateway-api": (
        "sigs.k8s.io/gateway-api",
        "GATEWAY_API_VERSION",
        [
            f"config/crd/standard/gateway.networking.k8s.io_{kind}.yaml"
            for kind in ("gatewayclasses", "gateways", "httproutes", "referencegrants")
        ],
    ),
    "prometheus-operator": (
        "github.com/prometheus-operator/prometheus-operator",
        "PROMETHEUS_OPERATOR_VERSION",
        [
            f"example/prometheus-operator-crd/monitoring.coreos.com_{kind}.yaml"
            for kind in ("servicemonitors", "podmonitors", "prometheusrules")
        ],
    ),
}

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def module_dir(module: str, version: str) -> Path:
    env = {**os.environ, "GOFLAGS": "-mod=mod"}
    go_version = "v" + version.removeprefix("v")  # ISTIO_VERSION is written without the v
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{go_version}"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"go mod download {module}@{version} failed:\n{result.stdout}{result.stderr}")
    return Path(json.loads(result.stdout)["Dir"])


# Keywords whose values are data, not schemas.
DATA_KEYWORDS = {"enum", "required", "default", "example", "x-kubernetes-validations"}


def strict(node):
    """Copy of an openAPIV3Schema where objects with declared properties reject undeclared ones,
    and int-or-string fields accept both."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: strict(schema) for name, schema in value.items()}
        else:
            out[key] = value if key in DATA_KEYWORDS else strict(value)
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def object_schema(crd_version: dict, kind: str, api_version: str) -> dict:
    schema = strict(crd_version["schema"]["openAPIV3Schema"])
    schema["properties"] = {
        **schema.get("properties", {}),
        "apiVersion": {"const": api_version},
        "kind": {"const": kind},
        "metadata": {"type": "object"},
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    schema["additionalProperties"] = False
    return schema


def generate(name: str) -> dict[str, dict]:
    module, version_key, files = SOURCES[name]
    root = module_dir(module, version(version_key))
    schemas = {}
    for file in files:
        for crd in yaml.load_all((root / file).read_text(), Loader=Loader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for crd_version in crd["spec"]["versions"]:
                api_version = f"{group}/{crd_version['name']}"
                schemas[f"{api_version}/{kind}"] = object_schema(crd_version, kind, api_version)
    return schemas


def crd_schemas() -> dict[str, dict]:
    """`<group>/<version>/<Kind>` -> JSON schema, for every CRD source, cached per pinned version."""
    schemas = {}
    for name, (_, version_key, files) in SOURCES.items():
        # Keyed by the files read too: a CRD added to SOURCES must not be missing from an older cache.
        files_digest = hashlib.sha256("\n".join(files).encode()).hexdigest()[:12]
        cached = CACHE / f"{name}-{version(version_key)}-{files_digest}.json"
        if not cached.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(generate(name)))
        schemas.update(json.loads(cached.read_text()))
    return schemas


@functools.cache
def crd_validator(key: str) -> jsonschema.Draft7Validator | None:
    schema = crd_schemas().get(key)
    return jsonschema.Draft7Validator(schema) if schema else None


def schema_errors(obj: dict) -> list[str]:
    """Why a rendered object is invalid for its CRD or for the pinned Kubernetes version (empty: valid)."""
    group_version = obj["apiVersion"]
    validator = crd_validator(f"{group_version}/{obj['kind']}")
    if validator:
        return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {group_version} {obj['kind']} in Kubernetes {KUBERNETES_VERSION} or the CRDs"]
    return []
