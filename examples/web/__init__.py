"""The library as a Flask app over the blocking twin (`eventsourcingdb.sync`); see `app.py`.

Run it with `python -m examples.web` (needs `flask`): it serves on http://127.0.0.1:8000 against
the EventSourcingDB named by `ESDB_URL` and `ESDB_API_TOKEN`, or an embedded emulator.
"""
