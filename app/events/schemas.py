"""Event envelopes (SPEC §2): one model per type, a discriminated union on `type`.

Unknown top-level fields are rejected; `data` is validated per type. Rules that need the policy
(currency, reason codes, future skew) are checked by the service.
"""

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.domain import Amount as Money
from app.domain import Identifier, Market, Moment, SignedAmount, Text
from app.kit.problems import register_union_tags
from app.kit.text import check_json

Id = Annotated[Identifier, Field(min_length=1, max_length=200)]


def _addressable(value: str) -> str:
    # "." and ".." are removed from a URL's path by every client (RFC 3986 §5.2.4), so a client
    # with such an id could never be read at /v1/clients/{client_id}
    if value in (".", ".."):
        raise ValueError('"." and ".." cannot be a path segment of /v1/clients/{client_id}')
    return value


# a path segment of the API (/v1/clients/{client_id}), so no "/" in it, and not a dot segment
ClientId = Annotated[
    Identifier,
    Field(min_length=1, max_length=128, pattern=r"^[^/]*$"),
    AfterValidator(_addressable),
]
Note = Annotated[Text, Field(max_length=4000)]
ReasonCode = Annotated[Identifier, Field(min_length=1, max_length=64)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _small_json(value: dict[str, JsonValue] | None, what: str) -> dict[str, JsonValue] | None:
    if value is not None:
        if len(str(value)) > 16_384:
            raise ValueError(f"{what} must stay under 16 KiB")
        check_json(value)
    return value


def _not_null(value: Any) -> Any:
    """Leave a field out to keep it; null is not a value these fields can take."""
    if value is None:
        raise ValueError("cannot be null: leave the field out to keep its value")
    return value


# An attribute that may be left out but, when given, is not null (the schema says so too).
NotNull = BeforeValidator(_not_null)


class ClientAttributes(Strict):
    """Attribute upsert carried by any event (`client`) or by PATCH; only given fields change."""

    name: Annotated[Text, Field(max_length=300)] | None = None
    email: Annotated[Text, Field(max_length=320)] | None = None
    phone: Annotated[Text, Field(max_length=64)] | None = None
    # left out: unchanged; these take no null (NotNull names the field; the schema shows no null)
    market: Annotated[Market | SkipJsonSchema[None], NotNull] = None
    manager_id: Annotated[Text, Field(max_length=128)] | None = None
    tags: Annotated[
        Annotated[
            list[Annotated[Identifier, Field(min_length=1, max_length=64)]], Field(max_length=50)
        ]
        | SkipJsonSchema[None],
        NotNull,
    ] = None
    advocate: Annotated[StrictBool | SkipJsonSchema[None], NotNull] = None
    problem_client: Annotated[StrictBool | SkipJsonSchema[None], NotNull] = None
    do_not_contact: Annotated[StrictBool | SkipJsonSchema[None], NotNull] = None
    attributes: dict[str, JsonValue] | None = None

    @field_validator("attributes")
    @classmethod
    def _small(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        return _small_json(value, "attributes")


class EventData(Strict):
    """Every event's `data`. Unknown fields are refused, so a misspelt optional field (`marign`)
    is an error and not silently ignored; a sender's own fields go in `extra`, stored as sent
    and ignored by winback."""

    extra: dict[str, JsonValue] | None = Field(
        default=None,
        description="the sender's own fields (e.g. a shop's order fields), stored untouched and "
        "returned in the timeline; winback ignores them (at most 16 KiB)",
    )

    @field_validator("extra")
    @classmethod
    def _small_extra(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        return _small_json(value, "extra")


class OrderPlacedData(EventData):
    order_id: Id
    amount: Money
    currency: Currency | None = None
    amount_in_base: Money | None = None
    margin: SignedAmount | None = None


class OrderRef(EventData):
    order_id: Id


class OrderRefundedData(EventData):
    order_id: Id
    amount: Money


class RequestCreatedData(EventData):
    request_id: Id
    channel: Literal["quote", "inquiry", "cart", "other"]


class RequestConvertedData(EventData):
    request_id: Id
    order_id: Id | None = None


class RequestLostData(EventData):
    request_id: Id
    reason_code: ReasonCode | None = None


class ContactLoggedData(EventData):
    channel: Literal["call", "email", "sms", "meeting", "letter", "chat", "event"]
    direction: Literal["outbound", "inbound"]
    outcome: Literal["reached", "replied", "opened", "no_answer", "bounced", "declined"]
    manager_id: Annotated[Text, Field(max_length=128)] | None = None
    campaign_id: Id | None = None
    reason_code: ReasonCode | None = None
    note: Note | None = None


class FeedbackReceivedData(EventData):
    feedback_id: Id
    kind: Literal["complaint", "survey", "review", "exit_interview"]
    score: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] | None = None
    order_id: Id | None = None
    amount_at_issue: Money | None = None
    reason_code: ReasonCode | None = None
    note: Note | None = None


class FeedbackRef(EventData):
    feedback_id: Id


class ClientChurnedData(EventData):
    reason_code: ReasonCode | None = None


class Empty(EventData):
    pass


class EnvelopeBase(Strict):
    id: Id
    occurred_at: Moment
    client_id: ClientId
    client: ClientAttributes | None = None


class OrderPlaced(EnvelopeBase):
    type: Literal["order.placed"]
    data: OrderPlacedData


class OrderCancelled(EnvelopeBase):
    type: Literal["order.cancelled"]
    data: OrderRef


class OrderRefunded(EnvelopeBase):
    type: Literal["order.refunded"]
    data: OrderRefundedData


class RequestCreated(EnvelopeBase):
    type: Literal["request.created"]
    data: RequestCreatedData


class RequestConverted(EnvelopeBase):
    type: Literal["request.converted"]
    data: RequestConvertedData


class RequestLost(EnvelopeBase):
    type: Literal["request.lost"]
    data: RequestLostData


class ContactLogged(EnvelopeBase):
    type: Literal["contact.logged"]
    data: ContactLoggedData


class FeedbackReceived(EnvelopeBase):
    type: Literal["feedback.received"]
    data: FeedbackReceivedData


class FeedbackResolved(EnvelopeBase):
    type: Literal["feedback.resolved"]
    data: FeedbackRef


class ClientChurned(EnvelopeBase):
    type: Literal["client.churned"]
    data: ClientChurnedData = Field(default_factory=ClientChurnedData)


class ClientUpdated(EnvelopeBase):
    type: Literal["client.updated"]
    data: Empty = Field(default_factory=Empty)

    @model_validator(mode="after")
    def _has_attributes(self) -> "ClientUpdated":
        if self.client is None:
            raise ValueError("client.updated needs a `client` object with the attributes")
        return self


EXAMPLE_EVENT = {
    "id": "evt_8f2c",
    "type": "order.placed",
    "occurred_at": "2026-03-01T10:00:00Z",
    "client_id": "acme",
    "client": {"name": "Acme Ltd", "market": "b2b", "manager_id": "m-7"},
    "data": {"order_id": "o-1", "amount": "1250.00", "currency": "EUR"},
}

# The one list of event types: the discriminated union that parses them.
EventIn = Annotated[
    OrderPlaced
    | OrderCancelled
    | OrderRefunded
    | RequestCreated
    | RequestConverted
    | RequestLost
    | ContactLogged
    | FeedbackReceived
    | FeedbackResolved
    | ClientChurned
    | ClientUpdated,
    Field(discriminator="type"),
]
EVENT_MODELS: tuple[type[EnvelopeBase], ...] = get_args(get_args(EventIn)[0])
EVENT_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in EVENT_MODELS
)
register_union_tags(EVENT_TYPES)
event_adapter: TypeAdapter[EnvelopeBase] = TypeAdapter(EventIn)


class EventAccepted(BaseModel):
    """What an accepted event did: the answer to POST /v1/events."""

    id: str
    client_id: str
    duplicate: bool = Field(description="true when this id was already applied (nothing changed)")
    status: str = Field(description="the client's churn status after the event")
    tier: str | None
    signals: list[str]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "evt_8f2c",
                    "client_id": "acme",
                    "duplicate": False,
                    "status": "active",
                    "tier": "A",
                    "signals": [],
                }
            ]
        }
    )


class BatchItemError(BaseModel):
    index: int
    id: str | None = None
    status: int
    title: str
    detail: str
    errors: list[dict[str, str]] | None = None


class BatchResult(BaseModel):
    accepted: int = Field(description="events applied now")
    duplicates: int = Field(description="events whose id was already applied")
    rejected: int = Field(description="events refused; see errors")
    items: list[EventAccepted]
    errors: list[BatchItemError]
