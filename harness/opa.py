"""A real policy engine for the "Validate Request with OPA" operation policy tests: the Open Policy Agent server
built by `make setup` (scripts/opa.sh), serving the tests' Rego modules on loopback. Its data API answers
`POST <url>/<package path>/<rule>` with `{"result": ...}`; a test changes a decision with `put_policy` instead of
restarting the server. Given a `token`, OPA answers 401 to every request without `Authorization: Bearer <token>`
(its health check aside), as an OPA deployed with token authentication does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .helpers import tool, wait_http
from .processes import Process, free_port

# The tests' modules, in this directory of OPA's working directory: OPA names a module read from a file by the path
# it was given, so `policies/<name>` is also the module's id in the policy API (`put_policy` replaces that module,
# where another id would add a second module to the same package, and its rules would conflict).
POLICIES = "policies"

# OPA's own authorization policy (data.system.authz), asked before every API call under `--authentication=token
# --authorization=basic`: token authentication makes the request's bearer token its identity (`input.identity`).
# The health check stays open, for the wait in `start`.
SYSTEM_AUTHZ = """package system.authz

default allow := false

allow if input.path == ["health"]

allow if input.identity == {token}
"""


def opa_bin() -> str:
    """The pinned build in .tools/bin, never another `opa` on PATH: its Rego and API are what versions.env says."""
    return tool("opa")


@dataclass
class OpaServer:
    token: str | None = None
    port: int = field(default_factory=free_port)
    proc: Process | None = None

    def start(self, log_dir: Path, policies: dict[str, str]) -> OpaServer:
        """OPA serving `policies` (file name → Rego source, v1 syntax), once its health check answers."""
        workdir = log_dir / f"opa-{self.port}"
        (workdir / POLICIES).mkdir(parents=True, exist_ok=True)
        for name, source in policies.items():
            if not name.endswith(".rego"):  # OPA would load it as data, or not at all
                raise ValueError(f"{name}: a policy's file name ends in .rego")
            (workdir / POLICIES / name).write_text(source)
        argv = [opa_bin(), "run", "--server", "--addr", f"127.0.0.1:{self.port}", "--log-level", "error"]
        argv += ["--skip-version-check", POLICIES]  # no look-up of OPA's latest release
        if self.token is not None:
            (workdir / "system").mkdir(exist_ok=True)
            # A Rego string literal is a JSON string.
            (workdir / "system" / "authz.rego").write_text(SYSTEM_AUTHZ.format(token=json.dumps(self.token)))
            argv += ["--authentication=token", "--authorization=basic", "system"]
        self.proc = Process(f"opa-{self.port}", argv, log_dir, cwd=workdir)
        wait_http(f"http://127.0.0.1:{self.port}/health", 30, 200, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    @property
    def url(self) -> str:
        """The data API: a rule's decision is at `<url>/<package path>/<rule>`."""
        return f"http://127.0.0.1:{self.port}/v1/data"

    @property
    def auth_headers(self) -> dict[str, str]:
        """What a request needs to be let in: the bearer token, when the server has one."""
        return {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}

    def put_policy(self, name: str, source: str) -> None:
        """Replaces the module `name` of `start`'s policies (or adds one) in the running server; its next decision
        follows. A module that does not compile is refused (OPA keeps the one it had) and raised here."""
        resp = requests.put(
            f"http://127.0.0.1:{self.port}/v1/policies/{POLICIES}/{name}",
            data=source.encode(),
            headers={"Content-Type": "text/plain", **self.auth_headers},
            timeout=5,
        )
        if resp.status_code != 200:
            raise RuntimeError(f"OPA refused policy {name}: HTTP {resp.status_code} {resp.text}")
