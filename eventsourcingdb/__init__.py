"""EventSourcingDB for Python: an async client, an embedded emulator, typed events, aggregates."""
