"""The benchmark suite: our client side by side with the raw-HTTP limit and the official client.

Run it with `bench/run` (see docs/performance.md). The orchestrator (`python -m bench`) starts an
emulator per measurement as a separate process (the command line), seeds it, and sends the same
work to long-lived worker processes: `bench.worker` (our client and the raw limit, in the bench
virtual environment) and `bench/official_worker.py` (the official client, in a virtual
environment of its own). Each worker times its own work and reports JSON, so no contender shares
an interpreter or a garbage collector with the orchestrator or with another contender.

Modules: `harness` (processes, statistics, results), `official` (the official client's virtual
environment), `raw` (the raw limit over httpx), one module per measurement (`read`, `write`,
`observe`, `rehydrate`, `eventql`, `memory`), `worker`, `report` (table, JSON, chart, docs) and
`profiling` (pyinstrument profiles of our hot paths).
"""
