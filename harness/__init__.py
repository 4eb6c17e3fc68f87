"""Test harness shared by the test suites and the benchmarks: real processes (Envoy, httpbin, the adapter),
real keys and a real JWKS endpoint. Nothing here is a mock of what can run on this machine."""
