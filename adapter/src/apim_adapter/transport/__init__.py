"""Thin transports: Envoy's ext_authz over gRPC and over HTTP, both onto the same decision pipeline."""

from __future__ import annotations

from ..config import ConfigError


def chosen(setting: str, choice: str, compiled: object, fallback: str) -> str:
    """The transport a `server.*Transport` setting asks for: `compiled` where adapter/native provides it (`compiled`
    is its class, None when not installed), else `fallback`; asking for `compiled` without it is a config error."""
    if choice == "compiled" and compiled is None:
        raise ConfigError(
            f"server.{setting}: compiled, but apim-adapter-native (with this transport) is not installed "
            f"(adapter/native; `auto` falls back to {fallback})"
        )
    return fallback if choice == fallback or compiled is None else "compiled"
