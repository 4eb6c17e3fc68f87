"""A test double of WSO2 Andes 3.3.35's AMQP 0-9-1 handshake and topic consumption, the broker inside APIM 4.5.

Andes cannot run here. This double answers only as far as Andes' source says (wso2/andes v3.3.35, under
`modules/andes-core/broker/src/main/java/org/wso2/andes/server/`), each behaviour at the code that does it:

- `Connection.Start` with an empty (null) server-properties table and the mechanisms of the carbon authentication
  manager, `PLAIN` only (`protocol/AMQProtocolEngine.java`, `protocolInitiationReceived`).
- SASL PLAIN against one user; a wrong password is answered `Connection.Close` 530 NOT_ALLOWED
  (`handler/ConnectionStartOkMethodHandler.java`).
- No `confirm` class: the 0-9-1 method registry cannot decode `Confirm.Select`, so the connection is dropped
  without an answer (`handler/ServerMethodDispatcherImpl_0_91.java` has no confirm handler).
- `Queue.Bind` lower-cases the routing key (`handler/QueueBindHandler.java`); published topic names are matched
  the same way, which is how APIM's own gateways receive `keyManager` through a `keymanager` binding.
- Messages arrive as JMS text messages (`text/plain`), one delivery per bound queue, acknowledged by the consumer.

Server-named exclusive queues, `Basic.Qos` and `Basic.Consume` are answered as any 0-9-1 broker does. Runs its own
event loop in a thread, like the APIM double."""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from pamqp import commands, frame, header
from pamqp.body import ContentBody
from pamqp.heartbeat import Heartbeat

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
NOT_ALLOWED = 530


@dataclass(eq=False)  # one per socket, kept in a set
class _Client:
    writer: asyncio.StreamWriter
    bindings: dict[str, set[str]] = field(default_factory=dict)  # queue → lower-cased routing keys
    consumers: dict[str, tuple[int, str]] = field(default_factory=dict)  # queue → (channel, consumer tag)
    delivery_tags: itertools.count = field(default_factory=lambda: itertools.count(1))

    def send(self, channel: int, *values: Any) -> None:
        for value in values:
            self.writer.write(frame.marshal(value, channel))


class AndesDouble:
    def __init__(self, username: str = "admin", password: str = "admin-secret"):  # noqa: S107 - test credentials
        self.username, self.password = username, password
        self.port = 0
        self.connections = 0  # Connection.Start sent
        self.confirm_selects = 0  # connections dropped on Confirm.Select
        self.auth_failures = 0
        self.acks = 0
        self._clients: set[_Client] = set()
        self._queues = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"amqp://127.0.0.1:{self.port}/carbon"

    def _call(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> AndesDouble:
        self._thread.start()

        async def listen() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._call(listen())
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for client in list(self._clients):
                client.writer.close()

        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def consumers(self, topic: str) -> int:
        """How many consumers would receive `topic` now."""
        key = topic.lower()
        return sum(1 for c in list(self._clients) for q in c.consumers if key in c.bindings.get(q, ()))

    def publish(self, topic: str, body: bytes) -> None:
        """A JMS text message on `topic`, delivered to every consuming queue bound to it."""

        async def deliver() -> None:
            key = topic.lower()
            for client in list(self._clients):
                for queue, (channel, tag) in client.consumers.items():
                    if key in client.bindings.get(queue, ()):
                        client.send(
                            channel,
                            commands.Basic.Deliver(tag, next(client.delivery_tags), False, "amq.topic", key),
                            header.ContentHeader(0, len(body), commands.Basic.Properties(content_type="text/plain")),
                            ContentBody(body),
                        )

        self._call(deliver())

    def drop_connections(self) -> None:
        """Close every client socket without a Connection.Close, as a broker crash or network loss does."""

        async def drop() -> None:
            for client in list(self._clients):
                client.writer.transport.abort()

        self._call(drop())

    async def _frames(self, reader: asyncio.StreamReader):
        while True:
            head = await reader.readexactly(7)
            size = int.from_bytes(head[3:7], "big")
            rest = await reader.readexactly(size + 1)
            yield frame.unmarshal(head + rest)[1:]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(writer)
        self._clients.add(client)
        try:
            if await reader.readexactly(8) != PROTOCOL_HEADER:
                return
            self.connections += 1
            client.send(0, commands.Connection.Start(0, 9, {}, "PLAIN", "en_US"))
            async for channel, value in self._frames(reader):
                if not self._answer(client, channel, value):
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._clients.discard(client)
            writer.close()

    def _answer(self, client: _Client, channel: int, value: Any) -> bool:
        """Answer one frame; False closes the socket."""
        if isinstance(value, Heartbeat):
            return True
        if isinstance(value, commands.Connection.StartOk):
            _, user, password = (value.response or "").split("\0") if value.mechanism == "PLAIN" else ("", "", "")
            if value.mechanism != "PLAIN" or (user, password) != (self.username, self.password):
                self.auth_failures += 1
                client.send(0, commands.Connection.Close(NOT_ALLOWED, "NOT_ALLOWED", 10, 11))
                return True
            client.send(0, commands.Connection.Tune(256, 65536, 0))
        elif isinstance(value, commands.Connection.Open):
            client.send(0, commands.Connection.OpenOk())
        elif isinstance(value, commands.Connection.Close):
            client.send(0, commands.Connection.CloseOk())
            return False
        elif isinstance(value, commands.Connection.CloseOk):
            return False
        elif isinstance(value, commands.Confirm.Select):
            self.confirm_selects += 1
            return False
        elif isinstance(value, commands.Channel.Open):
            client.send(channel, commands.Channel.OpenOk())
        elif isinstance(value, commands.Channel.Close):
            client.send(channel, commands.Channel.CloseOk())
        elif isinstance(value, commands.Basic.Qos):
            client.send(channel, commands.Basic.QosOk())
        elif isinstance(value, commands.Queue.Declare):
            queue = value.queue or f"tmp_{next(self._queues)}"
            client.bindings.setdefault(queue, set())
            client.send(channel, commands.Queue.DeclareOk(queue, 0, 0))
        elif isinstance(value, commands.Queue.Bind):
            client.bindings.setdefault(value.queue, set()).add(value.routing_key.lower())
            client.send(channel, commands.Queue.BindOk())
        elif isinstance(value, commands.Basic.Consume):
            tag = value.consumer_tag or f"ctag-{value.queue}"
            client.consumers[value.queue] = (channel, tag)
            client.send(channel, commands.Basic.ConsumeOk(tag))
        elif isinstance(value, commands.Basic.Ack):
            self.acks += 1
        return True
