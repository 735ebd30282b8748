"""Rate limits per API key (SPEC §14): a token bucket per (key, class of route).

Pure: the caller passes the moment (a monotonic clock reading). Buckets live in the process, so
with N API processes a key may use up to N times its limit: put the limit a proxy enforces in
front of several processes, or divide by N.
"""

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limit:
    per_second: float  # tokens added per second
    burst: int  # bucket size: requests allowed at once after a quiet spell


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int  # the burst, as RateLimit-Limit
    remaining: int
    reset_seconds: int  # until the bucket is full again (RateLimit-Reset)
    retry_after_seconds: int  # until one request is allowed (Retry-After on a 429)


@dataclass
class RateLimiter:
    limits: dict[str, Limit]
    max_buckets: int = 100_000
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def take(self, key_id: str, route_class: str, now: float) -> Decision:
        limit = self.limits[route_class]
        bucket = self._buckets.get((key_id, route_class))
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:  # revoked keys' buckets do not pile up
                self._buckets.clear()
            bucket = self._buckets[(key_id, route_class)] = _Bucket(float(limit.burst), now)
        bucket.tokens = min(limit.burst, bucket.tokens + (now - bucket.at) * limit.per_second)
        bucket.at = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        missing_for_one = max(0.0, 1 - bucket.tokens)
        return Decision(
            allowed=allowed,
            limit=limit.burst,
            remaining=int(bucket.tokens),
            reset_seconds=math.ceil((limit.burst - bucket.tokens) / limit.per_second),
            retry_after_seconds=max(1, math.ceil(missing_for_one / limit.per_second)),
        )
