"""A minimal HTTP client for the emulator tests (stdlib only, one keep-alive connection per client)."""

from __future__ import annotations

import base64
import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

API_KEY = "test-api-key"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)


def basic_auth(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Client:
    def __init__(self, base_url: str, api_key: str | None = API_KEY, timeout: float = 30) -> None:
        address = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
        self.authorization = basic_auth(api_key) if api_key is not None else None

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, body: bytes | None = None) -> Reply:
        target = path + ("?" + urlencode(params) if params else "")
        sent = dict(headers or {})
        if self.authorization and "Authorization" not in sent:
            sent["Authorization"] = self.authorization
        self.connection.request(method, target, body=body, headers=sent)
        response = self.connection.getresponse()
        return Reply(response.status, response.headers, response.read())

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Reply:
        return self.request("GET", path, params, **kwargs)

    def close(self) -> None:
        self.connection.close()

    def walk(self, path: str, params: dict[str, Any] | None = None, style: str = "cursor",
             per_page: int = 200) -> tuple[list[dict], list[dict]]:
        """Every record of a paginated request, and every page body.

        ``style``: ``cursor`` (send back ``cursor``), ``start-after`` (send the last uuid, activities'
        legacy anchor with ``per-page``) or ``page`` (legacy offset pages).
        """
        params = dict(params or {})
        records: list[dict] = []
        bodies: list[dict] = []
        page = 1
        while True:
            query = dict(params)
            if style == "start-after":
                query["per-page"] = per_page
                if records:
                    query["start-after"] = records[-1]["uuid"]
            else:
                query["per_page"] = per_page
            if style == "page":
                query["page"] = page
            elif style == "cursor" and bodies:
                query["cursor"] = bodies[-1]["cursor"]
            reply = self.get(path, query)
            assert reply.status == 200, (reply.status, reply.raw[:200])
            body = reply.json()
            bodies.append(body)
            key = next(k for k, v in body.items() if isinstance(v, list))
            records.extend(body[key])
            if style == "page":
                if page >= (body["total_pages"] or 0):
                    return records, bodies
                page += 1
            elif not body["has_more"]:
                return records, bodies


class FakeClock:
    """The emulator's limits' clock, moved by the test alone: what falls in one second does not depend on how busy
    the machine is."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
