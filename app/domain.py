"""The seller's vocabulary as types: one definition each, used by the pure cores (churn, tiers,
plans), the API schemas and the ORM alike. Imports nothing of winback's but `kit`."""

from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, PlainSerializer

from app.kit.text import check_json, check_not_blank, check_text, iso_moment_input, utc_moment

Status = Literal["prospect", "active", "at_risk", "lost", "recovered"]
STATUSES: tuple[Status, ...] = get_args(Status)

SignalCode = Literal[
    "lapsed", "requests_not_converting", "unresponsive", "volume_drop", "dissatisfied"
]
SIGNAL_CODES: tuple[SignalCode, ...] = get_args(SignalCode)

Tier = Literal["A", "B", "C"]
TIERS: tuple[Tier, ...] = get_args(Tier)

Market = Literal["b2b", "b2c"]
MARKETS: tuple[Market, ...] = get_args(Market)

CycleSource = Literal["own", "market", "default"]

Decision = Literal[
    "no_action", "retain", "return_first", "should_return", "return_if_possible", "let_go"
]
DECISIONS: tuple[Decision, ...] = get_args(Decision)
WIN_BACK_DECISIONS: frozenset[Decision] = frozenset(
    {"return_first", "should_return", "return_if_possible"}
)

# Money sent to winback: a non-negative decimal (string or number), at most 4 places, below a
# trillion, so that a client's totals (numeric(30,2)) cannot overflow whatever it orders.
MAX_AMOUNT = Decimal("999999999999.9999")
Amount = Annotated[
    Decimal, Field(ge=0, le=MAX_AMOUNT, max_digits=16, decimal_places=4, allow_inf_nan=False)
]
SignedAmount = Annotated[
    Decimal,
    Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, max_digits=16, decimal_places=4, allow_inf_nan=False),
]

# Text and JSON the database can store (no NUL, no unpaired surrogate; bounded nesting).
Text = Annotated[str, AfterValidator(check_text)]
# An identifier the sender chose: storable text with at least one non-blank character.
Identifier = Annotated[str, AfterValidator(check_text), AfterValidator(check_not_blank)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json)]
# A moment sent to winback: ISO 8601 with a time zone, converted to UTC, from 1970 on (the
# upper bound, now + policy.max_future_skew, needs the clock and is checked by the service).
Moment = Annotated[AwareDatetime, BeforeValidator(iso_moment_input), AfterValidator(utc_moment)]
# Money winback returns: a Decimal in code, a decimal string with 2 places in JSON.
Money = Annotated[
    Decimal, PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json")
]
# Money the planner has already written out as text (2 places, may be negative).
MoneyText = Annotated[
    str,
    Field(
        pattern=r"^-?\d+\.\d{2}$",
        description="amount in the policy currency, a decimal string with 2 places",
        examples=["48200.00"],
    ),
]
