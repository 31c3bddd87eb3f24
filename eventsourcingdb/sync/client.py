"""`Client`: the blocking client of EventSourcingDB, the twin of the async `eventsourcingdb.Client`.

Same methods, arguments, return values (iterators where the async client has async iterators),
errors and behaviour, built the same way: each method prepares its call with
`_protocol.calls` (validating every argument before any network traffic), makes sure the API
version is known, and sends the request through a blocking transport (`sync._transport`: its own
pool on urllib3, or httpx for an injected httpx client or transport). There is no event loop and
no background thread; only the waiting differs from the async client, and
every decision between the waits is the shared one of `_shell` and `_protocol`.

A client may be shared by threads (both connection pools are thread-safe); a stream belongs to
the thread that iterates it, and any thread may close it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
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
from eventsourcingdb._transport import Response
from eventsourcingdb.errors import AsyncMismatchError, InvalidArgumentError
from eventsourcingdb.event import Event, EventCandidate
from eventsourcingdb.event_type import EventType
from eventsourcingdb.options import ObserveEventsOptions, ReadEventsOptions, ReadSubjectsOptions
from eventsourcingdb.preconditions import Precondition
from eventsourcingdb.sync._streams import Interrupt, Stream, register
from eventsourcingdb.sync._transport import open_transport
from eventsourcingdb.telemetry import Instrumentation, Telemetry

if TYPE_CHECKING:
    import httpx

    from eventsourcingdb.client import Client as AsyncClient

_log = logging.getLogger("eventsourcingdb.client")

T = TypeVar("T")

_CLOSED_HOW: Final = "by close() or at the end of its with block"


class Client:
    """The blocking client of EventSourcingDB; use it with `with` or close it with `close()`.

    The settings are those of the async client: `timeout` limits one-shot requests (status and whole
    body, counted once the request has a connection), streams instead fail after `stall_timeout`
    seconds without a byte, `None` disables a limit, and neither counts the wait for a free
    connection (the client's own pool, on urllib3, has 100; a call that finds none free within
    `timeout` seconds raises `TransportError` without sending anything). An injected
    `http_client` (an `httpx.Client`) is used as is and stays open after `close()`. A `transport`
    (an `httpx.BaseTransport`, such as `Emulator.sync_transport()`) is used through an
    `httpx.Client` the client makes and closes. `api_version` fixes the API (1 or 2) instead of
    probing. `telemetry` says how the client reports to OpenTelemetry (spans, trace context in
    written events, metrics; see `eventsourcingdb.telemetry`).
    """

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        http_client: httpx.Client | None = None,
        timeout: float | None = 30.0,
        stall_timeout: float | None = 30.0,
        connect_timeout: float | None = 10.0,
        api_version: Literal[1, 2] | None = None,
        transport: httpx.BaseTransport | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._base_url = check_base_url(base_url)
        self._api_token = check_api_token(api_token)
        self._timeout = check_seconds(timeout, "timeout")
        self._stall_timeout = check_seconds(stall_timeout, "stall_timeout")
        self._settings: dict[str, Any] = {
            "timeout": self._timeout,
            "stall_timeout": self._stall_timeout,
            "connect_timeout": check_seconds(connect_timeout, "connect_timeout"),
            "api_version": api_version,
            "telemetry": telemetry,
        }
        """The settings an async client of the same server takes (see `_async_twin`)."""
        self._transport = open_transport(
            self._base_url,
            http_client=http_client,
            timeout=self._timeout,
            stall_timeout=self._stall_timeout,
            connect_timeout=self._settings["connect_timeout"],
            transport=transport,
        )
        self._given = http_client if http_client is not None else transport
        self._negotiation = Negotiation(check_api_version(api_version))
        self._probe_lock = threading.Lock()
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
        """Whether `close()` was called."""
        return self._closed

    def __enter__(self) -> Self:
        self._check_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and the connections it opened; using it afterwards raises.

        Open streams end with `ClientClosedError` at their next chunk. Calling it twice is fine.
        """
        if self._closed:
            return
        self._closed = True
        self._transport.close()

    async def __aenter__(self) -> Any:
        raise AsyncMismatchError(
            "eventsourcingdb.sync.Client is the blocking client: use it with `with`, not "
            "`async with`; in async code, use eventsourcingdb.Client"
        )

    async def __aexit__(self, *exc_info: object) -> None:
        """Never reached: `__aenter__` refuses."""

    def __repr__(self) -> str:
        version = self.api_version
        state = "closed" if self._closed else f"api_version={version}"
        return f"<eventsourcingdb.sync.Client base_url={self._base_url!r} {state}>"

    def _async_twin(self) -> AsyncClient:
        """An async client of the same server with the same settings (for the blocking
        projections runner, which runs the async one on an event loop of its own)."""
        from eventsourcingdb.client import Client as AsyncClient

        given = self._given
        transport = None
        if given is not None:
            make_async = getattr(given, "async_transport", None)
            if make_async is None:
                raise InvalidArgumentError(
                    f"the blocking client was given {type(given).__name__}, which the async client "
                    "the projections runner needs cannot use: create the client without "
                    "http_client or transport (or with the emulator's sync_transport())"
                )
            transport = make_async()
        return AsyncClient(self._base_url, self._api_token, transport=transport, **self._settings)

    def _check_open(self) -> None:
        if self._closed:
            raise closed_error(_CLOSED_HOW)

    def _closed_how(self) -> str | None:
        return _CLOSED_HOW if self._closed else None

    # --- the core: version, sending, documents, streams --------------------------------------

    def _send(self, request: Request) -> Response:
        attempt = 0
        waits = RateLimitWaits(self._timeout)
        while True:
            self._check_open()
            try:
                response = self._transport.send(request, request.headers(self._api_token))
            except TransportFailure as failure:
                settle_failure(
                    request, failure, attempt, closed=self._closed_how(), base_url=self._base_url
                )
                attempt += 1
                continue
            _log.debug("%s -> %d", request.target, response.status)
            delay = waits.after(request, response.status, response.retry_after)
            if delay is None:
                return response
            _log.info("%s: rate limited; sending it again in %g s", request.target, delay)
            time.sleep(delay)

    def _probe(self, caller: Operation) -> tuple[Request, Response]:
        request = self._negotiation.probe_request(caller)
        response = self._send(request)
        version = self._negotiation.on_probe_answer(
            request, response.status, response.server, response.body, response.retry_after
        )
        _log.info("the server at %s speaks API v%d", self._base_url, int(version))
        return request, response

    def _version(self, caller: Operation) -> ApiVersion:
        """The API version, probing the server first if it is not known yet; errors of the probe
        name `caller`, the call the user made."""
        version = self._negotiation.version
        if version is not None:
            return version
        with self._probe_lock:
            if self._negotiation.version is None:
                self._probe(caller)
            version = self._negotiation.version
            assert version is not None
            return version

    def _document(self, call: calls.DocumentCall[T]) -> T:
        reissued = False
        while True:
            request = call.build(self._version(call.operation))
            response = self._send(request)
            calls.check_server(request, response.server, response.status, response.body)
            if not reissued and self._negotiation.on_answer(request, response.status):
                reissued = True
                _log.info("a v2 route vanished at %s; probing again", self._base_url)
                continue
            calls.check_status(request, response.status, response.body, response.retry_after)
            return call.read(request, response.body)

    def _stream(
        self, call: calls.StreamCall[T], interrupt: Interrupt
    ) -> Generator[list[T], None, None]:
        """The values of a streamed call, in batches: those decoded from up to `BATCH_LINES` lines
        of one chunk (never an empty batch). `Stream` hands them out one by one; `interrupt` lets
        another thread end the read that waits (then this generator ends quietly)."""
        traced = self._telemetry.stream_span(call)
        error: BaseException | None = None
        try:
            attempt = 0
            reissued = False
            waits, delay = RateLimitWaits(self._stall_timeout), None
            while True:
                if delay is not None:
                    _log.info("%s: rate limited; sending it again in %g s", call.operation, delay)
                    time.sleep(delay)
                    delay = None
                self._check_open()
                request = call.build(self._version(call.operation))
                try:
                    with self._transport.stream(
                        request, request.headers(self._api_token)
                    ) as answer:
                        interrupt.arm(answer)
                        try:
                            _log.debug("%s -> %d (stream)", request.target, answer.status)
                            calls.check_server(request, answer.server)
                            if answer.status != 200:
                                if not reissued and self._negotiation.on_answer(
                                    request, answer.status
                                ):
                                    reissued = True
                                    continue
                                delay = waits.after(request, answer.status, answer.retry_after)
                                if delay is not None:
                                    continue
                                body = answer.read_body()
                                calls.check_status(request, answer.status, body, answer.retry_after)
                            decoder = call.decoder(request)
                            while True:
                                chunk = answer.next_chunk()
                                self._check_open()
                                if interrupt.requested:
                                    return
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
                                    answer.drain(END_GRACE)
                                    return
                        finally:
                            interrupt.disarm()
                except TransportFailure as failure:
                    if interrupt.requested:
                        return
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

    def _streamed(self, call: calls.StreamCall[T]) -> Stream[T]:
        interrupt = Interrupt()
        return Stream(self._stream(call, interrupt), interrupt)

    # --- the API -----------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the server is reachable; no token is needed (so this does not verify it)."""
        call = calls.ping()
        self._check_open()
        with self._telemetry.call(call):
            self._ping(call)

    def _ping(self, call: calls.DocumentCall[None]) -> None:
        if self._negotiation.version is None:
            with self._probe_lock:
                if self._negotiation.version is None:
                    request, response = self._probe(Operation.PING)
                    if self._negotiation.version is ApiVersion.V2:
                        call.read(request, response.body)
                        return
        self._document(call)

    def verify_api_token(self) -> None:
        """Check that the server accepts the API token; raises `AuthenticationError` if not."""
        call = calls.verify_api_token()
        self._check_open()
        with self._telemetry.call(call):
            self._document(call)

    def write_events(
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
        `ConcurrencyError`; a lost answer raises `OutcomeUnknownError` (never retried).
        """
        with self._telemetry.writing() as traced:
            call = calls.write_events(
                one_of(event_candidates, events), preconditions, traced.trace_context
            )
            traced.describe(call)
            self._check_open()
            return self._document(call)

    def read_events(
        self, subject: str, options: ReadEventsOptions | None = None
    ) -> Generator[Event, None, None]:
        """The events of `subject` (with `options.recursive`, also of nested subjects).

        A generator holding one connection while it is open. Leaving the `for` loop (`break`,
        an exception) or `close()` releases it; `close()` may be called from another thread
        while a loop waits in it (that loop then ends cleanly). Prefer
        `contextlib.closing(gen)`.
        """
        call = calls.read_events(subject, options)
        self._check_open()
        return self._streamed(call)

    def _read_event_batches(
        self,
        subject: str,
        options: ReadEventsOptions | None,
        line_decoders: Callable[[str], LineDecoder | None],
    ) -> Generator[list[Any], None, None]:
        """`read_events` for the typed reads of `EventStore`: the values in batches (as `_stream`
        yields them), where `line_decoders` may decode a line by itself (see `calls.read_events`)
        and the others are `Event`s. A plain generator; a `Stream` made of it closes from
        anywhere."""
        call = calls.read_events(subject, options, line_decoders)
        self._check_open()
        interrupt = Interrupt()
        batches = self._stream(call, interrupt)
        register(batches, interrupt)  # a `Stream` made of them can then be closed from elsewhere
        return batches

    def observe_events(
        self, subject: str, options: ObserveEventsOptions | None = None
    ) -> Generator[Event, None, None]:
        """The stored events of `subject`, then each new one as it is written; never ends.

        A generator that ends as `read_events` describes (`close()`, also from another thread;
        `contextlib.closing`). A connection without a byte for `stall_timeout` seconds raises
        `StreamStalledError`; `timeout` does not limit it.
        """
        call = calls.observe_events(subject, options)
        self._check_open()
        return self._streamed(call)

    def run_eventql_query(
        self, query: str, *, parameters: Mapping[str, object] | None = None
    ) -> Generator[Any, None, None]:
        """The rows of an EventQL query; each row is the JSON value the projection produced.

        `parameters` binds values to the query's `$name` placeholders, written as EventQL
        literals (strings, numbers, booleans, None, lists and dicts of them), never as text.
        """
        call = calls.run_eventql_query(query, parameters)
        self._check_open()
        return self._streamed(call)

    def register_event_schema(self, event_type: str, json_schema: Mapping[str, Any]) -> None:
        """Register the JSON Schema of `event_type`; a type's schema can never change."""
        call = calls.register_event_schema(event_type, json_schema)
        self._check_open()
        with self._telemetry.call(call):
            self._document(call)

    def read_subjects(
        self,
        subject: str | None = None,
        options: ReadSubjectsOptions | None = None,
        *,
        base_subject: str | None = None,
    ) -> Generator[str, None, None]:
        """`subject` and, with `options.recursive` (the default without options), every known
        subject below it: `/` lists all. `base_subject` is the official SDK 1.x's name of
        `subject`; pass one of them."""
        call = read_subjects_call(subject, options, base_subject)
        self._check_open()
        return self._streamed(call)

    def read_event_types(self) -> Generator[EventType, None, None]:
        """Every event type that has events or a registered schema."""
        call = calls.read_event_types()
        self._check_open()
        return self._streamed(call)

    def read_event_type(self, event_type: str) -> EventType:
        """One event type with its schema; raises `EventTypeNotFoundError` if the server knows
        none of that name."""
        call = calls.read_event_type(event_type)
        self._check_open()
        with self._telemetry.call(call):
            return self._document(call)


__all__ = ["Client"]
