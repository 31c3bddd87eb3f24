"""Helpers of the emulator tests: route tables of both API versions, candidates, NDJSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

BASE_URL = "http://emulator.invalid"
AUTH = {"authorization": "Bearer secret"}
HEARTBEAT = 0.1
"""A short heartbeat interval, so heartbeat tests take a fraction of a second."""


@dataclass(frozen=True)
class Api:
    """The paths and methods of one API version, so a test can run against v1 and v2 alike."""

    version: int

    @property
    def prefix(self) -> str:
        """`/api/v1` or `/api/v2`."""
        return f"/api/v{self.version}"

    def route(self, name: str) -> tuple[str, str]:
        """Method and path of a route by its v1 name (`write-events`, `read-events`, ...)."""
        if self.version == 1:
            method = "GET" if name in ("ping", "health") else "POST"
            return method, f"/api/v1/{name}"
        v2 = {
            "ping": ("GET", "/api/v2/system/ping"),
            "verify-api-token": ("POST", "/api/v2/system/verify-token"),
            "write-events": ("POST", "/api/v2/data/write-events"),
            "register-event-schema": ("POST", "/api/v2/data/register-event-schema"),
        }
        return v2.get(name, ("QUERY", f"/api/v2/data/{name}"))

    def item(self, line: dict[str, Any]) -> Any:
        """The payload (v1) or data (v2) of a stream line."""
        return line["payload" if self.version == 1 else "data"]


def candidate(
    subject: Any = "/books/42",
    type_: str = "io.eventsourcingdb.library.book-acquired",
    data: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    """An event candidate as clients send it (any JSON in any member, to test refusals)."""
    return {
        "source": "https://library.eventsourcingdb.io",
        "subject": subject,
        "type": type_,
        "data": {"title": "2001"} if data is None else data,
        **extra,
    }


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    """The NDJSON lines of a finished response, decoded."""
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def items(api: Api, response: httpx.Response, kind: str = "event") -> list[Any]:
    """The items of one kind in a stream answer; a v2 stream must end with `end`."""
    decoded = lines(response)
    if api.version == 2:
        assert decoded[-1] == {"type": "end", "data": {}}, decoded[-1:]
        decoded = decoded[:-1]
    assert all(line["type"] == kind for line in decoded), decoded
    return [api.item(line) for line in decoded]


class Calls:
    """Shortcuts for the routes, over one client and one API version."""

    def __init__(self, http: httpx.AsyncClient, api: Api) -> None:
        self.http = http
        self.api = api

    async def call(self, name: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        """Send one request to a route; `body` is sent as JSON unless None."""
        method, path = self.api.route(name)
        if body is not None:
            kwargs["json"] = body
        return await self.http.request(method, path, **kwargs)

    async def write(
        self, *events: dict[str, Any], preconditions: list[Any] | None = None
    ) -> list[dict[str, Any]]:
        """Write events and return them; fails the test unless they were written."""
        body: dict[str, Any] = {"events": list(events) or [candidate()]}
        if preconditions is not None:
            body["preconditions"] = preconditions
        response = await self.call("write-events", body)
        assert response.status_code == 200, response.text
        if self.api.version == 1:
            written: list[dict[str, Any]] = response.json()
            return written
        return list(items(self.api, response))

    async def read(self, subject: str = "/", **options: Any) -> list[dict[str, Any]]:
        """Read events (default: everything, recursively) and return them."""
        options.setdefault("recursive", True)
        response = await self.call("read-events", {"subject": subject, "options": options})
        assert response.status_code == 200, response.text
        return list(items(self.api, response))

    async def refusal(self, name: str, body: Any) -> tuple[int, str, str | None]:
        """Status, text and (v2) code of a refused request, whichever way the version says it."""
        response = await self.call(name, body)
        assert response.headers["server"].startswith("EventSourcingDB/")
        if response.status_code != 200:
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            assert response.text.endswith("\n")
            return response.status_code, response.text.rstrip("\n"), None
        decoded = lines(response)
        assert len(decoded) == 1, decoded
        error = decoded[0]
        assert error["type"] == "error", error
        if self.api.version == 1:
            return 200, error["payload"]["error"], None
        data = error["data"]
        assert set(data) == {"code", "description", "details"}
        return 200, data["description"], data["code"].rsplit("/", 1)[-1]
