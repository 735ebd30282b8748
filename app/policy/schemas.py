"""The deployment's policy: every threshold the churn engine, tiering and plans use (SPEC §10).

One policy per deployment. It is data (stored in the `policy` table, changed by `PUT /v1/policy`),
validated here, and passed into the pure core as an argument.
"""

import itertools
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from app.kit.text import not_a_boolean

ReasonGroup = Literal["competitor", "company", "external"]

BASE_REASON_CODES: dict[str, ReasonGroup] = {
    "competitor_price": "competitor",
    "competitor_terms": "competitor",
    "competitor_service": "competitor",
    "competitor_product": "competitor",
    "service_quality": "company",
    "delivery_failure": "company",
    "product_quality": "company",
    "price_increase": "company",
    "broken_promise": "company",
    "manager_conflict": "company",
    "manager_unavailable": "company",
    "no_contact": "company",
    "billing_error": "company",
    "website_ux": "company",
    "no_loyalty_program": "company",
    "budget_cut": "external",
    "relocation": "external",
    "key_contact_left": "external",
    "reorganization": "external",
    "business_closed": "external",
    "need_changed": "external",
    "seasonal": "external",
}
BASE_HUMAN_FACTOR_CODES = frozenset({"manager_conflict", "manager_unavailable", "broken_promise"})


class ReturnProbabilityBand(BaseModel):
    """p_return for a lapse shorter than `below_cycles` cycles (the last band has no bound)."""

    model_config = ConfigDict(extra="forbid")
    below_cycles: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    p_return: float = Field(ge=0, le=1)

    _numbers = field_validator("*", mode="before")(not_a_boolean)


# the policy's on/off fields (every other field is a number, a list or a text)
SWITCHES = frozenset({"repeat_gap_floor_irregular"})


def _default_p_return_bands() -> list[ReturnProbabilityBand]:
    return [
        ReturnProbabilityBand(below_cycles=2, p_return=0.40),
        ReturnProbabilityBand(below_cycles=4, p_return=0.25),
        ReturnProbabilityBand(below_cycles=8, p_return=0.15),
        ReturnProbabilityBand(below_cycles=None, p_return=0.05),
    ]


