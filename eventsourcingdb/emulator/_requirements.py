"""The emulator's optional dependencies (the extra `emulator`), checked before anything else of
the package is imported, so that a missing one fails with `MissingExtraError` naming the extra
instead of a bare `ModuleNotFoundError` from deep inside. google-re2 is imported on first use."""

from eventsourcingdb._extras import import_extra

for _module in ("uvicorn", "lark", "jsonschema"):
    import_extra(
        _module, extra="emulator", feature="The embedded emulator (eventsourcingdb.emulator)"
    )
