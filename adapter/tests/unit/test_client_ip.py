"""The client address in analytics: the one the gateway established, never the entry the caller wrote.

Envoy with `use_remote_address` (istiod's gateway setting) appends the peer it saw to `x-forwarded-for`; with
`xff_num_trusted_hops` = N (meshConfig `numTrustedProxies`) it trusts N proxies in front of it.
"""

from __future__ import annotations

import pytest

from apim_adapter.config import ConfigError, parse
from apim_adapter.transport.grpc import client_ip

CONFIG = {
    "keyManagers": [{"name": "IS7", "issuer": "https://is/oauth2/token", "jwksUri": "https://is/oauth2/jwks"}],
    "controlPlane": {"type": "file", "path": "catalog.yaml"},
}


def test_a_forged_leftmost_entry_is_ignored_without_trusted_proxies():
    headers = {"x-forwarded-for": "6.6.6.6, 203.0.113.7"}  # the caller wrote 6.6.6.6; Envoy appended its peer
    assert client_ip(headers, "10.0.0.5") == "203.0.113.7"


@pytest.mark.parametrize(
    ("xff", "trusted", "expected"),
    [
        ("6.6.6.6, 198.51.100.9, 10.0.0.1", 1, "198.51.100.9"),  # one load balancer in front of the gateway
        ("198.51.100.9, 10.0.0.2, 10.0.0.1", 2, "198.51.100.9"),
        ("10.0.0.1", 3, "10.0.0.1"),  # fewer hops than trusted proxies: the farthest one known
        (" 203.0.113.7 ,, ", 0, "203.0.113.7"),
    ],
)
def test_the_client_is_counted_from_the_right_by_trusted_hops(xff, trusted, expected):
    assert client_ip({"x-forwarded-for": xff}, "10.0.0.5", trusted) == expected


def test_without_forwarded_for_envoys_external_address_then_the_peer():
    assert client_ip({"x-envoy-external-address": "203.0.113.7"}, "10.0.0.5") == "203.0.113.7"
    assert client_ip({}, "10.0.0.5") == "10.0.0.5"


def test_num_trusted_proxies_is_a_request_setting_defaulting_to_zero():
    assert parse(CONFIG).request.num_trusted_proxies == 0
    assert parse({**CONFIG, "request": {"numTrustedProxies": 2}}).request.num_trusted_proxies == 2
    with pytest.raises(ConfigError, match=r"request\.numTrustedProxies: must be at least 0"):
        parse({**CONFIG, "request": {"numTrustedProxies": -1}})
