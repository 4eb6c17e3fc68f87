"""One version: the chart's version/appVersion and the image tags follow adapter/pyproject.toml."""

import shutil

from harness.helpers import ROOT
from scripts import check_versions


def test_the_repository_has_one_version():
    assert check_versions.disagreements() == []


def test_a_chart_left_behind_is_named(tmp_path):
    for path in check_versions.FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    pyproject = tmp_path / "adapter" / "pyproject.toml"
    version = check_versions.source_version()
    pyproject.write_text(pyproject.read_text().replace(f'version = "{version}"', 'version = "9.9.9"', 1))
    wrong = check_versions.disagreements(tmp_path)
    assert f"charts/apim-adapter/Chart.yaml appVersion: {version}" in wrong
    assert f"adapter/Dockerfile image tag: {version}" in wrong
    assert f"adapter/native/Cargo.toml version: {version}" in wrong
