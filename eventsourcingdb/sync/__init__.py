"""The blocking twin of EventSourcingDB for Python, for code without an event loop.

```python
from eventsourcingdb.sync import Client

with Client(base_url="http://localhost:3000", api_token="secret") as client:
    client.ping()
```

`Client` has the methods, arguments, errors and behaviour of the async `eventsourcingdb.Client`;
its streams are plain generators that `close()` ends, also from another thread. It shares the
protocol core with the async client and runs neither an event loop nor a thread of its own.
"""

from eventsourcingdb.sync.client import Client

__all__ = ["Client"]


def _present_as_public() -> None:
    """Make reprs and docs name `eventsourcingdb.sync.X`, where users import `X` from."""
    for name in __all__:
        value = globals()[name]
        if isinstance(value, type) and value.__module__.startswith(__name__ + "."):
            value.__module__ = __name__


_present_as_public()
