"""http_request: one HTTP call, made by the Ansible controller itself.

apim_setup makes some 50 calls to APIM per API it declares, secured_flow some 40 through the gateway, keycloak a
dozen to Keycloak's admin API. As `ansible.builtin.uri`, each call starts a Python interpreter and ships it a module
(AnsiballZ), about half a second before the request leaves; as this action plugin, the request is made in the
controller's process, as the uri module's own library makes it (`ansible.module_utils.urls`), in milliseconds.
These roles run on the controller (localhost in every inventory): the server is reached from the same host either
way.

Options and results are the uri module's, for what the roles use (so a task reads the same with either):

- url (required), method (GET), headers ({}), timeout (30 seconds)
- body, body_format: raw (default), json (a string is sent as it is), form-urlencoded, form-multipart (the uri
  module's fields: a value, or a mapping with content or filename, and mime_type; a filename is read on the
  controller)
- status_code ([200]): the answers that are not a failure
- url_username, url_password, force_basic_auth (false): HTTP Basic credentials
- ca_path: the CA bundle the server's certificate is checked against; validate_certs (true)
- client_cert, client_key: a client certificate (PEM files)
- return_content (false): the answer's body as text in `content`

Result: `status` (-1 when no answer came: the reason is in `msg`), `url`, each response header
lower-cased with `-` as `_` (`access_control_allow_origin`), `location` made absolute, `json` when the answer is
JSON. A status outside status_code fails the task, with the uri module's message (`Status code was 400 and not
[200]: ...`), its `json` still there for the checks after it. Check mode skips the call, as it skips the uri module
(neither knows whether a call changes anything); `check_mode: false` on a task makes it anyway.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.parse

from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import mask_url, open_url, parse_content_type, prepare_multipart
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "method": {"type": "str", "default": "GET"},
    "headers": {"type": "dict", "default": {}},
    "body": {"type": "raw"},
    "body_format": {"type": "str", "default": "raw", "choices": ["raw", "json", "form-urlencoded", "form-multipart"]},
    "status_code": {"type": "list", "elements": "int", "default": [200]},
    "url_username": {"type": "str"},
    "url_password": {"type": "str", "no_log": True},
    "force_basic_auth": {"type": "bool", "default": False},
    "ca_path": {"type": "path"},
    "validate_certs": {"type": "bool", "default": True},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path"},
    "timeout": {"type": "int", "default": 30},
    "return_content": {"type": "bool", "default": False},
}
# RFC 6839 §3.1: application/problem+json is JSON too; the uri module reads javascript as JSON as well.
JSON_SUBTYPES = {"json", "javascript"}


class ActionModule(ActionBase):
    _supports_check_mode = False
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        return {**result, **request(args)}


def request(args: dict) -> dict:
    """The task's result for the validated options: the answer, failed where its status is not one asked for."""
    method = args["method"]
    if not re.fullmatch("[A-Z]+", method):
        return {"failed": True, "msg": f"method must be one word in upper case, like GET or POST, not {method}"}
    try:
        content_type, data = encode_body(args["body"], args["body_format"])
    except (TypeError, ValueError, OSError) as error:
        return {"failed": True, "msg": f"cannot send the body as {args['body_format']}: {error}"}
    headers = dict(args["headers"])
    if content_type and (args["body_format"] == "form-multipart" or "content-type" not in map(str.lower, headers)):
        headers["Content-Type"] = content_type
    answer = call(args, method, headers, data)
    if answer["status"] not in args["status_code"]:
        answer["failed"] = True
        answer["msg"] = f"Status code was {answer['status']} and not {args['status_code']}: {answer['msg']}"
    return answer


def encode_body(body, body_format: str) -> tuple[str | None, bytes | None]:
    """The request's Content-Type (None: the caller's, if any) and bytes, as the uri module encodes them."""
    if body is None:
        return None, None
    if body_format == "json":
        return "application/json", (body if isinstance(body, str) else json.dumps(body)).encode()
    if body_format == "form-urlencoded":
        text = body if isinstance(body, str) else urllib.parse.urlencode(body, doseq=True)
        return "application/x-www-form-urlencoded", text.encode()
    if body_format == "form-multipart":
        return prepare_multipart(body)
    return None, body if isinstance(body, bytes) else str(body).encode()


def call(args: dict, method: str, headers: dict, data: bytes | None) -> dict:
    """The answer as the uri module gives it; status -1 and the reason when none came."""
    url = mask_url(args["url"])
    try:
        response = open_url(
            args["url"], data=data, headers=headers, method=method, timeout=args["timeout"],
            validate_certs=args["validate_certs"], ca_path=args["ca_path"], client_cert=args["client_cert"],
            client_key=args["client_key"], url_username=args["url_username"], url_password=args["url_password"],
            force_basic_auth=args["force_basic_auth"], follow_redirects="safe",
        )  # fmt: skip
    except urllib.error.HTTPError as error:
        response = error  # a 4xx or 5xx is an answer: its status and body are the result
    except (urllib.error.URLError, UrlConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        return {"status": -1, "url": url, "msg": f"Request failed: {reason}", "changed": False}
    with response:
        content = response.read()
        answer = {name.lower().replace("-", "_"): value for name, value in response.headers.items()}
        _, _, sub_type, encoding = parse_content_type(response)
    answer.update(status=int(response.status), url=url, changed=False, msg=f"OK ({len(content)} bytes)")
    if "location" in answer:
        answer["location"] = urllib.parse.urljoin(url, answer["location"])
    is_json = bool(sub_type) and sub_type.rpartition("+")[2].lower() in JSON_SUBTYPES and bool(content)
    if not (args["return_content"] or is_json):
        return answer  # nothing reads the body's text: a large download is not decoded for nothing
    text = content.decode(encoding or "utf-8", errors="replace")
    if args["return_content"]:
        answer["content"] = text
    if is_json:
        # As the uri module: a JSON type with a body that is not JSON has no `json`.
        with contextlib.suppress(ValueError):
            answer["json"] = json.loads(text)
    return answer
