"""httpbin (PyPI) that says which version answered, in an `X-Httpbin-Version` response header taken from
`HTTPBIN_VERSION`: the local stand-in for the httpbin chart's v1/v2 pods (whose go-httpbin `/hostname` names the
pod). Run it under gunicorn as `harness.versioned_httpbin:app`."""

from __future__ import annotations

import os

from httpbin import app as httpbin

VERSION = os.environ.get("HTTPBIN_VERSION", "v1")


def app(environ, start_response):
    def start_with_version(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Httpbin-Version", VERSION)], exc_info)

    return httpbin(environ, start_with_version)
