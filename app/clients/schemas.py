"""API shapes for clients (separate from the ORM model)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from app.domain import Money, Status
from app.events.schemas import ClientAttributes


class SignalRead(BaseModel):
    code: str
    since: datetime
    detail: dict[str, Any]


CLIENT_EXAMPLE: JsonDict = {
    "client_id": "acme",
    "name": "Acme Ltd",
    "email": "buyer@acme.example",
    "phone": None,
    "market": "b2b",
    "manager_id": "m-7",
    "tags": ["wholesale"],
    "advocate": False,
    "problem_client": False,
    "do_not_contact": False,
    "attributes": {},
    "as_of": "2026-11-23T12:00:00Z",
    "status": "at_risk",
    "status_since": "2026-11-01T10:00:00Z",
    "signals": [
        {
            "code": "lapsed",
            "since": "2026-11-01T10:00:00Z",
            "detail": {"days_since_last_order": 52.1, "cycle_days": 30.0, "overdue_ratio": 1.74},
        }
    ],
    "tier": "A",
    "decision": "retain",
    "orders_count": 14,
    "first_order_at": "2025-06-02T09:00:00Z",
    "last_order_at": "2026-10-02T10:00:00Z",
    "lifetime_revenue": "48200.00",
    "value": "41800.00",
    "average_order_value": "3442.86",
    "cycle_days": 30.0,
    "cycle_source": "own",
    "expected_next_order_at": "2026-11-01T10:00:00Z",
    "days_since_last_order": 52.1,
    "overdue_ratio": 1.74,
    "open_requests": 1,
    "unconverted_requests": 0,
    "unanswered_contacts": 0,
    "last_contact_at": None,
    "last_response_at": None,
    "open_complaints": 0,
    "lost_count": 0,
    "last_lost_at": None,
    "recovered_at": None,
    "in_watch": False,
    "watch_ends_at": None,
    "next_review_at": "2026-12-01T10:00:00Z",
    "p_alive": 0.62,
    "expected_orders_90d": 1.4,
    "predicted_clv": "9650.00",
    "predicted_next_order_at": "2026-12-09T12:00:00Z",
    "rfm": "245",
    "xyz": "Y",
    "churn_risk": 0.71,
}

PAlive = Annotated[
    float | None,
    Field(
        description="the population model's probability that the client is still a client "
        "(MBG/NBD; null until the first fit)"
    ),
]
ExpectedOrders = Annotated[
    float | None, Field(description="expected purchase days in the next 90 days (MBG/NBD)")
]
PredictedClv = Annotated[
    Money | None,
    Field(
        description="discounted expected margin of the next policy.clv_horizon_days (MBG/NBD and "
        "Gamma-Gamma, at margin_rate, discounted at clv_discount_rate a year)"
    ),
]
PredictedNext = Annotated[
    datetime | None,
    Field(
        description="the model's expected next order: now plus the median wait for the next "
        "purchase if the client is alive (read it next to p_alive)"
    ),
]
Rfm = Annotated[
    str | None,
    Field(
        description="recency, frequency, monetary quintile scores 1-5 as three digits (555: bought "
        "recently, often, much), against the population's cut points"
    ),
]
Xyz = Annotated[
    Literal["X", "Y", "Z"] | None,
    Field(
        description="regularity: X, Y or Z by the coefficient of variation of the gaps between "
        "purchase days (needs three purchase days)"
    ),
]
ChurnRisk = Annotated[
    float | None,
    Field(
        description="0-1: the signals, the lapse against the client's at-risk line and the model's "
        "P(alive) combined (docs/models.md); 1 after a churn notice"
    ),
]


class ClientRead(BaseModel):
    """A client as it stands at `as_of` (now unless asked otherwise): never stale."""

    model_config = ConfigDict(json_schema_extra={"examples": [CLIENT_EXAMPLE]})

    client_id: str
    name: str | None
    email: str | None
    phone: str | None
    market: str
    manager_id: str | None
    tags: list[str]
    advocate: bool
    problem_client: bool
    do_not_contact: bool
    attributes: dict[str, Any]
    as_of: datetime
    status: Status
    status_since: datetime | None
    signals: list[SignalRead]
    tier: Literal["A", "B", "C"] | None
    decision: str | None
    orders_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    lifetime_revenue: Money
    value: Money
    average_order_value: Money | None
    cycle_days: float
    cycle_source: Literal["own", "market", "default"]
    expected_next_order_at: datetime | None
    days_since_last_order: float | None
    overdue_ratio: float | None
    open_requests: int
    unconverted_requests: int
    unanswered_contacts: int
    last_contact_at: datetime | None
    last_response_at: datetime | None
    open_complaints: int
    lost_count: int
    last_lost_at: datetime | None
    recovered_at: datetime | None
    in_watch: bool
    watch_ends_at: datetime | None
    next_review_at: datetime | None
    p_alive: PAlive
    expected_orders_90d: ExpectedOrders
    predicted_clv: PredictedClv
    predicted_next_order_at: PredictedNext
    rfm: Rfm
    xyz: Xyz
    churn_risk: ChurnRisk


def _summary_example(schema: JsonDict, model: type[BaseModel]) -> None:
    """The list row's example: the client example cut down to the row's fields."""
    row = {k: CLIENT_EXAMPLE[k] for k in model.model_fields if k in CLIENT_EXAMPLE}
    schema["examples"] = [row | {"signals": ["lapsed"]}]


class ClientSummary(BaseModel):
    """A row of a client list, as of the last evaluation (at most one sweep interval old)."""

    model_config = ConfigDict(json_schema_extra=_summary_example)

    client_id: str
    name: str | None
    email: str | None
    phone: str | None
    market: str
    manager_id: str | None
    status: Status
    status_since: datetime | None
    signals: list[str]
    tier: Literal["A", "B", "C"] | None
    decision: str | None
    value: Money
    orders_count: int
    last_order_at: datetime | None
    expected_next_order_at: datetime | None
    cycle_days: float
    lost_count: int
    next_review_at: datetime | None
    churn_risk: ChurnRisk
    p_alive: PAlive
    predicted_clv: PredictedClv
    rfm: Rfm
    xyz: Xyz


class ClientPage(BaseModel):
    items: list[ClientSummary]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class ClientPatch(ClientAttributes):
    """Attributes to change; fields left out stay as they are. Stored as a client.updated event.

    What GET /v1/clients/{id} returned may be sent back as it came, changed where wanted: the
    fields winback computes (status, signals, value, ...) are read-only and left out before the
    attributes are validated; any other unknown field is still refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"manager_id": "m-9", "tags": ["wholesale", "north"]}]},
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k not in READ_ONLY_CLIENT_FIELDS}
        return value


