"""Who runs the plan (SPEC §6, owner).

Tier A or a human-factor reason → `leadership`, otherwise `retention_team`. Never the manager who
had the client when it was lost: for a `lost` client the manager in charge at `last_lost_at` (from
the attribute history) and the current account manager are excluded. With a human-factor reason
the current manager and the last one who contacted the client are excluded too (the conflict may
be with them). When the plan opens with an exit interview ("by someone who never worked with the
client"), every manager known to have worked with it is excluded.
"""

from __future__ import annotations

from datetime import datetime

from app.churn.engine import ClientState
from app.churn.facts import ClientFacts
from app.plans.diagnosis import Finding
from app.plans.profile import ClientProfile
from app.plans.schemas import Owner, OwnerRole


def manager_at(facts: ClientFacts, moment: datetime) -> str | None:
    """The manager in charge at `moment`: the latest assignment at or before it."""
    best: tuple[datetime, str | None] | None = None
    for at, manager_id in facts.managers:
        if at <= moment and (best is None or at >= best[0]):
            best = (at, manager_id)
    return best[1] if best else None


def owner_role(profile: ClientProfile, finding: Finding) -> OwnerRole:
    if profile.tier == "A" or finding.diagnosis.human_factor:
        return "leadership"
    return "retention_team"


def assign_owner(
    profile: ClientProfile,
    state: ClientState,
    facts: ClientFacts,
    finding: Finding,
    exit_interview: bool,
) -> Owner:
    excluded: list[str | None] = []
    if state.status == "lost":
        if state.last_lost_at is not None:
            excluded.append(manager_at(facts, state.last_lost_at))
        excluded.append(profile.manager_id)
    if finding.diagnosis.human_factor:
        excluded.extend([profile.manager_id, facts.last_contact_manager_id])
    if exit_interview:
        excluded.extend(manager_id for _, manager_id in facts.managers)
        excluded.extend([profile.manager_id, facts.last_contact_manager_id])
    ids = list(dict.fromkeys(m for m in excluded if m))
    return Owner(role=owner_role(profile, finding), exclude_manager_ids=ids)
