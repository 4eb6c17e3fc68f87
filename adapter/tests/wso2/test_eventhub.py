"""The event hub listener against Andes' exact handshake (harness/andes_double.py) and a real Qpid Broker-J: it
connects, consumes every topic APIM publishes, and never dies quietly (failures logged once, counted, retried with
backoff; poison messages skipped)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time
from pathlib import Path

import aio_pika
import pika
import pytest
from pamqp import commands, frame
from prometheus_client import REGISTRY

from apim_adapter.controlplane.eventhub import EventHubListener, connection_parameters
from apim_adapter.controlplane.events import DECODERS, Event
from harness.apim_double import make_test_ca
from harness.helpers import until
from harness.qpid import PASSWORD, USER, QpidBroker


def message(event_type: str, **event) -> bytes:
    encoded = base64.b64encode(json.dumps(event).encode()).decode()
    payload = {"eventType": event_type, "timestamp": int(time.time() * 1000), "event": encoded}
    return json.dumps({"event": {"payloadData": payload}}).encode()


def metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Recorder:
    """The listener's callbacks and an injected sleep that records each backoff instead of waiting it out."""

    def __init__(self, stop_after: int = 1_000):
        self.events: list[Event] = []
        self.connections = 0
        self.delays: list[float] = []
        self.stop_after = stop_after
        self.stopped = asyncio.Event()

    def on_event(self, event: Event) -> None:
        if event.type == "BOOM":
            raise RuntimeError("a bug in a handler")
        self.events.append(event)

    def on_connected(self) -> None:
        self.connections += 1

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) >= self.stop_after:
            self.stopped.set()
            await asyncio.Event().wait()  # parked until the test cancels the listener
        await asyncio.sleep(0)

    def listener(self, url: str, user: str, password: str) -> EventHubListener:
        params = connection_parameters(url, user, password, None, 5, 30)
        return EventHubListener(params, self.on_event, self.on_connected, sleep=self.sleep, timeout=5)


async def running(listener: EventHubListener, scenario) -> None:
    task = asyncio.ensure_future(listener.run())
    try:
        await scenario()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- Andes' handshake ------------------------------------------------------------------------------------------


def test_aio_pika_cannot_consume_from_andes_which_is_why_the_adapter_uses_pika(andes):
    async def connect() -> None:
        connection = await aio_pika.connect(f"amqp://{andes.username}:{andes.password}@127.0.0.1:{andes.port}/carbon")
        try:
            await connection.channel(publisher_confirms=False)
        finally:
            await connection.close()

    with pytest.raises(KeyError, match="capabilities"):
        asyncio.run(connect())


def test_the_listener_connects_to_andes_and_consumes_every_topic_apim_publishes(andes):
    rec = Recorder()
    listener = rec.listener(andes.url, andes.username, andes.password)

    async def scenario() -> None:
        await until(lambda: rec.connections == 1)
        assert metric("apim_adapter_controlplane_event_hub_connected") == 1
        assert all(andes.consumers(topic) == 1 for topic in DECODERS)
        await asyncio.to_thread(andes.publish, "notification", message("SUBSCRIPTIONS_CREATE", apiUUID="a"))
        fields = json.dumps({"event": {"payloadData": {"name": "IS7", "action": "update"}}}).encode()
        await asyncio.to_thread(andes.publish, "keyManager", fields)  # Andes bound it as `keymanager`
        await until(lambda: len(rec.events) == 2)
        await until(lambda: andes.acks == 2)  # the ack goes out after the handler returns

    asyncio.run(running(listener, scenario))
    assert [(e.topic, e.type) for e in rec.events] == [("notification", "SUBSCRIPTIONS_CREATE"),
                                                       ("keyManager", "keyManager")]  # fmt: skip
    assert andes.confirm_selects == 0
    assert andes.acks == 2


def raw_handshake(andes) -> socket.socket:
    """Connection and channel 1 opened frame by frame, so that any method can follow."""
    sock = socket.create_connection(("127.0.0.1", andes.port), timeout=5)
    sock.sendall(b"AMQP\x00\x00\x09\x01")
    start = read_frame(sock)
    assert isinstance(start, commands.Connection.Start)
    assert start.server_properties == {}
    assert start.mechanisms == "PLAIN"
    credentials = f"\0{andes.username}\0{andes.password}"
    sock.sendall(frame.marshal(commands.Connection.StartOk({}, "PLAIN", credentials, "en_US"), 0))
    assert isinstance(read_frame(sock), commands.Connection.Tune)
    sock.sendall(frame.marshal(commands.Connection.TuneOk(256, 65536, 0), 0))
    sock.sendall(frame.marshal(commands.Connection.Open("carbon"), 0))
    assert isinstance(read_frame(sock), commands.Connection.OpenOk)
    sock.sendall(frame.marshal(commands.Channel.Open(), 1))
    assert isinstance(read_frame(sock), commands.Channel.OpenOk)
    return sock


