"""values.schema.json turns unknown and mistyped values into install-time errors, in both charts."""

import pytest
from chart_helpers import lint, template

INVALID = {
    "apim-adapter": [
        ("unknown top-level key", {"replicas": 3}),
        ("misspelt nested key", {"image": {"repo": "x"}}),
        ("mistyped port", {"containerPorts": {"grpc": "8081"}}),
        ("port out of range", {"service": {"ports": {"grpc": 70000}}}),
        ("unknown config section", {"config": {"profiling": {"enabled": True}}}),
        (
            "key manager without issuer",
            {"config": {"keyManagers": [{"name": "km", "jwksUri": "https://k/jwks"}]}},
        ),
        (
            "key manager with neither JWKS nor introspection",
            {"config": {"keyManagers": [{"name": "km", "issuer": "i"}]}},
        ),
        (
            "unknown key manager key",
            {"config": {"keyManagers": [{"name": "km", "issuer": "i", "jwksUri": "https://k/jwks", "jwks": "x"}]}},
        ),
        (
            "introspection without url",
            {"config": {"keyManagers": [{"name": "km", "issuer": "i", "introspection": {"cacheSeconds": 5}}]}},
        ),
        (
            "JWKS refresh of zero seconds",
            {
                "config": {
                    "keyManagers": [{"name": "km", "issuer": "i", "jwksUri": "https://k", "jwksRefreshSeconds": 0}]
                }
            },
        ),
        ("listener set in config (chart-owned)", {"config": {"server": {"grpc": {"port": 9000}}}}),
        (
            "access log listener set in config (chart-owned)",
            {"config": {"analytics": {"accessLogService": {"enabled": True, "port": 18091}}}},
        ),
        ("access log port out of range", {"containerPorts": {"accessLog": 0}}),
        ("access log provider name with capitals", {"istio": {"accessLogService": {"providerName": "ALS"}}}),
        (
            "access log provider listed twice",
            {"istio": {"accessLogService": {"telemetry": {"otherProviders": ["envoy", "envoy"]}}}},
        ),
        ("zero workers", {"config": {"server": {"workers": 0}}}),
        ("poll period below 50 ms", {"config": {"controlPlane": {"type": "file", "pollSeconds": 0.01}}}),
        (
            "event hub over HTTP",
            {"config": {"controlPlane": {"type": "wso2", "url": "https://a", "eventHub": {"url": "https://a"}}}},
        ),
        ("mistyped gateway label", {"config": {"controlPlane": {"type": "file", "gatewayLabel": 1}}}),
        (
            "redis timeout of zero",
            {"config": {"rateLimit": {"backend": "redis", "redis": {"url": "redis://r", "timeoutSeconds": 0}}}},
        ),
        ("unknown request key", {"config": {"request": {"stripAuthorization": True}}}),
        ("mistyped token size", {"config": {"request": {"maxTokenBytes": "8k"}}}),
        ("symmetric backend JWT algorithm", {"config": {"backendJwt": {"algorithm": "HS256"}}}),
        ("introspection secret key typo", {"introspectionCredentials": {"client-id": "x"}}),
        (
            "HMAC algorithm",
            {
                "config": {
                    "keyManagers": [{"name": "km", "issuer": "i", "jwksUri": "https://k/jwks", "algorithms": ["HS256"]}]
                }
            },
        ),
        ("unknown control plane", {"config": {"controlPlane": {"type": "etcd"}}}),
        ("wso2 control plane without url", {"config": {"controlPlane": {"type": "wso2"}}}),
        ("redis backend without redis", {"config": {"rateLimit": {"backend": "redis"}}}),
        ("timeout Istio cannot parse", {"istio": {"extensionProvider": {"timeout": "500ms"}}}),
        ("numeric statusOnError", {"istio": {"extensionProvider": {"statusOnError": 503}}}),
        ("provider name with capitals", {"istio": {"extensionProvider": {"name": "APIM"}}}),
        ("Istio path with inner wildcard", {"istio": {"authorizationPolicy": {"excludedPaths": ["/a/*/b"]}}}),
        ("numeric gateway label", {"istio": {"authorizationPolicy": {"selector": {"istio": 1}}}}),
        ("bad image digest", {"image": {"digest": "latest"}}),
        ("unknown catalog list", {"catalog": {"inline": {"products": []}}}),
        ("bad log level", {"config": {"logging": {"level": "VERBOSE"}}}),
        ("negative trusted proxies", {"config": {"request": {"numTrustedProxies": -1}}}),
        (
            "file-only key on the wso2 control plane",
            {"config": {"controlPlane": {"type": "wso2", "url": "https://a", "pollSeconds": 1}}},
        ),
        ("secret value instead of a file", {"config": {"rateLimit": {"redis": {"url": "redis://r", "password": "x"}}}}),
        ("secret value typo", {"caBundle": {"ca.crt": "PEM"}}),
    ],
    "httpbin": [
        ("unknown top-level key", {"replicas": 2}),
        ("mistyped service port", {"service": {"port": "8000"}}),
        ("context without leading slash", {"apiContexts": ["httpbin"]}),
        ("context with trailing slash", {"apiContexts": ["/httpbin/"]}),
        ("no context", {"apiContexts": []}),
        ("unknown mTLS mode", {"peerAuthentication": {"mode": "DISABLE_PLEASE"}}),
        ("tier header with capitals", {"tierRouting": {"header": "X-APIM-Tier"}}),
        ("v2 as a bare boolean", {"v2": True}),
    ],
}

CASES = [(chart, values) for chart, cases in INVALID.items() for _, values in cases]
IDS = [f"{chart}: {name}" for chart, cases in INVALID.items() for name, _ in cases]


@pytest.mark.parametrize(("chart", "values"), CASES, ids=IDS)
def test_invalid_values_are_rejected_by_the_schema(chart, values):
    result = template(chart, values=values, check=False)
    assert result.returncode != 0, f"accepted: {values}"
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


@pytest.mark.parametrize("chart", INVALID)
def test_lint_rejects_invalid_values_too(chart):
    result = lint(chart, "--set", "unknownValue=1")
    assert result.returncode != 0
    assert "unknownValue" in result.stdout + result.stderr
