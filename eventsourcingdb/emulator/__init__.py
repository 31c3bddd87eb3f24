"""An in-memory EventSourcingDB for tests: the real server's HTTP API (v1 and v2), in Python.

`Emulator` has the interface of `Container` (start, stop, get_client, ...). It serves over a
loopback socket or, with `Emulator(in_process=True)`, through httpx transports with no socket at
all. `python -m eventsourcingdb.emulator run --api-token secret ...` takes the real server's flags.
It needs the extra `emulator` (`pip install 'eventsourcingdb-toolkit[emulator]'`); without it,
importing this package raises `MissingExtraError`.
"""

from eventsourcingdb.emulator import _requirements  # noqa: F401 - first: checks the extra
from eventsourcingdb.emulator.emulator import Emulator
from eventsourcingdb.emulator.encoding import TimeFormat
from eventsourcingdb.emulator.hashing import HashVersion
from eventsourcingdb.emulator.options import ApiVersion, ServerOptions
from eventsourcingdb.emulator.server import EmulatorServer
from eventsourcingdb.emulator.transport import AsyncEmulatorTransport, EmulatorTransport

__all__ = [
    "ApiVersion",
    "AsyncEmulatorTransport",
    "Emulator",
    "EmulatorServer",
    "EmulatorTransport",
    "HashVersion",
    "ServerOptions",
    "TimeFormat",
]
