"""Provider health shared by every worker through Redis: circuit breakers, rate limits, slots.

Circuit breaker (per provider model): outcomes are counted in a sliding window; when at least
`min_calls` calls were made and the failure share reaches `failure_ratio` — or the vendor says
our credit is exhausted — the circuit opens for `cooldown_seconds`. After the cooldown it is
half-open: one probe call is let through; its success closes the circuit, its failure reopens it.

Rate limiter: a token bucket per provider (capacity = the per-minute limit, refilled evenly),
so a burst waits for tokens instead of failing. Concurrency: leased slots that expire, so a
crashed worker cannot hold a slot forever.
"""

import time
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

from providers.router import CIRCUIT_CLOSED, CIRCUIT_HALF_OPEN, CIRCUIT_OPEN, ProviderHealth

WINDOW_SECONDS = 60
MIN_CALLS = 5
FAILURE_RATIO = 0.5
COOLDOWN_SECONDS = 30
CREDIT_COOLDOWN_SECONDS = 600
PROBE_LEASE_SECONDS = 60
SLOT_LEASE_SECONDS = 3600


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def health_redis() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


def _key(slug: str, part: str) -> str:
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:health:{slug}:{part}"


# Records an outcome and opens the circuit when the window's failure share is too high.
# KEYS: outcomes zset, open-until key, probe key. ARGV: now, window, outcome(1 ok / 0 fail),
# member id, min_calls, failure_ratio, cooldown, force_open(1/0)
_RECORD = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. ARGV[3])
redis.call('EXPIRE', KEYS[1], window * 2)
local was_probe = redis.call('DEL', KEYS[3])
if ARGV[3] == '1' then
  if was_probe == 1 then redis.call('DEL', KEYS[2], KEYS[1]) end
  return 0
end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local failures = 0
for _, m in ipairs(members) do if string.sub(m, -2) == ':0' then failures = failures + 1 end end
local total = #members
if ARGV[8] == '1' or was_probe == 1 or (total >= tonumber(ARGV[5]) and failures / total >= tonumber(ARGV[6])) then
  redis.call('SET', KEYS[2], now + tonumber(ARGV[7]), 'EX', math.ceil(tonumber(ARGV[7])) + 3600)
  return 1
end
return 0
"""

# KEYS: bucket. ARGV: now, capacity, refill per second. Returns {allowed, wait seconds * 1000}.
_TAKE_TOKEN = """
local now, capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * rate)
local allowed, wait = 0, 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {allowed, math.ceil(wait * 1000)}
"""

# KEYS: slots zset. ARGV: now, cap, holder, lease. Returns 1 when a slot is held.
_TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[4]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]) + 60)
return 1
"""


@dataclass(frozen=True)
class CircuitState:
    state: str
    retry_in_seconds: float = 0.0


def circuit_state(slug: str, *, now: float | None = None, client: redis.Redis | None = None) -> CircuitState:
    client = client or health_redis()
    now = time.time() if now is None else now
    return _circuit_from(client.get(_key(slug, "open_until")), now=now)


def _circuit_from(open_until: bytes | None, *, now: float) -> CircuitState:
    if open_until is None:
        return CircuitState(CIRCUIT_CLOSED)
    remaining = float(open_until) - now
    if remaining > 0:
        return CircuitState(CIRCUIT_OPEN, remaining)
    return CircuitState(CIRCUIT_HALF_OPEN)


def circuit_allows_call(slug: str, *, client: redis.Redis | None = None) -> bool:
    """Closed: yes. Open: no. Half-open: only the one caller that wins the probe lease."""
    client = client or health_redis()
    state = circuit_state(slug, client=client)
    if state.state == CIRCUIT_CLOSED:
        return True
    if state.state == CIRCUIT_OPEN:
        return False
    return bool(client.set(_key(slug, "probe"), "1", nx=True, ex=PROBE_LEASE_SECONDS))


