"""Decoding APIM's event hub messages (WSO2's shapes: reference/wso2-apim.md §3.1)."""

from __future__ import annotations

import base64
import json

import pytest

from apim_adapter.controlplane.events import BadEvent, decode


def notification(event_type: str, event: dict, timestamp: int = 1_700_000_000_000) -> bytes:
    encoded = base64.b64encode(json.dumps(event).encode()).decode()
    return json.dumps(
        {"event": {"payloadData": {"eventType": event_type, "timeStamp": timestamp, "event": encoded}}}
    ).encode()


def test_a_notification_carries_its_type_decoded_event_and_timestamp_in_seconds():
    sub = {"subscriptionUUID": "s1", "apiUUID": "api", "applicationUUID": "app", "subscriptionState": "BLOCKED"}
    event = decode("notification", notification("SUBSCRIPTIONS_UPDATE", sub))
    assert event.type == "SUBSCRIPTIONS_UPDATE"
    assert event.data == sub
    assert event.timestamp == 1_700_000_000.0


def test_token_revocation_fields_are_read_as_they_are_not_base64():
    payload = {"eventId": "7", "revokedToken": "jti-1", "ttl": "3600", "expiryTime": 1_900_000_000_000,
               "type": "Default", "tenantId": -1234}  # fmt: skip
    event = decode("tokenRevocation", json.dumps({"event": {"payloadData": payload}}).encode())
    assert event.type == "tokenRevocation"
    assert event.data["revokedToken"] == "jti-1"
    assert event.data["expiryTime"] == 1_900_000_000_000  # how long the jti must stay denied


def test_key_manager_events_keep_their_payload():
    payload = {"event_type": "key_manager_configuration", "action": "update", "name": "WSO2-IS-7",
               "type": "WSO2-IS-7", "enabled": True, "value": "e30="}  # fmt: skip
    event = decode("keymanager", json.dumps({"event": {"payloadData": payload}}).encode())
    assert event.type == "keymanager"
    assert event.data["name"] == "WSO2-IS-7"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"event": {}}',
        b'{"event": {"payloadData": {"eventType": "API_CREATE"}}}',
        b'{"event": {"payloadData": {"eventType": "API_CREATE", "event": "%%% not base64"}}}',
        json.dumps({"event": {"payloadData": {"eventType": "X", "event": base64.b64encode(b"[1]").decode()}}}).encode(),
        b"{" + b" " * (1 << 20) + b"}",
    ],
)
def test_messages_that_are_not_wso2_events_are_rejected(body):
    with pytest.raises(BadEvent):
        decode("notification", body)
