"""How WSO2 nests one JSON document in another: base64 of the inner document's JSON (APIM's event payloads,
IS's revocation events)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def base64_json_object(encoded: str) -> dict[str, Any]:
    """The JSON object inside `encoded`; ValueError saying which of the two layers is wrong."""
    try:
        value = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64 JSON") from exc
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value
