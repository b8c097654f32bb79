"""The shared rate budget for Jira: one token bucket in Redis for every worker on every host.

Time comes from Redis itself (TIME), so hosts with skewed clocks share one budget. A 429 pauses
the whole budget until Jira's Retry-After has passed. Creates come first when the budget is short:
an update (comment, issue property) takes a token only while ``reserve`` more remain.
"""

from dataclasses import dataclass

import redis

CREATE = "create"
UPDATE = "update"

# KEYS: bucket, pause. ARGV: rate (tokens/s), burst, tokens that must remain after taking.
# Returns {granted (0|1), milliseconds to wait before asking again}.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {0, paused - now} end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local granted, wait = 0, 0
if tokens >= 1 + floor then
  tokens = tokens - 1
  granted = 1
else
  wait = math.ceil((1 + floor - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 60000)
return {granted, wait}
"""

# KEYS: pause. ARGV: milliseconds. Extends (never shortens) the pause; returns its end.
PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= untilms then return current end
redis.call('SET', KEYS[1], untilms, 'PX', tonumber(ARGV[1]))
return untilms
"""


@dataclass
class BudgetState:
    tokens: float
    paused_for: float  # seconds left of a 429 pause, 0 when not paused


class RateBudget:
    def __init__(
        self,
        client: redis.Redis,
        *,
        rate: float,
        burst: int,
        reserve: int,
        prefix: str = "hub:receiver:jira:budget",
    ) -> None:
        if rate <= 0 or burst < 1 or not 0 <= reserve < burst:
            raise ValueError("need rate > 0, burst >= 1 and 0 <= reserve < burst")
        self.redis = client
        self.rate, self.burst, self.reserve = rate, burst, reserve
        self.bucket_key, self.pause_key = f"{prefix}:bucket", f"{prefix}:paused-until"
        self._take = client.register_script(TAKE)
        self._pause = client.register_script(PAUSE)

    def take(self, kind: str = CREATE) -> float:
        """Take one token for a request of ``kind``: 0.0 if granted, else seconds to wait."""
        floor = 0 if kind == CREATE else self.reserve
        granted, wait_ms = self._take(
            keys=[self.bucket_key, self.pause_key], args=[self.rate, self.burst, floor]
        )
        return 0.0 if granted else max(wait_ms, 1) / 1000

    def pause(self, seconds: float) -> None:
        """Stop every worker's requests for ``seconds`` (Jira's Retry-After)."""
        self._pause(keys=[self.pause_key], args=[max(1, int(seconds * 1000))])

    def state(self) -> BudgetState:
        tokens, ts = self.redis.hmget(self.bucket_key, "tokens", "ts")
        now_s, now_us = self.redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        if tokens is None:
            current = float(self.burst)
        else:
            current = min(self.burst, float(tokens) + max(0, now_ms - int(ts)) * self.rate / 1000)
        paused_until = int(self.redis.get(self.pause_key) or 0)
        return BudgetState(tokens=round(current, 2), paused_for=max(0, paused_until - now_ms) / 1000)
