"""Thin transports: Envoy's ext_authz over gRPC and over HTTP, both onto the same decision pipeline."""
