"""The emulator's command line, with the real server's own flags.

    python -m eventsourcingdb.emulator run --api-token secret --data-directory-temporary \\
        --http-enabled --https-enabled=false --http-port 3000 [--signing-key-file key.pem]

So a script that starts the real binary can start the emulator instead; `--data-directory PATH`
keeps the events durably in PATH (see `durable`). Flags that only the emulator knows start with
`--emulator-`. The server runs until SIGINT or SIGTERM. HTTPS is on by default, as in the real
server: `--https-certificate-file` and `--https-private-key-file` serve it on `--https-port`
(4000); plain HTTP takes `--http-enabled --https-enabled=false`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from cryptography.exceptions import UnsupportedAlgorithm

from eventsourcingdb.emulator.emulator import Emulator
from eventsourcingdb.emulator.encoding import TimeFormat
from eventsourcingdb.emulator.hashing import load_signing_key
from eventsourcingdb.emulator.options import ConnectionLimits
from eventsourcingdb.errors import ContainerError, InvalidArgumentError

__all__ = ["main"]

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _go_bool(text: str) -> bool:
    """A boolean flag value as Go's `strconv.ParseBool` reads it."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _api_versions(text: str) -> tuple[int, ...]:
    try:
        versions = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid API versions {text!r}, e.g. 1,2") from None
    if not versions or any(version not in (1, 2) for version in versions):
        raise argparse.ArgumentTypeError(f"invalid API versions {text!r}, e.g. 1,2")
    return versions


def _add_flag(parser: argparse.ArgumentParser, name: str, default: bool, text: str) -> None:
    """A boolean flag as Go takes it: `--name`, `--name=true`, `--name=false`."""
    parser.add_argument(
        name, nargs="?", const=True, default=default, type=_go_bool, metavar="BOOL", help=text
    )


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The top-level parser and the parser of `run`, whose usage line its errors show."""
    parser = argparse.ArgumentParser(
        prog="eventsourcingdb-emulator",
        description="An in-memory EventSourcingDB for tests and development.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the server")
    run.add_argument("--api-token", required=True, help="the API token clients must send")
    _add_flag(run, "--data-directory-temporary", False, "keep the data in memory (the default)")
    run.add_argument(
        "--data-directory", type=Path, help="keep the data durably in this directory (SQLite)"
    )
    _add_flag(run, "--http-enabled", False, "serve plain HTTP on --http-port (off)")
    _add_flag(run, "--https-enabled", True, "serve HTTPS on --https-port (on: needs a certificate)")
    run.add_argument("--http-port", type=int, default=3000, help="the HTTP port (3000)")
    run.add_argument("--https-port", type=int, default=4000, help="the HTTPS port (4000)")
    run.add_argument("--https-certificate-file", type=Path, help="the HTTPS certificate, PEM")
    run.add_argument("--https-private-key-file", type=Path, help="its private key, PEM")
    run.add_argument("--signing-key-file", type=Path, help="an Ed25519 private key, PKCS#8 PEM")
    _add_flag(run, "--with-ui", False, "ignored: the emulator has no UI")
    _add_flag(run, "--read-only", False, "refuse writes and schema registrations (503)")
    run.add_argument("--emulator-host", default="127.0.0.1", help="the address to listen on")
    run.add_argument(
        "--emulator-hash-version",
        type=int,
        choices=(1, 2),
        default=1,
        help="hash events with recipe 1 (default) or 2 (esdb:hash:v2:...)",
    )
    run.add_argument(
        "--emulator-api-versions",
        type=_api_versions,
        default=(1, 2),
        help="the API versions to offer, e.g. 1 for a server before 1.3 (default 1,2)",
    )
    run.add_argument(
        "--emulator-heartbeat-interval",
        type=float,
        default=1.0,
        help="seconds of silence before a heartbeat on observe and query streams (1.0)",
    )
    run.add_argument(
        "--emulator-time-format",
        choices=[time_format.value for time_format in TimeFormat],
        default=TimeFormat.RFC3339_NANO.value,
        help="Go's RFC3339Nano as the real server writes times (default), or nine fractional "
        "digits always, for clients that need at least six (the official Python client 2.2.4)",
    )
    _add_flag(
        run,
        "--emulator-verify-data-directory",
        False,
        "check every event of --data-directory on start, not only the chain and the last ones",
    )
    run.add_argument(
        "--emulator-rate-limit",
        type=float,
        default=0.0,
        help="request units each client address may spend per second (0: off, the default)",
    )
    run.add_argument(
        "--emulator-rate-limit-write-cost",
        type=int,
        default=5,
        help="units a write costs under --emulator-rate-limit (a read costs 1; default 5)",
    )
    limits = ConnectionLimits()
    for flag, kind, default, text in (
        ("max-connections", int, limits.max_connections, "connections at once"),
        ("header-timeout", float, limits.header_timeout, "seconds for a request head"),
        ("body-timeout", float, limits.body_timeout, "seconds for a request body (then 408)"),
        ("idle-timeout", float, limits.idle_timeout, "seconds a connection may wait idle"),
        ("max-request-size", int, limits.max_request_bytes, "bytes of a request body (413)"),
    ):
        run.add_argument(
            f"--emulator-{flag}", type=kind, default=default, help=f"{text} ({default})"
        )
    return parser, run


def _port(arguments: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The port to listen on, HTTPS or HTTP as the real server's flags choose; the emulator
    refuses what it would serve differently from the real server."""
    https, http = arguments.https_enabled, arguments.http_enabled
    if https and http:
        parser.error(
            "--https-enabled and --http-enabled: the real server would serve HTTPS on "
            "--https-port and HTTP on --http-port at once, the emulator serves one of them: add "
            "--https-enabled=false for plain HTTP, or leave out --http-enabled for HTTPS"
        )
    if not https and not http:
        parser.error("nothing to serve: add --http-enabled for plain HTTP on --http-port")
    files = (arguments.https_certificate_file, arguments.https_private_key_file)
    if https and None in files:
        parser.error(
            "--https-enabled (on by default, as in the real server) needs "
            "--https-certificate-file and --https-private-key-file; for plain HTTP add "
            "--https-enabled=false --http-enabled"
        )
    flag = "--https-port" if https else "--http-port"
    port = arguments.https_port if https else arguments.http_port
    if not 0 < port < 65536:
        parser.error(f"{flag}: {port} is not a port")
    return int(port)


