"""The AMQP 0-9-1 listener on APIM's event hub, written for the broker APIM 4.5 really runs: WSO2 Andes 3.3.35.

Andes is not RabbitMQ (reference/wso2-istio-runtime-facts.md): its `Connection.Start` carries an empty
server-properties table (andes `AMQProtocolEngine.java` passes null), it offers SASL PLAIN only, and it has no
`confirm` class (a `Confirm.Select` drops the socket). The client is pika's asyncio adapter: pika reads the
server's capabilities with a default (`pika/connection.py`, `_set_server_information`), asks for publisher
confirms only when told to, and speaks PLAIN; aio-pika/aiormq index `server_properties["capabilities"]` when a
channel opens and raise `KeyError` against Andes (measured, and why pika: docs/wso2-control-plane.md).

The listener never dies quietly: every failure (connect, channel, consume, a lost connection) is logged once per
change of state, counted in `apim_adapter_controlplane_event_hub_failures_total{stage}`, reflected in
`apim_adapter_controlplane_event_hub_connected`, and retried with capped exponential backoff. After every
(re)connection `on_connected` runs, so the caller can pull in full whatever was published while no queue was
bound. A message that is not an APIM event is logged, counted and acknowledged, never retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

from .. import metrics
from .events import DECODERS, EXCHANGE, BadEvent, Event, decode

log = logging.getLogger(__name__)
# pika logs every step of a connection at INFO and one lost socket as three ERROR lines; the listener logs each
# change of state once, with the error, so pika's own lines would only repeat it.
logging.getLogger("pika").setLevel(logging.CRITICAL)

Sleep = Callable[[float], Awaitable[Any]]
PREFETCH = 100


class EventHubError(Exception):
    """A failure of the event hub session, with the stage it happened in."""

    def __init__(self, stage: str, error: BaseException | str):
        self.stage = stage
        self.error = error
        super().__init__(f"{stage}: {error or type(error).__name__}")


def connection_parameters(
    url: str, username: str | None, password: str | None, ca_bundle: str | None, timeout: float, heartbeat: int
) -> pika.ConnectionParameters:
    """`amqp[s]://host[:port][/vhost]`: credentials come from files, never from the URL in the config."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise ValueError(f"event hub URL must be amqp:// or amqps://host[:port][/vhost], not {url!r}")
    tls = parts.scheme == "amqps"
    vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    ssl_options = None
    if tls:
        # Python's default context needs TLS 1.2+; Andes' AMQPS port offers TLSv1 until the broker is configured
        # otherwise (docs/wso2-control-plane.md, "APIM's broker").
        ssl_options = pika.SSLOptions(ssl.create_default_context(cafile=ca_bundle), server_hostname=parts.hostname)
    return pika.ConnectionParameters(
        host=parts.hostname,
        port=parts.port or (8672 if tls else 5672),
        virtual_host=vhost,
        credentials=pika.PlainCredentials(username or "", password or "", erase_on_connect=False),
        ssl_options=ssl_options,
        heartbeat=heartbeat,
        connection_attempts=1,
        socket_timeout=timeout,
        stack_timeout=timeout,
        blocked_connection_timeout=timeout,
        client_properties={"connection_name": "apim-adapter"},
    )


