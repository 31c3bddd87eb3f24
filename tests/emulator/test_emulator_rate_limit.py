"""Rate limiting as the real server does it: a budget of request units per client address,
429 with `Retry-After` beyond it, `RateLimit-Policy` and `RateLimit` on every other answer."""

from __future__ import annotations

import httpx
import pytest

from eventsourcingdb.emulator import Emulator, EmulatorServer, ServerOptions
from eventsourcingdb.emulator.__main__ import _configure, _parsers
from eventsourcingdb.emulator.rate_limit import RateDecision, RateLimit, RateLimiter
from eventsourcingdb.errors import InvalidArgumentError
from tests.emulator.emulator_helpers import AUTH, BASE_URL, candidate


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_address_has_a_bucket_that_refills() -> None:
    clock = _Clock()
    limiter = RateLimiter(RateLimit(units_per_second=10, write_cost=4), clock)
    assert limiter.take("a", 4) == RateDecision(True, 6, 1)
    assert limiter.take("a", 4) == RateDecision(True, 2, 1)
    assert limiter.take("a", 4) == RateDecision(False, 2, 1)  # 0.2 s to wait: one whole second
    assert limiter.take("a", 1) == RateDecision(True, 1, 1)
    assert limiter.take("b", 4).allowed, "another address has a budget of its own"
    clock.now += 0.5
    assert limiter.take("a", 4) == RateDecision(True, 2, 1)
    clock.now += 60
    assert limiter.take("a", 1) == RateDecision(True, 9, 1)


def test_a_write_dearer_than_the_burst_waits_for_a_full_bucket() -> None:
    clock = _Clock()
    limiter = RateLimiter(RateLimit(units_per_second=1, burst=2, write_cost=5), clock)
    assert limiter.take("a", 5) == RateDecision(True, 0, 2)
    assert limiter.take("a", 5) == RateDecision(False, 0, 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"units_per_second": 0}, "units_per_second must be a positive number"),
        ({"units_per_second": 1, "burst": 0.5}, "burst must be a number of at least 1"),
        ({"units_per_second": 1, "write_cost": 0}, "write_cost must be a positive integer"),
    ],
)
def test_bad_limits_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Emulator().with_rate_limit(**options)  # type: ignore[arg-type]


async def test_beyond_the_budget_requests_are_answered_429_with_retry_after() -> None:
    server = EmulatorServer(ServerOptions(rate_limit=RateLimit(units_per_second=6, write_cost=5)))
    try:
        async with httpx.AsyncClient(
            transport=server.async_transport(), base_url=BASE_URL, headers=AUTH
        ) as http:
            written = await http.post("/api/v2/data/write-events", json={"events": [candidate()]})
            assert written.status_code == 200
            assert written.headers["ratelimit-policy"] == '"default";q=6;w=1'
            assert written.headers["ratelimit"] == '"default";r=1;t=1'
            read = await http.post("/api/v1/read-events", json={"subject": "/"})
            assert read.headers["ratelimit"] == '"default";r=0;t=1'
            for path in ("/api/v1/ping", "/api/v2/system/ping"):
                refused = await http.get(path)
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "1"
                assert refused.headers["server"].startswith("EventSourcingDB/")
                assert refused.text == (
                    "too many requests: the rate limit is reached; retry after 1 seconds\n"
                )
            assert (await http.get("/api/v1/nothing")).status_code == 404, "not an API route"
    finally:
        server.close()


async def test_rate_limiting_is_off_by_default(http: httpx.AsyncClient) -> None:
    answers = [await http.get("/api/v1/ping") for _ in range(50)]
    assert {answer.status_code for answer in answers} == {200}
    assert "ratelimit" not in answers[0].headers


def test_on_a_socket_each_client_address_is_limited_alone() -> None:
    with Emulator().with_rate_limit(2) as emulator:
        url = emulator.get_base_url() + "/api/v1/ping"
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
            statuses = [httpx.get(url).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
            assert other.get(url).status_code == 200


def test_the_command_line_takes_the_limit() -> None:
    parser, run = _parsers()
    plain = ["--http-enabled", "--https-enabled=false"]
    arguments = parser.parse_args(
        ["run", "--api-token", "t", *plain, "--emulator-rate-limit=50",
         "--emulator-rate-limit-write-cost=3"]
    )  # fmt: skip
    assert _configure(arguments, run).options().rate_limit == RateLimit(50, None, 3)
    arguments = parser.parse_args(["run", "--api-token", "t", *plain])
    assert _configure(arguments, run).options().rate_limit is None
