"""Decoding APIM's event hub messages as APIM 4.5 publishes them (controlplane/events.py cites the sources)."""

from __future__ import annotations

import base64
import json

import pytest

from apim_adapter.controlplane.events import BadEvent, decode


def notification(event_type: str, event: dict, timestamp: int = 1_700_000_000_123) -> bytes:
    encoded = base64.b64encode(json.dumps(event).encode()).decode()
    return json.dumps(
        {"event": {"payloadData": {"eventType": event_type, "timestamp": timestamp, "event": encoded}}}
    ).encode()


def test_a_notification_carries_its_type_decoded_event_and_the_stream_timestamp_in_seconds():
    sub = {"subscriptionUUID": "s1", "apiUUID": "api", "applicationUUID": "app", "timeStamp": 1_600_000_000_000}
    event = decode("notification", notification("SUBSCRIPTIONS_UPDATE", sub))
    assert (event.topic, event.type, event.data) == ("notification", "SUBSCRIPTIONS_UPDATE", sub)
    assert event.timestamp == 1_700_000_000.123  # payloadData.timestamp, not the event's own timeStamp


def test_without_a_stream_timestamp_the_events_own_timestamp_is_used():
    body = json.loads(notification("API_UPDATE", {"uuid": "a", "timeStamp": 1_600_000_000_000}))
    del body["event"]["payloadData"]["timestamp"]
    assert decode("notification", json.dumps(body).encode()).timestamp == 1_600_000_000.0


def test_token_revocation_and_key_manager_messages_carry_their_fields_themselves():
    payload = {"eventId": "7", "revokedToken": "jti-1", "ttl": "3600", "expiryTime": 1_900_000_000_000,
               "type": "JWT", "tenantId": -1234}  # fmt: skip
    event = decode("tokenRevocation", json.dumps({"event": {"payloadData": payload}}).encode())
    assert (event.topic, event.type, event.data["revokedToken"]) == ("tokenRevocation", "tokenRevocation", "jti-1")
    km = {"event_type": "key_manager_configuration", "action": "update", "name": "WSO2-IS-7", "value": "e30="}
    event = decode("keyManager", json.dumps({"event": {"payloadData": km}}).encode())
    assert (event.type, event.data["name"]) == ("keyManager", "WSO2-IS-7")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"event": {}}',
        b'{"event": {"payloadData": "x"}}',
        b'{"event": {"payloadData": {"eventType": "API_CREATE"}}}',
        b'{"event": {"payloadData": {"eventType": "API_CREATE", "event": "%%% not base64"}}}',
        json.dumps({"event": {"payloadData": {"eventType": "X", "event": base64.b64encode(b"[1]").decode()}}}).encode(),
        b"{" + b" " * (1 << 20) + b"}",
    ],
)
def test_messages_that_are_not_apim_events_are_rejected(body):
    with pytest.raises(BadEvent):
        decode("notification", body)


def test_a_topic_without_a_decoder_is_rejected():
    with pytest.raises(BadEvent):
        decode("keymanager", notification("X", {}))  # Andes' lower-cased key is not a topic name APIM publishes
