"""A Redis lock store whose tickets are issued atomically (for `make cluster`).

Rasa handles the messages of one conversation one at a time by taking a
ticket lock from its lock store. Rasa's ``RedisLockStore`` issues a ticket by
reading the lock from Redis, adding a ticket in Python and writing it back;
two replicas doing that at the same moment both read "no tickets", both write
ticket 0 and both go ahead, so two turns of one conversation run at once and
one overwrites the other in the tracker store. (RasaHQ/rasa PR #11256 tried
to fix this and was reverted in #11428.)

Here every step is one atomic Redis operation (a Lua script), with the
semantics of Rasa's ticket lock:

- ``issue``: INCR a per-conversation counter and add the number to a sorted
  set (the queue), plus a liveness key for the ticket with a short TTL;
- ``acquire``: the ticket at the head of the queue holds the lock. Heads whose
  liveness key expired (their process died) are dropped from the queue, so a
  killed replica blocks a conversation for at most ``ticket_ttl`` seconds,
  not Rasa's 60 s lock lifetime;
- the holder and every waiter refresh their liveness key every second while
  they run (for at most ``lock_lifetime`` seconds, Rasa's
  ``TICKET_LOCK_LIFETIME``, after which the ticket is left to expire);
- ``release``: remove the ticket.

Waiters poll every 5-50 ms (Rasa polls once a second). Every Redis call has
a one-second timeout: with Redis down or hung, ``lock`` raises
``LockStoreUnavailable`` within about a second and the REST channel answers
503; the client reconnects by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.unavailable import ServiceUnavailable

logger = logging.getLogger(__name__)

# KEYS: counter, queue. ARGV: ticket key prefix, counter/queue lifetime (ms), ticket TTL (ms)
_ISSUE = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', ARGV[1] .. n, '1', 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], n, n)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return n
"""
# KEYS: queue. ARGV: ticket, ticket key prefix. 1 = ours, 0 = wait, -1 = our ticket is gone.
_ACQUIRE = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if head == ARGV[1] then return 1 end
  if redis.call('EXISTS', ARGV[2] .. head) == 1 then return 0 end
  redis.call('ZREM', KEYS[1], head)
end
"""
# KEYS: queue, ticket key. ARGV: ticket
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""
_COUNTER_LIFETIME_MS = 24 * 3600 * 1000


class LockStoreUnavailable(ServiceUnavailable, LockError):
    """Redis could not be reached (or did not answer in time)."""


class LockTimeout(ServiceUnavailable, LockError):
    """The conversation stayed locked for the whole lock lifetime."""


class RedisTicketLockStore(LockStore):
    """Ticket lock for each conversation, kept in Redis, issued atomically."""

    def __init__(
        self,
        endpoint_config: Optional[EndpointConfig] = None,
        host: Text = "127.0.0.1",
        port: Any = 6379,
        db: Any = 1,
        username: Optional[Text] = None,
        password: Optional[Text] = None,
        key_prefix: Optional[Text] = None,
        socket_timeout: Any = 1.0,
        ticket_ttl: Any = 5.0,
    ) -> None:
        options = dict(endpoint_config.kwargs) if endpoint_config else {}
        self.host = endpoint_config.url if endpoint_config and endpoint_config.url else host
        self.port = int(options.get("port", port))
        self.db = int(options.get("db", db))
        self.username = options.get("username", username) or None
        self.password = options.get("password", password) or None
        self.socket_timeout = float(options.get("socket_timeout", socket_timeout))
        self.ticket_ttl = float(options.get("ticket_ttl", ticket_ttl))
        prefix = options.get("key_prefix", key_prefix)
        self.key_prefix = f"{prefix}:lock:" if prefix else "lock:"
        self._client: Any = None
        self._client_loop: Any = None
        super().__init__()

    # -- Redis client (one per event loop) -----------------------------------
    def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError

            # One immediate retry on a broken connection: after Redis restarts,
            # each pooled connection fails once before it is replaced.
            self._client = aioredis.Redis(
                host=self.host,
                port=self.port,
                db=self.db,
                username=self.username,
                password=self.password,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[RedisConnectionError],
            )
            self._issue = self._client.register_script(_ISSUE)
            self._acquire = self._client.register_script(_ACQUIRE)
            self._release = self._client.register_script(_RELEASE)
            self._client_loop = loop
        return self._client

    def _keys(self, conversation_id: Text) -> tuple[str, str, str]:
        base = self.key_prefix + conversation_id
        return base + ":next", base + ":queue", base + ":t:"

    async def _call(self, script: Any, keys: list, args: list) -> int:
        import redis

        try:
            return int(await script(keys=keys, args=args))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as error:
            raise LockStoreUnavailable(f"Redis lock store unreachable: {error}") from error
        except redis.exceptions.RedisError as error:
            raise LockStoreUnavailable(f"Redis lock store error: {error}") from error

    async def _new_ticket(self, conversation_id: Text) -> int:
        counter, queue, ticket_prefix = self._keys(conversation_id)
        return await self._call(
            self._issue,
            [counter, queue],
            [ticket_prefix, _COUNTER_LIFETIME_MS, int(self.ticket_ttl * 1000)],
        )

    async def _keep_alive(self, conversation_id: Text, ticket: list[int], until: float) -> None:
        _, _, ticket_prefix = self._keys(conversation_id)
        interval = max(0.05, min(1.0, self.ticket_ttl / 4))
        while time.monotonic() < until:
            await asyncio.sleep(interval)
            try:
                await self._client.pexpire(
                    ticket_prefix + str(ticket[0]), int(self.ticket_ttl * 1000)
                )
            except Exception as error:  # the next Redis call of the turn reports it
                logger.debug(f"Could not refresh lock ticket: {error}")

    # -- Rasa's LockStore API -------------------------------------------------
    @asynccontextmanager
    async def lock(
        self,
        conversation_id: Text,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Waits for this conversation's lock (FIFO), holds it for the block."""
        self._redis()
        _, queue, ticket_prefix = self._keys(conversation_id)
        ticket = [await self._new_ticket(conversation_id)]
        deadline = time.monotonic() + lock_lifetime
        beat = asyncio.ensure_future(self._keep_alive(conversation_id, ticket, deadline))
        try:
            delay = 0.005
            while True:
                state = await self._call(self._acquire, [queue], [ticket[0], ticket_prefix])
                if state == 1:
                    break
                if state == -1:  # dropped as dead (this process stalled): queue again
                    ticket[0] = await self._new_ticket(conversation_id)
                    continue
                if time.monotonic() > deadline:
                    raise LockTimeout(
                        f"Could not acquire lock for conversation_id '{conversation_id}'."
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
            yield TicketLock(conversation_id)
        finally:
            beat.cancel()
            try:
                await self._call(
                    self._release, [queue, ticket_prefix + str(ticket[0])], [ticket[0]]
                )
            except LockStoreUnavailable as error:  # the ticket expires by itself
                logger.warning(f"Could not release lock ticket: {error}")

    # Rasa's synchronous ticket API is not used with this store (only `lock`).
    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        raise NotImplementedError("RedisTicketLockStore only supports `lock()`.")

    def delete_lock(self, conversation_id: Text) -> None:
        raise NotImplementedError("RedisTicketLockStore only supports `lock()`.")

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("RedisTicketLockStore only supports `lock()`.")
