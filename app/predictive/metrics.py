"""How well a score ranks an outcome: AUC, precision and recall of a flag, lift by decile.
Pure numpy/scipy; the backtests (app.churn.backtest) use them.

- `auc(score, positive)`: the probability that a random positive (a churner) scores above a
  random negative, ties counting one half (the Mann-Whitney U statistic over average ranks);
  0.5 is a coin, 1 a perfect ranking; nan without both kinds.
- `precision_recall(flag, positive)`: precision = positives among the flagged, recall =
  flagged among the positives (nan when nothing is flagged / no positive).
- `lift_by_decile(score, positive)`: the clients sorted by score, highest first, cut in ten
  groups of (nearly) equal size; each group's rate of positives and its lift over the overall
  rate. Ties are broken by position (stable sort), so a coarse score's groups mix tied clients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


def auc(score: npt.ArrayLike, positive: npt.ArrayLike) -> float:
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    if s.shape != y.shape:
        raise ValueError("score and positive must have the same shape")
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(s)
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def average_ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks 1..n, ties sharing the mean of their ranks (scipy.stats.rankdata's "average", without
    importing scipy.stats, 0.7 s, into every API process)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    first = np.ones(ordered.size, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], ordered.size)
    mean_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def precision_recall(flag: npt.ArrayLike, positive: npt.ArrayLike) -> tuple[float, float]:
    f = np.asarray(flag, dtype=bool)
    y = np.asarray(positive, dtype=bool)
    hits = int((f & y).sum())
    flagged = int(f.sum())
    positives = int(y.sum())
    precision = hits / flagged if flagged else math.nan
    recall = hits / positives if positives else math.nan
    return precision, recall


@dataclass(frozen=True, slots=True)
class Decile:
    decile: int  # 1 = the highest scores
    clients: int
    positives: int
    rate: float
    lift: float  # rate / overall rate
    min_score: float
    max_score: float


def lift_by_decile(score: npt.ArrayLike, positive: npt.ArrayLike) -> list[Decile]:
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    if s.size == 0:
        return []
    overall = float(y.mean())
    order = np.argsort(-s, kind="stable")
    out = []
    for k, part in enumerate(np.array_split(order, 10), start=1):
        if part.size == 0:
            continue
        hits = int(y[part].sum())
        rate = hits / part.size
        out.append(
            Decile(
                decile=k,
                clients=int(part.size),
                positives=hits,
                rate=rate,
                lift=rate / overall if overall > 0 else math.nan,
                min_score=float(s[part].min()),
                max_score=float(s[part].max()),
            )
        )
    return out
