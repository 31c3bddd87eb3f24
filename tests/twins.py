"""Running one behaviour suite against both twins: the async objects and the blocking ones.

The suites are written once, as async tests. For the blocking twin, a test gets an async face of
the blocking object (`as_async`): each call runs the blocking method in a worker thread, which
has no event loop, exactly as blocking code would call it, and each stream is the blocking
generator stepped in worker threads (cancelling a step closes the stream from another thread,
as blocking code would). The fake servers of the async tests answer the blocking client through
`SyncBridge`, a blocking httpx transport over their async one.

`twin` is parametrised by `tests/conftest.py`: `async` and `sync`, unless a test is marked
`@pytest.mark.twins("async")` with the reason it cannot run on the other twin.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import enum
import functools
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast

import httpx
import pytest

from eventsourcingdb import Client
from eventsourcingdb.aggregates import Repository
from eventsourcingdb.emulator import Emulator
from eventsourcingdb.emulator.transport import LoopClosedError, LoopThread
from eventsourcingdb.models import EventStore
from eventsourcingdb.projections import Runner
from eventsourcingdb.sync import Client as SyncClient
from eventsourcingdb.testing import ServerHandle

T = TypeVar("T")


class Twin(enum.StrEnum):
    """Which twin a parametrised test runs against."""

    ASYNC = "async"
    SYNC = "sync"


_WORKERS = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="blocking")
"""Threads for blocking calls: more than any test keeps blocked at once (observers waiting
for events that other calls write)."""


_LOOP: list[asyncio.AbstractEventLoop] = []
"""The event loop of the latest blocking call: where a test's callbacks run (see `in_thread`)."""


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in a worker thread (which has no event loop) and wait for it; the
    call sees the caller's context variables (the current span, say), as `asyncio.to_thread`
    would show them."""
    loop = asyncio.get_running_loop()
    _LOOP[:] = [loop]
    context = contextvars.copy_context()
    return await loop.run_in_executor(_WORKERS, functools.partial(context.run, function, *args))


_END = object()


def _next(stream: Iterator[Any]) -> Any:
    return next(stream, _END)


def _throw(stream: Generator[Any, None, None], typ: Any) -> Any:
    try:
        return stream.throw(typ)
    except StopIteration:
        return _END


class AsyncStream(AsyncGenerator[T, None]):
    """The async face of a blocking stream: each step runs in a worker thread."""

    def __init__(self, stream: Generator[T, None, None]) -> None:
        self.blocking = stream

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        return await self._step(_next)

    async def asend(self, value: None, /) -> T:
        return await self.__anext__()

    async def athrow(self, typ: Any, val: Any = None, tb: Any = None, /) -> T:
        return await self._step(_throw, typ)

    async def _step(self, function: Callable[..., Any], *args: Any) -> T:
        # The worker thread lets go of the stream as soon as the step returns, so that a stream
        # dropped after `break` is finalised at once, as blocking code's would be.
        holder = [self.blocking]
        try:
            item = await in_thread(lambda: function(holder.pop(), *args))
        except asyncio.CancelledError:
            # as a cancelled async step ends its stream: close it from this other thread
            await asyncio.shield(in_thread(self.blocking.close))
            raise
        if item is _END:
            raise StopAsyncIteration
        return cast(T, item)

    async def aclose(self) -> None:
        await in_thread(self.blocking.close)


def _twin_classes() -> dict[type, type]:
    """Each blocking class and its async twin, whose methods say which calls wait."""
    from eventsourcingdb.sync import EventStore as SyncEventStore
    from eventsourcingdb.sync import Repository as SyncRepository
    from eventsourcingdb.sync import Runner as SyncRunner

    return {
        SyncClient: Client,
        SyncEventStore: EventStore,
        SyncRepository: Repository,
        SyncRunner: Runner,
    }


def _face(value: Any) -> Any:
    """`value` behind an async face if it is a blocking twin's object, else as it is."""
    if type(value) in _twin_classes():
        return AsyncFace(value)
    return value


def _blocking_callback(
    function: Callable[..., Any], loop: asyncio.AbstractEventLoop | None = None
) -> Any:
    """A test's callback (`retrying`'s operation, `update`'s change) for blocking code: what it
    returns is awaited, if awaitable, on the test's event loop (the one of the blocking call
    that runs the callback, unless given), which waits for the worker meanwhile."""

    def call(*args: Any, **kwargs: Any) -> Any:
        nonlocal loop
        if loop is None:
            loop = _LOOP[0]
        result = function(*args, **kwargs)
        if inspect.isawaitable(result):
            context = contextvars.copy_context()  # the blocking caller's, as a sync call sees it

            async def wait() -> Any:
                return await result

            async def launch() -> Any:
                return await context.run(asyncio.ensure_future, wait())

            return asyncio.run_coroutine_threadsafe(launch(), loop).result()
        if isinstance(result, AsyncStream):
            return result.blocking
        if hasattr(result, "__anext__"):
            return _stepped(result, loop)
        return result

    return call


