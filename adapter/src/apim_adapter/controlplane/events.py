"""APIM event hub notifications: decoding WSO2's message shapes, and the AMQP 0-9-1 listener.

APIM publishes on the topic exchange `amq.topic` with the routing keys `notification` (APIs, applications,
key mappings, subscriptions, policies), `keymanager` and `tokenRevocation` (reference: wso2-apim.md §3.1,
Choreo Connect's adapter/pkg/messaging). Each listener binds its own server-named, auto-delete queue, so every
adapter replica sees every event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import yarl

EXCHANGE = "amq.topic"
NOTIFICATION, KEY_MANAGER, TOKEN_REVOCATION = "notification", "keymanager", "tokenRevocation"
THROTTLE_DATA = "throttleData"  # blocking conditions (blockingEventJMSPublisher.xml)
ROUTING_KEYS = (NOTIFICATION, KEY_MANAGER, TOKEN_REVOCATION, THROTTLE_DATA)
MAX_MESSAGE_BYTES = 1 << 20

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One decoded notification: `type` is WSO2's eventType (or the routing key), `data` its decoded payload."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: float | None = None  # APIM's timeStamp, seconds since the epoch


class BadEvent(ValueError):
    pass


def _seconds(value: Any) -> float | None:
    """APIM timestamps are milliseconds since the epoch; accept seconds too."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return value / 1000 if value > 1e11 else float(value)


def decode(routing_key: str, body: bytes) -> Event:
    """A message body as WSO2 publishes it, as an Event; BadEvent when it is not one."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise BadEvent("message too large")
    try:
        message = json.loads(body)
        payload = message["event"]["payloadData"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadEvent("not a WSO2 event message") from exc
    if not isinstance(payload, dict):
        raise BadEvent("payloadData is not an object")
    if routing_key == TOKEN_REVOCATION:
        # {eventId, revokedToken, ttl, expiryTime, type, tenantId}: the fields themselves, not base64.
        return Event(TOKEN_REVOCATION, payload)
    if routing_key == THROTTLE_DATA:
        # {id, blockingCondition, conditionValue, state, tenantDomain}: the stream's attributes, not base64.
        return Event(THROTTLE_DATA, payload)
    if routing_key == KEY_MANAGER:
        # {event_type, name, action, type, enabled, value (base64 config), tenantDomain}
        return Event(KEY_MANAGER, payload)
    event_type, encoded = payload.get("eventType"), payload.get("event")
    if not isinstance(event_type, str) or not isinstance(encoded, str):
        raise BadEvent("notification without eventType and event")
    try:
        data = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BadEvent(f"{event_type}: event is not base64 JSON") from exc
    if not isinstance(data, dict):
        raise BadEvent(f"{event_type}: event is not an object")
    return Event(event_type, data, _seconds(payload.get("timeStamp")) or _seconds(data.get("timeStamp")))


OnEvent = Callable[[Event], Awaitable[None]]
OnConnect = Callable[[], Awaitable[None]]


class EventHubListener:
    """Consumes the three topics, reconnecting with backoff; `on_connect` runs after every (re)connection so
    the caller can resync whatever was published while no queue was bound."""

    def __init__(
        self,
        url: str,
        username: str | None,
        password: str | None,
        ca_bundle: str | None,
        on_event: OnEvent,
        on_connect: OnConnect,
        on_status: Callable[[bool], None] = lambda _: None,
        max_backoff: float = 30.0,
    ):
        self.url = yarl.URL(url)
        if username is not None:
            self.url = self.url.with_user(username).with_password(password or "")
        self.ssl_context = ssl.create_default_context(cafile=ca_bundle) if self.url.scheme == "amqps" else None
        self.on_event, self.on_connect, self.on_status = on_event, on_connect, on_status
        self.max_backoff = max_backoff

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._session()
                backoff = 0.5
            except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
                log.warning(
                    "event hub unavailable; retrying",
                    extra={"host": self.url.host, "port": self.url.port, "error": str(exc) or type(exc).__name__},
                )
            self.on_status(False)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _session(self) -> None:
        connection = await aio_pika.connect(self.url, ssl_context=self.ssl_context, timeout=10)
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        connection.close_callbacks.add(lambda *_: lost.done() or lost.set_result(None))
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=100)
            exchange = await channel.get_exchange(EXCHANGE, ensure=False)
            for key in ROUTING_KEYS:
                queue = await channel.declare_queue("", exclusive=True, auto_delete=True, durable=False)
                await queue.bind(exchange, routing_key=key)
                await queue.consume(self._consumer(key))
            self.on_status(True)
            log.info("event hub connected", extra={"host": self.url.host, "port": self.url.port})
            await self.on_connect()
            await lost
            log.warning("event hub connection lost")
        finally:
            if not connection.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 2)

    def _consumer(self, routing_key: str) -> Callable[[aio_pika.abc.AbstractIncomingMessage], Awaitable[None]]:
        async def consume(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process(ignore_processed=True):
                try:
                    event = decode(routing_key, message.body)
                except BadEvent as exc:
                    log.warning("event ignored", extra={"routing_key": routing_key, "error": str(exc)})
                    return
                await self.on_event(event)

        return consume
