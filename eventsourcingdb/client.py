"""`Client`: the async low-level client of EventSourcingDB, a thin shell over `_protocol`.

Each method prepares its call (validating every argument before any network traffic), makes sure
the API version is known (probing v2 once, falling back to v1), sends the request through the
transport and hands the answer back to the protocol layer to interpret.

Retries: writes (`write_events`, `register_event_schema`) are never retried; a write whose answer
was lost raises `OutcomeUnknownError`. A call that only reads is sent once more, immediately, when
the connection broke before any answer arrived (a kept-alive connection the server had closed).
Streams are not resumed once values were delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, Self, TypeVar

from eventsourcingdb._protocol import calls
from eventsourcingdb._protocol.envelopes import LineDecoder
from eventsourcingdb._protocol.errors import TransportFailure
from eventsourcingdb._protocol.negotiation import Negotiation
from eventsourcingdb._protocol.rate_limits import RateLimitWaits
from eventsourcingdb._protocol.requests import ApiVersion, Operation, Request
from eventsourcingdb._shell import (
    END_GRACE,
    check_api_token,
    check_api_version,
    check_base_url,
    check_seconds,
    closed_error,
    one_of,
    read_subjects_call,
    settle_failure,
)
from eventsourcingdb._streams import Stream
from eventsourcingdb._transport import Response, open_transport
from eventsourcingdb.errors import AsyncMismatchError, ClientClosedError, _mark_outcome_unknown
from eventsourcingdb.event import Event, EventCandidate
from eventsourcingdb.event_type import EventType
from eventsourcingdb.options import ObserveEventsOptions, ReadEventsOptions, ReadSubjectsOptions
from eventsourcingdb.preconditions import Precondition
from eventsourcingdb.telemetry import Instrumentation, Telemetry

if TYPE_CHECKING:
    import httpx

_log = logging.getLogger("eventsourcingdb.client")

T = TypeVar("T")

_CLOSED_HOW: Final = "by aclose() or at the end of its async with block"


def _closed_error() -> ClientClosedError:
    return closed_error(_CLOSED_HOW)


class Client:
    """The async client of EventSourcingDB; use it with `async with` or close it with `aclose()`.

    `timeout` limits one-shot requests (status and whole body); streams instead fail after
    `stall_timeout` seconds without a byte, so observing can run for days. `None` disables a
    limit. Neither counts the wait for a free connection: the client's own pool has 100, each
    open stream holds one, and a call that finds none free within `timeout` seconds raises
    `TransportError` without sending anything. An injected `http_client` is used as is (with its
    own pool limits) and stays open after `aclose()`; the timeouts still apply per request. A
    `transport` (an httpx transport, such as the emulator's in-process one) is used by the
    client's own connection pool, which `aclose()` closes. `api_version` fixes the API (1 or 2)
    instead of probing. `telemetry` says how the client reports to OpenTelemetry (spans, trace
    context in written events, metrics; see `eventsourcingdb.telemetry`). The client's own pool
    follows a new event loop once the previous one is closed (several `asyncio.run` calls work);
    see `EventLoopMismatchError` for what cannot.
    """

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        http_client: httpx.AsyncClient | None = None,
        timeout: float | None = 30.0,
        stall_timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        api_version: Literal[1, 2] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._base_url = check_base_url(base_url)
        self._api_token = check_api_token(api_token)
        self._timeout = check_seconds(timeout, "timeout")
        self._stall_timeout = check_seconds(stall_timeout, "stall_timeout")
        self._transport = open_transport(
            self._base_url,
            http_client=http_client,
            timeout=self._timeout,
            stall_timeout=self._stall_timeout,
            connect_timeout=check_seconds(connect_timeout, "connect_timeout"),
            transport=transport,
        )
        self._negotiation = Negotiation(check_api_version(api_version))
        self._probe_lock = asyncio.Lock()
        self._probe_lock_loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._telemetry = Instrumentation(telemetry, self._base_url)

    # --- life cycle --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL of the server, as given."""
        return self._base_url

    @property
    def api_version(self) -> int | None:
        """The API version in use (1 or 2); None until the first call has probed the server."""
        version = self._negotiation.version
        return None if version is None else int(version)

    @property
    def closed(self) -> bool:
        """Whether `aclose()` was called."""
        return self._closed

    async def __aenter__(self) -> Self:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __enter__(self) -> Any:
        raise AsyncMismatchError(
            "eventsourcingdb.Client is the async client: use it with `async with`, not `with`; "
            "in blocking code, use eventsourcingdb.sync.Client"
        )

    def __exit__(self, *exc_info: object) -> None:
        """Never reached: `__enter__` refuses."""

    async def aclose(self) -> None:
        """Close the client and the connections it opened; using it afterwards raises.

        Open streams end with `ClientClosedError` at their next chunk. Calling it twice is fine.
        """
        if self._closed:
            return
        self._closed = True
        await self._transport.aclose()

    def __repr__(self) -> str:
        version = self.api_version
        state = "closed" if self._closed else f"api_version={version}"
        return f"<{type(self).__name__} base_url={self._base_url!r} {state}>"

    def _check_open(self) -> None:
        if self._closed:
            raise _closed_error()

    def _closed_how(self) -> str | None:
        return _CLOSED_HOW if self._closed else None

    # --- the core: version, sending, documents, streams --------------------------------------

    async def _send(self, request: Request) -> Response:
        attempt = 0
        waits: RateLimitWaits | None = None
        while True:
            self._check_open()
            try:
                response = await self._transport.send(request, request.headers(self._api_token))
            except TransportFailure as failure:
                settle_failure(
                    request, failure, attempt, closed=self._closed_how(), base_url=self._base_url
                )
                attempt += 1
                continue
            _log.debug("%s %s -> %d", request.method, request.path, response.status)
            if response.status != 429:  # the usual case: no rate limit to count waits against
                return response
            if waits is None:
                waits = RateLimitWaits(self._timeout)
            delay = waits.after(request, response.status, response.retry_after)
            if delay is None:
                return response
            _log.info("%s: rate limited; sending it again in %g s", request.target, delay)
            await asyncio.sleep(delay)

    def _probe_guard(self) -> asyncio.Lock:
        """The lock that lets one call probe the server, made anew in each event loop."""
        loop = asyncio.get_running_loop()
        if self._probe_lock_loop is not loop:
            self._probe_lock, self._probe_lock_loop = asyncio.Lock(), loop
        return self._probe_lock

    async def _probe(self, caller: Operation) -> tuple[Request, Response]:
        request = self._negotiation.probe_request(caller)
        response = await self._send(request)
        version = self._negotiation.on_probe_answer(
            request, response.status, response.server, response.body, response.retry_after
        )
        _log.info("the server at %s speaks API v%d", self._base_url, int(version))
        return request, response

    async def _version(self, caller: Operation) -> ApiVersion:
        """The API version, probing the server first if it is not known yet; errors of the probe
        name `caller`, the call the user made."""
        version = self._negotiation.version
        if version is not None:
            return version
        async with self._probe_guard():
            if self._negotiation.version is None:
                await self._probe(caller)
            version = self._negotiation.version
            assert version is not None
            return version

    async def _write(self, call: calls.DocumentCall[T]) -> T:
        """A call that changes state; cancelled after it may have been sent, the cancellation is
        marked for `is_outcome_unknown` (and still cancels)."""
        try:
            return await self._document(call)
        except asyncio.CancelledError as cancellation:
            if self._negotiation.version is not None:
                _mark_outcome_unknown(cancellation)
            raise

    async def _document(self, call: calls.DocumentCall[T]) -> T:
        reissued = False
        while True:
            version = self._negotiation.version or await self._version(call.operation)
            request = call.build(version)
            response = await self._send(request)
            calls.check_server(request, response.server, response.status, response.body)
            if not reissued and self._negotiation.on_answer(request, response.status):
                reissued = True
                _log.info("a v2 route vanished at %s; probing again", self._base_url)
                continue
            calls.check_status(request, response.status, response.body, response.retry_after)
            return call.read(request, response.body)

    async def _stream(self, call: calls.StreamCall[T]) -> AsyncGenerator[list[T], None]:
        """The values of a streamed call, in batches: those decoded from up to `BATCH_LINES` lines
        of one chunk (never an empty batch). `Stream` hands them out one by one."""
        traced = self._telemetry.stream_span(call)
        error: BaseException | None = None
        try:
            attempt = 0
            reissued = False
            waits, delay = RateLimitWaits(self._stall_timeout), None
            while True:
                if delay is not None:
                    _log.info("%s: rate limited; sending it again in %g s", call.operation, delay)
                    await asyncio.sleep(delay)
                    delay = None
                self._check_open()
                version = self._negotiation.version or await self._version(call.operation)
                request = call.build(version)
                try:
                    async with self._transport.stream(
                        request, request.headers(self._api_token)
                    ) as answer:
                        _log.debug("%s -> %d (stream)", request.target, answer.status)
                        calls.check_server(request, answer.server)
                        if answer.status != 200:
                            if not reissued and self._negotiation.on_answer(request, answer.status):
                                reissued = True
                                continue
                            delay = waits.after(request, answer.status, answer.retry_after)
                            if delay is not None:
                                continue
                            body = await answer.read_body()
                            calls.check_status(request, answer.status, body, answer.retry_after)
                        decoder = call.decoder(request)
                        while True:
                            chunk = await answer.next_chunk()
                            self._check_open()
                            if chunk is None:
                                values = decoder.close()
                                if values:
                                    if traced is not None:
                                        traced.returned += len(values)
                                    yield values
                                if decoder.failure is not None:
                                    raise decoder.failure
                                return
                            for values in decoder.batches(chunk):
                                if traced is not None:
                                    traced.returned += len(values)
                                yield values
                            if decoder.done:
                                if decoder.failure is not None:
                                    raise decoder.failure
                                await answer.drain(END_GRACE)
                                return
                except TransportFailure as failure:
                    settle_failure(
                        request,
                        failure,
                        attempt,
                        closed=self._closed_how(),
                        base_url=self._base_url,
                    )
                    attempt += 1
        except BaseException as failure:
            error = failure
            raise
        finally:
            if traced is not None:
                traced.finish(error)

    # --- the API -----------------------------------------------------------------------------

    async def ping(self) -> None:
        """Check that the server is reachable; no token is needed (so this does not verify it)."""
        call = calls.ping()
        self._check_open()
        with self._telemetry.call(call):
            await self._ping(call)

    async def _ping(self, call: calls.DocumentCall[None]) -> None:
        if self._negotiation.version is None:
            async with self._probe_guard():
                if self._negotiation.version is None:
                    request, response = await self._probe(Operation.PING)
                    if self._negotiation.version is ApiVersion.V2:
                        call.read(request, response.body)
                        return
        await self._document(call)

    async def verify_api_token(self) -> None:
        """Check that the server accepts the API token; raises `AuthenticationError` if not."""
        call = calls.verify_api_token()
        self._check_open()
        with self._telemetry.call(call):
            await self._document(call)

    async def write_events(
        self,
        event_candidates: Sequence[EventCandidate | Mapping[str, Any]] | None = None,
        preconditions: Sequence[Precondition] | None = None,
        *,
        events: Sequence[EventCandidate | Mapping[str, Any]] | None = None,
    ) -> list[Event]:
        """Write the events atomically if every precondition holds; return them as stored.

        Events are `EventCandidate`s or dicts with `source`, `subject`, `type`, `data` (and
        optionally `traceparent`, `tracestate`), given as `event_candidates` (the official SDK
        2.x's name) or `events` (1.x's). A precondition that does not hold raises
        `ConcurrencyError`; a lost answer raises `OutcomeUnknownError` (never retried), and a
        write cancelled after it was sent is marked for `is_outcome_unknown`.
        """
        with self._telemetry.writing() as traced:
            call = calls.write_events(
                one_of(event_candidates, events), preconditions, traced.trace_context
            )
            traced.describe(call)
            self._check_open()
            return await self._write(call)

    def read_events(
        self, subject: str, options: ReadEventsOptions | None = None
    ) -> AsyncGenerator[Event, None]:
        """The events of `subject` (with `options.recursive`, also of nested subjects).

        An async generator holding one connection while it is open. `await gen.aclose()` ends it
        and releases the connection before it returns, also when called from another task while
        a loop waits in it (that loop then ends cleanly); after `break`, the connection is
        released once the generator is finalised. Prefer `contextlib.aclosing(gen)`.
        """
        call = calls.read_events(subject, options)
        self._check_open()
        return Stream(self._stream(call))

    def _read_event_batches(
        self,
        subject: str,
        options: ReadEventsOptions | None,
        line_decoders: Callable[[str], LineDecoder | None],
    ) -> AsyncGenerator[list[Any], None]:
        """`read_events` for the typed reads of `EventStore`: the values in batches (as `_stream`
        yields them), where `line_decoders` may decode a line by itself (see `calls.read_events`)
        and the others are `Event`s. A plain async generator: close it in the task that reads it."""
        call = calls.read_events(subject, options, line_decoders)
        self._check_open()
        return self._stream(call)

    def observe_events(
        self, subject: str, options: ObserveEventsOptions | None = None
    ) -> AsyncGenerator[Event, None]:
        """The stored events of `subject`, then each new one as it is written; never ends.

        An async generator that ends as `read_events` describes (`aclose()`, also from another
        task; `contextlib.aclosing`). A connection without a byte for `stall_timeout` seconds
        raises `StreamStalledError`; `timeout` does not limit it.
        """
        call = calls.observe_events(subject, options)
        self._check_open()
        return Stream(self._stream(call))

    def run_eventql_query(
        self, query: str, *, parameters: Mapping[str, object] | None = None
    ) -> AsyncGenerator[Any, None]:
        """The rows of an EventQL query; each row is the JSON value the projection produced.

        `parameters` binds values to the query's `$name` placeholders, written as EventQL
        literals (strings, numbers, booleans, None, lists and dicts of them), never as text.
        """
        call = calls.run_eventql_query(query, parameters)
        self._check_open()
        return Stream(self._stream(call))

    async def register_event_schema(self, event_type: str, json_schema: Mapping[str, Any]) -> None:
        """Register the JSON Schema of `event_type`; a type's schema can never change."""
        call = calls.register_event_schema(event_type, json_schema)
        self._check_open()
        with self._telemetry.call(call):
            await self._write(call)

    def read_subjects(
        self,
        subject: str | None = None,
        options: ReadSubjectsOptions | None = None,
        *,
        base_subject: str | None = None,
    ) -> AsyncGenerator[str, None]:
        """`subject` and, with `options.recursive` (the default without options), every known
        subject below it: `/` lists all. `base_subject` is the official SDK 1.x's name of
        `subject`; pass one of them."""
        call = read_subjects_call(subject, options, base_subject)
        self._check_open()
        return Stream(self._stream(call))

    def read_event_types(self) -> AsyncGenerator[EventType, None]:
        """Every event type that has events or a registered schema."""
        call = calls.read_event_types()
        self._check_open()
        return Stream(self._stream(call))

    async def read_event_type(self, event_type: str) -> EventType:
        """One event type with its schema; raises `EventTypeNotFoundError` if the server knows
        none of that name."""
        call = calls.read_event_type(event_type)
        self._check_open()
        with self._telemetry.call(call):
            return await self._document(call)


__all__ = ["Client"]
