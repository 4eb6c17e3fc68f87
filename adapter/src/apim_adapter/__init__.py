"""Envoy ext_authz v3 server enforcing WSO2 API Manager policies in an Istio mesh."""

__version__ = "0.1.0"
