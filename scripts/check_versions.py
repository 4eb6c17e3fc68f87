"""One version for the whole project: adapter/pyproject.toml's `project.version` is the source; the adapter's
`--version` reads it from the installed package, and this check (run by `make lint`) fails when the chart's
`version`/`appVersion` or the image tags written in the repository say otherwise. To release: change pyproject's
version, run `make lint`, and update every place it names.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
IMAGE = "ghcr.io/istio-apim/apim-adapter"


FILES = (
    "adapter/pyproject.toml",
    "adapter/native/pyproject.toml",
    "adapter/native/Cargo.toml",
    "charts/apim-adapter/Chart.yaml",
    "adapter/Dockerfile",
    "inventories/prod/group_vars/all/zz_production.yml",
)


def source_version(repo: Path = REPO) -> str:
    return tomllib.loads((repo / "adapter" / "pyproject.toml").read_text())["project"]["version"]


CHART_APP_VERSION_LOOKUP = re.compile(r"charts/apim-adapter/Chart\.yaml'\)[^}]*\)\.appVersion")


def found_versions(repo: Path = REPO) -> list[tuple[str, str]]:
    """(where, version) for every copy of the version in the repository."""
    chart = yaml.safe_load((repo / "charts" / "apim-adapter" / "Chart.yaml").read_text())
    found = [
        ("charts/apim-adapter/Chart.yaml version", str(chart["version"])),
        ("charts/apim-adapter/Chart.yaml appVersion", str(chart["appVersion"])),
    ]
    for path, table in (("adapter/native/pyproject.toml", "project"), ("adapter/native/Cargo.toml", "package")):
        found.append((f"{path} version", tomllib.loads((repo / path).read_text())[table]["version"]))
    tag = re.compile(re.escape(IMAGE) + r":([0-9][\w.+-]*)")
    for path in ("charts/apim-adapter/Chart.yaml", "adapter/Dockerfile"):
        text = (repo / path).read_text()
        found += [(f"{path} image tag", match) for match in tag.findall(text)]
    prod = yaml.safe_load((repo / "inventories/prod/group_vars/all/zz_production.yml").read_text())
    prod_tag = str(prod["apim_adapter_image"]["tag"])
    if not CHART_APP_VERSION_LOOKUP.search(prod_tag):  # a tag read from the chart's appVersion is no copy
        found.append(("inventories/prod apim_adapter_image.tag", prod_tag))
    return found


def disagreements(repo: Path = REPO) -> list[str]:
    version = source_version(repo)
    return [f"{where}: {found}" for where, found in found_versions(repo) if found != version]


def main() -> int:
    wrong = disagreements()
    if wrong:
        print(f"adapter/pyproject.toml says {source_version()}, but:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