def circuit_record(slug: str, *, success: bool, credit_exhausted: bool = False, now: float | None = None,
                   client: redis.Redis | None = None) -> bool:
    """Record one call's outcome; True when this outcome opened the circuit."""
    client = client or health_redis()
    now = time.time() if now is None else now
    cooldown = CREDIT_COOLDOWN_SECONDS if credit_exhausted else COOLDOWN_SECONDS
    member = f"{now:.6f}:{time.monotonic_ns()}"
    opened = client.eval(
        _RECORD, 3, _key(slug, "outcomes"), _key(slug, "open_until"), _key(slug, "probe"),
        now, WINDOW_SECONDS, "1" if success else "0", member, MIN_CALLS, FAILURE_RATIO, cooldown,
        "1" if credit_exhausted else "0",
    )
    return bool(opened)


def circuit_reset(slug: str, *, client: redis.Redis | None = None) -> None:
    client = client or health_redis()
    client.delete(_key(slug, "outcomes"), _key(slug, "open_until"), _key(slug, "probe"))


def health_forget(slug: str, *, client: redis.Redis | None = None) -> None:
    """Drop everything known about a provider's health: circuit, request budget and slots."""
    client = client or health_redis()
    client.delete(*(_key(slug, part) for part in ("outcomes", "open_until", "probe", "bucket", "slots")))


def rate_limit_take(slug: str, *, per_minute: int | None, now: float | None = None,
                    client: redis.Redis | None = None) -> float:
    """Take one request token; returns 0 when allowed, else the seconds to wait for one."""
    if not per_minute:
        return 0.0
    client = client or health_redis()
    now = time.time() if now is None else now
    allowed, wait_ms = client.eval(_TAKE_TOKEN, 1, _key(slug, "bucket"), now, per_minute, per_minute / 60)
    return 0.0 if allowed else wait_ms / 1000


def rate_limited_now(slug: str, *, per_minute: int | None, client: redis.Redis | None = None) -> bool:
    """Would a request have to wait right now? (Reads without taking a token.)"""
    if not per_minute:
        return False
    client = client or health_redis()
    tokens, at = client.hmget(_key(slug, "bucket"), "tokens", "at")
    return _rate_limited_from(tokens, at, per_minute=per_minute, now=time.time())


def _rate_limited_from(tokens: bytes | None, at: bytes | None, *, per_minute: int, now: float) -> bool:
    if tokens is None:
        return False
    return float(tokens) + (now - float(at)) * per_minute / 60 < 1


def concurrency_slot_take(slug: str, *, holder: str, cap: int | None, client: redis.Redis | None = None) -> bool:
    if not cap:
        return True
    client = client or health_redis()
    return bool(client.eval(_TAKE_SLOT, 1, _key(slug, "slots"), time.time(), cap, holder, SLOT_LEASE_SECONDS))


def concurrency_slot_release(slug: str, *, holder: str, client: redis.Redis | None = None) -> None:
    client = client or health_redis()
    client.zrem(_key(slug, "slots"), holder)


def provider_health(slug: str, *, per_minute: int | None, client: redis.Redis | None = None) -> ProviderHealth:
    state = circuit_state(slug, client=client)
    return ProviderHealth(circuit=state.state, retry_in_seconds=state.retry_in_seconds,
                          rate_limited=rate_limited_now(slug, per_minute=per_minute, client=client))


def providers_health(rate_limits: dict[str, int | None], *, client: redis.Redis | None = None) -> dict[str, ProviderHealth]:
    """provider_health of many models in one Redis round trip: `rate_limits` maps each slug to its
    per-minute limit (None: unlimited)."""
    client = client or health_redis()
    pipeline = client.pipeline(transaction=False)
    for slug, per_minute in rate_limits.items():
        pipeline.get(_key(slug, "open_until"))
        if per_minute:
            pipeline.hmget(_key(slug, "bucket"), "tokens", "at")
    replies = iter(pipeline.execute() if rate_limits else [])
    now = time.time()
    readings = {}
    for slug, per_minute in rate_limits.items():
        state = _circuit_from(next(replies), now=now)
        limited = _rate_limited_from(*next(replies), per_minute=per_minute, now=now) if per_minute else False
        readings[slug] = ProviderHealth(circuit=state.state, retry_in_seconds=state.retry_in_seconds, rate_limited=limited)
    return readings
