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


def source_version() -> str:
    return tomllib.loads((REPO / "adapter" / "pyproject.toml").read_text())["project"]["version"]


def found_versions() -> list[tuple[str, str]]:
    """(where, version) for every copy of the version in the repository."""
    chart = yaml.safe_load((REPO / "charts" / "apim-adapter" / "Chart.yaml").read_text())
    found = [
        ("charts/apim-adapter/Chart.yaml version", str(chart["version"])),
        ("charts/apim-adapter/Chart.yaml appVersion", str(chart["appVersion"])),
    ]
    tag = re.compile(re.escape(IMAGE) + r":([0-9][\w.+-]*)")
    for path in ("charts/apim-adapter/Chart.yaml", "adapter/Dockerfile"):
        text = (REPO / path).read_text()
        found += [(f"{path} image tag", match) for match in tag.findall(text)]
    prod = yaml.safe_load((REPO / "inventories/prod/group_vars/all/zz_production.yml").read_text())
    found.append(("inventories/prod apim_adapter_image.tag", str(prod["apim_adapter_image"]["tag"])))
    return found


def main() -> int:
    version = source_version()
    wrong = [f"{where}: {found}" for where, found in found_versions() if found != version]
    if wrong:
        print(f"adapter/pyproject.toml says {version}, but:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
