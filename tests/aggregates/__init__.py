"""Tests of `eventsourcingdb.aggregates`, against the in-process emulator and without a server."""
