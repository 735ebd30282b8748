"""Reports as the API returns them (SPEC §7). Money crosses the API as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.domain import Money

Interval = Literal["week", "month", "quarter"]
GroupBy = Literal["tier", "manager", "market"]
ReasonGroup = Literal["competitor", "company", "external"]
ReasonSource = Literal["recorded", "inferred"]
AbcClass = Literal["A", "B", "C"]


class ChurnRow(BaseModel):
    period_start: date = Field(description="first day of the period (UTC)")
    period_end: date = Field(description="first day of the next period")
    group: str | None = Field(
        description="the tier, manager id or market (the client's current one); null without "
        "group_by, and for clients without a tier or a manager"
    )
    clients_at_start: int = Field(
        description="clients active, at risk or recovered when the period began"
    )
    lost: int = Field(
        description="clients that became lost in the period (one lost, won back and lost again "
        "in it counts twice)"
    )
    churn_rate: float | None = Field(description="lost / clients_at_start")
    lost_value: Money = Field(description="the value of the clients lost")
    recovered: int = Field(description="lost clients that came back (an order) in the period")
    recovered_value: Money = Field(description="the value of the clients recovered")


class ChurnReport(BaseModel):
    from_: date = Field(serialization_alias="from", description="first day covered")
    to: date
    interval: Interval
    group_by: GroupBy | None
    as_of: datetime
    rows: list[ChurnRow] = Field(description="per period, then per group")


class ReasonRow(BaseModel):
    rank: int
    reason: str = Field(
        description="the reason code; for an inferred reason without a code, the signal it was "
        "read from (`dissatisfied`)"
    )
    reason_code: str | None
    signal: str | None = Field(description="the signal an inferred reason was read from")
    group: ReasonGroup
    source: ReasonSource = Field(
        description="`recorded`: the client gave it (exit interview, lost request, feedback, "
        "churn notice); `inferred`: read from the signals when the client was lost"
    )
    clients: int = Field(description="clients lost with this as their leading reason")
    value: Money = Field(description="their value")
    share: float = Field(description="of the value lost for a known reason")
    cumulative_share: float
    abc_class: AbcClass = Field(
        serialization_alias="class",
        description="A: the reasons that make up the first 80 % of the value lost for a known "
        "reason; B: up to 95 %; C: the rest. Fight the A reasons first.",
    )


class ReasonGroupRow(BaseModel):
    group: ReasonGroup
    clients: int
    value: Money
    share: float


class Unexplained(BaseModel):
    clients: int = Field(description="clients lost with no reason recorded or visible in signals")
    value: Money
    share_of_lost_value: float | None


class ReasonsReport(BaseModel):
    from_: date = Field(serialization_alias="from", description="first day covered")
    to: date
    as_of: datetime
    lost_clients: int = Field(description="clients that became lost in the window")
    lost_value: Money
    reasons: list[ReasonRow] = Field(description="ranked by the value of the clients they cost")
    groups: list[ReasonGroupRow] = Field(description="the same, by reason group")
    unexplained: Unexplained
