"""Fixed-window counters in Redis, shared by every adapter replica and worker.

One EVALSHA per check reads all of the request's counters and, unless one has reached its limit, adds the request
to each (INCRBY, and PEXPIRE when a window's counter is created), atomically: a limit holds exactly however
requests spread over replicas, and a throttled request counts nowhere, as in APIM. The window is
`floor(now / window)` in the key; replicas agree on it as far as their clocks agree (NTP: milliseconds).

When Redis does not answer within `timeoutSeconds`, `onError` decides:
- `local` (default): count in this process instead (limits hold per replica) and retry Redis after a second;
- `deny`: raise errors.Unavailable; the check ends as an error and Envoy answers with the ext_authz filter's
  `statusOnError` (fail closed: 403 by default, or the status the operator chose) unless `failOpen` is set.
Either way `apim_adapter_rate_limit_errors{policy}` counts the failures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .. import metrics, tracing
from ..catalog import Limit
from ..config import Config, Redis
from ..errors import Unavailable
from ..secrets import read_secret
from . import Counted, Times, Usage, weight
from .local import LocalRateLimiter

log = logging.getLogger(__name__)

KEY_PREFIX = "apim:rl:"
EXPIRY_MARGIN_MS = 1000  # keep a window's counter a little past its end: replicas' clocks differ slightly
RETRY_AFTER_ERROR = 1.0  # seconds without trying Redis after a failure, so an outage costs no timeouts

# KEYS: one per counter. ARGV, three per counter: milliseconds until it may expire, what this request adds to it (1,
# or a bandwidth quota's bytes), its limit. The request is added to every counter unless one has reached its limit
# (then to none). Returns the counts, then 1 if it was added, else 0.
HIT_SCRIPT = """
local n = #KEYS
local counts = {}
for i = 1, n do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  if counts[i] >= tonumber(ARGV[3 * i]) then
    counts[n + 1] = 0
    return counts
  end
end
for i = 1, n do
  local added = tonumber(ARGV[3 * i - 1])
  counts[i] = redis.call('INCRBY', KEYS[i], added)
  if counts[i] == added then
    redis.call('PEXPIRE', KEYS[i], ARGV[3 * i - 2])
  end
end
counts[n + 1] = 1
return counts
"""


def window_key(key: str, limit: Limit, now: float) -> str:
    """The Redis key of a counter's window at `now`."""
    return f"{KEY_PREFIX}{key}:{limit.window}:{limit.index(now)}"


# KEYS: the reset's own key, then the counters' window keys; ARGV: seconds the reset is remembered. The counters are
# deleted only by the first replica to apply the reset: the later ones find its key set and leave the new counts.
RESET_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('DEL', unpack(KEYS, 2))
end
return -1
"""
RESET_REMEMBERED = 3600  # seconds: longer than any replica takes to apply an event


class RedisRateLimiter:
    def __init__(self, settings: Redis, config: Config):
        self.settings = settings
        password = read_secret(config.resolve(settings.password_file)) if settings.password_file else None
        self.client = aioredis.Redis.from_url(
            settings.url,
            password=password,
            socket_timeout=settings.timeout_seconds,
            socket_connect_timeout=max(settings.timeout_seconds, 0.5),
            retry_on_timeout=False,
            health_check_interval=30,
        )
        self.script = self.client.register_script(HIT_SCRIPT)
        self.reset_script = self.client.register_script(RESET_SCRIPT)
        self.fallback = LocalRateLimiter()
        self._skip_until = 0.0

    def hit_now(self, counters: Sequence[Counted], now: float, size: int = 0, times: Times = None) -> None:
        return None  # the counters live in Redis: one round trip, on the event loop (`hit`)

    async def hit(self, counters: Sequence[Counted], now: float, size: int = 0, times: Times = None) -> list[Usage]:
        if not counters:
            return []
        if time.monotonic() >= self._skip_until:
            try:
                return await self._hit(counters, now, size, times)
            except (RedisError, OSError, TimeoutError) as exc:
                self._skip_until = time.monotonic() + RETRY_AFTER_ERROR
                error = exc
        else:
            error = None
        metrics.RATE_LIMIT_ERRORS.labels(self.settings.on_error).inc()
        if self.settings.on_error == "deny":
            raise Unavailable(f"rate-limit backend unavailable: {type(error).__name__ if error else 'recent error'}")
        return await self.fallback.hit(counters, now, size, times)

    @tracing.traced("Redis EVALSHA", lambda _, c, *__: {"db.system.name": "redis", "apim.counters": len(c)})
    async def _hit(self, counters: Sequence[Counted], now: float, size: int, times: Times) -> list[Usage]:
        keys, args, added = [], [], []
        for i, (key, limit) in enumerate(counters):
            keys.append(window_key(key, limit, now))
            added.append(weight(limit, size, times[i] if times else 1))
            args += [int((limit.ends(now) - now) * 1000) + EXPIRY_MARGIN_MS, added[-1], limit.count]
        *counts, counted = await asyncio.wait_for(self.script(keys=keys, args=args), self.settings.timeout_seconds)
        return [
            Usage(limit, int(count), limit.reset(now), n if counted else 0)
            for (_, limit), count, n in zip(counters, counts, added, strict=True)
        ]

    async def reset(self, counters: Sequence[Counted], now: float, once: str | None = None) -> None:
        """The current windows' keys deleted, by the first replica to apply the reset `once` names (every replica
        follows the same event), and the counters this process kept while Redis was away. Where Redis does not
        answer, the shared counters keep their counts until their windows end: logged and counted (a reset is an
        event, not state a later pull could bring back)."""
        await self.fallback.reset(counters, now)
        if not counters:
            return
        keys = [window_key(key, limit, now) for key, limit in counters]
        try:
            if once is None:
                deleted = self.client.delete(*keys)
            else:
                deleted = self.reset_script(keys=[f"{KEY_PREFIX}reset:{once}", *keys], args=[RESET_REMEMBERED])
            await asyncio.wait_for(deleted, self.settings.timeout_seconds)
        except (RedisError, OSError, TimeoutError) as exc:
            metrics.RATE_LIMIT_ERRORS.labels(self.settings.on_error).inc()
            log.warning("quota reset not applied to the shared counters: Redis did not answer",
                        extra={"error": type(exc).__name__})  # fmt: skip

    async def close(self) -> None:
        await self.client.aclose()
        await self.fallback.close()
