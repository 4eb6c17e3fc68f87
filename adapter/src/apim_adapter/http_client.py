"""One shared aiohttp session per CA bundle, with bounded response sizes."""

from __future__ import annotations

import base64
import json
import ssl
from typing import Any

import aiohttp


def basic_authorization(user: str, password: str) -> str:
    """An `Authorization` header's HTTP Basic value (aiohttp's `auth=` is deprecated in its 3.14)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def read_at_most(content: aiohttp.StreamReader, max_bytes: int) -> bytes:
    """The whole body, or ValueError once it passes `max_bytes`. (`StreamReader.read(n)` answers what is buffered,
    up to n bytes: one call can return a part of a larger body.)"""
    chunks, size = [], 0
    async for chunk in content.iter_chunked(64 << 10):
        size += len(chunk)
        if size > max_bytes:
            raise ValueError(f"response larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


ANY_STATUS = tuple(range(100, 600))  # `accept` for a caller that reads every answer itself, whatever its status


class HttpClient:
    def __init__(self, ca_bundle: str | None = None, timeout: float | aiohttp.ClientTimeout = 5.0, limit: int = 32):
        """`timeout`: seconds in all, or aiohttp's timeouts; `limit`: the connections open at once."""
        self.ca_bundle, self.limit = ca_bundle, limit
        self.timeout = timeout if isinstance(timeout, aiohttp.ClientTimeout) else aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(ssl=self._ssl(), limit=self.limit)
            )
        return self._session

    @staticmethod
    async def _body(resp: aiohttp.ClientResponse, max_bytes: int, accept: tuple[int, ...] = (200,)) -> bytes:
        if resp.status not in accept:
            raise aiohttp.ClientResponseError(
                resp.request_info, resp.history, status=resp.status, message=f"HTTP {resp.status}"
            )
        return await read_at_most(resp.content, max_bytes)

    async def request_json(self, method: str, url: str, max_bytes: int, **kwargs: Any) -> Any:
        async with self.session.request(method, url, **kwargs) as resp:
            return json.loads(await self._body(resp, max_bytes))

    async def get_bytes(
        self, url: str, max_bytes: int, accept: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[int, str, bytes]:
        """The status, content type and body of an answer whose status is in `accept`, for answers that are not
        always JSON (a zip or JSON) or whose error body the caller reads."""
        async with self.session.get(url, **kwargs) as resp:
            return resp.status, resp.content_type, await self._body(resp, max_bytes, accept)

    async def post_bytes(
        self, url: str, data: bytes, max_bytes: int, accept: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[int, str, bytes]:
        """`get_bytes` for a POST of `data`: for answers that are not JSON (a SOAP envelope, whose faults come
        with HTTP 500)."""
        async with self.session.post(url, data=data, **kwargs) as resp:
            return resp.status, resp.content_type, await self._body(resp, max_bytes, accept)

    async def get_json(self, url: str, max_bytes: int, **kwargs: Any) -> Any:
        return await self.request_json("GET", url, max_bytes, **kwargs)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