class Policy(BaseModel):
    # validate_default: a cross-field rule must hold for a default too (PUT {"at_risk_cycles": 5}
    # would otherwise store a lost line below the at-risk line)
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    market: Literal["b2b", "b2c"] = "b2b"

    # cycle
    default_cycle_days: float = Field(default=90, gt=0, le=3650)
    min_cycle_days: float = Field(default=7, gt=0, le=3650)
    max_cycle_days: float = Field(default=365, gt=0, le=3650)
    market_cycle_min_clients: int = Field(default=30, ge=1, le=1_000_000)

    # signals and status
    at_risk_cycles: float = Field(default=1.5, gt=0, le=100)
    lost_cycles: float = Field(default=3.0, gt=0, le=100)
    max_lapse_days: float = Field(default=365, gt=0, le=36500)
    unconverted_requests: int = Field(default=3, ge=1, le=1000)
    request_conversion_days: float = Field(default=14, gt=0, le=3650)
    unanswered_contacts: int = Field(default=3, ge=1, le=1000)
    volume_drop_ratio: float = Field(default=0.5, gt=0, le=1)
    volume_window: int = Field(default=4, ge=1, le=100)
    low_score: float = Field(default=6, ge=0, le=10)
    feedback_window_days: float = Field(default=90, gt=0, le=3650)
    recovery_watch_days: float = Field(default=180, ge=0, le=3650)
    recovered_at_risk_cycles: float = Field(default=1.0, gt=0, le=100)
    max_losses: int = Field(default=2, ge=1, le=100)
    max_future_skew_seconds: float = Field(default=86400, ge=0, le=30 * 86400)
    # one- and two-time buyers: at-risk and lost lines from the quantiles of the population's
    # gaps from the first purchase day to the second (from the second to the third), once that
    # many clients of the market made one (docs/models.md, "Status of one- and two-time buyers")
    repeat_gap_at_risk_quantile: float = Field(default=0.75, ge=0.5, le=0.99)
    repeat_gap_lost_quantile: float = Field(default=0.95, ge=0.5, le=0.99)
    repeat_gap_min_clients: int = Field(default=30, ge=1, le=1_000_000)
    # buyers with three or more purchase days whose gaps vary (coefficient of variation above
    # xyz_x_max_cv: not X-regular): their cycle lines are never earlier than the same quantiles of
    # the market's gaps between later purchases (docs/models.md, "Irregular buyers")
    repeat_gap_floor_irregular: StrictBool = True

    # population model scores (docs/models.md): CLV over a horizon at margin_rate, discounted at
    # an annual rate; XYZ regularity by the coefficient of variation of the gaps between purchases
    clv_horizon_days: float = Field(default=365, gt=0, le=3650)
    clv_discount_rate: float = Field(default=0.10, ge=0, le=1)
    xyz_x_max_cv: float = Field(default=0.5, gt=0, le=10)
    xyz_y_max_cv: float = Field(default=1.0, gt=0, le=10)
    # refit the purchase and spend models this often (the worker); after a refit every client
    # is re-scored by the sweeper, spread over model_rescore_seconds (no re-evaluation storm)
    model_refit_seconds: float = Field(default=86400, ge=60, le=86400 * 30)
    model_rescore_seconds: float = Field(default=21600, ge=0, le=86400 * 7)
    # churn_risk = logistic(risk_intercept + risk_alive_weight * logit(1 - p_alive)
    #   + risk_lapse_weight * ln(days since the last order / at-risk line)
    #   + risk_frequency_weight * ln(1 + repeat purchase days)
    #   + risk_signal_weight * signals other than lapsed); 1 after a churn notice
    risk_intercept: float = Field(default=1.4, ge=-20, le=20)
    risk_alive_weight: float = Field(default=0.4, ge=-10, le=10)
    risk_lapse_weight: float = Field(default=0.1, ge=-10, le=10)
    risk_frequency_weight: float = Field(default=-1.4, ge=-10, le=10)
    risk_signal_weight: float = Field(default=0.5, ge=-10, le=10)

    # value and tiers
    value_window_days: float = Field(default=365, gt=0, le=36500)
    value_basis: Literal["revenue", "margin"] = "revenue"
    tier_cutoffs: tuple[float, float] = (0.75, 0.95)
    # "market": B2B and B2C clients are ranked apart (a shop's best shopper is not measured
    # against a distributor's orders); "global": everyone in one ranking.
    tier_scope: Literal["market", "global"] = "market"
    tier_refresh_seconds: float = Field(default=900, ge=1, le=86400 * 7)

    # recovery plans (SPEC §6)
    compensation_pct: float = Field(default=20, ge=0, le=100)
    max_spend_ratio: float = Field(default=0.3, ge=0, le=1)
    min_offer_days: int = Field(default=14, ge=1, le=365)
    offer_valid_days: int = Field(default=30, ge=1, le=365)
    max_discount_pct: float = Field(default=10, ge=0, le=100)
    drip_interval_days: int = Field(default=90, ge=1, le=3650)
    b2b_letter_after_days: int = Field(default=3, ge=0, le=365)  # after the first call
    b2b_meeting_after_days: int = Field(default=7, ge=0, le=365)  # after the letter
    b2b_event_after_days: int = Field(default=14, ge=0, le=365)  # after the meeting or letter
    b2b_retention_gap_days: int = Field(default=2, ge=1, le=365)  # between B2B retention touches
    b2c_min_touch_gap_days: int = Field(default=5, ge=1, le=365)
    margin_rate: float = Field(default=0.3, ge=0, le=1)
    p_return_bands: list[ReturnProbabilityBand] = Field(default_factory=_default_p_return_bands)
    p_return_prospect: float = Field(default=0.05, ge=0, le=1)
    human_factor_multiplier: float = Field(default=0.7, ge=0, le=1)
    repeat_loss_multiplier: float = Field(default=0.5, ge=0, le=1)
    urgency_high_cycles: float = Field(default=2, gt=0, le=100)
    urgency_high_days: float = Field(default=30, gt=0, le=3650)
    urgency_medium_cycles: float = Field(default=6, gt=0, le=100)
    review_every_days: int = Field(default=30, ge=1, le=365)
    meeting_lapse_cycles: float = Field(default=4, gt=0, le=100)

    # reason codes: the base list plus a deployment's own (code -> group)
    extra_reason_codes: dict[str, ReasonGroup] = Field(default_factory=dict)
    extra_human_factor_codes: list[str] = Field(default_factory=list)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """Numbers refuse true/false (pydantic would read `false` as 0); switches take only them."""
        if info.field_name in SWITCHES:
            return value
        return not_a_boolean(value)

    @field_validator("tier_cutoffs")
    @classmethod
    def _cutoffs_ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        first, second = value
        if not (0 < first < second <= 1):
            raise ValueError("tier_cutoffs must satisfy 0 < first < second <= 1")
        return value

    @field_validator("extra_reason_codes")
    @classmethod
    def _codes_well_formed(cls, value: dict[str, ReasonGroup]) -> dict[str, ReasonGroup]:
        for code in value:
            if not (1 <= len(code) <= 64) or not code.replace("_", "").isalnum():
                raise ValueError(f"reason code {code!r} must be 1-64 letters, digits or _")
        return value

    # Cross-field rules sit on the later field so a problem document names the field to fix.
    @field_validator("max_cycle_days")
    @classmethod
    def _cycle_range(cls, value: float, info: ValidationInfo) -> float:
        if "min_cycle_days" in info.data and info.data["min_cycle_days"] > value:
            raise ValueError("must not be below min_cycle_days")
        return value

    @field_validator("lost_cycles")
    @classmethod
    def _lost_after_at_risk(cls, value: float, info: ValidationInfo) -> float:
        if "at_risk_cycles" in info.data and value <= info.data["at_risk_cycles"]:
            raise ValueError("must be above at_risk_cycles")
        return value

    @field_validator("repeat_gap_lost_quantile")
    @classmethod
    def _gap_lost_after_at_risk(cls, value: float, info: ValidationInfo) -> float:
        if (
            "repeat_gap_at_risk_quantile" in info.data
            and value <= info.data["repeat_gap_at_risk_quantile"]
        ):
            raise ValueError("must be above repeat_gap_at_risk_quantile")
        return value

    @field_validator("xyz_y_max_cv")
    @classmethod
    def _xyz_ordered(cls, value: float, info: ValidationInfo) -> float:
        if "xyz_x_max_cv" in info.data and value <= info.data["xyz_x_max_cv"]:
            raise ValueError("must be above xyz_x_max_cv")
        return value

    @field_validator("recovered_at_risk_cycles")
    @classmethod
    def _stricter_in_watch(cls, value: float, info: ValidationInfo) -> float:
        if "at_risk_cycles" in info.data and value > info.data["at_risk_cycles"]:
            raise ValueError("must not exceed at_risk_cycles (the watch is stricter)")
        return value

    @field_validator("offer_valid_days")
    @classmethod
    def _offer_long_enough(cls, value: int, info: ValidationInfo) -> int:
        if "min_offer_days" in info.data and value < info.data["min_offer_days"]:
            raise ValueError("must be at least min_offer_days")
        return value

    @field_validator("p_return_bands")
    @classmethod
    def _bands_ordered(cls, bands: list[ReturnProbabilityBand]) -> list[ReturnProbabilityBand]:
        if not bands or bands[-1].below_cycles is not None:
            raise ValueError("must end with a band without below_cycles")
        bounds = [b.below_cycles for b in bands[:-1]]
        known = [b for b in bounds if b is not None]
        if len(known) < len(bounds) or any(a >= b for a, b in itertools.pairwise(known)):
            raise ValueError("must have strictly increasing below_cycles")
        return bands

    @field_validator("extra_human_factor_codes")
    @classmethod
    def _known_codes(cls, codes: list[str], info: ValidationInfo) -> list[str]:
        known = set(BASE_REASON_CODES) | set(info.data.get("extra_reason_codes", {}))
        unknown = set(codes) - known
        if unknown:
            raise ValueError(f"not among reason codes: {sorted(unknown)}")
        return codes

    @property
    def reason_codes(self) -> dict[str, ReasonGroup]:
        return {**BASE_REASON_CODES, **self.extra_reason_codes}

    @property
    def human_factor_codes(self) -> frozenset[str]:
        return BASE_HUMAN_FACTOR_CODES | frozenset(self.extra_human_factor_codes)

    @property
    def max_future_skew(self) -> timedelta:
        return timedelta(seconds=self.max_future_skew_seconds)


DEFAULT_POLICY = Policy()
