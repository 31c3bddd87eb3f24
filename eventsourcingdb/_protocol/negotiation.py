"""Choosing the API version: probe v2 once, fall back to v1, probe again if v2 routes vanish.

```
            probe: GET /api/v2/system/ping (no token)
 UNKNOWN ──────────────────────────────────────────┬─ 200 ───────► V2
    ▲                                               └─ 404 / 405 ─► V1
    └──────────── a v2 call answers 404 / 405 (the server was replaced by an older one)
```

A forced version (the client's `api_version`) skips probing and never changes.
"""

from __future__ import annotations

from dataclasses import replace

from eventsourcingdb._protocol.errors import server_header_error, status_error
from eventsourcingdb._protocol.requests import ApiVersion, Operation, Request, build_ping

STATUSES_WITHOUT_V2: frozenset[int] = frozenset({404, 405})
"""What a server without the v2 API answers to the v2 ping (with or without its management UI)."""


class Negotiation:
    """The API version state of one client; pure, the client performs the probe it asks for."""

    __slots__ = ("_forced", "_version")

    def __init__(self, forced: ApiVersion | None = None) -> None:
        self._forced = forced
        self._version = forced

    @property
    def version(self) -> ApiVersion | None:
        """The version in use, None until the probe has answered."""
        return self._version

    @property
    def forced(self) -> bool:
        """Whether the version was fixed by the caller (no probing)."""
        return self._forced is not None

    def probe_request(self, caller: Operation = Operation.PING) -> Request:
        """The probe: the v2 ping, sent without a token, on behalf of the call `caller`.

        Its errors name the caller (`write_events: while choosing the API version: ...`), the
        method the user called, not the hidden ping.
        """
        request = build_ping(ApiVersion.V2)
        if caller is Operation.PING:
            return request
        return replace(request, context=f"{caller.value}: while choosing the API version")

    def on_probe_answer(
        self,
        request: Request,
        status: int,
        server: str | None,
        body: bytes,
        retry_after: str | None = None,
    ) -> ApiVersion:
        """Settle the version from the probe's answer; raise if it is no EventSourcingDB answer."""
        error = server_header_error(request, server)
        if error is not None:
            raise error
        if status == 200:
            version = ApiVersion.V2
        elif status in STATUSES_WITHOUT_V2:
            version = ApiVersion.V1
        else:
            raise status_error(request, status, body, retry_after)
        self._version = version
        return version

    def on_answer(self, request: Request, status: int) -> bool:
        """Note a call's status; True if a v2 route vanished, so the call should be re-issued.

        The version is then forgotten and the next call probes again. Forced versions stay.
        """
        if (
            self._forced is None
            and request.version is ApiVersion.V2
            and self._version is ApiVersion.V2
            and status in STATUSES_WITHOUT_V2
        ):
            self._version = None
            return True
        return False