# ClientRead's fields that no PATCH can set: what GET returns besides the attributes.
READ_ONLY_CLIENT_FIELDS = frozenset(ClientRead.model_fields) - frozenset(
    ClientAttributes.model_fields
)


class TimelineItem(BaseModel):
    kind: Literal["event", "status_change"]
    at: datetime
    id: str
    type: str = Field(description="the event type, or `status_change`")
    data: dict[str, Any] = Field(
        description="the event's `data` as received, or `{from, to, signals}` of a status change"
    )
    client: dict[str, Any] | None = Field(
        default=None, description="the attribute upsert the event carried, if any"
    )


class TimelinePage(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None


class StatsCell(BaseModel):
    status: Status
    tier: Literal["A", "B", "C"] | None
    clients: int
    value: Money


class Stats(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "clients": 1200,
                    "by_status": {"active": 800, "at_risk": 150, "lost": 200, "prospect": 50},
                    "by_status_and_tier": [
                        {"status": "at_risk", "tier": "A", "clients": 12, "value": "98000.00"}
                    ],
                    "value_at_risk": "180000.00",
                    "value_lost": "95000.00",
                }
            ]
        }
    )
    clients: int
    by_status: dict[str, int]
    by_status_and_tier: list[StatsCell]
    value_at_risk: Money = Field(description="value of clients now at_risk")
    value_lost: Money = Field(description="value of clients now lost")


class ErasureRead(BaseModel):
    client_id: str
    erased: bool
    events_deleted: int
