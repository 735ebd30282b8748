"""When to try a webhook again, and what an answer means. Pure: times are arguments.

The schedule is Svix's (SPEC §9): the first attempt immediately, then after each failure 5 s,
5 min, 30 min, 2 h, 5 h, 10 h and 10 h (eight attempts over about 28 hours), each delay spread by
±10 % of jitter so that an endpoint coming back is not hit by every retry at once. A 429 or 503
with `Retry-After` is not retried before the time it asks for (capped at a day). After the eighth
failure the delivery has failed; `POST .../replay` can send it again.
"""

import math
import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

# seconds before attempt 1, 2, ... (the first one is immediate)
DELAYS: tuple[float, ...] = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(DELAYS)
JITTER = 0.1
MAX_RETRY_AFTER = 86400.0

Outcome = Literal[
    "delivered",  # a 2xx
    "http_error",  # any other status, redirects included (never followed)
    "gone",  # 410: the endpoint is disabled
    "timeout",  # no complete answer in time
    "network_error",  # refused connection, reset, DNS failure, TLS failure
    "refused",  # the SSRF guard: the address is not a public one
    "error",  # winback could not sign or send (e.g. the secret is unreadable)
]
OUTCOMES: tuple[Outcome, ...] = (
    "delivered",
    "http_error",
    "gone",
    "timeout",
    "network_error",
    "refused",
    "error",
)


def outcome_of(status_code: int) -> Outcome:
    if 200 <= status_code < 300:
        return "delivered"
    if status_code == 410:
        return "gone"
    return "http_error"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header in seconds from `now`: delta-seconds or an HTTP date; None when
    absent or unreadable; at most a day."""
    if not value:
        return None
    value = value.strip()
    seconds: float
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def next_attempt(
    attempts_made: int, now: datetime, rng: random.Random, retry_after: float | None = None
) -> datetime | None:
    """When to try again after the `attempts_made`-th attempt failed at `now`: the schedule's
    delay with jitter, never before `retry_after` seconds when the endpoint asked for that;
    None when the attempts are used up."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    delay = DELAYS[attempts_made] * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)