def read_frame(sock: socket.socket):
    data = b""
    while len(data) < 7 or len(data) < 8 + int.from_bytes(data[3:7], "big"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return frame.unmarshal(data)[2]


def test_andes_sends_empty_server_properties_and_drops_a_connection_that_asks_for_confirms(andes):
    sock = raw_handshake(andes)
    sock.sendall(frame.marshal(commands.Confirm.Select(), 1))
    assert sock.recv(1) == b""  # no Confirm.SelectOk, no Connection.Close: the socket is gone
    assert andes.confirm_selects == 1
    # pika never gets there: without a publisher_confirms capability it refuses before sending anything.
    connection = pika.BlockingConnection(connection_parameters(andes.url, andes.username, andes.password, None, 5, 30))
    with pytest.raises(pika.exceptions.MethodNotImplemented):
        connection.channel().confirm_delivery()
    connection.close()
    assert andes.confirm_selects == 1


def test_a_wrong_password_is_retried_with_capped_backoff_counted_each_time_and_logged_once(andes, caplog):
    rec = Recorder(stop_after=8)
    listener = rec.listener(andes.url, andes.username, "wrong")
    listener.max_backoff = 4
    before = metric("apim_adapter_controlplane_event_hub_failures_total", stage="connect")

    async def scenario() -> None:
        await asyncio.wait_for(rec.stopped.wait(), 30)

    with caplog.at_level(logging.WARNING, logger="apim_adapter.controlplane.eventhub"):
        asyncio.run(running(listener, scenario))
    assert rec.delays == [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert metric("apim_adapter_controlplane_event_hub_failures_total", stage="connect") - before == 8
    assert metric("apim_adapter_controlplane_event_hub_connected") == 0
    warnings = [r for r in caplog.records if r.getMessage().startswith("event hub unavailable")]
    assert len(warnings) == 1
    assert warnings[0].stage == "connect"
    assert "wrong" not in caplog.text  # the password never reaches a log line
    assert andes.auth_failures == 8
    assert rec.connections == 0


def test_a_dropped_connection_is_retried_and_every_reconnection_asks_for_a_full_pull(andes, caplog):
    rec = Recorder()
    listener = rec.listener(andes.url, andes.username, andes.password)

    async def scenario() -> None:
        await until(lambda: rec.connections == 1)
        await asyncio.to_thread(andes.drop_connections)
        await until(lambda: rec.connections == 2)
        assert rec.delays == [0.5]  # it had been connected: the first retry comes soon
        await asyncio.to_thread(andes.publish, "notification", message("API_UPDATE", uuid="a"))
        await until(lambda: len(rec.events) == 1)

    with caplog.at_level(logging.INFO, logger="apim_adapter.controlplane.eventhub"):
        asyncio.run(running(listener, scenario))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["event hub connected", "event hub unavailable; retrying with backoff", "event hub connected"]


def test_poison_messages_and_handler_bugs_are_counted_and_skipped(andes):
    rec = Recorder()
    listener = rec.listener(andes.url, andes.username, andes.password)
    before = metric("apim_adapter_controlplane_events_total", topic="notification", type="-", outcome="poison")

    async def scenario() -> None:
        await until(lambda: rec.connections == 1)
        for body in (b"not json", message("BOOM"), message("API_UPDATE", uuid="after")):
            await asyncio.to_thread(andes.publish, "notification", body)
        await until(lambda: len(rec.events) == 1)
        await until(lambda: andes.acks == 3)  # the ack goes out after the handler returns

    asyncio.run(running(listener, scenario))
    assert rec.events[0].data == {"uuid": "after"}
    assert metric("apim_adapter_controlplane_events_total", topic="notification", type="-", outcome="poison") == (
        before + 2
    )
    assert andes.acks == 3
    assert rec.connections == 1


# -- a real Qpid Broker-J --------------------------------------------------------------------------------------


def test_the_listener_consumes_every_topic_from_a_real_qpid_broker(qpid):
    rec = Recorder()
    listener = rec.listener(f"amqp://127.0.0.1:{qpid.port}/", USER, PASSWORD)
    payloads = {topic: json.dumps({"event": {"payloadData": {"n": i}}}).encode() for i, topic in enumerate(DECODERS)}
    payloads["notification"] = message("APPLICATION_UPDATE", uuid="app")

    def publish() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(qpid.url))
        channel = connection.channel()
        for topic, body in payloads.items():
            channel.basic_publish("amq.topic", topic, body)
        connection.close()

    async def scenario() -> None:
        await until(lambda: rec.connections == 1, within=20)
        await asyncio.to_thread(publish)
        await until(lambda: len(rec.events) == len(payloads))

    asyncio.run(running(listener, scenario))
    assert sorted(e.topic for e in rec.events) == sorted(DECODERS)


def test_amqps_is_consumed_with_the_ca_bundle_and_a_wrong_ca_is_refused(tmp_path):
    """AMQPS, the role of Andes' port 8672 once it offers TLS 1.2: the CA bundle and the host name are checked."""
    tls, other = make_test_ca(tmp_path / "ca", rsa_key=True), make_test_ca(tmp_path / "other")
    broker = QpidBroker(tmp_path / "qpid", tls=tls).start()

    def listen(ca: Path) -> tuple[Recorder, EventHubListener]:
        rec = Recorder(stop_after=2)
        params = connection_parameters(f"amqps://localhost:{broker.tls_port}/carbon", USER, PASSWORD, str(ca), 10, 30)
        return rec, EventHubListener(params, rec.on_event, rec.on_connected, sleep=rec.sleep, timeout=10)

    try:
        trusted, listener = listen(tls.ca)
        asyncio.run(running(listener, lambda: until(lambda: trusted.connections == 1, within=30)))
        assert listener.state == "connected"

        untrusted, listener = listen(other.ca)
        asyncio.run(running(listener, lambda: asyncio.wait_for(untrusted.stopped.wait(), 60)))
        assert untrusted.connections == 0
        assert listener.state.startswith("connect: ")
    finally:
        broker.stop()
