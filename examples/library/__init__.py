"""A small but real library on EventSourcingDB: typed events, aggregates, a decider, and rules.

- `events`: the event models, in their own registry (`LIBRARY`);
- `domain`: the `Book` aggregate (with snapshots) and the member decider, plain Python;
- `library`: the `Library` service: lending under a borrowing limit that holds across books;
- `read_models`: the read side: books on loan and member statistics in SQL, overdue notices;
- `main`: the demo, `python -m examples.library` from the repository root.
"""
