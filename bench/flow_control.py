"""A client that never opens its HTTP/2 flow-control window, against the adapter's gRPC port: does the adapter keep
its answers without bound?

    .venv/bin/python -m bench.flow_control [--calls 25000] [--before DIR]

The client (python-h2, one connection) sets its streams' initial window to 0, so the adapter may send the HEADERS
of each answer but not its DATA; it ignores the adapter's SETTINGS_MAX_CONCURRENT_STREAMS and sends `--calls`
Check calls, each an unauthenticated request (a 401 denial: an answer with a body). Every 5,000 calls: how many
the adapter refused (REFUSED_STREAM), whether it ended the connection (GOAWAY), and its RSS. h2 keeps every answer
a window holds back, so without a bound on the calls open on a connection the RSS grows with the calls
(adapter/native/src/grpc.rs, `MAX_CALLS_PER_CONNECTION`). `--before DIR`: the adapter runs with DIR first on its
PYTHONPATH (another copy of apim_adapter and/or apim_adapter_native), as `bench.ab --before` does.
Recorded figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import yaml

from harness import oidc
from harness.adapter_process import AdapterProcess
from harness.grpc_wire import CHECK_HEADERS, framed
from harness.pipeline import check_request
from harness.processes import rss_mib
from harness.sample_catalog import KM, catalog_document

from .extauthz import environment

REPORT_EVERY = 5000


class ZeroWindowClient:
    """One HTTP/2 connection whose streams' window stays 0, reading (and acknowledging the settings) on a thread."""

    def __init__(self, port: int):
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        zero = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=zero)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.lock = threading.Lock()
        self.refused = 0
        self.ended: str | None = None
        with self.lock:
            self.conn.initiate_connection()
            self.sock.sendall(self.conn.data_to_send())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(OSError, h2.exceptions.ProtocolError):  # the connection ended
            self._read_until_closed()
        self.ended = self.ended or "closed"

    def _read_until_closed(self) -> None:
        while data := self.sock.recv(1 << 20):
            with self.lock:
                for event in self.conn.receive_data(data):
                    if isinstance(event, h2.events.StreamReset):
                        self.refused += 1
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        self.ended = f"GOAWAY {event.error_code!r} {event.additional_data!r}"
                    elif isinstance(event, h2.events.RemoteSettingsChanged):  # ignore the server's stream limit
                        self.conn.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = 2**31 - 1
                        self.conn.remote_settings.acknowledge()
                out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)

    def call(self, message: bytes) -> None:
        with self.lock:
            stream = self.conn.get_next_available_stream_id()
            self.conn.send_headers(stream, CHECK_HEADERS)
            if self.conn.local_flow_control_window(stream) >= len(message):
                self.conn.send_data(stream, message, end_stream=True)
            out = self.conn.data_to_send()
        self.sock.sendall(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=25_000)
    parser.add_argument("--before", help="a directory put first on the adapter's PYTHONPATH")
    args = parser.parse_args(argv)
    message = framed(check_request("made-up").SerializeToString())
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        workdir = Path(tmp)
        jwks = oidc.JwksServer([oidc.SigningKey("RS256")])
        (workdir / "catalog.yaml").write_text(yaml.safe_dump(catalog_document()))
        config = {
            "keyManagers": [{"name": KM, "issuer": jwks.issuer, "jwksUri": jwks.url}],
            "controlPlane": {"type": "file", "path": str(workdir / "catalog.yaml")},
            "analytics": {"enabled": False},
        }
        pythonpath = os.pathsep.join(p for p in (args.before, os.environ.get("PYTHONPATH")) if p)
        with environment(PYTHONPATH=pythonpath):
            adapter = AdapterProcess(workdir, config)
        try:
            adapter.wait_ready()
            pid = adapter.proc.proc.pid
            client = ZeroWindowClient(adapter.grpc_port)
            print(f"{'calls':>7} {'refused':>8} {'RSS MiB':>8}  connection")
            print(f"{0:>7} {0:>8} {rss_mib(pid):>8.1f}  open")
            for sent in range(1, args.calls + 1):
                try:
                    client.call(message)
                except (OSError, h2.exceptions.ProtocolError):  # the adapter ended the connection (seen by h2 first)
                    break
                if sent % REPORT_EVERY == 0:
                    time.sleep(0.2)  # the adapter's answers to the last calls
                    print(f"{sent:>7} {client.refused:>8} {rss_mib(pid):>8.1f}  {client.ended or 'open'}")
            time.sleep(0.2)
            print(f"{sent:>7} {client.refused:>8} {rss_mib(pid):>8.1f}  {client.ended or 'open'} (last)")
        finally:
            adapter.stop()
            jwks.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
