"""Outgoing webhooks as the API takes and returns them, and the payloads winback sends.

Every payload is `{"type", "timestamp", "data"}` (Standard Webhooks): `timestamp` is when winback
recorded the change, `data` depends on the type. The OpenAPI document lists each type in its
`webhooks` section with an example (app/webhooks/docs.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
)

from app.domain import Decision, Market, Moment, Money, SignalCode, Status, Text, Tier
from app.kit.text import not_a_boolean

EventType = Literal["client.status_changed", "client.tier_changed", "campaign.created"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
TEST_EVENT = "webhook.test"  # sent by POST .../test to one endpoint, whatever it subscribes to

EndpointId = Annotated[str, Field(min_length=1, max_length=32, examples=["we_3f9a1c0d5e7b2a48"])]
Url = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=2000,
        description="https URL that receives POSTs (http only with WINBACK_WEBHOOK_ALLOW_HTTP)",
        examples=["https://crm.example.com/hooks/winback"],
    ),
]
Description = Annotated[Text, Field(max_length=500, examples=["CRM: at-risk alerts"])]
EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        description="the event types this endpoint receives; each at most once",
        examples=[["client.status_changed", "client.tier_changed"]],
    ),
]

CREATE_EXAMPLE: dict[str, Any] = {
    "url": "https://crm.example.com/hooks/winback",
    "event_types": ["client.status_changed", "client.tier_changed", "campaign.created"],
    "description": "CRM: at-risk alerts",
}


def _distinct(types: list[EventType] | None) -> list[EventType] | None:
    if types is not None and len(set(types)) != len(types):
        raise ValueError("must not name an event type twice")
    return types


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CREATE_EXAMPLE]})

    url: Url
    event_types: EventTypes
    description: Description | None = None

    _types = field_validator("event_types")(_distinct)


class EndpointPatch(BaseModel):
    """The fields to change; the others stay. `enabled: true` re-enables a disabled endpoint
    (what it missed meanwhile is not sent by itself: replay it)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"enabled": False}, {"event_types": ["campaign.created"]}]},
    )

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: StrictBool | None = None

    _types = field_validator("event_types")(_distinct)


class EndpointRead(BaseModel):
    id: str
    url: str
    description: str | None
    event_types: list[EventType]
    enabled: bool
    disabled_reason: str | None = Field(
        description="why it was disabled: by an admin, a 410 Gone answer, or failing for days"
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="the first failed attempt since the last delivered one; null when healthy"
    )
    secret_rotated_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="until then every message is signed with the previous secret too"
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointRead):
    secret: str = Field(
        description="the signing secret (`whsec_...`): shown once, here; verify each delivery "
        "with it using any Standard Webhooks library",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw0aVJ1vJk5eU="],
    )


class EndpointPage(BaseModel):
    items: list[EndpointRead]
    next_cursor: str | None


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})
    _numbers = field_validator("overlap_seconds", mode="before")(not_a_boolean)

    overlap_seconds: float | None = Field(
        default=None,
        ge=0,
        le=7 * 86400,
        allow_inf_nan=False,
        description="how long the old secret keeps signing too (default "
        "`WINBACK_WEBHOOK_SECRET_OVERLAP_SECONDS`, 24 h); 0 retires it at once (a leaked secret)",
    )


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="the new signing secret, shown once")
    previous_secret_expires_at: datetime | None = Field(
        description="until then messages carry a signature with the old secret as well"
    )


class ReplayRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"since": "2026-11-20T00:00:00Z"}]}
    )

    since: Moment = Field(description="re-send every event of the endpoint's types from then on")


class ReplayStarted(BaseModel):
    endpoint_id: str
    since: datetime
    deliveries: int = Field(description="messages queued; the worker sends them like new ones")


class AttemptRead(BaseModel):
    number: int
    at: datetime
    outcome: str = Field(
        description="delivered, http_error, gone (410), timeout, network_error, refused (the "
        "address is not a public one), error (winback could not sign or send)"
    )
    status_code: int | None
    duration_ms: float
    error: str | None
    response: str | None = Field(description="the first 200 characters of the answer")


class DeliveryRead(BaseModel):
    id: int
    webhook_id: str = Field(description="the `webhook-id` header: the same on every attempt")
    event_type: str
    origin: Literal["event", "replay", "test"]
    status: Literal["pending", "delivered", "failed"]
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="when it is tried next (pending only)")
    finished_at: datetime | None
    failure: str | None = Field(
        description="why it failed: its attempts were used up, or its endpoint was disabled"
    )
    attempts: list[AttemptRead]


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None


class TestSent(BaseModel):
    delivery: DeliveryRead


# --- payloads ----------------------------------------------------------------------------------


class ClientStatusChanged(BaseModel):
    """A client's status moved (on a write, as time passed, or after a policy change)."""

    model_config = ConfigDict(populate_by_name=True)

    client_id: str
    from_: Status | None = Field(
        alias="from", description="null for a client's first status (a new client)"
    )
    to: Status
    at: datetime = Field(description="when it moved, in business time (e.g. the lost line)")
    signals: list[SignalCode]
    tier: Tier | None
    value: Money
    market: Market
    manager_id: str | None
    decision: Decision | None


class ClientTierChanged(BaseModel):
    """A client's value tier moved (its value changed, or the population's cut points did)."""

    model_config = ConfigDict(populate_by_name=True)

    client_id: str
    from_: Tier | None = Field(alias="from", description="null for a client's first tier")
    to: Tier | None = Field(description="null when the client no longer has a tier")
    value: Money
    status: Status
    market: Market


class WebhookTest(BaseModel):
    endpoint_id: str
    message: str


class Payload(BaseModel):
    """What every message's body is: the event type, when, and its data."""

    type: str
    timestamp: AwareDatetime
    data: Any


class StatusChangedPayload(Payload):
    type: Literal["client.status_changed"]
    data: ClientStatusChanged


class TierChangedPayload(Payload):
    type: Literal["client.tier_changed"]
    data: ClientTierChanged


class TestPayload(Payload):
    type: Literal["webhook.test"]
    data: WebhookTest
