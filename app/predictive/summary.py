"""A client's purchase history as the models see it: (x, t_x, T, mean repeat spend).

- An *occasion* is a calendar day with at least one order: orders placed on the same day are one
  purchase occasion (the models count purchase occasions; two orders split at checkout are one
  visit), and the occasion's value is the sum of that day's orders (revenue counts every order).
- `x` is the number of repeat occasions (occasions after the first one), `t_x` the time from the
  first occasion to the last one, `T` the time from the first occasion to the cutoff day; orders
  after the cutoff day are ignored, orders on it count.
- `mean_repeat_spend` is the mean value of the x repeat occasions (0.0 when x = 0: the first
  purchase is left out, as in Fader, Hardie & Lee's Gamma-Gamma, because it is often atypical).
- Times are in days divided by `unit_days` (1 = days, 7 = weeks, as the CDNOW papers use).

Days are the dates of the timestamps as given: convert them to the seller's time zone first.
Money is `Decimal` in the rest of winback; the models work in floats, so amounts are converted
here and the scores are converted back at the boundary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import numpy.typing as npt

DAYS = 1.0
WEEKS = 7.0

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ClientSummary:
    """One client's sufficient statistics for BG/NBD and Gamma-Gamma."""

    x: int
    t_x: float
    T: float
    mean_repeat_spend: float
    unit_days: float = DAYS


@dataclass(frozen=True, slots=True)
class Summaries:
    """The same for many clients, as arrays in the order of `client` (sorted ids)."""

    client: IntArray
    x: IntArray
    t_x: FloatArray
    T: FloatArray
    mean_repeat_spend: FloatArray
    unit_days: float = DAYS


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def summarize(
    purchases: Iterable[tuple[date | datetime, Decimal | float]],
    cutoff: date | datetime,
    *,
    unit_days: float = DAYS,
) -> ClientSummary | None:
    """(x, t_x, T, mean repeat spend) of one client's orders (timestamp, amount) up to and
    including the cutoff's day; None when the client has no order by then."""
    if unit_days <= 0:
        raise ValueError("unit_days must be positive")
    last_day = _day(cutoff)
    by_day: dict[date, float] = {}
    for placed_at, amount in purchases:
        day = _day(placed_at)
        if day <= last_day:
            by_day[day] = by_day.get(day, 0.0) + float(amount)
    if not by_day:
        return None
    days = sorted(by_day)
    first = days[0]
    repeat = [by_day[day] for day in days[1:]]
    return ClientSummary(
        x=len(repeat),
        t_x=(days[-1] - first).days / unit_days,
        T=(last_day - first).days / unit_days,
        mean_repeat_spend=sum(repeat) / len(repeat) if repeat else 0.0,
        unit_days=unit_days,
    )


def summarize_arrays(
    client: npt.ArrayLike,
    day: npt.ArrayLike,
    amount: npt.ArrayLike,
    cutoff_day: int,
    *,
    unit_days: float = DAYS,
) -> Summaries:
    """`summarize` for a whole population at once: one row per order (client id, day number, e.g.
    days since an epoch, amount); clients whose first order is after the cutoff are left out."""
    if unit_days <= 0:
        raise ValueError("unit_days must be positive")
    client_ = np.asarray(client, dtype=np.int64)
    day_ = np.asarray(day, dtype=np.int64)
    amount_ = np.asarray(amount, dtype=np.float64)
    if not client_.shape == day_.shape == amount_.shape or client_.ndim != 1:
        raise ValueError("client, day and amount must be 1-d arrays of one length")
    keep = day_ <= cutoff_day
    client_, day_, amount_ = client_[keep], day_[keep], amount_[keep]
    # occasions: one per (client, day), valued at the sum of that day's orders
    order = np.lexsort((day_, client_))
    client_, day_, amount_ = client_[order], day_[order], amount_[order]
    new_occasion = np.ones(client_.size, dtype=bool)
    new_occasion[1:] = (client_[1:] != client_[:-1]) | (day_[1:] != day_[:-1])
    starts = np.flatnonzero(new_occasion)
    occ_client, occ_day = client_[starts], day_[starts]
    occ_value = np.add.reduceat(amount_, starts) if starts.size else amount_[:0]
    # clients: first and last occasion, count, repeat revenue
    first_of_client = np.ones(occ_client.size, dtype=bool)
    first_of_client[1:] = occ_client[1:] != occ_client[:-1]
    bounds = np.flatnonzero(first_of_client)
    ids = occ_client[bounds]
    ends = np.append(bounds[1:], occ_client.size) if bounds.size else bounds
    occasions = ends - bounds
    first_day = occ_day[bounds]
    last_day = occ_day[ends - 1]
    total = np.add.reduceat(occ_value, bounds) if bounds.size else occ_value[:0]
    x = (occasions - 1).astype(np.int64)
    repeat_total = total - occ_value[bounds]
    mean_spend = np.divide(repeat_total, x, out=np.zeros(x.size), where=x > 0)
    return Summaries(
        client=ids,
        x=x,
        t_x=(last_day - first_day) / unit_days,
        T=(cutoff_day - first_day) / unit_days,
        mean_repeat_spend=mean_spend,
        unit_days=unit_days,
    )
