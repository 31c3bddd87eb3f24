"""The wire protocol of EventSourcingDB as pure functions and values, shared by both API versions.

Nothing here does I/O or imports an HTTP library: requests are built as small values, answers are
decoded from bytes the caller hands in. The async client (and a blocking twin) are thin shells that
move these values over a transport.

- `requests`    the `Request` of every call, for API v1 and v2
- `ndjson`      splitting a byte stream into lines, without a line-length limit
- `envelopes`   decoding v1 lines and v2 envelopes into items; the per-stream decoder
- `errors`      statuses, v1 texts and v2 codes mapped to the SDK's exceptions
- `events`      reading event payloads: times, the raw `data` span
- `hashing`     hash v1/v2 and signature verification
- `negotiation` the v2 probe / v1 fallback state machine
- `calls`       each public operation as a value: how to build it and how to read its answer
"""
