"""The error for "a shared service is down, this turn was not handled".

Raised by the lock store (Redis unreachable or too slow) and, for a shared
tracker store, when the database cannot be read or written. The REST channel
answers it with a 503 and a short JSON error instead of a reply built from a
conversation it could not load (or one it could not store).
"""

from __future__ import annotations


class ServiceUnavailable(Exception):
    """A service every turn needs (lock store, shared tracker store) failed."""
