"""The policy as the core sees it: a `Snapshot` of policy + tier thresholds + market cycles +
the population model (fit, RFM cut points, repeat gaps)."""

import asyncio
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import OpenSession
from app.kit.problems import ProblemError, invalid
from app.policy import repository
from app.policy.schemas import DEFAULT_POLICY, Policy
from app.population import service as population
from app.predictive.population import ModelFit, PopulationModel, RepeatGaps
from app.tiers import ALL_MARKETS, Thresholds, thresholds_for


@dataclass(frozen=True)
class Snapshot:
    policy: Policy
    version: int
    # tier cut points per ranking: each market's, or "all" (policy.tier_scope says which is used)
    tier_rankings: dict[str, Thresholds] = field(default_factory=dict)
    # median cycle per market, only for markets with enough clients that have their own cycle
    market_cycles: dict[str, float] = field(default_factory=dict)
    # the fitted purchase and spend models, RFM cut points, repeat gaps per market
    model: PopulationModel = field(default_factory=PopulationModel)

    def market_cycle(self, market: str) -> float | None:
        return self.market_cycles.get(market)

    def repeat_gaps(self, market: str) -> RepeatGaps | None:
        return self.model.repeat_gaps.get(market)

    def with_fit(self, fit: ModelFit | None) -> "Snapshot":
        """The same figures with another model fit (the one in force at an `as_of`)."""
        return replace(self, model=replace(self.model, fit=fit))

    def with_figures(self, figures: population.Figures) -> "Snapshot":
        """The same policy with other population figures (those in force at an `as_of`)."""
        return replace(
            self,
            tier_rankings=figures.tier_rankings,
            market_cycles=figures.market_cycles,
            model=figures.model,
        )

    def thresholds(self, market: str) -> Thresholds | None:
        """The cut points a client of this market is tiered against (None until computed)."""
        return thresholds_for(self.tier_rankings, market, self.policy.tier_scope)

    def has_tier_scope(self) -> bool:
        """Cut points exist for the policy's kind of ranking (per market, or all together)."""
        overall = ALL_MARKETS in self.tier_rankings
        if self.policy.tier_scope == "global":
            return overall
        return bool(self.tier_rankings) and not overall


async def load_snapshot(session: AsyncSession) -> Snapshot:
    row = await repository.load(session)
    policy = Policy.model_validate(row.body) if row else DEFAULT_POLICY
    figures = await population.load(session, policy.market_cycle_min_clients)
    return Snapshot(
        policy,
        row.version if row else 0,
        figures.tier_rankings,
        figures.market_cycles,
        figures.model,
    )


class SnapshotCache:
    """A per-process cache of the snapshot, so a write does not re-read the policy each time.

    Another process's policy change reaches this one within `ttl_seconds`; writes made with the
    older policy in that window are re-evaluated by the worker (their policy_version is older).
    """

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self._snapshot: Snapshot | None = None
        self._loaded_at = 0.0
        self._loading = asyncio.Lock()

    def _current(self) -> Snapshot | None:
        fresh = time.monotonic() - self._loaded_at < self.ttl_seconds
        return self._snapshot if fresh else None

    async def get(self, sessionmaker: OpenSession) -> Snapshot:
        """The cached snapshot, or one read now through a session of `sessionmaker`'s. The
        requests that find it stale at once wait for one read instead of each making its own
        (each would take a connection of its own)."""
        snapshot = self._current()
        if snapshot is None:
            async with self._loading:
                snapshot = self._current()
                if snapshot is None:
                    async with sessionmaker() as session:
                        snapshot = self._snapshot = await load_snapshot(session)
                    self._loaded_at = time.monotonic()
        return snapshot

    def invalidate(self) -> None:
        self._snapshot = None


async def replace_policy(
    session: AsyncSession,
    policy: Policy,
    updated_by: str | None,
    now: datetime,
    expected_version: int | None = None,
) -> int:
    """Store a new policy. The worker re-evaluates every client whose policy_version is older.

    With `expected_version` (the version the caller read), a policy changed meanwhile by someone
    else is a 409 instead of being silently overwritten."""
    current = await repository.lock_version(session)
    if expected_version is not None and expected_version != current:
        raise ProblemError(
            409,
            "Conflict",
            f"the policy is at version {current}, not {expected_version}: it changed since you "
            "read it; GET it again and reapply your change",
            slug="policy-version-conflict",
        )
    body: dict[str, Any] = policy.model_dump(mode="json")
    return await repository.save_policy(session, body, updated_by, now)


def patched(current: Policy, changes: dict[str, Any]) -> Policy:
    """The current policy with some fields changed, validated as a whole (a 422 names the field)."""
    unknown = sorted(set(changes) - set(Policy.model_fields))
    if unknown:
        raise invalid(unknown[0], "is not a policy field", "extra_forbidden")
    return Policy.model_validate(current.model_dump(mode="json") | changes)
