"""The action plugin `http_request` (roles/http_request/action_plugins/http_request.py) against a real HTTP server on
the loopback: what the roles' tasks read from a call (status, headers, json, content) and what makes a task fail is
the uri module's, so a task reads the same with either. Its calls over HTTPS with a CA are proven by
test_apim_setup*.py against the APIM double, with a client certificate by the local stack's secured flow."""

from __future__ import annotations

import base64
import email
import email.policy
import http.server
import importlib.util
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from harness.helpers import ROOT, run_ansible

PLUGIN = ROOT / "roles/http_request/action_plugins/http_request.py"
_spec = importlib.util.spec_from_file_location("http_request", PLUGIN)
http_request = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(http_request)


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers each path as ANSWERS says and keeps each request it got."""

    ANSWERS = {
        "/apis": (200, "application/json", b'{"count": 0, "list": []}'),
        "/missing": (404, "application/json", b'{"code": 404, "message": "Not Found", "description": "no API"}'),
        "/problem": (409, "application/problem+json", b'{"title": "conflict"}'),
        "/broken": (200, "application/json", b"{not json"),
        "/page": (200, "text/html", b"<p>{}</p>"),
        "/created": (201, "application/json", b"{}"),
    }

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        status, content_type, content = self.ANSWERS[self.path.split("?")[0]]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(content)))
        if status == 201:
            self.send_header("Location", "/apis/7")
        self.send_header("Access-Control-Allow-Origin", "https://portal.example")
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:  # the test reads the requests, not a log
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder) as httpd:
        httpd.requests = []
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        yield httpd
        httpd.shutdown()


def task_result(url: str, **options) -> dict:
    """The plugin's result for a task with these options (the argument spec's defaults for the others)."""
    args = {name: spec.get("default") for name, spec in http_request.ARGUMENT_SPEC.items()}
    return http_request.request({**args, "url": url, **options})


def call(server: http.server.ThreadingHTTPServer, path: str, **options) -> dict:
    """The plugin's result for a call to the recording server, which keeps this call's requests only."""
    server.requests.clear()
    return task_result(f"http://127.0.0.1:{server.server_port}{path}", **options)


@pytest.mark.ansible
def test_a_json_answer_is_read_and_one_outside_status_code_fails_with_its_body_kept(server):
    listed = call(server, "/apis?limit=1")
    assert (listed.get("failed"), listed["status"], listed["json"]) == (None, 200, {"count": 0, "list": []})
    refused = call(server, "/missing")
    # APIM's error body stays readable, as the role's checks read `json.description` after a refusal.
    assert refused["failed"] is True
    assert refused["status"] == 404
    assert refused["json"]["description"] == "no API"
    assert refused["msg"].startswith("Status code was 404 and not [200]")
    assert call(server, "/missing", status_code=[200, 404]).get("failed") is None
    assert call(server, "/problem", status_code=[409])["json"] == {"title": "conflict"}


@pytest.mark.ansible
def test_an_answer_that_is_not_json_has_no_json_and_is_no_failure_and_its_headers_and_content_are_there(server):
    assert "json" not in call(server, "/broken")
    assert call(server, "/broken").get("failed") is None
    page = call(server, "/page", return_content=True)
    assert "json" not in page
    assert page["content"] == "<p>{}</p>"
    # Each response header as the uri module names it, as secured_flow reads a preflight's.
    assert page["content_type"] == "text/html"
    assert page["access_control_allow_origin"] == "https://portal.example"
    assert "content" not in call(server, "/page")


@pytest.mark.ansible
def test_a_created_resources_location_is_absolute(server):
    created = call(server, "/created", method="POST", body={"name": "x"}, body_format="json", status_code=[201])
    assert created["location"] == f"http://127.0.0.1:{server.server_port}/apis/7"


@pytest.mark.ansible
def test_bodies_are_sent_as_the_uri_module_sends_them(server, tmp_path):
    call(server, "/apis", method="POST", body={"name": "PizzaAPI", "tiers": ["Gold"]}, body_format="json")
    _, _, headers, body = server.requests[0]
    assert (headers["Content-Type"], json.loads(body)) == ("application/json", {"name": "PizzaAPI", "tiers": ["Gold"]})
    call(server, "/apis", method="PUT", body='{"as": "written"}', body_format="json")
    assert server.requests[0][3] == b'{"as": "written"}'

    token = {"grant_type": "password", "username": "admin", "scope": "apim:api_view apim:api_create"}
    call(server, "/apis", method="POST", body=token, body_format="form-urlencoded",
         url_username="client", url_password="s3cret", force_basic_auth=True)  # fmt: skip
    _, _, headers, body = server.requests[0]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert body == b"grant_type=password&username=admin&scope=apim%3Aapi_view+apim%3Aapi_create"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"client:s3cret").decode()

    certificate = tmp_path / "client.pem"
    certificate.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    fields = {"alias": "partner", "certificate": {"filename": str(certificate), "mime_type": "application/x-pem-file"},
              "file": {"content": "type Query { a: Int }", "filename": "schema.graphql"}}  # fmt: skip
    call(server, "/apis", method="POST", body=fields, body_format="form-multipart")
    _, _, headers, body = server.requests[0]
    message = email.message_from_bytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body, policy=email.policy.HTTP
    )
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert parts["alias"].get_content() == "partner"
    assert parts["certificate"].get_filename() == "client.pem"
    assert parts["certificate"].get_content_type() == "application/x-pem-file"
    assert certificate.read_bytes() in parts["certificate"].get_payload(decode=True)
    assert parts["file"].get_content() == b"type Query { a: Int }"  # application/octet-stream, the uri default


@pytest.mark.ansible
def test_no_answer_is_status_minus_one_with_the_reason(server):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: the connection is refused
        result = task_result(f"http://127.0.0.1:{port}/apis", timeout=5)
    assert result["status"] == -1
    assert result["failed"] is True
    assert "Request failed" in result["msg"]
    assert "refused" in result["msg"].lower()


@pytest.mark.ansible
def test_a_bad_method_or_body_is_a_clear_failure_before_any_call(server, tmp_path):
    assert "upper case" in call(server, "/apis", method="get")["msg"]
    missing = call(server, "/apis", method="POST", body={"f": {"filename": str(tmp_path / "none.pem")}},
                   body_format="form-multipart")  # fmt: skip
    assert missing["failed"] is True
    assert "cannot send the body as form-multipart" in missing["msg"]
    assert server.requests == []


@pytest.mark.ansible
def test_a_task_using_it_fails_naming_the_status_and_hides_its_password(server, tmp_path):
    """The plugin as a task runs it, with its argument spec checked (the role's own tasks: test_apim_setup*.py)."""
    url = f"http://127.0.0.1:{server.server_port}"
    playbook = tmp_path / "play.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A lookup APIM answers
      http_request:
        url: {url}/apis?limit=1
        url_username: admin
        url_password: not-in-the-log
      register: listed
    - name: Show the count
      ansible.builtin.debug:
        msg: "{{{{ listed.json.count }}}}"
    - name: An option the plugin does not have
      http_request:
        url: {url}/apis
        dest: {tmp_path}/apis.json
      ignore_errors: true
    - name: A call APIM refuses
      http_request:
        url: {url}/missing
        method: PUT
        body: {{name: x}}
        body_format: json
""")
    result = run_ansible("ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook), "-v",
                         env={"ANSIBLE_ACTION_PLUGINS": str(PLUGIN.parent)})  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "msg: 0" in output  # the count APIM answered, read from `json`
    assert "Unsupported parameters" in output
    assert "dest" in output
    assert "Status code was 404 and not [200]" in output
    assert "not-in-the-log" not in output
