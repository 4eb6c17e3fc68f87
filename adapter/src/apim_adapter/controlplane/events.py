"""APIM's event hub messages, decoded as APIM 4.5 publishes them.

APIM publishes JMS text messages to topics of its embedded broker (WSO2 Andes); over AMQP 0-9-1 a topic is the
exchange `amq.topic` with the topic name as routing key. Each topic's event publisher maps a WSO2 event stream to
JSON as `{"event": {"payloadData": {<the stream's attributes>}}}`:

- `notification` (stream `org.wso2.apimgt.notification.stream`: `eventType`, `timestamp`, `event`): `event` is the
  base64 of the event object's Gson JSON (carbon-apimgt `impl/notifier/AbstractNotifier.java`,
  `publishEventToEventHub`; the object's own fields in `impl/notifier/events/*.java`, each with `eventId`,
  `timeStamp`, `type`, `tenantId`, `tenantDomain`).
- `tokenRevocation` (`org.wso2.apimgt.token.revocation.stream`): the attributes `eventId`, `revokedToken`, `ttl`,
  `expiryTime`, `type`, `tenantId` themselves (`impl/token/TokenRevocationNotifierImpl.java`).
- `keyManager` (`org.wso2.apimgt.keymgt.stream`): `event_type`, `action`, `name`, `type`, `enabled`, `value`
  (base64 configuration), `tenantDomain` (`impl/notifier/events/KeyManagerEvent.java`).
- `cacheInvalidation` and `throttleData` (blocking conditions): their stream attributes as they are.

A topic's decoder turns a body into an `Event`; which events change the catalog is `snapshot.py`'s business.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..encoding import base64_json_object

EXCHANGE = "amq.topic"
# Topic names exactly as APIM publishes them (product-apim `jndi.properties` / the event publishers'
# `transport.jms.Destination`). Andes lower-cases routing keys on declare and bind, a case-sensitive broker
# (Qpid Broker-J, RabbitMQ) does not: binding the names APIM uses works on both.
NOTIFICATION = "notification"
TOKEN_REVOCATION = "tokenRevocation"  # noqa: S105 - a topic name, not a secret
KEY_MANAGER = "keyManager"
CACHE_INVALIDATION = "cacheInvalidation"
THROTTLE_DATA = "throttleData"
MAX_MESSAGE_BYTES = 1 << 20


@dataclass(frozen=True)
class Event:
    """One decoded message: `topic` it came on, `type` (the notification's eventType, else the topic), `data`
    the event's fields, `timestamp` APIM's publishing time in seconds since the epoch when it sent one."""

    topic: str
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float | None = None


class BadEvent(ValueError):
    """A message that is not an event as APIM publishes it: logged, counted and skipped."""


def _seconds(value: Any) -> float | None:
    """APIM timestamps are milliseconds since the epoch (`System.currentTimeMillis()`)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return value / 1000


def payload_data(body: bytes) -> dict[str, Any]:
    """The `payloadData` object of a WSO2 event publisher's JSON mapping."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise BadEvent(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        payload = json.loads(body)["event"]["payloadData"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadEvent("not a WSO2 event message") from exc
    if not isinstance(payload, dict):
        raise BadEvent("payloadData is not an object")
    return payload


def decode_notification(body: bytes) -> Event:
    payload = payload_data(body)
    event_type, encoded = payload.get("eventType"), payload.get("event")
    if not isinstance(event_type, str) or not event_type or not isinstance(encoded, str):
        raise BadEvent("notification without eventType and event")
    try:
        data = base64_json_object(encoded)
    except ValueError as exc:
        raise BadEvent(f"{event_type}: event is {exc}") from exc
    # The stream's `timestamp` attribute; the decoded event carries its own `timeStamp` (Event.java).
    return Event(NOTIFICATION, event_type, data, _seconds(payload.get("timestamp")) or _seconds(data.get("timeStamp")))


def _fields_decoder(topic: str) -> Callable[[bytes], Event]:
    def decode(body: bytes) -> Event:
        return Event(topic, topic, payload_data(body))

    return decode


# One decoder per topic we consume: adding a topic is one line here and one handler in snapshot.HANDLERS.
DECODERS: dict[str, Callable[[bytes], Event]] = {
    NOTIFICATION: decode_notification,
    TOKEN_REVOCATION: _fields_decoder(TOKEN_REVOCATION),
    KEY_MANAGER: _fields_decoder(KEY_MANAGER),
    CACHE_INVALIDATION: _fields_decoder(CACHE_INVALIDATION),
    THROTTLE_DATA: _fields_decoder(THROTTLE_DATA),
}


def decode(topic: str, body: bytes) -> Event:
    """A message body from `topic` as an Event; BadEvent when it is not one."""
    decoder = DECODERS.get(topic)
    if decoder is None:
        raise BadEvent(f"no decoder for topic {topic!r}")
    return decoder(body)
