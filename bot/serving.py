"""Running the project's small servers in a thread or until Ctrl+C (widget demo, staff console)."""

from __future__ import annotations

import threading
from socketserver import BaseServer


def serve_until_interrupted(server: BaseServer) -> None:
    """Serves in this thread until Ctrl+C, then closes the socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_background(server: BaseServer, name: str) -> threading.Thread:
    """Serves from a daemon thread (tests, embedding); stop with server.shutdown()."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return thread
