"""Envoy ext_authz v3 server enforcing WSO2 API Manager policies in an Istio mesh."""

from importlib.metadata import version

# The one version source is adapter/pyproject.toml (scripts/check_versions.py holds the chart and image to it).
__version__ = version("apim-adapter")
