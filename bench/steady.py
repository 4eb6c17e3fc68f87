"""An open-loop HTTP/1.1 load generator: a fixed request rate over a few keep-alive connections.

wrk has no rate control and measures latency from the moment it actually writes a request, so a slow answer
silently delays the requests behind it (coordinated omission). Here request i is *scheduled* at
t0 + i / rate on connection i mod N, and its latency runs from the scheduled time whenever the connection was
still busy with the previous answer at that time. When the connection was idle, latency runs from the actual
send, so the generator's own timer slack (time.sleep overshoot, the GIL) never counts as server latency.
One blocking thread per connection: at 1,000 req/s the GIL is free far more than it is held.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass


@dataclass
class SteadyResult:
    rate: float  # achieved requests/s
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int  # answers other than 200, and broken connections
    behind: float  # share of requests that waited for a busy connection

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one response (Content-Length framed) from sock; return its status."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by peer")
        buf += chunk
    head = bytes(buf[:end]).split(b"\r\n")
    status = int(head[0].split(b" ", 2)[1])
    length = 0
    for line in head[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    total = end + 4 + length
    while len(buf) < total:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by peer")
        buf += chunk
    del buf[:total]
    return status


def run(
    port: int, path: str, headers: dict[str, str], rate: float, seconds: float, connections: int = 4
) -> SteadyResult:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    request += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    payload = request.encode()
    total = int(rate * seconds)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors, behind = [0] * connections, [0] * connections
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(connections)]
    for s in socks:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter() + 0.05
    last_done = [t0] * connections

    def connection(k: int) -> None:
        sock, buf, lat, prev_done = socks[k], bytearray(), latencies[k], 0.0
        for i in range(k, total, connections):
            scheduled = t0 + i / rate
            wait = scheduled - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            sent = time.perf_counter()
            start = scheduled if prev_done > scheduled else sent
            behind[k] += prev_done > scheduled
            try:
                sock.sendall(payload)
                status = _read_response(sock, buf)
            except OSError:
                errors[k] += total // connections
                return
            prev_done = time.perf_counter()
            errors[k] += status != 200
            lat.append(prev_done - start)
        last_done[k] = prev_done

    threads = [threading.Thread(target=connection, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    values = sorted(v * 1000 for lat in latencies for v in lat)
    elapsed = max(last_done) - t0
    return SteadyResult(
        rate=len(values) / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(values, 0.50),
        p90_ms=percentile(values, 0.90),
        p99_ms=percentile(values, 0.99),
        max_ms=values[-1] if values else float("nan"),
        requests=len(values),
        errors=sum(errors),
        behind=sum(behind) / max(1, total),
    )
