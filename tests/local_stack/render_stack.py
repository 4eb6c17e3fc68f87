"""Rendering the local stack's generated files, for the fixtures and for tests that change a variable, and reading the
rendered gateway's Envoy configuration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.helpers import ROOT, run_ansible


def render_local_stack(out: Path, **extra_vars: object) -> subprocess.CompletedProcess[str]:
    """The local stack's generated files rendered into `out` from inventories/local, with `extra_vars` over it."""
    return run_ansible(
        "ansible-playbook",
        "-i",
        ROOT / "inventories/local",
        "-e",
        f"render_dir={out}",
        "-e",
        json.dumps(extra_vars),
        Path(__file__).with_name("render.yml"),
    )


def listener(config: dict, name: str = "gateway") -> dict:
    """The rendered Envoy configuration's listener `name` (`gateway`, or `gateway_https`)."""
    [found] = [x for x in config["static_resources"]["listeners"] if x["name"] == name]
    return found


def connection_manager(config: dict, name: str = "gateway") -> dict:
    """That listener's HTTP connection manager settings (one filter chain, one filter)."""
    [chain] = listener(config, name)["filter_chains"]
    [hcm] = chain["filters"]
    return hcm["typed_config"]


def routes(config: dict) -> list[dict]:
    """The plain HTTP listener's routes (the HTTPS one has the same)."""
    [vhost] = connection_manager(config)["route_config"]["virtual_hosts"]
    return vhost["routes"]


def ext_authz(config: dict) -> dict:
    """The gateway's ext_authz filter settings, the first of its HTTP filters (the HTTPS listener has the same)."""
    return connection_manager(config)["http_filters"][0]["typed_config"]
