"""Benchmarks (not tests): the adapter against a trivial ext_authz server behind the same real Envoy."""
