"""`python -m examples.web [PORT]`: serve the library app (see `examples/web/app.py`)."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from werkzeug.serving import make_server

from eventsourcingdb.sync import Client
from examples.web.app import close_app, create_app


def main(argv: list[str]) -> None:
    port = int(argv[0]) if argv else 8000
    with ExitStack() as stack:
        url, token = os.environ.get("ESDB_URL"), os.environ.get("ESDB_API_TOKEN")
        if url and token:
            client = stack.enter_context(Client(url, token))
        else:
            from eventsourcingdb.emulator import Emulator

            emulator = stack.enter_context(Emulator())
            client = stack.enter_context(emulator.get_sync_client())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        app = create_app(client, database=folder / "read-models.db")
        stack.callback(close_app, app)
        server = make_server("127.0.0.1", port, app, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        print(f"The library serves on {url} (Ctrl+C ends it)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


main(sys.argv[1:])
