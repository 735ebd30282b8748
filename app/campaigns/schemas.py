"""Campaigns as the API takes and returns them (SPEC §7). Money crosses the API as decimal
strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from app.domain import Decision, Market, Money, SignalCode, Status, Tier
from app.kit.text import not_a_boolean

Group = Literal["treatment", "holdout"]
CampaignStatus = Literal["running", "closed"]
CampaignId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="letters, digits and `_ . : -`, at most 64; touches carry it as "
        "`contact.logged` `data.campaign_id`",
        examples=["cmp_2026_q4_lost_a"],
    ),
]
Days = Annotated[float, Field(ge=0, le=36500, allow_inf_nan=False)]

SEGMENT_EXAMPLE: dict[str, Any] = {
    "status": ["lost"],
    "tier": ["A"],
    "market": "b2b",
    "decision": ["return_first"],
    "lapsed_days_max": 365,
    "not_contacted_days": 14,
}
CREATE_EXAMPLE: dict[str, Any] = {
    "name": "Q4 win-back: lost tier A",
    "segment": SEGMENT_EXAMPLE,
    "holdout_pct": 10,
    "attribution_days": 60,
}


class Segment(BaseModel):
    """Which clients the campaign takes: every given filter must hold (AND); a list matches any
    of its values (OR). Filters read the client's state as evaluated at the snapshot."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SEGMENT_EXAMPLE]})
    _numbers = field_validator(
        "min_value", "lapsed_days_min", "lapsed_days_max", "not_contacted_days", mode="before"
    )(not_a_boolean)

    status: list[Status] = Field(default_factory=list, max_length=5)
    tier: list[Tier] = Field(default_factory=list, max_length=3)
    market: Market | None = None
    signals: list[SignalCode] = Field(
        default_factory=list, max_length=5, description="the client has any of these signals"
    )
    decision: list[Decision] = Field(default_factory=list, max_length=6)
    min_value: Decimal | None = Field(default=None, ge=0, max_digits=20, decimal_places=2)
    lapsed_days_min: Days | None = Field(
        default=None, description="at least this many days since the last order"
    )
    lapsed_days_max: Days | None = Field(
        default=None, description="at most this many days since the last order"
    )
    manager_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    not_contacted_days: Days | None = Field(
        default=None, description="no contact logged (either direction) in this many days"
    )
    # min_risk (0-1) comes with churn_risk ([models]): a filter on the client's churn_risk, in
    # campaigns.repository.segment_where (stored column) and service.matches (fresh state).

    @model_validator(mode="after")
    def _lapse_range(self) -> Segment:
        low, high = self.lapsed_days_min, self.lapsed_days_max
        if low is not None and high is not None and low > high:
            raise ValueError("lapsed_days_min must not exceed lapsed_days_max")
        return self


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CREATE_EXAMPLE]})
    _numbers = field_validator("holdout_pct", "attribution_days", mode="before")(not_a_boolean)

    id: CampaignId | None = Field(
        default=None,
        description="your own id; omitted, winback makes one (`cmp_...`). The holdout is a hash "
        "of (id, client): a preview with an id splits exactly as the campaign created with it",
    )
    name: Annotated[str, Field(min_length=1, max_length=200)]
    segment: Segment = Field(default_factory=Segment)
    holdout_pct: float = Field(
        default=10,
        ge=0,
        le=50,
        allow_inf_nan=False,
        description="share of the members held out (no touches), to measure the uplift",
    )
    attribution_days: int = Field(
        default=60, ge=1, le=730, description="an order this many days after the start is a return"
    )
    include_in_other_campaigns: StrictBool = Field(
        default=False,
        description="also take clients already in another running campaign (either group)",
    )


class Exclusions(BaseModel):
    do_not_contact: int = Field(description="clients marked do_not_contact")
    in_other_campaigns: int = Field(
        description="members (treatment or holdout) of another running campaign"
    )
    no_longer_matching: int = Field(
        description="clients whose stored state matched but whose state now does not (the "
        "stored state lags by at most one sweep)"
    )


class ValueAtStake(BaseModel):
    total: Money
    treatment: Money
    holdout: Money


class SnapshotSummary(BaseModel):
    """What the snapshot took: counts, the split, the value at stake."""

    matched: int = Field(description="clients whose stored state matched the segment")
    excluded: Exclusions
    members: int
    treatment: int
    holdout: int
    value_at_stake: ValueAtStake = Field(description="the members' value, by group")
    expected_value: Money = Field(description="the treatment's plans: sum of expected_value")
    by_decision: dict[Decision, int] = Field(description="members by their plan's decision")


class CampaignPreview(BaseModel):
    preview: Literal[True] = True
    id: str = Field(
        description="the id the split was drawn with: create the campaign with this id to get "
        "exactly this split"
    )
    snapshot: SnapshotSummary


class Members(BaseModel):
    total: int
    treatment: int
    holdout: int


class CampaignRead(BaseModel):
    id: str
    name: str
    status: CampaignStatus
    segment: Segment
    holdout_pct: float
    attribution_days: int
    include_in_other_campaigns: bool
    started_at: datetime
    attribution_ends_at: datetime = Field(description="started_at + attribution_days")
    closed_at: datetime | None
    outcomes_recorded: bool = Field(
        description="closed after its attribution window: its treatment members' outcomes count "
        "as evidence for p_return"
    )
    policy_version: int = Field(description="the policy the members' plans were computed under")
    members: Members
    value_at_stake: ValueAtStake
    expected_value: Money


class CampaignCreated(CampaignRead):
    snapshot: SnapshotSummary


class CampaignPage(BaseModel):
    items: list[CampaignRead]
    next_cursor: str | None


class FirstStep(BaseModel):
    day: int
    channel: str
    action: str


class MemberRead(BaseModel):
    """A member: contact fields as the client has them now, the rest as at the snapshot."""

    client_id: str
    name: str | None
    email: str | None
    phone: str | None
    manager_id: str | None
    group: Group
    tier: Tier | None
    status: Status
    value: Money
    decision: Decision
    urgency: str
    owner_role: str
    first_step: FirstStep | None
    offer: str | None = Field(description="the offer in one line: its components and validity")
    p_return: float
    expected_value: Money


class MemberPage(BaseModel):
    items: list[MemberRead]
    next_cursor: str | None


class GroupResult(BaseModel):
    members: int
    contacted: int = Field(
        description="members with a `contact.logged` carrying this campaign's id since the start"
    )
    responded: int = Field(
        description="members with an inbound contact, or an outcome reached/replied, in the window"
    )
    returned: int = Field(description="members with an order in the attribution window")
    recovered_revenue: Money = Field(
        description="net revenue of those orders (cancelled ones left out, refunds taken off)"
    )
    win_back_rate: float | None = Field(description="returned / members")


class Uplift(BaseModel):
    difference: float = Field(description="win-back rate of treatment minus holdout")
    low: float
    high: float
    confidence: float = 0.95
    method: str = "Newcombe hybrid score interval (method 10, Newcombe 1998)"
    significant: bool = Field(description="the interval leaves out 0")


class CampaignResults(BaseModel):
    campaign_id: str
    status: CampaignStatus
    as_of: datetime
    started_at: datetime
    attribution_ends_at: datetime
    window_complete: bool = Field(description="the attribution window has ended")
    treatment: GroupResult
    holdout: GroupResult
    uplift: Uplift | None = Field(description="null without holdout or treatment members")
    notes: list[str] = Field(description="what to keep in mind reading these figures")