class EventHubListener:
    """Consumes APIM's topics, one server-named exclusive queue per topic, so every replica sees every event."""

    def __init__(
        self,
        parameters: pika.ConnectionParameters,
        on_event: Callable[[Event], None],
        on_connected: Callable[[], None],
        *,
        topics: Iterable[str] = tuple(DECODERS),
        sleep: Sleep = asyncio.sleep,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
    ):
        self.parameters = parameters
        self.on_event, self.on_connected = on_event, on_connected
        self.topics = tuple(topics)
        self.sleep, self.min_backoff, self.max_backoff, self.timeout = sleep, min_backoff, max_backoff, timeout
        self.state = "starting"
        self._where = {"host": parameters.host, "port": parameters.port, "vhost": parameters.virtual_host}

    # -- state: logged once per change, always counted and reflected in the gauge ---------------------------

    def _connected(self) -> None:
        metrics.EVENT_HUB_CONNECTED.set(1)
        if self.state != "connected":
            log.info("event hub connected", extra={**self._where, "topics": list(self.topics)})
        self.state = "connected"

    def _failed(self, exc: BaseException, retry_in: float) -> None:
        stage = exc.stage if isinstance(exc, EventHubError) else "bug"
        error = exc.error if isinstance(exc, EventHubError) else exc
        metrics.EVENT_HUB_CONNECTED.set(0)
        metrics.EVENT_HUB_FAILURES.labels(stage).inc()
        state = f"{stage}: {type(error).__name__}"  # not the message: it may carry addresses that change
        if state != self.state:
            fields = {**self._where, "stage": stage, "error": f"{type(error).__name__}: {error}", "retry_in": retry_in}
            if stage == "bug":
                log.error("event hub listener failed; retrying", extra=fields, exc_info=exc)
            else:
                log.warning("event hub unavailable; retrying with backoff", extra=fields)
        self.state = state

    # -- the loop ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        backoff = self.min_backoff
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                metrics.EVENT_HUB_CONNECTED.set(0)
                raise
            except Exception as exc:  # every failure, expected or a bug, is logged, counted and retried
                if self.state == "connected":
                    backoff = self.min_backoff  # it worked until now: retry soon
                self._failed(exc, backoff)
            await self.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _session(self) -> None:
        async with self._subscribed() as lost:
            self._connected()
            self.on_connected()
            await lost  # raises EventHubError("connection lost" / "channel closed")

    async def probe(self) -> None:
        """Connect, open a channel and subscribe to every topic once (queues of its own, gone when it closes), then
        close: raises EventHubError naming the stage that failed (`apim-adapter probe`)."""
        async with self._subscribed():
            pass

    @contextlib.asynccontextmanager
    async def _subscribed(self) -> AsyncIterator[asyncio.Future[None]]:
        """A session subscribed to every topic, closed on leaving; yields the future its loss sets."""
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[AsyncioConnection] = loop.create_future()
        lost: asyncio.Future[None] = loop.create_future()

        def on_open_error(_conn: Any, exc: BaseException) -> None:
            if not opened.done():
                opened.set_exception(EventHubError("connect", exc))

        def on_closed(_conn: Any, exc: BaseException) -> None:
            if not opened.done():
                opened.set_exception(EventHubError("connect", exc))
            if not lost.done():
                lost.set_exception(EventHubError("connection lost", exc))

        connection = AsyncioConnection(
            self.parameters,
            on_open_callback=lambda conn: opened.done() or opened.set_result(conn),
            on_open_error_callback=on_open_error,
            on_close_callback=on_closed,
            custom_ioloop=loop,
        )
        try:
            await self._within(opened, None, "connect")
            channel = await self._open_channel(connection, lost)
            for topic in self.topics:
                await self._consume(channel, topic, lost)
            yield lost
        finally:
            if not lost.done():
                lost.cancel()
            elif not lost.cancelled():
                lost.exception()  # retrieved: the error was raised above
            if not (connection.is_closed or connection.is_closing):
                with contextlib.suppress(Exception):  # closing is best effort: the session is over either way
                    connection.close()

    async def _within(self, future: asyncio.Future[Any], lost: asyncio.Future[None] | None, stage: str) -> Any:
        """The callback's result, or the session's loss, or a timeout: whichever comes first."""
        waiting = {future} if lost is None else {future, lost}
        done, _ = await asyncio.wait(waiting, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        if future in done:
            return future.result()
        if lost is not None and lost in done:
            lost.result()
        raise EventHubError(stage, TimeoutError(f"no answer within {self.timeout}s"))

    async def _open_channel(self, connection: AsyncioConnection, lost: asyncio.Future[None]) -> Any:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        connection.channel(on_open_callback=lambda ch: opened.done() or opened.set_result(ch))
        channel = await self._within(opened, lost, "channel")

        def on_channel_closed(_ch: Any, exc: BaseException) -> None:
            if not lost.done():
                lost.set_exception(EventHubError("channel closed", exc))

        channel.add_on_close_callback(on_channel_closed)
        await self._rpc(channel.basic_qos, lost, "channel", prefetch_count=PREFETCH)
        return channel

    async def _rpc(self, method: Callable[..., Any], lost: asyncio.Future[None], stage: str, *args: Any, **kw: Any):
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        method(*args, callback=lambda frame: done.done() or done.set_result(frame), **kw)
        return await self._within(done, lost, stage)

    async def _consume(self, channel: Any, topic: str, lost: asyncio.Future[None]) -> None:
        declared = await self._rpc(channel.queue_declare, lost, "consume", "", exclusive=True, auto_delete=True)
        queue = declared.method.queue
        await self._rpc(channel.queue_bind, lost, "consume", queue, EXCHANGE, routing_key=topic)
        ok: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        channel.basic_consume(
            queue, self._handler(topic), auto_ack=False, callback=lambda frame: ok.done() or ok.set_result(frame)
        )
        await self._within(ok, lost, "consume")

    def _handler(self, topic: str) -> Callable[..., None]:
        """The topic comes from the queue it was bound for: Andes lower-cases routing keys."""

        def on_message(channel: Any, method: Any, _properties: Any, body: bytes) -> None:
            try:
                event = decode(topic, body)
                self.on_event(event)
            except BadEvent as exc:
                metrics.CONTROLPLANE_EVENTS.labels(topic, "-", "poison").inc()
                log.warning("event hub message skipped", extra={"topic": topic, "error": str(exc)})
            except Exception:  # a bug in a handler must not stop the listener or redeliver the message forever
                metrics.CONTROLPLANE_EVENTS.labels(topic, "-", "poison").inc()
                log.exception("event hub message handler failed; message skipped", extra={"topic": topic})
            channel.basic_ack(method.delivery_tag)

        return on_message
