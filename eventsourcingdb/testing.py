"""Helpers for testing against EventSourcingDB: where the server is, and per-test isolation.

The pytest plugin (`eventsourcingdb.pytest_plugin`) builds on these; they work without pytest too.
Nothing heavy is imported here: the emulator, the client and testcontainers load when used.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from eventsourcingdb._validation import check_event_type, check_subject

if TYPE_CHECKING:
    from eventsourcingdb import sync
    from eventsourcingdb.client import Client


class Target(enum.StrEnum):
    """Where a test suite's server lives."""

    IN_PROCESS = "in-process"
    """The embedded emulator in this process, with no socket: the fastest, and the default."""
    SOCKET = "socket"
    """The embedded emulator on a loopback port."""
    CONTAINER = "container"
    """The real server image through testcontainers (needs a Docker engine)."""
    URL = "url"
    """A running server named by a base URL and an API token."""

    @property
    def is_emulator(self) -> bool:
        """Whether every test can get an empty store (only the emulator can be reset)."""
        return self in (Target.IN_PROCESS, Target.SOCKET)


class ServerHandle(Protocol):
    """What `Emulator`, `Container` and `RemoteServer` have in common."""

    def get_base_url(self) -> str: ...

    def get_api_token(self) -> str: ...

    def get_client(self, **kwargs: Any) -> Client: ...

    def get_sync_client(self, **kwargs: Any) -> sync.Client: ...


class RemoteServer:
    """A server that runs elsewhere, named by its base URL and API token."""

    def __init__(self, base_url: str, api_token: str) -> None:
        self._base_url = base_url
        self._api_token = api_token

    def __repr__(self) -> str:
        return f"RemoteServer({self._base_url!r})"

    def get_base_url(self) -> str:
        """The server's base URL."""
        return self._base_url

    def get_api_token(self) -> str:
        """The API token to use."""
        return self._api_token

    def get_client(self, **kwargs: Any) -> Client:
        """A new client for this server; keyword arguments go to `Client` (e.g. a token)."""
        from eventsourcingdb.client import Client

        kwargs.setdefault("api_token", self._api_token)
        return Client(base_url=self._base_url, **kwargs)

    def get_sync_client(self, **kwargs: Any) -> sync.Client:
        """A new blocking client for this server; keyword arguments go to `sync.Client`."""
        from eventsourcingdb.sync import Client as SyncClient

        kwargs.setdefault("api_token", self._api_token)
        return SyncClient(base_url=self._base_url, **kwargs)


_TYPE_LABEL = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True, slots=True)
class Namespace:
    """A test's own corner of a shared server: a subject prefix and an event-type prefix.

    On an emulator that is emptied before each test the namespace is empty and changes nothing;
    on a shared server, `Namespace.unique()` keeps tests from seeing each other's events.
    """

    subject_prefix: str = ""
    type_prefix: str = ""

    @classmethod
    def unique(cls, label: str = "test") -> Namespace:
        """A namespace no other test shares: `/<label>-<random>` and `<label><random>.`."""
        token = uuid.uuid4().hex[:12]
        slug = _TYPE_LABEL.sub("-", label.lower()).strip("-")[:40] or "test"
        return cls(subject_prefix=f"/{slug}-{token}", type_prefix=f"t{token}.")

    def subject(self, subject: str) -> str:
        """`subject` inside this namespace: `/books/42` becomes `<prefix>/books/42`."""
        check_subject(subject)
        if not self.subject_prefix:
            return subject
        return self.subject_prefix if subject == "/" else self.subject_prefix + subject

    def event_type(self, event_type: str) -> str:
        """`event_type` inside this namespace: `<prefix>io.example.thing-happened`."""
        check_event_type(event_type)
        return self.type_prefix + event_type

    def local_subject(self, subject: str) -> str:
        """The inverse of `subject()`: a subject as the test wrote it, without the prefix."""
        if not self.subject_prefix:
            return subject
        if subject == self.subject_prefix:
            return "/"
        return subject.removeprefix(self.subject_prefix)


__all__ = ["Namespace", "RemoteServer", "ServerHandle", "Target"]
