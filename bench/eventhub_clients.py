"""Benchmark: AMQP clients for APIM's event hub, against a real Qpid Broker-J and the double of Andes' handshake.

    .venv/bin/python -m bench.eventhub_clients            # ~1 minute
    .venv/bin/python -m bench.eventhub_clients --messages 2000 --connects 5

For each client: can it consume at all (Andes sends no `capabilities`), the time from nothing to consuming all
five topics (connection, channel, five queues bound and consumed; median of --connects runs), and the messages per
second it consumes and acknowledges from one topic (a publisher thread sends --messages APIM notifications).
The adapter's client is measured through its own listener (apim_adapter.controlplane.eventhub). Figures and the
choice they support: docs/wso2-control-plane.md, "Choosing the AMQP client".
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import aio_pika
import pika

from apim_adapter.controlplane.eventhub import EventHubListener, connection_parameters
from apim_adapter.controlplane.events import DECODERS, EXCHANGE
from harness.andes_double import AndesDouble
from harness.qpid import PASSWORD, USER, QpidBroker


def notification(i: int) -> bytes:
    event = base64.b64encode(json.dumps({"uuid": f"app-{i}", "applicationId": i}).encode()).decode()
    payload = {"eventType": "APPLICATION_UPDATE", "timestamp": int(time.time() * 1000), "event": event}
    return json.dumps({"event": {"payloadData": payload}}).encode()


def publish(url: str, count: int) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for i in range(count):
        channel.basic_publish(EXCHANGE, "notification", notification(i))
    connection.close()


async def pika_listener(url: str, user: str, password: str, count: int) -> tuple[float, float]:
    """(seconds to consuming, messages/s) through the adapter's own listener."""
    connected, received = asyncio.Event(), [0]
    done = asyncio.Event()

    def on_event(_event) -> None:
        received[0] += 1
        if received[0] == count:
            done.set()

    params = connection_parameters(url, user, password, None, 10, 30)
    listener = EventHubListener(params, on_event, connected.set, timeout=10)
    started = time.perf_counter()
    task = asyncio.ensure_future(listener.run())
    try:
        await asyncio.wait_for(connected.wait(), 30)
        ready = time.perf_counter() - started
        if not count:
            return ready, 0.0
        publisher = threading.Thread(target=publish, args=(publish_url(url, user, password), count))
        sent = time.perf_counter()
        publisher.start()
        await asyncio.wait_for(done.wait(), 120)
        rate = count / (time.perf_counter() - sent)
        publisher.join()
        return ready, rate
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def aio_pika_consumer(url: str, user: str, password: str) -> float:
    """Seconds to consuming all topics with aio-pika, configured for a consumer (no publisher confirms)."""
    started = time.perf_counter()
    connection = await aio_pika.connect(publish_url(url, user, password), timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=False)
        exchange = await channel.get_exchange(EXCHANGE, ensure=False)
        for topic in DECODERS:
            queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
            await queue.bind(exchange, routing_key=topic)
            await queue.consume(lambda message: message.ack())
        return time.perf_counter() - started
    finally:
        await connection.close()


def publish_url(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def measure(name: str, url: str, user: str, password: str, messages: int, connects: int) -> list[str]:
    rows = []
    try:
        ready = [asyncio.run(pika_listener(url, user, password, 0))[0] for _ in range(connects)]
        _, rate = asyncio.run(pika_listener(url, user, password, messages))
        rows.append(f"| pika 1.4.4 (asyncio adapter, the adapter's listener) | {name} | yes | "
                    f"{statistics.median(ready) * 1000:.0f} ms | {f'{rate:,.0f}' if messages else '—'} |")  # fmt: skip
    except Exception as exc:  # a client that cannot consume is a result, not a crash of the benchmark
        rows.append(f"| pika 1.4.4 | {name} | no: {type(exc).__name__}: {exc} | — | — |")
    try:
        ready = [asyncio.run(aio_pika_consumer(url, user, password)) for _ in range(connects)]
        rows.append(f"| aio-pika 10.2.1 / aiormq 7.2.4 | {name} | yes | {statistics.median(ready) * 1000:.0f} ms | — |")
    except Exception as exc:
        rows.append(f"| aio-pika 10.2.1 / aiormq 7.2.4 | {name} | no: `{type(exc).__name__}: {exc}` | — | — |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--connects", type=int, default=10)
    args = parser.parse_args()
    rows = [
        "| client | broker | consumes | time to consuming 5 topics (median) | messages/s |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        broker = QpidBroker(Path(tmp)).start()
        try:
            rows += measure("Qpid Broker-J 10.1.0", f"amqp://127.0.0.1:{broker.port}/", USER, PASSWORD,
                            args.messages, args.connects)  # fmt: skip
        finally:
            broker.stop()
    andes = AndesDouble().start()
    try:
        rows += measure("Andes 3.3.35 handshake (double)", andes.url, andes.username, andes.password, 0,
                        args.connects)  # fmt: skip
    finally:
        andes.stop()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