def _stepped(source: AsyncIterator[T], loop: asyncio.AbstractEventLoop) -> Generator[T, None, None]:
    """An async iterator of the test's as a generator for blocking code, each step run on the
    test's event loop."""
    try:
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(anext(source), loop).result()  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
    finally:
        close = getattr(source, "aclose", None)
        if close is not None:
            asyncio.run_coroutine_threadsafe(close(), loop).result()


class AsyncFace:
    """The async face of a blocking twin's object (client, store, repository).

    A method whose async twin is a coroutine function runs in a worker thread and is awaited;
    any other runs at once, and a generator it returns (a stream) gets an `AsyncStream` face.
    Objects of the blocking twins that come back get faces too, and functions passed in (such
    as `update`'s change) are run for blocking code (see `_blocking_callback`).
    """

    def __init__(self, blocking: Any) -> None:
        object.__setattr__(self, "blocking", blocking)
        object.__setattr__(self, "_async_type", _twin_classes()[type(blocking)])

    def __setattr__(self, name: str, value: Any) -> None:
        """Replace a method of the blocking object (as `monkeypatch.setattr` does): a test's
        function runs for blocking code; one of this face's own puts the original back."""
        if getattr(value, "_face_of", None) == name:
            vars(self.blocking).pop(name, None)
            return
        if inspect.isfunction(value) or inspect.ismethod(value):
            value = _blocking_callback(value)
        setattr(self.blocking, name, value)

    def __delattr__(self, name: str) -> None:
        vars(self.blocking).pop(name, None)

    def __getattr__(self, name: str) -> Any:
        if name == "aclose":
            raise AttributeError(name)
        attribute = getattr(self.blocking, name)
        if not callable(attribute):
            return _face(attribute)
        counterpart = getattr(self._async_type, name, None)
        if inspect.iscoroutinefunction(counterpart):

            async def call(*args: Any, **kwargs: Any) -> Any:
                loop = asyncio.get_running_loop()
                args = tuple(_callback(value, loop) for value in args)
                kwargs = {key: _callback(value, loop) for key, value in kwargs.items()}
                return _face(await in_thread(functools.partial(attribute, *args, **kwargs)))

            call._face_of = name  # type: ignore[attr-defined]
            return call

        def direct(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if isinstance(result, Generator):
                return AsyncStream(result)
            return _face(result)

        direct._face_of = name  # type: ignore[attr-defined]
        return direct

    async def aclose(self) -> None:
        await in_thread(self.blocking.close)

    async def __aenter__(self) -> AsyncFace:
        self.blocking.__enter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await in_thread(self.blocking.__exit__, exc_type, exc_value, traceback)

    def __repr__(self) -> str:
        return repr(self.blocking)


def _callback(value: Any, loop: asyncio.AbstractEventLoop) -> Any:
    if inspect.isfunction(value) or inspect.ismethod(value):
        return _blocking_callback(value, loop)
    return value


def as_async(client: SyncClient) -> Client:
    """The blocking client with the async client's face, for the shared behaviour suites."""
    return cast(Client, AsyncFace(client))


def blocking(client: Client) -> SyncClient:
    """The blocking client behind a face made by `as_async`."""
    face: Any = client
    assert isinstance(face, AsyncFace), f"{client!r} is not a blocking client's face"
    return cast(SyncClient, face.blocking)


def new_store(client: Client, **settings: Any) -> EventStore:
    """An `EventStore` of `client`'s twin: the blocking one (behind a face) for a face of a
    blocking client, or for anything else with a `blocking` client inside."""
    inner = getattr(client, "blocking", None)
    if inner is not None:
        from eventsourcingdb.sync import EventStore as SyncEventStore

        return cast(EventStore, AsyncFace(SyncEventStore(inner, **settings)))
    return EventStore(client, **settings)


def new_repository(store: EventStore, **settings: Any) -> Repository:
    """A `Repository` of `store`'s twin."""
    if isinstance(store, AsyncFace):
        from eventsourcingdb.sync import Repository as SyncRepository

        return cast(Repository, AsyncFace(SyncRepository(store.blocking, **settings)))
    return Repository(store, **settings)


def new_runner(store: EventStore, **settings: Any) -> Runner:
    """A projections `Runner` of `store`'s twin (the blocking one runs the async one on an event
    loop of its own)."""
    if isinstance(store, AsyncFace):
        from eventsourcingdb.sync import Runner as SyncRunner

        return cast(Runner, AsyncFace(SyncRunner(store.blocking, **settings)))
    return Runner(store, **settings)


def twin_client(twin: Twin, async_client: Client, request: pytest.FixtureRequest) -> Client:
    """The client of `twin` for a test: the plugin's `esdb_client`, or its blocking
    `esdb_sync_client` behind a face."""
    if twin is Twin.ASYNC:
        return async_client
    return as_async(request.getfixturevalue("esdb_sync_client"))


# --- a blocking transport over an async one --------------------------------------------------


def _read_timeout(request: httpx.Request) -> float | None:
    timeouts = request.extensions.get("timeout", {})
    seconds = timeouts.get("read") if isinstance(timeouts, dict) else None
    return seconds if isinstance(seconds, int | float) else None


def _wait(future: concurrent.futures.Future[T], seconds: float | None, request: httpx.Request) -> T:
    """The result of a step on the loop, within the read timeout as a socket would give it."""
    try:
        return future.result(seconds)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise httpx.ReadTimeout("timed out", request=request) from None
    except concurrent.futures.CancelledError:
        raise httpx.ReadError("the stream was closed", request=request) from None


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


async def _aclose(stream: object) -> None:
    if isinstance(stream, httpx.AsyncByteStream):
        await stream.aclose()


class _BridgedBody(httpx.SyncByteStream):
    def __init__(self, response: httpx.Response, loop: LoopThread, request: httpx.Request) -> None:
        self._stream = response.stream
        self._chunks = aiter(cast(httpx.AsyncByteStream, response.stream))
        self._loop = loop
        self._request = request
        self._pending: concurrent.futures.Future[bytes | None] | None = None

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                self._pending = self._loop.submit(_next_chunk(self._chunks))
            except LoopClosedError:
                raise httpx.ReadError("the fake server stopped", request=self._request) from None
            chunk = _wait(self._pending, _read_timeout(self._request), self._request)
            self._pending = None
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        pending = self._pending
        if pending is not None:
            pending.cancel()
        with contextlib.suppress(LoopClosedError, RuntimeError, concurrent.futures.TimeoutError):
            self._loop.submit(_aclose(self._stream)).result(5)


class SyncBridge(httpx.BaseTransport):
    """A blocking httpx transport that hands each request to an async one on a loop thread,
    honouring the request's read timeout as a socket would (`httpx.ReadTimeout`)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._loop = LoopThread("sync-bridge")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        bridged = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.read(),
            extensions=request.extensions,
        )
        try:
            future = self._loop.submit(self._inner.handle_async_request(bridged))
        except LoopClosedError:
            raise httpx.ConnectError("the fake server stopped", request=request) from None
        response = _wait(future, _read_timeout(request), request)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_BridgedBody(response, self._loop, request),
            request=request,
            extensions=response.extensions,
        )

    def close(self) -> None:
        with contextlib.suppress(LoopClosedError, RuntimeError, concurrent.futures.TimeoutError):
            self._loop.submit(self._inner.aclose()).result(5)
        self._loop.close()


# --- opening a client of either twin ---------------------------------------------------------


Server = Emulator | httpx.AsyncBaseTransport


class Connect(Protocol):
    """The `connect` fixture: a client of the twin under test for `server`, closed on exit."""

    def __call__(
        self,
        server: Server,
        *,
        base_url: str | None = None,
        token: str | None = None,
        **settings: Any,
    ) -> contextlib.AbstractAsyncContextManager[Client]: ...


def new_client(twin: Twin, base_url: str, api_token: str, **settings: Any) -> Client:
    """A client of `twin`, not yet used; an async `transport` (a fake server's) reaches the
    blocking twin through `SyncBridge`."""
    if twin is Twin.ASYNC:
        return Client(base_url, api_token, **settings)
    transport = settings.get("transport")
    if isinstance(transport, httpx.AsyncBaseTransport):
        settings["transport"] = SyncBridge(transport)
    return as_async(SyncClient(base_url, api_token, **settings))


def server_client(twin: Twin, server: ServerHandle, **settings: Any) -> Client:
    """A client of `twin` from a server handle (`get_client` or `get_sync_client`), not yet
    used; `async with` it to close it at the end."""
    if twin is Twin.ASYNC:
        return server.get_client(**settings)
    return as_async(server.get_sync_client(**settings))


def client_class(twin: Twin) -> Any:
    """The client class of `twin`: `eventsourcingdb.Client` or `eventsourcingdb.sync.Client`."""
    return Client if twin is Twin.ASYNC else SyncClient


@contextlib.asynccontextmanager
async def open_client(
    twin: Twin, server: Server, base_url: str, api_token: str, **settings: Any
) -> AsyncIterator[Client]:
    """A client of `twin` for `server` (an in-process emulator, or an async transport such as a
    fake server's), closed on exit; `settings` go to the client."""
    if isinstance(server, Emulator):
        transport: Any = server.async_transport() if twin is Twin.ASYNC else server.sync_transport()
    else:
        transport = server
    async with new_client(twin, base_url, api_token, transport=transport, **settings) as client:
        yield client


__all__ = [
    "AsyncFace",
    "AsyncStream",
    "Connect",
    "SyncBridge",
    "Twin",
    "as_async",
    "blocking",
    "client_class",
    "in_thread",
    "new_client",
    "new_repository",
    "new_runner",
    "new_store",
    "open_client",
    "server_client",
    "twin_client",
]
