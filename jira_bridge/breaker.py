"""The circuit breaker in front of Jira, shared by every worker through Redis.

closed: requests flow; ``threshold`` transient failures in a row open it. open: nothing is sent
for ``cooldown`` seconds; then half-open: one worker at a time sends a probe, whose success closes
the breaker and whose failure opens it again. Callers record every transition (see tickets.py).
"""

from dataclasses import dataclass

import redis

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"

# KEYS: breaker hash. ARGV: probe lease (ms). Returns {allowed (0|1), wait ms, state, previous state}.
ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'state', 'open_until', 'probe_until')
local state = s[1] or 'closed'
if state == 'closed' then return {1, 0, state, state} end
if state == 'open' then
  local open_until = tonumber(s[2])
  if now < open_until then return {0, open_until - now, state, state} end
  redis.call('HSET', KEYS[1], 'state', 'half-open', 'probe_until', now + tonumber(ARGV[1]))
  return {1, 0, 'half-open', 'open'}
end
local probe_until = tonumber(s[3]) or 0
if now < probe_until then return {0, probe_until - now, state, state} end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[1]))
return {1, 0, state, state}
"""

# KEYS: breaker hash. ARGV: 1 success | 0 failure, threshold, cooldown ms.
# Returns {state, previous state}.
RECORD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if ARGV[1] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0)
  return {'closed', state}
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half-open' or (state == 'closed' and failures >= tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'open_until', now + tonumber(ARGV[3]))
  return {'open', state}
end
return {state, state}
"""


@dataclass
class Gate:
    allowed: bool
    wait: float  # seconds before asking again, when not allowed
    state: str
    changed_from: str | None  # the previous state, when this call changed it


@dataclass
class BreakerState:
    state: str
    failures: int
    open_for: float  # seconds until a probe may go, while open


class CircuitBreaker:
    def __init__(
        self,
        client: redis.Redis,
        *,
        threshold: int,
        cooldown: float,
        probe_lease: float,
        key: str = "hub:receiver:jira:breaker",
    ) -> None:
        self.redis, self.key = client, key
        self.threshold, self.cooldown, self.probe_lease = threshold, cooldown, probe_lease
        self._allow = client.register_script(ALLOW)
        self._record = client.register_script(RECORD)

    def allow(self) -> Gate:
        allowed, wait_ms, state, previous = self._allow(keys=[self.key], args=[int(self.probe_lease * 1000)])
        state, previous = _text(state), _text(previous)
        return Gate(bool(allowed), wait_ms / 1000, state, previous if previous != state else None)

    def record(self, success: bool) -> str | None:
        """Record an outcome; returns the previous state if this changed it, else None."""
        state, previous = self._record(
            keys=[self.key], args=[1 if success else 0, self.threshold, int(self.cooldown * 1000)]
        )
        state, previous = _text(state), _text(previous)
        return previous if state != previous else None

    def state(self) -> BreakerState:
        data = {_text(k): _text(v) for k, v in self.redis.hgetall(self.key).items()}
        now_s, now_us = self.redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        state = data.get("state", CLOSED)
        open_for = max(0, int(data.get("open_until", 0)) - now_ms) / 1000 if state == OPEN else 0.0
        return BreakerState(state=state, failures=int(data.get("failures", 0)), open_for=open_for)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
