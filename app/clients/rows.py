"""The shapes of client rows on the write path (what the repository returns and stores)."""

from datetime import datetime
from decimal import Decimal
from typing import Any, NotRequired, TypedDict, get_type_hints

from app.domain import CycleSource, Decision, Market, Status, Tier


class ClientAttributesRow(TypedDict):
    """Who the client is (SPEC §1): what the core needs beside its facts."""

    client_id: str
    name: str | None
    email: str | None
    phone: str | None
    market: Market
    manager_id: str | None
    tags: list[str]
    advocate: bool
    problem_client: bool
    do_not_contact: bool
    attributes: dict[str, Any]


class ClientRow(ClientAttributesRow):
    """A locked client row: attributes, folded facts and the state the last evaluation stored."""

    attribute_times: dict[str, str]
    facts: dict[str, Any] | None
    status: Status
    tier: Tier | None
    signals: list[str]
    # set by lock_or_create: the row did not exist before this transaction
    inserted: NotRequired[bool]


class StateColumns(TypedDict):
    """What an evaluation stores on the client row (lists filter and sort on these)."""

    status: Status
    status_since: datetime | None
    signals: list[str]
    tier: Tier | None
    decision: Decision | None
    value: Decimal
    lifetime_revenue: Decimal
    orders_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    cycle_days: float
    cycle_source: CycleSource
    expected_next_order_at: datetime | None
    lost_count: int
    last_lost_at: datetime | None
    recovered_at: datetime | None
    in_watch: bool
    next_review_at: datetime | None
    policy_version: int
    evaluated_at: datetime
    # purchase days and the population model's scores (app.churn.scores); model_fit_id: the fit
    # they were computed with (None: no fit yet)
    purchase_days: int
    p_alive: float | None
    expected_orders_90d: float | None
    predicted_clv: Decimal | None
    predicted_next_order_at: datetime | None
    rfm: str | None
    xyz: str | None
    churn_risk: float | None
    model_fit_id: int | None


STATE_COLUMNS: tuple[str, ...] = tuple(get_type_hints(StateColumns))
ATTRIBUTE_FIELDS: tuple[str, ...] = (
    "name",
    "email",
    "phone",
    "market",
    "manager_id",
    "tags",
    "advocate",
    "problem_client",
    "do_not_contact",
    "attributes",
)
# What a write stores: the evaluated state, the attributes and the facts they were folded into,
# with the fold version those facts are complete for.
WRITE_COLUMNS: tuple[str, ...] = (
    *STATE_COLUMNS,
    *ATTRIBUTE_FIELDS,
    "attribute_times",
    "facts",
    "facts_version",
)


class StatusChangeRow(TypedDict):
    """A recorded change of status, dated when it happened (business time)."""

    client_id: str
    from_status: Status | None
    to_status: Status
    at: datetime
    signals: list[str]
