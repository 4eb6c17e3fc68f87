"""A real trace backend: the OpenTelemetry Collector built by `make setup` (scripts/otelcol.sh), receiving OTLP
over gRPC and HTTP on loopback and writing every span it receives to a file, one OTLP/JSON document a line."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .helpers import ROOT, wait_http
from .processes import Process, free_port


def otelcol_bin() -> str:
    found = shutil.which("otelcol-apim") or str(ROOT / ".tools" / "bin" / "otelcol-apim")
    if not os.access(found, os.X_OK):
        raise RuntimeError("otelcol-apim not found: run `make setup` (scripts/otelcol.sh builds it)")
    return found


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: int
    attributes: dict[str, Any]


@dataclass
class Collector:
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: Process | None = None
    path: Path = Path()

    def start(self, log_dir: Path) -> Collector:
        self.path = log_dir / f"spans-{self.grpc_port}.jsonl"
        config = {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"127.0.0.1:{self.grpc_port}"},
                        "http": {"endpoint": f"127.0.0.1:{self.http_port}"},
                    }
                }
            },
            "exporters": {"file": {"path": str(self.path), "flush_interval": "100ms"}},
            "service": {
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
                "telemetry": {"metrics": {"level": "none"}},  # no :8888 listener to collide with anything
            },
        }
        config_path = log_dir / f"otelcol-{self.grpc_port}.yaml"
        log_dir.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc = Process(f"otelcol-{self.grpc_port}", [otelcol_bin(), "--config", str(config_path)], log_dir)
        # The OTLP/HTTP receiver answers a GET on its traces path with 405: it is up (and so is gRPC, started first).
        wait_http(f"http://127.0.0.1:{self.http_port}/v1/traces", 30, 405, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    def spans(self) -> list[Span]:
        """Every span exported so far."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            for rs in json.loads(line).get("resourceSpans", []):
                resource = {a["key"]: _value(a["value"]) for a in rs.get("resource", {}).get("attributes", [])}
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        out.append(
                            Span(
                                service=str(resource.get("service.name", "")),
                                name=s["name"],
                                trace_id=s["traceId"],
                                span_id=s["spanId"],
                                parent_id=s.get("parentSpanId", ""),
                                kind=_kind(s.get("kind", 0)),
                                attributes={a["key"]: _value(a["value"]) for a in s.get("attributes", [])},
                            )
                        )
        return out

    def wait_for(self, predicate, timeout: float = 30) -> list[Span]:
        """The exported spans once `predicate(spans)` holds; both exporters batch (Envoy every 5 s)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                names = sorted({(s.service, s.name, s.trace_id) for s in spans})
                raise TimeoutError(f"spans not exported after {timeout}s; have {names}")
            time.sleep(0.2)

    def raw(self) -> str:
        return self.path.read_text(encoding="utf-8") if self.path.exists() else ""


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    return v


_KINDS = {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3}


def _kind(kind: int | str) -> int:
    return _KINDS.get(kind, 0) if isinstance(kind, str) else kind