def _configure(arguments: argparse.Namespace, parser: argparse.ArgumentParser) -> Emulator:
    """The emulator the flags of `run` describe; `parser` (that of `run`) reports bad values."""
    if arguments.data_directory is not None and arguments.data_directory_temporary:
        parser.error("--data-directory and --data-directory-temporary: choose one of them")
    if arguments.emulator_verify_data_directory and arguments.data_directory is None:
        parser.error("--emulator-verify-data-directory needs --data-directory")
    if arguments.emulator_heartbeat_interval <= 0:
        parser.error("--emulator-heartbeat-interval must be positive")
    port = _port(arguments, parser)
    emulator = (
        Emulator(
            data_directory=arguments.data_directory,
            verify_data_directory=arguments.emulator_verify_data_directory,
        )
        .with_port(port)
        .with_api_token(arguments.api_token)
        .with_hash_version(arguments.emulator_hash_version)
        .with_api_versions(*arguments.emulator_api_versions)
        .with_heartbeat_interval(arguments.emulator_heartbeat_interval)
        .with_time_format(TimeFormat(arguments.emulator_time_format))
    )
    emulator.with_read_only(arguments.read_only)
    if arguments.emulator_rate_limit < 0:
        parser.error("--emulator-rate-limit must be 0 (off) or positive")
    try:
        emulator.with_rate_limit(
            arguments.emulator_rate_limit or None,
            write_cost=arguments.emulator_rate_limit_write_cost,
        )
    except InvalidArgumentError as error:
        parser.error(f"--emulator-rate-limit-write-cost: {error}")
    if arguments.https_enabled:
        try:
            emulator.with_https(arguments.https_certificate_file, arguments.https_private_key_file)
        except InvalidArgumentError as error:
            parser.error(f"--https-certificate-file, --https-private-key-file: {error}")
    emulator.with_host(arguments.emulator_host)
    try:
        emulator.with_limits(
            max_connections=arguments.emulator_max_connections,
            header_timeout=arguments.emulator_header_timeout,
            body_timeout=arguments.emulator_body_timeout,
            idle_timeout=arguments.emulator_idle_timeout,
            max_request_bytes=arguments.emulator_max_request_size,
        )
    except InvalidArgumentError as error:
        parser.error(str(error))
    if arguments.signing_key_file is not None:
        try:
            key = load_signing_key(arguments.signing_key_file.read_bytes())
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as error:
            parser.error(f"--signing-key-file: cannot load {arguments.signing_key_file}: {error}")
        emulator.with_signing_key(key)
    return emulator


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM; the exit status is 0 after a clean stop."""
    parser, run = _parsers()
    arguments, unknown = parser.parse_known_args(argv)
    for argument in unknown:
        print(f"eventsourcingdb-emulator: ignoring unknown argument {argument!r}", file=sys.stderr)
    if arguments.with_ui:
        print("eventsourcingdb-emulator: --with-ui is ignored (no UI)", file=sys.stderr)
    emulator = _configure(arguments, run)
    stopping = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {
        number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            emulator.start()
        except ContainerError as error:
            print(f"eventsourcingdb-emulator: {error}", file=sys.stderr)
            return 1
        versions = ", ".join(
            f"v{version.value}" for version in sorted(emulator.options().api_versions)
        )
        data = emulator.options().data_directory
        where = f"data in {data}" if data is not None else "data in memory"
        print(
            f"EventSourcingDB emulator listening on {emulator.get_base_url()} "
            f"(API {versions}, {where})",
            file=sys.stderr,
            flush=True,
        )
        while not stopping.wait(0.5):
            pass
        return 0
    finally:
        emulator.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())
